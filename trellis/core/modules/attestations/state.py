"""The attestations module's state records, keys and reads (docs/spec/attestations.md 3).

| key | value |
|---|---|
| ``attest/record/`` + id (32) | ``Attestation`` |
| ``attest/subject/`` + tagged_hash(subject) (32) + height (8, BE) + id (32) | id |
| ``attest/attester/`` + attester (20) + height (8, BE) + id (32) | id |

The two indexes are consensus state: a lookup by subject or by attester is a prefix scan, provable like any key.
"""

from __future__ import annotations

from trellis.core.codec import decode
from trellis.core.crypto.suite import Suite
from trellis.core.execution.context import StateReader
from trellis.core.modules.attestations.messages import AttesterDid, ClaimType, Statement, Subject
from trellis.core.types import U64, Address, CoreStruct, Hash32

RECORD_PREFIX = b"attest/record/"
"""Prefix of the ``Attestation`` records, followed by the id."""
SUBJECT_PREFIX = b"attest/subject/"
"""Prefix of the by-subject index."""
ATTESTER_PREFIX = b"attest/attester/"
"""Prefix of the by-attester index."""
PREFIXES = (RECORD_PREFIX, SUBJECT_PREFIX, ATTESTER_PREFIX)
"""Every state-key prefix this module writes under (no other module's key starts with one)."""

ID_DOMAIN = b"trellis/attestation-id/v1"
"""Tag of the id hash (spec section 2)."""
SUBJECT_DOMAIN = b"trellis/attestation-subject/v1"
"""Tag of the subject hash in the by-subject index keys."""

ACTIVE, EXPIRED, REVOKED = "active", "expired", "revoked"
"""The statuses of an attestation at a time (``status_at``)."""


class Attestation(CoreStruct, frozen=True):
    """An attestation, at ``attest/record/`` + id."""

    id: Hash32
    """``attestation_id(attester, nonce, subject, claim_type)``."""
    attester: Address
    """The sender of the ``attestations.attest`` transaction."""
    attester_did: AttesterDid
    """The DID the attester named (it controlled it then), or ``""``."""
    subject: Subject
    """Who or what the statement is about."""
    claim_type: ClaimType
    """What kind of statement it is."""
    statement: Statement
    """The statement, as sent."""
    expires_at_ms: U64
    """Block time from which it no longer holds; 0: never."""
    height: U64
    """Height of the block that wrote it."""
    time_ms: U64
    """That block's time."""
    nonce: U64
    """The attesting transaction's nonce."""
    revoked_height: U64
    """Height of the block that revoked it; 0 while it is not revoked."""
    revoked_ms: U64
    """That block's time; 0 while it is not revoked."""


def attestation_id(suite: Suite, attester: bytes, nonce: int, subject: str, claim_type: str) -> bytes:
    """The id of the attestation ``attester`` makes with nonce ``nonce`` (spec section 2):
    ``tagged_hash(ID_DOMAIN, attester || nonce(8) || len(S)(2) || S || len(T)(2) || T)``."""
    s, t = subject.encode(), claim_type.encode()
    data = attester + nonce.to_bytes(8, "big") + len(s).to_bytes(2, "big") + s + len(t).to_bytes(2, "big") + t
    return suite.tagged_hash(ID_DOMAIN, data)


def record_key(attestation: bytes) -> bytes:
    """State key of the record with id ``attestation``."""
    return RECORD_PREFIX + attestation


def subject_prefix(suite: Suite, subject: str) -> bytes:
    """Key prefix of the by-subject index entries of ``subject``."""
    return SUBJECT_PREFIX + suite.tagged_hash(SUBJECT_DOMAIN, subject.encode())


def attester_prefix(attester: bytes) -> bytes:
    """Key prefix of the by-attester index entries of ``attester``."""
    return ATTESTER_PREFIX + attester


def index_key(prefix: bytes, height: int, attestation: bytes) -> bytes:
    """An index entry's key under ``prefix`` (``subject_prefix`` or ``attester_prefix``): entries sort by height,
    then by id."""
    return prefix + height.to_bytes(8, "big") + attestation


def read_attestation(state: StateReader, attestation: bytes) -> Attestation | None:
    """The record with id ``attestation``, or None.

    Raises:
        DecodeError: the stored value is not an ``Attestation``.
    """
    raw = state.get(record_key(attestation))
    return None if raw is None else decode(raw, Attestation)


def indexed_ids(state: StateReader, prefix: bytes, limit: int, after: bytes | None = None) -> list[bytes]:
    """Up to ``limit`` ids of the index entries under ``prefix``, in key order (by height, then id).

    Args:
        state: the state to read.
        prefix: ``subject_prefix(...)`` or ``attester_prefix(...)``.
        limit: the most ids to return.
        after: an entry key (``index_key``) under ``prefix``; the scan starts just past it.
    """
    start = prefix if after is None else after + b"\x00"
    return [value for _, value in state.scan(start, prefix + b"\xff" * 41, limit)]


def status_at(record: Attestation, time_ms: int) -> str:
    """``REVOKED`` if revoked; else ``EXPIRED`` if it has an expiry and ``time_ms`` reached it; else ``ACTIVE``."""
    if record.revoked_height != 0:
        return REVOKED
    if record.expires_at_ms != 0 and time_ms >= record.expires_at_ms:
        return EXPIRED
    return ACTIVE
