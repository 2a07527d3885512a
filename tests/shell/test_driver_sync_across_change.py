"""The driver across a validator-set change (ADR 0014 section 5): block sync verifies each commit under the set in
force at its height, the machine is given ``set(h)`` and ``set(h + 1)`` after sync and after each commit, and the
signer is never asked to sign at a height where this node is not a member.

The source chain changes its set by governance twice: genesis has ``v0`` (power 3) owned by ``org1`` (the only
org, admin threshold 1). Block 2 adds ``N`` with power 1 (effective at 4: ``{v0: 3, N: 1}``, v0 alone still more
than 2/3); block 4 gives ``N`` power 2 (effective at 6: ``{v0: 3, N: 2}``, v0 alone is 3 of 5, not enough). Each
commit is signed by every validator of the set in force at its height. The last test runs the same changes live
between two drivers: v0 and the newcomer, started outside the set.
"""

from __future__ import annotations

import logging
import struct
from dataclasses import dataclass

import msgspec
import pytest

from tests.fixtures.governance import fixed_ca
from trellis.app.application import TrellisApp
from trellis.core.consensus.machine import PRECOMMIT, PREVOTE, Proposal, SignProposal, SignVote, Timeouts
from trellis.core.consensus.messages import SignedProposal, header_of
from trellis.core.crypto.suite import ED25519, address_of
from trellis.core.execution.block import ExecutedBlock
from trellis.core.ledger.block import Block, Commit, CommitSig, ValidatorSet, block_hash, validators_hash
from trellis.core.ledger.votes import Vote, proposal_signing_bytes, vote_signing_bytes
from trellis.core.modules.membership.messages import ProposeMembership, RegisterCert
from trellis.core.modules.validators.messages import AddValidator, SetValidatorPower
from trellis.core.modules.validators.state import ValidatorUpdate
from trellis.core.params import (
    ChainParams,
    Genesis,
    GenesisAccount,
    GenesisMembership,
    GenesisOrg,
    GenesisValidator,
    params_from_genesis,
)
from trellis.keys.signer import MemorySigner
from trellis.node.consensus_driver import ConsensusDriver, NoNetwork
from trellis.node.mempool import Mempool
from trellis.node.privval import PrivValidator
from trellis.node.wal import MemoryWal
from trellis.node.wire import (
    BatchRequestMsg,
    BlocksMsg,
    CommittedBlock,
    CompactProposalMsg,
    ProposalHeaderMsg,
    ProposalMsg,
    encode_msg,
)
from trellis.storage.chain_store import ChainStore
from trellis.storage.kv import MemoryStore

from .conftest import CHAIN_ID, GENESIS_TIME_MS, addr, make_signer, raw_tx
from .driver_fakes import FakeNetwork, ManualTimers

V0 = make_signer("sync-change-v0")
NEWCOMER = make_signer("sync-change-newcomer")
OUTSIDER = make_signer("sync-change-outsider")
ALICE = make_signer("sync-change-alice")
ORG = "org1"
PEER = "peer-1"
TIP = 7


def make_params() -> ChainParams:
    genesis = Genesis(
        chain_id=CHAIN_ID,
        genesis_time_ms=GENESIS_TIME_MS,
        validators=[GenesisValidator(name="v0", public_key=V0.public_key.hex(), power=3, org=ORG)],
        mint_authority=addr(ALICE).hex(),
        accounts=[GenesisAccount(address=addr(ALICE).hex(), balance=1000)],
        orgs=[GenesisOrg(name=ORG, ca_cert=fixed_ca(ORG).pem)],
        membership=GenesisMembership(enforce=False, admin_threshold=1),
    )
    return params_from_genesis(genesis)


PARAMS = make_params()
SIGNERS = {addr(s): s for s in (V0, NEWCOMER)}


def sign_commit(executed: ExecutedBlock, valset: ValidatorSet, only: set[bytes] | None = None) -> Commit:
    """A certificate of ``executed`` with a precommit by every validator of ``valset`` (or those in ``only``)."""
    height = executed.block.header.height
    vote = Vote(chain_id=CHAIN_ID, kind=PRECOMMIT, height=height, round=0, block_hash=executed.block_id)
    members = sorted(address_of(ED25519, v.public_key) for v in valset.validators)
    sigs = [
        CommitSig(validator=a, signature=SIGNERS[a].sign(vote_signing_bytes(vote)))
        for a in members
        if only is None or a in only
    ]
    return Commit(height=height, round=0, block_hash=executed.block_id, signatures=sigs)


