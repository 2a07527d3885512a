"""The consensus state machine, driven by hand: every event is fed with ``step`` and every vote and proposal
is signed here with the validators' own keys. Four validators of equal power, so a quorum is three and f+1 is
two. ``me`` is the validator whose machine is under test (``None``: a node that only follows)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from trellis.core.consensus.machine import (
    MAX_ROUND_AHEAD,
    NIL,
    BuildProposal,
    CheckProposal,
    ConsensusState,
    Decide,
    Effect,
    EnterHeight,
    Event,
    ProposalBuilt,
    ProposalChecked,
    ProposalHeaderReceived,
    ProposalReceived,
    RelayVote,
    ReportEvidence,
    ScheduleTimeout,
    SignProposal,
    SignVote,
    Step,
    TimeoutFired,
    Timeouts,
    VoteReceived,
    new_state,
    proposer_of,
    step,
)
from trellis.core.consensus.messages import SignedProposal, header_of
from trellis.core.crypto.suite import ED25519, address_of
from trellis.core.ledger.block import Block, Header, block_hash, validators_hash, verify_commit
from trellis.core.ledger.votes import (
    PRECOMMIT,
    PREVOTE,
    DuplicateProposalEvidence,
    DuplicateVoteEvidence,
    Proposal,
    SignedVote,
    Vote,
    check_evidence,
    proposal_signing_bytes,
    vote_signing_bytes,
)
from trellis.core.params import Genesis, GenesisValidator, params_from_genesis
from trellis.core.types import ZERO_HASH
from trellis.keys.signer import MemorySigner

SUITE = ED25519
CHAIN = "machine-test"
TIMEOUTS = Timeouts()
SIGNERS = [MemorySigner(bytes([i + 1]) * 32) for i in range(4)]
PARAMS = params_from_genesis(
    Genesis(
        chain_id=CHAIN,
        genesis_time_ms=1_700_000_000_000,
        validators=[
            GenesisValidator(name=f"v{i}", public_key=s.public_key.hex(), power=10) for i, s in enumerate(SIGNERS)
        ],
        mint_authority="00" * 20,
    )
)
VALSET = PARAMS.validators
KEYS = {address_of(SUITE, s.public_key): s for s in SIGNERS}
ORDER = sorted(KEYS)
"""Validator addresses in proposer order: the proposer of (h, r) is ORDER[(h + r) % 4]."""
KEYS_BY_ADDR = {a: s.public_key for a, s in KEYS.items()}


# -- building blocks, proposals and votes ---------------------------------------------------------------------
def make_block(height: int, tag: int = 0) -> Block:
    """A block at ``height``; blocks with different ``tag`` have different ids."""
    header = Header(
        chain_id=CHAIN,
        height=height,
        time_ms=1_700_000_000_000 + 1000 * height + tag,
        parent_hash=ZERO_HASH,
        tx_root=ZERO_HASH,
        results_root=ZERO_HASH,
        state_root=ZERO_HASH,
        tx_count=0,
        proposer=ORDER[0],
        validators_hash=validators_hash(SUITE, VALSET),
        next_validators_hash=validators_hash(SUITE, VALSET),
    )
    return Block(header=header, txs=[])


def bid(block: Block) -> bytes:
    return block_hash(SUITE, block.header)


def propose(
    block: Block, round_: int = 0, pol_round: int = -1, proposer: bytes | None = None, signer: bytes | None = None
) -> SignedProposal:
    """A proposal of ``block`` at its height and ``round_``, by the round's proposer unless told otherwise;
    ``signer`` signs it (default: the named proposer)."""
    height = block.header.height
    who = proposer if proposer is not None else ORDER[(height + round_) % 4]
    p = Proposal(chain_id=CHAIN, height=height, round=round_, pol_round=pol_round, block_hash=bid(block))
    sig = KEYS[signer if signer is not None else who].sign(proposal_signing_bytes(p))
    return SignedProposal(proposal=p, proposer=who, signature=sig, block=block)


def vote(who: bytes, kind: int, height: int, round_: int, block_id: bytes) -> SignedVote:
    v = Vote(chain_id=CHAIN, kind=kind, height=height, round=round_, block_hash=block_id)
    return SignedVote(vote=v, validator=who, signature=KEYS[who].sign(vote_signing_bytes(v)))


def of_type(effects: list[Effect], kind: type) -> list:  # type: ignore[type-arg]
    return [e for e in effects if isinstance(e, kind)]


def sign_votes(effects: list[Effect]) -> list[Vote]:
    return [e.vote for e in effects if isinstance(e, SignVote)]


@dataclass
class Machine:
    """One machine under test and helpers that feed it events."""

    state: ConsensusState

    @property
    def me(self) -> bytes:
        assert self.state.me is not None
        return self.state.me

    def feed(self, *events: Event) -> list[Effect]:
        out: list[Effect] = []
        for ev in events:
            _, effects = step(self.state, ev)
            out.extend(effects)
        return out

    def votes(self, kind: int, round_: int, block_id: bytes, *who: bytes, height: int = 1) -> list[Effect]:
        return self.feed(*(VoteReceived(vote(w, kind, height, round_, block_id)) for w in who))

    def receive_valid(self, sp: SignedProposal) -> list[Effect]:
        """Deliver a proposal and answer the application's check with 'valid'."""
        effects = self.feed(ProposalReceived(sp))
        return effects + self.feed(ProposalChecked(sp.proposal.height, sp.proposal.block_hash, True))

    def echo(self, effects: list[Effect]) -> list[Effect]:
        """Sign this machine's ``SignVote`` effects with its key and feed them back (what the driver does)."""
        out: list[Effect] = []
        for v in sign_votes(effects):
            out += self.feed(VoteReceived(vote(self.me, v.kind, v.height, v.round, v.block_hash)))
        return out


