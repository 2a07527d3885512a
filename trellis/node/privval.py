"""The private validator: signs proposals and votes with the validator key, and never two that conflict.

Rule (as in CometBFT's last-sign-state): messages are ordered by (height, round, step) with
proposal < prevote < precommit. This validator signs a message only if it is strictly after everything it
signed before, or identical to something it already signed (then the same signature is returned). Every new
signature is appended to the write-ahead log and made durable before it leaves the process: either at once
(the default), or — when the caller signs several messages in a row (``sync=False``) — by one ``sync`` that
the caller runs before it sends any of them (group commit: one fsync per burst instead of one per message).
"""

from __future__ import annotations

import logging

from trellis.core.consensus.messages import Proposal, SignedProposal, SignedVote, proposal_signing_bytes
from trellis.core.crypto.suite import Suite, address_of
from trellis.core.execution.block import ExecutedBlock
from trellis.core.ledger.block import Block, Commit, CommitSig
from trellis.core.ledger.votes import PRECOMMIT, Vote, vote_signing_bytes
from trellis.keys.signer import Signer
from trellis.node.wal import Wal, WalRecord

log = logging.getLogger("trellis.privval")

_PROPOSAL_STEP = 0
WAL_PRUNE_EVERY = 64


class PrivValidator:
    """Signs consensus messages safely across restarts."""

    def __init__(self, suite: Suite, signer: Signer, wal: Wal) -> None:
        self.suite = suite
        self.signer = signer
        self.wal = wal
        self.address = address_of(suite, signer.public_key)
        self._last: tuple[int, int, int] = (-1, -1, -1)
        self._votes: dict[tuple[int, int, int], SignedVote] = {}
        self._proposals: dict[tuple[int, int], SignedProposal] = {}
        self._locks: dict[tuple[int, int], Block] = {}
        self._prune_calls = 0
        for rec in wal.records():
            if rec.vote is not None:
                v = rec.vote.vote
                self._votes[(v.height, v.round, v.kind)] = rec.vote
                if rec.locked_block is not None:
                    self._locks[(v.height, v.round)] = rec.locked_block
                self._last = max(self._last, (v.height, v.round, v.kind))
            elif rec.proposal is not None:
                p = rec.proposal.proposal
                self._proposals[(p.height, p.round)] = rec.proposal
                self._last = max(self._last, (p.height, p.round, _PROPOSAL_STEP))

    def sign_vote(self, vote: Vote, locked_block: Block | None = None, *, sync: bool = True) -> SignedVote | None:
        """Return the signed vote, or None if signing it could contradict an earlier signature.

        ``locked_block``: with a non-nil precommit, the block it locks on, kept in the WAL with the vote.
        ``sync=False``: the WAL record is written but not yet durable; the caller must call ``sync`` before
        the vote leaves the process.
        """
        key = (vote.height, vote.round, vote.kind)
        prior = self._votes.get(key)
        if prior is not None:
            if prior.vote == vote:
                return prior
            log.error("refusing to sign a conflicting vote at height %d round %d kind %d", *key)
            return None
        if key <= self._last:
            log.warning("refusing to sign a vote at %s: already signed up to %s", key, self._last)
            return None
        sv = SignedVote(vote=vote, validator=self.address, signature=self.signer.sign(vote_signing_bytes(vote)))
        self.wal.append(WalRecord(vote=sv, proposal=None, locked_block=locked_block), sync=sync)
        if locked_block is not None:
            self._locks[(vote.height, vote.round)] = locked_block
        self._votes[key] = sv
        self._last = key
        return sv

    def sign_proposal(self, proposal: Proposal, block: Block, *, sync: bool = True) -> SignedProposal | None:
        """Return the signed proposal, or None if it could contradict an earlier signature (``sync`` as for
        ``sign_vote``)."""
        key = (proposal.height, proposal.round)
        prior = self._proposals.get(key)
        if prior is not None:
            if prior.proposal == proposal:
                return prior
            log.error("refusing to sign a second proposal at height %d round %d", *key)
            return None
        if (proposal.height, proposal.round, _PROPOSAL_STEP) <= self._last:
            return None
        sp = SignedProposal(
            proposal=proposal,
            proposer=self.address,
            signature=self.signer.sign(proposal_signing_bytes(proposal)),
            block=block,
        )
        self.wal.append(WalRecord(vote=None, proposal=sp), sync=sync)
        self._proposals[key] = sp
        self._last = (proposal.height, proposal.round, _PROPOSAL_STEP)
        return sp

    def sync(self) -> None:
        """Make every signature given so far durable (after ``sign_*(..., sync=False)``)."""
        self.wal.sync()

    def signed_at(self, height: int) -> tuple[list[SignedProposal], list[SignedVote]]:
        """Everything signed at ``height`` (for rebroadcast and for restoring state after a restart)."""
        props = [p for (h, _), p in sorted(self._proposals.items()) if h == height]
        votes = [v for (h, _, _), v in sorted(self._votes.items()) if h == height]
        return props, votes

    def lock_at(self, height: int) -> tuple[int, Block | None]:
        """The latest lock this validator took at ``height``: (round, block), or (-1, None)."""
        rounds = [r for (h, r) in self._locks if h == height]
        if not rounds:
            return -1, None
        r = max(rounds)
        return r, self._locks[(height, r)]

    def close(self) -> None:
        """Release the WAL."""
        close = getattr(self.wal, "close", None)
        if close is not None:
            close()

    def prune(self, below_height: int) -> None:
        """Forget messages of finished heights (they can no longer conflict: those heights are decided).

        The WAL itself is compacted once every ``WAL_PRUNE_EVERY`` calls: rewriting it costs two fsyncs, and
        records of finished heights are harmless (nothing at or below them is ever signed again).
        """
        self._prune_calls += 1
        if self._prune_calls % WAL_PRUNE_EVERY == 0:
            self.wal.prune(below_height)
        self._votes = {k: v for k, v in self._votes.items() if k[0] >= below_height}
        self._proposals = {k: v for k, v in self._proposals.items() if k[0] >= below_height}
        self._locks = {k: v for k, v in self._locks.items() if k[0] >= below_height}


def solo_commit(suite: Suite, chain_id: str, signer: Signer, executed: ExecutedBlock) -> Commit:
    """A commit certificate carrying one precommit by ``signer`` (valid when it holds more than 2/3 of the
    power, as the sole validator does): for tools and tests that build chains without running consensus."""
    height = executed.block.header.height
    vote = Vote(chain_id=chain_id, kind=PRECOMMIT, height=height, round=0, block_hash=executed.block_id)
    sig = signer.sign(vote_signing_bytes(vote))
    return Commit(
        height=height,
        round=0,
        block_hash=executed.block_id,
        signatures=[CommitSig(validator=address_of(suite, signer.public_key), signature=sig)],
    )