@dataclass
class SourceChain:
    """The chain a peer serves: blocks 1..TIP with their certificates, and the executed blocks."""

    blocks: list[CommittedBlock]
    executed: list[ExecutedBlock]
    app: TrellisApp


def build_source() -> SourceChain:
    app = TrellisApp(PARAMS, ChainStore(MemoryStore()))
    cert = fixed_ca(ORG).issue(ALICE.public_key, "admin", "alice")
    add = AddValidator(public_key=NEWCOMER.public_key, power=1, name="newcomer", org=ORG)
    raise_power = SetValidatorPower(address=addr(NEWCOMER), power=2)
    txs: dict[int, list[bytes]] = {
        1: [raw_tx(ALICE, 0, RegisterCert(cert=cert))],
        2: [raw_tx(ALICE, 1, ProposeMembership(change=add))],
        4: [raw_tx(ALICE, 2, ProposeMembership(change=raise_power))],
    }
    blocks: list[CommittedBlock] = []
    executed_blocks: list[ExecutedBlock] = []
    for h in range(1, TIP + 1):
        checked = [app.check_tx(r) for r in txs.get(h, [])]
        executed = app.prepare_proposal(checked, GENESIS_TIME_MS + 1000 * h, addr(V0))
        assert all(r.code == 0 for r in executed.output.receipts), executed.output.receipts
        commit = sign_commit(executed, app.validator_set(h))
        app.commit(executed, commit)
        blocks.append(CommittedBlock(block=executed.block, commit=commit))
        executed_blocks.append(executed)
    return SourceChain(blocks, executed_blocks, app)


SOURCE = build_source()


def set_at(h: int) -> ValidatorSet:
    return SOURCE.app.validator_set(h)


@dataclass
class Follower:
    driver: ConsensusDriver
    app: TrellisApp
    net: FakeNetwork
    privval: PrivValidator | None

    def sync(self, blocks: list[CommittedBlock]) -> None:
        self.driver.on_frame(PEER, encode_msg(BlocksMsg(blocks=blocks)))


def make_follower(signer: MemorySigner | None = NEWCOMER) -> Follower:
    app = TrellisApp(PARAMS, ChainStore(MemoryStore()))
    net = FakeNetwork()
    privval = PrivValidator(ED25519, signer, MemoryWal()) if signer is not None else None
    mempool = Mempool(app.account_nonce, committed_nonces=app.account_nonces, max_txs=1000, max_bytes=1 << 24)
    driver = ConsensusDriver(
        PARAMS, app, mempool, privval, net, ManualTimers(GENESIS_TIME_MS), Timeouts(), blocks=app.store
    )
    driver.start()
    return Follower(driver, app, net, privval)


def addresses(valset: ValidatorSet) -> set[bytes]:
    return {address_of(ED25519, v.public_key) for v in valset.validators}


# -- the source chain is what the tests say it is ---------------------------------------------------------------
def test_the_source_chain_changes_its_set_at_4_and_6() -> None:
    assert SOURCE.executed[1].output.validator_update == ValidatorUpdate(effective_height=4, validators=set_at(4))
    assert SOURCE.executed[3].output.validator_update == ValidatorUpdate(effective_height=6, validators=set_at(6))
    assert set_at(3) == PARAMS.validators != set_at(4) != set_at(6)
    assert {v.power for v in set_at(6).validators} == {3, 2}


# -- block sync -----------------------------------------------------------------------------------------------
def test_sync_verifies_each_block_under_the_set_in_force_at_its_height() -> None:
    follower = make_follower()
    follower.sync(SOURCE.blocks)
    assert follower.net.disconnects == []
    assert follower.app.info().height == TIP
    assert follower.app.info().block_id == SOURCE.blocks[-1].commit.block_hash


def test_sync_feeds_the_blocks_validator_updates_to_the_schedule() -> None:
    follower = make_follower()
    follower.sync(SOURCE.blocks)
    schedule = follower.driver.schedule
    assert schedule.known_until == TIP + 2
    assert [schedule.set_at(h) for h in range(1, TIP + 3)] == [set_at(h) for h in range(1, TIP + 3)]


