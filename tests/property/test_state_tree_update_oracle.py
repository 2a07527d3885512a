"""``apply_updates`` (breadth-first, a tree level of node reads per call, internal nodes patched in place) gives
exactly what the plain recursive algorithm gives: the same root, the same new nodes and the same values, for
any sequence of batched writes and deletes, whether the node reader reads one node or many at a time.

The recursive algorithm below is the reference: it is the tree's definition in docs/adr/0002-state-commitment.md
written as directly as possible, and was the implementation until the breadth-first one replaced it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trellis.core.crypto.suite import ED25519
from trellis.core.ledger.state_tree import BatchNodeReader, TreeUpdate, apply_updates, key_path, value_hash
from trellis.core.types import ZERO_HASH

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

_LEAF, _NODE = b"trellis/smt/leaf", b"trellis/smt/node"


class ReferenceUpdater:
    """The recursive update: descend per group of keys, rebuild on the way back up."""

    def __init__(self, nodes: Mapping[bytes, bytes]) -> None:
        self.nodes = nodes
        self.new: dict[bytes, bytes] = {}

    def load(self, h: bytes) -> bytes:
        return self.new[h] if h in self.new else self.nodes[h]

    def leaf(self, kp: bytes, vh: bytes) -> bytes:
        h = ED25519.tagged_hash(_LEAF, kp + vh)
        self.new[h] = b"\x01" + kp + vh
        return h

    def internal(self, children: list[bytes | None]) -> bytes | None:
        present = [(i, c) for i, c in enumerate(children) if c is not None]
        if not present:
            return None
        if len(present) == 1 and self.load(present[0][1])[0] == 1:
            return present[0][1]
        bitmap = sum(1 << i for i, _ in present)
        body = bitmap.to_bytes(2, "big") + b"".join(c for _, c in present)
        h = ED25519.tagged_hash(_NODE, body)
        self.new[h] = b"\x02" + body
        return h

    @staticmethod
    def nibble(path: bytes, depth: int) -> int:
        b = path[depth // 2]
        return b >> 4 if depth % 2 == 0 else b & 0x0F

    def build(self, entries: list[tuple[bytes, bytes]], depth: int) -> bytes | None:
        if not entries:
            return None
        if len(entries) == 1:
            return self.leaf(*entries[0])
        groups: list[list[tuple[bytes, bytes]]] = [[] for _ in range(16)]
        for e in entries:
            groups[self.nibble(e[0], depth)].append(e)
        return self.internal([self.build(g, depth + 1) if g else None for g in groups])

    def update(self, h: bytes | None, depth: int, items: list[tuple[bytes, bytes | None]]) -> bytes | None:
        if h is None:
            return self.build([(k, v) for k, v in items if v is not None], depth)
        enc = self.load(h)
        if enc[0] == 1:
            merged: dict[bytes, bytes | None] = {enc[1:33]: enc[33:65]}
            merged.update(items)
            return self.build(sorted((k, v) for k, v in merged.items() if v is not None), depth)
        bitmap = int.from_bytes(enc[1:3], "big")
        it = iter(enc[3 + 32 * j : 35 + 32 * j] for j in range(bitmap.bit_count()))
        children: list[bytes | None] = [next(it) if bitmap & (1 << i) else None for i in range(16)]
        groups: list[list[tuple[bytes, bytes | None]]] = [[] for _ in range(16)]
        for item in items:
            groups[self.nibble(item[0], depth)].append(item)
        for i, g in enumerate(groups):
            if g:
                children[i] = self.update(children[i], depth + 1, g)
        return self.internal(children)


def reference_apply(nodes: Mapping[bytes, bytes], root: bytes, updates: Mapping[bytes, bytes | None]) -> TreeUpdate:
    values = {value_hash(ED25519, v): v for v in updates.values() if v is not None}
    items = sorted((key_path(ED25519, k), None if v is None else value_hash(ED25519, v)) for k, v in updates.items())
    if not items:
        return TreeUpdate(root=root, nodes={}, values={})
    up = ReferenceUpdater(nodes)
    new_root = up.update(None if root == ZERO_HASH else root, 0, items)
    return TreeUpdate(root=ZERO_HASH if new_root is None else new_root, nodes=up.new, values=values)


class OneAtATime:
    """A ``NodeReader`` without batch reads."""

    def __init__(self, nodes: dict[bytes, bytes]) -> None:
        self.nodes = nodes

    def get_node(self, node_hash: bytes) -> bytes | None:
        return self.nodes.get(node_hash)


class ManyAtATime(OneAtATime):
    """A ``BatchNodeReader`` that counts its batch reads."""

    def __init__(self, nodes: dict[bytes, bytes]) -> None:
        super().__init__(nodes)
        self.batches = 0

    def get_nodes(self, node_hashes: Sequence[bytes]) -> list[bytes | None]:
        self.batches += 1
        return [self.nodes.get(h) for h in node_hashes]


# Keys whose paths share 3 to 6 leading nibbles with b"p0"'s (see test_state_tree_properties.py): deep paths,
# one-child internal nodes and collapses on delete.
PREFIX_KEYS = [b"p0", b"p2872682", b"p1039411", b"p2363432", b"p42673", b"p89325", b"p90860", b"p3883", b"p4741"]
KEY = st.one_of(st.sampled_from(PREFIX_KEYS), st.binary(min_size=1, max_size=4))
BATCHES = st.lists(
    st.dictionaries(KEY, st.one_of(st.none(), st.binary(max_size=3)), max_size=40), min_size=1, max_size=6
)


def test_a_dict_reader_with_get_nodes_is_a_batch_node_reader() -> None:
    assert isinstance(ManyAtATime({}), BatchNodeReader)
    assert not isinstance(OneAtATime({}), BatchNodeReader)


@SETTINGS
@given(BATCHES)
def test_apply_updates_equals_the_recursive_reference_with_either_reader(
    batches: list[dict[bytes, bytes | None]],
) -> None:
    nodes: dict[bytes, bytes] = {}
    root = ZERO_HASH
    for updates in batches:
        expected = reference_apply(nodes, root, updates)
        for reader in (OneAtATime(nodes), ManyAtATime(nodes)):
            got = apply_updates(ED25519, reader, root, updates)
            assert got.root == expected.root
            # ADR 0018: the reference also re-creates the loaded nodes that come out unchanged; those are
            # already stored and not in ``nodes``.
            assert got.nodes.items() <= expected.nodes.items()
            assert all(h in nodes for h in expected.nodes.keys() - got.nodes.keys())
            assert got.values == expected.values
        nodes.update(expected.nodes)
        root = expected.root


def test_batch_reads_are_one_per_tree_level() -> None:
    nodes: dict[bytes, bytes] = {}
    first = apply_updates(ED25519, OneAtATime(nodes), ZERO_HASH, {b"k%d" % i: b"v" for i in range(5000)})
    nodes.update(first.nodes)
    reader = ManyAtATime(nodes)
    apply_updates(ED25519, reader, first.root, {b"k%d" % i: b"w" for i in range(0, 5000, 7)})
    assert 3 <= reader.batches <= 6  # 5,000 keys: about log16(5000) + 1 levels; one read per level
