"""The consensus machine and the validator schedule across a validator-set change (ADR 0014 section 5).

Five keys of equal power: ``OLD`` is the set of S0..S3, ``NEW`` removes S0 and S3 and adds S4 (three validators:
a quorum is all three). The machine is told the
sets with ``EnterHeight(h, validators=set(h), next_validators=set(h + 1))``. Heights are chosen so that the
proposer of the round differs between the two sets (proposers take turns in address order over ``set(h)``).
"""

from __future__ import annotations

import pytest

from trellis.abci import UnknownHeight
from trellis.core.consensus.machine import (
    BuildProposal,
    CheckProposal,
    ConsensusState,
    Decide,
    Effect,
    EnterHeight,
    Event,
    ProposalBuilt,
    ProposalChecked,
    ProposalReceived,
    RelayVote,
    SignProposal,
    SignVote,
    Step,
    TimeoutFired,
    Timeouts,
    VoteReceived,
    is_voter,
    new_state,
    proposer_from_order,
    proposer_of,
    step,
)
from trellis.core.consensus.messages import SignedProposal
from trellis.core.crypto.suite import ED25519, address_of
from trellis.core.ledger.block import Block, Header, Validator, ValidatorSet, block_hash, make_validator_set
from trellis.core.ledger.votes import (
    PRECOMMIT,
    PREVOTE,
    Proposal,
    SignedVote,
    Vote,
    proposal_signing_bytes,
    vote_signing_bytes,
)
from trellis.core.modules.validators.state import ValidatorUpdate
from trellis.core.types import ZERO_HASH
from trellis.keys.signer import MemorySigner
from trellis.node.validator_schedule import ScheduleError, ValidatorSchedule

SUITE = ED25519
CHAIN = "valset-change-test"
TIMEOUTS = Timeouts()
SIGNERS = [MemorySigner(bytes([0x40 + i]) * 32) for i in range(5)]
S = [address_of(SUITE, s.public_key) for s in SIGNERS]
BY_ADDR = dict(zip(S, SIGNERS, strict=True))


def valset(*indices: int) -> ValidatorSet:
    return make_validator_set(
        SUITE, [Validator(public_key=SIGNERS[i].public_key, power=10, name=f"s{i}") for i in indices]
    )


OLD = valset(0, 1, 2, 3)
NEW = valset(1, 2, 4)
OLD_ORDER = sorted(S[:4])
NEW_ORDER = sorted([S[1], S[2], S[4]])


def proposer(order: list[bytes], height: int, round_: int = 0) -> bytes:
    return order[(height + round_) % len(order)]


H = next(
    h for h in range(2, 100) if proposer(OLD_ORDER, h) != proposer(NEW_ORDER, h) and proposer(OLD_ORDER, h) in NEW_ORDER
)
"""A height whose round-0 proposer differs between OLD and NEW, OLD's being in both sets."""
H_NEXT = next(h for h in range(2, 100) if proposer(OLD_ORDER, h + 1) != proposer(NEW_ORDER, h + 1))
"""A height whose next height's round-0 proposer differs between OLD and NEW."""


def make_block(height: int) -> Block:
    header = Header(
        chain_id=CHAIN,
        height=height,
        time_ms=1_700_000_000_000 + height,
        parent_hash=ZERO_HASH,
        tx_root=ZERO_HASH,
        results_root=ZERO_HASH,
        state_root=ZERO_HASH,
        tx_count=0,
        proposer=S[0],
        validators_hash=ZERO_HASH,
        next_validators_hash=ZERO_HASH,
    )
    return Block(header=header, txs=[])


def bid(block: Block) -> bytes:
    return block_hash(SUITE, block.header)


def propose(block: Block, who: bytes, round_: int = 0) -> SignedProposal:
    p = Proposal(chain_id=CHAIN, height=block.header.height, round=round_, pol_round=-1, block_hash=bid(block))
    return SignedProposal(proposal=p, proposer=who, signature=BY_ADDR[who].sign(proposal_signing_bytes(p)), block=block)


def vote(who: bytes, kind: int, height: int, block_id: bytes, round_: int = 0) -> SignedVote:
    v = Vote(chain_id=CHAIN, kind=kind, height=height, round=round_, block_hash=block_id)
    return SignedVote(vote=v, validator=who, signature=BY_ADDR[who].sign(vote_signing_bytes(v)))