def test_after_sync_the_machine_runs_the_next_height_with_its_set_and_the_next() -> None:
    follower = make_follower()
    assert follower.driver.state.valset == PARAMS.validators
    follower.sync(SOURCE.blocks)
    st = follower.driver.state
    assert st.height == TIP + 1
    assert st.valset == set_at(TIP + 1) and st.next_valset == set_at(TIP + 2)
    assert addr(NEWCOMER) in st.power  # the newcomer votes at this height


def test_sync_refuses_a_block_signed_by_the_previous_set_after_the_change() -> None:
    # Block 6 is certified by v0 alone: more than 2/3 of set(5) = {v0: 3, N: 1}, but 3 of 5 in set(6).
    blocks = list(SOURCE.blocks)
    executed6 = SOURCE.executed[5]
    only_v0 = sign_commit(executed6, set_at(6), only={addr(V0)})
    blocks[5] = CommittedBlock(block=blocks[5].block, commit=only_v0)
    follower = make_follower()
    follower.sync(blocks)
    ((peer, reason),) = follower.net.disconnects
    assert peer == PEER and "invalid committed block 6" in reason and "voting power" in reason
    assert follower.app.info().height == 5


def test_sync_refuses_a_block_naming_the_old_set_after_the_change() -> None:
    # Block 4 re-signed as if the genesis set still signed it: the certificate is valid for that set, but the
    # header must name set(4).
    blocks = list(SOURCE.blocks[:3])
    old = msgspec.structs.replace(SOURCE.blocks[3].block.header, validators_hash=validators_hash(ED25519, set_at(3)))
    forged = Block(header=old, txs=SOURCE.blocks[3].block.txs)
    bid = block_hash(ED25519, forged.header)
    vote = Vote(chain_id=CHAIN_ID, kind=PRECOMMIT, height=4, round=0, block_hash=bid)
    commit = Commit(
        height=4,
        round=0,
        block_hash=bid,
        signatures=[CommitSig(validator=addr(V0), signature=V0.sign(vote_signing_bytes(vote)))],
    )
    blocks.append(CommittedBlock(block=forged, commit=commit))
    follower = make_follower()
    follower.sync(blocks)
    ((peer, reason),) = follower.net.disconnects
    assert peer == PEER and "invalid committed block 4" in reason
    assert follower.app.info().height == 3


# -- the signer ---------------------------------------------------------------------------------------------------
def _sign_effects(height: int) -> list[SignVote | SignProposal]:
    vote = Vote(chain_id=CHAIN_ID, kind=PREVOTE, height=height, round=0, block_hash=b"\x01" * 32)
    block = SOURCE.blocks[height - 1].block
    p = Proposal(chain_id=CHAIN_ID, height=height, round=0, pol_round=-1, block_hash=block_hash(ED25519, block.header))
    return [SignProposal(proposal=p, block=block), SignVote(vote)]


def test_the_signer_is_never_asked_to_sign_at_a_height_where_this_node_is_not_a_member(
    caplog: pytest.LogCaptureFixture,
) -> None:
    follower = make_follower(NEWCOMER)  # not in set(1)
    assert follower.privval is not None
    with caplog.at_level(logging.ERROR, logger="trellis.consensus"):
        for eff in _sign_effects(1):
            follower.driver._do_consensus(eff)
    assert follower.privval.signed_at(1) == ([], [])
    assert caplog.text.count("refusing to sign at height 1") == 2


def test_the_signer_signs_from_the_height_the_addition_takes_effect() -> None:
    follower = make_follower(NEWCOMER)
    follower.sync(SOURCE.blocks[:2])  # block 2 schedules the newcomer from height 4
    assert follower.privval is not None
    for eff in _sign_effects(3):
        follower.driver._do_consensus(eff)
    assert follower.privval.signed_at(3) == ([], [])
    follower.sync(SOURCE.blocks[2:3])
    for eff in _sign_effects(4):
        follower.driver._do_consensus(eff)
    props, votes = follower.privval.signed_at(4)
    assert len(props) == 1 and len(votes) == 1


def test_a_node_outside_every_set_follows_without_signing() -> None:
    follower = make_follower(OUTSIDER)
    follower.sync(SOURCE.blocks)
    assert follower.app.info().height == TIP
    assert follower.privval is not None
    assert addr(OUTSIDER) not in follower.driver.state.power
    assert all(follower.privval.signed_at(h) == ([], []) for h in range(1, TIP + 2))


