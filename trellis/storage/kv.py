"""The ``KVStore`` port: named tables of byte keys and values, ordered scans and atomic batched writes.

``LmdbStore`` is the real engine (LMDB: copy-on-write B+tree, so a crash at any instant leaves the last
committed transaction intact and nothing half-written visible). ``MemoryStore`` is its in-memory twin for
simulation tests.
"""

from __future__ import annotations

import bisect
import contextlib
import os
import shutil
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol, TypeVar

import lmdb

from trellis.core.errors import TrellisError

TABLES = (
    "chain_meta",
    "meta",
    "blocks",
    "block_ids",
    "commits",
    "receipts",
    "tx_index",
    "account_txs",
    "state",
    "smt_nodes",
    "smt_values",
    "smt_born",
    "smt_stale",
    "smt_hist",
)

CHAIN_TABLES = frozenset({"chain_meta", "blocks", "block_ids", "commits"})
"""The tables that are the chain itself (blocks, their certificates, the last durable block). Everything else
(state, tree nodes, receipts, indexes) is derived from them by executing the blocks, so a ``SplitStore`` keeps
it in an environment written without fsync and rebuilt from the blocks when a power loss may have damaged it
(ADR 0011)."""

WriteBatch = list[tuple[str, bytes, bytes | None]]
"""Writes to apply atomically: (table, key, value), value None deletes."""

TableRows = Mapping[str, Mapping[bytes, bytes]]
"""Rows to put, grouped by table: table -> {key: value}. A block's batch is built as one dict per table
(comprehensions and ``dict(zip(...))``, no tuple object per row for the garbage collector to track) and LMDB
takes each table's rows in one call, in key order."""

TableKeys = Mapping[str, Iterable[bytes]]
"""Keys to delete, grouped by table."""

MAX_KEY_BYTES = 511
"""Longest key a table holds (LMDB's limit); keys are 1 to 511 bytes in every ``KVStore``."""


class StorageError(TrellisError):
    """The storage engine failed (disk full, corrupt file, map too small)."""

    code = "storage_error"


T = TypeVar("T")


class ReadTxn(Protocol):
    """Reads of one consistent view of the store (ADR 0018: a snapshot or the pruner reads through this)."""

    def get(self, table: str, key: bytes) -> bytes | None:
        """The value of ``key`` in ``table`` in this view, or None."""
        ...

    def scan(
        self, table: str, start: bytes, end: bytes, *, limit: int = 1000, reverse: bool = False
    ) -> list[tuple[bytes, bytes]]:
        """Rows with ``start <= key < end`` in key order (descending with ``reverse``), at most ``limit``."""
        ...

    def iterate(self, table: str, start: bytes = b"\x00") -> Iterator[tuple[bytes, bytes]]:
        """Every row of ``table`` from ``start`` on, in key order, without holding them all in memory."""
        ...


class WriteTxn(ReadTxn, Protocol):
    """A read-modify-write transaction: it sees its own writes, and commits atomically when the function given to
    ``transact`` returns (nothing of it is written if that function raises)."""

    def put(self, table: str, key: bytes, value: bytes) -> None:
        """Set ``key`` in ``table``."""
        ...

    def delete(self, table: str, key: bytes) -> None:
        """Remove ``key`` from ``table`` (no error if absent)."""
        ...


class _OverlayTxn:
    """A ``WriteTxn`` over a store without real transactions (the in-memory twins): reads go through to the
    store, overlaid with the writes made so far; ``batch`` is applied by the store's own atomic ``write``. Only
    for single-threaded use (the simulations), where nothing else writes in between."""

    def __init__(self, store: KVStore) -> None:
        self._store = store
        self._writes: dict[tuple[str, bytes], bytes | None] = {}

    @property
    def batch(self) -> WriteBatch:
        return [(t, k, v) for (t, k), v in self._writes.items()]

    def get(self, table: str, key: bytes) -> bytes | None:
        if (table, key) in self._writes:
            return self._writes[(table, key)]
        return self._store.get(table, key)

    def scan(
        self, table: str, start: bytes, end: bytes, *, limit: int = 1000, reverse: bool = False
    ) -> list[tuple[bytes, bytes]]:
        mine = {k: v for (t, k), v in self._writes.items() if t == table and start <= k < end}
        extra = len(mine)
        rows: dict[bytes, bytes | None] = dict(
            self._store.scan(table, start, end, limit=limit + extra, reverse=reverse)
        )
        rows.update(mine)
        return [(k, v) for k, v in sorted(rows.items(), reverse=reverse) if v is not None][:limit]

    def iterate(self, table: str, start: bytes = b"\x00") -> Iterator[tuple[bytes, bytes]]:
        end = b"\xff" * (MAX_KEY_BYTES + 1)
        yield from self.scan(table, start, end, limit=1 << 62)

    def put(self, table: str, key: bytes, value: bytes) -> None:
        if not 0 < len(key) <= MAX_KEY_BYTES:
            raise StorageError(f"a key is 1 to {MAX_KEY_BYTES} bytes; got {len(key)}")
        self._writes[(table, key)] = value

    def delete(self, table: str, key: bytes) -> None:
        self._writes[(table, key)] = None