def machine(me: bytes | None, height: int, validators: ValidatorSet, next_validators: ValidatorSet) -> ConsensusState:
    """A machine created with the OLD set (as a driver does at genesis), then entering ``height`` with the sets."""
    state = new_state(SUITE, CHAIN, OLD, me, TIMEOUTS)
    step(state, EnterHeight(height, validators=validators, next_validators=next_validators))
    return state


def feed(state: ConsensusState, *events: Event) -> list[Effect]:
    out: list[Effect] = []
    for ev in events:
        out += step(state, ev)[1]
    return out


def of_type(effects: list[Effect], kind: type) -> list[object]:
    return [e for e in effects if isinstance(e, kind)]


def voters_at(state: ConsensusState, kind: int, round_: int = 0) -> set[bytes]:
    return set(state.votes.get((round_, kind), {}))


# -- proposer over the set of the height ------------------------------------------------------------------------
def test_the_proposer_of_a_height_is_chosen_over_its_set_after_a_change() -> None:
    new_proposer, old_proposer = proposer(NEW_ORDER, H), proposer(OLD_ORDER, H)
    state = machine(new_proposer, H, NEW, NEW)
    assert proposer_of(state, H, 0) == new_proposer == proposer_from_order(NEW_ORDER, H, 0)
    assert of_type(feed(state, ProposalBuilt(H, 0, make_block(H))), SignProposal)
    # the old set's proposer, still a validator, does not propose
    state = new_state(SUITE, CHAIN, OLD, old_proposer, TIMEOUTS)
    assert BuildProposal(H, 0) not in feed(state, EnterHeight(H, validators=NEW, next_validators=NEW))
    assert not of_type(feed(state, ProposalBuilt(H, 0, make_block(H))), SignProposal)


def test_the_new_sets_proposer_asks_for_a_block_on_entering_the_height() -> None:
    state = new_state(SUITE, CHAIN, OLD, proposer(NEW_ORDER, H), TIMEOUTS)
    effects = feed(state, EnterHeight(H, validators=NEW, next_validators=NEW))
    assert BuildProposal(height=H, round=0) in effects


def test_a_proposal_is_accepted_from_the_new_sets_proposer_only() -> None:
    state = machine(None, H, NEW, NEW)
    block = make_block(H)
    assert not of_type(feed(state, ProposalReceived(propose(block, proposer(OLD_ORDER, H)))), CheckProposal)
    assert of_type(feed(state, ProposalReceived(propose(block, proposer(NEW_ORDER, H)))), CheckProposal)


def test_the_commit_timeout_enters_the_next_height_with_the_set_announced_for_it() -> None:
    h = H - 1
    state = machine(None, h, OLD, NEW)
    block = make_block(h)
    feed(state, ProposalReceived(propose(block, proposer(OLD_ORDER, h))), ProposalChecked(h, bid(block), True))
    decided = feed(state, *(VoteReceived(vote(a, PRECOMMIT, h, bid(block))) for a in OLD_ORDER[:3]))
    assert of_type(decided, Decide)
    feed(state, TimeoutFired(h, 0, Step.COMMIT))
    assert state.height == H and state.valset == NEW
    assert proposer_of(state, H, 0) == proposer(NEW_ORDER, H)


def test_enter_height_without_sets_keeps_the_sets_held() -> None:
    state = machine(None, H, NEW, OLD)
    feed(state, EnterHeight(H + 1))
    assert state.valset == NEW and state.next_valset == OLD


# -- votes at the height -----------------------------------------------------------------------------------------
def test_a_removed_validators_votes_are_dropped() -> None:
    state = machine(None, H, NEW, NEW)
    block = make_block(H)
    feed(state, ProposalReceived(propose(block, proposer(NEW_ORDER, H))), ProposalChecked(H, bid(block), True))
    effects = feed(state, VoteReceived(vote(S[3], PRECOMMIT, H, bid(block))))
    assert effects == [] and S[3] not in voters_at(state, PRECOMMIT)
    # S3 and two members are not a quorum of NEW: nothing is decided until a third member precommits
    assert not of_type(feed(state, *(VoteReceived(vote(a, PRECOMMIT, H, bid(block))) for a in (S[1], S[2]))), Decide)
    (decide,) = of_type(feed(state, VoteReceived(vote(S[4], PRECOMMIT, H, bid(block)))), Decide)
    assert isinstance(decide, Decide)
    assert [c.validator for c in decide.commit.signatures] == sorted([S[1], S[2], S[4]])


