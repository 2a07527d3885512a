"""attestations module: reading attestations by id, by subject and by attester (docs/spec/attestations.md 4).

Reads committed state through a ``StateReader`` (the chain store, a committed view, a test's dict); the rules
that write it are in ``trellis.core.modules.attestations``. A stored value that does not decode is the node's
fault, never the caller's: it raises ``StorageError``.
"""

from __future__ import annotations

from dataclasses import dataclass

from trellis.core.crypto.suite import Suite
from trellis.core.errors import DecodeError, TrellisError
from trellis.core.execution.context import StateReader
from trellis.core.modules.attestations.state import (
    Attestation,
    attester_prefix,
    index_key,
    indexed_ids,
    read_attestation,
    subject_prefix,
)
from trellis.storage.kv import StorageError

__all__ = ["MAX_PAGE", "BadCursor", "Page", "attestation", "by_attester", "by_subject"]

MAX_PAGE = 100
"""Most attestations one list call returns."""


class BadCursor(TrellisError):
    """An ``after`` id that is not an attestation of the subject or attester listed."""

    code = "bad_cursor"


@dataclass(frozen=True)
class Page:
    """One page of a list, oldest first; ``next`` is the id to pass as ``after`` for the next page (None: last)."""

    items: list[Attestation]
    next: bytes | None


def attestation(state: StateReader, ident: bytes) -> Attestation | None:
    """The attestation with id ``ident``, or None.

    Raises:
        StorageError: the stored record does not decode.
    """
    try:
        return read_attestation(state, ident)
    except DecodeError as exc:
        raise StorageError(f"the stored attestation {ident.hex()} does not decode: {exc.reason}") from exc


def _page(state: StateReader, prefix: bytes, limit: int, after: Attestation | None) -> Page:
    if not 1 <= limit <= MAX_PAGE:
        raise ValueError(f"limit {limit} is not 1 to {MAX_PAGE}")
    start = None if after is None else index_key(prefix, after.height, after.id)
    items: list[Attestation] = []
    for ident in indexed_ids(state, prefix, limit, start):
        rec = attestation(state, ident)
        if rec is None:  # written in the same transaction as the index entry
            raise StorageError(f"attestation {ident.hex()} is indexed but its record is missing")
        items.append(rec)
    return Page(items=items, next=items[-1].id if len(items) == limit else None)


def _cursor(state: StateReader, after: bytes | None) -> Attestation | None:
    if after is None:
        return None
    rec = attestation(state, after)
    if rec is None:
        raise BadCursor(f"after: {after.hex()} is not an attestation")
    return rec


def by_subject(state: StateReader, suite: Suite, subject: str, limit: int, after: bytes | None = None) -> Page:
    """Attestations about ``subject``, oldest first (by height, then id), ``limit`` (1..``MAX_PAGE``) at most,
    starting after the attestation ``after``.

    Raises:
        BadCursor: ``after`` is not an attestation about ``subject``.
        StorageError: a stored record does not decode, or an indexed one is missing.
    """
    cursor = _cursor(state, after)
    if cursor is not None and cursor.subject != subject:
        raise BadCursor(f"after: attestation {cursor.id.hex()} is not about {subject!r}")
    return _page(state, subject_prefix(suite, subject), limit, cursor)


def by_attester(state: StateReader, attester: bytes, limit: int, after: bytes | None = None) -> Page:
    """Attestations made by the address ``attester``, oldest first, as ``by_subject``.

    Raises:
        BadCursor: ``after`` is not an attestation by ``attester``.
        StorageError: a stored record does not decode, or an indexed one is missing.
    """
    cursor = _cursor(state, after)
    if cursor is not None and cursor.attester != attester:
        raise BadCursor(f"after: attestation {cursor.id.hex()} was not made by 0x{attester.hex()}")
    return _page(state, attester_prefix(attester), limit, cursor)
