"""The consensus driver: the shell around the pure machine, driven by a fake network (which records what the
driver sends) and fake timers (a manual clock whose callbacks run only when a test advances it)."""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import msgspec
import pytest

from trellis.abci import CheckedTx
from trellis.app.application import TrellisApp
from trellis.core.codec import encode
from trellis.core.consensus.machine import (
    MAX_BUFFERED_PROPOSALS_PER_PROPOSER,
    MAX_ROUND_AHEAD,
    NIL,
    ProposalReceived,
    Step,
    Timeouts,
    proposer_of,
)
from trellis.core.consensus.messages import SignedProposal
from trellis.core.crypto.merkle import merkle_root
from trellis.core.crypto.suite import ED25519, address_of
from trellis.core.execution.block import ExecutedBlock
from trellis.core.ledger.block import Block, Commit, CommitSig, block_hash
from trellis.core.ledger.tx import SignedTx, TxBody, sign_tx
from trellis.core.ledger.votes import (
    PRECOMMIT,
    PREVOTE,
    Proposal,
    SignedVote,
    Vote,
    proposal_signing_bytes,
    vote_signing_bytes,
)
from trellis.core.modules.kv.messages import KvPut
from trellis.core.params import ChainParams, Genesis, GenesisAccount, GenesisValidator, params_from_genesis
from trellis.keys.signer import MemorySigner
from trellis.node.consensus_driver import ConsensusDriver, Network, NoNetwork
from trellis.node.mempool import Mempool
from trellis.node.privval import PrivValidator
from trellis.node.wal import FileWal, MemoryWal, Wal
from trellis.node.wire import (
    BatchMsg,
    BlockRequestMsg,
    BlocksMsg,
    BlocksPrunedMsg,
    CommittedBlock,
    CompactProposalMsg,
    ProposalMsg,
    StatusMsg,
    VoteMsg,
    WireMsg,
    decode_msg,
    encode_msg,
)
from trellis.storage.chain_store import ChainStore
from trellis.storage.kv import MemoryStore, StorageError
from trellis.storage.pruning import Pruner, Retention

from .driver_fakes import FakeNetwork, ManualTimers

CHAIN = "driver-test"
GENESIS_MS = 1_700_000_000_000
TIMEOUTS = Timeouts()
EMPTY_BLOCK_MS = 1000
VALIDATORS = [MemorySigner(bytes([i + 1]) * 32) for i in range(2)]
ALICE = MemorySigner(b"\xaa" * 32)
ALICE_ADDR = address_of(ED25519, ALICE.public_key)
PEER = "peer-1"


def make_params(validators: list[MemorySigner]) -> ChainParams:
    return params_from_genesis(
        Genesis(
            chain_id=CHAIN,
            genesis_time_ms=GENESIS_MS,
            validators=[
                GenesisValidator(name=f"v{i}", public_key=s.public_key.hex(), power=10)
                for i, s in enumerate(validators)
            ],
            mint_authority=ALICE_ADDR.hex(),
            accounts=[GenesisAccount(address=ALICE_ADDR.hex(), balance=10**9)],
        )
    )


SOLO = make_params(VALIDATORS[:1])


# -- fakes ----------------------------------------------------------------------------------------------------
@dataclass
class Harness:
    driver: ConsensusDriver
    app: TrellisApp
    mempool: Mempool
    net: FakeNetwork
    timers: ManualTimers
    privval: PrivValidator | None
    committed: list[ExecutedBlock]

    @property
    def height(self) -> int:
        return self.app.info().height

    def frame(self, msg: WireMsg, peer: str = PEER) -> None:
        self.driver.on_frame(peer, encode_msg(msg))


def make_node(
    params: ChainParams = SOLO,
    signer: MemorySigner | None = VALIDATORS[0],
    wal: Wal | None = None,
    store: MemoryStore | None = None,
    network: Network | None = None,
) -> Harness:
    """A driver over an in-memory chain (fresh unless ``store`` is given); ``signer`` None makes a node that
    follows without voting."""
    app = TrellisApp(params, ChainStore(store if store is not None else MemoryStore()))
    mempool = Mempool(app.account_nonce, max_txs=1000, max_bytes=1 << 20)
    privval = None if signer is None else PrivValidator(ED25519, signer, wal if wal is not None else MemoryWal())
    net, timers = FakeNetwork(), ManualTimers(GENESIS_MS + 10_000)
    committed: list[ExecutedBlock] = []
    driver = ConsensusDriver(
        params,
        app,
        mempool,
        privval,
        net if network is None else network,
        timers,
        TIMEOUTS,
        empty_block_interval_ms=EMPTY_BLOCK_MS,
        gossip_interval_ms=500,
        on_commit=committed.append,
        blocks=app.store,
    )
    return Harness(driver, app, mempool, net, timers, privval, committed)