def others(me: bytes | None) -> list[bytes]:
    return [a for a in ORDER if a != me]


def machine(me: int | None, height: int = 1, **enter: object) -> Machine:
    """A machine for validator ``ORDER[me]`` (or a follower) that has entered ``height``."""
    m = Machine(new_state(SUITE, CHAIN, VALSET, None if me is None else ORDER[me], TIMEOUTS))
    m.feed(EnterHeight(height, **enter))  # type: ignore[arg-type]
    return m


# ``me`` is ORDER[2] unless a test says otherwise: not the proposer of rounds 0, 2 and 3 at height 1, but the
# proposer of round 1 (where it re-proposes what it locked on in round 0).
ME = 2


def locked_in_round_0(block: Block) -> tuple[Machine, list[Effect]]:
    """``me`` prevoted ``block`` in round 0, saw a quorum of prevotes for it, locked and precommitted it."""
    m = machine(ME)
    effects = m.echo(m.receive_valid(propose(block)))
    a, b, _ = others(m.me)
    effects += m.votes(PREVOTE, 0, bid(block), a, b)
    return m, effects


def skip_to_round(m: Machine, round_: int) -> None:
    """Two other validators (f+1) nil-prevote in ``round_``: ``m`` follows them there."""
    m.votes(PREVOTE, round_, NIL, *others(m.me)[:2])
    assert m.state.round == round_


# -- proposer and the start of a height -----------------------------------------------------------------------
def test_proposer_rotates_in_address_order_with_height_plus_round() -> None:
    m = machine(None)
    assert [proposer_of(m.state, 1, r) for r in range(5)] == [ORDER[1], ORDER[2], ORDER[3], ORDER[0], ORDER[1]]
    assert [proposer_of(m.state, h, 0) for h in (1, 2, 3, 4)] == [ORDER[1], ORDER[2], ORDER[3], ORDER[0]]


def test_proposer_on_enter_height_asks_for_a_block_and_schedules_the_propose_timeout() -> None:
    m = Machine(new_state(SUITE, CHAIN, VALSET, ORDER[1], TIMEOUTS))
    effects = m.feed(EnterHeight(1))
    assert effects == [
        BuildProposal(height=1, round=0),
        ScheduleTimeout(1, 0, Step.PROPOSE, TIMEOUTS.propose_ms),
    ]


