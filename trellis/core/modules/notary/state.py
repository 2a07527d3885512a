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

from collections.abc import Sequence

from trellis.core.codec import decode
from trellis.core.crypto.merkle import MerkleProof, merkle_proof, merkle_root
from trellis.core.crypto.suite import Suite
from trellis.core.execution.context import StateReader
from trellis.core.modules.notary.messages import ExternalRef, OwnerDid, RecordType
from trellis.core.types import U32, U64, Address, CoreStruct, Hash32

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


def read_batch(state: StateReader, sender: bytes, nonce: int) -> NotaryBatch | None:
    """Return the batch anchored by ``sender``'s transaction ``nonce``, or None."""
    raw = state.get(batch_key(sender, nonce))
    return None if raw is None else decode(raw, NotaryBatch)


def read_record(state: StateReader, digest: bytes) -> NotaryRecord | None:
    """Return the first-anchoring record of ``digest``, or None."""
    raw = state.get(record_key(digest))
    return None if raw is None else decode(raw, NotaryRecord)


PREFIXES = (
    BATCH_PREFIX,
    RECORD_PREFIX,
    OWNER_PREFIX,
    REF_PREFIX,
)
"""The state-key prefixes the notary module owns."""