def overlay_transact(store: KVStore, fn: Callable[[WriteTxn], T]) -> T:
    """``transact`` for a store without real transactions (see ``_OverlayTxn``)."""
    txn = _OverlayTxn(store)
    result = fn(txn)
    if txn.batch:
        store.write(txn.batch)
    return result


@contextmanager
def copied_view(store: KVStore, tables: Sequence[str]) -> Iterator[ReadTxn]:
    """``read_view`` for an in-memory twin: a copy of ``tables`` taken now."""
    end = b"\xff" * (MAX_KEY_BYTES + 1)
    copy = MemoryStore({t: dict(store.scan(t, b"\x00", end, limit=1 << 62)) for t in tables})
    yield _OverlayTxn(copy)


class KVStore(Protocol):
    """Named tables of ordered byte keys."""

    def get(self, table: str, key: bytes) -> bytes | None:
        """Return the value at ``key`` in ``table``, or None."""
        ...

    def get_many(self, table: str, keys: Sequence[bytes]) -> list[bytes | None]:
        """Return the value at each of ``keys`` in ``table`` (None where absent), in order, all read from
        one consistent snapshot (one read transaction, however many keys)."""
        ...

    def scan(
        self, table: str, start: bytes, end: bytes, *, limit: int = 1000, reverse: bool = False
    ) -> list[tuple[bytes, bytes]]:
        """Return up to ``limit`` (key, value) pairs with ``start <= key < end`` in key order."""
        ...

    def write(self, batch: WriteBatch) -> None:
        """Apply ``batch`` atomically and durably: after return it survives a crash; on failure none of it
        is visible."""
        ...

    def write_tables(self, puts: TableRows, deletes: TableKeys | None = None) -> None:
        """Apply ``deletes`` and then ``puts`` in one atomic, durable write, as ``write`` does (so a put wins
        over a delete of the same key). Raises ``StorageError`` (and writes nothing) for an unknown table or a
        key that is not 1 to ``MAX_KEY_BYTES`` bytes."""
        ...

    def close(self) -> None:
        """Release the store."""
        ...

    def transact(self, tables: Sequence[str], fn: Callable[[WriteTxn], T]) -> T:
        """Run ``fn`` in one write transaction over ``tables`` (all in one environment of a ``SplitStore``) and
        commit what it wrote atomically (durably as ``write`` is); concurrent writers wait for it. Returns what
        ``fn`` returns; if ``fn`` raises, nothing is written."""
        ...

    def read_view(self, tables: Sequence[str]) -> contextlib.AbstractContextManager[ReadTxn]:
        """One consistent view of ``tables`` (LMDB MVCC: later writes are not seen) while the context is open.
        Keep it short-lived or bounded: an open view keeps the pages it sees from being reused."""
        ...


class Environment(KVStore, Protocol):
    """One environment of a ``SplitStore``: a ``KVStore`` whose every write is one transaction, fsynced before it
    returns when ``durable``, else left to the operating system until ``sync`` or a clean ``close``."""

    durable: bool
    was_interrupted_by_reboot: bool
    """An unsynced environment that was open when the machine last went down (its unsynced pages may be lost or
    torn): its owner must discard and rebuild it."""

    def sync(self) -> None:
        """Make every write so far durable (fsync); a no-op for a durable environment."""
        ...

    def abandon(self) -> None:
        """Close without syncing (the environment is about to be discarded)."""
        ...


class Environments(Protocol):
    """Where a ``SplitStore`` opens its environments: LMDB directories (``LmdbEnvironments``) or a simulated
    disk that loses unsynced writes at a power loss (``trellis.storage.power_loss.PowerLossDisk``)."""

    def open(self, name: str, *, durable: bool) -> Environment:
        """Open (creating if missing) the environment ``name``."""
        ...

    def discard(self, name: str) -> None:
        """Delete the environment ``name`` and everything in it (it must not be open)."""
        ...