def test_non_proposer_on_enter_height_only_schedules_the_propose_timeout() -> None:
    m = Machine(new_state(SUITE, CHAIN, VALSET, ORDER[ME], TIMEOUTS))
    assert m.feed(EnterHeight(1)) == [ScheduleTimeout(1, 0, Step.PROPOSE, TIMEOUTS.propose_ms)]


def test_built_proposal_is_signed_with_pol_round_minus_one() -> None:
    m = machine(1)
    block = make_block(1)
    effects = m.feed(ProposalBuilt(height=1, round=0, block=block))
    (sp,) = of_type(effects, SignProposal)
    assert sp.proposal == Proposal(chain_id=CHAIN, height=1, round=0, pol_round=-1, block_hash=bid(block))
    assert sp.block == block


# -- prevoting on a proposal ----------------------------------------------------------------------------------
def test_proposal_is_checked_by_the_application_before_any_prevote() -> None:
    m = machine(ME)
    block = make_block(1)
    effects = m.feed(ProposalReceived(propose(block)))
    assert of_type(effects, CheckProposal) == [CheckProposal(height=1, block=block, block_hash=bid(block))]
    assert sign_votes(effects) == []


def test_valid_fresh_proposal_gets_a_prevote_for_its_block() -> None:
    m = machine(ME)
    block = make_block(1)
    effects = m.receive_valid(propose(block))
    assert sign_votes(effects) == [Vote(chain_id=CHAIN, kind=PREVOTE, height=1, round=0, block_hash=bid(block))]
    assert m.state.step == Step.PREVOTE


def test_invalid_proposal_gets_a_nil_prevote() -> None:
    m = machine(ME)
    block = make_block(1)
    m.feed(ProposalReceived(propose(block)))
    effects = m.feed(ProposalChecked(1, bid(block), False))
    assert sign_votes(effects) == [Vote(chain_id=CHAIN, kind=PREVOTE, height=1, round=0, block_hash=NIL)]


def test_proposal_from_a_validator_that_is_not_the_rounds_proposer_is_ignored() -> None:
    m = machine(ME)
    sp = propose(make_block(1), proposer=ORDER[3])  # round 0's proposer is ORDER[1]
    assert m.feed(ProposalReceived(sp)) == []
    assert m.state.proposals == {}


def test_proposal_with_a_signature_by_another_key_is_ignored() -> None:
    m = machine(ME)
    sp = propose(make_block(1), proposer=ORDER[1], signer=ORDER[3])
    assert m.feed(ProposalReceived(sp)) == []
    assert m.state.proposals == {}


def test_proposal_whose_block_does_not_hash_to_the_signed_block_hash_is_ignored() -> None:
    m = machine(ME)
    sp = propose(make_block(1, tag=1))
    forged = SignedProposal(proposal=sp.proposal, proposer=sp.proposer, signature=sp.signature, block=make_block(1))
    assert m.feed(ProposalReceived(forged)) == []
    assert m.state.proposals == {}


def test_proposal_claiming_a_proof_of_lock_from_its_own_round_is_ignored() -> None:
    m = machine(ME)
    assert m.feed(ProposalReceived(propose(make_block(1), round_=0, pol_round=0))) == []


def test_propose_timeout_prevotes_nil() -> None:
    m = machine(ME)
    effects = m.feed(TimeoutFired(1, 0, Step.PROPOSE))
    assert sign_votes(effects) == [Vote(chain_id=CHAIN, kind=PREVOTE, height=1, round=0, block_hash=NIL)]


def test_propose_timeout_of_another_round_is_ignored() -> None:
    m = machine(ME)
    assert m.feed(TimeoutFired(1, 1, Step.PROPOSE), TimeoutFired(2, 0, Step.PROPOSE)) == []


