"""State snapshots on disk (ADR 0018 section 2; format in docs/spec/snapshot.md): the producer and the restore
writer.

Producer: after the commit of a block ``H`` with ``H % snapshot_interval == 0``, ``SnapshotStore.note_commit``
starts a background thread that opens ONE read view of ``state`` and ``smt_nodes`` (LMDB MVCC: the state exactly
as block ``H`` left it, whatever is committed meanwhile) before the call returns, i.e. before the next block's
write. The thread then:

1. streams ``state`` into 256 temporary bucket files by the first byte of each key's path (so memory holds one
   bucket, about n/256 entries, at a time) and counts the entries;
2. walks the tree of ``root(H)`` down to the frontier depth (``walk_frontier``);
3. reads the buckets in path order to size each item, and assigns items to chunks (``assign_chunks``);
4. reads the buckets again and writes ``chunk-<i>`` files, then ``manifest``, into ``snapshots/.tmp-<H>/``, and
   renames that directory to ``snapshots/<H>/`` (a snapshot is there whole or not at all);
5. deletes all but the ``snapshot_keep`` newest snapshots, except (at most ``SERVE_EXTRA`` of them) one served to
   a peer within the last ``SERVE_GRACE_S`` seconds: a joining node fetching it is not cut off mid-sync.

If the read view does not open within ``VIEW_OPEN_TIMEOUT_S`` (the next block may be written by then), that
snapshot is abandoned: a snapshot is never of a mix of two blocks.

Restore writer (``restore``): a marker in the chain environment first (fsynced), the derived rows in one
transaction, an fsync of the derived environment, then the chain rows with the marker's removal in one
transaction. ``restore_status`` tells an interrupted restore, or a state-synced store whose derived environment
was lost (a power loss with ``[node] durable_state = false``: the blocks below the snapshot are not held, so it
cannot be rebuilt), from a complete one; ``check_restored`` refuses to open either (the fix: ``--state-sync``,
which wipes the store, ``wipe_store``, and syncs again).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import shutil
import struct
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from trellis.core.codec import decode, encode
from trellis.core.crypto.suite import Suite
from trellis.core.errors import TrellisError
from trellis.core.ledger.block import Block, Commit
from trellis.core.ledger.snapshot import (
    CHUNK_TARGET_BYTES,
    MAX_CHUNK_BYTES,
    MAX_MANIFEST_BYTES,
    SNAPSHOT_VERSION,
    Chunk,
    Manifest,
    ManifestIndex,
    SnapshotError,
    SnapshotItem,
    assign_chunks,
    frontier_depth,
    manifest_id,
    verify_chunk,
    verify_total,
    walk_frontier,
)
from trellis.core.ledger.state_tree import NodeReader
from trellis.storage.chain_store import LIFETIMES_KEY, StoredTip, height_key
from trellis.storage.kv import KVStore, ReadTxn, StorageError, WriteTxn

log = logging.getLogger("trellis.snapshots")

_BUCKETS = 256
_REC = struct.Struct(">HI")
_KEY_TAG = b"trellis/state/key"
VIEW_TABLES = ("state", "smt_nodes")
VIEW_OPEN_TIMEOUT_S = 30.0
"""How long ``note_commit`` waits for the snapshot's read view to open; past it the snapshot is abandoned."""
SERVE_GRACE_S = 300.0
"""A snapshot served to a peer within this many seconds is not deleted by the ``snapshot_keep`` rule ..."""
SERVE_EXTRA = 2
"""... but at most this many snapshots beyond ``snapshot_keep`` are kept so."""
RESTORE_MARKER = b"restore_in_progress"
"""``chain_meta`` key written (fsynced) before a restore writes anything, removed with its last write."""
SYNCED_AT = b"state_synced_at"
"""``chain_meta`` (and ``meta``) key: the snapshot height the store was restored from."""


def _now() -> float:
    """Monotonic seconds (tests replace it)."""
    return time.monotonic()


class SnapshotCancelled(TrellisError):
    """The snapshot being built was abandoned (the node stops)."""

    code = "snapshot_cancelled"


