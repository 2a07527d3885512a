"""State snapshots (docs/spec/snapshot.md, ADR 0018 section 2): the manifest and chunk formats, and their checks.

Pure: no I/O. A snapshot of the state after block ``H`` cuts the state tree at the *frontier depth* ``d``:

* *items*: walking the tree of ``root(H)`` from the root, every node met at depth ``d`` and every leaf met above
  depth ``d``, as (depth ``k``, the ``k``-nibble path prefix, node hash), in path order;
* *chunks*: consecutive items grouped so that each chunk's entries stay under ``CHUNK_TARGET_BYTES``; a chunk
  carries the state entries (key, value) of its items in key-path order;
* the *manifest* lists the items with their chunk index; its items rebuild the state root by the tree's node
  rules (``verify_manifest``), and a chunk's entries, grouped by item, each rebuild their item's hash
  (``verify_chunk``). A chunk that passes is exactly the state under its items: nothing missing, nothing added.

A prefix of ``k`` nibbles is packed high nibble first into ``(k + 1) // 2`` bytes; when ``k`` is odd the last
byte's low nibble is zero.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

import msgspec

from trellis.core.codec import encode
from trellis.core.crypto.suite import Suite
from trellis.core.errors import TrellisError
from trellis.core.ledger.state_tree import (
    _NODE_BYTE,
    MissingNode,
    NodeReader,
    _decode_node,
    _Leaf,
    _node_hash,
    _Updater,
    value_hash,
)
from trellis.core.types import U8, U32, U64, ZERO_HASH, CoreStruct, Hash32

__all__ = [
    "CHUNK_TARGET_BYTES",
    "MAX_CHUNK_BYTES",
    "MAX_FRONTIER_DEPTH",
    "MAX_MANIFEST_BYTES",
    "MAX_MANIFEST_ITEMS",
    "SNAPSHOT_VERSION",
    "Chunk",
    "FrontierItem",
    "Manifest",
    "ManifestIndex",
    "SnapshotError",
    "SnapshotItem",
    "assign_chunks",
    "entry_size",
    "frontier_depth",
    "manifest_id",
    "pack_prefix",
    "verify_chunk",
    "verify_manifest",
    "verify_total",
    "walk_frontier",
]

SNAPSHOT_VERSION = 1
MAX_FRONTIER_DEPTH = 8
FRONTIER_KEYS = 4096
"""The frontier depth is the smallest ``d >= 1`` with ``n / 16**d <= FRONTIER_KEYS`` (n: state keys)."""
CHUNK_TARGET_BYTES = 1024 * 1024
"""A chunk's entries (their encodings) add up to at most this much, unless one item alone is larger."""
MAX_CHUNK_BYTES = 48 * 1024 * 1024
"""The largest chunk encoding; an item whose entries exceed it makes the snapshot fail."""
MAX_MANIFEST_ITEMS = 1 << 20
"""The most items a manifest may list."""
MAX_MANIFEST_BYTES = MAX_MANIFEST_ITEMS * 56 + 1024
"""The largest manifest encoding accepted (an item takes at most 51 bytes)."""
MAX_CHUNK_ENTRIES = 1 << 22
MAX_STATE_KEY = 511
_MANIFEST_TAG = b"trellis/snapshot/manifest"


