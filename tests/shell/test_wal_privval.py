"""The consensus write-ahead log and the private validator: what is signed is durable before it is released,
survives a crash (even one mid-append), and is never contradicted, before or after a restart."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from trellis.core.consensus.messages import SignedProposal
from trellis.core.crypto.suite import ED25519, address_of
from trellis.core.ledger.block import Block, Header, block_hash
from trellis.core.ledger.votes import PRECOMMIT, PREVOTE, Proposal, SignedVote, Vote, vote_signing_bytes
from trellis.core.types import ZERO_HASH
from trellis.keys.signer import MemorySigner
from trellis.node.privval import PrivValidator
from trellis.node.wal import FileWal, MemoryWal, Wal, WalRecord

SUITE = ED25519
CHAIN = "wal-test"
SIGNER = MemorySigner(bytes([1]) * 32)
ADDRESS = address_of(SUITE, SIGNER.public_key)
NIL = ZERO_HASH


def block(height: int, tag: int = 0) -> Block:
    header = Header(
        chain_id=CHAIN,
        height=height,
        time_ms=1_700_000_000_000 + height * 1000 + tag,
        parent_hash=ZERO_HASH,
        tx_root=ZERO_HASH,
        results_root=ZERO_HASH,
        state_root=ZERO_HASH,
        tx_count=0,
        proposer=ADDRESS,
        validators_hash=ZERO_HASH,
        next_validators_hash=ZERO_HASH,
    )
    return Block(header=header, txs=[])


def block_id(height: int, tag: int = 0) -> bytes:
    return block_hash(SUITE, block(height, tag).header)


def v(kind: int, height: int, round_: int, block_hash: bytes = NIL) -> Vote:
    return Vote(chain_id=CHAIN, kind=kind, height=height, round=round_, block_hash=block_hash)


def p(height: int, round_: int, tag: int = 0, pol_round: int = -1) -> Proposal:
    return Proposal(chain_id=CHAIN, height=height, round=round_, pol_round=pol_round, block_hash=block_id(height, tag))


def record(height: int, round_: int = 0, kind: int = PREVOTE) -> WalRecord:
    vote = v(kind, height, round_)
    sv = SignedVote(vote=vote, validator=ADDRESS, signature=SIGNER.sign(vote_signing_bytes(vote)))
    return WalRecord(vote=sv, proposal=None)


# -- the log --------------------------------------------------------------------------------------------------
@pytest.fixture
def wal_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "consensus.wal"


def test_file_wal_records_survive_reopening(wal_path: Path) -> None:
    wal = FileWal(wal_path)
    recs = [record(1), record(1, kind=PRECOMMIT), record(2)]
    for r in recs:
        wal.append(r)
    wal.close()
    again = FileWal(wal_path)
    assert again.records() == recs
    again.close()


def test_the_memory_wal_loses_at_a_power_cut_exactly_the_records_not_yet_synced() -> None:
    wal = MemoryWal()
    wal.append(record(1))  # synced append
    wal.append(record(2), sync=False)
    wal.sync()
    wal.append(record(3), sync=False)
    wal.append(record(4), sync=False)
    wal.power_loss()
    assert wal.records() == [record(1), record(2)]
    wal.append(record(5), sync=False)
    wal.append(record(6))  # a synced append makes the whole log durable, as an fsync of the file does
    wal.power_loss()
    assert wal.records() == [record(1), record(2), record(5), record(6)]


def test_file_wal_keeps_a_proposal_record_with_its_block(wal_path: Path) -> None:
    sp = SignedProposal(proposal=p(1, 0), proposer=ADDRESS, signature=b"\x01" * 64, block=block(1))
    rec = WalRecord(vote=None, proposal=sp)
    wal = FileWal(wal_path)
    wal.append(rec)
    wal.close()
    again = FileWal(wal_path)
    assert again.records() == [rec]
    assert again.records()[0].height == 1
    again.close()


def test_file_wal_cuts_off_a_record_torn_mid_append_and_appends_after_it(wal_path: Path) -> None:
    wal = FileWal(wal_path)
    wal.append(record(1))
    good_size = wal_path.stat().st_size
    wal.append(record(2))
    wal.close()
    with open(wal_path, "r+b") as f:
        f.truncate(good_size + 11)  # the header and a few bytes of the second record's payload
    again = FileWal(wal_path)
    assert again.records() == [record(1)]
    assert wal_path.stat().st_size == good_size
    again.append(record(3))
    again.close()
    assert FileWal(wal_path).records() == [record(1), record(3)]


def test_file_wal_cuts_off_a_torn_record_header(wal_path: Path) -> None:
    wal = FileWal(wal_path)
    wal.append(record(1))
    wal.close()
    good_size = wal_path.stat().st_size
    with open(wal_path, "ab") as f:
        f.write(b"\x00\x00\x01")  # fewer bytes than a header
    again = FileWal(wal_path)
    assert again.records() == [record(1)]
    assert wal_path.stat().st_size == good_size
    again.close()


@pytest.mark.parametrize(
    "garbage",
    [b"\xff" * 40, b"\x00\x00\x00\x04\x00\x00\x00\x00abcd", b"\x00" * 8 + b"trailing"],
    ids=["huge-length", "bad-crc", "empty-record-then-junk"],
)
def test_file_wal_cuts_off_garbage_after_the_last_good_record(wal_path: Path, garbage: bytes) -> None:
    wal = FileWal(wal_path)
    wal.append(record(1))
    wal.close()
    good_size = wal_path.stat().st_size
    with open(wal_path, "ab") as f:
        f.write(garbage)
    again = FileWal(wal_path)
    assert again.records() == [record(1)]
    assert wal_path.stat().st_size == good_size
    again.append(record(2))
    again.close()
    assert FileWal(wal_path).records() == [record(1), record(2)]


def test_file_wal_cuts_off_a_last_record_whose_checksum_does_not_match(wal_path: Path) -> None:
    wal = FileWal(wal_path)
    wal.append(record(1))
    good_size = wal_path.stat().st_size
    wal.append(record(2))
    wal.close()
    data = bytearray(wal_path.read_bytes())
    data[-1] ^= 0x01  # flip one bit of the last record's payload
    wal_path.write_bytes(bytes(data))
    again = FileWal(wal_path)
    assert again.records() == [record(1)]
    assert wal_path.stat().st_size == good_size
    again.close()


def test_file_wal_cuts_off_a_record_with_a_good_checksum_that_does_not_decode(wal_path: Path) -> None:
    wal = FileWal(wal_path)
    wal.append(record(1))
    wal.close()
    good_size = wal_path.stat().st_size
    payload = b"\x93\x01\x02\x03"  # msgpack, but not a WalRecord
    with open(wal_path, "ab") as f:
        f.write(struct.pack(">II", len(payload), zlib.crc32(payload)) + payload)
    again = FileWal(wal_path)
    assert again.records() == [record(1)]
    assert wal_path.stat().st_size == good_size
    again.close()


@pytest.fixture(params=["memory", "file"])
def any_wal(request: pytest.FixtureRequest, wal_path: Path) -> Iterator[Wal]:
    if request.param == "memory":
        yield MemoryWal()
    else:
        wal = FileWal(wal_path)
        yield wal
        wal.close()


def test_prune_drops_records_below_the_height_and_keeps_those_at_or_above(any_wal: Wal) -> None:
    for rec in (record(1), record(1, kind=PRECOMMIT), record(2), record(3)):
        any_wal.append(rec)
    any_wal.prune(2)
    assert any_wal.records() == [record(2), record(3)]


def test_prune_past_every_record_keeps_the_newest(any_wal: Wal) -> None:
    for h in (1, 2, 3):
        any_wal.append(record(h))
    any_wal.prune(10)
    assert any_wal.records() == [record(3)]


def test_file_wal_prune_is_durable_and_later_appends_follow_it(wal_path: Path) -> None:
    wal = FileWal(wal_path)
    for h in (1, 2, 3):
        wal.append(record(h))
    wal.prune(3)
    wal.append(record(4))
    wal.close()
    assert FileWal(wal_path).records() == [record(3), record(4)]
    assert not wal_path.with_suffix(".tmp").exists()


# -- the private validator ------------------------------------------------------------------------------------
Factory = Callable[[], PrivValidator]


@pytest.fixture(params=["memory", "file"])
def make_pv(request: pytest.FixtureRequest, wal_path: Path) -> Iterator[Factory]:
    """Return a factory of private validators over one WAL; each call is a restart (a fresh object reading
    the same log: the same ``MemoryWal`` object, or the file reopened)."""
    opened: list[PrivValidator] = []
    memory = MemoryWal()

    def make() -> PrivValidator:
        for pv in opened:
            pv.close()
        wal: Wal = memory if request.param == "memory" else FileWal(wal_path)
        pv = PrivValidator(SUITE, SIGNER, wal)
        opened.append(pv)
        return pv

    yield make
    for pv in opened:
        pv.close()


def test_signing_the_same_vote_twice_returns_the_identical_signed_vote(make_pv: Factory) -> None:
    pv = make_pv()
    first = pv.sign_vote(v(PREVOTE, 1, 0, block_id(1)))
    assert first is not None
    assert pv.sign_vote(v(PREVOTE, 1, 0, block_id(1))) == first
    assert len(pv.wal.records()) == 1


def test_a_signed_vote_verifies_under_the_validators_key(make_pv: Factory) -> None:
    sv = make_pv().sign_vote(v(PREVOTE, 1, 0, block_id(1)))
    assert sv is not None
    assert sv.validator == ADDRESS
    assert SUITE.verify(SIGNER.public_key, vote_signing_bytes(sv.vote), sv.signature)


def test_a_conflicting_vote_for_the_same_height_round_and_kind_is_refused(make_pv: Factory) -> None:
    pv = make_pv()
    assert pv.sign_vote(v(PREVOTE, 1, 0, block_id(1))) is not None
    assert pv.sign_vote(v(PREVOTE, 1, 0, NIL)) is None
    assert pv.sign_vote(v(PREVOTE, 1, 0, block_id(1, tag=1))) is None
    assert len(pv.wal.records()) == 1


def test_signing_the_same_proposal_twice_returns_the_identical_signed_proposal(make_pv: Factory) -> None:
    pv = make_pv()
    first = pv.sign_proposal(p(1, 0), block(1))
    assert first is not None
    assert pv.sign_proposal(p(1, 0), block(1)) == first


def test_a_second_different_proposal_for_the_same_round_is_refused(make_pv: Factory) -> None:
    pv = make_pv()
    assert pv.sign_proposal(p(1, 0), block(1)) is not None
    assert pv.sign_proposal(p(1, 0, tag=1), block(1, tag=1)) is None


@pytest.mark.parametrize(
    ("signed", "refused"),
    [
        (("vote", PRECOMMIT, 1, 0), ("vote", PREVOTE, 1, 0)),
        (("vote", PREVOTE, 1, 0), ("proposal", 0, 1, 0)),
        (("vote", PREVOTE, 1, 1), ("vote", PRECOMMIT, 1, 0)),
        (("vote", PREVOTE, 2, 0), ("vote", PRECOMMIT, 1, 5)),
        (("proposal", 0, 2, 3), ("vote", PRECOMMIT, 2, 2)),
        (("proposal", 0, 2, 3), ("proposal", 0, 2, 2)),
    ],
    ids=[
        "prevote-after-precommit",
        "proposal-after-prevote",
        "earlier-round",
        "earlier-height",
        "vote-of-earlier-round-after-proposal",
        "proposal-of-earlier-round",
    ],
)
def test_anything_ordered_at_or_before_the_last_signed_message_is_refused(
    make_pv: Factory, signed: tuple[str, int, int, int], refused: tuple[str, int, int, int]
) -> None:
    def sign(pv: PrivValidator, what: tuple[str, int, int, int]) -> object:
        kind, vkind, height, round_ = what
        if kind == "vote":
            return pv.sign_vote(v(vkind, height, round_, block_id(height)))
        return pv.sign_proposal(p(height, round_), block(height))

    pv = make_pv()
    assert sign(pv, signed) is not None
    assert sign(pv, refused) is None
    assert sign(make_pv(), refused) is None  # and after a restart


def test_messages_ordered_after_the_last_one_are_signed(make_pv: Factory) -> None:
    pv = make_pv()
    assert pv.sign_proposal(p(1, 0), block(1)) is not None
    assert pv.sign_vote(v(PREVOTE, 1, 0, block_id(1))) is not None
    assert pv.sign_vote(v(PRECOMMIT, 1, 0, block_id(1))) is not None
    assert pv.sign_vote(v(PREVOTE, 1, 1)) is not None
    assert pv.sign_proposal(p(2, 0), block(2)) is not None


def test_after_a_restart_the_same_vote_returns_the_identical_signed_vote(make_pv: Factory) -> None:
    first = make_pv().sign_vote(v(PRECOMMIT, 1, 0, block_id(1)))
    again = make_pv()
    assert again.sign_vote(v(PRECOMMIT, 1, 0, block_id(1))) == first
    assert len(again.wal.records()) == 1


def test_after_a_restart_a_conflicting_vote_is_refused(make_pv: Factory) -> None:
    assert make_pv().sign_vote(v(PREVOTE, 1, 0, block_id(1))) is not None
    assert make_pv().sign_vote(v(PREVOTE, 1, 0, NIL)) is None


def test_after_a_restart_a_conflicting_proposal_is_refused(make_pv: Factory) -> None:
    first = make_pv().sign_proposal(p(1, 0), block(1))
    again = make_pv()
    assert again.sign_proposal(p(1, 0, tag=1), block(1, tag=1)) is None
    assert again.sign_proposal(p(1, 0), block(1)) == first


def test_lock_at_returns_the_block_stored_with_the_latest_non_nil_precommit(make_pv: Factory) -> None:
    pv = make_pv()
    assert pv.lock_at(1) == (-1, None)
    pv.sign_vote(v(PRECOMMIT, 1, 0, block_id(1)), block(1))
    pv.sign_vote(v(PRECOMMIT, 1, 2, block_id(1, tag=2)), block(1, tag=2))
    assert pv.lock_at(1) == (2, block(1, tag=2))
    assert make_pv().lock_at(1) == (2, block(1, tag=2))
    assert make_pv().lock_at(2) == (-1, None)


def test_a_nil_precommit_takes_no_lock(make_pv: Factory) -> None:
    pv = make_pv()
    pv.sign_vote(v(PRECOMMIT, 1, 0))
    assert pv.lock_at(1) == (-1, None)


def test_signed_at_lists_a_heights_proposals_and_votes_in_order(make_pv: Factory) -> None:
    pv = make_pv()
    sp = pv.sign_proposal(p(1, 0), block(1))
    pre = pv.sign_vote(v(PREVOTE, 1, 0, block_id(1)))
    com = pv.sign_vote(v(PRECOMMIT, 1, 0, block_id(1)))
    nxt = pv.sign_vote(v(PREVOTE, 2, 0))
    assert pv.signed_at(1) == ([sp], [pre, com])
    assert make_pv().signed_at(1) == ([sp], [pre, com])
    assert make_pv().signed_at(2) == ([], [nxt])
    assert make_pv().signed_at(3) == ([], [])


def test_prune_forgets_finished_heights_but_never_lowers_the_signing_floor(make_pv: Factory) -> None:
    pv = make_pv()
    pv.sign_vote(v(PREVOTE, 1, 0))
    pv.sign_vote(v(PRECOMMIT, 1, 3, block_id(1)), block(1))
    pv.prune(2)
    assert pv.signed_at(1) == ([], [])
    assert pv.lock_at(1) == (-1, None)
    assert pv.sign_vote(v(PRECOMMIT, 1, 2)) is None
    after_restart = make_pv()
    assert after_restart.sign_vote(v(PRECOMMIT, 1, 2)) is None
    assert after_restart.sign_vote(v(PREVOTE, 2, 0)) is not None


# -- group commit ---------------------------------------------------------------------------------------------
def test_appends_without_sync_are_made_durable_by_one_fsync(wal_path: Path) -> None:
    wal = FileWal(wal_path)
    for h in (1, 2, 3):
        wal.append(record(h), sync=False)
    assert wal.fsyncs == 0
    wal.sync()
    wal.sync()  # nothing new: no second fsync
    assert wal.fsyncs == 1
    wal.append(record(4))
    assert wal.fsyncs == 2
    wal.close()
    assert FileWal(wal_path).records() == [record(1), record(2), record(3), record(4)]


def test_a_privval_burst_signed_without_sync_is_durable_after_sync_and_restarts_refuse_conflicts(
    wal_path: Path,
) -> None:
    wal = FileWal(wal_path)
    pv = PrivValidator(SUITE, SIGNER, wal)
    sp = pv.sign_proposal(p(5, 0), block(5), sync=False)
    prevote = pv.sign_vote(v(PREVOTE, 5, 0, block_id(5)), sync=False)
    precommit = pv.sign_vote(v(PRECOMMIT, 5, 0, block_id(5)), block(5), sync=False)
    assert sp is not None and prevote is not None and precommit is not None
    assert wal.fsyncs == 0
    pv.sync()
    assert wal.fsyncs == 1
    pv.close()
    again = PrivValidator(SUITE, SIGNER, FileWal(wal_path))
    assert again.sign_vote(v(PRECOMMIT, 5, 0, block_id(5))) == precommit
    assert again.sign_vote(v(PRECOMMIT, 5, 0, block_id(5, tag=1))) is None
    assert again.sign_proposal(p(5, 0, tag=1), block(5, tag=1)) is None
    assert again.lock_at(5) == (0, block(5))