@dataclass(frozen=True)
class SnapshotInfo:
    """A snapshot on disk: its height, manifest id and chunk count."""

    height: int
    manifest_id: bytes
    chunk_count: int


class _ViewNodes(NodeReader):
    def __init__(self, view: ReadTxn) -> None:
        self.view = view

    def get_node(self, node_hash: bytes) -> bytes | None:
        return self.view.get("smt_nodes", node_hash)


def _array_header(n: int) -> bytes:
    if n < 16:
        return bytes((0x90 | n,))
    if n < 1 << 16:
        return b"\xdc" + n.to_bytes(2, "big")
    return b"\xdd" + n.to_bytes(4, "big")


def _write_records(path: Path, recs: Sequence[tuple[bytes, bytes, bytes]]) -> None:
    with path.open("ab") as f:
        for kp, key, value in recs:
            f.write(_REC.pack(len(key), len(value)) + kp + key + value)


def _read_records(path: Path) -> list[tuple[bytes, bytes, bytes]]:
    if not path.exists():
        return []
    data = path.read_bytes()
    out: list[tuple[bytes, bytes, bytes]] = []
    i = 0
    while i < len(data):
        kl, vl = _REC.unpack_from(data, i)
        i += _REC.size
        kp = data[i : i + 32]
        key = data[i + 32 : i + 32 + kl]
        value = data[i + 32 + kl : i + 32 + kl + vl]
        i += 32 + kl + vl
        out.append((kp, key, value))
    out.sort()
    return out


def build_snapshot(
    suite: Suite,
    chain_id: str,
    view: ReadTxn,
    height: int,
    state_root: bytes,
    work: Path,
    *,
    chunk_target: int = CHUNK_TARGET_BYTES,
    cancelled: threading.Event | None = None,
) -> tuple[bytes, int]:
    """Write the snapshot of the state in ``view`` (after block ``height``, root ``state_root``) into the empty
    directory ``work``: ``chunk-<i>`` files and ``manifest`` (``chunk_target``: the spec's
    ``CHUNK_TARGET_BYTES``; another value only in tests). ``cancelled``: once set, the build stops
    (``SnapshotCancelled``). Returns (manifest id, chunk count).

    Raises:
        SnapshotError: an item too large for a chunk.
        StorageError: the view lacks a tree node.
    """
    buckets = work / "buckets"
    buckets.mkdir()
    h = suite.hash
    kprefix = bytes((len(_KEY_TAG),)) + _KEY_TAG
    pending: list[list[tuple[bytes, bytes, bytes]]] = [[] for _ in range(_BUCKETS)]
    pending_n = 0
    n = 0
    for key, value in view.iterate("state"):
        kp = h(kprefix + key)
        pending[kp[0]].append((kp, key, value))
        pending_n += 1
        n += 1
        if pending_n >= 65536:
            if cancelled is not None and cancelled.is_set():
                raise SnapshotCancelled("the node is stopping")
            for b, recs in enumerate(pending):
                if recs:
                    _write_records(buckets / f"{b:02x}", recs)
                    recs.clear()
            pending_n = 0
    for b, recs in enumerate(pending):
        if recs:
            _write_records(buckets / f"{b:02x}", recs)
    del pending
    depth = frontier_depth(n)
    frontier = walk_frontier(_ViewNodes(view), state_root, depth)
    probe = Manifest(
        version=SNAPSHOT_VERSION,
        chain_id=chain_id,
        height=height,
        state_root=state_root,
        depth=depth,
        items=[SnapshotItem(depth=k, prefix=p, hash=hh, chunk=0) for k, p, hh in frontier],
        chunk_count=1,
        total_entries=n,
    )
    index = ManifestIndex(probe)
    sizes = [0] * len(frontier)
    counts = [0] * len(frontier)
    for b in range(_BUCKETS):
        if cancelled is not None and cancelled.is_set():
            raise SnapshotCancelled("the node is stopping")
        for kp, key, value in _read_records(buckets / f"{b:02x}"):
            i = index.item_of(kp)
            if i is None:
                raise StorageError(f"state key {key.hex()} lies under no node of the state tree at {height}")
            sizes[i] += len(encode((key, value)))
            counts[i] += 1
    chunk_of = assign_chunks(sizes, chunk_target)
    chunk_count = chunk_of[-1] + 1 if chunk_of else 0
    per_chunk = [0] * chunk_count
    for i, c in enumerate(chunk_of):
        per_chunk[c] += counts[i]
    current = -1
    f = None
    try:
        for b in range(_BUCKETS):
            if cancelled is not None and cancelled.is_set():
                raise SnapshotCancelled("the node is stopping")
            for kp, key, value in _read_records(buckets / f"{b:02x}"):
                item = index.item_of(kp)
                assert item is not None
                c = chunk_of[item]
                if c != current:
                    if f is not None:
                        f.close()
                    current = c
                    f = (work / f"chunk-{c}").open("wb")
                    f.write(b"\x94" + encode(SNAPSHOT_VERSION) + encode(height) + encode(c))
                    f.write(_array_header(per_chunk[c]))
                assert f is not None
                f.write(encode((key, value)))
    finally:
        if f is not None:
            f.close()
    shutil.rmtree(buckets)
    manifest = Manifest(
        version=SNAPSHOT_VERSION,
        chain_id=chain_id,
        height=height,
        state_root=state_root,
        depth=depth,
        items=[SnapshotItem(depth=k, prefix=p, hash=hh, chunk=chunk_of[i]) for i, (k, p, hh) in enumerate(frontier)],
        chunk_count=chunk_count,
        total_entries=n,
    )
    enc = encode(manifest)
    (work / "manifest").write_bytes(enc)
    return manifest_id(suite, enc), chunk_count


