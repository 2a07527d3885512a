"""Transaction handlers of the ``evidence`` module: pure functions of a context and a message (docs/spec/consensus.md)."""

from __future__ import annotations

from trellis.core.codec import encode
from trellis.core.crypto.suite import address_of
from trellis.core.execution.context import TxContext
from trellis.core.execution.results import ResultCode, TxFailure
from trellis.core.ledger.block import Event
from trellis.core.ledger.votes import DuplicateVoteEvidence, check_evidence, evidence_offender
from trellis.core.modules.evidence.messages import SubmitEvidence
from trellis.core.modules.evidence.state import EvidenceRecord, evidence_key
from trellis.core.modules.validators.state import entry_in_force


def handle_submit_evidence(ctx: TxContext, msg: SubmitEvidence) -> list[Event]:
    """Record proof that a validator equivocated (two conflicting votes or proposals), once.

    The signer is looked up in ``set(h)`` of the evidence's height h, read from the state (ADR 0014): evidence
    against a validator removed since still counts, evidence for a height above this block's does not.
    """
    params = ctx.params
    ev = msg.evidence
    height = ev.a.vote.height if isinstance(ev, DuplicateVoteEvidence) else ev.a.proposal.height
    # The signer must be a validator of the set in force at the evidence's height (ADR 0014 section 5).
    if not 1 <= height <= ctx.height:
        raise TxFailure(
            ResultCode.INVALID_EVIDENCE,
            f"not evidence of equivocation: height {height} is not between 1 and this block's {ctx.height}",
        )
    valset = entry_in_force(ctx, height).validators
    keys = {address_of(params.suite, v.public_key): v.public_key for v in valset.validators}
    why = check_evidence(params.suite, params.chain_id, keys, ev)
    if why is not None:
        raise TxFailure(ResultCode.INVALID_EVIDENCE, f"not evidence of equivocation: {why}")
    offender = evidence_offender(ev)
    rnd = ev.a.vote.round if isinstance(ev, DuplicateVoteEvidence) else ev.a.proposal.round
    kind = "duplicate_vote" if isinstance(ev, DuplicateVoteEvidence) else "duplicate_proposal"
    # One record per offence (offender, height, round, kind), whichever pair of messages proves it.
    key = evidence_key(offender, height, rnd, kind)
    if ctx.get(key) is not None:
        raise TxFailure(ResultCode.DUPLICATE, "this equivocation is already recorded")
    record = EvidenceRecord(offender=offender, height=height, round=rnd, kind=kind, recorded_at=ctx.height, evidence=ev)
    ctx.put(key, encode(record))
    return [
        Event(
            type="evidence",
            attributes=[("offender", offender), ("kind", kind.encode()), ("height", str(height).encode())],
        )
    ]
