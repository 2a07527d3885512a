"""The custody module (docs/spec/custody.md; ADR 0018 section 7): registration by an org member, challenge rounds
drawn from the parent block id, answers checked on chain (segment length, hash and RFC 6962 path), refusals with
result codes (wrong segment, wrong path, late, another org, replayed), missed challenges recorded by the block
that passes the deadline (bounded per block), closed records forgotten, release, and the read side.

Chains are ``SimChain``s (every block through ``apply_block_reference``, real headers and parent ids) with org1 and
org2 and small custody parameters: a round every 4 blocks, 2 challenges a round, answers up to 3 blocks later.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import msgspec
import pytest

from tests.fixtures.chain_sim import SimChain
from tests.fixtures.governance import fixed_ca
from trellis.app.modules import custody as reads
from trellis.app.modules.custody import MAX_PAGE
from trellis.core.codec import decode
from trellis.core.crypto.suite import ED25519
from trellis.core.execution.results import ResultCode
from trellis.core.ledger.block import Receipt
from trellis.core.modules.custody import state as cs
from trellis.core.modules.custody.messages import CustodyRegister, CustodyRelease, CustodyRespond
from trellis.core.modules.membership.messages import RegisterCert
from trellis.core.params import GenesisCustody

RULES = GenesisCustody(challenge_interval=4, challenges_per_round=2, response_window_blocks=3, keep_closed_blocks=6)


def file_bytes(label: str, size: int) -> bytes:
    """Deterministic file contents of ``size`` bytes."""
    out = b""
    i = 0
    while len(out) < size:
        out += hashlib.sha256(f"{label}/{i}".encode()).digest()
        i += 1
    return out[:size]


class Net:
    """A chain with org1 members ``s1`` and ``s1b``, an org2 member ``s2`` and ``nobody`` (no certificate)."""

    def __init__(self, rules: GenesisCustody = RULES) -> None:
        self.rules = rules
        self.c = SimChain("custody", extra_orgs=("org2",), custody=rules)
        for name, org in (("s1", "org1"), ("s1b", "org1"), ("s2", "org2")):
            cert = fixed_ca(org).issue(self.c.public_key(name), "client", name)
            assert self.c.submit(name, RegisterCert(cert=cert)).code == 0
        self.files: dict[bytes, bytes] = {}

    def register(self, name: str, data: bytes, file_id: bytes | None = None) -> tuple[bytes, Receipt]:
        hashes = cs.segment_hashes(ED25519, data)
        fid = file_id if file_id is not None else hashlib.sha256(data).digest()
        self.files[fid] = data
        msg = CustodyRegister(
            file_id=fid, size=len(data), segment_root=cs.segment_root(ED25519, hashes), segment_count=len(hashes)
        )
        return fid, self.c.submit(name, msg)

    def answer(self, ch: cs.Challenge) -> CustodyRespond:
        data = self.files[ch.file_id]
        hashes = cs.segment_hashes(ED25519, data)
        i = ch.segment_index
        seg = data[i * 4096 : (i + 1) * 4096]
        return CustodyRespond(challenge_id=ch.id, segment=seg, path=cs.segment_path(ED25519, hashes, i))

    def open_challenges(self, org: str) -> list[cs.Challenge]:
        return reads.challenges(self.c.reader(), org, open_only=True, limit=100).challenges

    def to_round(self) -> int:
        """Advance to the next round height; return it."""
        every = self.rules.challenge_interval
        self.c.advance(every - self.c.height % every)
        return self.c.height

    def custody_state(self) -> dict[bytes, bytes]:
        return dict(self.c.reader().scan(cs.PREFIX, cs.PREFIX + b"\xff", 1 << 20))


def test_a_registration_records_the_file_its_index_and_the_event() -> None:
    n = Net()
    data = file_bytes("a", 3 * 4096 + 100)
    fid, r = n.register("s1", data)
    assert r.code == 0, r
    rec = cs.read_file(n.c.reader(), fid, "org1")
    assert rec is not None
    assert (rec.org, rec.size, rec.segment_count, rec.index, rec.registrant) == (
        "org1",
        len(data),
        4,
        0,
        n.c.address("s1"),
    )
    assert rec.segment_root == cs.segment_root(ED25519, cs.segment_hashes(ED25519, data))
    assert cs.read_ref(n.c.reader(), "org1", 0) == cs.FileRef(file_id=fid, org="org1")
    assert cs.read_org(n.c.reader(), "org1") == cs.OrgFiles(org="org1", index=0, files=1)
    assert cs.read_org_ref(n.c.reader(), 0) == cs.OrgRef(org="org1")
    assert cs.read_meta(n.c.reader()) == cs.CustodyMeta(files=1, orgs=1, open=0, closed=0)
    assert r.events[0].type == "custody.register"
    assert dict(r.events[0].attributes)["org"] == b"org1"


def test_registration_needs_an_org_member_and_a_consistent_count_and_is_once_per_org() -> None:
    n = Net()
    data = file_bytes("b", 5000)
    _, r = n.register("nobody", data)
    assert (r.code, "no valid certificate" in r.message) == (ResultCode.UNAUTHORIZED, True), r
    bad = CustodyRegister(file_id=bytes(32), size=5000, segment_root=bytes(32), segment_count=3)
    r = n.c.submit("s1", bad)
    assert (r.code, "does not fit size 5000" in r.message) == (ResultCode.INVALID_CHANGE, True), r
    assert n.custody_state() == {}
    _, r = n.register("s1", data)
    assert r.code == 0
    _, r = n.register("s1b", data)
    assert r.code == ResultCode.DUPLICATE, r
    _, r = n.register("s2", data)  # another org keeps its own copy of the same file
    assert r.code == 0, r
    assert cs.read_meta(n.c.reader()).files == 2  # type: ignore[union-attr]


def test_no_custody_state_and_no_round_on_a_chain_without_registrations() -> None:
    n = Net()
    n.to_round()
    n.c.advance(RULES.challenge_interval)
    assert n.custody_state() == {}


def test_a_round_draws_an_organisation_then_one_of_its_files_from_the_parent_block_id_and_height() -> None:
    n = Net(GenesisCustody(challenge_interval=4, challenges_per_round=4, response_window_blocks=3))
    org1_files = [n.register("s1", file_bytes(f"c1-{i}", (10 + i) * 4096))[0] for i in range(5)]
    f2, _ = n.register("s2", file_bytes("c2", 7 * 4096 + 1))
    by_org = {"org1": org1_files, "org2": [f2]}
    counts = {**{f: 10 + i for i, f in enumerate(org1_files)}, f2: 8}
    seen_orgs: set[str] = set()
    for _ in range(3):
        h = n.to_round()
        seed = cs.round_seed(ED25519, n.c.header(h).parent_hash, h)
        expect = []
        for k in range(4):
            drawn = cs.pick(ED25519, seed, k)
            org = ["org1", "org2"][cs.picked_org(drawn, 2)]
            fid = by_org[org][cs.picked_index(drawn, len(by_org[org]))]
            seen_orgs.add(org)
            expect.append((cs.challenge_id(h, k), fid, org, cs.picked_segment(drawn, counts[fid]), h, h + 3))
        got = []
        for k in range(4):
            ch = cs.read_challenge(n.c.reader(), cs.challenge_id(h, k))
            assert ch is not None and ch.status == cs.OPEN
            got.append((ch.id, ch.file_id, ch.org, ch.segment_index, ch.issued_height, ch.deadline))
        assert got == expect
    assert seen_orgs == {"org1", "org2"}
    meta = cs.read_meta(n.c.reader())
    assert meta is not None and (meta.files, meta.orgs, meta.open) == (6, 2, 4)
    h = n.c.height
    # No round between multiples of the interval.
    n.c.advance(1)
    assert cs.read_challenge(n.c.reader(), cs.challenge_id(h + 1, 0)) is None


def _one_open(n: Net, org: str = "org1") -> cs.Challenge:
    """A round with only org's file registered: its first open challenge."""
    n.to_round()
    chs = n.open_challenges(org)
    assert chs
    return chs[0]