def kv_tx(nonce: int, value: bytes = b"v") -> bytes:
    body = TxBody(
        chain_id=CHAIN, sender=ALICE.public_key, nonce=nonce, payload=KvPut(namespace="t", key=b"k", value=value)
    )
    return encode(sign_tx(body, ALICE.sign))


def submit(node: Harness, raw: bytes) -> CheckedTx:
    """What the API does with a client's transaction."""
    checked = node.app.check_tx(raw)
    node.mempool.add(checked)
    node.driver.on_local_tx(checked)
    return checked


def chain_of(height: int) -> Harness:
    """A solo validator that has committed ``height`` empty blocks."""
    node = make_node()
    node.driver.start()
    for _ in range(100 * height):
        if node.height >= height:
            break
        node.timers.advance(100)
    assert node.height == height
    return node


def committed_blocks(node: Harness, heights: range) -> list[CommittedBlock]:
    out = []
    for h in heights:
        b, c = node.app.store.block(h), node.app.store.commit(h)
        assert b is not None and c is not None
        out.append(CommittedBlock(block=b, commit=c))
    return out


# -- producing blocks -----------------------------------------------------------------------------------------
def test_a_solo_validator_commits_an_empty_block_once_the_empty_block_interval_has_passed() -> None:
    node = make_node()
    node.driver.start()
    node.timers.advance(EMPTY_BLOCK_MS - 100)
    assert node.height == 0
    node.timers.advance(200)
    assert node.height == 1
    assert [e.block.header.height for e in node.committed] == [1]
    assert node.net.broadcast_of(StatusMsg)[-1] == StatusMsg(height=1)


def test_a_solo_validator_keeps_committing_as_timers_fire() -> None:
    node = make_node()
    node.driver.start()
    node.timers.advance(5 * (EMPTY_BLOCK_MS + TIMEOUTS.commit_ms))
    assert node.height >= 4
    for h in range(1, node.height + 1):
        block, commit = node.app.store.block(h), node.app.store.commit(h)
        assert block is not None and commit is not None
        assert commit.block_hash == block_hash(ED25519, block.header)


def test_a_submitted_transaction_is_committed_without_waiting_for_the_empty_block_interval() -> None:
    node = make_node()
    node.driver.start()
    node.timers.advance(TIMEOUTS.commit_ms)
    checked = submit(node, kv_tx(0))
    assert node.height == 1
    assert node.app.store.tx_position(checked.hash) == (1, 0)
    assert len(node.mempool) == 0


def test_a_submitted_transaction_is_spread_to_peers() -> None:
    node = make_node(signer=None)
    node.driver.start()
    checked = submit(node, kv_tx(0))
    node.timers.advance(10)
    assert BatchMsg(txs=[checked.raw]) in node.net.broadcast_of(BatchMsg)


def test_a_follower_never_proposes() -> None:
    node = make_node(signer=None)
    node.driver.start()
    node.timers.advance(3 * EMPTY_BLOCK_MS)
    assert node.height == 0
    assert node.net.broadcast_of(CompactProposalMsg) == []
    assert node.net.broadcast_of(VoteMsg) == []


# -- group commit of signatures ------------------------------------------------------------------------------
def test_a_solo_validator_makes_one_wal_fsync_per_height(tmp_path: Path) -> None:
    wal = FileWal(tmp_path / "consensus.wal")
    node = make_node(wal=wal, network=NoNetwork())
    node.driver.start()
    node.timers.advance(TIMEOUTS.commit_ms)
    for nonce in range(3):
        submit(node, kv_tx(nonce))
        node.timers.advance(TIMEOUTS.commit_ms)
    assert node.height == 3
    assert wal.fsyncs == 3  # a proposal, a prevote and a precommit per height: one fsync for the three
    assert len(wal.records()) == 9
    wal.close()


def test_a_solo_validator_without_peers_forms_no_batches() -> None:
    node = make_node(network=NoNetwork())
    node.driver.start()
    node.timers.advance(TIMEOUTS.commit_ms)
    submit(node, kv_tx(0))
    node.timers.advance(100)
    assert node.height == 1
    assert len(node.driver.batches) == 0
    assert node.driver.stats.batches_sent == 0


