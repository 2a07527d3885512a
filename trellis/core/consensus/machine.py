"""The consensus state machine for one height at a time (Tendermint, "The latest gossip on BFT consensus",
Buchman, Kwon, Milosevic 2018, Algorithm 1), with the application and signing moved out as effects.

``step(state, event)`` applies one event and returns the effects to carry out, in order. The state object is
owned by the machine and updated in place; everything it does is a deterministic function of the events.

Quorums are by voting power: a *quorum* is more than 2/3 of the total, *f+1* is more than 1/3.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

from trellis.core.consensus.messages import (
    DuplicateProposalEvidence,
    DuplicateVoteEvidence,
    Proposal,
    SignedProposal,
    SignedProposalHeader,
    SignedVote,
    header_of,
    verify_proposal_signature,
    verify_vote_signature,
)
from trellis.core.crypto.suite import Suite, address_of
from trellis.core.ledger.block import Block, Commit, CommitSig, ValidatorSet, block_hash
from trellis.core.ledger.votes import PRECOMMIT, PREVOTE, Vote
from trellis.core.types import ZERO_HASH

NIL = ZERO_HASH
MAX_ROUND_AHEAD = 64
"""Messages for rounds further ahead of the current one are dropped (bounds memory under attack)."""
MAX_BUFFERED = 4096
"""Most messages for the next height kept until the machine gets there."""
MAX_BUFFERED_PROPOSALS_PER_PROPOSER = 2
"""Most proposals for the next height kept per proposer (each signed by the proposer of its round; the shell
refuses a block over ``max_block_bytes`` before the machine sees it, so this also bounds a proposer's bytes)."""


class Step(IntEnum):
    """Where a round is."""

    PROPOSE = 0
    PREVOTE = 1
    PRECOMMIT = 2
    COMMIT = 3
    """Decided; waiting for the commit timeout before the next height."""


@dataclass(frozen=True)
class Timeouts:
    """Timeouts in ms; each grows by its delta every round, so a slow network is eventually waited for."""

    propose_ms: int = 1000
    propose_delta_ms: int = 500
    prevote_ms: int = 500
    prevote_delta_ms: int = 250
    precommit_ms: int = 500
    precommit_delta_ms: int = 250
    commit_ms: int = 50
    """Pause after a decision before the next height (lets transactions gather, late precommits arrive)."""

    def for_step(self, step: Step, round_: int) -> int:
        """Return the timeout of ``step`` in ``round_``."""
        if step == Step.PROPOSE:
            return self.propose_ms + round_ * self.propose_delta_ms
        if step == Step.PREVOTE:
            return self.prevote_ms + round_ * self.prevote_delta_ms
        if step == Step.PRECOMMIT:
            return self.precommit_ms + round_ * self.precommit_delta_ms
        return self.commit_ms


# -- events ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class EnterHeight:
    """Start at ``height`` — at boot and after a block was obtained by sync.

    A validator restarting mid-height passes the round it had reached and the lock its write-ahead log
    records (it precommitted ``locked_block`` in ``locked_round``), so it never votes against its lock.

    ``validators`` is ``set(height)``, the set that signs this height's commit (its power, keys, proposer order
    and quorum are used at ``height``), and ``next_validators`` is ``set(height + 1)``, against which messages for
    the next height are checked before they are buffered. ``None`` keeps the set the machine holds.
    """

    height: int
    round: int = 0
    locked_round: int = -1
    locked_block: Block | None = None
    validators: ValidatorSet | None = None
    next_validators: ValidatorSet | None = None


@dataclass(frozen=True)
class ProposalReceived:
    """A signed proposal arrived (from a peer or from this node's own signer)."""

    proposal: SignedProposal


@dataclass(frozen=True)
class VoteReceived:
    """A signed vote arrived (from a peer or from this node's own signer)."""

    vote: SignedVote


@dataclass(frozen=True)
class ProposalHeaderReceived:
    """A peer relayed the signed part of a proposal it saw (so double proposals are detected by all)."""

    header: SignedProposalHeader


@dataclass(frozen=True)
class TimeoutFired:
    """A timeout scheduled by ``ScheduleTimeout`` expired."""

    height: int
    round: int
    step: Step


@dataclass(frozen=True)
class ProposalBuilt:
    """The application built the block this node proposes (answer to ``BuildProposal``)."""

    height: int
    round: int
    block: Block


@dataclass(frozen=True)
class ProposalChecked:
    """The application checked a proposed block (answer to ``CheckProposal``)."""

    height: int
    block_hash: bytes
    valid: bool


Event = (
    EnterHeight
    | ProposalReceived
    | ProposalHeaderReceived
    | VoteReceived
    | TimeoutFired
    | ProposalBuilt
    | ProposalChecked
)


# -- effects --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class BuildProposal:
    """Ask the application for a new block at ``height``; answer with ``ProposalBuilt``."""

    height: int
    round: int


@dataclass(frozen=True)
class SignProposal:
    """Sign ``proposal`` (refusing anything that conflicts with what was signed before), broadcast it with
    ``block``, and feed it back as ``ProposalReceived``."""

    proposal: Proposal
    block: Block


@dataclass(frozen=True)
class SignVote:
    """Sign ``vote`` (refusing anything that conflicts with what was signed before), broadcast it, and feed
    it back as ``VoteReceived``."""

    vote: Vote


@dataclass(frozen=True)
class CheckProposal:
    """Ask the application whether ``block`` is valid at its height; answer with ``ProposalChecked``."""

    height: int
    block: Block
    block_hash: bytes


@dataclass(frozen=True)
class ScheduleTimeout:
    """Fire ``TimeoutFired(height, round, step)`` after ``delay_ms``."""

    height: int
    round: int
    step: Step
    delay_ms: int


@dataclass(frozen=True)
class Decide:
    """``block`` is final at ``height`` with certificate ``commit``: commit it to the application."""

    height: int
    block: Block
    block_hash: bytes
    commit: Commit


@dataclass(frozen=True)
class RelayVote:
    """Pass on a peer's vote seen for the first time, so that every honest node sees every vote an honest
    node has (the gossip assumption behind the protocol's liveness)."""

    vote: SignedVote


@dataclass(frozen=True)
class ReportEvidence:
    """Equivocation was seen: record it on chain."""

    evidence: DuplicateVoteEvidence | DuplicateProposalEvidence


Effect = BuildProposal | SignProposal | SignVote | CheckProposal | ScheduleTimeout | Decide | RelayVote | ReportEvidence


# -- state ----------------------------------------------------------------------------------------------------
@dataclass
class ConsensusState:
    """The machine's state. Create with ``new_state``; change only through ``step``."""

    suite: Suite
    chain_id: str
    valset: ValidatorSet
    """``set(height)``: the validators of the current height."""
    me: bytes | None
    """This node's validator address, or None for a node that only follows. It proposes and votes only at a
    height whose set contains it."""
    timeouts: Timeouts
    power: dict[bytes, int]
    keys: dict[bytes, bytes]
    order: list[bytes]
    """Validator addresses in proposer order (ascending address)."""
    total_power: int
    next_valset: ValidatorSet
    """``set(height + 1)``: what messages for the next height are checked against before buffering."""
    next_keys: dict[bytes, bytes]
    next_order: list[bytes]
    height: int = 0
    round: int = 0
    step: Step = Step.PROPOSE
    locked_round: int = -1
    locked_block: Block | None = None
    valid_round: int = -1
    valid_block: Block | None = None
    proposals: dict[int, SignedProposal] = field(default_factory=dict)
    validity: dict[bytes, bool] = field(default_factory=dict)
    check_requested: set[bytes] = field(default_factory=set)
    votes: dict[tuple[int, int], dict[bytes, dict[bytes, SignedVote]]] = field(default_factory=dict)
    """(round, kind) -> validator -> block hash -> vote. An equivocating validator may appear under several
    block hashes: each counts toward that block's tally (safe: two quorums for different blocks still
    overlap in more than f power), and every honest node can still see a quorum that a Byzantine validator
    split between them."""
    fired_once: set[tuple[str, int]] = field(default_factory=set)
    decided: bool = False
    buffered: list[Event] = field(default_factory=list)
    reported: set[tuple[bytes, int, int, int]] = field(default_factory=set)


def new_state(
    suite: Suite, chain_id: str, valset: ValidatorSet, me: bytes | None, timeouts: Timeouts
) -> ConsensusState:
    """Return a machine for ``valset`` (not yet at any height; send ``EnterHeight`` first, which may name the
    sets of its height and the next; until then both are ``valset``)."""
    keys = {address_of(suite, v.public_key): v.public_key for v in valset.validators}
    state = ConsensusState(
        suite=suite,
        chain_id=chain_id,
        valset=valset,
        me=me,
        timeouts=timeouts,
        power={},
        keys={},
        order=[],
        total_power=0,
        next_valset=valset,
        next_keys=keys,
        next_order=sorted(keys),
    )
    _use_validators(state, valset)
    return state


def _use_validators(state: ConsensusState, valset: ValidatorSet) -> None:
    """Make ``valset`` the set of the current height (power, keys, proposer order, quorum)."""
    if valset is state.valset and state.order:
        return  # the set held (the shell passes the same object while the set does not change)
    suite = state.suite
    state.valset = valset
    state.power = {address_of(suite, v.public_key): v.power for v in valset.validators}
    state.keys = {address_of(suite, v.public_key): v.public_key for v in valset.validators}
    state.order = sorted(state.power)
    state.total_power = sum(state.power.values())


def _use_next_validators(state: ConsensusState, valset: ValidatorSet) -> None:
    """Make ``valset`` the set that messages for the next height are checked against."""
    if valset is state.next_valset:
        return
    state.next_valset = valset
    state.next_keys = {address_of(state.suite, v.public_key): v.public_key for v in valset.validators}
    state.next_order = sorted(state.next_keys)


def proposer_from_order(order: list[bytes], height: int, round_: int) -> bytes:
    """The proposer of ``(height, round)`` among ``order`` (the addresses of ``set(height)``, ascending):
    validators take turns in address order."""
    return order[(height + round_) % len(order)]


def proposer_of(state: ConsensusState, height: int, round_: int) -> bytes:
    """The proposer of ``(height, round)`` for the machine's current height (over ``set(height)``) or the next
    one (over ``set(height + 1)``)."""
    order = state.next_order if height == state.height + 1 else state.order
    return proposer_from_order(order, height, round_)


def is_voter(state: ConsensusState) -> bool:
    """Whether this node proposes and votes at the current height: it has a key and is in ``set(height)``."""
    return state.me is not None and state.me in state.power


def _quorum(state: ConsensusState, power: int) -> bool:
    return power * 3 > state.total_power * 2


def _one_third(state: ConsensusState, power: int) -> bool:
    return power * 3 > state.total_power


MAX_CONFLICTING = 4
"""Votes kept per validator, round and kind for blocks that no proposal of this height names."""


def _tally(state: ConsensusState, round_: int, kind: int) -> tuple[dict[bytes, int], int]:
    """Power per block hash (each validator counted once per block) and the power of all who voted."""
    per_block: dict[bytes, int] = {}
    total = 0
    for addr, by_block in state.votes.get((round_, kind), {}).items():
        p = state.power[addr]
        for bid in by_block:
            per_block[bid] = per_block.get(bid, 0) + p
        total += p
    return per_block, total


# -- transitions ----------------------------------------------------------------------------------------------
def step(state: ConsensusState, event: Event) -> tuple[ConsensusState, list[Effect]]:
    """Apply ``event``; return the state and the effects to carry out, in order."""
    effects: list[Effect] = []
    if isinstance(event, EnterHeight):
        if event.validators is not None:
            _use_validators(state, event.validators)
        if event.next_validators is not None:
            _use_next_validators(state, event.next_validators)
        _enter_height(state, event.height, effects, event.round, event.locked_round, event.locked_block)
    elif isinstance(event, ProposalReceived):
        _on_proposal(state, event, effects)
    elif isinstance(event, VoteReceived):
        _on_vote(state, event, effects)
    elif isinstance(event, ProposalHeaderReceived):
        _on_proposal_header(state, event.header, effects)
    elif isinstance(event, TimeoutFired):
        _on_timeout(state, event, effects)
    elif isinstance(event, ProposalBuilt):
        if (
            event.height == state.height
            and event.round == state.round
            and state.step == Step.PROPOSE
            and state.me == proposer_of(state, state.height, state.round)
            and state.round not in state.proposals
        ):
            bid = block_hash(state.suite, event.block.header)
            state.validity[bid] = True
            p = Proposal(chain_id=state.chain_id, height=state.height, round=state.round, pol_round=-1, block_hash=bid)
            effects.append(SignProposal(proposal=p, block=event.block))
    elif isinstance(event, ProposalChecked):
        if event.height == state.height:
            state.validity[event.block_hash] = event.valid
    _apply_rules(state, effects)
    return state, effects


def _enter_height(
    state: ConsensusState,
    height: int,
    effects: list[Effect],
    round_: int = 0,
    locked_round: int = -1,
    locked_block: Block | None = None,
) -> None:
    state.height = height
    if locked_block is None:
        locked_round = -1
    state.locked_round, state.locked_block = locked_round, locked_block
    state.valid_round, state.valid_block = locked_round, locked_block
    state.proposals.clear()
    state.validity.clear()
    state.check_requested.clear()
    state.votes.clear()
    state.fired_once.clear()
    state.decided = False
    state.reported.clear()
    buffered, state.buffered = state.buffered, []
    _start_round(state, round_, effects)
    for ev in buffered:
        if isinstance(ev, ProposalReceived) and ev.proposal.proposal.height == height:
            _on_proposal(state, ev, effects)
        elif isinstance(ev, VoteReceived) and ev.vote.vote.height == height:
            _on_vote(state, ev, effects)


def _start_round(state: ConsensusState, round_: int, effects: list[Effect]) -> None:
    state.round = round_
    state.step = Step.PROPOSE
    if is_voter(state) and state.me == proposer_of(state, state.height, round_):
        # valid_round < round_ always holds except when a validator restarts in the round it locked in.
        if state.valid_block is not None and state.valid_round < round_:
            p = Proposal(
                chain_id=state.chain_id,
                height=state.height,
                round=round_,
                pol_round=state.valid_round,
                block_hash=block_hash(state.suite, state.valid_block.header),
            )
            effects.append(SignProposal(proposal=p, block=state.valid_block))
        else:
            effects.append(BuildProposal(height=state.height, round=round_))
    effects.append(ScheduleTimeout(state.height, round_, Step.PROPOSE, state.timeouts.for_step(Step.PROPOSE, round_)))


def _buffer(state: ConsensusState, ev: Event) -> None:
    if len(state.buffered) < MAX_BUFFERED:
        state.buffered.append(ev)


def _on_proposal(state: ConsensusState, ev: ProposalReceived, effects: list[Effect]) -> None:
    sp = ev.proposal
    p = sp.proposal
    if p.chain_id != state.chain_id:
        return
    if p.height == state.height + 1:
        if _may_buffer_proposal(state, sp):
            _buffer(state, ev)
        return
    if p.height != state.height or p.round > state.round + MAX_ROUND_AHEAD or p.pol_round >= p.round:
        return
    if sp.proposer != proposer_of(state, p.height, p.round):
        return
    if not verify_proposal_signature(state.suite, state.keys[sp.proposer], header_of(sp)):
        return
    bid = block_hash(state.suite, sp.block.header)
    if bid != p.block_hash or sp.block.header.height != p.height:
        return
    existing = state.proposals.get(p.round)
    if existing is not None:
        if existing.proposal != p:
            key = (sp.proposer, p.height, p.round, 0)
            if key not in state.reported:
                state.reported.add(key)
                effects.append(ReportEvidence(DuplicateProposalEvidence(a=header_of(existing), b=header_of(sp))))
        return
    state.proposals[p.round] = sp
    _request_check(state, sp.block, bid, effects)


def _may_buffer_proposal(state: ConsensusState, sp: SignedProposal) -> bool:
    """Whether a proposal for the next height is kept until the machine gets there: signed by the proposer of
    its (height, round), a round the machine may reach, not kept already, and within its proposer's bound."""
    p = sp.proposal
    if p.round > MAX_ROUND_AHEAD or p.pol_round >= p.round or sp.proposer != proposer_of(state, p.height, p.round):
        return False
    kept = [
        ev.proposal.proposal
        for ev in state.buffered
        if isinstance(ev, ProposalReceived) and ev.proposal.proposer == sp.proposer
    ]
    if p in kept or len(kept) >= MAX_BUFFERED_PROPOSALS_PER_PROPOSER:
        return False
    return verify_proposal_signature(state.suite, state.next_keys[sp.proposer], header_of(sp))


def _report_double_proposal(
    state: ConsensusState, existing: SignedProposal, other: SignedProposalHeader, effects: list[Effect]
) -> None:
    p = other.proposal
    key = (other.proposer, p.height, p.round, 0)
    if key not in state.reported:
        state.reported.add(key)
        effects.append(ReportEvidence(DuplicateProposalEvidence(a=header_of(existing), b=other)))


def _on_proposal_header(state: ConsensusState, h: SignedProposalHeader, effects: list[Effect]) -> None:
    p = h.proposal
    if p.chain_id != state.chain_id or p.height != state.height:
        return
    existing = state.proposals.get(p.round)
    if existing is None or existing.proposal == p or h.proposer != existing.proposer:
        return
    if verify_proposal_signature(state.suite, state.keys[h.proposer], h):
        _report_double_proposal(state, existing, h, effects)


def _request_check(state: ConsensusState, block: Block, bid: bytes, effects: list[Effect]) -> None:
    if bid not in state.validity and bid not in state.check_requested:
        state.check_requested.add(bid)
        effects.append(CheckProposal(height=state.height, block=block, block_hash=bid))


def _on_vote(state: ConsensusState, ev: VoteReceived, effects: list[Effect]) -> None:
    sv = ev.vote
    v = sv.vote
    if v.chain_id != state.chain_id or v.kind not in (PREVOTE, PRECOMMIT):
        return
    if v.height not in (state.height, state.height + 1) or v.round > state.round + MAX_ROUND_AHEAD:
        return
    # A vote for the next height is checked against set(height + 1) before it is buffered, and against the set
    # the machine then holds when it is replayed; one by an address outside the set is dropped.
    keys = state.next_keys if v.height == state.height + 1 else state.keys
    key = keys.get(sv.validator)
    if key is None or not verify_vote_signature(state.suite, key, sv):
        return
    if v.height == state.height + 1:
        _buffer(state, ev)
        return
    by_block = state.votes.setdefault((v.round, v.kind), {}).setdefault(sv.validator, {})
    if v.block_hash in by_block:
        return
    if by_block:
        first = next(iter(by_block.values()))
        rkey = (sv.validator, v.height, v.round, v.kind)
        if rkey not in state.reported:
            state.reported.add(rkey)
            effects.append(ReportEvidence(DuplicateVoteEvidence(a=first, b=sv)))
        known = v.block_hash == NIL or any(p.proposal.block_hash == v.block_hash for p in state.proposals.values())
        if len(by_block) >= MAX_CONFLICTING and not known:
            return
    by_block[v.block_hash] = sv
    if sv.validator != state.me:
        effects.append(RelayVote(sv))


def _on_timeout(state: ConsensusState, ev: TimeoutFired, effects: list[Effect]) -> None:
    if ev.height != state.height:
        return
    if ev.step == Step.COMMIT:
        if state.decided:
            # Unless the shell names the sets (EnterHeight), the next height's set is the one announced for it,
            # and the set after it is assumed unchanged (messages buffered under it are checked again on entry).
            _use_validators(state, state.next_valset)
            _enter_height(state, state.height + 1, effects)
        return
    if ev.round != state.round:
        return
    if ev.step == Step.PROPOSE and state.step == Step.PROPOSE:
        _vote(state, PREVOTE, NIL, effects)
        state.step = Step.PREVOTE
    elif ev.step == Step.PREVOTE and state.step == Step.PREVOTE:
        _vote(state, PRECOMMIT, NIL, effects)
        state.step = Step.PRECOMMIT
    elif ev.step == Step.PRECOMMIT and not state.decided:
        _start_round(state, state.round + 1, effects)


def _vote(state: ConsensusState, kind: int, bid: bytes, effects: list[Effect]) -> None:
    if not is_voter(state):
        return
    effects.append(
        SignVote(Vote(chain_id=state.chain_id, kind=kind, height=state.height, round=state.round, block_hash=bid))
    )


def _once(state: ConsensusState, name: str, round_: int) -> bool:
    key = (name, round_)
    if key in state.fired_once:
        return False
    state.fired_once.add(key)
    return True


def _apply_rules(state: ConsensusState, effects: list[Effect]) -> None:
    """Fire every rule whose condition holds, until none does."""
    progressed = True
    while progressed and not state.decided:
        progressed = _decide(state, effects) or _skip_round(state, effects) or _round_rules(state, effects)


def _decide(state: ConsensusState, effects: list[Effect]) -> bool:
    for r, sp in state.proposals.items():
        bid = sp.proposal.block_hash
        per_block, _ = _tally(state, r, PRECOMMIT)
        if not _quorum(state, per_block.get(bid, 0)):
            continue
        valid = state.validity.get(bid)
        if valid is None:
            _request_check(state, sp.block, bid, effects)
            continue
        if not valid:
            continue  # a quorum precommitted an invalid block: more than f are faulty; never decide it
        sigs = sorted(
            (
                CommitSig(validator=addr, signature=by_block[bid].signature)
                for addr, by_block in state.votes[(r, PRECOMMIT)].items()
                if bid in by_block
            ),
            key=lambda c: c.validator,
        )
        commit = Commit(height=state.height, round=r, block_hash=bid, signatures=sigs)
        state.decided = True
        state.step = Step.COMMIT
        effects.append(Decide(height=state.height, block=sp.block, block_hash=bid, commit=commit))
        effects.append(ScheduleTimeout(state.height, r, Step.COMMIT, state.timeouts.commit_ms))
        return True
    return False


def _skip_round(state: ConsensusState, effects: list[Effect]) -> bool:
    ahead: dict[int, set[bytes]] = {}
    for (r, _kind), box in state.votes.items():
        if r > state.round:
            ahead.setdefault(r, set()).update(box)
    for r in sorted(ahead, reverse=True):
        if _one_third(state, sum(state.power[a] for a in ahead[r])):
            _start_round(state, r, effects)
            return True
    return False


def _round_rules(state: ConsensusState, effects: list[Effect]) -> bool:
    r = state.round
    sp = state.proposals.get(r)
    prevotes, prevote_total = _tally(state, r, PREVOTE)
    _, precommit_total = _tally(state, r, PRECOMMIT)
    fired = False

    if state.step == Step.PROPOSE and sp is not None:
        bid = sp.proposal.block_hash
        valid = state.validity.get(bid)
        vr = sp.proposal.pol_round
        if vr == -1 and valid is not None:
            ok = valid and (state.locked_round == -1 or _is_locked_on(state, bid))
            _vote(state, PREVOTE, bid if ok else NIL, effects)
            state.step = Step.PREVOTE
            fired = True
        elif 0 <= vr < r and valid is not None:
            pol, _ = _tally(state, vr, PREVOTE)
            if _quorum(state, pol.get(bid, 0)):
                ok = valid and (state.locked_round <= vr or _is_locked_on(state, bid))
                _vote(state, PREVOTE, bid if ok else NIL, effects)
                state.step = Step.PREVOTE
                fired = True

    if state.step == Step.PREVOTE and _quorum(state, prevote_total) and _once(state, "prevote_timeout", r):
        effects.append(ScheduleTimeout(state.height, r, Step.PREVOTE, state.timeouts.for_step(Step.PREVOTE, r)))

    if sp is not None and state.step >= Step.PREVOTE and state.step != Step.COMMIT:
        bid = sp.proposal.block_hash
        if _quorum(state, prevotes.get(bid, 0)) and state.validity.get(bid) and _once(state, "polka", r):
            if state.step == Step.PREVOTE:
                state.locked_round, state.locked_block = r, sp.block
                _vote(state, PRECOMMIT, bid, effects)
                state.step = Step.PRECOMMIT
            state.valid_round, state.valid_block = r, sp.block
            fired = True

    if state.step == Step.PREVOTE and _quorum(state, prevotes.get(NIL, 0)):
        _vote(state, PRECOMMIT, NIL, effects)
        state.step = Step.PRECOMMIT
        fired = True

    if _quorum(state, precommit_total) and _once(state, "precommit_timeout", r):
        effects.append(ScheduleTimeout(state.height, r, Step.PRECOMMIT, state.timeouts.for_step(Step.PRECOMMIT, r)))
    return fired


def gossip_set(state: ConsensusState) -> tuple[list[SignedProposal], list[SignedVote]]:
    """The messages worth resending periodically: proposals and votes of the current round, the previous
    one, and the lock and valid rounds (what a peer that lost messages needs to catch up)."""
    rounds = {r for r in (state.round, state.round - 1, state.locked_round, state.valid_round) if r >= 0}
    props = [state.proposals[r] for r in sorted(rounds) if r in state.proposals]
    votes = [
        sv
        for (r, _kind), box in sorted(state.votes.items())
        if r in rounds
        for by_block in box.values()
        for sv in by_block.values()
    ]
    return props, votes


def _is_locked_on(state: ConsensusState, bid: bytes) -> bool:
    return state.locked_block is not None and block_hash(state.suite, state.locked_block.header) == bid
