"""The directory's read side (trellis/app/modules/directory.py): search paging and the intersection of filters,
the scan cap, the walk of every entry with no filter, versions and access-request pages.

State is written in the layout of ``trellis.core.modules.directory.state`` (records and the shared indexes,
``index_values``) straight into a ``MemoryState``, local entries and a hub's mirrors side by side.
"""

from __future__ import annotations

import pytest

from tests.memory_state import MemoryState
from tests.unit.conftest import CHAIN_ID
from trellis.app.modules import directory as reads
from trellis.core.codec import encode
from trellis.core.crypto.suite import ED25519
from trellis.core.modules.directory.messages import (
    PUBLIC,
    DirectoryPublish,
    DirectoryUpdate,
    DirectoryWithdraw,
    EntryFields,
)
from trellis.core.modules.directory.state import (
    REQ_BY_ENTRY_PREFIX,
    REQ_BY_REQUESTER_PREFIX,
    AccessRequest,
    Entry,
    Mirror,
    entry_id,
    entry_key,
    index_prefix,
    index_values,
    mirror_key,
    request_key,
    version_key,
)
from trellis.core.modules.identity.did import format_did
from trellis.core.modules.identity.messages import DidCreate, DidDocument, DidVerificationMethod

HUB = "hub"
OWNER_A, OWNER_B = "did:trellis:hub:" + "a" * 32, "did:trellis:sub-1:" + "b" * 32


def fields(
    owner: str = OWNER_A, title: str = "Air quality readings", type_: str = "sensor", **kw: object
) -> EntryFields:
    base: dict[str, object] = {
        "owner_did": owner,
        "title": title,
        "type": type_,
        "keywords": [],
        "digest": b"\x00" * 32,
        "receipt_ref": "",
        "location": "",
        "licence": "",
        "access": PUBLIC,
        "credential_type": "",
    }
    base.update(kw)
    return EntryFields(**base)  # type: ignore[arg-type]


def make_entry(chain: str, nonce: int, f: EntryFields, version: int = 1, withdrawn: bool = False) -> Entry:
    owner = bytes([nonce % 251 + 1]) * 20
    return Entry(
        id=entry_id(ED25519, chain, owner, nonce),
        chain_id=chain,
        owner=owner,
        nonce=nonce,
        fields=f,
        version=version,
        withdrawn=withdrawn,
        withdraw_reason="",
        created_height=1,
        updated_height=version,
    )


def index(st: MemoryState, e: Entry, home: bytes) -> None:
    if e.withdrawn:
        return
    for kind, value in index_values(e.fields, e.chain_id):
        st.state[index_prefix(ED25519, kind, value) + e.id] = home


def put_local(st: MemoryState, e: Entry) -> Entry:
    st.state[entry_key(e.id)] = encode(e)
    index(st, e, b"")
    return e


def put_mirror(st: MemoryState, e: Entry, home_height: int = 7) -> Entry:
    st.state[mirror_key(e.id)] = encode(
        Mirror(chain_id=e.chain_id, home_height=home_height, entry=encode(e), channel="channel-0", received_height=3)
    )
    index(st, e, e.chain_id.encode())
    return e


def ids(page: reads.SearchPage) -> list[bytes]:
    return [f.entry.id for f in page.items]


def search(st: MemoryState, limit: int = 100, cursor: bytes | None = None, **q: object) -> reads.SearchPage:
    return reads.search(st, ED25519, reads.Query(**q), limit, cursor)  # type: ignore[arg-type]


@pytest.fixture
def st() -> MemoryState:
    s = MemoryState()
    put_local(s, make_entry(HUB, 1, fields(keywords=["air", "city"])))
    put_local(s, make_entry(HUB, 2, fields(title="Water quality", type_="lab", keywords=["water"])))
    put_local(s, make_entry(HUB, 3, fields(OWNER_B, "Air pressure", keywords=["weather"])))
    put_mirror(s, make_entry("sub-1", 4, fields(OWNER_B, "Air quality archive", keywords=["covid-19"])))
    put_mirror(s, make_entry("sub-2", 5, fields(OWNER_A, "Soil samples", type_="lab")))
    put_local(s, make_entry(HUB, 6, fields(title="Air quality (old)"), version=2, withdrawn=True))
    return s


