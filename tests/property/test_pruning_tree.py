"""``apply_updates`` reports exactly what changed between two trees (ADR 0018 section 1): ``nodes`` is
reachable(new root) - reachable(old root), ``stale`` is reachable(old root) - reachable(new root), and
``replaced`` names the old leaf of every key whose value changed or went — for any sequence of batched writes and
deletes, values set back to earlier ones (re-created nodes) included. The roots themselves are checked against
the recursive reference in test_state_tree_update_oracle.py."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trellis.core.crypto.suite import ED25519
from trellis.core.ledger.state_tree import apply_updates, key_path, value_hash
from trellis.core.types import ZERO_HASH
from trellis.storage.chain_store import ChainStore
from trellis.storage.kv import MemoryStore

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Keys whose paths share 3 to 6 leading nibbles (see test_state_tree_properties.py): deep paths, one-child
# internal nodes, collapses on delete. Few values, so values come back (A, B, A re-creates nodes).
PREFIX_KEYS = [b"p0", b"p2872682", b"p1039411", b"p2363432", b"p42673", b"p89325", b"p90860", b"p3883", b"p4741"]
KEY = st.one_of(st.sampled_from(PREFIX_KEYS), st.binary(min_size=1, max_size=2))
VALUE = st.one_of(st.none(), st.sampled_from([b"A", b"B", b"C"]))
BATCHES = st.lists(st.dictionaries(KEY, VALUE, max_size=30), min_size=1, max_size=8)


def reachable(nodes: dict[bytes, bytes], root: bytes) -> set[bytes]:
    """Every node hash under ``root`` (each read from ``nodes``, so a missing node fails the test)."""
    out: set[bytes] = set()
    todo = [] if root == ZERO_HASH else [root]
    while todo:
        h = todo.pop()
        out.add(h)
        enc = nodes[h]
        if enc[0] == 2:
            todo += [enc[3 + 32 * j : 35 + 32 * j] for j in range(int.from_bytes(enc[1:3], "big").bit_count())]
    return out


def leaf_of(key: bytes, value: bytes) -> bytes:
    return ED25519.tagged_hash(b"trellis/smt/leaf", key_path(ED25519, key) + value_hash(ED25519, value))


@SETTINGS
@given(BATCHES)
def test_nodes_and_stale_are_the_difference_of_the_reachable_sets(batches: list[dict[bytes, bytes | None]]) -> None:
    store = ChainStore(MemoryStore())
    nodes: dict[bytes, bytes] = {}
    state: dict[bytes, bytes] = {}
    root = ZERO_HASH
    for updates in batches:
        up = apply_updates(ED25519, store, root, updates)
        nodes.update(up.nodes)
        before, after = reachable(nodes, root), reachable(nodes, up.root)
        assert set(up.nodes) == after - before
        assert sorted(up.stale) == sorted(before - after)
        assert len(set(up.stale)) == len(up.stale)
        expected_replaced = {leaf_of(k, state[k]): k for k, v in updates.items() if k in state and state[k] != v}
        assert up.replaced == expected_replaced
        store.kv.write_tables({"smt_nodes": up.nodes})
        for k, v in updates.items():
            if v is None:
                state.pop(k, None)
            else:
                state[k] = v
        root = up.root


def test_a_value_set_back_recreates_its_leaf_and_the_unchanged_rewrite_creates_nothing() -> None:
    store = ChainStore(MemoryStore())
    first = apply_updates(ED25519, store, ZERO_HASH, {b"a": b"A", b"b": b"B"})
    store.kv.write_tables({"smt_nodes": first.nodes})
    same = apply_updates(ED25519, store, first.root, {b"a": b"A"})
    assert same.root == first.root and same.nodes == {} and same.stale == [] and same.replaced == {}
    second = apply_updates(ED25519, store, first.root, {b"a": b"X"})
    store.kv.write_tables({"smt_nodes": second.nodes})
    assert leaf_of(b"a", b"A") in second.stale and second.replaced == {leaf_of(b"a", b"A"): b"a"}
    third = apply_updates(ED25519, store, second.root, {b"a": b"A"})
    assert third.root == first.root
    assert set(third.nodes) == set(first.nodes) - {leaf_of(b"b", b"B")}
