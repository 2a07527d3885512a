"""The authenticated state: a hexary sparse Merkle tree with compressed leaves, content-addressed nodes.

Every state key ``k`` (bytes) sits at the path ``kp = tagged_hash("trellis/state/key", k)``: 64 nibbles,
read high nibble first. A value ``v`` is committed as ``vh = tagged_hash("trellis/state/value", v)``.

Nodes:
  leaf      (kp, vh)                  hash = tagged_hash("trellis/smt/leaf", kp || vh)
  internal  bitmap (u16), children    hash = tagged_hash("trellis/smt/node", bitmap(2 bytes, big-endian)
                                                                   || the non-empty children's hashes in order)
Bit ``i`` of the bitmap (``1 << i``) says child ``i`` is present. The empty tree's root is 32 zero bytes.

Canonical shape (a function of the key set alone, whatever the order of updates): a subtree holding one key
is that key's leaf, placed directly under the deepest internal node above it; an internal node has at least
one child and never exactly one child that is a leaf. So a tree of n random keys is about log16(n) deep,
and one update rewrites that many nodes (see docs/adr/0002-state-commitment.md for the cost).

Nodes are stored by hash and never rewritten, so every past root stays readable until it is pruned: state
at any retained height is one walk from that height's root.

Proofs: the internal nodes on the path (bitmap + the other children's hashes), and the leaf found at the end
of the path, if any. A proof shows inclusion (the leaf has the key's path and the value's hash) or
non-inclusion (the path ends in an empty slot, or in a leaf of a different key that shares the prefix).
``verify_state_proof`` needs only the proof, the key, the claimed value and the header.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from typing import Annotated, NamedTuple, Protocol, runtime_checkable

import msgspec

from trellis.core.crypto.suite import Suite
from trellis.core.errors import ProofError, TrellisError
from trellis.core.ledger.block import Header
from trellis.core.types import U16, U64, ZERO_HASH, CoreStruct, Hash32

_KEY = b"trellis/state/key"
_VALUE = b"trellis/state/value"
_LEAF = b"trellis/smt/leaf"
_NODE = b"trellis/smt/node"

_LEAF_TAG = 1
_NODE_TAG = 2
_DEPTH = 64


class MissingNode(TrellisError):
    """A node the tree refers to is not in the store (pruned, or the store is damaged)."""

    code = "missing_node"


class NodeReader(Protocol):
    """Read access to stored tree nodes by hash."""

    def get_node(self, node_hash: bytes) -> bytes | None:
        """Return the stored encoding of the node with this hash, or None."""
        ...


@runtime_checkable
class BatchNodeReader(NodeReader, Protocol):
    """A ``NodeReader`` that can also read many nodes at once (``apply_updates`` reads a whole tree level of
    nodes per call when the reader offers this)."""

    def get_nodes(self, node_hashes: Sequence[bytes]) -> list[bytes | None]:
        """Return the stored encoding of each node (None where absent), in order."""
        ...


class ProofStep(CoreStruct, frozen=True):
    """One internal node on a proof path."""

    bitmap: U16
    """Which of the node's 16 children are present (bit i = child i)."""
    siblings: Annotated[list[Hash32], msgspec.Meta(max_length=15)]
    """Hashes of the present children other than the one on the path, in child order."""


class ProofLeaf(CoreStruct, frozen=True):
    """The leaf at the end of a proof path."""

    key_path: Hash32
    """The leaf's key path."""
    value_hash: Hash32
    """The leaf's value hash."""


class StateProof(CoreStruct, frozen=True):
    """Inclusion or non-inclusion proof of one key against a state root."""

    height: U64
    """Height of the block whose header's ``state_root`` this proof is against."""
    steps: Annotated[list[ProofStep], msgspec.Meta(max_length=_DEPTH)]
    """Internal nodes from the root down."""
    leaf: ProofLeaf | None
    """The leaf at the end of the path, or None if the path ends in an empty slot."""


class TreeUpdate(msgspec.Struct, frozen=True):
    """Result of applying a batch of updates: the new root, the nodes to store and the nodes gone out of use.

    ``nodes`` is exactly reachable(new root) - reachable(old root) and ``stale`` exactly reachable(old root) -
    reachable(new root) (ADR 0018: the store records a birth row per created node and a stale row per stale one,
    which is what pruning works from)."""

    root: bytes
    nodes: dict[bytes, bytes]
    """The nodes of the new tree that the old tree lacks: hash -> encoding."""
    values: dict[bytes, bytes]
    """The values written: value hash -> value."""
    stale: list[bytes] = msgspec.field(default_factory=list)
    """The hashes of the nodes of the old tree that the new tree lacks (in no particular order)."""
    replaced: dict[bytes, bytes] = msgspec.field(default_factory=dict)
    """For each written key whose value changed or was deleted: the hash of its old leaf -> the key (the store
    keeps the old value under that leaf hash, ``smt_hist``)."""