def test_a_correct_answer_closes_the_challenge_and_counts_it() -> None:
    n = Net()
    fid, _ = n.register("s1", file_bytes("d", 9 * 4096 + 7))
    ch = _one_open(n)
    r = n.c.submit("s1b", n.answer(ch))  # any member account of the org may answer
    assert r.code == 0, r
    after = cs.read_challenge(n.c.reader(), ch.id)
    assert after is not None
    assert (after.status, after.closed_height, after.responder) == (cs.ANSWERED, n.c.height, n.c.address("s1b"))
    rec = cs.read_file(n.c.reader(), fid, "org1")
    assert rec is not None and (rec.answered, rec.missed) == (1, 0)
    assert rec.open == rec.challenged - 1
    assert r.events[0].type == "custody.respond"
    assert ch.id not in [c.id for c in n.open_challenges("org1")]


def _refused(n: Net, name: str, msg: CustodyRespond, code: ResultCode, fragment: str) -> None:
    before = n.custody_state()
    r = n.c.submit(name, msg)
    assert (r.code, fragment in r.message) == (code, True), r
    after = n.custody_state()
    # A round may open in the refusing block: compare the challenged record and its indexes only.
    ch = decode(before[cs.challenge_key(msg.challenge_id)], cs.Challenge)
    for key in (cs.challenge_key(ch.id), cs.due_key(ch.deadline, ch.id), cs.open_key(ch.org, ch.id)):
        assert after.get(key) == before.get(key)