class DurabilityCheckingNetwork(FakeNetwork):
    """Fails the test if a signed consensus message is sent while its WAL record is not yet durable."""

    wal: FileWal | None = None

    def broadcast(self, frame: bytes) -> None:
        msg = decode_msg(frame, 1 << 30)
        if isinstance(msg, VoteMsg | CompactProposalMsg):
            assert self.wal is not None and not self.wal._unsynced, f"{type(msg).__name__} sent before its fsync"
        self.broadcasts.append(msg)


def test_no_signed_message_leaves_before_its_wal_record_is_durable(tmp_path: Path) -> None:
    params = make_params(VALIDATORS)
    ours, other = sorted(VALIDATORS, key=lambda s: address_of(ED25519, s.public_key), reverse=True)
    wal = FileWal(tmp_path / "consensus.wal")
    net = DurabilityCheckingNetwork()
    net.wal = wal
    node = make_node(params, signer=ours, wal=wal, network=net)
    node.driver.start()
    node.timers.advance(TIMEOUTS.commit_ms)
    submit(node, kv_tx(0))
    assert net.broadcast_of(CompactProposalMsg) != []
    block = node.driver.state.proposals[0].block
    bid = block_hash(ED25519, block.header)
    for kind in (PREVOTE, PRECOMMIT):
        v = Vote(chain_id=CHAIN, kind=kind, height=1, round=0, block_hash=bid)
        sv = SignedVote(
            vote=v, validator=address_of(ED25519, other.public_key), signature=other.sign(vote_signing_bytes(v))
        )
        node.frame(VoteMsg(vote=sv))
    assert node.height == 1
    kinds = [
        m.vote.vote.kind for m in net.broadcast_of(VoteMsg) if m.vote.validator == address_of(ED25519, ours.public_key)
    ]
    assert kinds[:2] == [PREVOTE, PRECOMMIT]
    wal.close()


# -- bad input from peers -------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(5))
def test_an_undecodable_frame_disconnects_the_peer(seed: int) -> None:
    node = make_node()
    node.driver.start()
    rng = random.Random(seed)
    node.driver.on_frame(PEER, rng.randbytes(rng.randint(0, 200)))
    ((peer, reason),) = node.net.disconnects
    assert peer == PEER
    assert reason.startswith("undecodable frame")


def test_a_frame_over_the_size_limit_disconnects_the_peer() -> None:
    node = make_node()
    node.driver.max_frame_bytes = 100
    node.frame(BatchMsg(txs=[b"x" * 200]))
    ((peer, reason),) = node.net.disconnects
    assert peer == PEER and "undecodable" in reason


def test_a_well_formed_vote_with_a_bad_signature_is_ignored_without_disconnecting() -> None:
    node = make_node(make_params(VALIDATORS), signer=None)
    node.driver.start()
    v = Vote(chain_id=CHAIN, kind=PREVOTE, height=1, round=0, block_hash=NIL)
    sig = VALIDATORS[0].sign(vote_signing_bytes(v))
    forged = SignedVote(vote=v, validator=address_of(ED25519, VALIDATORS[1].public_key), signature=sig)
    node.frame(VoteMsg(vote=forged))
    assert node.net.disconnects == []
    assert node.driver.state.votes.get((0, PREVOTE), {}) == {}
    assert node.net.broadcast_of(VoteMsg) == []


def test_a_block_whose_certificate_does_not_verify_disconnects_the_peer_and_is_not_applied() -> None:
    leader = chain_of(2)
    (cb,) = committed_blocks(leader, range(1, 2))
    bad_sig = Commit(
        height=cb.commit.height,
        round=cb.commit.round,
        block_hash=cb.commit.block_hash,
        signatures=[CommitSig(validator=s.validator, signature=bytes(64)) for s in cb.commit.signatures],
    )
    follower = make_node(signer=None)
    follower.driver.start()
    follower.frame(BlocksMsg(blocks=[CommittedBlock(block=cb.block, commit=bad_sig)]))
    ((peer, reason),) = follower.net.disconnects
    assert peer == PEER and "invalid committed block 1" in reason
    assert follower.height == 0
    assert follower.committed == []