def key_path(suite: Suite, key: bytes) -> bytes:
    """Return the 32-byte path of a state key."""
    return suite.tagged_hash(_KEY, key)


def value_hash(suite: Suite, value: bytes) -> bytes:
    """Return the commitment to a state value."""
    return suite.tagged_hash(_VALUE, value)


def _nibble(path: bytes, depth: int) -> int:
    b = path[depth >> 1]
    return (b >> 4) if not depth & 1 else (b & 0x0F)


def _prefix_equal(a: bytes, b: bytes, nibbles: int) -> bool:
    full = nibbles >> 1
    if a[:full] != b[:full]:
        return False
    return not nibbles & 1 or (a[full] >> 4) == (b[full] >> 4)


def _leaf_hash(suite: Suite, kp: bytes, vh: bytes) -> bytes:
    return suite.tagged_hash(_LEAF, kp + vh)


def _node_hash(suite: Suite, bitmap: int, children: Iterable[bytes]) -> bytes:
    return suite.tagged_hash(_NODE, bitmap.to_bytes(2, "big") + b"".join(children))


class _Leaf(NamedTuple):
    kp: bytes
    vh: bytes


class _Internal(NamedTuple):
    bitmap: int
    hashes: list[bytes]

    def children(self) -> list[bytes | None]:
        out: list[bytes | None] = [None] * 16
        it = iter(self.hashes)
        for i in range(16):
            if self.bitmap & (1 << i):
                out[i] = next(it)
        return out


def _decode_node(enc: bytes) -> _Leaf | _Internal:
    if enc[0] == _LEAF_TAG and len(enc) == 65:
        return _Leaf(enc[1:33], enc[33:65])
    if enc[0] == _NODE_TAG:
        bitmap = int.from_bytes(enc[1:3], "big")
        n = bitmap.bit_count()
        if len(enc) == 3 + 32 * n:
            return _Internal(bitmap, [enc[3 + 32 * i : 35 + 32 * i] for i in range(n)])
    raise MissingNode("stored tree node is corrupt")


@lru_cache(maxsize=1 << 16)
def _slots(bitmap: int) -> tuple[int, ...]:
    """The child positions present in an internal node with this bitmap, in order."""
    return tuple(i for i in range(16) if bitmap & (1 << i))


def _tag_prefix(tag: bytes) -> bytes:
    """What ``Suite.tagged_hash`` puts before the data: ``tagged_hash(tag, x) == suite.hash(prefix + x)``."""
    return bytes((len(tag),)) + tag


_LEAF_PREFIX = _tag_prefix(_LEAF)
_NODE_PREFIX = _tag_prefix(_NODE)
_KEY_PREFIX = _tag_prefix(_KEY)
_VALUE_PREFIX = _tag_prefix(_VALUE)
_LEAF_BYTE = bytes((_LEAF_TAG,))
_NODE_BYTE = bytes((_NODE_TAG,))

_Item = tuple[bytes, bytes | None]
"""(key path, value hash or None to delete)."""


