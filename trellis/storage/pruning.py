"""Pruning old state and blocks by a retention policy (ADR 0018 section 1; operator guide docs/guides/pruning.md).

The state tree's nodes are content-addressed and shared between heights, and a node may go out of use and later be
created again (a value set A, B, then A again re-creates its leaf). So a node's life is a set of intervals
[born, stale - 1], recorded by ``ChainStore.commit_block`` as ``smt_born/hash h8`` (created by block h8) and
``smt_stale/h8 hash`` (gone out of use in block h8). A node row may be deleted only when no retained height lies
in any of its intervals.

Retention (``Retention``): with tip T and ``keep_recent = k > 0`` every height >= ``cutoff = T - k + 1`` is
kept; below it, height 0, the multiples of ``keep_every`` and the heights the ``retain`` hook names (snapshots
still offered to peers) are kept; every other height is pruned.

One pass (``Pruner.prune``):

1. ``meta/root/h8`` of the pruned heights below the cutoff is deleted and ``meta/pruned_below`` set to the
   cutoff, first, so a query that finds a node gone can tell that its height was pruned (HTTP 410).
2. For each stale row (s, hash) with s <= cutoff, in order of s (so its interval ends below the cutoff):
   b = the largest born row of hash with b <= s - 1 (a reverse range read).
   - None: a node written without lifetime rows (by an archive node, ``ChainStore.track_lifetimes`` off, or
     before ADR 0018): keep it, drop the stale row. A node held without born rows that is created again while
     they are written gets a born row at 0 too (``ChainStore``), so it is never deleted.
   - b < F (``meta/lifetimes``: every block from F on was committed with the rows): blocks before F may have
     re-created the node unrecorded, so it is kept like a permanent one below. No F (the last block was
     committed without the rows): no node is deleted.
   - a permanently kept height (0, a ``keep_every`` multiple) in [b, s - 1]: keep the born row (it pins the node
     for good), drop the stale row;
   - a snapshot height in [b, s - 1]: keep both rows; a later pass looks again (the snapshot may be gone by then);
   - else drop the born and the stale row, and if no other born row of hash remains, delete ``smt_nodes/hash``
     and ``smt_hist/hash``.
   All of this in write transactions of at most ``PRUNE_BATCH`` stale rows (every table involved is a derived
   one: one environment of a ``SplitStore``), so a block's commit never waits long for the write lock.
3. With ``prune_blocks``: for the heights below the cutoff that are not kept (nor are the blocks whose headers
   and commits prove validator-set changes: block e - 1 for every set entry effective at e >= 3), the rows of
   ``receipts``, ``tx_index``, ``account_txs`` (derived environment; ``meta/index_pruned_below``) and then of
   ``blocks``, ``block_ids``, ``commits`` (chain environment; ``chain_meta/blocks_pruned_below``) are deleted,
   a bounded number of heights per transaction.

``Pruner.start`` runs passes on a thread of its own; the node calls ``notify`` after each commit and a pass runs
every ``prune_interval_blocks`` blocks.
"""

from __future__ import annotations

import logging
import struct
import threading
import time
from collections.abc import Callable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from functools import partial

from trellis.core.codec import encode
from trellis.core.crypto.suite import Suite
from trellis.core.ledger.block import Block, Receipt, block_hash
from trellis.core.ledger.tx import tx_hash
from trellis.core.modules.validators.state import META_KEY, read_entry, read_meta
from trellis.storage.chain_store import LIFETIMES_KEY, ChainStore, height_key
from trellis.storage.kv import MAX_KEY_BYTES, WriteTxn

log = logging.getLogger("trellis.storage.pruning")

PRUNE_BATCH = 250
"""Most stale rows one write transaction of the pruner looks at."""
PRUNE_BLOCK_ROWS = 2000
"""Most index rows (receipts, ``tx_index``, ``account_txs``) one block-pruning transaction deletes."""

_H = struct.Struct(">Q")
_END = b"\xff" * (MAX_KEY_BYTES + 1)
_STATE_TABLES = ("smt_stale", "smt_born", "smt_nodes", "smt_hist")
_ROOT = b"root/"

AddressesOf = Callable[[Block, Sequence[Receipt]], list[list[bytes]]]
"""For each transaction of a block (with the block's receipts): the addresses whose history lists it (what the
application's ``account_txs`` index holds; ``trellis.app.modules.accounts.involved_addresses``)."""


