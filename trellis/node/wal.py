"""The consensus write-ahead log: every consensus message this validator signs, made durable before the
signature is released. After a crash the validator re-reads it, so it never signs anything that contradicts
what it signed before, and it restores its lock.

File format: records of ``u32 length || u32 crc32(payload) || payload`` (big-endian), payload the canonical
encoding of ``WalRecord``. A torn last record (a crash mid-append) is detected by length or checksum and cut
off on open. Records of heights below the current one are dropped by ``prune`` (atomic rewrite + rename).
"""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path
from typing import Protocol

from trellis.core.codec import decode, encode
from trellis.core.consensus.messages import SignedProposal, SignedVote
from trellis.core.errors import DecodeError
from trellis.core.ledger.block import Block
from trellis.core.types import CoreStruct

_HDR = struct.Struct(">II")
MAX_RECORD = 256 * 1024 * 1024


class WalRecord(CoreStruct, frozen=True):
    """One signed message: exactly one of ``vote`` and ``proposal`` is set."""

    vote: SignedVote | None
    proposal: SignedProposal | None
    locked_block: Block | None = None
    """With a non-nil precommit: the block it locks on (restored after a restart)."""

    @property
    def height(self) -> int:
        if self.vote is not None:
            return self.vote.vote.height
        assert self.proposal is not None
        return self.proposal.proposal.height


def _kept(records: list[WalRecord], below_height: int) -> list[WalRecord]:
    # Keep the newest record even when its height is finished: it is the floor below which the validator
    # must never sign again, and it must survive a restart.
    keep = [r for r in records if r.height >= below_height]
    return keep if keep or not records else records[-1:]


class Wal(Protocol):
    """Durable list of signed messages."""

    def records(self) -> list[WalRecord]:
        """All records, oldest first."""
        ...

    def append(self, record: WalRecord, *, sync: bool = True) -> None:
        """Append; with ``sync`` (the default) durably: returns after the record is on stable storage. With
        ``sync=False`` the record is written but durable only after the next ``sync`` (group commit: one
        fsync for several signatures, none of which may leave the process before it)."""
        ...

    def sync(self) -> None:
        """Make every record appended so far durable (nothing to do if they already are)."""
        ...

    def prune(self, below_height: int) -> None:
        """Drop records of heights below ``below_height``."""
        ...


class MemoryWal:
    """In-memory twin of ``FileWal`` with the same durability: a record appended with ``sync=False`` is lost by
    ``power_loss`` until a later ``sync`` (or synced append) makes it durable. The simulation keeps the object
    across a simulated crash and cuts its power there."""

    def __init__(self) -> None:
        self._records: list[WalRecord] = []
        self._durable = 0
        """How many of ``_records`` (a prefix) are durable."""

    def records(self) -> list[WalRecord]:
        return list(self._records)

    def append(self, record: WalRecord, *, sync: bool = True) -> None:
        self._records.append(record)
        if sync:
            self._durable = len(self._records)

    def sync(self) -> None:
        self._durable = len(self._records)

    def prune(self, below_height: int) -> None:
        # Pruning rewrites the log durably (as FileWal's rewrite-and-rename does); unsynced records go with it.
        self._records = _kept(self._records, below_height)
        self._durable = len(self._records)

    def power_loss(self) -> None:
        """Drop every record not yet synced, as a power cut does to the file's unsynced tail."""
        del self._records[self._durable :]


class FileWal:
    """The WAL in a file, fsynced on every append (or once for a group of appends: ``sync=False``, then
    ``sync``)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._records = self._load()
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self._unsynced = False
        self.fsyncs = 0
        """fsync calls made by appends and ``sync`` (for metrics and tests)."""

    def _load(self) -> list[WalRecord]:
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return []
        out: list[WalRecord] = []
        pos = 0
        while pos + _HDR.size <= len(data):
            length, crc = _HDR.unpack_from(data, pos)
            start, end = pos + _HDR.size, pos + _HDR.size + length
            if length > MAX_RECORD or end > len(data) or zlib.crc32(data[start:end]) != crc:
                break
            try:
                out.append(decode(data[start:end], WalRecord))
            except DecodeError:
                break
            pos = end
        if pos != len(data):
            # A torn or corrupt tail from a crash mid-append: cut it off so appends continue cleanly.
            with open(self.path, "r+b") as f:
                f.truncate(pos)
                f.flush()
                os.fsync(f.fileno())
        return out

    def records(self) -> list[WalRecord]:
        return list(self._records)

    def append(self, record: WalRecord, *, sync: bool = True) -> None:
        payload = encode(record)
        os.write(self._fd, _HDR.pack(len(payload), zlib.crc32(payload)) + payload)
        self._records.append(record)
        self._unsynced = True
        if sync:
            self.sync()

    def sync(self) -> None:
        if self._unsynced:
            os.fsync(self._fd)
            self.fsyncs += 1
            self._unsynced = False

    def prune(self, below_height: int) -> None:
        keep = _kept(self._records, below_height)
        if len(keep) == len(self._records):
            return
        tmp = self.path.with_suffix(".tmp")
        with open(tmp, "wb") as f:
            for r in keep:
                payload = encode(r)
                f.write(_HDR.pack(len(payload), zlib.crc32(payload)) + payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
        dir_fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        os.close(self._fd)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self._records = keep
        self._unsynced = False  # the rewritten file was fsynced

    def close(self) -> None:
        """Close the file (idempotent)."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