class SnapshotStore:
    """The snapshots under ``root`` (``<data>/snapshots``): the producer and what peers are offered.

    Args:
        root: the snapshots directory.
        suite, chain_id: the chain's.
        interval: a snapshot after every block whose height is a multiple of this (0: none).
        keep: how many of the newest snapshots are kept.
        kv: the store the state is read from (one read view per snapshot).
    """

    def __init__(self, root: Path, suite: Suite, chain_id: str, interval: int, keep: int, kv: KVStore) -> None:
        self.root = root
        self.suite = suite
        self.chain_id = chain_id
        self.interval = interval
        self.keep = keep
        self.kv = kv
        self._lock = threading.Lock()
        self._offered: dict[int, SnapshotInfo] = {}
        self._building: int | None = None
        """The height of the snapshot being written (None: none), retained by the pruner until it is offered."""
        self._thread: threading.Thread | None = None
        self._cancel = threading.Event()
        self._served: dict[int, float] = {}
        """Height -> when a peer was last served its manifest or a chunk (``time.monotonic``)."""
        self.failures = 0
        self.abandoned = 0
        """Snapshots abandoned because their read view opened too late."""
        root.mkdir(parents=True, exist_ok=True)
        for p in root.iterdir():
            if p.name.startswith(".tmp-"):
                shutil.rmtree(p, ignore_errors=True)
            elif p.name.isdigit() and (p / "manifest").is_file():
                try:
                    self._offered[int(p.name)] = self._info(int(p.name))
                except (OSError, TrellisError) as exc:
                    log.warning("snapshot %s is unreadable (%s); not offered", p, exc)

    def _info(self, height: int) -> SnapshotInfo:
        enc = (self.root / str(height) / "manifest").read_bytes()
        m = decode(enc, Manifest, max_size=MAX_MANIFEST_BYTES)
        return SnapshotInfo(height=height, manifest_id=manifest_id(self.suite, enc), chunk_count=m.chunk_count)

    # -- what peers are offered ------------------------------------------------------------------------------
    def offered(self) -> list[SnapshotInfo]:
        """The snapshots on disk, newest first."""
        with self._lock:
            return sorted(self._offered.values(), key=lambda s: -s.height)

    def offered_heights(self) -> frozenset[int]:
        """Heights of the snapshots offered to peers (the pruner keeps these and the one being written:
        ``retained_heights``)."""
        with self._lock:
            return frozenset(self._offered)

    def retained_heights(self) -> frozenset[int]:
        """Heights whose state and block the pruner must keep (its ``retain``): the snapshots offered and the one
        being written (its block H and light block are served once it is offered)."""
        with self._lock:
            building = () if self._building is None else (self._building,)
            return frozenset((*self._offered, *building))

    def manifest_bytes(self, height: int) -> bytes | None:
        """The manifest of the snapshot at ``height`` (None: not offered)."""
        if height not in self.offered_heights():
            return None
        self._served[height] = _now()
        try:
            return (self.root / str(height) / "manifest").read_bytes()
        except OSError:
            return None

    def chunk_bytes(self, height: int, index: int) -> bytes | None:
        """Chunk ``index`` of the snapshot at ``height`` as stored (None: not offered)."""
        info = self._offered.get(height)
        if info is None or not 0 <= index < info.chunk_count:
            return None
        self._served[height] = _now()
        path = self.root / str(height) / f"chunk-{index}"
        try:
            if path.stat().st_size > MAX_CHUNK_BYTES:
                return None
            return path.read_bytes()
        except OSError:
            return None

    # -- the producer ------------------------------------------------------------------------------------------
    def note_commit(self, height: int, state_root: bytes) -> None:
        """Block ``height`` was just written: begin its snapshot if it is due. Returns once the snapshot's read
        view is open (so before the next block's write); the snapshot is built on a background thread. A snapshot
        still being built when the next is due makes that one be skipped (logged). A view that has not opened
        within ``VIEW_OPEN_TIMEOUT_S`` abandons the snapshot (logged): it could see a later block."""
        if self.interval <= 0 or height == 0 or height % self.interval != 0 or self._cancel.is_set():
            return
        if self._thread is not None and self._thread.is_alive():
            log.warning("snapshot of height %d skipped: the previous snapshot is still being written", height)
            return
        opened = threading.Event()
        late = threading.Event()
        gate = threading.Lock()
        with self._lock:
            self._building = height  # cleared by the thread once the snapshot is offered or abandoned
        t = threading.Thread(
            target=self._run, args=(height, state_root, opened, late, gate), name=f"snapshot-{height}", daemon=True
        )
        self._thread = t
        t.start()
        if not opened.wait(timeout=VIEW_OPEN_TIMEOUT_S):
            with gate:
                if not opened.is_set():
                    late.set()  # the thread sees it once its view opens, and builds nothing
                    self.abandoned += 1
                    log.warning(
                        "snapshot of height %d abandoned: its read view did not open within %.0fs",
                        height,
                        VIEW_OPEN_TIMEOUT_S,
                    )

    def wait(self, timeout: float | None = None) -> None:
        """Wait for the snapshot being written, if any."""
        t = self._thread
        if t is not None:
            t.join(timeout)

    def stop(self) -> None:
        """Abandon the snapshot being written and wait for its thread (its read view closes before the store
        may be closed). No snapshot is begun afterwards."""
        self._cancel.set()
        self.wait()

    def _run(
        self, height: int, state_root: bytes, opened: threading.Event, late: threading.Event, gate: threading.Lock
    ) -> None:
        work = self.root / f".tmp-{height}"
        try:
            shutil.rmtree(work, ignore_errors=True)
            work.mkdir(parents=True)
            with self.kv.read_view(VIEW_TABLES) as view:
                with gate:
                    if late.is_set():
                        raise SnapshotCancelled("its read view opened too late (a later block may be written)")
                    opened.set()
                mid, chunks = build_snapshot(
                    self.suite, self.chain_id, view, height, state_root, work, cancelled=self._cancel
                )
            final = self.root / str(height)
            shutil.rmtree(final, ignore_errors=True)
            work.rename(final)
            with self._lock:
                self._offered[height] = SnapshotInfo(height=height, manifest_id=mid, chunk_count=chunks)
            log.info("snapshot of height %d written: %d chunks, manifest %s", height, chunks, mid.hex()[:16])
            self._prune()
        except SnapshotCancelled as exc:
            log.info("snapshot of height %d abandoned: %s", height, exc.reason)
            shutil.rmtree(work, ignore_errors=True)
        except Exception as exc:
            self.failures += 1
            log.error("snapshot of height %d failed: %s", height, exc)
            shutil.rmtree(work, ignore_errors=True)
        finally:
            with self._lock:
                if self._building == height:
                    self._building = None
            opened.set()

    def _prune(self) -> None:
        now = _now()
        with self._lock:
            old = sorted(self._offered)[: max(0, len(self._offered) - self.keep)]
            # Keep (newest first) up to SERVE_EXTRA of the old ones that a peer is fetching.
            serving = [h for h in reversed(old) if now - self._served.get(h, -SERVE_GRACE_S) < SERVE_GRACE_S]
            old = [h for h in old if h not in serving[:SERVE_EXTRA]]
            for h in old:
                del self._offered[h]
                self._served.pop(h, None)
        for h in old:
            shutil.rmtree(self.root / str(h), ignore_errors=True)


