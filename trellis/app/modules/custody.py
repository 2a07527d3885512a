"""custody module: reading registrations, challenges and missed records (docs/spec/custody.md 6).

Reads committed state through a ``StateReader``; the rules that write it are in ``trellis.core.modules.custody``.
Every list is bounded (``MAX_PAGE``) and paged by the last id of the previous page. A stored value that does not
decode is the node's fault: it raises ``StorageError``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from trellis.core.codec import decode
from trellis.core.errors import DecodeError
from trellis.core.execution.context import StateReader
from trellis.core.modules.custody.messages import CHALLENGE_ID_BYTES
from trellis.core.modules.custody.state import (
    CLOSED_PREFIX,
    FILE_PREFIX,
    MISSED_PREFIX,
    OPEN_PREFIX,
    Challenge,
    CustodyMeta,
    FileRecord,
    MissedRecord,
    org_part,
    read_challenge,
    read_meta,
)
from trellis.storage.kv import StorageError

__all__ = [
    "MAX_PAGE",
    "ChallengePage",
    "MissedPage",
    "challenge",
    "challenges",
    "file_registrations",
    "meta",
    "missed",
]

MAX_PAGE = 100
"""Most records one list call returns."""
MAX_REGISTRATIONS = 64
"""Most registrations of one file (one per member organisation; a chain has at most 64)."""

T = TypeVar("T")


@dataclass(frozen=True)
class ChallengePage:
    """One page of an organisation's challenges, by id (opening height, then number); ``next_after`` is the id to
    pass as ``after`` for the next page (None: the last page)."""

    challenges: list[Challenge]
    next_after: bytes | None


@dataclass(frozen=True)
class MissedPage:
    """One page of an organisation's missed records, by file id; ``next_after``: the file id to pass as ``after``."""

    records: list[MissedRecord]
    next_after: bytes | None


def _decode(raw: bytes, kind: type[T], what: str) -> T:
    try:
        return decode(raw, kind)
    except DecodeError as exc:
        raise StorageError(f"the stored {what} does not decode: {exc.reason}") from exc


def _check_limit(limit: int) -> None:
    if not 1 <= limit <= MAX_PAGE:
        raise ValueError(f"limit {limit} is not 1 to {MAX_PAGE}")


def meta(state: StateReader) -> CustodyMeta:
    """The module's counts (all zero before the first registration)."""
    try:
        m = read_meta(state)
    except DecodeError as exc:
        raise StorageError(f"the stored custody meta does not decode: {exc.reason}") from exc
    return CustodyMeta(files=0, orgs=0, open=0, closed=0) if m is None else m


def file_registrations(state: StateReader, file_id: bytes) -> list[FileRecord]:
    """Every organisation's registration of ``file_id``, by organisation name (length first)."""
    prefix = FILE_PREFIX + file_id
    rows = state.scan(prefix, prefix + b"\xff" * 66, MAX_REGISTRATIONS)
    return [_decode(v, FileRecord, f"custody file {k.hex()}") for k, v in rows]


def challenge(state: StateReader, ident: bytes) -> Challenge | None:
    """Challenge ``ident`` (open, or closed and still kept), or None."""
    try:
        return read_challenge(state, ident)
    except DecodeError as exc:
        raise StorageError(f"the stored challenge {ident.hex()} does not decode: {exc.reason}") from exc


def challenges(
    state: StateReader, org: str, *, open_only: bool, limit: int, after: bytes | None = None
) -> ChallengePage:
    """``org``'s open challenges (``open_only``) or its closed ones still kept, oldest first, ``limit`` at most."""
    _check_limit(limit)
    prefix = (OPEN_PREFIX if open_only else CLOSED_PREFIX) + org_part(org)
    start = prefix if after is None else prefix + after + b"\x00"
    rows = state.scan(start, prefix + b"\xff" * CHALLENGE_ID_BYTES + b"\xff", limit)
    out: list[Challenge] = []
    for key, _ in rows:
        cid = key[len(prefix) :]
        ch = challenge(state, cid)
        if ch is None:  # written in the same transaction as the index entry
            raise StorageError(f"challenge {cid.hex()} is indexed but its record is missing")
        out.append(ch)
    return ChallengePage(challenges=out, next_after=out[-1].id if len(out) == limit else None)


def missed(state: StateReader, org: str, *, limit: int, after: bytes | None = None) -> MissedPage:
    """``org``'s missed records (one per file it missed a challenge on), by file id, ``limit`` at most."""
    _check_limit(limit)
    prefix = MISSED_PREFIX + org_part(org)
    start = prefix if after is None else prefix + after + b"\x00"
    rows = state.scan(start, prefix + b"\xff" * 33, limit)
    out = [_decode(v, MissedRecord, f"custody missed record {k.hex()}") for k, v in rows]
    return MissedPage(records=out, next_after=out[-1].file_id if len(out) == limit else None)