def test_a_wrong_segment_is_refused() -> None:
    n = Net()
    n.register("s1", file_bytes("e", 6 * 4096))
    ch = _one_open(n)
    good = n.answer(ch)
    flipped = bytes([good.segment[0] ^ 1]) + good.segment[1:]
    _refused(n, "s1", msgspec.structs.replace(good, segment=flipped), ResultCode.INVALID_PROOF, "do not lead")
    _refused(n, "s1", msgspec.structs.replace(good, segment=good.segment[:-1]), ResultCode.INVALID_PROOF, "bytes")


def test_a_wrong_path_is_refused() -> None:
    n = Net()
    n.register("s1", file_bytes("f", 6 * 4096))
    ch = _one_open(n)
    good = n.answer(ch)
    bad_path = [good.path[0][:-1] + bytes([good.path[0][-1] ^ 1]), *good.path[1:]]
    _refused(n, "s1", msgspec.structs.replace(good, path=bad_path), ResultCode.INVALID_PROOF, "do not lead")
    _refused(n, "s1", msgspec.structs.replace(good, path=good.path[:-1]), ResultCode.INVALID_PROOF, "does not fit")
    # Another segment's correct answer is not this one's.
    other = ch.segment_index ^ 1  # its sibling leaf: a path of the same length
    data = n.files[ch.file_id]
    wrong = CustodyRespond(
        challenge_id=ch.id,
        segment=data[other * 4096 : (other + 1) * 4096],
        path=cs.segment_path(ED25519, cs.segment_hashes(ED25519, data), other),
    )
    _refused(n, "s1", wrong, ResultCode.INVALID_PROOF, "do not lead")


def test_an_answer_by_another_org_or_a_non_member_is_refused() -> None:
    n = Net()
    n.register("s1", file_bytes("g", 3 * 4096))
    n.register("s2", file_bytes("g2", 3 * 4096), file_id=b"\x02" * 32)
    n.c.submit("s2", CustodyRelease(file_id=b"\x02" * 32))  # org2 keeps nothing: every challenge is org1's
    ch = _one_open(n)
    _refused(n, "s2", n.answer(ch), ResultCode.UNAUTHORIZED, "org1")
    _refused(n, "nobody", n.answer(ch), ResultCode.UNAUTHORIZED, "org1")