class SnapshotError(TrellisError):
    """A manifest or chunk that fails its checks (``code`` names the check), or a state that cannot be cut into
    chunks."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code


class SnapshotItem(CoreStruct, frozen=True):
    """One frontier node: its depth, its path prefix, its hash and the chunk holding its entries."""

    depth: U8
    prefix: Annotated[bytes, msgspec.Meta(max_length=(MAX_FRONTIER_DEPTH + 1) // 2)]
    hash: Hash32
    chunk: U32


class Manifest(CoreStruct, frozen=True):
    """What a snapshot holds: ``[1, chain_id, height, state_root, depth, items, chunk_count, total_entries]``."""

    version: U8
    chain_id: Annotated[str, msgspec.Meta(max_length=64)]
    height: U64
    state_root: Hash32
    depth: U8
    items: Annotated[list[SnapshotItem], msgspec.Meta(max_length=MAX_MANIFEST_ITEMS)]
    chunk_count: U32
    total_entries: U64


StateKey = Annotated[bytes, msgspec.Meta(min_length=1, max_length=MAX_STATE_KEY)]


class Chunk(CoreStruct, frozen=True):
    """``[1, height, index, [[key, value], ...]]``: the state entries of a run of items, in key-path order."""

    version: U8
    height: U64
    index: U32
    entries: Annotated[list[tuple[StateKey, bytes]], msgspec.Meta(max_length=MAX_CHUNK_ENTRIES)]


FrontierItem = tuple[int, bytes, bytes]
"""(depth, packed prefix, node hash)."""


def frontier_depth(n: int) -> int:
    """The smallest ``d >= 1`` with ``n / 16**d <= FRONTIER_KEYS``, at most ``MAX_FRONTIER_DEPTH``."""
    d = 1
    while d < MAX_FRONTIER_DEPTH and n > FRONTIER_KEYS * 16**d:
        d += 1
    return d


def pack_prefix(kp: bytes, k: int) -> bytes:
    """The first ``k`` nibbles of the path ``kp``, packed (odd ``k``: the last low nibble zeroed)."""
    out = bytearray(kp[: (k + 1) // 2])
    if k & 1:
        out[-1] &= 0xF0
    return bytes(out)


def _nibbles(prefix: bytes, k: int) -> tuple[int, ...]:
    out = []
    for i in range(k):
        b = prefix[i >> 1]
        out.append(b >> 4 if not i & 1 else b & 0x0F)
    return tuple(out)


def manifest_id(suite: Suite, encoded: bytes) -> bytes:
    """The manifest's id: ``tagged_hash("trellis/snapshot/manifest", its canonical encoding)``."""
    return suite.tagged_hash(_MANIFEST_TAG, encoded)


def entry_size(key: bytes, value: bytes) -> int:
    """Bytes that the entry ``[key, value]`` takes in a chunk's encoding."""
    return len(encode((key, value)))


def walk_frontier(reader: NodeReader, root: bytes, depth: int) -> list[FrontierItem]:
    """The items of the tree under ``root`` at frontier ``depth``, in path order.

    Raises:
        MissingNode: a node above the frontier is not in the store.
    """
    if root == ZERO_HASH:
        return []
    out: list[FrontierItem] = []

    def visit(h: bytes, k: int, path: tuple[int, ...]) -> None:
        if k == depth:
            out.append((k, _pack_nibbles(path), h))
            return
        enc = reader.get_node(h)
        if enc is None:
            raise MissingNode(f"state tree node {h.hex()} is not in the store")
        node = _decode_node(enc)
        if isinstance(node, _Leaf):
            out.append((k, _pack_nibbles(path), h))
            return
        for i, child in enumerate(node.children()):
            if child is not None:
                visit(child, k + 1, (*path, i))

    visit(root, 0, ())
    return out