def test_an_added_validators_votes_count() -> None:
    state = machine(None, H, NEW, NEW)
    effects = feed(state, VoteReceived(vote(S[4], PREVOTE, H, ZERO_HASH)))
    assert of_type(effects, RelayVote) and S[4] in voters_at(state, PREVOTE)


# -- messages for the next height ----------------------------------------------------------------------------------
def test_votes_for_the_next_height_are_checked_against_the_next_set() -> None:
    state = machine(None, H, OLD, NEW)
    feed(
        state, VoteReceived(vote(S[3], PREVOTE, H + 1, ZERO_HASH)), VoteReceived(vote(S[4], PREVOTE, H + 1, ZERO_HASH))
    )
    buffered = [ev.vote.validator for ev in state.buffered if isinstance(ev, VoteReceived)]
    assert buffered == [S[4]]
    feed(state, EnterHeight(H + 1, validators=NEW, next_validators=NEW))
    assert voters_at(state, PREVOTE) == {S[4]}


def test_proposals_for_the_next_height_are_checked_against_the_next_set() -> None:
    h = H_NEXT
    state = machine(None, h, OLD, NEW)
    block = make_block(h + 1)
    feed(state, ProposalReceived(propose(block, proposer(OLD_ORDER, h + 1))))
    assert state.buffered == []
    feed(state, ProposalReceived(propose(block, proposer(NEW_ORDER, h + 1))))
    assert len(state.buffered) == 1
    effects = feed(state, EnterHeight(h + 1, validators=NEW, next_validators=NEW))
    assert of_type(effects, CheckProposal)


def test_a_proposal_for_the_next_height_by_a_joining_validator_is_buffered_if_signed_by_it() -> None:
    state = machine(None, H, OLD, NEW)
    r = next(r for r in range(3) if proposer(NEW_ORDER, H + 1, r) == S[4])
    block = make_block(H + 1)
    forged = propose(block, S[1], r)
    feed(
        state,
        ProposalReceived(
            SignedProposal(proposal=forged.proposal, proposer=S[4], signature=forged.signature, block=block)
        ),
    )
    assert state.buffered == []
    feed(state, ProposalReceived(propose(block, S[4], r)))
    assert len(state.buffered) == 1


def test_buffered_votes_are_checked_again_under_the_set_of_the_height_entered() -> None:
    # The machine was not told of the change: it buffers S3's vote under OLD, and drops it on entering with NEW.
    state = machine(None, H, OLD, OLD)
    feed(
        state, VoteReceived(vote(S[3], PREVOTE, H + 1, ZERO_HASH)), VoteReceived(vote(S[1], PREVOTE, H + 1, ZERO_HASH))
    )
    assert len(state.buffered) == 2
    feed(state, EnterHeight(H + 1, validators=NEW, next_validators=NEW))
    assert voters_at(state, PREVOTE) == {S[1]}


def test_a_buffered_proposal_is_checked_again_under_the_set_of_the_height_entered() -> None:
    h = H_NEXT
    state = machine(None, h, OLD, OLD)
    block = make_block(h + 1)
    feed(state, ProposalReceived(propose(block, proposer(OLD_ORDER, h + 1))))
    assert len(state.buffered) == 1
    effects = feed(state, EnterHeight(h + 1, validators=NEW, next_validators=NEW))
    assert not of_type(effects, CheckProposal) and state.proposals == {}


# -- a node outside the set --------------------------------------------------------------------------------------
def test_a_node_not_in_the_set_of_the_height_neither_proposes_nor_votes() -> None:
    removed = S[3]
    h = next(h for h in range(2, 100) if proposer(OLD_ORDER, h) == removed)
    state = new_state(SUITE, CHAIN, OLD, removed, TIMEOUTS)
    effects = feed(state, EnterHeight(h, validators=NEW, next_validators=NEW))
    assert not is_voter(state)
    block = make_block(h)
    effects += feed(state, ProposalBuilt(h, 0, block))
    effects += feed(
        state, ProposalReceived(propose(block, proposer(NEW_ORDER, h))), ProposalChecked(h, bid(block), True)
    )
    effects += feed(state, *(VoteReceived(vote(a, PREVOTE, h, bid(block))) for a in NEW_ORDER))
    effects += feed(state, TimeoutFired(h, 0, Step.PREVOTE), TimeoutFired(h, 0, Step.PRECOMMIT))
    effects += feed(state, TimeoutFired(h, 1, Step.PROPOSE), TimeoutFired(h, 1, Step.PREVOTE))
    assert not of_type(effects, SignVote) and not of_type(effects, SignProposal) and not of_type(effects, BuildProposal)