# -- prevotes to precommits -----------------------------------------------------------------------------------
def test_quorum_of_prevotes_for_the_block_locks_it_and_precommits_it() -> None:
    block = make_block(1)
    m, effects = locked_in_round_0(block)
    assert sign_votes(effects) == [Vote(chain_id=CHAIN, kind=PRECOMMIT, height=1, round=0, block_hash=bid(block))]
    assert (m.state.locked_round, m.state.locked_block) == (0, block)
    assert (m.state.valid_round, m.state.valid_block) == (0, block)
    assert m.state.step == Step.PRECOMMIT


def test_two_prevotes_for_the_block_are_not_a_quorum() -> None:
    m = machine(ME)
    block = make_block(1)
    m.echo(m.receive_valid(propose(block)))
    effects = m.votes(PREVOTE, 0, bid(block), ORDER[0])
    assert sign_votes(effects) == []
    assert m.state.locked_round == -1


def test_quorum_of_nil_prevotes_precommits_nil() -> None:
    m = machine(ME)
    m.echo(m.feed(TimeoutFired(1, 0, Step.PROPOSE)))
    a, b, _ = others(m.me)
    effects = m.votes(PREVOTE, 0, NIL, a, b)
    assert sign_votes(effects) == [Vote(chain_id=CHAIN, kind=PRECOMMIT, height=1, round=0, block_hash=NIL)]
    assert m.state.locked_round == -1


def test_quorum_of_mixed_prevotes_schedules_the_prevote_timeout_whose_firing_precommits_nil() -> None:
    m = machine(ME)
    block = make_block(1)
    m.echo(m.receive_valid(propose(block)))
    a, b, _ = others(m.me)
    effects = m.votes(PREVOTE, 0, NIL, a) + m.votes(PREVOTE, 0, bid(make_block(1, tag=9)), b)
    assert of_type(effects, ScheduleTimeout) == [ScheduleTimeout(1, 0, Step.PREVOTE, TIMEOUTS.prevote_ms)]
    assert sign_votes(effects) == []
    effects = m.feed(TimeoutFired(1, 0, Step.PREVOTE))
    assert sign_votes(effects) == [Vote(chain_id=CHAIN, kind=PRECOMMIT, height=1, round=0, block_hash=NIL)]


# -- deciding -------------------------------------------------------------------------------------------------
def test_quorum_of_precommits_for_a_valid_proposed_block_decides_it_once_with_a_verifiable_certificate() -> None:
    block = make_block(1)
    m, effects = locked_in_round_0(block)
    effects = m.echo(effects)
    a, b, c = others(m.me)
    effects += m.votes(PRECOMMIT, 0, bid(block), a, b)
    decides = of_type(effects, Decide)
    assert len(decides) == 1
    d = decides[0]
    assert (d.height, d.block, d.block_hash) == (1, block, bid(block))
    verify_commit(SUITE, CHAIN, VALSET, block.header, d.commit)
    assert sorted(cs.validator for cs in d.commit.signatures) == sorted([m.me, a, b])
    assert of_type(effects, ScheduleTimeout)[-1] == ScheduleTimeout(1, 0, Step.COMMIT, TIMEOUTS.commit_ms)
    late = m.votes(PRECOMMIT, 0, bid(block), c)
    assert of_type(late, Decide) == []


def test_quorum_of_precommits_waits_for_the_application_to_check_the_block() -> None:
    m = machine(None)
    block = make_block(1)
    effects = m.feed(ProposalReceived(propose(block)))
    effects += m.votes(PRECOMMIT, 0, bid(block), *ORDER[:3])
    assert of_type(effects, Decide) == []
    (decide,) = of_type(m.feed(ProposalChecked(1, bid(block), True)), Decide)
    assert decide.block == block


def test_quorum_of_precommits_for_an_invalid_block_is_never_decided() -> None:
    m = machine(None)
    block = make_block(1)
    m.feed(ProposalReceived(propose(block)), ProposalChecked(1, bid(block), False))
    assert of_type(m.votes(PRECOMMIT, 0, bid(block), *ORDER), Decide) == []