class _Updater:
    """Applies a sorted batch of updates to the tree, and collects the nodes it creates.

    The walk is breadth-first: each level's existing nodes are read in one ``get_nodes`` call (when the reader
    has it), and new internal nodes are hashed bottom-up once their children are known."""

    def __init__(self, suite: Suite, reader: NodeReader) -> None:
        self.suite = suite
        self.hash = suite.hash
        self.reader = reader
        self.get_nodes = reader.get_nodes if isinstance(reader, BatchNodeReader) else None
        self.new: dict[bytes, bytes] = {}
        self.loaded: list[bytes] = []
        """The existing nodes ``update`` read on the paths it rewrote (each is replaced or kept unchanged)."""
        self.replaced_leaves: dict[bytes, bytes] = {}
        """Old leaf hash -> key path, for each written key whose existing leaf changed value or was deleted."""

    def load(self, h: bytes) -> bytes:
        enc = self.new.get(h)
        if enc is None:
            enc = self.reader.get_node(h)
            if enc is None:
                raise MissingNode(f"state tree node {h.hex()} is not in the store")
        return enc

    def load_many(self, hashes: list[bytes]) -> list[bytes]:
        if self.get_nodes is not None and len(hashes) > 1:
            encs = self.get_nodes(hashes)
        else:
            encs = [self.reader.get_node(h) for h in hashes]
        out: list[bytes] = []
        for h, enc in zip(hashes, encs, strict=True):
            if enc is None:
                raise MissingNode(f"state tree node {h.hex()} is not in the store")
            out.append(enc)
        return out

    def leaf(self, kp: bytes, vh: bytes) -> bytes:
        body = kp + vh
        h = self.hash(_LEAF_PREFIX + body)
        self.new[h] = _LEAF_BYTE + body
        return h

    def internal(self, children: list[bytes | None]) -> bytes | None:
        bitmap = 0
        hashes: list[bytes] = []
        for i, c in enumerate(children):
            if c is not None:
                bitmap |= 1 << i
                hashes.append(c)
        if not hashes:
            return None
        if len(hashes) == 1 and self.load(hashes[0])[0] == _LEAF_TAG:
            return hashes[0]
        body = bitmap.to_bytes(2, "big") + b"".join(hashes)
        h = self.hash(_NODE_PREFIX + body)
        self.new[h] = _NODE_BYTE + body
        return h

    def build(self, entries: list[tuple[bytes, bytes]], depth: int) -> bytes | None:
        """The subtree at ``depth`` holding exactly ``entries`` (sorted by key path)."""
        if not entries:
            return None
        if len(entries) == 1:
            return self.leaf(*entries[0])
        children: list[bytes | None] = [None] * 16
        for nib, lo, hi in _runs(entries, 0, len(entries), depth):
            children[nib] = self.build(entries[lo:hi], depth + 1)
        return self.internal(children)

    def update(self, root: bytes | None, items: list[_Item]) -> bytes | None:
        """The new root after applying ``items`` (sorted by key path, distinct) to the tree at ``root``."""
        if root is None:
            return self.build([(k, v) for k, v in items if v is not None], 0)
        # Internal nodes being rewritten: their stored encoding, the new results of their changed children
        # (filled in as those arrive), and where their own result goes (index of the parent in these lists,
        # -1 for the root; child position in the parent).
        task_enc: list[bytes] = []
        task_changes: list[dict[int, bytes | None]] = []
        task_parent: list[int] = []
        task_slot: list[int] = []
        result: list[bytes | None] = [None]  # the root's result when the root itself is a leaf
        # Existing nodes to visit at this depth: (hash, items lo, items hi, parent task, child position).
        level: list[tuple[bytes, int, int, int, int]] = [(root, 0, len(items), -1, 0)]
        depth = 0
        while level:
            hashes = [t[0] for t in level]
            self.loaded += hashes
            encs = self.load_many(hashes)
            below: list[tuple[bytes, int, int, int, int]] = []
            for (old, lo, hi, parent, slot), enc in zip(level, encs, strict=True):
                if enc[0] == _NODE_TAG:
                    bitmap = int.from_bytes(enc[1:3], "big")
                    if len(enc) != 3 + 32 * bitmap.bit_count():
                        raise MissingNode("stored tree node is corrupt")
                    me = len(task_enc)
                    changes: dict[int, bytes | None] = {}
                    task_enc.append(enc)
                    task_changes.append(changes)
                    task_parent.append(parent)
                    task_slot.append(slot)
                    for nib, a, b in _runs(items, lo, hi, depth):
                        if bitmap >> nib & 1:
                            j = 3 + 32 * (bitmap & ((1 << nib) - 1)).bit_count()
                            below.append((enc[j : j + 32], a, b, me, nib))
                        else:
                            changes[nib] = self.build([(k, v) for k, v in items[a:b] if v is not None], depth + 1)
                    continue
                node = _decode_node(enc)
                assert isinstance(node, _Leaf)
                if hi - lo == 1 and items[lo][0] == node.kp:  # the usual case: one key's value changes
                    vh = items[lo][1]
                    if vh != node.vh:
                        self.replaced_leaves[old] = node.kp
                    r = None if vh is None else self.leaf(node.kp, vh)
                else:
                    merged: dict[bytes, bytes | None] = {node.kp: node.vh}
                    merged.update(items[lo:hi])
                    if merged[node.kp] != node.vh:
                        self.replaced_leaves[old] = node.kp
                    r = self.build(sorted((k, v) for k, v in merged.items() if v is not None), depth)
                if parent < 0:
                    result[0] = r
                else:
                    task_changes[parent][slot] = r
            level = below
            depth += 1
        # Children come after their parents in the task lists: rebuild bottom-up by walking them backwards.
        for t in range(len(task_enc) - 1, -1, -1):
            r = self.rewrite(task_enc[t], task_changes[t])
            parent = task_parent[t]
            if parent < 0:
                return r
            task_changes[parent][task_slot[t]] = r
        return result[0]

    def rewrite(self, enc: bytes, changes: dict[int, bytes | None]) -> bytes | None:
        """The hash of internal node ``enc`` with the children at the positions in ``changes`` replaced (None:
        removed), the node stored if it is still an internal node."""
        bitmap = int.from_bytes(enc[1:3], "big")
        patches = [(nib, r) for nib, r in changes.items() if r is not None and bitmap >> nib & 1]
        if len(patches) == len(changes) and bitmap.bit_count() > 1:
            # Same children present (and more than one): patch the changed hashes into a copy in place.
            buf = bytearray(enc)
            for nib, r in patches:
                j = 3 + 32 * (bitmap & ((1 << nib) - 1)).bit_count()
                buf[j : j + 32] = r
            new = bytes(buf)
            h = self.hash(_NODE_PREFIX + new[1:])
            self.new[h] = new
            return h
        children: list[bytes | None] = [None] * 16
        for j, i in enumerate(_slots(bitmap)):
            children[i] = enc[3 + 32 * j : 35 + 32 * j]
        for nib, child in changes.items():
            children[nib] = child
        return self.internal(children)


