"""The ``notary`` module: anchoring batches of record digests (docs/spec/receipt.md).

State (all writes of one transaction are bounded by ``MAX_ANCHOR_DIGESTS`` + 3):
  ``notary/batch/`` + sender(20) + nonce(8)           -> ``NotaryBatch`` (root, size, metadata, block)
  ``notary/record/`` + digest(32)                     -> ``NotaryRecord`` (first anchoring only)
  ``notary/owner/`` + H(owner)(32) + height(8) + sender(20) + nonce(8) -> sender + nonce (owner index)
  ``notary/ref/`` + H(ref)(32) + height(8) + sender(20) + nonce(8)     -> sender + nonce (reference index)

The owner and reference indexes are consensus state, not a node-local index: each transaction adds at most one
entry to each, they are covered by the state root (a lookup can be proven), and every node answers alike after
a restart or a state sync.

Batch tree leaves are ``LEAF_PREFIX || digest`` in ``trellis.core.crypto.merkle`` (itself domain-separated),
so a batch root can never equal a transaction root over the same bytes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from trellis.core.codec import decode, encode
from trellis.core.crypto.merkle import MerkleProof, merkle_proof, merkle_root
from trellis.core.crypto.suite import Suite
from trellis.core.execution.results import ResultCode, TxFailure
from trellis.core.ledger.block import Event
from trellis.core.ledger.notary_tx import MAX_ANCHOR_DIGESTS, ExternalRef, NotaryAnchor, OwnerDid, RecordType
from trellis.core.types import U32, U64, Address, CoreStruct, Hash32

__all__ = [
    "BATCH_PREFIX",
    "LEAF_PREFIX",
    "OWNER_PREFIX",
    "RECORD_PREFIX",
    "REF_PREFIX",
    "NotaryBatch",
    "NotaryRecord",
    "batch_key",
    "batch_proof",
    "batch_root",
    "handle_notary_anchor",
    "index_key",
    "index_prefix",
    "read_batch",
    "read_record",
    "record_key",
]

BATCH_PREFIX = b"notary/batch/"
RECORD_PREFIX = b"notary/record/"
OWNER_PREFIX = b"notary/owner/"
REF_PREFIX = b"notary/ref/"
LEAF_PREFIX = b"trellis/notary/v1"
"""Prefix of every batch-tree leaf: leaf item = ``LEAF_PREFIX || digest``."""
_INDEX_DOMAIN = b"trellis/notary/index/v1"


class NotaryBatch(CoreStruct, frozen=True):
    """An anchored batch, at ``b"notary/batch/" + sender + nonce(8)``."""

    root: Hash32
    """Merkle root of the batch's digests (``batch_root``)."""
    size: U32
    """Number of digests."""
    record_type: RecordType
    """The records' type (may be empty)."""
    owner: OwnerDid
    """The records' owner DID (may be empty)."""
    ref: ExternalRef
    """External reference (may be empty)."""
    sender: Address
    """Who anchored it."""
    nonce: U64
    """The anchoring transaction's nonce."""
    height: U64
    """Height of the block that anchored it."""
    time_ms: U64
    """That block's time."""


class NotaryRecord(CoreStruct, frozen=True):
    """The first anchoring of a digest, at ``b"notary/record/" + digest``."""

    height: U64
    """Height of the block that first anchored it."""
    time_ms: U64
    """That block's time (ms since the epoch)."""
    sender: Address
    """Who anchored it."""
    nonce: U64
    """The anchoring transaction's nonce (with ``sender``: the batch key)."""
    index: U32
    """Position of the digest in that batch."""


GetFn = Callable[[bytes], bytes | None]


class TxContextLike(Protocol):
    """The part of ``TxContext`` the handler uses (structural: ``modules.py`` imports this module)."""

    sender: bytes
    nonce: int
    height: int
    time_ms: int
    suite: Suite
    get: GetFn
    put: Callable[[bytes, bytes | None], None]


def batch_key(sender: bytes, nonce: int) -> bytes:
    """State key of the batch anchored by ``sender``'s transaction with ``nonce``."""
    return BATCH_PREFIX + sender + nonce.to_bytes(8, "big")


def record_key(digest: bytes) -> bytes:
    """State key of a digest's first-anchoring record."""
    return RECORD_PREFIX + digest