def test_quorum_of_precommits_without_the_proposal_does_not_decide() -> None:
    m = machine(None)
    assert of_type(m.votes(PRECOMMIT, 0, bid(make_block(1)), *ORDER), Decide) == []


def test_late_precommits_of_an_earlier_round_still_decide() -> None:
    m = machine(ME)
    block = make_block(1)
    m.echo(m.receive_valid(propose(block)))
    skip_to_round(m, 1)
    (decide,) = of_type(m.votes(PRECOMMIT, 0, bid(block), *others(m.me)), Decide)
    assert (decide.block, decide.commit.round) == (block, 0)


def test_a_proposal_arriving_after_its_quorum_of_precommits_is_decided_once_checked() -> None:
    m = machine(ME)
    block = make_block(1)
    m.votes(PRECOMMIT, 0, bid(block), *others(m.me))
    effects = m.feed(ProposalReceived(propose(block)))
    assert of_type(effects, Decide) == []
    (decide,) = of_type(m.feed(ProposalChecked(1, bid(block), True)), Decide)
    verify_commit(SUITE, CHAIN, VALSET, block.header, decide.commit)


def test_commit_timeout_after_a_decision_enters_the_next_height_at_round_zero() -> None:
    m = machine(None)
    block = make_block(1)
    m.receive_valid(propose(block))
    m.votes(PRECOMMIT, 0, bid(block), *ORDER[:3])
    effects = m.feed(TimeoutFired(1, 0, Step.COMMIT))
    assert (m.state.height, m.state.round, m.state.step) == (2, 0, Step.PROPOSE)
    assert effects == [ScheduleTimeout(2, 0, Step.PROPOSE, TIMEOUTS.propose_ms)]


def test_commit_timeout_without_a_decision_is_ignored() -> None:
    m = machine(ME)
    assert m.feed(TimeoutFired(1, 0, Step.COMMIT)) == []
    assert m.state.height == 1


def test_precommit_timeout_starts_the_next_round() -> None:
    m = machine(ME)
    m.echo(m.feed(TimeoutFired(1, 0, Step.PROPOSE)))
    m.echo(m.votes(PREVOTE, 0, NIL, *others(m.me)[:2]))
    effects = m.votes(PRECOMMIT, 0, NIL, *others(m.me)[:2])
    assert ScheduleTimeout(1, 0, Step.PRECOMMIT, TIMEOUTS.precommit_ms) in effects
    effects = m.feed(TimeoutFired(1, 0, Step.PRECOMMIT))
    assert (m.state.round, m.state.step) == (1, Step.PROPOSE)
    assert ScheduleTimeout(1, 1, Step.PROPOSE, TIMEOUTS.propose_ms + TIMEOUTS.propose_delta_ms) in effects


# -- locks ----------------------------------------------------------------------------------------------------
def test_locked_validator_prevotes_nil_for_a_different_fresh_proposal_in_a_later_round() -> None:
    block = make_block(1)
    m, _ = locked_in_round_0(block)
    skip_to_round(m, 2)
    effects = m.receive_valid(propose(make_block(1, tag=2), round_=2))
    assert sign_votes(effects) == [Vote(chain_id=CHAIN, kind=PREVOTE, height=1, round=2, block_hash=NIL)]


@pytest.mark.parametrize("pol_round", [-1, 0])
def test_locked_validator_prevotes_for_a_re_proposal_of_its_locked_block(pol_round: int) -> None:
    block = make_block(1)
    m, _ = locked_in_round_0(block)
    skip_to_round(m, 2)
    effects = m.feed(ProposalReceived(propose(block, round_=2, pol_round=pol_round)))
    assert sign_votes(effects) == [Vote(chain_id=CHAIN, kind=PREVOTE, height=1, round=2, block_hash=bid(block))]