def _runs(entries: Sequence[tuple[bytes, object]], lo: int, hi: int, depth: int) -> Iterable[tuple[int, int, int]]:
    """Split ``entries[lo:hi]`` (sorted by key path, sharing the first ``depth`` nibbles) into runs with the same
    nibble at ``depth``: yields (nibble, start, end)."""
    byte = depth >> 1
    shift = 0 if depth & 1 else 4
    i = lo
    nib = (entries[i][0][byte] >> shift) & 0x0F if i < hi else 0
    for j in range(lo + 1, hi):
        n = (entries[j][0][byte] >> shift) & 0x0F
        if n != nib:
            yield nib, i, j
            i, nib = j, n
    if i < hi:
        yield nib, i, hi


def apply_updates(suite: Suite, reader: NodeReader, root: bytes, updates: Mapping[bytes, bytes | None]) -> TreeUpdate:
    """Apply a batch of writes (value) and deletions (None) to the tree with root ``root``.

    Args:
        suite: the chain's suite (its hash builds paths and nodes).
        reader: where existing nodes are read from (a level of the tree at a time if it is a
            ``BatchNodeReader``).
        root: the current root (``ZERO_HASH`` for the empty tree).
        updates: state key -> new value, or None to delete.

    Returns:
        The new root, the nodes of the new tree the old one lacks (hash -> encoding), the values written (value
        hash -> value), the nodes of the old tree the new one lacks (``stale``) and the old leaves of the keys
        whose value changed or went (``replaced``: leaf hash -> key).

    Raises:
        MissingNode: the store lacks a node under ``root``.
    """
    h = suite.hash
    values: dict[bytes, bytes] = {}
    items: list[_Item] = []
    keys: dict[bytes, bytes] = {}
    for key, value in updates.items():
        kp = h(_KEY_PREFIX + key)
        keys[kp] = key
        if value is None:
            items.append((kp, None))
        else:
            vh = h(_VALUE_PREFIX + value)
            values[vh] = value
            items.append((kp, vh))
    if not items:
        return TreeUpdate(root=root, nodes={}, values={})
    items.sort(key=_path_of)
    up = _Updater(suite, reader)
    new_root = up.update(None if root == ZERO_HASH else root, items)
    new = up.new
    # A loaded node that comes out of the rewrite unchanged (a value set to what it was, an untouched leaf moved
    # down next to a new one) is neither created nor stale.
    loaded = set(up.loaded)  # each node is at one place in a tree, so no hash is loaded twice
    stale = [x for x in up.loaded if x not in new]
    if len(stale) != len(loaded):
        new = {x: enc for x, enc in new.items() if x not in loaded}
    return TreeUpdate(
        root=ZERO_HASH if new_root is None else new_root,
        nodes=new,
        values=values,
        stale=stale,
        replaced={leaf: keys[kp] for leaf, kp in up.replaced_leaves.items()},
    )


def _path_of(item: _Item) -> bytes:
    return item[0]


def _walk(suite: Suite, reader: NodeReader, root: bytes, kp: bytes) -> tuple[list[ProofStep], ProofLeaf | None]:
    steps: list[ProofStep] = []
    if root == ZERO_HASH:
        return steps, None
    up = _Updater(suite, reader)
    h = root
    depth = 0
    while True:
        node = _decode_node(up.load(h))
        if isinstance(node, _Leaf):
            return steps, ProofLeaf(key_path=node.kp, value_hash=node.vh)
        nib = _nibble(kp, depth)
        children = node.children()
        nxt = children[nib]
        siblings = [c for i, c in enumerate(children) if c is not None and i != nib]
        steps.append(ProofStep(bitmap=node.bitmap, siblings=siblings))
        if nxt is None:
            return steps, None
        h = nxt
        depth += 1