def _by_nonce(st: MemoryState, *nonces: int) -> list[bytes]:
    out = []
    for key, _ in st.scan(b"directory/entry/", b"directory/entry/\xff", 100) + st.scan(
        b"directory/mirror/", b"directory/mirror/\xff", 100
    ):
        f = reads.entry(st, key[-32:])
        assert f is not None
        if f.entry.nonce in nonces:
            out.append(f.entry.id)
    return sorted(out)


def test_each_filter_and_their_intersection(st: MemoryState) -> None:
    assert ids(search(st, owner=OWNER_A)) == _by_nonce(st, 1, 2, 5)
    assert ids(search(st, type="lab")) == _by_nonce(st, 2, 5)
    assert ids(search(st, words=("air",))) == _by_nonce(st, 1, 3, 4)  # a keyword or a title word
    assert ids(search(st, words=("air", "quality"))) == _by_nonce(st, 1, 4)
    assert ids(search(st, chain="sub-1")) == _by_nonce(st, 4)
    assert ids(search(st, chain=HUB)) == _by_nonce(st, 1, 2, 3)
    assert ids(search(st, owner=OWNER_A, type="lab")) == _by_nonce(st, 2, 5)
    assert ids(search(st, owner=OWNER_A, type="lab", chain="sub-2")) == _by_nonce(st, 5)
    assert ids(search(st, owner=OWNER_B, words=("air",), chain=HUB)) == _by_nonce(st, 3)
    assert ids(search(st, words=("covid-19",))) == _by_nonce(st, 4)
    assert ids(search(st, owner=OWNER_A, words=("water",), chain="sub-1")) == []
    assert ids(search(st, owner="did:trellis:hub:" + "0" * 32)) == []


def test_a_withdrawn_entry_is_in_no_search_but_still_reads(st: MemoryState) -> None:
    (gone,) = _by_nonce(st, 6)
    assert gone not in ids(search(st, words=("air",))) and gone not in ids(search(st))
    found = reads.entry(st, gone)
    assert found is not None and found.entry.withdrawn and found.mirror is None


def test_mirrors_read_with_their_origin(st: MemoryState) -> None:
    (m,) = _by_nonce(st, 4)
    found = reads.entry(st, m)
    assert found is not None and found.mirror is not None
    assert found.entry.chain_id == "sub-1" and found.mirror.home_height == 7
    assert reads.entry(st, b"\x05" * 32) is None


def test_no_filter_walks_local_and_mirrored_entries_by_id(st: MemoryState) -> None:
    everything = _by_nonce(st, 1, 2, 3, 4, 5)
    assert ids(search(st)) == everything
    seen, cursor = [], None
    while True:
        page = search(st, limit=2, cursor=cursor)
        seen += ids(page)
        if page.next is None:
            break
        cursor = page.next
    assert seen == everything


@pytest.mark.parametrize("q", [{}, {"words": ("air",)}, {"owner": OWNER_A}, {"type": "sensor", "words": ("quality",)}])
def test_pages_by_id_cover_the_whole_result_once(q: dict[str, object]) -> None:
    s = MemoryState()
    for n in range(40):
        put_local(s, make_entry(HUB, n, fields(keywords=["air"] if n % 3 else [], type_="sensor" if n % 2 else "x")))
    whole = ids(search(s, **q))
    for limit in (1, 3, 7):
        seen, cursor = [], None
        while True:
            page = search(s, limit=limit, cursor=cursor, **q)
            assert len(page.items) <= limit
            seen += ids(page)
            if page.next is None:
                break
            cursor = page.next
        assert seen == whole


def test_the_most_selective_filter_drives_the_scan() -> None:
    s = MemoryState()
    for n in range(600):  # 600 entries of type "big"; 2 of them also have keyword "rare"
        put_local(s, make_entry(HUB, n, fields(type_="big", keywords=["rare"] if n in (17, 333) else [])))
    page = search(s, type="big", words=("rare",))
    assert len(page.items) == 2 and page.next is None
    assert page.scanned == 2  # driven by the word's two keys, not the type's 600