def test_a_replayed_answer_is_refused() -> None:
    n = Net()
    n.register("s1", file_bytes("h", 5 * 4096))
    ch = _one_open(n)
    assert n.c.submit("s1", n.answer(ch)).code == 0
    r = n.c.submit("s1", n.answer(ch))
    assert (r.code, "already answered" in r.message) == (ResultCode.DUPLICATE, True), r


def test_a_late_answer_is_refused_and_the_challenge_is_recorded_missed_by_the_block_after_the_deadline() -> None:
    n = Net()
    fid, _ = n.register("s1", file_bytes("i", 5 * 4096))
    ch = _one_open(n)
    n.c.advance(ch.deadline - n.c.height)  # the deadline block itself: still open
    assert cs.read_challenge(n.c.reader(), ch.id).status == cs.OPEN  # type: ignore[union-attr]
    assert cs.read_missed(n.c.reader(), "org1", fid) is None
    n.c.advance(1)  # the block that passes the deadline records it
    missed = cs.read_challenge(n.c.reader(), ch.id)
    assert missed is not None and (missed.status, missed.closed_height) == (cs.MISSED, ch.deadline + 1)
    rec = cs.read_missed(n.c.reader(), "org1", fid)
    assert rec is not None and (rec.count, rec.last_height) == (rec.count, ch.deadline + 1)
    assert rec.count >= 1 and cs.read_file(n.c.reader(), fid, "org1").missed == rec.count  # type: ignore[union-attr]
    r = n.c.submit("s1", n.answer(ch))
    assert (r.code, "deadline" in r.message) == (ResultCode.CHALLENGE_EXPIRED, True), r
    assert reads.missed(n.c.reader(), "org1", limit=10).records[0].count == rec.count


def test_expiry_is_bounded_per_block_and_a_backlogged_late_answer_is_still_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from trellis.core.modules.custody import handlers

    monkeypatch.setattr(handlers, "MAX_EXPIRE_PER_BLOCK", 1)
    n = Net(GenesisCustody(challenge_interval=4, challenges_per_round=3, response_window_blocks=1))
    n.register("s1", file_bytes("j", 8 * 4096))
    n.register("s1", file_bytes("j2", 8 * 4096))
    n.register("s1", file_bytes("j3", 8 * 4096))
    h = n.to_round()
    chs = sorted(n.open_challenges("org1"), key=lambda c: c.id)
    assert len(chs) == 3
    n.c.advance(1)  # deadline h+1
    n.c.advance(1)  # h+2 passes it: one recorded
    assert cs.read_meta(n.c.reader()).open == 2  # type: ignore[union-attr]
    r = n.c.submit("s1", n.answer(chs[2]))  # h+3: still open in state, but late
    assert r.code == ResultCode.CHALLENGE_EXPIRED, r
    assert cs.read_meta(n.c.reader()).open == 0 or n.c.height == h + 3  # type: ignore[union-attr]
    n.c.advance(1)
    assert [cs.read_challenge(n.c.reader(), c.id).status for c in chs] == [cs.MISSED] * 3  # type: ignore[union-attr]


def test_closed_challenges_are_forgotten_after_keep_closed_blocks() -> None:
    n = Net()
    n.register("s1", file_bytes("k", 4 * 4096))
    ch = _one_open(n)
    assert n.c.submit("s1", n.answer(ch)).code == 0
    closed_at = n.c.height
    n.c.advance(RULES.keep_closed_blocks)
    assert cs.read_challenge(n.c.reader(), ch.id) is not None
    n.c.advance(1)
    assert cs.read_challenge(n.c.reader(), ch.id) is None
    state = n.custody_state()
    assert cs.closed_key("org1", ch.id) not in state and cs.gc_key(closed_at, ch.id) not in state
    r = n.c.submit("s1", n.answer(ch))
    assert r.code == ResultCode.NOT_FOUND, r