def _pack_nibbles(path: tuple[int, ...]) -> bytes:
    out = bytearray((len(path) + 1) // 2)
    for i, n in enumerate(path):
        out[i >> 1] |= n << 4 if not i & 1 else n
    return bytes(out)


def assign_chunks(item_bytes: Sequence[int], target: int = CHUNK_TARGET_BYTES) -> list[int]:
    """The chunk index of each item, given the bytes of each item's entries: items in order, a new chunk begun
    when the next item would take the current one over ``target`` (the spec's ``CHUNK_TARGET_BYTES``;
    another value only in tests).

    Raises:
        SnapshotError: ``item_too_large``: one item's entries exceed ``MAX_CHUNK_BYTES``.
    """
    out: list[int] = []
    chunk, size = 0, 0
    for i, b in enumerate(item_bytes):
        if b > MAX_CHUNK_BYTES - 64:
            raise SnapshotError("item_too_large", f"item {i} holds {b} bytes of state, over {MAX_CHUNK_BYTES}")
        if size and size + b > target:
            chunk += 1
            size = 0
        size += b
        out.append(chunk)
    return out


class ManifestIndex:
    """A checked manifest with lookups: the items of each chunk, and the item a key path falls under."""

    def __init__(self, manifest: Manifest) -> None:
        self.manifest = manifest
        self.ranges: list[tuple[int, int]] = []
        lo = 0
        items = manifest.items
        for i in range(1, len(items) + 1):
            if i == len(items) or items[i].chunk != items[lo].chunk:
                self.ranges.append((lo, i))
                lo = i
        self._by_prefix = {(it.depth, it.prefix): i for i, it in enumerate(items)}

    def item_of(self, kp: bytes) -> int | None:
        """The index of the item whose prefix ``kp`` starts with, or None."""
        for k in range(self.manifest.depth, -1, -1):
            i = self._by_prefix.get((k, pack_prefix(kp, k)))
            if i is not None:
                return i
        return None


def verify_manifest(
    suite: Suite, manifest: Manifest, chain_id: str, height: int, state_root: bytes
) -> dict[bytes, bytes]:
    """Check ``manifest`` against a verified header (its chain, height and ``state_root``): its shape, and that its
    items rebuild the state root. Returns the tree nodes above the items (hash -> encoding), to be stored.

    Raises:
        SnapshotError: the check that failed (``code``) and why.
    """
    m = manifest
    if m.version != SNAPSHOT_VERSION:
        raise SnapshotError("bad_version", f"manifest version {m.version}, expected {SNAPSHOT_VERSION}")
    if m.chain_id != chain_id:
        raise SnapshotError("wrong_chain", f"manifest of chain {m.chain_id!r}, expected {chain_id!r}")
    if m.height != height:
        raise SnapshotError("wrong_height", f"manifest of height {m.height}, expected {height}")
    if m.state_root != state_root:
        raise SnapshotError("wrong_root", "the manifest's state root is not the header's")
    if not 1 <= m.depth <= MAX_FRONTIER_DEPTH or m.depth != frontier_depth(m.total_entries):
        raise SnapshotError("bad_depth", f"frontier depth {m.depth} for {m.total_entries} entries")
    items = m.items
    if not items:
        if state_root != ZERO_HASH or m.chunk_count != 0 or m.total_entries != 0:
            raise SnapshotError("bad_items", "a manifest without items must be of the empty state")
        return {}
    if m.total_entries < len(items):
        raise SnapshotError("bad_items", f"{len(items)} items but {m.total_entries} entries")
    paths: list[tuple[int, ...]] = []
    for i, it in enumerate(items):
        if it.depth > m.depth or len(it.prefix) != (it.depth + 1) // 2:
            raise SnapshotError("bad_items", f"item {i}: depth {it.depth} with a {len(it.prefix)}-byte prefix")
        if it.depth & 1 and it.prefix[-1] & 0x0F:
            raise SnapshotError("bad_items", f"item {i}: an odd-length prefix must end in a zero nibble")
        expected_chunk = 0 if i == 0 else items[i - 1].chunk
        if it.chunk not in (expected_chunk, expected_chunk + 1) or (i == 0 and it.chunk != 0):
            raise SnapshotError("bad_chunks", f"item {i}: chunk {it.chunk} after chunk {expected_chunk}")
        path = _nibbles(it.prefix, it.depth)
        if paths:
            prev = paths[-1]
            if path <= prev or path[: len(prev)] == prev:
                raise SnapshotError("bad_items", f"item {i} is not after item {i - 1} in path order")
        paths.append(path)
    if items[-1].chunk + 1 != m.chunk_count:
        raise SnapshotError("bad_chunks", f"items use {items[-1].chunk + 1} chunks, the manifest says {m.chunk_count}")
    nodes: dict[bytes, bytes] = {}

    def rebuild(lo: int, hi: int, k: int) -> bytes:
        if len(paths[lo]) == k:
            if hi - lo != 1:
                raise SnapshotError("bad_items", f"item {lo} lies above other items")
            return items[lo].hash
        if k >= m.depth:
            raise SnapshotError("bad_items", f"items below depth {m.depth}")
        bitmap = 0
        children: list[bytes] = []
        start = lo
        for j in range(lo + 1, hi + 1):
            if j == hi or paths[j][k] != paths[start][k]:
                bitmap |= 1 << paths[start][k]
                children.append(rebuild(start, j, k + 1))
                start = j
        h = _node_hash(suite, bitmap, children)
        nodes[h] = _NODE_BYTE + bitmap.to_bytes(2, "big") + b"".join(children)
        return h

    if rebuild(0, len(items), 0) != state_root:
        raise SnapshotError("wrong_root", "the manifest's items do not rebuild the state root")
    return nodes


class _NoReader:
    def get_node(self, node_hash: bytes) -> bytes | None:
        return None


def verify_chunk(suite: Suite, index: ManifestIndex, chunk: Chunk, expected: int) -> dict[bytes, bytes]:
    """Check chunk number ``expected`` of the snapshot ``index`` describes (a manifest checked with
    ``verify_manifest``): its entries, in key-path order, each under one of the chunk's items, rebuild every item's
    hash. Returns the tree nodes of the chunk's items (hash -> encoding), to be stored.

    Raises:
        SnapshotError: the check that failed (``code``) and why.
    """
    m = index.manifest
    if chunk.version != SNAPSHOT_VERSION:
        raise SnapshotError("bad_version", f"chunk version {chunk.version}, expected {SNAPSHOT_VERSION}")
    if chunk.height != m.height or chunk.index != expected or expected >= m.chunk_count:
        raise SnapshotError(
            "wrong_chunk", f"chunk {chunk.index} of height {chunk.height}, expected {expected} of {m.height}"
        )
    lo, hi = index.ranges[expected]
    h = suite.hash
    kprefix = bytes((len(b"trellis/state/key"),)) + b"trellis/state/key"
    groups: list[list[tuple[bytes, bytes]]] = [[] for _ in range(hi - lo)]
    prev = b""
    for key, value in chunk.entries:
        kp = h(kprefix + key)
        if kp <= prev:
            raise SnapshotError("bad_order", "chunk entries are not in strictly increasing key-path order")
        prev = kp
        i = index.item_of(kp)
        if i is None or not lo <= i < hi:
            raise SnapshotError("foreign_entry", f"an entry's key path lies under no item of chunk {expected}")
        groups[i - lo].append((kp, value_hash(suite, value)))
    up = _Updater(suite, _NoReader())
    for j, group in enumerate(groups):
        it = m.items[lo + j]
        if not group:
            raise SnapshotError("missing_entries", f"no entries for item {lo + j}")
        if it.depth < m.depth and len(group) != 1:
            raise SnapshotError("not_a_leaf", f"item {lo + j} above the frontier must be one leaf")
        got = up.build(group, it.depth)
        if got != it.hash:
            raise SnapshotError("wrong_item_hash", f"the entries of item {lo + j} do not rebuild its hash")
    return up.new


def verify_total(manifest: Manifest, entries: int) -> None:
    """Check the manifest's ``total_entries`` against the entries of all its chunks (each verified with
    ``verify_chunk``): the one manifest field that the items and the state root do not bind.

    Raises:
        SnapshotError: ``wrong_total``.
    """
    if entries != manifest.total_entries:
        raise SnapshotError(
            "wrong_total", f"the chunks hold {entries} entries, the manifest says {manifest.total_entries}"
        )
