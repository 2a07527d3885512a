"""directory module: searching entries, reading one entry, its versions and access requests (ADR 0016 section 4;
the state layout is ``trellis.core.modules.directory.state``).

Search: every filter (owner DID, type, each word of ``q``, home chain) is an index prefix
``directory/ix/<kind><hash(value)>`` followed by entry ids, shared by this chain's entries and the mirrors a hub
holds. A query probes each filter's prefix from the cursor (``PROBE`` keys), drives the scan with the filter that
has the fewest keys left (ties: the first), and checks the others for each id by point reads of their index keys.
A search scans at most ``MAX_SCANNED`` ids of the driving filter per call (besides one probe of ``PROBE`` keys per
filter, and one point read per other filter for each id scanned) and makes at most ``MAX_POINT_READS`` point reads
(counting, for each id, one per other filter and two for its record): a page may come back short, even empty, with a
``next`` cursor (the last id scanned) when the cap stopped it; ``next`` is None only when nothing is left. With no filter at all
it walks this chain's entries and the mirrors together in id order, skipping withdrawn ones. Withdrawn entries
are in no index, so never in a search; ``entry`` still reads them.

Reads committed state through a ``StateReader``. A stored value that does not decode is the node's fault, never
the caller's: it raises ``StorageError``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from trellis.core.codec import decode
from trellis.core.crypto.suite import Suite
from trellis.core.errors import DecodeError, TrellisError
from trellis.core.execution.context import StateReader
from trellis.core.modules.directory.state import (
    CHAIN,
    ENTRY_PREFIX,
    MIRROR_PREFIX,
    OWNER,
    REQ_BY_ENTRY_PREFIX,
    REQ_BY_REQUESTER_PREFIX,
    STOP_WORDS,
    TYPE,
    VERSION_PREFIX,
    WORD,
    AccessRequest,
    Entry,
    Mirror,
    index_prefix,
    read_entry,
    read_mirror,
    read_request,
    title_words,
)
from trellis.storage.kv import StorageError

__all__ = [
    "DEFAULT_PAGE",
    "MAX_PAGE",
    "MAX_POINT_READS",
    "MAX_Q_WORDS",
    "MAX_SCANNED",
    "PROBE",
    "BadQuery",
    "Found",
    "Query",
    "RequestPage",
    "SearchPage",
    "VersionPage",
    "entry",
    "query_words",
    "request",
    "requests_by_entry",
    "requests_by_requester",
    "search",
    "versions",
]

DEFAULT_PAGE = 20
"""Entries a search returns when no limit is given."""
MAX_PAGE = 100
"""Most entries (versions, requests) one call returns."""
MAX_SCANNED = 5000
"""Most index keys (entries, with no filter) one search scans: a bound on the work of one call."""
MAX_POINT_READS = 20_000
"""Most point reads (other filters' index keys and the records of the matches) one search makes: past it the
page stops early with a ``next`` cursor, like ``MAX_SCANNED``."""
PROBE = 256
"""Keys of each filter's prefix read to choose the filter that drives the scan."""
MAX_Q_WORDS = 8
"""Most words of ``q``."""
_KEYWORD = re.compile(r"[a-z0-9][a-z0-9_-]*")
_ID_LEN = 32
_T = TypeVar("_T")


class BadQuery(TrellisError):
    """A search the caller wrote wrong (too many words, a query word that is only stop words, a bad limit)."""

    code = "bad_parameter"


@dataclass(frozen=True)
class Found:
    """An entry as this chain holds it: its own (``mirror`` None) or a hub's mirror of another chain's."""

    entry: Entry
    mirror: Mirror | None


@dataclass(frozen=True)
class Query:
    """A search: each given filter must hold (``chain`` ``""``: any chain, local or mirrored)."""

    owner: str = ""
    type: str = ""
    words: tuple[str, ...] = ()
    chain: str = ""


@dataclass(frozen=True)
class SearchPage:
    """One page of a search, by id; ``next``: the cursor of the next call (None: nothing left); ``scanned``: the
    index keys (entries) this call read."""

    items: list[Found]
    next: bytes | None
    scanned: int


@dataclass(frozen=True)
class VersionPage:
    """Versions of an entry, oldest first; ``next``: the version to pass as ``after`` for the next page."""

    items: list[Entry]
    next: int | None


@dataclass(frozen=True)
class RequestPage:
    """Access requests by id; ``next``: the request id to pass as the cursor of the next page."""

    items: list[AccessRequest]
    next: bytes | None


def _decoded(what: str, read: Callable[[], _T]) -> _T:
    try:
        return read()
    except DecodeError as exc:
        raise StorageError(f"the stored {what} does not decode: {exc.reason}") from exc


def _decode(what: str, raw: bytes, type_: type[_T]) -> _T:
    return _decoded(what, lambda: decode(raw, type_))


def query_words(q: str) -> list[str]:
    """The index words of the free text ``q``: each whitespace-separated token lower-cased; a token that is a
    keyword (``[a-z0-9][a-z0-9_-]*``, at most 32: ``pm25``, ``covid-19``) is one word, searched as it is; any other
    is split and normalised as titles are (``title_words``: runs of letters, runs of digits). Stop words and
    one-letter words are dropped (titles never index them); no duplicates. A title's ``PM25`` is indexed as
    ``pm`` and ``25``: the query ``pm 25`` finds it; ``pm25`` (keyword-shaped) finds the keyword ``pm25`` only.

    Raises:
        BadQuery: more than ``MAX_Q_WORDS`` words, or ``q`` has text but no word that is indexed.
    """
    out: list[str] = []
    for token in q.lower().split():
        words = [token] if _KEYWORD.fullmatch(token) and len(token) <= 32 else title_words(token)
        out += [w for w in words if w not in out and w not in STOP_WORDS and len(w) > 1]
    if len(out) > MAX_Q_WORDS:
        raise BadQuery(f"q has {len(out)} words; at most {MAX_Q_WORDS}")
    if q.strip() and not out:
        raise BadQuery(f"q {q[:80]!r} has no word that is indexed (stop words and one-letter words are not)")
    return out


def entry(state: StateReader, ident: bytes) -> Found | None:
    """Entry ``ident``: this chain's (withdrawn ones too), else a hub's mirror of it, else None.

    Raises:
        StorageError: a stored record does not decode.
    """
    own = _decoded(f"entry {ident.hex()}", lambda: read_entry(state, ident))
    if own is not None:
        return Found(own, None)
    mirror = _decoded(f"mirror {ident.hex()}", lambda: read_mirror(state, ident))
    if mirror is None:
        return None
    return Found(_decoded(f"mirrored entry {ident.hex()}", lambda: decode(mirror.entry, Entry)), mirror)


def _prefixes(suite: Suite, query: Query) -> list[bytes]:
    out: list[bytes] = []
    if query.owner:
        out.append(index_prefix(suite, OWNER, query.owner))
    if query.type:
        out.append(index_prefix(suite, TYPE, query.type))
    out += [index_prefix(suite, WORD, w) for w in query.words]
    if query.chain:
        out.append(index_prefix(suite, CHAIN, query.chain))
    return list(dict.fromkeys(out))


def _after(cursor: bytes | None) -> bytes:
    """The first key suffix after id ``cursor`` (ids are 32 bytes: ``cursor || 0x00`` sorts before the next)."""
    return b"" if cursor is None else cursor + b"\x00"


def _end(prefix: bytes) -> bytes:
    return prefix + b"\xff" * (_ID_LEN + 1)


def _found(state: StateReader, ident: bytes) -> Found:
    found = entry(state, ident)
    if found is None:  # the index entry is written with the record, in the same transaction
        raise StorageError(f"directory entry {ident.hex()} is indexed but neither an entry nor a mirror")
    return found


def search(state: StateReader, suite: Suite, query: Query, limit: int, cursor: bytes | None = None) -> SearchPage:
    """Entries matching every filter of ``query`` with ids after ``cursor``, by id, ``limit`` (1..``MAX_PAGE``)
    at most, scanning at most ``MAX_SCANNED`` keys (see the module docstring).

    Raises:
        ValueError: ``limit`` out of range or ``cursor`` not 32 bytes (the caller's checks).
        StorageError: a stored record does not decode, or an indexed entry is missing.
    """
    if not 1 <= limit <= MAX_PAGE:
        raise ValueError(f"limit {limit} is not 1 to {MAX_PAGE}")
    if cursor is not None and len(cursor) != _ID_LEN:
        raise ValueError("a cursor is an entry id (32 bytes)")
    prefixes = _prefixes(suite, query)
    if not prefixes:
        return _search_all(state, limit, cursor)
    after = _after(cursor)
    probes = [state.scan(p + after, _end(p), PROBE) for p in prefixes]
    driver = min(range(len(prefixes)), key=lambda i: len(probes[i]))
    drive, others = prefixes[driver], [p for i, p in enumerate(prefixes) if i != driver]
    rows, items, scanned, last = probes[driver], [], 0, None
    point_reads = 0
    per_id = len(others) + 2  # the other filters' keys, then the entry (or the entry and the mirror)
    while rows:
        for key, _home in rows:
            ident = key[len(drive) :]
            if point_reads + per_id > MAX_POINT_READS and last is not None:
                return SearchPage(items, last, scanned)  # resume after the last id fully checked
            scanned += 1
            last = ident
            point_reads += per_id
            if all(state.get(p + ident) is not None for p in others):
                items.append(_found(state, ident))
                if len(items) == limit:
                    return SearchPage(items, ident, scanned)
            if scanned >= MAX_SCANNED:
                return SearchPage(items, ident, scanned)
        if len(rows) < PROBE:
            break
        assert last is not None
        rows = state.scan(drive + _after(last), _end(drive), min(PROBE, MAX_SCANNED - scanned))
    return SearchPage(items, None, scanned)


def _search_all(state: StateReader, limit: int, cursor: bytes | None) -> SearchPage:
    """Every entry not withdrawn, this chain's and mirrored, by id (two scans merged)."""
    after = _after(cursor)
    items: list[Found] = []
    scanned = 0
    pos = {ENTRY_PREFIX: after, MIRROR_PREFIX: after}
    buf: dict[bytes, list[tuple[bytes, bytes]]] = {ENTRY_PREFIX: [], MIRROR_PREFIX: []}
    done = {ENTRY_PREFIX: False, MIRROR_PREFIX: False}

    def refill(prefix: bytes) -> None:
        if not buf[prefix] and not done[prefix]:
            rows = state.scan(prefix + pos[prefix], _end(prefix), PROBE)
            buf[prefix] = rows
            if len(rows) < PROBE:
                done[prefix] = True
            if rows:
                pos[prefix] = _after(rows[-1][0][len(prefix) :])

    while True:
        refill(ENTRY_PREFIX)
        refill(MIRROR_PREFIX)
        heads = [(rows[0][0][len(p) :], p) for p, rows in buf.items() if rows]
        if not heads:
            return SearchPage(items, None, scanned)
        ident, prefix = min(heads)
        _key, raw = buf[prefix].pop(0)
        scanned += 1
        if prefix == ENTRY_PREFIX:
            found = Found(_decode(f"entry {ident.hex()}", raw, Entry), None)
        else:
            m = _decode(f"mirror {ident.hex()}", raw, Mirror)
            found = Found(_decode(f"mirrored entry {ident.hex()}", m.entry, Entry), m)
        if not found.entry.withdrawn:
            items.append(found)
            if len(items) == limit:
                return SearchPage(items, ident, scanned)
        if scanned >= MAX_SCANNED:
            return SearchPage(items, ident, scanned)


def versions(state: StateReader, ident: bytes, limit: int, after: int = 0) -> VersionPage | None:
    """Versions of this chain's entry ``ident`` after version ``after``, oldest first (the current one last),
    ``limit`` at most; a mirror has only its current version here (the earlier ones are at its home chain);
    None when there is no such entry.

    Raises:
        ValueError: ``limit`` out of range.
        StorageError: a stored record does not decode.
    """
    if not 1 <= limit <= MAX_PAGE:
        raise ValueError(f"limit {limit} is not 1 to {MAX_PAGE}")
    found = entry(state, ident)
    if found is None:
        return None
    current = found.entry
    items: list[Entry] = []
    if found.mirror is None and after + 1 < current.version:
        prefix = VERSION_PREFIX + ident
        start = prefix + (after + 1).to_bytes(8, "big")
        for key, raw in state.scan(start, prefix + current.version.to_bytes(8, "big"), limit + 1):
            items.append(_decode(f"version {key[len(prefix) :].hex()} of {ident.hex()}", raw, Entry))
    if len(items) <= limit and current.version > after:
        items.append(current)
    if len(items) > limit:
        items = items[:limit]
        return VersionPage(items, items[-1].version)
    return VersionPage(items, None)


def request(state: StateReader, ident: bytes) -> AccessRequest | None:
    """Access request ``ident``, or None.

    Raises:
        StorageError: the stored record does not decode.
    """
    return _decoded(f"access request {ident.hex()}", lambda: read_request(state, ident))


def _requests(state: StateReader, prefix: bytes, limit: int, cursor: bytes | None) -> RequestPage:
    if not 1 <= limit <= MAX_PAGE:
        raise ValueError(f"limit {limit} is not 1 to {MAX_PAGE}")
    rows = state.scan(prefix + _after(cursor), _end(prefix), limit + 1)
    items: list[AccessRequest] = []
    for key, _ in rows[:limit]:
        rid = key[len(prefix) :]
        rec = request(state, rid)
        if rec is None:  # indexed in the same transaction as the record
            raise StorageError(f"access request {rid.hex()} is indexed but its record is missing")
        items.append(rec)
    return RequestPage(items, items[-1].id if len(rows) > limit else None)


def requests_by_entry(state: StateReader, entry_id: bytes, limit: int, cursor: bytes | None = None) -> RequestPage:
    """Access requests for entry ``entry_id`` by request id, after ``cursor``, ``limit`` at most."""
    return _requests(state, REQ_BY_ENTRY_PREFIX + entry_id, limit, cursor)


def requests_by_requester(state: StateReader, requester: bytes, limit: int, cursor: bytes | None = None) -> RequestPage:
    """Access requests made by the address ``requester`` by request id, after ``cursor``, ``limit`` at most."""
    return _requests(state, REQ_BY_REQUESTER_PREFIX + requester, limit, cursor)
