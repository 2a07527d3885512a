"""Consensus messages that carry blocks: a signed proposal with its block.

Votes, proposals' signed parts and evidence are ledger objects (``trellis.core.ledger.votes``), re-exported
here for convenience.
"""

from __future__ import annotations

from trellis.core.ledger.block import Block
from trellis.core.ledger.votes import (
    PRECOMMIT,
    PREVOTE,
    DuplicateProposalEvidence,
    DuplicateVoteEvidence,
    Proposal,
    SignedProposalHeader,
    SignedVote,
    proposal_signing_bytes,
    verify_proposal_signature,
    verify_vote_signature,
)
from trellis.core.types import Address, CoreStruct, Signature

__all__ = [
    "PRECOMMIT",
    "PREVOTE",
    "DuplicateProposalEvidence",
    "DuplicateVoteEvidence",
    "Proposal",
    "SignedProposal",
    "SignedProposalHeader",
    "SignedVote",
    "header_of",
    "proposal_signing_bytes",
    "verify_proposal_signature",
    "verify_vote_signature",
]


class SignedProposal(CoreStruct, frozen=True):
    """A proposal with its block and the proposer's signature."""

    proposal: Proposal
    """The signed part."""
    proposer: Address
    """The proposer's address (the round's proposer)."""
    signature: Signature
    """Signature over ``proposal_signing_bytes(proposal)``."""
    block: Block
    """The proposed block; its id must equal ``proposal.block_hash``."""


def header_of(sp: SignedProposal) -> SignedProposalHeader:
    """The signed part of a proposal, without its block."""
    return SignedProposalHeader(proposal=sp.proposal, proposer=sp.proposer, signature=sp.signature)
