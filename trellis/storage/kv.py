"""The ``KVStore`` port: named tables of byte keys and values, ordered scans and atomic batched writes.

``LmdbStore`` is the real engine (LMDB: copy-on-write B+tree, so a crash at any instant leaves the last
committed transaction intact and nothing half-written visible). ``MemoryStore`` is its in-memory twin for
simulation tests.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Protocol

import lmdb

from trellis.core.errors import TrellisError

TABLES = (
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
)

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


class LmdbStore:
    """``KVStore`` on LMDB, one named database per table, synchronous commits."""

    def __init__(self, path: Path, *, map_size: int = 64 * 1024**3) -> None:
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot create the database directory {path}: {exc.strerror}") from exc
        try:
            self._env = lmdb.open(
                str(path), map_size=map_size, max_dbs=len(TABLES) + 4, sync=True, metasync=True, readahead=False
            )
        except lmdb.Error as exc:
            raise StorageError(f"cannot open the database at {path}: {exc}") from exc
        self._dbs = {name: self._env.open_db(name.encode()) for name in TABLES}

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
        out: list[tuple[bytes, bytes]] = []
        with self._env.begin(db=self._dbs[table]) as txn:
            cur = txn.cursor()
            if not reverse:
                if not cur.set_range(start):
                    return out
                for k, v in cur:
                    if k >= end or len(out) >= limit:
                        break
                    out.append((bytes(k), bytes(v)))
            else:
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

    def close(self) -> None:
        self._env.close()


class MemoryStore:
    """In-memory ``KVStore`` twin with the same semantics (atomic batches, ordered scans)."""

    def __init__(self) -> None:
        self._tables: dict[str, dict[bytes, bytes]] = {name: {} for name in TABLES}

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

    def close(self) -> None:
        pass
