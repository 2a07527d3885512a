"""State of the ``membership`` module: its keys, its records and their encodings, and reads of them."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated

import msgspec

from trellis.core.codec import decode
from trellis.core.execution.context import StateReader
from trellis.core.modules.identity.state import _Hash32
from trellis.core.modules.membership.messages import (
    MembershipChange,
)
from trellis.core.types import U64, Address, CoreStruct

MEMBERSHIP_KEY = b"membership/config"


REVOKED_PREFIX = b"membership/revoked/"


PROPOSAL_PREFIX = b"membership/proposal/"


CERT_PREFIX = b"cert/"


MAX_CERTS_PER_ADDRESS = 2
"""Identity certificates kept per address: the current one and the one it is rolling to (or from)."""


_Der = Annotated[bytes, msgspec.Meta(min_length=1, max_length=8 * 1024)]


_OrgName = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class MemberOrg(CoreStruct, frozen=True):
    """A member organisation in the membership record."""

    name: _OrgName
    """The organisation's name (its certificates' subject ``O``)."""
    ca_certs: Annotated[list[_Der], msgspec.Meta(min_length=1, max_length=4)]
    """Its CA certificates (DER); several during a CA rollover."""


class MembershipConfig(CoreStruct, frozen=True):
    """The chain's membership, at ``b"membership/config"`` (written at genesis when genesis names orgs)."""

    version: U64
    """Incremented by every applied change (0 at genesis)."""
    orgs: Annotated[list[MemberOrg], msgspec.Meta(min_length=1, max_length=64)]
    """The member organisations, in the order they were admitted."""
    threshold: Annotated[int, msgspec.Meta(ge=1, le=64)]
    """How many distinct organisations' admins must approve a change."""
    next_proposal: U64
    """The id the next proposal gets."""


class CertEntry(CoreStruct, frozen=True):
    """A registered identity certificate, as the chain judges it (parsed once, at registration)."""

    org: _OrgName
    """The organisation whose CA issued it."""
    serial: Annotated[bytes, msgspec.Meta(min_length=1, max_length=20)]
    """Its serial number (unsigned big-endian)."""
    role: Annotated[str, msgspec.Meta(max_length=16)]
    """``node``, ``client``, ``admin`` or ``regulator`` (the subject's ``OU``)."""
    not_before_ms: U64
    """Start of validity (ms since the epoch)."""
    not_after_ms: U64
    """End of validity: the earlier of the certificate's and its CA's ``notAfter`` (ms)."""
    ca_fingerprint: _Hash32
    """SHA-256 of the issuing CA certificate's DER: the certificate is valid only while that CA is a member."""
    cert_hash: _Hash32
    """SHA-256 of the certificate's DER."""
    registered_height: U64
    """Height of the block that registered it."""


class CertRecord(CoreStruct, frozen=True):
    """An address's identity certificates, at ``b"cert/" + address`` (at most two: rolling needs an overlap)."""

    certs: Annotated[list[CertEntry], msgspec.Meta(max_length=MAX_CERTS_PER_ADDRESS)]
    """Registered certificates, oldest registration first."""


class RevokedCert(CoreStruct, frozen=True):
    """A revoked certificate, at ``b"membership/revoked/" + org + b"\\x00" + serial``."""

    org: _OrgName
    """The organisation that revoked it."""
    serial: Annotated[bytes, msgspec.Meta(min_length=1, max_length=20)]
    """Its serial number."""
    revoked_by: Address
    """The admin who revoked it."""
    height: U64
    """Height of the block that revoked it; it is refused from the next block on."""


class MembershipProposal(CoreStruct, frozen=True):
    """A membership change awaiting approvals, at ``b"membership/proposal/" + id(8)``."""

    id: U64
    """The proposal's id."""
    change: MembershipChange
    """The proposed change."""
    proposer: Address
    """The admin who proposed it."""
    config_version: U64
    """The membership version it was proposed against; it can only apply to that version."""
    approvals: Annotated[list[_OrgName], msgspec.Meta(max_length=64)]
    """Organisations whose admins approved it, in order (the proposer's first)."""
    created_height: U64
    """Height of the block that proposed it."""
    applied_height: U64 | None = None
    """Height of the block that applied it, once the threshold was reached."""


def membership_proposal_key(proposal_id: int) -> bytes:
    """State key of a membership proposal."""
    return PROPOSAL_PREFIX + proposal_id.to_bytes(8, "big")


def cert_key(address: bytes) -> bytes:
    """State key of an address's identity certificates."""
    return CERT_PREFIX + address


def revoked_key(org: str, serial: bytes) -> bytes:
    """State key of a revocation (only ever looked up, never split)."""
    return REVOKED_PREFIX + org.encode() + b"\x00" + serial


def read_config(state: StateReader) -> MembershipConfig | None:
    """The membership record, or None on a chain without member organisations."""
    raw = state.get(MEMBERSHIP_KEY)
    return None if raw is None else decode(raw, MembershipConfig)


def read_certs(state: StateReader, address: bytes) -> list[CertEntry]:
    """The identity certificates registered for ``address`` (oldest first)."""
    raw = state.get(cert_key(address))
    return [] if raw is None else decode(raw, CertRecord).certs


PREFIXES = (
    MEMBERSHIP_KEY,
    REVOKED_PREFIX,
    PROPOSAL_PREFIX,
    CERT_PREFIX,
)
"""The state-key prefixes the membership module owns."""

GOVERNED_PREFIX = b"membership/"
"""The keys governance changes: the membership record, revocations and proposals (not ``cert/``)."""


def changed(writes: Iterable[bytes]) -> bool:
    """True if a block's writes (their keys) touch the membership record, a revocation or a proposal: who may be
    a peer may have changed. A certificate registration (``cert/``) changes no peer's standing."""
    return any(k.startswith(GOVERNED_PREFIX) for k in writes)