class LmdbStore:
    """``KVStore`` on LMDB, one named database per table.

    Args:
        path: the environment's directory (created if missing).
        map_size: the most bytes the file may grow to (address space, not disk, until used).
        durable: True (the default): every write is fsynced before it returns, so it survives a power loss (LMDB's
            ``sync`` and ``metasync`` flags; ``flags()`` reads them back from LMDB).
            False: writes reach the operating system's page cache but are not fsynced — they survive the
            process being killed at any instant (LMDB writes its meta page last) but not a power loss or kernel
            crash, after which the environment may be damaged. Such a store keeps a marker file holding the
            kernel's boot id while it is open; ``was_interrupted_by_reboot`` is True when the marker left by
            the previous opening names another boot (the machine went down with the store open), and the
            owner must then discard and rebuild it (``SplitStore`` does, from the blocks). A durable opening
            checks such a marker too, and removes it (after an fsync) when it names this boot.
    """

    MARKER = "unsynced-open"

    def __init__(self, path: Path, *, map_size: int = 64 * 1024**3, durable: bool = True) -> None:
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot create the database directory {path}: {exc.strerror}") from exc
        self.path = path
        self.durable = durable
        # Checked whatever ``durable`` is now: a store last opened unsynced ([node] durable_state switched on
        # after a power loss) may be damaged just the same.
        self.was_interrupted_by_reboot = _interrupted_by_reboot(path / self.MARKER)
        try:
            self._env = lmdb.open(
                str(path),
                map_size=map_size,
                max_dbs=len(TABLES) + 4,
                sync=durable,
                metasync=durable,
                readahead=False,
            )
        except lmdb.Error as exc:
            raise StorageError(f"cannot open the database at {path}: {exc}") from exc
        self._dbs = {name: self._env.open_db(name.encode()) for name in TABLES}
        if not durable:
            _write_marker(path / self.MARKER)
        elif not self.was_interrupted_by_reboot and (path / self.MARKER).exists():
            # Last opened unsynced and killed, in this boot: what it wrote is in the page cache only. fsync it
            # before the marker goes, or a power loss now would damage a store that no longer says so.
            self._env.sync(True)
            (path / self.MARKER).unlink()

    def get(self, table: str, key: bytes) -> bytes | None:
        if not 0 < len(key) <= MAX_KEY_BYTES:
            return None  # LMDB refuses to look such a key up; it can never have been stored
        with self._env.begin(db=self._dbs[table], buffers=False) as txn:
            value = txn.get(key)
        return None if value is None else bytes(value)

    def get_many(self, table: str, keys: Sequence[bytes]) -> list[bytes | None]:
        if not keys:
            return []
        with self._env.begin(db=self._dbs[table], buffers=False) as txn:
            get = txn.get
            if 0 < min(map(len, keys)) and max(map(len, keys)) <= MAX_KEY_BYTES:
                return [get(k) for k in keys]
            # LMDB refuses to look such keys up; they can never have been stored
            return [get(k) if 0 < len(k) <= MAX_KEY_BYTES else None for k in keys]

    def scan(
        self, table: str, start: bytes, end: bytes, *, limit: int = 1000, reverse: bool = False
    ) -> list[tuple[bytes, bytes]]:
        with self._env.begin() as txn:
            return _LmdbTxn(txn, self._dbs, (table,)).scan(table, start, end, limit=limit, reverse=reverse)

    def write(self, batch: WriteBatch) -> None:
        for table, _, _ in batch:
            if table not in self._dbs:
                raise StorageError(f"unknown table {table!r}")
        try:
            with self._env.begin(write=True) as txn:
                for table, key, value in batch:
                    db = self._dbs[table]
                    if value is None:
                        txn.delete(key, db=db)
                    else:
                        txn.put(key, value, db=db)
        except lmdb.Error as exc:
            raise StorageError(f"database write failed: {exc}") from exc

    def write_tables(self, puts: TableRows, deletes: TableKeys | None = None) -> None:
        dbs = self._dbs
        for table in (*puts, *(deletes or ())):
            if table not in dbs:
                raise StorageError(f"unknown table {table!r}")
        try:
            with self._env.begin(write=True) as txn:
                for table, keys in (deletes or {}).items():
                    delete = txn.delete
                    db = dbs[table]
                    for key in keys:
                        delete(key, db=db)
                for table, rows in puts.items():
                    # One C call per table, keys in order: LMDB then walks each B-tree page once rather than
                    # once per row, which matters once a table of random keys (hashes) outgrows the cache.
                    keys = sorted(rows)
                    txn.cursor(db=dbs[table]).putmulti(zip(keys, map(rows.__getitem__, keys), strict=True))
        except lmdb.BadValsizeError as exc:
            raise StorageError(f"a key is 1 to {MAX_KEY_BYTES} bytes: {exc}") from exc
        except lmdb.Error as exc:
            raise StorageError(f"database write failed: {exc}") from exc

    def transact(self, tables: Sequence[str], fn: Callable[[WriteTxn], T]) -> T:
        for table in tables:
            if table not in self._dbs:
                raise StorageError(f"unknown table {table!r}")
        try:
            with self._env.begin(write=True) as txn:
                return fn(_LmdbTxn(txn, self._dbs, tables))
        except lmdb.Error as exc:
            raise StorageError(f"database transaction failed: {exc}") from exc

    @contextmanager
    def read_view(self, tables: Sequence[str]) -> Iterator[ReadTxn]:
        for table in tables:
            if table not in self._dbs:
                raise StorageError(f"unknown table {table!r}")
        with self._env.begin() as txn:
            yield _LmdbTxn(txn, self._dbs, tables)

    def flags(self) -> dict[str, bool]:
        """The environment's flags as LMDB itself reports them (``mdb_env_get_flags``: ``sync``, ``metasync``,
        ``map_async``, ``writemap``, ...), so a test can check what the engine does rather than what we asked."""
        return {name: bool(value) for name, value in self._env.flags().items()}

    def sync(self) -> None:
        """Flush every write so far to disk (fsync); a no-op for a durable store."""
        if not self.durable:
            self._env.sync(True)

    def abandon(self) -> None:
        """Close without the final fsync and without removing the open marker (the store is to be deleted)."""
        self._env.close()

    def close(self) -> None:
        """Close the environment; an unsynced one is fsynced first and its marker removed (a clean stop)."""
        if not self.durable:
            try:
                self._env.sync(True)
                (self.path / self.MARKER).unlink(missing_ok=True)
            except (lmdb.Error, OSError):
                pass  # the marker stays: the next opening treats the store as interrupted
        self._env.close()