def test_a_block_sent_with_another_blocks_certificate_disconnects_the_peer() -> None:
    leader = chain_of(2)
    first, second = committed_blocks(leader, range(1, 3))
    follower = make_node(signer=None)
    follower.frame(BlocksMsg(blocks=[CommittedBlock(block=first.block, commit=second.commit)]))
    assert [p for p, _ in follower.net.disconnects] == [PEER]
    assert follower.height == 0


def test_a_certified_block_that_the_application_finds_invalid_disconnects_the_peer() -> None:
    leader = chain_of(1)
    (cb,) = committed_blocks(leader, range(1, 2))
    header = cb.block.header
    tampered = Block(header=msgspec.structs.replace(header, state_root=b"\x01" * 32), txs=[])
    bid = block_hash(ED25519, tampered.header)
    vote = Vote(chain_id=CHAIN, kind=PRECOMMIT, height=1, round=0, block_hash=bid)
    commit = Commit(
        height=1,
        round=0,
        block_hash=bid,
        signatures=[CommitSig(validator=header.proposer, signature=VALIDATORS[0].sign(vote_signing_bytes(vote)))],
    )
    follower = make_node(signer=None)
    follower.frame(BlocksMsg(blocks=[CommittedBlock(block=tampered, commit=commit)]))
    assert [p for p, _ in follower.net.disconnects] == [PEER]
    assert follower.height == 0


# -- block sync -----------------------------------------------------------------------------------------------
def test_certified_blocks_from_a_peer_are_verified_applied_and_the_next_height_entered() -> None:
    leader = chain_of(3)
    follower = make_node(signer=None)
    follower.driver.start()
    follower.frame(BlocksMsg(blocks=committed_blocks(leader, range(1, 4))))
    assert follower.net.disconnects == []
    assert follower.height == 3
    assert follower.app.info().block_id == leader.app.store.commit(3).block_hash  # type: ignore[union-attr]
    assert [e.block.header.height for e in follower.committed] == [1, 2, 3]
    assert follower.driver.state.height == 4
    assert follower.app.store.commit(3) == leader.app.store.commit(3)


def test_blocks_already_held_are_skipped_and_a_gap_stops_the_batch() -> None:
    leader = chain_of(4)
    b1, b2, b3, b4 = committed_blocks(leader, range(1, 5))
    follower = make_node(signer=None)
    follower.frame(BlocksMsg(blocks=[b1]))
    follower.frame(BlocksMsg(blocks=[b1, b2, b4]))
    assert follower.height == 2
    assert follower.net.disconnects == []
    follower.frame(BlocksMsg(blocks=[b3, b4]))
    assert follower.height == 4


def test_a_peer_reporting_a_higher_height_is_asked_for_blocks() -> None:
    node = make_node(signer=None)
    node.frame(StatusMsg(height=5))
    assert node.net.sent_to(PEER, BlockRequestMsg) == [BlockRequestMsg(from_height=1, max_blocks=16)]
    node.frame(StatusMsg(height=6))
    assert len(node.net.sent_to(PEER, BlockRequestMsg)) == 1  # not again within a second


def test_a_block_request_is_answered_with_certified_blocks_from_the_store() -> None:
    leader = chain_of(3)
    leader.frame(BlockRequestMsg(from_height=2, max_blocks=16))
    (reply,) = leader.net.sent_to(PEER, BlocksMsg)
    assert reply.blocks == committed_blocks(leader, range(2, 4))


def test_a_block_request_gets_at_most_max_blocks() -> None:
    leader = chain_of(3)
    leader.frame(BlockRequestMsg(from_height=1, max_blocks=1))
    (reply,) = leader.net.sent_to(PEER, BlocksMsg)
    assert [cb.block.header.height for cb in reply.blocks] == [1]


def test_a_block_request_beyond_the_tip_gets_no_reply() -> None:
    leader = chain_of(1)
    leader.frame(BlockRequestMsg(from_height=5, max_blocks=16))
    assert leader.net.sent_to(PEER, BlocksMsg) == []
    assert leader.net.disconnects == []


