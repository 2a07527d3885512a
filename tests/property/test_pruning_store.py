"""Pruning keeps exactly the retained heights (ADR 0018 section 1), for any sequence of blocks — values set back
to earlier ones (nodes re-created after they went out of use: A, B, A) included — and any retention policy:

- after any pass, the tree of every retained height (the recent window, genesis, the ``keep_every`` multiples,
  the snapshot heights the hook names) walks completely, proves every key of that height's state (present and
  absent) against its root, and reads every value at that height;
- every stored node is in the tree of some retained height (nothing pruned is left behind);
- a pruned height has no state root and lies below ``earliest_state_height``.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trellis.core.codec import encode
from trellis.core.crypto.suite import ED25519
from trellis.core.ledger.state_tree import apply_updates, prove, root_from_state_proof
from trellis.core.types import ZERO_HASH
from trellis.storage.chain_store import ChainStore, StoredTip, height_key
from trellis.storage.kv import MemoryStore
from trellis.storage.pruning import Pruner, Retention

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

KEYS = [b"p0", b"p2872682", b"p1039411", b"p2363432", b"p42673", b"k1", b"k2", b"k3", b"k4", b"k5"]
BLOCK = st.dictionaries(st.sampled_from(KEYS), st.one_of(st.none(), st.sampled_from([b"A", b"B", b"C"])), max_size=6)


def commit_state(store: ChainStore, height: int, root: bytes, updates: dict[bytes, bytes | None]) -> bytes:
    """What ``commit_block`` writes of a block's state (its state rows, root and tip), without a block."""
    tree = apply_updates(ED25519, store, root, updates)
    puts, deletes = store._state_rows(dict(updates), tree, height_key(height), genesis=height == 0)
    tip = StoredTip(height=height, time_ms=height, block_id=b"\x01" * 32, state_root=tree.root)
    puts["meta"] = {**puts.get("meta", {}), b"root/" + height_key(height): tree.root, b"tip": encode(tip)}
    store.kv.write_tables(puts, deletes)
    return tree.root


def reachable(store: ChainStore, root: bytes) -> set[bytes]:
    out: set[bytes] = set()
    todo = [] if root == ZERO_HASH else [root]
    while todo:
        h = todo.pop()
        out.add(h)
        enc = store.get_node(h)
        assert enc is not None, f"node {h.hex()} of a retained tree was pruned"
        if enc[0] == 2:
            todo += [enc[3 + 32 * j : 35 + 32 * j] for j in range(int.from_bytes(enc[1:3], "big").bit_count())]
    return out


def check_height(store: ChainStore, height: int, state: dict[bytes, bytes]) -> set[bytes]:
    root = store.state_root_at(height)
    assert root is not None, f"the state root of retained height {height} is gone"
    nodes = reachable(store, root)
    for key in KEYS:
        proof = prove(ED25519, store, root, key, height)
        value = state.get(key)
        assert root_from_state_proof(ED25519, key, value, proof) == root
        if value is not None:
            assert proof.leaf is not None
            assert store.leaf_value(ED25519, key, proof.leaf) == value
    return nodes


@SETTINGS
@given(
    blocks=st.lists(BLOCK, min_size=1, max_size=30),
    keep_recent=st.sampled_from([2, 3, 5]),
    keep_every=st.sampled_from([0, 2, 3, 7]),
    snapshots=st.sets(st.integers(1, 30), max_size=3),
    prune_every=st.integers(1, 6),
    batch=st.sampled_from([1, 3, 1000]),
)
def test_retained_heights_stay_whole_and_nothing_else_is_kept(
    blocks: list[dict[bytes, bytes | None]],
    keep_recent: int,
    keep_every: int,
    snapshots: set[int],
    prune_every: int,
    batch: int,
) -> None:
    store = ChainStore(MemoryStore(), track_lifetimes=True)
    retention = Retention(keep_recent=keep_recent, keep_every=keep_every)
    pruner = Pruner(store, retention, ED25519, retain=lambda: snapshots, batch=batch)
    genesis = {b"k1": b"A", b"p0": b"B"}
    states = [dict(genesis)]
    root = commit_state(store, 0, ZERO_HASH, dict(genesis))
    for height, updates in enumerate(blocks, start=1):
        root = commit_state(store, height, root, updates)
        state = dict(states[-1])
        for k, v in updates.items():
            if v is None:
                state.pop(k, None)
            else:
                state[k] = v
        states.append(state)
        if height % prune_every and height != len(blocks):
            continue
        report = pruner.prune()
        cutoff = retention.cutoff(height)
        assert report.cutoff == cutoff and store.earliest_state_height() == cutoff
        live: set[bytes] = set()
        for h in range(height + 1):
            if h >= cutoff or retention.permanent(h) or h in snapshots:
                live |= check_height(store, h, states[h])
            else:
                assert store.state_root_at(h) is None
        stored = {k for k, _ in store.kv.scan("smt_nodes", b"\x00", b"\xff" * 33, limit=10**6)}
        assert stored == live


def test_a_node_recreated_after_it_went_out_of_use_survives_the_pruning_of_its_first_life() -> None:
    store = ChainStore(MemoryStore(), track_lifetimes=True)
    pruner = Pruner(store, Retention(keep_recent=2), ED25519)
    root = commit_state(store, 0, ZERO_HASH, {b"a": b"A", b"b": b"B"})
    root = commit_state(store, 1, root, {b"a": b"X"})  # leaf (a, A) goes out of use
    root = commit_state(store, 2, root, {b"a": b"A"})  # and is created again
    for h in range(3, 7):
        root = commit_state(store, h, root, {b"c": b"%d" % h})
    pruner.prune()
    check_height(store, 6, {b"a": b"A", b"b": b"B", b"c": b"6"})
    assert store.state_root_at(1) is None