class _LmdbTxn:
    """``WriteTxn`` (or, on a read-only LMDB transaction, ``ReadTxn``) over one LMDB transaction."""

    def __init__(self, txn: lmdb.Transaction, dbs: Mapping[str, lmdb._Database], tables: Sequence[str]) -> None:
        self._txn = txn
        self._dbs = {t: dbs[t] for t in tables}

    def _db(self, table: str) -> lmdb._Database:
        try:
            return self._dbs[table]
        except KeyError:
            raise StorageError(f"table {table!r} is not part of this transaction") from None

    def get(self, table: str, key: bytes) -> bytes | None:
        if not 0 < len(key) <= MAX_KEY_BYTES:
            return None
        value = self._txn.get(key, db=self._db(table))
        return None if value is None else bytes(value)

    def scan(
        self, table: str, start: bytes, end: bytes, *, limit: int = 1000, reverse: bool = False
    ) -> list[tuple[bytes, bytes]]:
        out: list[tuple[bytes, bytes]] = []
        cur = self._txn.cursor(db=self._db(table))
        if not reverse:
            if not cur.set_range(start):
                return out
            for k, v in cur:
                kb = bytes(k)
                if kb >= end or len(out) >= limit:
                    break
                out.append((kb, bytes(v)))
            return out
        positioned = cur.set_range(end)
        ok = cur.prev() if positioned else cur.last()
        while ok and len(out) < limit:
            k = bytes(cur.key())
            if k < start:
                break
            if k < end:
                out.append((k, bytes(cur.value())))
            ok = cur.prev()
        return out

    def iterate(self, table: str, start: bytes = b"\x00") -> Iterator[tuple[bytes, bytes]]:
        cur = self._txn.cursor(db=self._db(table))
        if not cur.set_range(start):
            return
        for k, v in cur:
            yield bytes(k), bytes(v)

    def put(self, table: str, key: bytes, value: bytes) -> None:
        if not 0 < len(key) <= MAX_KEY_BYTES:
            raise StorageError(f"a key is 1 to {MAX_KEY_BYTES} bytes; got {len(key)}")
        self._txn.put(key, value, db=self._db(table))

    def delete(self, table: str, key: bytes) -> None:
        if 0 < len(key) <= MAX_KEY_BYTES:
            self._txn.delete(key, db=self._db(table))