def test_a_request_below_the_earliest_kept_block_is_answered_and_a_follower_behind_every_peer_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """ADR 0018 review: a peer that pruned the blocks asked for answers ``BlocksPrunedMsg(earliest)`` instead of
    silence; a follower whose every peer ahead has pruned its next block logs one error naming --state-sync
    (again at most once a minute)."""
    leader = chain_of(8)
    report = Pruner(leader.app.store, Retention(keep_recent=3, keep_every=0, prune_blocks=True), SOLO.suite).prune()
    earliest = leader.app.store.earliest_block_height()
    assert report.blocks_deleted > 0 and earliest > 1
    leader.frame(BlockRequestMsg(from_height=1, max_blocks=16))
    assert leader.net.sent_to(PEER, BlocksMsg) == []
    assert leader.net.sent_to(PEER, BlocksPrunedMsg) == [BlocksPrunedMsg(earliest_height=earliest)]
    leader.frame(BlockRequestMsg(from_height=earliest, max_blocks=16))  # kept blocks are still served
    assert [cb.block.header.height for cb in leader.net.sent_to(PEER, BlocksMsg)[0].blocks] == list(range(earliest, 9))
    leader.frame(BlockRequestMsg(from_height=20, max_blocks=16))  # beyond the tip: still nothing
    assert len(leader.net.sent_to(PEER, BlocksPrunedMsg)) == 1

    follower = make_node(signer=None)
    other = "peer-2"
    follower.frame(StatusMsg(height=8))
    follower.frame(StatusMsg(height=8), peer=other)
    (request,) = follower.net.sent_to(PEER, BlockRequestMsg)
    leader.frame(request)
    pruned = leader.net.sent_to(PEER, BlocksPrunedMsg)[-1]
    message = f"peers keep blocks from height {earliest} only: this node is behind their history"
    with caplog.at_level(logging.ERROR, logger="trellis"):
        follower.frame(pruned)
        assert message not in caplog.text  # peer-2 may still have block 1
        follower.frame(pruned, peer=other)
        assert caplog.text.count(message) == 1 and "restart it with --state-sync" in caplog.text
        follower.frame(pruned, peer=other)
        assert caplog.text.count(message) == 1  # rate-limited
        follower.timers.advance(61_000)
        follower.frame(pruned)
        assert caplog.text.count(message) == 2
    assert follower.height == 0 and follower.net.disconnects == []


# -- transactions from peers ----------------------------------------------------------------------------------
def test_a_txs_message_adds_valid_transactions_to_the_mempool_and_ignores_invalid_ones() -> None:
    node = make_node(signer=None)
    good = kv_tx(0)
    wrong_chain = encode(
        sign_tx(
            TxBody(
                chain_id="other", sender=ALICE.public_key, nonce=1, payload=KvPut(namespace="t", key=b"k", value=b"")
            ),
            ALICE.sign,
        )
    )
    gap = kv_tx(5)
    node.frame(BatchMsg(txs=[b"\x00garbage", good, wrong_chain, gap, good]))
    assert node.net.disconnects == []
    assert len(node.mempool) == 1
    assert node.app.check_tx(good).hash in node.mempool


def test_a_txs_message_wakes_a_proposer_waiting_for_transactions() -> None:
    node = make_node()
    node.driver.start()
    node.timers.advance(TIMEOUTS.commit_ms)
    node.frame(BatchMsg(txs=[kv_tx(0)]))
    assert node.height == 1
    assert node.app.store.block(1).header.tx_count == 1  # type: ignore[union-attr]


# -- the write-ahead log and restarts -------------------------------------------------------------------------
@dataclass
class TwoValidators:
    """Our validator (a driver) and another one whose votes the test signs by hand; both are needed for a
    quorum. Ours proposes at height 1 in even rounds, the other in odd rounds."""

    node: Harness
    store: MemoryStore
    wal: MemoryWal
    ours: MemorySigner
    other: MemorySigner
    params: ChainParams = field(default_factory=lambda: make_params(VALIDATORS))

    def other_votes(self, kind: int, round_: int, bid: bytes) -> None:
        v = Vote(chain_id=CHAIN, kind=kind, height=1, round=round_, block_hash=bid)
        sv = SignedVote(
            vote=v,
            validator=address_of(ED25519, self.other.public_key),
            signature=self.other.sign(vote_signing_bytes(v)),
        )
        self.node.frame(VoteMsg(vote=sv))

    def restart(self) -> Harness:
        """A crash and a restart: a fresh driver over the same store and write-ahead log."""
        self.node.driver.stop()
        self.node = make_node(self.params, signer=self.ours, wal=self.wal, store=self.store)
        self.node.driver.start()
        return self.node