def test_each_height_a_deciding_node_enters_runs_with_its_set_and_the_next() -> None:
    # v0 alone runs consensus (no peers): the governance transactions go into its own blocks. The addition applies
    # in block 1 (effective at 3), the power change once height 3 is committed (effective two blocks later).
    app = TrellisApp(PARAMS, ChainStore(MemoryStore()))
    timers = ManualTimers(GENESIS_TIME_MS)
    mempool = Mempool(app.account_nonce, committed_nonces=app.account_nonces, max_txs=1000, max_bytes=1 << 24)
    privval = PrivValidator(ED25519, V0, MemoryWal())
    driver = ConsensusDriver(PARAMS, app, mempool, privval, NoNetwork(), timers, Timeouts(), blocks=app.store)
    driver.start()

    def submit(raw: bytes) -> None:
        checked = app.check_tx(raw)
        mempool.add(checked)
        driver.on_local_tx(checked)

    cert = fixed_ca(ORG).issue(ALICE.public_key, "admin", "alice")
    submit(raw_tx(ALICE, 0, RegisterCert(cert=cert)))
    submit(raw_tx(ALICE, 1, ProposeMembership(change=AddValidator(NEWCOMER.public_key, 1, "newcomer", ORG))))
    seen = {1: (driver.state.valset, driver.state.next_valset)}
    for _ in range(2000):
        timers.advance(10)
        st = driver.state
        seen.setdefault(st.height, (st.valset, st.next_valset))
        if app.info().height == 3 and len(mempool) == 0 and 4 not in seen:
            submit(raw_tx(ALICE, 2, ProposeMembership(change=SetValidatorPower(addr(NEWCOMER), 2))))
    changes = [u.effective_height for u in app.validator_entries()]
    assert changes == [1, 3, 6]
    # v0 alone (3 of 5) cannot decide height 6: the machine counts power in set(6), not in an earlier set
    assert app.info().height == 5 and driver.state.height == 6
    for h in range(1, 7):
        assert seen[h] == (app.validator_set(h), app.validator_set(h + 1)), h


# -- proposals checked by the driver before the machine sees them ---------------------------------------------------
def signed_proposal(block: Block, signer: MemorySigner, round_: int) -> SignedProposal:
    h = block.header.height
    p = Proposal(chain_id=CHAIN_ID, height=h, round=round_, pol_round=-1, block_hash=block_hash(ED25519, block.header))
    return SignedProposal(
        proposal=p, proposer=addr(signer), signature=signer.sign(proposal_signing_bytes(p)), block=block
    )


def round_proposed_by(signer: MemorySigner, height: int) -> int:
    order = sorted(addresses(set_at(height)))
    return next(r for r in range(len(order)) if order[(height + r) % len(order)] == addr(signer))


def test_a_proposal_of_the_height_is_relayed_when_signed_by_the_proposer_over_its_set() -> None:
    follower = make_follower(OUTSIDER)
    follower.sync(SOURCE.blocks[:3])  # at height 4, whose set {v0, N} differs from set(3) = {v0}
    block4 = SOURCE.blocks[3].block
    r = round_proposed_by(NEWCOMER, 4)
    follower.driver.on_frame(PEER, encode_msg(ProposalMsg(proposal=signed_proposal(block4, NEWCOMER, r))))
    relayed = [m.header for m in follower.net.broadcasts if isinstance(m, ProposalHeaderMsg)]
    assert follower.net.disconnects == []
    assert [(h.proposer, h.proposal.round) for h in relayed] == [(addr(NEWCOMER), r)]


def compact_with_a_missing_batch(block: Block, signer: MemorySigner, round_: int) -> CompactProposalMsg:
    """A compact proposal of a one-transaction block whose batch the receiver does not hold."""
    header = msgspec.structs.replace(block.header, tx_count=1)
    sp = signed_proposal(Block(header=header, txs=[]), signer, round_)
    return CompactProposalMsg(
        header=header_of(sp), block_header=header, batches=[b"\x77" * 32], refs=struct.pack(">HH", 0, 0), inline=[]
    )


