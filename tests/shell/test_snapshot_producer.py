"""The snapshot producer (ADR 0018 section 2) on LMDB: ``note_commit`` returns once its read view is open, so the
snapshot is of block H's state even when the next block is written while it is being built; snapshots are written
whole (a directory renamed into place), only the ``snapshot_keep`` newest are kept, and a restart offers what is on
disk and drops half-written ones."""

from __future__ import annotations

import contextlib
import hashlib
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from trellis.core.codec import decode
from trellis.core.crypto.suite import ED25519
from trellis.core.ledger.snapshot import Chunk, Manifest, ManifestIndex, verify_chunk, verify_manifest
from trellis.core.ledger.state_tree import apply_updates
from trellis.core.types import ZERO_HASH
from trellis.storage import snapshots
from trellis.storage.chain_store import ChainStore
from trellis.storage.kv import LmdbStore, ReadTxn
from trellis.storage.snapshots import SnapshotStore


def _write(kv: LmdbStore, root: bytes, updates: dict[bytes, bytes | None]) -> bytes:
    up = apply_updates(ED25519, ChainStore(kv), root, updates)
    kv.write_tables(
        {"state": {k: v for k, v in updates.items() if v is not None}, "smt_nodes": up.nodes},
        {"state": [k for k, v in updates.items() if v is None]},
    )
    return up.root


def _state(n: int, tag: bytes) -> dict[bytes, bytes | None]:
    return {b"k" + hashlib.sha256(b"%d" % i).digest()[:12]: tag + b"%d" % i for i in range(n)}


def test_the_snapshot_is_of_block_h_while_later_blocks_are_written(tmp_path: Path) -> None:
    kv = LmdbStore(tmp_path / "db", map_size=1 << 30)
    try:
        store = SnapshotStore(tmp_path / "snapshots", ED25519, "chain-p", 10, 2, kv)
        root10 = _write(kv, ZERO_HASH, _state(30_000, b"h10-"))
        store.note_commit(10, root10)
        # Block 11 rewrites every value and deletes some keys while snapshot 10 is being built.
        changes: dict[bytes, bytes | None] = dict(_state(30_000, b"h11-"))
        for k in list(changes)[:500]:
            changes[k] = None
        _write(kv, root10, changes)
        store.note_commit(11, b"\x00" * 32)  # not a multiple of the interval: nothing
        store.wait(60)
        assert store.offered_heights() == frozenset({10}) and store.failures == 0
        enc = store.manifest_bytes(10)
        assert enc is not None
        m = decode(enc, Manifest)
        verify_manifest(ED25519, m, "chain-p", 10, root10)
        index = ManifestIndex(m)
        values: set[bytes] = set()
        for i in range(m.chunk_count):
            raw = store.chunk_bytes(10, i)
            assert raw is not None
            chunk = decode(raw, Chunk)
            verify_chunk(ED25519, index, chunk, i)
            values.update(v[:4] for _, v in chunk.entries)
        assert values == {b"h10-"} and m.total_entries == 30_000
        assert store.chunk_bytes(10, m.chunk_count) is None and store.chunk_bytes(9, 0) is None
    finally:
        kv.close()


def test_only_the_newest_snapshots_are_kept_and_a_restart_offers_them(tmp_path: Path) -> None:
    kv = LmdbStore(tmp_path / "db", map_size=1 << 30)
    try:
        store = SnapshotStore(tmp_path / "snapshots", ED25519, "chain-p", 2, 2, kv)
        root = ZERO_HASH
        for h in range(1, 9):
            root = _write(kv, root, {b"key-%d" % h: b"v"})
            store.note_commit(h, root)
            store.wait(30)
        assert store.offered_heights() == frozenset({6, 8})
        assert sorted(p.name for p in (tmp_path / "snapshots").iterdir()) == ["6", "8"]
        (tmp_path / "snapshots" / ".tmp-10").mkdir()  # a snapshot cut off by a crash
        again = SnapshotStore(tmp_path / "snapshots", ED25519, "chain-p", 2, 2, kv)
        assert [s.height for s in again.offered()] == [8, 6]
        assert [s.manifest_id for s in again.offered()] == [s.manifest_id for s in store.offered()]
        assert not (tmp_path / "snapshots" / ".tmp-10").exists()
        again.stop()
        again.note_commit(10, root)  # a stopped store begins no snapshot
        time.sleep(0.1)
        assert again.offered_heights() == frozenset({6, 8})
    finally:
        kv.close()