def locked_then_nil_precommitted() -> tuple[TwoValidators, Block]:
    """Ours proposes a block in round 0; both prevote it, ours locks on it and precommits it, the other
    precommits nil. In round 1 (no proposal) both prevote nil and ours precommits nil."""
    params = make_params(VALIDATORS)
    ours, other = sorted(VALIDATORS, key=lambda s: address_of(ED25519, s.public_key), reverse=True)
    store, wal = MemoryStore(), MemoryWal()
    t = TwoValidators(make_node(params, signer=ours, wal=wal, store=store), store, wal, ours, other, params)
    node = t.node
    assert proposer_of(node.driver.state, 1, 0) == address_of(ED25519, ours.public_key)
    node.driver.start()
    node.timers.advance(TIMEOUTS.commit_ms)
    submit(node, kv_tx(0))
    assert node.net.broadcast_of(CompactProposalMsg) != []
    block = node.driver.state.proposals[0].block
    bid = block_hash(ED25519, block.header)
    t.other_votes(PREVOTE, 0, bid)
    assert (node.driver.state.locked_round, node.driver.state.locked_block) == (0, block)
    t.other_votes(PRECOMMIT, 0, NIL)
    node.timers.advance(TIMEOUTS.precommit_ms)  # round 0's precommit timeout
    assert node.driver.state.round == 1
    node.timers.advance(TIMEOUTS.for_step(Step.PROPOSE, 1))  # no proposal in round 1: prevote nil
    t.other_votes(PREVOTE, 1, NIL)  # a nil polka: precommit nil
    assert node.privval is not None
    _, votes = node.privval.signed_at(1)
    assert (votes[-1].vote.round, votes[-1].vote.kind, votes[-1].vote.block_hash) == (1, PRECOMMIT, NIL)
    return t, block


def test_a_nil_precommit_after_a_lock_leaves_the_lock_recorded_at_the_round_it_was_taken() -> None:
    t, block = locked_then_nil_precommitted()
    assert t.node.privval is not None
    assert t.node.privval.lock_at(1) == (0, block)


def test_a_restarted_validator_resumes_its_round_and_lock_from_the_wal() -> None:
    t, block = locked_then_nil_precommitted()
    node = t.restart()
    st = node.driver.state
    assert (st.height, st.round) == (1, 1)
    assert (st.locked_round, st.locked_block) == (0, block)


def test_a_restarted_validator_signs_nothing_that_conflicts_with_what_it_signed_before_the_crash() -> None:
    t, _ = locked_then_nil_precommitted()
    assert t.node.privval is not None
    before = {(sv.vote.round, sv.vote.kind): sv for sv in t.node.privval.signed_at(1)[1]}
    node = t.restart()
    node.timers.advance(TIMEOUTS.for_step(Step.PROPOSE, 1))  # round 1's propose timeout again: prevote nil
    for msg in node.net.broadcast_of(VoteMsg):
        sv = msg.vote
        prior = before.get((sv.vote.round, sv.vote.kind))
        assert prior is None or prior == sv


def test_a_restarted_locked_proposer_re_proposes_its_block_with_the_round_of_its_lock() -> None:
    t, block = locked_then_nil_precommitted()
    node = t.restart()
    t.other_votes(PRECOMMIT, 1, NIL)
    node.timers.advance(TIMEOUTS.for_step(Step.PRECOMMIT, 1))  # round 1's precommit timeout: round 2 is ours
    proposals = [m for m in node.net.broadcast_of(CompactProposalMsg) if m.header.proposal.round == 2]
    assert proposals != []
    assert proposals[0].block_header == block.header
    assert proposals[0].header.proposal.pol_round == 0


# -- failing storage ------------------------------------------------------------------------------------------
class _FailingKV(MemoryStore):
    """A store whose writes start failing (a full or broken disk) once ``fail`` is set."""

    fail = False

    def write(self, batch):  # type: ignore[no-untyped-def]
        if self.fail:
            raise StorageError("disk full")
        super().write(batch)


def test_a_block_that_cannot_be_stored_stops_the_driver_and_reports_a_fatal_error() -> None:
    store = _FailingKV()
    node = make_node(store=store)
    fatal: list[BaseException] = []
    node.driver.on_fatal = fatal.append
    node.driver.start()
    node.timers.advance(EMPTY_BLOCK_MS + 100)
    assert node.height == 1
    store.fail = True
    with pytest.raises(StorageError):
        node.timers.advance(EMPTY_BLOCK_MS + 100)
    assert len(fatal) == 1 and isinstance(fatal[0], StorageError)
    assert node.height == 1
    # A stopped driver ignores everything after the failure: nothing half-done is committed.
    store.fail = False
    node.timers.advance(10 * EMPTY_BLOCK_MS)
    assert node.height == 1