def test_locked_validator_unlocks_for_a_proposal_whose_proof_of_lock_is_not_older_than_its_lock() -> None:
    locked, other = make_block(1), make_block(1, tag=2)
    m = machine(ME, round=2, locked_round=1, locked_block=locked)
    m.votes(PREVOTE, 1, bid(other), *others(m.me))
    effects = m.receive_valid(propose(other, round_=2, pol_round=1))
    assert sign_votes(effects) == [Vote(chain_id=CHAIN, kind=PREVOTE, height=1, round=2, block_hash=bid(other))]


def test_locked_validator_keeps_its_lock_against_a_proof_of_lock_older_than_its_lock() -> None:
    locked, other = make_block(1), make_block(1, tag=2)
    m = machine(ME, round=3, locked_round=2, locked_block=locked)
    m.votes(PREVOTE, 1, bid(other), *others(m.me))
    effects = m.receive_valid(propose(other, round_=3, pol_round=1))
    assert sign_votes(effects) == [Vote(chain_id=CHAIN, kind=PREVOTE, height=1, round=3, block_hash=NIL)]


def test_proposal_with_a_proof_of_lock_waits_for_the_quorum_of_prevotes_it_claims() -> None:
    other = make_block(1, tag=2)
    m = machine(ME, round=2)
    effects = m.receive_valid(propose(other, round_=2, pol_round=1))
    assert sign_votes(effects) == []
    effects = m.votes(PREVOTE, 1, bid(other), *others(m.me))
    assert sign_votes(effects) == [Vote(chain_id=CHAIN, kind=PREVOTE, height=1, round=2, block_hash=bid(other))]


def test_proposer_of_a_later_round_re_proposes_its_valid_block_with_its_valid_round() -> None:
    block = make_block(1)
    m, effects = locked_in_round_0(block)
    effects = m.echo(effects)
    a, b, _ = others(m.me)
    effects += m.votes(PRECOMMIT, 0, NIL, a, b)
    assert ScheduleTimeout(1, 0, Step.PRECOMMIT, TIMEOUTS.precommit_ms) in effects
    effects = m.feed(TimeoutFired(1, 0, Step.PRECOMMIT))
    assert proposer_of(m.state, 1, 1) == m.me
    assert of_type(effects, BuildProposal) == []
    (sp,) = of_type(effects, SignProposal)
    assert sp.proposal == Proposal(chain_id=CHAIN, height=1, round=1, pol_round=0, block_hash=bid(block))
    assert sp.block == block


def test_enter_height_with_a_lock_restores_it() -> None:
    locked, other = make_block(1), make_block(1, tag=2)
    m = machine(ME, round=2, locked_round=0, locked_block=locked)
    assert (m.state.locked_round, m.state.locked_block) == (0, locked)
    effects = m.receive_valid(propose(other, round_=2))
    assert sign_votes(effects) == [Vote(chain_id=CHAIN, kind=PREVOTE, height=1, round=2, block_hash=NIL)]


def test_enter_height_with_a_lock_as_the_rounds_proposer_re_proposes_the_locked_block() -> None:
    locked = make_block(1)
    m = Machine(new_state(SUITE, CHAIN, VALSET, ORDER[0], TIMEOUTS))
    effects = m.feed(EnterHeight(1, round=3, locked_round=1, locked_block=locked))  # ORDER[0] proposes (1, 3)
    (sp,) = of_type(effects, SignProposal)
    assert (sp.proposal.round, sp.proposal.pol_round, sp.block) == (3, 1, locked)


# -- rounds and heights ---------------------------------------------------------------------------------------
def test_votes_of_f_plus_one_validators_from_a_higher_round_skip_to_that_round() -> None:
    m = machine(ME)
    a, b, _ = others(m.me)
    m.votes(PREVOTE, 5, NIL, a)
    assert m.state.round == 0
    effects = m.votes(PRECOMMIT, 5, NIL, b)
    assert m.state.round == 5
    assert ScheduleTimeout(1, 5, Step.PROPOSE, TIMEOUTS.for_step(Step.PROPOSE, 5)) in effects