def test_a_next_height_proposal_waits_for_its_batches_only_if_signed_by_the_proposer_over_the_next_set() -> None:
    follower = make_follower(OUTSIDER)
    follower.sync(SOURCE.blocks[:2])  # at height 3 (set {v0}); height 4's set is {v0, N}
    block4 = SOURCE.blocks[3].block
    r = round_proposed_by(NEWCOMER, 4)
    # v0 proposes every round of height 3, but not round r of height 4: its proposal is not held
    follower.driver.on_frame(PEER, encode_msg(compact_with_a_missing_batch(block4, V0, r)))
    assert [m for _, m in follower.net.sent if isinstance(m, BatchRequestMsg)] == []
    follower.driver.on_frame(PEER, encode_msg(compact_with_a_missing_batch(block4, NEWCOMER, r)))
    assert [m.digests for _, m in follower.net.sent if isinstance(m, BatchRequestMsg)] == [[b"\x77" * 32]]
    assert follower.net.disconnects == []


# -- two nodes: the joiner votes from its effective height -------------------------------------------------------
class LinkedNetwork:
    """Delivers each frame to the other node one millisecond later (through the shared manual clock)."""

    def __init__(self, name: str, timers: ManualTimers) -> None:
        self.name = name
        self.timers = timers
        self.other: ConsensusDriver | None = None
        self.disconnects: list[tuple[str, str]] = []

    def send(self, peer_id: str, frame: bytes) -> bool:
        self.broadcast(frame)
        return True

    def broadcast(self, frame: bytes) -> None:
        other = self.other
        if other is not None:
            self.timers.call_later(0.001, lambda: other.on_frame(self.name, frame))

    def disconnect(self, peer_id: str, reason: str) -> None:
        self.disconnects.append((peer_id, reason))


def test_a_node_started_outside_the_set_follows_then_votes_from_the_height_it_is_added() -> None:
    timers = ManualTimers(GENESIS_TIME_MS)
    nodes: list[tuple[TrellisApp, ConsensusDriver, LinkedNetwork, Mempool]] = []
    for name, signer in (("v0", V0), ("newcomer", NEWCOMER)):
        app = TrellisApp(PARAMS, ChainStore(MemoryStore()))
        mempool = Mempool(app.account_nonce, committed_nonces=app.account_nonces, max_txs=1000, max_bytes=1 << 24)
        net = LinkedNetwork(name, timers)
        privval = PrivValidator(ED25519, signer, MemoryWal())
        driver = ConsensusDriver(
            PARAMS, app, mempool, privval, net, timers, Timeouts(), empty_block_interval_ms=200, blocks=app.store
        )
        nodes.append((app, driver, net, mempool))
    (app0, driver0, net0, pool0), (app1, driver1, net1, _) = nodes
    net0.other, net1.other = driver1, driver0
    driver0.start()
    driver1.start()

    def submit(raw: bytes) -> None:
        checked = app0.check_tx(raw)
        pool0.add(checked)
        driver0.on_local_tx(checked)

    cert = fixed_ca(ORG).issue(ALICE.public_key, "admin", "alice")
    submit(raw_tx(ALICE, 0, RegisterCert(cert=cert)))
    submit(raw_tx(ALICE, 1, ProposeMembership(change=AddValidator(NEWCOMER.public_key, 1, "newcomer", ORG))))
    raised = False
    for _ in range(3000):
        timers.advance(10)
        tip = app0.info().height
        if not raised and tip >= 2 and app0.validator_set(tip + 1) != PARAMS.validators:
            raised = True  # the newcomer is in the set from now on: make it necessary for a quorum
            submit(raw_tx(ALICE, 2, ProposeMembership(change=SetValidatorPower(addr(NEWCOMER), 2))))
        if tip >= 12:
            break
    assert net0.disconnects == net1.disconnects == []
    entries = [u.effective_height for u in app0.validator_entries()]
    assert len(entries) == 3
    _, e1, e2 = entries
    assert app0.info().height >= 12 > e2 > e1
    assert app1.info().block_id == app0.store.commit(app1.info().height).block_hash  # type: ignore[union-attr]
    signers = {h: {c.validator for c in app0.store.commit(h).signatures} for h in range(1, 13)}  # type: ignore[union-attr]
    assert all(addr(NEWCOMER) not in signers[h] for h in range(1, e1))
    assert all(signers[h] == {addr(V0), addr(NEWCOMER)} for h in range(e2, 13))