def test_the_scan_cap_bounds_one_call_and_a_cursor_goes_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reads, "MAX_SCANNED", 50)
    monkeypatch.setattr(reads, "PROBE", 16)
    s = MemoryState()
    for n in range(120):
        put_local(s, make_entry(HUB, n, fields(keywords=["common"] + (["odd"] if n == 119 else []))))
        put_local(s, make_entry(HUB, 1000 + n, fields(title="Other", keywords=["odd"])))
    # every "common" entry but the last lacks "odd", and every "odd" entry but one lacks "common": whichever drives,
    # at most 50 keys are scanned per call and the one match is found by following the cursors
    found, cursor, calls = [], None, 0
    while True:
        page = search(s, limit=5, cursor=cursor, words=("common", "odd"))
        calls += 1
        assert page.scanned <= 50
        found += ids(page)
        if page.next is None:
            break
        cursor = page.next
    assert [f for f in found] == _by_nonce(s, 119) and calls > 2


class _Counting(MemoryState):
    """A ``MemoryState`` that counts point reads."""

    gets = 0

    def get(self, key: bytes) -> bytes | None:
        self.gets += 1
        return super().get(key)


def test_point_reads_are_capped_per_call_and_a_cursor_goes_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reads, "MAX_POINT_READS", 40)
    s = _Counting()
    for n in range(60):  # every entry matches all three filters: each id costs 2 index reads and its record
        put_local(s, make_entry(HUB, n, fields(type_="t", keywords=["a", "b"])))
    found: list[bytes] = []
    cursor, calls = None, 0
    while True:
        s.gets = 0
        page = search(s, limit=100, cursor=cursor, type="t", words=("a", "b"))
        calls += 1
        assert s.gets <= 40 and len(page.items) <= 10
        found += ids(page)
        if page.next is None:
            break
        cursor = page.next
    assert sorted(found) == found and len(found) == len(set(found)) == 60 and calls >= 6


def test_query_words_are_normalised_like_titles() -> None:
    assert reads.query_words("Air  QUALITY of the City") == ["air", "quality", "city"]
    assert reads.query_words("covid-19 data") == ["covid-19", "data"]
    assert reads.query_words("Luft-Qualität") == ["luft", "qualität"]
    assert reads.query_words("PM25 pm2.5 x") == ["pm25", "pm"]  # a keyword whole; else split as titles are
    assert reads.query_words("") == []
    with pytest.raises(reads.BadQuery, match="no word"):
        reads.query_words("the of a")
    with pytest.raises(reads.BadQuery, match="at most"):
        reads.query_words(" ".join("wd" + chr(97 + i) for i in range(reads.MAX_Q_WORDS + 1)))


def test_bad_limits_and_cursors_are_the_callers_bug(st: MemoryState) -> None:
    with pytest.raises(ValueError):
        search(st, limit=0)
    with pytest.raises(ValueError):
        search(st, limit=reads.MAX_PAGE + 1)
    with pytest.raises(ValueError):
        search(st, cursor=b"\x01" * 31)


def test_versions_oldest_first_with_pages() -> None:
    s = MemoryState()
    current = make_entry(HUB, 9, fields(title="v5"), version=5)
    put_local(s, current)
    for v in range(1, 5):
        s.state[version_key(current.id, v)] = encode(make_entry(HUB, 9, fields(title=f"v{v}"), version=v))
    page = reads.versions(s, current.id, 100)
    assert page is not None and [e.version for e in page.items] == [1, 2, 3, 4, 5] and page.next is None
    page = reads.versions(s, current.id, 2)
    assert page is not None and [e.version for e in page.items] == [1, 2] and page.next == 2
    page = reads.versions(s, current.id, 2, after=2)
    assert page is not None and [e.version for e in page.items] == [3, 4] and page.next == 4
    page = reads.versions(s, current.id, 2, after=4)
    assert page is not None and [e.fields.title for e in page.items] == ["v5"] and page.next is None
    assert reads.versions(s, current.id, 2, after=5) == reads.VersionPage([], None)
    assert reads.versions(s, b"\x09" * 32, 2) is None
    mirrored = put_mirror(s, make_entry("sub-1", 10, fields(), version=3))
    page = reads.versions(s, mirrored.id, 10)
    assert page is not None and [e.version for e in page.items] == [3]