# -- restore ------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RestoredChain:
    """What a state sync verified besides the state: block ``H``, its commit, and the blocks (with commits) that
    announced validator-set changes up to ``H`` (what ``validator_changes`` reads)."""

    block: Block
    block_id: bytes
    commit: Commit
    set_change_blocks: Sequence[tuple[int, bytes, bytes, bytes]]
    """(height, block id, encoded block, encoded commit) of each set-change header's block."""


def read_chunk_file(path: Path) -> Chunk:
    """A staged chunk file, decoded (it was verified before it was staged)."""
    return decode(path.read_bytes(), Chunk, max_size=MAX_CHUNK_BYTES)


_NODE_LEN = struct.Struct(">I")


def _nodes_path(chunk_path: Path) -> Path:
    return chunk_path.with_name(chunk_path.name + ".nodes")


def _encode_nodes(nodes: Mapping[bytes, bytes]) -> bytes:
    return b"".join(h + _NODE_LEN.pack(len(enc)) + enc for h, enc in nodes.items())


def _decode_nodes(data: bytes) -> dict[bytes, bytes]:
    out: dict[bytes, bytes] = {}
    i = 0
    while i < len(data):
        h = data[i : i + 32]
        (n,) = _NODE_LEN.unpack_from(data, i + 32)
        out[h] = data[i + 36 : i + 36 + n]
        i += 36 + n
    return out