def test_votes_for_the_next_height_are_buffered_and_applied_after_entering_it() -> None:
    m = machine(ME)
    a, b, _ = others(m.me)
    effects = m.votes(PREVOTE, 1, NIL, a, b, height=2)
    assert effects == []
    assert (m.state.height, m.state.round) == (1, 0)
    effects = m.feed(EnterHeight(2))
    assert (m.state.height, m.state.round) == (2, 1)
    assert len(of_type(effects, RelayVote)) == 2


def test_proposal_for_the_next_height_is_buffered_and_checked_after_entering_it() -> None:
    m = machine(ME)
    block = make_block(2)
    assert m.feed(ProposalReceived(propose(block))) == []
    effects = m.feed(EnterHeight(2))
    assert of_type(effects, CheckProposal) == [CheckProposal(height=2, block=block, block_hash=bid(block))]


def test_votes_for_heights_further_ahead_are_dropped() -> None:
    m = machine(ME)
    m.votes(PREVOTE, 1, NIL, *others(m.me)[:2], height=3)
    m.feed(EnterHeight(3))
    assert m.state.round == 0


def test_votes_for_rounds_beyond_max_round_ahead_are_dropped() -> None:
    m = machine(ME)
    a, b, _ = others(m.me)
    effects = m.votes(PREVOTE, MAX_ROUND_AHEAD + 1, NIL, a, b)
    assert effects == []
    assert m.state.round == 0
    assert m.state.votes == {}


def test_votes_at_max_round_ahead_are_still_accepted() -> None:
    m = machine(ME)
    m.votes(PREVOTE, MAX_ROUND_AHEAD, NIL, *others(m.me)[:2])
    assert m.state.round == MAX_ROUND_AHEAD


def test_vote_from_a_non_validator_is_ignored() -> None:
    m = machine(ME)
    outsider = MemorySigner(b"\x77" * 32)
    v = Vote(chain_id=CHAIN, kind=PREVOTE, height=1, round=0, block_hash=NIL)
    sv = SignedVote(
        vote=v, validator=address_of(SUITE, outsider.public_key), signature=outsider.sign(vote_signing_bytes(v))
    )
    assert m.feed(VoteReceived(sv)) == []


def test_vote_with_a_bad_signature_is_ignored() -> None:
    m = machine(ME)
    good = vote(ORDER[0], PREVOTE, 1, 0, NIL)
    forged = SignedVote(vote=good.vote, validator=ORDER[1], signature=good.signature)
    assert m.feed(VoteReceived(forged)) == []
    assert m.state.votes.get((0, PREVOTE), {}) == {}


# -- duplicates and equivocation ------------------------------------------------------------------------------
def test_a_vote_seen_twice_is_counted_and_relayed_once() -> None:
    m = machine(ME)
    sv = vote(ORDER[0], PREVOTE, 1, 0, NIL)
    first = m.feed(VoteReceived(sv))
    assert first == [RelayVote(sv)]
    assert m.feed(VoteReceived(sv)) == []
    assert m.state.votes[(0, PREVOTE)] == {ORDER[0]: {NIL: sv}}


def test_two_different_votes_by_one_validator_for_one_round_and_kind_are_reported_as_evidence() -> None:
    m = machine(ME)
    a = vote(ORDER[0], PREVOTE, 1, 0, NIL)
    b = vote(ORDER[0], PREVOTE, 1, 0, bid(make_block(1)))
    m.feed(VoteReceived(a))
    effects = m.feed(VoteReceived(b))
    (report,) = of_type(effects, ReportEvidence)
    assert report.evidence == DuplicateVoteEvidence(a=a, b=b)
    assert check_evidence(SUITE, CHAIN, KEYS_BY_ADDR, report.evidence) is None
    third = vote(ORDER[0], PREVOTE, 1, 0, bid(make_block(1, tag=3)))
    assert of_type(m.feed(VoteReceived(third)), ReportEvidence) == []  # reported once per height, round, kind


