"""hub module: reading a hub's registry of sub-chains (docs/spec/hub.md 6).

Reads committed state through a ``StateReader``; the rules that write it are in ``trellis.core.modules.hub``. A
stored record that does not decode (or a by-operator index entry without its record) is the node's fault, never
the caller's: it raises ``StorageError``.

Lists are paged by chain id: a page holds at most ``limit`` sub-chains with ids after ``after``, and ``next`` is
the cursor of the following page (None at the end). With a status filter a page may hold fewer than ``limit``
(at most ``MAX_SCANNED`` records are read per page) and still have a ``next``.
"""

from __future__ import annotations

from dataclasses import dataclass

from trellis.core.codec import decode
from trellis.core.crypto.suite import Suite
from trellis.core.errors import DecodeError
from trellis.core.execution.context import StateReader
from trellis.core.modules.hub.state import (
    CHAIN_PREFIX,
    STATUS_NAMES,
    SubChain,
    chain_key,
    org_prefix,
    read_count,
)
from trellis.storage.kv import StorageError

__all__ = [
    "MAX_PAGE",
    "MAX_SCANNED",
    "STATUS_BY_NAME",
    "SubChainPage",
    "SubChainView",
    "count",
    "subchain",
    "subchains",
]

MAX_PAGE = 100
"""Most sub-chains one page lists."""
MAX_SCANNED = 1000
"""Most records one page reads (a status filter skips the others)."""
STATUS_BY_NAME = {name: code for code, name in STATUS_NAMES.items()}
"""Status name (``registered``, ``connected``, ``retired``) -> its code."""
_SCAN = 128
_END = CHAIN_PREFIX[:-1] + bytes([CHAIN_PREFIX[-1] + 1])


@dataclass(frozen=True)
class SubChainView:
    """A registered sub-chain: its id and record."""

    chain_id: str
    record: SubChain

    @property
    def status_name(self) -> str:
        """``registered``, ``connected`` or ``retired``."""
        return STATUS_NAMES[self.record.status]


@dataclass(frozen=True)
class SubChainPage:
    """One page of sub-chains, by chain id."""

    chains: list[SubChainView]
    next: str | None
    """The ``after`` of the next page; None: no more."""


def _decoded(chain_id: str, raw: bytes) -> SubChain:
    try:
        return decode(raw, SubChain)
    except DecodeError as exc:
        raise StorageError(f"the stored sub-chain {chain_id!r} does not decode: {exc.reason}") from exc


def subchain(state: StateReader, chain_id: str) -> SubChainView | None:
    """The sub-chain ``chain_id``, or None if it was never registered.

    Raises:
        StorageError: its stored record does not decode.
    """
    raw = state.get(chain_key(chain_id))
    return None if raw is None else SubChainView(chain_id, _decoded(chain_id, raw))


def count(state: StateReader) -> int:
    """Registered sub-chains that are not retired."""
    return read_count(state)


def subchains(
    state: StateReader,
    suite: Suite,
    *,
    org: str | None = None,
    status: int | None = None,
    after: str = "",
    limit: int = MAX_PAGE,
) -> SubChainPage:
    """A page of sub-chains with ids after ``after``, ascending: every one, or those ``org`` operates (the
    by-operator index), of status ``status`` if given.

    Raises:
        ValueError: ``limit`` is not 1 to ``MAX_PAGE``.
        StorageError: a stored record does not decode, or an index entry has no record.
    """
    if not 1 <= limit <= MAX_PAGE:
        raise ValueError(f"limit must be 1 to {MAX_PAGE}, got {limit}")
    prefix = CHAIN_PREFIX if org is None else org_prefix(suite, org)
    end = _END if org is None else prefix + b"\xff"
    start = prefix + after.encode() + b"\x00" if after else prefix
    out: list[SubChainView] = []
    scanned = 0
    while True:
        rows = state.scan(start, end, _SCAN)
        for key, value in rows:
            if len(out) == limit:
                return SubChainPage(out, out[-1].chain_id)  # a row follows the full page
            cid = key[len(prefix) :].decode()
            if org is None:
                view = SubChainView(cid, _decoded(cid, value))
            else:
                found = subchain(state, cid)
                if found is None:
                    raise StorageError(f"the by-operator index names sub-chain {cid!r}, which has no record")
                view = found
            if status is None or view.record.status == status:
                out.append(view)
            scanned += 1
            if scanned >= MAX_SCANNED and len(out) < limit:
                return SubChainPage(out, cid)
        if len(rows) < _SCAN:
            return SubChainPage(out, None)
        start = rows[-1][0] + b"\x00"