def _staged_digest(chunk_enc: bytes, nodes_enc: bytes) -> bytes:
    d = hashlib.sha256(b"trellis/statesync/staged-chunk")
    d.update(len(chunk_enc).to_bytes(8, "big"))
    d.update(chunk_enc)
    d.update(nodes_enc)
    return d.digest()


def stage_verified_chunk(path: Path, chunk_enc: bytes, nodes: Mapping[bytes, bytes]) -> bytes:
    """Stage a chunk that passed ``verify_chunk`` at ``path``, with the tree nodes ``verify_chunk`` returned beside
    it (``<path>.nodes``). Returns the proof of verification: a digest binding both files' bytes, to be held in
    memory (never on disk) and handed to ``restore``, which then writes the chunk without verifying it again, as
    long as both files still hash to it."""
    nodes_enc = _encode_nodes(nodes)
    path.write_bytes(chunk_enc)
    _nodes_path(path).write_bytes(nodes_enc)
    return _staged_digest(chunk_enc, nodes_enc)


def _staged_chunk(
    suite: Suite, index: ManifestIndex, path: Path, i: int, proof: bytes | None
) -> tuple[Chunk, dict[bytes, bytes]]:
    """Chunk ``i`` and its tree nodes, from its staged file: verified at fetch time when ``proof`` (from
    ``stage_verified_chunk``) still matches the staged bytes; otherwise (no proof, e.g. after a restart, or a file
    changed on disk since) verified now."""
    enc = path.read_bytes()
    chunk = decode(enc, Chunk, max_size=MAX_CHUNK_BYTES)
    if proof is not None:
        nodes_file = _nodes_path(path)
        nodes_enc = nodes_file.read_bytes() if nodes_file.exists() else b""
        if hmac.compare_digest(_staged_digest(enc, nodes_enc), proof):
            return chunk, _decode_nodes(nodes_enc)
        log.warning("state sync: staged chunk %d changed on disk since it was verified; verifying it again", i)
    return chunk, verify_chunk(suite, index, chunk, i)


