"""Consensus votes and proposals (the signed parts), and equivocation evidence.

These live in the ledger because they appear in ledger objects: commit certificates are precommit votes,
and evidence of equivocation is recorded on chain by a transaction.

Signing bytes are domain-separated:
  vote      len || "trellis/vote/v1"     || canonical(Vote)
  proposal  len || "trellis/proposal/v1" || canonical(Proposal)
A nil vote carries 32 zero bytes as its block hash.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from trellis.core.codec import encode
from trellis.core.crypto.suite import Suite
from trellis.core.types import U8, U32, U64, Address, ChainId, CoreStruct, Hash32, Signature

PREVOTE = 1
"""Vote kind: first-phase vote."""
PRECOMMIT = 2
"""Vote kind: second-phase vote; a quorum of precommits for a block is its commit certificate."""

Round = Annotated[int, msgspec.Meta(ge=-1, le=2**31 - 1)]


class Vote(CoreStruct, frozen=True):
    """What a validator signs when it votes."""

    chain_id: ChainId
    """The chain."""
    kind: U8
    """``PREVOTE`` (1) or ``PRECOMMIT`` (2)."""
    height: U64
    """The block height."""
    round: U32
    """The consensus round."""
    block_hash: Hash32
    """The block id voted for, or 32 zero bytes for nil."""


class SignedVote(CoreStruct, frozen=True):
    """A vote with its signer."""

    vote: Vote
    """The signed part."""
    validator: Address
    """The signer's address."""
    signature: Signature
    """Signature over ``vote_signing_bytes(vote)``."""


class Proposal(CoreStruct, frozen=True):
    """What a proposer signs: the block it proposes for a height and round."""

    chain_id: ChainId
    """The chain."""
    height: U64
    """The height."""
    round: U32
    """The round."""
    pol_round: Round
    """The round in which this block got a proof of lock (2f+1 prevotes), or -1 for a fresh block."""
    block_hash: Hash32
    """The proposed block's id."""


class SignedProposalHeader(CoreStruct, frozen=True):
    """A signed proposal without its block."""

    proposal: Proposal
    """The signed part."""
    proposer: Address
    """The proposer's address."""
    signature: Signature
    """Signature over ``proposal_signing_bytes(proposal)``."""


class DuplicateVoteEvidence(CoreStruct, frozen=True, tag="duplicate_vote"):
    """Two different votes by one validator for the same height, round and kind."""

    a: SignedVote
    """One vote."""
    b: SignedVote
    """The conflicting vote."""


class DuplicateProposalEvidence(CoreStruct, frozen=True, tag="duplicate_proposal"):
    """Two different proposals by one proposer for the same height and round."""

    a: SignedProposalHeader
    """One proposal."""
    b: SignedProposalHeader
    """The conflicting proposal."""


Evidence = DuplicateVoteEvidence | DuplicateProposalEvidence

_VOTE_DOMAIN = b"trellis/vote/v1"
_PROPOSAL_DOMAIN = b"trellis/proposal/v1"


def vote_signing_bytes(vote: Vote) -> bytes:
    """Return the exact bytes a validator signs for ``vote``."""
    return bytes((len(_VOTE_DOMAIN),)) + _VOTE_DOMAIN + encode(vote)


def proposal_signing_bytes(p: Proposal) -> bytes:
    """Return the exact bytes a proposer signs."""
    return bytes((len(_PROPOSAL_DOMAIN),)) + _PROPOSAL_DOMAIN + encode(p)


def verify_vote_signature(suite: Suite, public_key: bytes, sv: SignedVote) -> bool:
    """Return True iff ``sv`` carries a valid signature by ``public_key``."""
    return suite.verify(public_key, vote_signing_bytes(sv.vote), sv.signature)


def verify_proposal_signature(suite: Suite, public_key: bytes, sp: SignedProposalHeader) -> bool:
    """Return True iff ``sp`` carries a valid signature by ``public_key`` (a ``SignedProposal`` works too)."""
    return suite.verify(public_key, proposal_signing_bytes(sp.proposal), sp.signature)


def check_evidence(suite: Suite, chain_id: str, keys: dict[bytes, bytes], ev: Evidence) -> str | None:
    """Return None if ``ev`` proves equivocation by a validator (``keys``: address -> public key);
    otherwise the reason it does not."""
    if isinstance(ev, DuplicateVoteEvidence):
        a, b = ev.a, ev.b
        if a.validator != b.validator:
            return "the two votes are by different validators"
        va, vb = a.vote, b.vote
        if (va.chain_id, va.height, va.round, va.kind) != (vb.chain_id, vb.height, vb.round, vb.kind):
            return "the votes are for different heights, rounds or kinds"
        if va.chain_id != chain_id:
            return "the votes are for another chain"
        if va.block_hash == vb.block_hash:
            return "the votes do not conflict"
        pk = keys.get(a.validator)
        if pk is None:
            return "the signer is not a validator"
        if not (verify_vote_signature(suite, pk, a) and verify_vote_signature(suite, pk, b)):
            return "a signature does not verify"
        return None
    pa, pb = ev.a, ev.b
    if pa.proposer != pb.proposer:
        return "the two proposals are by different proposers"
    qa, qb = pa.proposal, pb.proposal
    if (qa.chain_id, qa.height, qa.round) != (qb.chain_id, qb.height, qb.round):
        return "the proposals are for different heights or rounds"
    if qa.chain_id != chain_id:
        return "the proposals are for another chain"
    if qa == qb:
        return "the proposals do not conflict"
    pk = keys.get(pa.proposer)
    if pk is None:
        return "the proposer is not a validator"
    if not (verify_proposal_signature(suite, pk, pa) and verify_proposal_signature(suite, pk, pb)):
        return "a signature does not verify"
    return None


def evidence_offender(ev: Evidence) -> bytes:
    """The address of the validator that equivocated."""
    return ev.a.validator if isinstance(ev, DuplicateVoteEvidence) else ev.a.proposer
