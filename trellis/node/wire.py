"""Messages between nodes (the payload of one p2p frame), canonical msgpack, tagged union.

Every frame is decoded with the canonical decoder under a size limit; a peer sending anything else is
disconnected. Consensus messages carry their own signatures; sync replies carry commit certificates that the
receiver verifies before applying a block.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from trellis.core.codec import decode, encode
from trellis.core.consensus.messages import SignedProposal, SignedProposalHeader, SignedVote
from trellis.core.ledger.block import Block, Commit
from trellis.core.types import U32, U64, CoreStruct

MAX_TXS_PER_MSG = 10_000
MAX_BLOCKS_PER_MSG = 16
TxBytes = Annotated[bytes, msgspec.Meta(max_length=64 * 1024)]


class ProposalMsg(CoreStruct, frozen=True, tag="proposal"):
    """A signed proposal with its block."""

    proposal: SignedProposal


class ProposalHeaderMsg(CoreStruct, frozen=True, tag="proposal_header"):
    """The signed part of a proposal the sender received, relayed so that every validator can detect a
    proposer that signed two different proposals."""

    header: SignedProposalHeader


class VoteMsg(CoreStruct, frozen=True, tag="vote"):
    """A signed vote."""

    vote: SignedVote


class StatusMsg(CoreStruct, frozen=True, tag="status"):
    """The sender's last committed height (sent on connect, after each commit and periodically)."""

    height: U64


class BlockRequestMsg(CoreStruct, frozen=True, tag="block_request"):
    """Ask for committed blocks from ``from_height`` on."""

    from_height: U64
    max_blocks: U32


class CommittedBlock(CoreStruct, frozen=True):
    """A committed block with its certificate."""

    block: Block
    commit: Commit


class BlocksMsg(CoreStruct, frozen=True, tag="blocks"):
    """Committed blocks in ascending height order."""

    blocks: Annotated[list[CommittedBlock], msgspec.Meta(max_length=MAX_BLOCKS_PER_MSG)]


class TxsMsg(CoreStruct, frozen=True, tag="txs"):
    """A batch of transactions (canonical bytes) to spread to mempools."""

    txs: Annotated[list[TxBytes], msgspec.Meta(max_length=MAX_TXS_PER_MSG)]


WireMsg = ProposalMsg | ProposalHeaderMsg | VoteMsg | StatusMsg | BlockRequestMsg | BlocksMsg | TxsMsg


class Envelope(CoreStruct, frozen=True):
    """The frame payload."""

    msg: WireMsg


def encode_msg(msg: WireMsg) -> bytes:
    """Frame payload for ``msg``."""
    return encode(Envelope(msg=msg))


def decode_msg(data: bytes, max_size: int) -> WireMsg:
    """Decode a frame payload; raises ``DecodeError``."""
    return decode(data, Envelope, max_size=max_size).msg