def test_a_prevote_and_a_precommit_by_one_validator_are_not_equivocation() -> None:
    m = machine(ME)
    effects = m.votes(PREVOTE, 0, NIL, ORDER[0]) + m.votes(PRECOMMIT, 0, bid(make_block(1)), ORDER[0])
    assert of_type(effects, ReportEvidence) == []


def test_two_different_proposals_for_one_round_are_reported_as_evidence() -> None:
    m = machine(ME)
    first, second = propose(make_block(1)), propose(make_block(1, tag=1))
    m.feed(ProposalReceived(first))
    effects = m.feed(ProposalReceived(second))
    (report,) = of_type(effects, ReportEvidence)
    assert report.evidence == DuplicateProposalEvidence(a=header_of(first), b=header_of(second))
    assert check_evidence(SUITE, CHAIN, KEYS_BY_ADDR, report.evidence) is None
    assert m.state.proposals[0] == first


def test_a_relayed_conflicting_proposal_header_is_reported_as_evidence() -> None:
    m = machine(ME)
    first, second = propose(make_block(1)), propose(make_block(1, tag=1))
    m.feed(ProposalReceived(first))
    effects = m.feed(ProposalHeaderReceived(header_of(second)))
    (report,) = of_type(effects, ReportEvidence)
    assert report.evidence == DuplicateProposalEvidence(a=header_of(first), b=header_of(second))
    assert check_evidence(SUITE, CHAIN, KEYS_BY_ADDR, report.evidence) is None
    assert m.feed(ProposalReceived(second)) == []  # the same equivocation is reported once


def test_a_relayed_header_of_the_known_proposal_is_not_evidence() -> None:
    m = machine(ME)
    first = propose(make_block(1))
    m.feed(ProposalReceived(first))
    assert m.feed(ProposalHeaderReceived(header_of(first))) == []


def test_an_equivocating_validators_second_vote_counts_toward_its_blocks_quorum() -> None:
    m = machine(None)
    block = make_block(1)
    m.receive_valid(propose(block))
    byzantine, honest1, honest2, _ = ORDER
    m.votes(PRECOMMIT, 0, NIL, byzantine)
    m.votes(PRECOMMIT, 0, bid(block), honest1, honest2)
    effects = m.votes(PRECOMMIT, 0, bid(block), byzantine)
    assert of_type(effects, ReportEvidence) != []
    (decide,) = of_type(effects, Decide)
    verify_commit(SUITE, CHAIN, VALSET, block.header, decide.commit)
    assert byzantine in [cs.validator for cs in decide.commit.signatures]


# -- followers ------------------------------------------------------------------------------------------------
def test_a_follower_never_builds_proposes_or_votes_but_still_decides() -> None:
    m = Machine(new_state(SUITE, CHAIN, VALSET, None, TIMEOUTS))
    block = make_block(1)
    effects = m.feed(EnterHeight(1))
    effects += m.feed(TimeoutFired(1, 0, Step.PROPOSE))
    effects += m.votes(PREVOTE, 0, NIL, *ORDER[:3])
    effects += m.feed(TimeoutFired(1, 0, Step.PREVOTE), TimeoutFired(1, 0, Step.PRECOMMIT))
    for r in range(1, 5):  # every validator's turn as proposer goes by
        effects += m.feed(TimeoutFired(1, r - 1, Step.PRECOMMIT))
        if r < 4:
            effects += m.feed(TimeoutFired(1, r, Step.PROPOSE))
    assert m.state.round == 4
    effects += m.feed(ProposalBuilt(height=1, round=4, block=block))
    effects += m.receive_valid(propose(block, round_=4))
    effects += m.votes(PREVOTE, 4, bid(block), *ORDER[:3])
    effects += m.votes(PRECOMMIT, 4, bid(block), *ORDER[:3])
    assert of_type(effects, SignVote) == []
    assert of_type(effects, SignProposal) == []
    assert of_type(effects, BuildProposal) == []
    (decide,) = of_type(effects, Decide)
    assert decide.block == block