def test_release_moves_the_last_index_and_is_refused_with_open_challenges() -> None:
    n = Net(GenesisCustody(challenge_interval=20))
    f1, _ = n.register("s1", file_bytes("l1", 4096))
    f2, _ = n.register("s1", file_bytes("l2", 4096))
    f3, _ = n.register("s2", file_bytes("l3", 4096))
    assert n.c.submit("s2", CustodyRelease(file_id=f1)).code == ResultCode.NOT_FOUND
    r = n.c.submit("s1b", CustodyRelease(file_id=f1))
    assert r.code == 0, r
    rd = n.c.reader()
    assert cs.read_file(rd, f1, "org1") is None
    assert cs.read_ref(rd, "org1", 0) == cs.FileRef(file_id=f2, org="org1")  # org1's last file took index 0
    assert cs.read_file(rd, f2, "org1").index == 0  # type: ignore[union-attr]
    assert cs.read_ref(rd, "org1", 1) is None
    assert cs.read_org(rd, "org1") == cs.OrgFiles(org="org1", index=0, files=1)
    assert cs.read_meta(rd) == cs.CustodyMeta(files=2, orgs=2, open=0, closed=0)
    # org1's last file: org1 leaves the org index and org2 (the last there) takes its place.
    assert n.c.submit("s1", CustodyRelease(file_id=f2)).code == 0
    rd = n.c.reader()
    assert cs.read_org(rd, "org1") is None and cs.read_ref(rd, "org1", 0) is None
    assert cs.read_org_ref(rd, 0) == cs.OrgRef(org="org2") and cs.read_org_ref(rd, 1) is None
    assert cs.read_org(rd, "org2") == cs.OrgFiles(org="org2", index=0, files=1)
    assert cs.read_meta(rd) == cs.CustodyMeta(files=1, orgs=1, open=0, closed=0)
    n.to_round()
    (ch, *_) = n.open_challenges("org2")
    assert ch.file_id == f3 and n.open_challenges("org1") == []
    r = n.c.submit("s2", CustodyRelease(file_id=f3))
    assert (r.code, "open challenge" in r.message) == (ResultCode.INVALID_CHANGE, True), r
    # Once closed, the last registration goes and the module's indexes are empty again.
    assert n.c.submit("s2", n.answer(ch)).code == 0
    assert n.c.submit("s2", CustodyRelease(file_id=f3)).code == 0
    rd = n.c.reader()
    assert cs.read_org_ref(rd, 0) is None and cs.read_org(rd, "org2") is None
    meta = cs.read_meta(rd)
    assert meta is not None and (meta.files, meta.orgs, meta.open) == (0, 0, 0)


def test_a_departed_organisation_is_not_challenged_and_does_not_dilute_the_others() -> None:
    from trellis.core.modules.membership.messages import ProposeMembership, RemoveOrg

    n = Net(GenesisCustody(challenge_interval=4, challenges_per_round=8, response_window_blocks=3))
    n.register("s1", file_bytes("q1", 4 * 4096))
    for i in range(6):  # org2 registers many files: it takes one org's share of the draws, not six files' share
        n.register("s2", file_bytes(f"q2-{i}", 4 * 4096))
    h = n.to_round()
    org1 = n.open_challenges("org1")
    org2 = n.open_challenges("org2")
    assert len(org1) + len(org2) == 7  # min(8, files)
    seed = cs.round_seed(ED25519, n.c.header(h).parent_hash, h)
    picks = [cs.picked_org(cs.pick(ED25519, seed, k), 2) for k in range(7)]
    assert len(org1) == picks.count(0) and len(org2) == picks.count(1)
    assert n.c.submit("org1-admin", RegisterCert(cert=n.c.admin_cert())).code == 0
    assert n.c.submit("org1-admin", ProposeMembership(change=RemoveOrg(name="org2"))).code == 0  # threshold 1: applied
    n.c.advance(RULES.response_window_blocks + 1)  # org2's open challenges expire
    opened = 0
    for _ in range(3):
        h = n.to_round()
        seed = cs.round_seed(ED25519, n.c.header(h).parent_hash, h)
        for k in range(7):
            ch = cs.read_challenge(n.c.reader(), cs.challenge_id(h, k))
            org1_drawn = cs.picked_org(cs.pick(ED25519, seed, k), 2) == 0
            # A draw that picks org2 is skipped: its challenge number stays unused.
            assert (ch is not None) == org1_drawn and (ch is None or ch.org == "org1")
            opened += ch is not None
    assert opened >= 1 and n.open_challenges("org2") == []
    rec = cs.read_meta(n.c.reader())
    assert rec is not None and rec.open == len(n.open_challenges("org1"))