def test_an_archive_node_prunes_nothing_and_writes_no_lifetime_rows() -> None:
    store = ChainStore(MemoryStore())
    root = commit_state(store, 0, ZERO_HASH, {b"a": b"A"})
    for h in range(1, 6):
        root = commit_state(store, h, root, {b"a": b"%d" % h})
    report = Pruner(store, Retention(), ED25519).prune()
    assert report.nodes_deleted == 0 and all(store.state_root_at(h) is not None for h in range(6))
    for table in ("smt_born", "smt_stale"):
        assert not store.kv.scan(table, b"\x00", b"\xff" * 41, limit=1)
    assert store.kv.scan("smt_hist", b"\x00", b"\xff" * 33, limit=1)  # historical reads still need it


@SETTINGS
@given(
    blocks=st.lists(st.tuples(BLOCK, st.booleans()), min_size=1, max_size=30),
    track_genesis=st.booleans(),
    keep_recent=st.sampled_from([2, 3, 5]),
    keep_every=st.sampled_from([0, 2, 3, 7]),
    snapshots=st.sets(st.integers(1, 30), max_size=3),
    batch=st.sampled_from([1, 1000]),
)
def test_pruning_switched_on_and_off_deletes_only_nodes_whose_lives_were_all_recorded(
    blocks: list[tuple[dict[bytes, bytes | None], bool]],
    track_genesis: bool,
    keep_recent: int,
    keep_every: int,
    snapshots: set[int],
    batch: int,
) -> None:
    """An archive node (no lifetime rows) that turns pruning on later, maybe off and on again (each block is
    committed with or without lifetime rows, a pass runs after each block with them): every retained height stays
    whole, and a node left behind was created, or went out of use, in a block committed without the rows, or was
    created before such a block (it may have been re-created there unrecorded: its rows before it are kept)."""
    kv = MemoryStore()
    retention = Retention(keep_recent=keep_recent, keep_every=keep_every)
    store = ChainStore(kv, track_lifetimes=track_genesis)
    genesis = {b"k1": b"A", b"p0": b"B"}
    states = [dict(genesis)]
    untracked: set[bytes] = set()  # nodes that may be left behind (see the docstring)
    created: set[bytes] = set()

    def commit(height: int, root: bytes, updates: dict[bytes, bytes | None]) -> bytes:
        tree = apply_updates(ED25519, store, root, updates)
        created.update(tree.nodes)
        if not store.track_lifetimes:
            untracked.update(created, tree.stale)
        return commit_state(store, height, root, updates)

    root = commit(0, ZERO_HASH, dict(genesis))
    for height, (updates, track) in enumerate(blocks, start=1):
        if track != store.track_lifetimes:
            store = ChainStore(kv, track_lifetimes=track)  # the node restarted with pruning on or off
        root = commit(height, root, updates)
        state = dict(states[-1])
        for k, v in updates.items():
            if v is None:
                state.pop(k, None)
            else:
                state[k] = v
        states.append(state)
        if not track:
            continue
        Pruner(store, retention, ED25519, retain=lambda: snapshots, batch=batch).prune()
        cutoff = retention.cutoff(height)
        live: set[bytes] = set()
        for h in range(height + 1):
            if h >= cutoff or retention.permanent(h) or h in snapshots:
                live |= check_height(store, h, states[h])
        stored = {k for k, _ in kv.scan("smt_nodes", b"\x00", b"\xff" * 33, limit=10**6)}
        assert live <= stored and stored - live <= untracked


def test_a_node_that_lived_unrecorded_and_is_created_again_with_rows_is_pinned() -> None:
    """Leaf (a, A) lives at heights 1-2 without lifetime rows (an archive node), then is created again at 5 by a
    node that now prunes and goes at 6: its born row at 5 alone would let the pruner delete it, but keep_every 2
    keeps height 2."""
    kv = MemoryStore()
    store = ChainStore(kv)
    root = commit_state(store, 0, ZERO_HASH, {b"b": b"B"})
    root = commit_state(store, 1, root, {b"a": b"A"})
    root = commit_state(store, 2, root, {})
    root = commit_state(store, 3, root, {b"a": b"X"})  # out of use, unrecorded
    root = commit_state(store, 4, root, {})
    store = ChainStore(kv, track_lifetimes=True)  # restarted with pruning on
    root = commit_state(store, 5, root, {b"a": b"A"})  # created again
    for h in range(6, 10):
        root = commit_state(store, h, root, {b"a": b"%d" % h})
    report = Pruner(store, Retention(keep_recent=2, keep_every=2), ED25519).prune()
    assert report.cutoff == 8 and store.state_root_at(5) is None
    check_height(store, 2, {b"a": b"A", b"b": b"B"})


def test_no_node_is_deleted_while_blocks_are_committed_without_lifetime_rows() -> None:
    kv = MemoryStore()
    store = ChainStore(kv, track_lifetimes=True)
    root = commit_state(store, 0, ZERO_HASH, {b"b": b"B"})
    root = commit_state(store, 1, root, {b"a": b"A"})
    root = commit_state(store, 2, root, {b"a": b"X"})  # (a, A) out of use at 2, recorded
    store = ChainStore(kv)  # restarted as an archive node
    root = commit_state(store, 3, root, {b"a": b"A"})  # created again, unrecorded
    root = commit_state(store, 4, root, {b"c": b"C"})
    Pruner(store, Retention(keep_recent=2), ED25519).prune()
    check_height(store, 4, {b"a": b"A", b"b": b"B", b"c": b"C"})
