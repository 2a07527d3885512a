"""The directory module's rules (docs/spec/directory.md 4) run through real blocks: publish, update, withdraw,
request access and decide; every refusal, and the search indexes exactly as they must be after each step."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.conftest import CHAIN_ID
from trellis.core.codec import decode, encode
from trellis.core.crypto.suite import ED25519
from trellis.core.errors import DecodeError
from trellis.core.execution import ResultCode
from trellis.core.modules.directory.messages import (
    CREDENTIAL_REQUIRED,
    ON_REQUEST,
    PUBLIC,
    DirectoryDecide,
    DirectoryPublish,
    DirectoryRequestAccess,
    DirectoryUpdate,
    DirectoryWithdraw,
    EntryFields,
)
from trellis.core.modules.directory.state import (
    CHAIN,
    GRANTED,
    INDEX_PREFIX,
    OWNER,
    PENDING,
    REFUSED,
    REQ_BY_ENTRY_PREFIX,
    REQ_BY_REQUESTER_PREFIX,
    TYPE,
    WORD,
    AccessRequest,
    Entry,
    entry_id,
    index_prefix,
    index_values,
    read_entry,
    read_request,
    request_id,
    title_words,
    version_key,
)
from trellis.core.modules.identity.did import format_did
from trellis.core.modules.identity.messages import DidCreate, DidDeactivate, DidDocument, DidVerificationMethod

ZERO = bytes(32)
DIGEST = b"\x5a" * 32


def doc_for(public_key: bytes) -> DidDocument:
    vm = DidVerificationMethod(id="key-1", type="Ed25519VerificationKey2020", public_key=public_key)
    return DidDocument(
        verification_methods=[vm], authentication=["key-1"], assertion_method=["key-1"], services=[], controllers=[]
    )


def run(chain, make_tx, key, nonce, msg):
    executed = chain.execute_and_commit([make_tx(key, nonce, msg)])
    return executed.output.receipts[0]


def did_of(chain, make_tx, key, nonce: int) -> str:
    receipt = run(chain, make_tx, key, nonce, DidCreate(document=doc_for(key.public)))
    assert receipt.code == ResultCode.OK, receipt.message
    return format_did(CHAIN_ID, receipt.data)


def fields(did: str, **kw: Any) -> EntryFields:
    base: dict[str, Any] = {
        "owner_did": did,
        "title": "Hourly Air Quality of the Harbour",
        "type": "https://schema.org/Dataset",
        "keywords": ["air", "pm25"],
        "digest": DIGEST,
        "receipt_ref": "",
        "location": "https://data.example/air",
        "licence": "CC-BY-4.0",
        "access": PUBLIC,
        "credential_type": "",
    }
    base.update(kw)
    return EntryFields(**base)


def module_writes(out) -> dict[bytes, bytes | None]:
    return {k: v for k, v in out.writes.items() if k.startswith(b"directory/")}


def index_rows(chain) -> set[tuple[bytes, bytes, bytes]]:
    """Every index entry as (kind + value hash prefix, entry id, value)."""
    rows = chain.scan(INDEX_PREFIX, INDEX_PREFIX[:-1] + b"0", 10_000)
    return {(k[: len(INDEX_PREFIX) + 33], k[len(INDEX_PREFIX) + 33 :], v) for k, v in rows}


def expected_rows(f: EntryFields, ident: bytes, home: bytes = b"") -> set[tuple[bytes, bytes, bytes]]:
    return {(index_prefix(ED25519, kind, value), ident, home) for kind, value in index_values(f, CHAIN_ID)}


@pytest.fixture
def alice_did(chain, make_tx, actors) -> str:
    return did_of(chain, make_tx, actors.alice, 0)


def publish(chain, make_tx, key, nonce, f: EntryFields) -> tuple[bytes, Any]:
    receipt = run(chain, make_tx, key, nonce, DirectoryPublish(entry=f))
    return entry_id(ED25519, CHAIN_ID, key.address, nonce), receipt


# -- publish -----------------------------------------------------------------------------------------------------
def test_publish_stores_the_entry_its_indexes_and_an_event(chain, actors, make_tx, alice_did) -> None:
    f = fields(alice_did)
    executed = chain.execute_and_commit([make_tx(actors.alice, 1, DirectoryPublish(entry=f))])
    receipt = executed.output.receipts[0]
    assert receipt.code == ResultCode.OK, receipt.message
    ident = entry_id(ED25519, CHAIN_ID, actors.alice.address, 1)
    h = executed.block.header.height
    assert read_entry(chain, ident) == Entry(
        id=ident,
        chain_id=CHAIN_ID,
        owner=actors.alice.address,
        nonce=1,
        fields=f,
        version=1,
        withdrawn=False,
        withdraw_reason="",
        created_height=h,
        updated_height=h,
    )
    assert index_rows(chain) == expected_rows(f, ident)
    # owner, type, chain, 2 keywords, 4 title words (hourly air quality harbour; "air" once; "of", "the" dropped)
    assert len(index_rows(chain)) == 3 + 2 + 3
    assert title_words(f.title) == ["hourly", "air", "quality", "harbour"]
    (ev,) = [e for e in receipt.events if e.type == "directory.published"]
    assert dict(ev.attributes)["id"] == ident and dict(ev.attributes)["version"] == b"1"


def test_publish_without_a_hub_sends_nothing(chain, actors, make_tx, alice_did) -> None:
    out = chain.execute([make_tx(actors.alice, 1, DirectoryPublish(entry=fields(alice_did)))])
    assert out.receipts[0].code == ResultCode.OK
    assert not any(k.startswith(b"interchain/") for k in out.writes)
    assert b"directory/hub_channel" not in out.writes


def test_publish_refusals(chain, actors, make_tx, alice_did) -> None:
    other_did = did_of(chain, make_tx, actors.bob, 0)
    cases: list[tuple[EntryFields, ResultCode]] = [
        (fields(alice_did, keywords=["air", "air"]), ResultCode.INVALID_CHANGE),  # a repeated keyword
        (fields(alice_did, access=CREDENTIAL_REQUIRED), ResultCode.INVALID_CHANGE),  # access 3 without a type
        (fields(alice_did, access=ON_REQUEST, credential_type="X"), ResultCode.INVALID_CHANGE),  # a type, not 3
        (fields(other_did), ResultCode.UNAUTHORIZED),  # bob's DID: alice's key does not control it
        (fields(format_did(CHAIN_ID, b"\x09" * 16)), ResultCode.NOT_FOUND),
        (fields(format_did("another-chain", b"\x09" * 16)), ResultCode.INVALID_DID),
    ]
    for f, code in cases:
        out = chain.execute([make_tx(actors.alice, 1, DirectoryPublish(entry=f))])
        assert out.receipts[0].code == code, (f, out.receipts[0].message)
        assert module_writes(out) == {}


def test_publish_with_a_deactivated_did_is_refused(chain, actors, make_tx, alice_did) -> None:
    assert run(chain, make_tx, actors.alice, 1, DidDeactivate(did=alice_did)).code == ResultCode.OK
    out = chain.execute([make_tx(actors.alice, 2, DirectoryPublish(entry=fields(alice_did)))])
    assert out.receipts[0].code == ResultCode.DID_DEACTIVATED
    assert module_writes(out) == {}


def test_a_duplicate_id_is_refused(chain, actors, make_tx, alice_did) -> None:
    # Only a hash collision makes one; simulate it by writing the id the next publish would take.
    ident = entry_id(ED25519, CHAIN_ID, actors.alice.address, 1)
    chain.state[b"directory/entry/" + ident] = b"\x90"
    out = chain.execute([make_tx(actors.alice, 1, DirectoryPublish(entry=fields(alice_did)))])
    assert out.receipts[0].code == ResultCode.DUPLICATE


def test_keyword_syntax_is_enforced_by_the_message_type(alice_did) -> None:
    for bad in (["Air"], ["a b"], [""], ["x" * 33], [f"k{i}" for i in range(17)]):
        with pytest.raises(DecodeError):
            decode(encode(fields(alice_did, keywords=bad)), EntryFields)


# -- update ------------------------------------------------------------------------------------------------------
def test_update_keeps_the_old_version_and_moves_the_indexes(chain, actors, make_tx, alice_did) -> None:
    f1 = fields(alice_did)
    ident, receipt = publish(chain, make_tx, actors.alice, 1, f1)
    assert receipt.code == ResultCode.OK
    v1 = read_entry(chain, ident)
    f2 = fields(alice_did, title="Air Quality Daily", type="token:air", keywords=["air", "no2"])
    receipt = run(chain, make_tx, actors.alice, 2, DirectoryUpdate(id=ident, entry=f2))
    assert receipt.code == ResultCode.OK, receipt.message
    v2 = read_entry(chain, ident)
    assert v1 is not None and v2 is not None
    assert v2.version == 2 and v2.fields == f2 and v2.created_height == v1.created_height
    assert v2.updated_height == chain.tip.height
    assert chain.get(version_key(ident, 1)) == encode(v1)
    assert index_rows(chain) == expected_rows(f2, ident)
    assert any(e.type == "directory.updated" for e in receipt.events)


def test_update_refusals(chain, actors, make_tx, alice_did) -> None:
    ident, _ = publish(chain, make_tx, actors.alice, 1, fields(alice_did))
    bob_did = did_of(chain, make_tx, actors.bob, 0)
    cases = [
        (actors.bob, 1, DirectoryUpdate(id=ident, entry=fields(bob_did)), ResultCode.NOT_OWNER),
        (actors.alice, 2, DirectoryUpdate(id=b"\x01" * 32, entry=fields(alice_did)), ResultCode.NOT_FOUND),
        (actors.alice, 2, DirectoryUpdate(id=ident, entry=fields(bob_did)), ResultCode.INVALID_CHANGE),
        (
            actors.alice,
            2,
            DirectoryUpdate(id=ident, entry=fields(alice_did, keywords=["a", "a"])),
            ResultCode.INVALID_CHANGE,
        ),
    ]
    for key, nonce, msg, code in cases:
        out = chain.execute([make_tx(key, nonce, msg)])
        assert out.receipts[0].code == code, (msg, out.receipts[0].message)
        assert module_writes(out) == {}


def test_update_after_the_owner_lost_control_of_the_did_is_refused(chain, actors, make_tx, alice_did) -> None:
    ident, _ = publish(chain, make_tx, actors.alice, 1, fields(alice_did))
    assert run(chain, make_tx, actors.alice, 2, DidDeactivate(did=alice_did)).code == ResultCode.OK
    out = chain.execute([make_tx(actors.alice, 3, DirectoryUpdate(id=ident, entry=fields(alice_did, title="New")))])
    assert out.receipts[0].code == ResultCode.DID_DEACTIVATED


# -- withdraw ----------------------------------------------------------------------------------------------------
def test_withdraw_removes_every_index_entry_and_is_final(chain, actors, make_tx, alice_did) -> None:
    f = fields(alice_did)
    ident, _ = publish(chain, make_tx, actors.alice, 1, f)
    other, _ = publish(chain, make_tx, actors.alice, 2, fields(alice_did, title="Noise", keywords=["noise"]))
    before = read_entry(chain, ident)
    receipt = run(chain, make_tx, actors.alice, 3, DirectoryWithdraw(id=ident, reason="superseded"))
    assert receipt.code == ResultCode.OK, receipt.message
    after = read_entry(chain, ident)
    assert after is not None and before is not None
    assert after.withdrawn and after.version == 2 and after.withdraw_reason == "superseded"
    assert chain.get(version_key(ident, 1)) == encode(before)
    assert index_rows(chain) == expected_rows(fields(alice_did, title="Noise", keywords=["noise"]), other)
    assert any(e.type == "directory.withdrawn" for e in receipt.events)
    for msg in (DirectoryWithdraw(id=ident), DirectoryUpdate(id=ident, entry=f)):
        out = chain.execute([make_tx(actors.alice, 4, msg)])
        assert out.receipts[0].code == ResultCode.INVALID_CHANGE, out.receipts[0].message
        assert module_writes(out) == {}


def test_withdraw_refusals(chain, actors, make_tx, alice_did) -> None:
    ident, _ = publish(chain, make_tx, actors.alice, 1, fields(alice_did))
    out = chain.execute([make_tx(actors.bob, 0, DirectoryWithdraw(id=ident))])
    assert out.receipts[0].code == ResultCode.NOT_OWNER
    assert module_writes(out) == {}
    out = chain.execute([make_tx(actors.alice, 2, DirectoryWithdraw(id=b"\x02" * 32))])
    assert out.receipts[0].code == ResultCode.NOT_FOUND


# -- access requests ---------------------------------------------------------------------------------------------
def _entry_with(chain, make_tx, actors, alice_did, access: int, nonce: int = 1) -> bytes:
    ctype = "ExampleCredential" if access == CREDENTIAL_REQUIRED else ""
    ident, receipt = publish(
        chain, make_tx, actors.alice, nonce, fields(alice_did, access=access, credential_type=ctype)
    )
    assert receipt.code == ResultCode.OK, receipt.message
    return ident


def test_request_access_records_a_pending_request_with_both_indexes(chain, actors, make_tx, alice_did) -> None:
    ident = _entry_with(chain, make_tx, actors, alice_did, CREDENTIAL_REQUIRED)
    msg = DirectoryRequestAccess(entry_id=ident, presentation_digest=DIGEST, purpose="research")
    receipt = run(chain, make_tx, actors.bob, 0, msg)
    assert receipt.code == ResultCode.OK, receipt.message
    rid = request_id(ED25519, ident, actors.bob.address, 0)
    assert read_request(chain, rid) == AccessRequest(
        id=rid,
        entry_id=ident,
        requester=actors.bob.address,
        presentation_digest=DIGEST,
        purpose="research",
        status=PENDING,
        expires_at_ms=0,
        reason="",
        requested_height=chain.tip.height,
        decided_height=0,
    )
    assert chain.get(REQ_BY_ENTRY_PREFIX + ident + rid) == b"\x01"
    assert chain.get(REQ_BY_REQUESTER_PREFIX + actors.bob.address + rid) == b"\x01"
    (ev,) = receipt.events
    assert ev.type == "directory.access_requested" and dict(ev.attributes)["id"] == rid


def test_request_access_refusals(chain, actors, make_tx, alice_did) -> None:
    public = _entry_with(chain, make_tx, actors, alice_did, PUBLIC, 1)
    cred = _entry_with(chain, make_tx, actors, alice_did, CREDENTIAL_REQUIRED, 2)
    gone = _entry_with(chain, make_tx, actors, alice_did, ON_REQUEST, 3)
    assert run(chain, make_tx, actors.alice, 4, DirectoryWithdraw(id=gone)).code == ResultCode.OK
    cases = [
        (DirectoryRequestAccess(entry_id=b"\x03" * 32, presentation_digest=ZERO, purpose=""), ResultCode.NOT_FOUND),
        (DirectoryRequestAccess(entry_id=public, presentation_digest=ZERO, purpose=""), ResultCode.INVALID_CHANGE),
        (DirectoryRequestAccess(entry_id=cred, presentation_digest=ZERO, purpose=""), ResultCode.INVALID_CHANGE),
        (DirectoryRequestAccess(entry_id=gone, presentation_digest=ZERO, purpose=""), ResultCode.INVALID_CHANGE),
    ]
    for msg, code in cases:
        out = chain.execute([make_tx(actors.bob, 0, msg)])
        assert out.receipts[0].code == code, (msg, out.receipts[0].message)
        assert module_writes(out) == {}
    assert "public" in chain.execute([make_tx(actors.bob, 0, cases[1][0])]).receipts[0].message


def _pending(chain, make_tx, actors, alice_did) -> bytes:
    ident = _entry_with(chain, make_tx, actors, alice_did, ON_REQUEST)
    msg = DirectoryRequestAccess(entry_id=ident, presentation_digest=ZERO, purpose="audit")
    assert run(chain, make_tx, actors.bob, 0, msg).code == ResultCode.OK
    return request_id(ED25519, ident, actors.bob.address, 0)


def test_decide_grants_and_the_decision_is_final(chain, actors, make_tx, alice_did) -> None:
    rid = _pending(chain, make_tx, actors, alice_did)
    until = chain.tip.time_ms + 10_000
    receipt = run(chain, make_tx, actors.alice, 2, DirectoryDecide(request_id=rid, grant=True, expires_at_ms=until))
    assert receipt.code == ResultCode.OK, receipt.message
    req = read_request(chain, rid)
    assert req is not None and req.status == GRANTED and req.expires_at_ms == until
    assert req.decided_height == chain.tip.height
    (ev,) = receipt.events
    assert ev.type == "directory.access_decided" and dict(ev.attributes)["status"] == b"granted"
    out = chain.execute([make_tx(actors.alice, 3, DirectoryDecide(request_id=rid, grant=False))])
    assert out.receipts[0].code == ResultCode.INVALID_CHANGE  # not pending any more


def test_decide_refuses(chain, actors, make_tx, alice_did) -> None:
    rid = _pending(chain, make_tx, actors, alice_did)
    receipt = run(chain, make_tx, actors.alice, 2, DirectoryDecide(request_id=rid, grant=False, reason="no"))
    assert receipt.code == ResultCode.OK, receipt.message
    req = read_request(chain, rid)
    assert req is not None and req.status == REFUSED and req.expires_at_ms == 0 and req.reason == "no"


def test_decide_refusals(chain, actors, make_tx, alice_did) -> None:
    rid = _pending(chain, make_tx, actors, alice_did)
    now = chain.tip.time_ms + 1000  # the next block's time
    cases = [
        (actors.bob, 1, DirectoryDecide(request_id=rid, grant=True), ResultCode.NOT_OWNER),
        (actors.alice, 2, DirectoryDecide(request_id=b"\x04" * 32, grant=True), ResultCode.NOT_FOUND),
        (
            actors.alice,
            2,
            DirectoryDecide(request_id=rid, grant=False, expires_at_ms=now + 5),
            ResultCode.INVALID_CHANGE,
        ),
        (actors.alice, 2, DirectoryDecide(request_id=rid, grant=True, expires_at_ms=now), ResultCode.INVALID_CHANGE),
    ]
    for key, nonce, msg, code in cases:
        out = chain.execute([make_tx(key, nonce, msg)])
        assert out.receipts[0].code == code, (msg, out.receipts[0].message)
        assert module_writes(out) == {}
    ident = read_request(chain, rid).entry_id
    assert run(chain, make_tx, actors.alice, 2, DirectoryWithdraw(id=ident)).code == ResultCode.OK
    out = chain.execute([make_tx(actors.alice, 3, DirectoryDecide(request_id=rid, grant=True))])
    assert out.receipts[0].code == ResultCode.INVALID_CHANGE  # nothing to grant once withdrawn
    out = chain.execute([make_tx(actors.alice, 3, DirectoryDecide(request_id=rid, grant=False))])
    assert out.receipts[0].code == ResultCode.OK  # a refusal still may be recorded


# -- index keys --------------------------------------------------------------------------------------------------
def test_index_values_cover_owner_type_chain_and_words() -> None:
    f = fields("did:trellis:x", title="The Air, the Sea & CO2 2024", keywords=["air", "sea"])
    assert index_values(f, "c1") == [
        (OWNER, "did:trellis:x"),
        (TYPE, "https://schema.org/Dataset"),
        (CHAIN, "c1"),
        (WORD, "air"),
        (WORD, "sea"),
        (WORD, "co"),
        (WORD, "2024"),
    ]


def test_a_duplicate_request_id_is_refused(chain, actors, make_tx, alice_did) -> None:
    ident = _entry_with(chain, make_tx, actors, alice_did, ON_REQUEST)
    rid = request_id(ED25519, ident, actors.bob.address, 0)
    chain.state[b"directory/request/" + rid] = b"\x90"  # as if a hash collision had taken the id
    msg = DirectoryRequestAccess(entry_id=ident, presentation_digest=ZERO, purpose="")
    out = chain.execute([make_tx(actors.bob, 0, msg)])
    assert out.receipts[0].code == ResultCode.DUPLICATE