def test_the_reads_list_files_challenges_and_pages() -> None:
    n = Net()
    fid, _ = n.register("s1", file_bytes("m", 2 * 4096))
    n.register("s2", file_bytes("m", 2 * 4096), file_id=fid)
    regs = reads.file_registrations(n.c.reader(), fid)
    assert [r.org for r in regs] == ["org1", "org2"]
    n.to_round()
    n.to_round()
    rd = n.c.reader()
    opened = n.open_challenges("org1") + n.open_challenges("org2")
    assert sorted(c.id for c in opened) == [cs.challenge_id(n.c.height, k) for k in range(2)]
    # The first round's challenges passed their deadline (3 < 4 blocks): closed, missed, still kept.
    closed = [c for org in ("org1", "org2") for c in reads.challenges(rd, org, open_only=False, limit=10).challenges]
    assert sorted(c.id for c in closed) == [cs.challenge_id(n.c.height - 4, k) for k in range(2)]
    assert {c.status for c in closed} == {cs.MISSED}
    assert sum(r.count for org in ("org1", "org2") for r in reads.missed(rd, org, limit=10).records) == 2
    # Pages: one at a time, each cursor the last id.
    org = opened[0].org
    mine = reads.challenges(rd, org, open_only=True, limit=MAX_PAGE).challenges
    seen: list[bytes] = []
    after = None
    while True:
        page = reads.challenges(rd, org, open_only=True, limit=1, after=after)
        seen += [c.id for c in page.challenges]
        if page.next_after is None:
            break
        after = page.next_after
    assert seen == [c.id for c in mine]
    with pytest.raises(ValueError, match="limit"):
        reads.challenges(rd, org, open_only=True, limit=MAX_PAGE + 1)


def test_genesis_custody_parameters_are_bounded_and_default_when_absent() -> None:
    import json

    from trellis.core.errors import DecodeError
    from trellis.core.params import load_genesis

    base = {
        "chain_id": "c",
        "genesis_time_ms": 1,
        "validators": [{"name": "v", "public_key": "11" * 32}],
        "mint_authority": "22" * 20,
    }
    assert load_genesis(json.dumps(base).encode()).genesis.custody_rules == GenesisCustody()
    for member, bad in (
        ("challenge_interval", 0),
        ("challenges_per_round", 257),
        ("response_window_blocks", 0),
        ("keep_closed_blocks", 1_000_001),
    ):
        with pytest.raises(DecodeError, match=member):
            load_genesis(json.dumps({**base, "custody": {member: bad}}).encode())
    got = load_genesis(json.dumps({**base, "custody": {"challenge_interval": 7}}).encode()).genesis.custody_rules
    assert got == GenesisCustody(challenge_interval=7)