def restore(
    kv: KVStore,
    suite: Suite,
    genesis_hash: bytes,
    manifest: Manifest,
    upper_nodes: dict[bytes, bytes],
    chunk_files: Sequence[Path],
    chain: RestoredChain,
    verified: Mapping[int, bytes] | None = None,
) -> None:
    """Write a verified snapshot into an empty store: ``state`` rows, tree nodes (``smt_born`` at ``H`` for each),
    ``meta/root/<H>``, the tips, the genesis hash, block ``H`` and its commit, the set-change blocks,
    ``meta/state_synced_at`` and the earliest heights held (``meta/pruned_below``, ``chain_meta/blocks_pruned_below``
    = ``H``: history below the snapshot answers "pruned"). In this order, so that a restore cut short anywhere
    (killed, or a power loss) is told by ``restore_status``: ``chain_meta/restore_in_progress`` (the chain
    environment: fsynced); the derived tables in one transaction (chunk files read one at a time, each checked
    again unless ``verified`` holds its proof of verification from ``stage_verified_chunk`` and the staged bytes
    still match it); an fsync of the derived environment; then the chain tables, ``chain_meta/state_synced_at`` and the
    marker's removal in one transaction.

    Raises:
        StorageError: the store is not empty, or a write failed.
        SnapshotError: a staged chunk no longer verifies.
    """
    if restore_status(kv) != "empty":
        raise StorageError("state sync writes only into an empty data directory")
    h = manifest.height
    h8 = height_key(h)
    header = chain.block.header
    tip = encode(StoredTip(height=h, time_ms=header.time_ms, block_id=chain.block_id, state_root=header.state_root))
    index = ManifestIndex(manifest)
    born_suffix = h8

    def derived(txn: WriteTxn) -> None:
        for node_hash, enc in upper_nodes.items():
            txn.put("smt_nodes", node_hash, enc)
            txn.put("smt_born", node_hash + born_suffix, b"")
        total = 0
        for i, path in enumerate(chunk_files):
            chunk, nodes = _staged_chunk(suite, index, path, i, None if verified is None else verified.get(i))
            total += len(chunk.entries)
            for node_hash, enc in nodes.items():
                txn.put("smt_nodes", node_hash, enc)
                txn.put("smt_born", node_hash + born_suffix, b"")
            for key, value in chunk.entries:
                txn.put("state", key, value)
        if len(chunk_files) != manifest.chunk_count:
            raise SnapshotError("wrong_chunk", f"{len(chunk_files)} chunks of {manifest.chunk_count}")
        verify_total(manifest, total)
        txn.put("meta", b"root/" + h8, manifest.state_root)
        txn.put("meta", b"tip", tip)
        txn.put("meta", b"genesis", genesis_hash)
        txn.put("meta", b"state_synced_at", h8)
        txn.put("meta", b"pruned_below", h8)  # no state before H here: queries below it answer "pruned" (410)
        txn.put("meta", LIFETIMES_KEY, height_key(0))  # every node held has its born row: none lived unrecorded

    kv.write_tables({"chain_meta": {RESTORE_MARKER: h8}})
    kv.transact(("state", "smt_nodes", "smt_born", "meta"), derived)
    sync = getattr(kv, "sync", None)  # SplitStore, LmdbStore: fsync the derived tables before the restore counts
    if sync is not None:
        sync()
    blocks = {h8: encode(chain.block)}
    ids = {chain.block_id: h8}
    commits = {h8: encode(chain.commit)}
    for height, block_id, block_enc, commit_enc in chain.set_change_blocks:
        blocks[height_key(height)] = block_enc
        ids[block_id] = height_key(height)
        commits[height_key(height)] = commit_enc
    kv.write_tables(
        {
            "blocks": blocks,
            "block_ids": ids,
            "commits": commits,
            # no blocks before H here but the set-change ones: /v1/blocks below it answer "pruned" (410)
            "chain_meta": {b"top": tip, b"genesis": genesis_hash, b"blocks_pruned_below": h8, SYNCED_AT: h8},
        },
        {"chain_meta": [RESTORE_MARKER]},
    )