def index_prefix(suite: Suite, prefix: bytes, value: str) -> bytes:
    """State key prefix of the owner (``OWNER_PREFIX``) or reference (``REF_PREFIX``) index entries of ``value``."""
    return prefix + suite.tagged_hash(_INDEX_DOMAIN, value.encode())


def index_key(suite: Suite, prefix: bytes, value: str, height: int, sender: bytes, nonce: int) -> bytes:
    """State key of one index entry (entries of one value sort by height)."""
    return index_prefix(suite, prefix, value) + height.to_bytes(8, "big") + sender + nonce.to_bytes(8, "big")


def _leaves(digests: Sequence[bytes]) -> list[bytes]:
    return [LEAF_PREFIX + d for d in digests]


def batch_root(suite: Suite, digests: Sequence[bytes]) -> bytes:
    """Return the Merkle root of a batch of digests (leaf items ``LEAF_PREFIX || digest``)."""
    return merkle_root(suite, _leaves(digests))


def batch_proof(suite: Suite, digests: Sequence[bytes], index: int) -> MerkleProof:
    """Return the inclusion proof of ``digests[index]`` in the batch tree.

    Raises:
        IndexError: ``index`` is outside the batch.
    """
    return merkle_proof(suite, _leaves(digests), index)


def handle_notary_anchor(ctx: TxContextLike, msg: NotaryAnchor) -> list[Event]:
    """Anchor ``msg.digests``: store the batch (root and metadata) and a record for each new digest.

    Fails with ``EMPTY_BATCH``, ``TOO_MANY_DIGESTS``, ``DUPLICATE_DIGEST`` (a digest twice in the batch) or
    ``INVALID_DID`` (an owner that is not a DID). A digest anchored before keeps its first record.
    """
    n = len(msg.digests)
    if n == 0:
        raise TxFailure(ResultCode.EMPTY_BATCH, "a notary batch needs at least one digest")
    if n > MAX_ANCHOR_DIGESTS:
        raise TxFailure(ResultCode.TOO_MANY_DIGESTS, f"batch has {n} digests; at most {MAX_ANCHOR_DIGESTS}")
    first: dict[bytes, int] = {}
    for i, d in enumerate(msg.digests):
        j = first.setdefault(d, i)
        if j != i:
            raise TxFailure(ResultCode.DUPLICATE_DIGEST, f"digest {d.hex()} is at indexes {j} and {i} of the batch")
    if msg.owner and not msg.owner.startswith("did:"):
        raise TxFailure(ResultCode.INVALID_DID, f"owner {msg.owner[:40]!r} is not a DID (did:method:id)")
    suite = ctx.suite
    root = batch_root(suite, msg.digests)
    batch = NotaryBatch(
        root=root,
        size=n,
        record_type=msg.record_type,
        owner=msg.owner,
        ref=msg.ref,
        sender=ctx.sender,
        nonce=ctx.nonce,
        height=ctx.height,
        time_ms=ctx.time_ms,
    )
    ctx.put(batch_key(ctx.sender, ctx.nonce), encode(batch))
    fresh = 0
    for i, d in enumerate(msg.digests):
        key = record_key(d)
        if ctx.get(key) is None:
            rec = NotaryRecord(height=ctx.height, time_ms=ctx.time_ms, sender=ctx.sender, nonce=ctx.nonce, index=i)
            ctx.put(key, encode(rec))
            fresh += 1
    pointer = ctx.sender + ctx.nonce.to_bytes(8, "big")
    if msg.owner:
        ctx.put(index_key(suite, OWNER_PREFIX, msg.owner, ctx.height, ctx.sender, ctx.nonce), pointer)
    if msg.ref:
        ctx.put(index_key(suite, REF_PREFIX, msg.ref, ctx.height, ctx.sender, ctx.nonce), pointer)
    return [
        Event(
            type="notary.anchor",
            attributes=[("root", root), ("size", str(n).encode()), ("new", str(fresh).encode())],
        )
    ]


def read_batch(get: GetFn, sender: bytes, nonce: int) -> NotaryBatch | None:
    """Return the batch anchored by ``sender``'s transaction ``nonce``, or None."""
    raw = get(batch_key(sender, nonce))
    return None if raw is None else decode(raw, NotaryBatch)


def read_record(get: GetFn, digest: bytes) -> NotaryRecord | None:
    """Return the first-anchoring record of ``digest``, or None."""
    raw = get(record_key(digest))
    return None if raw is None else decode(raw, NotaryRecord)