def test_a_node_added_to_the_set_votes_from_the_height_it_joins() -> None:
    state = new_state(SUITE, CHAIN, OLD, S[4], TIMEOUTS)
    feed(state, EnterHeight(H, validators=NEW, next_validators=NEW))
    assert is_voter(state)
    block = make_block(H)
    effects = feed(
        state, ProposalReceived(propose(block, proposer(NEW_ORDER, H))), ProposalChecked(H, bid(block), True)
    )
    (sv,) = of_type(effects, SignVote)
    assert isinstance(sv, SignVote) and sv.vote.kind == PREVOTE and sv.vote.block_hash == bid(block)


# -- the schedule ------------------------------------------------------------------------------------------------
def schedule(tip: int = 0) -> ValidatorSchedule:
    return ValidatorSchedule(SUITE, [ValidatorUpdate(effective_height=1, validators=OLD)], tip)


def test_the_schedule_knows_the_sets_up_to_tip_plus_two() -> None:
    s = schedule(tip=5)
    assert s.known_until == 7 and s.set_at(1) == s.set_at(7) == OLD
    for h in (0, 8):
        with pytest.raises(UnknownHeight):
            s.set_at(h)


def test_a_change_applies_from_its_effective_height() -> None:
    s = schedule()
    s.note_committed(1, None)
    s.note_committed(2, ValidatorUpdate(effective_height=4, validators=NEW))
    assert [s.set_at(h) for h in (1, 2, 3, 4)] == [OLD, OLD, OLD, NEW]
    assert s.known_until == 4 and s.latest_effective_height == 4
    assert s.is_member(S[3], 3) and not s.is_member(S[3], 4)
    assert not s.is_member(S[4], 3) and s.is_member(S[4], 4)
    assert not s.is_member(S[4], 5)  # not known yet
    assert s.order_at(4) == NEW_ORDER and set(s.keys_at(3)) == set(OLD_ORDER)


def test_the_schedule_built_from_entries_matches_one_fed_by_commits() -> None:
    fed = schedule()
    for h in range(1, 6):
        fed.note_committed(h, ValidatorUpdate(effective_height=4, validators=NEW) if h == 2 else None)
    built = ValidatorSchedule(
        SUITE,
        [ValidatorUpdate(effective_height=1, validators=OLD), ValidatorUpdate(effective_height=4, validators=NEW)],
        5,
    )
    assert [built.set_at(h) for h in range(1, 8)] == [fed.set_at(h) for h in range(1, 8)]
    assert built.known_until == fed.known_until == 7


def test_noting_the_same_update_twice_changes_nothing() -> None:
    s = schedule()
    update = ValidatorUpdate(effective_height=4, validators=NEW)
    s.note(update)
    s.note(update)
    assert s.entries() == [ValidatorUpdate(effective_height=1, validators=OLD), update]


def test_the_schedule_refuses_an_update_not_after_the_newest() -> None:
    s = schedule()
    s.note(ValidatorUpdate(effective_height=6, validators=NEW))
    with pytest.raises(ScheduleError, match="not after"):
        s.note(ValidatorUpdate(effective_height=5, validators=OLD))
    with pytest.raises(ScheduleError, match="different validator set"):
        s.note(ValidatorUpdate(effective_height=6, validators=OLD))
    assert s.set_at(5) == OLD and s.set_at(6) == NEW


def test_a_committed_blocks_update_must_take_effect_two_heights_later() -> None:
    s = schedule()
    with pytest.raises(ScheduleError, match="not at 5"):
        s.note_committed(3, ValidatorUpdate(effective_height=4, validators=NEW))
    assert s.known_until == 2


@pytest.mark.parametrize(
    "entries",
    [[], [ValidatorUpdate(effective_height=2, validators=OLD)]],
    ids=["no entries", "first not at 1"],
)
def test_the_schedule_needs_the_genesis_entry_first(entries: list[ValidatorUpdate]) -> None:
    with pytest.raises(ScheduleError):
        ValidatorSchedule(SUITE, entries)


def test_the_schedule_refuses_an_empty_set() -> None:
    with pytest.raises(ScheduleError, match="empty"):
        schedule().note(ValidatorUpdate(effective_height=3, validators=ValidatorSet(validators=[])))