@dataclass(frozen=True)
class Retention:
    """Which heights a node keeps (``[storage]``, see ``trellis.node.config.StorageSection``)."""

    keep_recent: int = 0
    """Keep every height >= tip - keep_recent + 1; 0: keep everything (an archive node, nothing is pruned)."""
    keep_every: int = 0
    """Keep the multiples of this forever (0: none)."""
    prune_blocks: bool = False
    """Also prune blocks, commits, receipts and transaction indexes of pruned heights."""

    def __post_init__(self) -> None:
        if self.keep_recent == 1 or self.keep_recent < 0 or self.keep_every < 0:
            raise ValueError("keep_recent is 0 or at least 2, keep_every at least 0")
        if self.prune_blocks and not self.keep_recent:
            raise ValueError("prune_blocks needs keep_recent > 0")

    def cutoff(self, tip: int) -> int:
        """The lowest height of the recent window at tip ``tip`` (heights below it may be pruned); 0 for an
        archive node."""
        return max(0, tip - self.keep_recent + 1) if self.keep_recent else 0

    def permanent(self, height: int) -> bool:
        """Whether ``height`` is kept forever: genesis or a ``keep_every`` multiple."""
        return height == 0 or (self.keep_every > 0 and height % self.keep_every == 0)

    def permanent_in(self, lo: int, hi: int) -> bool:
        """Whether some height kept forever lies in ``[lo, hi]``."""
        if lo > hi:
            return False
        if lo == 0:
            return True
        e = self.keep_every
        return e > 0 and hi // e * e >= lo


@dataclass
class PruneReport:
    """What one pass did."""

    cutoff: int = 0
    """Heights below this were pruned (except the kept ones)."""
    stale_rows: int = 0
    """Stale rows looked at."""
    nodes_deleted: int = 0
    """Tree nodes deleted."""
    roots_deleted: int = 0
    """Heights whose state root (and so state) went."""
    blocks_deleted: int = 0
    """Blocks deleted (with their commits, receipts and index rows)."""
    transactions: int = 0
    """Write transactions used."""
    longest_txn_s: float = 0.0
    """The longest of them (the longest a commit could have waited for the write lock)."""
    longest_txn_s_by_phase: dict[str, float] = field(default_factory=dict)
    """The longest write transaction of each phase: ``roots``, ``nodes``, ``indexes``, ``blocks``."""
    seconds: float = 0.0
    """Wall time of the pass."""
    kept_for_snapshots: int = 0
    """Stale rows left for a later pass because a snapshot height still needs their node."""


@dataclass
class _Cursor:
    start: bytes = b"\x00"
    done: bool = False
    report: PruneReport = field(default_factory=PruneReport)