def boot_id() -> str:
    """This boot of the machine: Linux's random boot id (elsewhere a constant, so a reboot goes undetected and
    an operator who wants power-loss safety there sets ``[node] durable_state = true``)."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return "unknown-boot"


def _interrupted_by_reboot(marker: Path) -> bool:
    try:
        recorded = marker.read_text().strip()
    except FileNotFoundError:
        return False
    except OSError:
        return True
    return recorded != boot_id()


def _write_marker(marker: Path) -> None:
    """Write the boot id to ``marker`` durably (file and directory entry fsynced)."""
    tmp = marker.with_suffix(".tmp")
    with open(tmp, "w") as f:
        f.write(boot_id() + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, marker)
    fd = os.open(marker.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class LmdbEnvironments:
    """LMDB environments in the subdirectories of ``path`` (the ``Environments`` a node's ``SplitStore`` uses)."""

    def __init__(self, path: Path, *, map_size: int = 64 * 1024**3) -> None:
        self.path = path
        self.map_size = map_size

    def open(self, name: str, *, durable: bool) -> LmdbStore:
        """Open ``path/name`` (``durable``: LMDB's ``sync`` and ``metasync`` on)."""
        return LmdbStore(self.path / name, map_size=self.map_size, durable=durable)

    def discard(self, name: str) -> None:
        """Delete the directory ``path/name``."""
        try:
            shutil.rmtree(self.path / name)
        except OSError as exc:
            raise StorageError(f"cannot delete the database at {self.path / name}: {exc.strerror}") from exc


class SplitStore:
    """A ``KVStore`` over two LMDB environments: the chain tables (``CHAIN_TABLES``) in a durable one, every
    derived table in one written without fsync (ADR 0011).

    ``write_tables`` writes the chain part first (fsynced) and then the derived part, so after a crash the
    derived tables are at most behind the chain, never ahead; ``ChainStore`` records the height each side
    reflects and ``TrellisApp`` re-executes the blocks in between when it opens the store. When the derived
    environment was open across a reboot (power loss, kernel crash: its unsynced pages may be lost or torn) it is
    deleted on opening and rebuilt from the blocks (``rebuilt`` is then True).

    Layout under ``path``: ``chain/`` and ``state/`` (two LMDB environments). ``environments`` replaces LMDB
    (the power-loss twin, ``trellis.storage.power_loss``); everything else, the write order and the rebuild
    decision included, is the same code.
    """

    def __init__(
        self,
        path: Path,
        *,
        map_size: int = 64 * 1024**3,
        durable_state: bool = False,
        environments: Environments | None = None,
    ) -> None:
        self.path = path
        envs = environments if environments is not None else LmdbEnvironments(path, map_size=map_size)
        self.chain: Environment = envs.open("chain", durable=True)
        self.rebuilt = False
        try:
            state = envs.open("state", durable=durable_state)
            if state.was_interrupted_by_reboot:
                state.abandon()
                envs.discard("state")
                self.rebuilt = True
                state = envs.open("state", durable=durable_state)
        except BaseException:
            self.chain.close()
            raise
        self.state: Environment = state
        self._route = {name: self.chain if name in CHAIN_TABLES else state for name in TABLES}

    def _of(self, table: str) -> Environment:
        try:
            return self._route[table]
        except KeyError:
            raise StorageError(f"unknown table {table!r}") from None

    def get(self, table: str, key: bytes) -> bytes | None:
        return self._of(table).get(table, key)

    def get_many(self, table: str, keys: Sequence[bytes]) -> list[bytes | None]:
        return self._of(table).get_many(table, keys)

    def scan(
        self, table: str, start: bytes, end: bytes, *, limit: int = 1000, reverse: bool = False
    ) -> list[tuple[bytes, bytes]]:
        return self._of(table).scan(table, start, end, limit=limit, reverse=reverse)

    def write(self, batch: WriteBatch) -> None:
        for table, _, _ in batch:
            self._of(table)
        chain = [row for row in batch if row[0] in CHAIN_TABLES]
        derived = [row for row in batch if row[0] not in CHAIN_TABLES]
        if chain:
            self.chain.write(chain)
        if derived:
            self.state.write(derived)

    def write_tables(self, puts: TableRows, deletes: TableKeys | None = None) -> None:
        for table in (*puts, *(deletes or ())):
            self._of(table)
        deletes = deletes or {}
        chain_puts = {t: rows for t, rows in puts.items() if t in CHAIN_TABLES}
        chain_deletes = {t: keys for t, keys in deletes.items() if t in CHAIN_TABLES}
        if chain_puts or chain_deletes:
            self.chain.write_tables(chain_puts, chain_deletes)
        state_puts = {t: rows for t, rows in puts.items() if t not in CHAIN_TABLES}
        state_deletes = {t: keys for t, keys in deletes.items() if t not in CHAIN_TABLES}
        if state_puts or state_deletes:
            self.state.write_tables(state_puts, state_deletes)

    def _one_env(self, tables: Sequence[str]) -> Environment:
        envs = {id(self._of(t)): self._of(t) for t in tables}
        if len(envs) != 1:
            raise StorageError(f"tables {list(tables)} are not all in one environment")
        return next(iter(envs.values()))

    def transact(self, tables: Sequence[str], fn: Callable[[WriteTxn], T]) -> T:
        return self._one_env(tables).transact(tables, fn)

    def read_view(self, tables: Sequence[str]) -> contextlib.AbstractContextManager[ReadTxn]:
        return self._one_env(tables).read_view(tables)

    def sync(self) -> None:
        """fsync the derived environment (the chain one always is)."""
        self.state.sync()

    def close(self) -> None:
        try:
            self.state.close()
        finally:
            self.chain.close()


def open_data_store(path: Path, *, durable_state: bool = False, map_size: int = 64 * 1024**3) -> KVStore:
    """The store of a node's data directory: a ``SplitStore`` (``chain/`` and ``state/``), or — for a data
    directory written before the split, which holds one LMDB environment at its top — that ``LmdbStore``."""
    if (path / "data.mdb").exists():
        return LmdbStore(path, map_size=map_size)
    return SplitStore(path, map_size=map_size, durable_state=durable_state)


class MemoryStore:
    """In-memory ``KVStore`` twin with the same semantics (atomic batches, ordered scans).

    Args:
        tables: initial contents, table -> {key: value} (copied); every table starts empty by default.
    """

    def __init__(self, tables: Mapping[str, Mapping[bytes, bytes]] | None = None) -> None:
        self._tables: dict[str, dict[bytes, bytes]] = {name: {} for name in TABLES}
        for name, rows in (tables or {}).items():
            if name not in self._tables:
                raise StorageError(f"unknown table {name!r}")
            self._tables[name].update(rows)

    def get(self, table: str, key: bytes) -> bytes | None:
        return self._tables[table].get(key)

    def get_many(self, table: str, keys: Sequence[bytes]) -> list[bytes | None]:
        return list(map(self._tables[table].get, keys))

    def scan(
        self, table: str, start: bytes, end: bytes, *, limit: int = 1000, reverse: bool = False
    ) -> list[tuple[bytes, bytes]]:
        keys = sorted(self._tables[table])
        lo = bisect.bisect_left(keys, start)
        hi = bisect.bisect_left(keys, end)
        chosen: Iterable[bytes] = reversed(keys[lo:hi]) if reverse else keys[lo:hi]
        out: list[tuple[bytes, bytes]] = []
        for k in chosen:
            if len(out) >= limit:
                break
            out.append((k, self._tables[table][k]))
        return out

    def write(self, batch: WriteBatch) -> None:
        for table, key, _ in batch:
            if table not in self._tables:
                raise StorageError(f"unknown table {table!r}")
            if not 0 < len(key) <= MAX_KEY_BYTES:
                raise StorageError(f"a key is 1 to {MAX_KEY_BYTES} bytes; got {len(key)}")
        for table, key, value in batch:
            if value is None:
                self._tables[table].pop(key, None)
            else:
                self._tables[table][key] = value

    def write_tables(self, puts: TableRows, deletes: TableKeys | None = None) -> None:
        batch: WriteBatch = [(table, key, None) for table, keys in (deletes or {}).items() for key in keys]
        batch += [(table, key, value) for table, rows in puts.items() for key, value in rows.items()]
        self.write(batch)

    def transact(self, tables: Sequence[str], fn: Callable[[WriteTxn], T]) -> T:
        for table in tables:
            if table not in self._tables:
                raise StorageError(f"unknown table {table!r}")
        return overlay_transact(self, fn)

    def read_view(self, tables: Sequence[str]) -> contextlib.AbstractContextManager[ReadTxn]:
        return copied_view(self, tables)

    def close(self) -> None:
        pass
