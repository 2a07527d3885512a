"""Transaction batches with identities, and the bounded store of them each node keeps (ADR 0012).

A batch is the list of raw transaction bytes one node flushed to its peers at once. Its digest is
``tagged_hash("trellis/batch/v1", canonical msgpack of the list)``; a receiver always computes it itself. Proposals
travel as batch digests plus, per transaction, a (batch index, position) reference (``trellis.node.wire``),
and receivers rebuild the block from the batches they hold.

``BatchStore`` holds digest -> batch for this node's own batches and its peers', with an index from transaction
hash to (digest, position) so a proposer can reference its candidates. It is bounded by batch count and bytes
(oldest evicted first, whatever peers send), each peer's batches by a share of the bytes (a peer beyond its share
loses its own oldest batches, so one peer's junk cannot push out everyone else's), and a batch whose
transactions are all committed is dropped a few heights later. Nothing here is consensus-critical: a block is still checked transaction by transaction against
its header, and a transaction that is in no known batch travels inline.
"""

from __future__ import annotations

import struct
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field

from trellis.core.codec import encode
from trellis.core.crypto.suite import Suite
from trellis.core.errors import TrellisError
from trellis.core.ledger.tx import tx_hash
from trellis.node.wire import INLINE, MAX_BATCHES_PER_PROPOSAL, REF_WIDTH

BATCH_DOMAIN = b"trellis/batch/v1"
TX_OVERHEAD_BYTES = 256
"""Bytes charged per transaction beyond its raw bytes (the Python objects of its bytes, hash and index entry),
for the store's byte bound."""


def batch_digest(suite: Suite, txs: Sequence[bytes]) -> bytes:
    """Return the digest of a batch: ``tagged_hash("trellis/batch/v1", encode(list of raw txs))``."""
    return suite.tagged_hash(BATCH_DOMAIN, encode(list(txs)))


@dataclass
class Batch:
    """A stored batch.

    Attributes:
        txs: the raw transactions, in the order the batch was flushed.
        hashes: their transaction hashes (same order).
        uncommitted: how many of them this node has not yet seen committed.
        size: bytes accounted to it in the store's bound.
        done_height: the height at which the last of them committed (None while some are pending).
        committed: positions of those seen committed.
        source: the peer it came from (None: this node's own).
    """

    txs: list[bytes]
    hashes: list[bytes]
    uncommitted: int
    size: int
    source: str | None = None
    done_height: int | None = None
    committed: set[int] = field(default_factory=set)