# -- proposals for the next height ------------------------------------------------------------------------------
FOUR = [MemorySigner(bytes([0x40 + i]) * 32) for i in range(4)]


def _four_params(max_block_bytes: int = 32 * 1024 * 1024) -> ChainParams:
    genesis = make_params(FOUR).genesis
    return params_from_genesis(
        msgspec.structs.replace(
            genesis, limits=msgspec.structs.replace(genesis.limits, max_block_bytes=max_block_bytes)
        )
    )


def _next_height_proposal(
    node: Harness,
    round_: int,
    signer: MemorySigner | None = None,
    txs: Sequence[bytes] = (),
    time_ms: int = 0,
) -> ProposalMsg:
    """A proposal for height 2 (the follower is at height 1), signed by ``signer`` (default: that round's
    proposer)."""
    by_addr = {address_of(ED25519, s.public_key): s for s in FOUR}
    signer = signer or by_addr[proposer_of(node.driver.state, 2, round_)]
    builder = TrellisApp(node.app.params, ChainStore(MemoryStore()))
    built = builder.prepare_proposal([], GENESIS_MS + 1 + time_ms, address_of(ED25519, signer.public_key)).block
    decoded = [msgspec.msgpack.decode(t, type=SignedTx) for t in txs]
    header = msgspec.structs.replace(built.header, height=2, tx_count=len(txs), tx_root=merkle_root(ED25519, list(txs)))
    p = Proposal(chain_id=CHAIN, height=2, round=round_, pol_round=-1, block_hash=block_hash(ED25519, header))
    sp = SignedProposal(
        proposal=p,
        proposer=address_of(ED25519, signer.public_key),
        signature=signer.sign(proposal_signing_bytes(p)),
        block=Block(header=header, txs=decoded),
    )
    return ProposalMsg(proposal=sp)


def _buffered_proposals(node: Harness) -> list[SignedProposal]:
    return [ev.proposal for ev in node.driver.state.buffered if isinstance(ev, ProposalReceived)]


def _follower_of_four(max_block_bytes: int = 32 * 1024 * 1024) -> Harness:
    node = make_node(_four_params(max_block_bytes), signer=None)
    node.driver.start()
    assert node.driver.state.height == 1
    return node


def test_a_next_height_proposal_signed_by_a_validator_not_proposing_that_round_is_not_kept() -> None:
    node = _follower_of_four()
    by_addr = {address_of(ED25519, s.public_key): s for s in FOUR}
    other = next(s for a, s in by_addr.items() if a != proposer_of(node.driver.state, 2, 0))
    node.frame(_next_height_proposal(node, 0, signer=other))
    assert _buffered_proposals(node) == []
    node.frame(_next_height_proposal(node, 0))
    assert len(_buffered_proposals(node)) == 1


def test_next_height_proposals_are_kept_at_most_twice_per_proposer_and_once_each() -> None:
    node = _follower_of_four()
    # Every round of height 2 up to the machine's horizon, each proposer signing its own rounds, several blocks.
    for r in reversed(range(MAX_ROUND_AHEAD + 8)):  # the farthest first
        for t in range(3):
            node.frame(_next_height_proposal(node, r, time_ms=t))
            node.frame(_next_height_proposal(node, r, time_ms=t))  # a re-send
    kept = _buffered_proposals(node)
    per_proposer: dict[bytes, int] = {}
    for sp in kept:
        per_proposer[sp.proposer] = per_proposer.get(sp.proposer, 0) + 1
    assert per_proposer and max(per_proposer.values()) == MAX_BUFFERED_PROPOSALS_PER_PROPOSER
    assert len({sp.proposal for sp in kept}) == len(kept)
    assert all(sp.proposal.round <= MAX_ROUND_AHEAD for sp in kept)
    assert node.net.disconnects == []


def test_a_proposal_over_max_block_bytes_is_refused_before_the_machine_keeps_it() -> None:
    node = _follower_of_four(max_block_bytes=1024)
    big = kv_tx(0, b"x" * 2000)
    node.frame(_next_height_proposal(node, 0, txs=[big]))
    assert _buffered_proposals(node) == []
    ((peer, reason),) = node.net.disconnects
    assert peer == PEER and "max_block_bytes" in reason