def test_requests_page_by_entry_and_by_requester() -> None:
    s = MemoryState()
    entry = b"\x0e" * 32
    requester = b"\x0a" * 20
    made = []
    for n in range(5):
        rid = bytes([n + 1]) * 32
        rec = AccessRequest(
            id=rid,
            entry_id=entry,
            requester=requester if n % 2 == 0 else b"\x0b" * 20,
            presentation_digest=b"\x00" * 32,
            purpose="research",
            status=1,
            expires_at_ms=0,
            reason="",
            requested_height=n,
            decided_height=0,
        )
        s.state[request_key(rid)] = encode(rec)
        s.state[REQ_BY_ENTRY_PREFIX + entry + rid] = b"\x01"
        s.state[REQ_BY_REQUESTER_PREFIX + rec.requester + rid] = b"\x01"
        made.append(rid)
    seen, cursor = [], None
    while True:
        page = reads.requests_by_entry(s, entry, 2, cursor)
        seen += [r.id for r in page.items]
        if page.next is None:
            break
        cursor = page.next
    assert seen == made
    page = reads.requests_by_requester(s, requester, 100)
    assert [r.id for r in page.items] == made[0::2] and page.next is None
    assert reads.request(s, made[0]) is not None and reads.request(s, b"\x77" * 32) is None
    del s.state[request_key(made[1])]
    with pytest.raises(Exception, match="indexed but its record is missing"):
        reads.requests_by_entry(s, entry, 100)


# -- over state written by the real handlers ------------------------------------------------------------------------
def _did(chain, make_tx, key, nonce: int) -> str:  # type: ignore[no-untyped-def]
    vm = DidVerificationMethod(id="key-1", type="Ed25519VerificationKey2020", public_key=key.public)
    doc = DidDocument(verification_methods=[vm], authentication=["key-1"], assertion_method=["key-1"])
    receipt = chain.execute_and_commit([make_tx(key, nonce, DidCreate(document=doc))]).output.receipts[0]
    assert receipt.code == 0, receipt.message
    return format_did(CHAIN_ID, receipt.data)


def test_search_over_entries_the_handlers_wrote(chain, actors, make_tx) -> None:  # type: ignore[no-untyped-def]
    did = _did(chain, make_tx, actors.alice, 0)
    published = []
    for n, (title, type_, kws) in enumerate(
        [("Harbour air quality", "sensor", ["air"]), ("Harbour water", "lab", ["water"]), ("City air", "sensor", [])]
    ):
        nonce = n + 1
        msg = DirectoryPublish(entry=fields(did, title, type_, keywords=kws))
        receipt = chain.execute_and_commit([make_tx(actors.alice, nonce, msg)]).output.receipts[0]
        assert receipt.code == 0, receipt.message
        published.append(entry_id(ED25519, CHAIN_ID, actors.alice.address, nonce))
    harbour, water, city = published

    def found(**q: object) -> list[bytes]:
        return ids(search(chain, **q))

    assert found(owner=did) == sorted(published)
    assert found(type="sensor") == sorted([harbour, city])
    assert found(words=("air",)) == sorted([harbour, city])
    assert found(words=("harbour", "air")) == [harbour]
    assert found(chain=CHAIN_ID) == sorted(published) == found()
    assert found(chain="other-chain") == []
    update = DirectoryUpdate(id=water, entry=fields(did, "Harbour water, filtered", "lab", keywords=["filtered"]))
    assert chain.execute_and_commit([make_tx(actors.alice, 4, update)]).output.receipts[0].code == 0
    assert found(words=("water",)) == [water] and found(words=("filtered",)) == [water]
    (item,) = search(chain, words=("filtered",)).items
    assert item.entry.version == 2 and item.mirror is None
    page = reads.versions(chain, water, 10)
    assert page is not None and [e.fields.title for e in page.items] == ["Harbour water", "Harbour water, filtered"]
    withdraw = DirectoryWithdraw(id=harbour, reason="superseded")
    assert chain.execute_and_commit([make_tx(actors.alice, 5, withdraw)]).output.receipts[0].code == 0
    assert found(words=("air",)) == [city] and harbour not in found() and harbour not in found(owner=did)
    shown = reads.entry(chain, harbour)
    assert shown is not None and shown.entry.withdrawn and shown.entry.withdraw_reason == "superseded"