class BatchStore:
    """Batches by digest, bounded, with a transaction-hash index.

    Args:
        max_batches: most batches held.
        max_bytes: most bytes held (raw transactions plus ``TX_OVERHEAD_BYTES`` each).
        retain_heights: a batch whose transactions are all committed is dropped this many heights later (peers
            that are a little behind may still ask for it).
        max_source_bytes: most bytes held of the batches of any one peer (default: half of ``max_bytes``); this
            node's own batches are bounded by ``max_bytes`` only. Keep it above a block's worth of batches
            (``max_block_bytes`` plus the per-transaction overhead), or a block drawn from one peer's batches could
            not be rebuilt here.

    Raises:
        ValueError: a bound below 1.
    """

    def __init__(
        self,
        *,
        max_batches: int = 8192,
        max_bytes: int = 128 * 1024 * 1024,
        retain_heights: int = 3,
        max_source_bytes: int | None = None,
    ) -> None:
        if max_batches < 1 or max_bytes < 1 or (max_source_bytes is not None and max_source_bytes < 1):
            raise ValueError("batch store bounds must be at least 1")
        self.max_batches = max_batches
        self.max_bytes = max_bytes
        self.max_source_bytes = max_source_bytes if max_source_bytes is not None else max(max_bytes // 2, 1)
        self.retain_heights = retain_heights
        self._batches: OrderedDict[bytes, Batch] = OrderedDict()
        self._by_source: dict[str, OrderedDict[bytes, None]] = {}
        """Peer -> digests of its batches held, oldest first."""
        self._source_bytes: dict[str, int] = {}
        self._index: dict[bytes, tuple[bytes, int]] = {}
        self._bytes = 0
        self.evicted = 0
        """Batches dropped for the bounds (not because they were committed)."""

    def __len__(self) -> int:
        return len(self._batches)

    def __contains__(self, digest: object) -> bool:
        return digest in self._batches

    @property
    def size_bytes(self) -> int:
        """Bytes accounted to the batches held."""
        return self._bytes

    def get(self, digest: bytes) -> Batch | None:
        """Return the batch with ``digest``, or None."""
        return self._batches.get(digest)

    def locate(self, tx_hash: bytes) -> tuple[bytes, int] | None:
        """Return (digest, position) of a held batch that carries the transaction ``tx_hash``, or None."""
        return self._index.get(tx_hash)

    def source_bytes(self, source: str) -> int:
        """Bytes accounted to the batches held from the peer ``source``."""
        return self._source_bytes.get(source, 0)

    def add(self, digest: bytes, txs: list[bytes], hashes: list[bytes], source: str | None = None) -> bool:
        """Hold a batch (``digest`` computed by the caller over ``txs``; ``hashes`` their tx hashes) that came
        from the peer ``source`` (None: this node's own); False if it was held already or is larger than the
        whole store (or the peer's share). Evicts the peer's oldest batches to keep it within its share, then
        the oldest batches of all to stay in bounds."""
        if digest in self._batches:
            return False
        size = sum(map(len, txs)) + TX_OVERHEAD_BYTES * len(txs)
        if size > self.max_bytes or (source is not None and size > self.max_source_bytes):
            return False
        if source is not None:
            mine = self._by_source.get(source)
            while mine and self._source_bytes[source] + size > self.max_source_bytes:
                self._drop(next(iter(mine)))
                self.evicted += 1
        while self._batches and (len(self._batches) >= self.max_batches or self._bytes + size > self.max_bytes):
            self._drop(next(iter(self._batches)))
            self.evicted += 1
        self._batches[digest] = Batch(txs=txs, hashes=hashes, uncommitted=len(txs), size=size, source=source)
        self._bytes += size
        if source is not None:
            self._by_source.setdefault(source, OrderedDict())[digest] = None
            self._source_bytes[source] = self._source_bytes.get(source, 0) + size
        index = self._index
        for i, h in enumerate(hashes):
            index[h] = (digest, i)
        return True

    def note_committed(self, height: int, tx_hashes: Sequence[bytes]) -> None:
        """A block at ``height`` committed ``tx_hashes``: count them off their batches, and drop batches whose
        transactions all committed more than ``retain_heights`` ago."""
        index, batches = self._index, self._batches
        for h in tx_hashes:
            # The index entry stays while the batch does: a decided proposal may still be re-sent to peers.
            loc = index.get(h)
            if loc is None:
                continue
            b = batches[loc[0]]
            if loc[1] not in b.committed:
                b.committed.add(loc[1])
                b.uncommitted -= 1
                if b.uncommitted <= 0:
                    b.done_height = height
        old = [
            d for d, b in batches.items() if b.done_height is not None and b.done_height + self.retain_heights <= height
        ]
        for d in old:
            self._drop(d)

    def _drop(self, digest: bytes) -> None:
        b = self._batches.pop(digest)
        self._bytes -= b.size
        if b.source is not None:
            mine = self._by_source[b.source]
            del mine[digest]
            self._source_bytes[b.source] -= b.size
            if not mine:  # forget a peer with nothing held (peer ids do not pile up)
                del self._by_source[b.source]
                del self._source_bytes[b.source]
        index = self._index
        for i, h in enumerate(b.hashes):
            if index.get(h) == (digest, i):
                del index[h]


class MalformedCompact(TrellisError):
    """A compact proposal that cannot describe a block (bad references, counts or lengths): its sender is
    faulty."""

    code = "malformed_compact"


@dataclass(frozen=True)
class CompactRefs:
    """How a block's transactions are sent in a compact proposal.

    Attributes:
        batches: digests of the batches referenced.
        refs: the packed references (``REF_WIDTH`` bytes per transaction).
        inline: the raw transactions sent inline.
        referenced_bytes: bytes of the transactions sent as references instead of inline.
    """

    batches: list[bytes]
    refs: bytes
    inline: list[bytes]
    referenced_bytes: int


def compact_refs(store: BatchStore, hashes: Sequence[bytes], raws: Sequence[bytes]) -> CompactRefs:
    """Reference each transaction (``hashes[i]`` of ``raws[i]``) in a batch the store holds, or inline it."""
    slot: dict[bytes, int] = {}
    batches: list[bytes] = []
    flat: list[int] = []
    inline: list[bytes] = []
    referenced = 0
    locate = store.locate
    for h, raw in zip(hashes, raws, strict=True):
        loc = locate(h)
        if loc is not None:
            digest, pos = loc
            i = slot.get(digest)
            if i is None and len(batches) < MAX_BATCHES_PER_PROPOSAL:
                i = slot[digest] = len(batches)
                batches.append(digest)
            if i is not None:
                flat += (i, pos)
                referenced += len(raw)
                continue
        flat += (INLINE, 0)
        inline.append(raw)
    return CompactRefs(batches, struct.pack(f">{len(flat)}H", *flat), inline, referenced)


def unpack_refs(batches: Sequence[bytes], refs: bytes, inline_count: int, tx_count: int) -> list[tuple[int, int]]:
    """Check and unpack a compact proposal's references (structure only, no store): one (batch index, position)
    per transaction.

    Raises:
        MalformedCompact: a length that is not ``tx_count`` references, a batch index out of range, a digest
            listed twice, a digest never referenced, or an inline count that does not match.
    """
    if len(refs) != tx_count * REF_WIDTH:
        raise MalformedCompact(f"{len(refs)} reference bytes for {tx_count} transactions")
    if len(set(batches)) != len(batches):
        raise MalformedCompact("a batch digest is listed twice")
    flat = struct.unpack(f">{len(refs) // 2}H", refs)
    pairs = list(zip(flat[0::2], flat[1::2], strict=True))
    n = len(batches)
    used = [False] * n
    inlined = 0
    for bi, _pos in pairs:
        if bi == INLINE:
            inlined += 1
        elif bi < n:
            used[bi] = True
        else:
            raise MalformedCompact(f"batch index {bi} out of range ({n} batches)")
    if inlined != inline_count:
        raise MalformedCompact(f"{inlined} inline references for {inline_count} inline transactions")
    if not all(used):
        raise MalformedCompact("a listed batch is never referenced")
    return pairs


def resolve_refs(
    suite: Suite, store: BatchStore, batches: Sequence[bytes], pairs: Sequence[tuple[int, int]], inline: Sequence[bytes]
) -> tuple[list[bytes], list[bytes]]:
    """Return (raw transactions, their hashes) in block order, from the store's batches and ``inline``; every
    referenced batch must be held (the caller checks first).

    Raises:
        MalformedCompact: a position beyond the end of its batch.
    """
    held = []
    for d in batches:
        b = store.get(d)
        assert b is not None, "resolve_refs needs every referenced batch"
        held.append(b)
    raws: list[bytes] = []
    hashes: list[bytes] = []
    it = iter(inline)
    for bi, pos in pairs:
        if bi == INLINE:
            raw = next(it)
            raws.append(raw)
            hashes.append(tx_hash(suite, raw))
            continue
        b = held[bi]
        if pos >= len(b.txs):
            raise MalformedCompact(f"position {pos} beyond the end of a batch of {len(b.txs)}")
        raws.append(b.txs[pos])
        hashes.append(b.hashes[pos])
    return raws, hashes