def test_a_snapshot_being_fetched_is_kept_for_a_grace_period(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A peer fetching snapshot 2 is not cut off when snapshot 4 replaces it (keep = 1); past the grace period,
    or beyond SERVE_EXTRA such snapshots, it goes."""
    now = [1000.0]
    monkeypatch.setattr(snapshots, "_now", lambda: now[0])
    kv = LmdbStore(tmp_path / "db", map_size=1 << 30)
    try:
        store = SnapshotStore(tmp_path / "snapshots", ED25519, "chain-p", 2, 1, kv)
        root = ZERO_HASH
        for h in range(1, 5):
            root = _write(kv, root, {b"key-%d" % h: b"v"})
            if h == 3:
                assert store.chunk_bytes(2, 0) is not None  # a peer fetches snapshot 2
            store.note_commit(h, root)
            store.wait(30)
        assert store.offered_heights() == frozenset({2, 4}) and store.manifest_bytes(2) is not None
        now[0] += snapshots.SERVE_GRACE_S + 1
        for h in range(5, 7):
            root = _write(kv, root, {b"key-%d" % h: b"v"})
            store.note_commit(h, root)
            store.wait(30)
        assert store.offered_heights() == frozenset({6})
        assert sorted(p.name for p in (tmp_path / "snapshots").iterdir()) == ["6"]
    finally:
        kv.close()


def test_a_snapshot_whose_view_opens_too_late_is_abandoned(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """If the read view opens after note_commit stopped waiting (the next block may be written by then), the
    snapshot is abandoned: never a mix of two blocks."""
    monkeypatch.setattr(snapshots, "VIEW_OPEN_TIMEOUT_S", 0.05)
    kv = LmdbStore(tmp_path / "db", map_size=1 << 30)

    class SlowViews:
        def __getattr__(self, name: str) -> Any:
            return getattr(kv, name)

        @contextlib.contextmanager
        def read_view(self, tables: Sequence[str]) -> Iterator[ReadTxn]:
            time.sleep(0.5)
            with kv.read_view(tables) as view:
                yield view

    try:
        store = SnapshotStore(tmp_path / "snapshots", ED25519, "chain-p", 2, 2, SlowViews())  # type: ignore[arg-type]
        root = _write(kv, ZERO_HASH, {b"key": b"v"})
        store.note_commit(2, root)
        store.wait(30)
        assert store.offered_heights() == frozenset() and store.abandoned == 1 and store.failures == 0
        assert list((tmp_path / "snapshots").iterdir()) == []
    finally:
        kv.close()


def test_the_height_being_written_is_retained_from_pruning_until_offered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ADR 0018 review: the pruner's ``retain`` (``retained_heights``) holds the snapshot being built, so block H
    and its light block are not pruned before it is offered; it is not offered to peers meanwhile."""
    release = threading.Event()
    started = threading.Event()
    real = snapshots.build_snapshot

    def held(*args: Any, **kwargs: Any) -> tuple[bytes, int]:
        started.set()
        assert release.wait(30)
        return real(*args, **kwargs)

    monkeypatch.setattr(snapshots, "build_snapshot", held)
    kv = LmdbStore(tmp_path / "db", map_size=1 << 30)
    try:
        store = SnapshotStore(tmp_path / "snapshots", ED25519, "chain-p", 2, 2, kv)
        store.note_commit(2, _write(kv, ZERO_HASH, _state(10, b"h2-")))
        assert started.wait(30)
        assert store.retained_heights() == frozenset({2}) and store.offered_heights() == frozenset()
        assert store.manifest_bytes(2) is None
        release.set()
        store.wait(30)
        assert store.retained_heights() == store.offered_heights() == frozenset({2}) and store.failures == 0
    finally:
        release.set()
        store.stop()
        kv.close()