def find_leaf(suite: Suite, reader: NodeReader, root: bytes, key: bytes) -> ProofLeaf | None:
    """Return the leaf of ``key`` in the tree with root ``root``, or None if the key is absent."""
    kp = key_path(suite, key)
    _, leaf = _walk(suite, reader, root, kp)
    return leaf if leaf is not None and leaf.key_path == kp else None


def leaf_hash(suite: Suite, leaf: ProofLeaf) -> bytes:
    """Return the hash of the tree node of ``leaf`` (what ``smt_nodes``, ``smt_born`` and ``smt_hist`` key it by)."""
    return _leaf_hash(suite, leaf.key_path, leaf.value_hash)


def lookup(suite: Suite, reader: NodeReader, root: bytes, key: bytes) -> bytes | None:
    """Return the value hash stored under ``key`` in the tree with root ``root``, or None if absent."""
    kp = key_path(suite, key)
    _, leaf = _walk(suite, reader, root, kp)
    if leaf is not None and leaf.key_path == kp:
        return leaf.value_hash
    return None


def prove(suite: Suite, reader: NodeReader, root: bytes, key: bytes, height: int) -> StateProof:
    """Return the proof of ``key``'s value (or absence) in the tree with root ``root`` at ``height``."""
    steps, leaf = _walk(suite, reader, root, key_path(suite, key))
    return StateProof(height=height, steps=steps, leaf=leaf)


def root_from_state_proof(suite: Suite, key: bytes, value: bytes | None, proof: StateProof) -> bytes:
    """Recompute the state root implied by ``proof`` for ``key`` having ``value`` (None: absent).

    Raises:
        ProofError: the proof contradicts the claim or is malformed; the reason names the check.
    """
    kp = key_path(suite, key)
    depth = len(proof.steps)
    current: bytes | None
    leaf = proof.leaf
    if value is not None:
        if leaf is None:
            raise ProofError("proof shows the key absent, but a value was claimed")
        if leaf.key_path != kp:
            raise ProofError("proof leaf belongs to a different key")
        if leaf.value_hash != value_hash(suite, value):
            raise ProofError("value does not match the proof leaf's value hash")
        current = _leaf_hash(suite, leaf.key_path, leaf.value_hash)
    elif leaf is not None:
        if leaf.key_path == kp:
            raise ProofError("proof shows the key present, but absence was claimed")
        if not _prefix_equal(leaf.key_path, kp, depth):
            raise ProofError("proof leaf does not lie on the key's path")
        current = _leaf_hash(suite, leaf.key_path, leaf.value_hash)
    else:
        current = None
    for d in range(depth - 1, -1, -1):
        step = proof.steps[d]
        nib = _nibble(kp, d)
        bit = 1 << nib
        if bool(step.bitmap & bit) != (current is not None):
            raise ProofError(f"proof step {d}: bitmap disagrees with the path child")
        if step.bitmap == 0:
            raise ProofError(f"proof step {d}: empty internal node")
        expected = step.bitmap.bit_count() - (1 if current is not None else 0)
        if len(step.siblings) != expected:
            raise ProofError(f"proof step {d}: {len(step.siblings)} sibling hashes, bitmap needs {expected}")
        children: list[bytes] = []
        it = iter(step.siblings)
        for i in range(16):
            if step.bitmap & (1 << i):
                children.append(current if i == nib else next(it))  # type: ignore[arg-type]
        current = _node_hash(suite, step.bitmap, children)
    return ZERO_HASH if current is None else current


def verify_state_proof(suite: Suite, key: bytes, value: bytes | None, proof: StateProof, header: Header) -> None:
    """Check that ``key`` has ``value`` (or is absent, if None) in the state committed by ``header``.

    Args:
        suite: the chain's crypto suite.
        key: the state key.
        value: the claimed value, or None to check absence.
        proof: the proof.
        header: the block header (its ``height`` and ``state_root`` are used).

    Raises:
        ProofError: the proof is for another height, or does not lead to the header's state root.
    """
    if proof.height != header.height:
        raise ProofError(f"proof is for height {proof.height}, header is for height {header.height}")
    if root_from_state_proof(suite, key, value, proof) != header.state_root:
        raise ProofError("proof does not lead to the header's state root")