def state_synced_at(kv: KVStore) -> int | None:
    """The snapshot height this store was restored from (None: it was not)."""
    raw = kv.get("meta", b"state_synced_at")
    return None if raw is None else int.from_bytes(raw, "big")


RestoreStatus = Literal["empty", "held", "incomplete", "state_lost"]


def restore_status(kv: KVStore) -> RestoreStatus:
    """What a data directory's store holds, for state sync: ``empty`` (nothing: a sync may write it); ``held`` (a
    chain: initialised from genesis, or a complete restore with its state); ``incomplete`` (a restore was cut
    short: ``chain_meta/restore_in_progress``); ``state_lost`` (restored from a snapshot, but the derived
    environment no longer holds that restore: discarded after a power loss with ``[node] durable_state =
    false``; the blocks below the snapshot are not held, so it cannot be rebuilt; or, on a store whose blocks were
    pruned (``chain_meta/blocks_pruned_below`` > 1), the derived tables are behind the earliest block held, so
    re-executing the blocks cannot rebuild them)."""
    if kv.get("chain_meta", RESTORE_MARKER) is not None:
        return "incomplete"
    synced = kv.get("chain_meta", SYNCED_AT)
    if synced is not None and kv.get("meta", SYNCED_AT) != synced:
        return "state_lost"
    if _first_block_needed(kv) < _blocks_pruned_below(kv):
        return "state_lost"
    if kv.get("meta", b"genesis") is None and kv.get("chain_meta", b"genesis") is None:
        return "empty"
    return "held"


def _blocks_pruned_below(kv: KVStore) -> int:
    """``chain_meta/blocks_pruned_below`` (1 when absent: no block was pruned; block 0 is never stored)."""
    raw = kv.get("chain_meta", b"blocks_pruned_below")
    return 1 if raw is None else int.from_bytes(raw, "big")


def _first_block_needed(kv: KVStore) -> int:
    """The first block opening the store re-executes: the one after the derived tip (``meta/tip``), or block 1
    when the derived tables hold no chain (discarded after a power loss: rebuilt from genesis)."""
    raw = kv.get("meta", b"tip")
    return 1 if raw is None else decode(raw, StoredTip).height + 1


def check_restored(kv: KVStore) -> None:
    """Refuse a store that a node cannot run on after a state sync (see ``restore_status``), naming the fix.

    Raises:
        StorageError: the restore was cut short, or the state of a state-synced store was lost.
    """
    status = restore_status(kv)
    if status == "incomplete":
        raise StorageError(
            "the data directory holds a state-sync restore that did not finish (the node stopped during it): "
            "start the node with `trellis node start --state-sync` to wipe the store and sync again"
        )
    if status == "state_lost":
        synced = kv.get("chain_meta", SYNCED_AT)
        if synced is not None and kv.get("meta", SYNCED_AT) != synced:
            at = int.from_bytes(synced, "big")
            raise StorageError(
                f"the state of this data directory, restored from the snapshot of height {at}, was lost (the "
                "machine went down with [node] durable_state = false) and cannot be rebuilt: the blocks below the "
                "snapshot are not held. Start the node with `trellis node start --state-sync` to wipe the store "
                "and sync again ([node] durable_state = true avoids this)"
            )
        raise StorageError(
            f"the state of this data directory was lost (the machine went down with [node] durable_state = false) "
            f"and cannot be rebuilt: re-executing from block {_first_block_needed(kv)} needs blocks pruned below "
            f"height {_blocks_pruned_below(kv)} ([storage] prune_blocks). Start the node with "
            "`trellis node start --state-sync` to wipe the store and sync again ([node] durable_state = true "
            "avoids this)"
        )


def wipe_store(data: Path) -> None:
    """Delete the store of the data directory ``data`` (``chain/``, ``state/`` and any staged chunks); the
    consensus WAL and the snapshots stay. The store must be closed."""
    for name in ("chain", "state", "statesync"):
        shutil.rmtree(data / name, ignore_errors=True)


def decode_manifest(enc: bytes) -> Manifest:
    """A manifest from its canonical encoding (``DecodeError`` otherwise)."""
    return decode(enc, Manifest, max_size=MAX_MANIFEST_BYTES)
