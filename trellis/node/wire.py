"""Messages between nodes (the payload of one p2p frame), canonical msgpack, tagged union.

Every frame is decoded with the canonical decoder under a size limit; a peer sending anything else is
disconnected. Consensus messages carry their own signatures; sync replies carry commit certificates that the
receiver verifies before applying a block.

Transactions spread once, in batches (``BatchMsg``); proposals travel compact (``CompactProposalMsg``): the
signed proposal, the block header, the digests of the batches the block draws on and, per transaction, a
(batch index, position) reference, with any transaction in no known batch inline. A receiver missing some
batches asks the sender for them (``BatchRequestMsg``). See ADR 0012 and ``trellis.node.batches``.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from trellis.core.codec import decode, encode
from trellis.core.consensus.messages import SignedProposal, SignedProposalHeader, SignedVote
from trellis.core.ledger.block import MAX_BLOCK_TXS, Block, Commit, Header
from trellis.core.ledger.snapshot import MAX_CHUNK_BYTES, MAX_MANIFEST_BYTES
from trellis.core.lightclient import SetChange
from trellis.core.types import U32, U64, CoreStruct, Hash32

MAX_TXS_PER_BATCH = 10_000
MAX_BLOCKS_PER_MSG = 16
MAX_BATCHES_PER_PROPOSAL = 4096
"""Most batch digests one compact proposal references (and one ``BatchRequestMsg`` asks for)."""
REF_WIDTH = 4
"""Bytes per transaction reference in a compact proposal: batch index and position, two big-endian u16 each."""
INLINE = 0xFFFF
"""The batch index of a transaction carried inline (the next one of ``CompactProposalMsg.inline``)."""
TxBytes = Annotated[bytes, msgspec.Meta(max_length=64 * 1024)]


class ProposalMsg(CoreStruct, frozen=True, tag="proposal"):
    """A signed proposal with its whole block (accepted from peers; this node sends ``CompactProposalMsg``)."""

    proposal: SignedProposal


class CompactProposalMsg(CoreStruct, frozen=True, tag="compact_proposal"):
    """A signed proposal whose block's transactions are referenced in batches the receiver should hold."""

    header: SignedProposalHeader
    """The signed part: its ``block_hash`` must be the id of ``block_header``."""
    block_header: Header
    """The proposed block's header."""
    batches: Annotated[list[Hash32], msgspec.Meta(max_length=MAX_BATCHES_PER_PROPOSAL)]
    """Digests of the batches referenced, each once."""
    refs: Annotated[bytes, msgspec.Meta(max_length=MAX_BLOCK_TXS * REF_WIDTH)]
    """One ``REF_WIDTH``-byte reference per transaction of the block, in block order: batch index (into
    ``batches``, or ``INLINE``) and position in that batch (0 for inline ones)."""
    inline: Annotated[list[TxBytes], msgspec.Meta(max_length=MAX_BLOCK_TXS)]
    """Raw bytes of the transactions referenced ``INLINE``, in block order."""


class BatchRequestMsg(CoreStruct, frozen=True, tag="batch_request"):
    """Ask a peer for the batches with these digests (it answers with a ``BatchMsg`` for each it holds)."""

    digests: Annotated[list[Hash32], msgspec.Meta(max_length=MAX_BATCHES_PER_PROPOSAL)]


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


class BlocksPrunedMsg(CoreStruct, frozen=True, tag="blocks_pruned"):
    """The answer to a ``BlockRequestMsg`` for a height the sender no longer keeps (``[storage] prune_blocks``):
    it keeps every block from ``earliest_height`` on (ADR 0018). A node behind that joins by state sync instead."""

    earliest_height: U64


class BatchMsg(CoreStruct, frozen=True, tag="batch"):
    """A batch of transactions (raw bytes) to spread to mempools; its identity is ``batch_digest(txs)``,
    computed by the receiver."""

    txs: Annotated[list[TxBytes], msgspec.Meta(max_length=MAX_TXS_PER_BATCH)]


MAX_SNAPSHOTS_OFFERED = 64
MAX_SET_CHANGES = 10_000


class SnapshotsRequestMsg(CoreStruct, frozen=True, tag="snapshots_request"):
    """Ask a peer which state snapshots it offers (ADR 0018 section 3)."""


class SnapshotOffer(CoreStruct, frozen=True):
    """One snapshot a peer offers: its height, manifest id and chunk count."""

    height: U64
    manifest_id: Hash32
    chunk_count: U32


class SnapshotsMsg(CoreStruct, frozen=True, tag="snapshots"):
    """The snapshots the sender offers, newest first."""

    snapshots: Annotated[list[SnapshotOffer], msgspec.Meta(max_length=MAX_SNAPSHOTS_OFFERED)]


class ManifestRequestMsg(CoreStruct, frozen=True, tag="manifest_request"):
    """Ask for the manifest of the snapshot at ``height``."""

    height: U64


class ManifestMsg(CoreStruct, frozen=True, tag="manifest"):
    """The canonical encoding of a snapshot manifest (empty: not offered)."""

    height: U64
    manifest: Annotated[bytes, msgspec.Meta(max_length=MAX_MANIFEST_BYTES)]


class ChunkRequestMsg(CoreStruct, frozen=True, tag="chunk_request"):
    """Ask for chunk ``index`` of the snapshot at ``height``."""

    height: U64
    index: U32


class ChunkMsg(CoreStruct, frozen=True, tag="chunk"):
    """A snapshot chunk's canonical encoding (empty: not offered)."""

    height: U64
    index: U32
    chunk: Annotated[bytes, msgspec.Meta(max_length=MAX_CHUNK_BYTES)]


class LightBlockRequestMsg(CoreStruct, frozen=True, tag="light_block_request"):
    """Ask for the committed block at ``height``, its certificate and the set changes up to it."""

    height: U64


class LightBlockMsg(CoreStruct, frozen=True, tag="light_block"):
    """Block ``height`` with its commit certificate, and the validator-set changes a client verifies it along from
    genesis (``lightclient.verify_from_genesis``). ``block`` None: the sender cannot answer."""

    height: U64
    block: Block | None
    commit: Commit | None
    set_changes: Annotated[list[SetChange], msgspec.Meta(max_length=MAX_SET_CHANGES)]


STATE_SYNC_MSGS = (
    SnapshotsRequestMsg,
    SnapshotsMsg,
    ManifestRequestMsg,
    ManifestMsg,
    ChunkRequestMsg,
    ChunkMsg,
    LightBlockRequestMsg,
    LightBlockMsg,
)
"""The state-sync messages: served by ``trellis.node.statesync.SnapshotServer``, answered to its fetcher."""

WireMsg = (
    ProposalMsg
    | CompactProposalMsg
    | ProposalHeaderMsg
    | VoteMsg
    | StatusMsg
    | BlockRequestMsg
    | BlocksMsg
    | BlocksPrunedMsg
    | BatchMsg
    | BatchRequestMsg
    | SnapshotsRequestMsg
    | SnapshotsMsg
    | ManifestRequestMsg
    | ManifestMsg
    | ChunkRequestMsg
    | ChunkMsg
    | LightBlockRequestMsg
    | LightBlockMsg
)


class Envelope(CoreStruct, frozen=True):
    """The frame payload."""

    msg: WireMsg


def encode_msg(msg: WireMsg) -> bytes:
    """Frame payload for ``msg``."""
    return encode(Envelope(msg=msg))


def decode_msg(data: bytes, max_size: int) -> WireMsg:
    """Decode a frame payload; raises ``DecodeError``."""
    return decode(data, Envelope, max_size=max_size).msg