class Pruner:
    """Prunes a ``ChainStore`` by a ``Retention`` policy (see the module's docstring for the algorithm).

    Args:
        store: the node's chain store.
        retention: what to keep.
        suite: the chain's suite (block ids and transaction hashes of pruned blocks).
        retain: the heights to keep besides the policy's (snapshots still offered to peers), asked once per pass.
        addresses_of: the account-index entries of a block's transactions; needed when ``prune_blocks`` and the
            node keeps the ``account_txs`` index (None: no such index, its rows are not looked for).
        interval: run a pass every this many committed blocks (``start``/``notify``).
        batch: the most stale (or root) rows one write transaction looks at.
        block_rows: the most index rows one block-pruning write transaction deletes.
    """

    def __init__(
        self,
        store: ChainStore,
        retention: Retention,
        suite: Suite,
        *,
        retain: Callable[[], AbstractSet[int]] | None = None,
        addresses_of: AddressesOf | None = None,
        interval: int = 100,
        batch: int = PRUNE_BATCH,
        block_rows: int = PRUNE_BLOCK_ROWS,
    ) -> None:
        self.store = store
        self.kv = store.kv
        self.retention = retention
        self.suite = suite
        self.retain: Callable[[], AbstractSet[int]] = retain if retain is not None else frozenset
        self.addresses_of = addresses_of
        self.interval = max(1, interval)
        self.batch = max(1, batch)
        self.block_rows = max(1, block_rows)
        self.last: PruneReport | None = None
        """The report of the last pass (None before the first)."""
        self.passed = threading.Event()
        """Set after each pass of the thread (a test or a caller may clear it and wait for the next)."""
        self._wake = threading.Condition()
        self._notified = -1
        self._last_run_height = -1
        self._stopping = False
        self._thread: threading.Thread | None = None

    # -- one pass -------------------------------------------------------------------------------------------------
    def prune(self) -> PruneReport:
        """Run one pass up to the current cutoff; return what it did (nothing for an archive node)."""
        t0 = time.perf_counter()
        report = PruneReport()
        tip = self.store.tip()
        if tip is None or not self.retention.keep_recent:
            return report
        cutoff = self.retention.cutoff(tip.height)
        report.cutoff = cutoff
        snapshots = frozenset(self.retain())
        self._prune_roots(cutoff, snapshots, report)
        self._prune_nodes(cutoff, snapshots, report)
        if self.retention.prune_blocks:
            self._prune_blocks(cutoff, snapshots, report)
        report.seconds = time.perf_counter() - t0
        self.last = report
        return report

    def _transact(self, tables: Sequence[str], fn: Callable[[WriteTxn], bool], report: PruneReport, phase: str) -> bool:
        t0 = time.perf_counter()
        more = self.kv.transact(tables, fn)
        took = time.perf_counter() - t0
        report.transactions += 1
        report.longest_txn_s = max(report.longest_txn_s, took)
        report.longest_txn_s_by_phase[phase] = max(report.longest_txn_s_by_phase.get(phase, 0.0), took)
        return more

    def _kept(self, height: int, snapshots: frozenset[int]) -> bool:
        return self.retention.permanent(height) or height in snapshots

    def _prune_roots(self, cutoff: int, snapshots: frozenset[int], report: PruneReport) -> None:
        start = [_ROOT + height_key(1)]
        end = _ROOT + height_key(cutoff)

        def batch(txn: WriteTxn) -> bool:
            rows = txn.scan("meta", start[0], end, limit=self.batch)
            for key, _ in rows:
                if not self._kept(int(_H.unpack(key[len(_ROOT) :])[0]), snapshots):
                    txn.delete("meta", key)
                    report.roots_deleted += 1
            if len(rows) < self.batch:
                old = txn.get("meta", b"pruned_below")
                if old is None or int(_H.unpack(old)[0]) < cutoff:
                    txn.put("meta", b"pruned_below", height_key(cutoff))
                return False
            start[0] = rows[-1][0] + b"\x00"
            return True

        while self._transact(("meta",), batch, report, "roots") and not self._stopping:
            pass

    def _prune_nodes(self, cutoff: int, snapshots: frozenset[int], report: PruneReport) -> None:
        cur = _Cursor(report=report)
        end = height_key(cutoff + 1)  # stale rows of s <= cutoff: live at most up to cutoff - 1
        retention = self.retention
        raw = self.kv.get("meta", LIFETIMES_KEY)
        if raw is None:  # blocks are committed without lifetime rows: nothing can be told safe to delete
            return
        first = int(_H.unpack(raw)[0])  # F only grows while rows are written, so reading it once is safe

        def batch(txn: WriteTxn) -> bool:
            rows = txn.scan("smt_stale", cur.start, end, limit=self.batch)
            for key, _ in rows:
                report.stale_rows += 1
                s8, node = key[:8], key[8:]
                s = int(_H.unpack(s8)[0])
                born = txn.scan("smt_born", node, node + s8, limit=1, reverse=True)
                if not born:  # written without lifetime rows: its life is unknown, so it stays
                    txn.delete("smt_stale", key)
                    continue
                born_key = born[0][0]
                b = int(_H.unpack(born_key[-8:])[0])
                if b < first or retention.permanent_in(b, s - 1):
                    txn.delete("smt_stale", key)  # the born row now pins the node for good
                    continue
                if any(b <= x < s for x in snapshots):
                    report.kept_for_snapshots += 1
                    continue  # looked at again by a later pass, when that snapshot may be gone
                txn.delete("smt_stale", key)
                txn.delete("smt_born", born_key)
                if not txn.scan("smt_born", node, node + b"\xff" * 9, limit=1):
                    txn.delete("smt_nodes", node)
                    txn.delete("smt_hist", node)
                    report.nodes_deleted += 1
            if len(rows) < self.batch:
                return False
            cur.start = rows[-1][0] + b"\x00"
            return True

        while self._transact(_STATE_TABLES, batch, report, "nodes") and not self._stopping:
            pass

    # -- blocks ---------------------------------------------------------------------------------------------------
    def _set_change_blocks(self) -> set[int]:
        """The heights whose block and commit prove a validator-set change (``set_changes`` reads them)."""
        if self.store.get(META_KEY) is None:
            return set()
        out: set[int] = set()
        entry = read_entry(self.store, read_meta(self.store).latest)
        while True:
            if entry.effective_height >= 3:
                out.add(entry.effective_height - 1)
            if entry.previous == 0:
                return out
            entry = read_entry(self.store, entry.previous)

    def _prune_blocks(self, cutoff: int, snapshots: frozenset[int], report: PruneReport) -> None:
        keep = self._set_change_blocks()
        raw = self.kv.get("meta", b"index_pruned_below")
        index_from = 1 if raw is None else int(_H.unpack(raw)[0])
        raw = self.kv.get("chain_meta", b"blocks_pruned_below")
        blocks_from = 1 if raw is None else int(_H.unpack(raw)[0])
        h = min(index_from, blocks_from)
        while h < cutoff and not self._stopping:
            # A group of heights with about PRUNE_BLOCK_ROWS index rows; the keys are worked out here, outside any
            # write transaction, which then only deletes.
            blocks: dict[int, bytes] = {}
            rows: list[tuple[str, bytes]] = []
            while h < cutoff and len(rows) < self.block_rows:
                if not (self._kept(h, snapshots) or h in keep):
                    block = self.store.block(h)
                    if block is not None:
                        blocks[h] = block_hash(self.suite, block.header)
                        if h >= index_from:
                            rows += self._index_rows(h, block)
                h += 1
            top = h
            for lo in range(0, max(len(rows), 1), self.block_rows):
                last = lo + self.block_rows >= len(rows)
                tables = ("receipts", "tx_index", "account_txs", "meta")
                fn = partial(_delete_rows, rows=rows[lo : lo + self.block_rows], mark=("meta", top) if last else None)
                self._transact(tables, fn, report, "indexes")
            tables = ("blocks", "block_ids", "commits", "chain_meta")
            self._transact(tables, partial(_delete_blocks, blocks=blocks, top=top), report, "blocks")
            report.blocks_deleted += len(blocks)

    def _index_rows(self, height: int, block: Block) -> list[tuple[str, bytes]]:
        """The derived rows of a block: its receipts, its transactions' ``tx_index`` and ``account_txs`` rows."""
        h8 = height_key(height)
        rows = [("receipts", h8)]
        rows += [("tx_index", tx_hash(self.suite, encode(tx))) for tx in block.txs]
        if self.addresses_of is not None:
            receipts = self.store.receipts(height)
            addresses = self.addresses_of(block, receipts if len(receipts) == len(block.txs) else [])
            rows += [
                ("account_txs", addr + h8 + i.to_bytes(4, "big")) for i, addrs in enumerate(addresses) for addr in addrs
            ]
        return rows

    # -- the node's thread ----------------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the pruning thread (a pass every ``interval`` committed blocks, see ``notify``)."""
        if self._thread is not None or not self.retention.keep_recent:
            return
        self._thread = threading.Thread(target=self._run, name="trellis-pruner", daemon=True)
        self._thread.start()

    def notify(self, height: int) -> None:
        """Tell the pruner that block ``height`` was committed (cheap: the commit path calls it)."""
        with self._wake:
            self._notified = height
            if self._last_run_height < 0 or height - self._last_run_height >= self.interval:
                self._wake.notify()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the thread after the transaction it is in (a pass stops between transactions)."""
        with self._wake:
            self._stopping = True
            self._wake.notify()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._stopping and (
                    self._notified < 0
                    or (self._last_run_height >= 0 and self._notified - self._last_run_height < self.interval)
                ):
                    self._wake.wait()
                if self._stopping:
                    return
                self._last_run_height = self._notified
            try:
                report = self.prune()
            except Exception:  # a failed pass is retried at the next interval; the node goes on
                log.exception("pruning pass failed")
                continue
            finally:
                self.passed.set()
            log.info(
                "pruned below height %d: %d nodes, %d heights of state, %d blocks; longest transaction %.1f ms",
                report.cutoff,
                report.nodes_deleted,
                report.roots_deleted,
                report.blocks_deleted,
                report.longest_txn_s * 1000,
            )


def _delete_rows(txn: WriteTxn, rows: list[tuple[str, bytes]], mark: tuple[str, int] | None) -> bool:
    for table, key in rows:
        txn.delete(table, key)
    if mark is not None:
        txn.put(mark[0], b"index_pruned_below", height_key(mark[1]))
    return False


def _delete_blocks(txn: WriteTxn, blocks: dict[int, bytes], top: int) -> bool:
    for height, block_id in blocks.items():
        h8 = height_key(height)
        txn.delete("blocks", h8)
        txn.delete("commits", h8)
        txn.delete("block_ids", block_id)
    old = txn.get("chain_meta", b"blocks_pruned_below")
    if old is None or int(_H.unpack(old)[0]) < top:
        txn.put("chain_meta", b"blocks_pruned_below", height_key(top))
    return False