def test_the_block_level_executor_runs_the_hook_as_the_reference_does() -> None:
    from trellis.core.codec import encode
    from trellis.core.execution.fast_path import apply_block
    from trellis.core.execution.reference import BlockEnv, apply_block_reference
    from trellis.core.ledger.block import block_hash
    from trellis.core.modules.accounts.messages import Transfer

    n = Net(GenesisCustody(challenge_interval=4, challenges_per_round=2, response_window_blocks=4))
    n.register("s1", file_bytes("p1", 9 * 4096))
    ch = _one_open(n)
    n.c.advance(3)  # the next block opens a round, and ch is still open in it (its deadline)
    assert (n.c.height + 1) % 4 == 0 and n.c.height + 1 == ch.deadline
    txs = [
        n.c.sign("s1", n.answer(ch)),
        n.c.sign("s2", Transfer(to=n.c.address("s1"), amount=0)),
        n.c.sign("s2", CustodyRegister(file_id=b"\x07" * 32, size=1, segment_root=b"\x01" * 32, segment_count=1)),
    ]
    env = BlockEnv(
        params=n.c.params,
        height=n.c.height + 1,
        time_ms=n.c.time_ms + 1000,
        parent_id=block_hash(ED25519, n.c.header(n.c.height)),
    )
    raw = [encode(t) for t in txs]
    fast = apply_block(n.c.reader(), txs, raw, env)
    ref = apply_block_reference(n.c.reader(), txs, raw, env)
    assert fast.receipts == ref.receipts and list(fast.writes.items()) == list(ref.writes.items())
    assert [r.code for r in fast.receipts] == [0, ResultCode.INVALID_AMOUNT, 0]
    assert cs.challenge_key(cs.challenge_id(env.height, 0)) in fast.writes


def test_paths_read_from_the_kept_tree_levels_are_the_merkle_paths() -> None:
    for n in [*range(1, 40), 64, 65, 100]:
        hashes = [hashlib.sha256(f"{n}/{i}".encode()).digest() for i in range(n)]
        levels = cs.segment_levels(ED25519, hashes)
        assert levels[-1] == [cs.segment_root(ED25519, hashes)]
        for i in range(n):
            assert cs.path_from_levels(levels, i) == cs.segment_path(ED25519, hashes, i), (n, i)
        with pytest.raises(IndexError):
            cs.path_from_levels(levels, n)


def test_the_cli_hashes_a_files_tree_once_and_answers_every_segment_from_it(tmp_path: Path) -> None:
    from trellis.cli.custody import FileSource

    data = file_bytes("cli", 37 * 4096 + 5)
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    src = FileSource.local(path)
    hashes = cs.segment_hashes(ED25519, data)
    record = cs.FileRecord(
        file_id=bytes(32),
        org="org1",
        registrant=bytes(20),
        size=len(data),
        segment_root=cs.segment_root(ED25519, hashes),
        segment_count=len(hashes),
        index=0,
        registered_height=1,
        challenged=0,
        answered=0,
        missed=0,
        open=0,
    )
    assert src.root(ED25519) == record.segment_root
    for i in range(len(hashes)):
        assert cs.check_segment(ED25519, record, i, src.segment(i), src.path(ED25519, i)) is None
    assert src.tree_builds == 1


def test_a_scan_in_the_block_hook_sees_the_custody_index_writes_made_earlier_in_the_block() -> None:
    from trellis.core.execution.reference import SCANNED_PREFIXES as EXECUTOR_SCANNED
    from trellis.core.execution.reference import Layer, merged_scan

    assert set(cs.SCANNED_PREFIXES) <= set(EXECUTOR_SCANNED)
    layer = Layer()
    cid = cs.challenge_id(9, 0)
    layer.put(cs.due_key(10, cid), b"")
    layer.put(cs.gc_key(9, cid), b"")
    empty = Net().c.reader()
    for prefix, key in ((cs.DUE_PREFIX, cs.due_key(10, cid)), (cs.GC_PREFIX, cs.gc_key(9, cid))):
        assert merged_scan(empty, (layer,), prefix, prefix + b"\xff", 10)[0] == [(key, b"")]
