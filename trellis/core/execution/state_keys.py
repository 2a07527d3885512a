"""Layout of the module records in the state key space, and their encodings."""

from __future__ import annotations

from typing import Annotated

import msgspec

from trellis.core.ledger.tx import DidDocument, MembershipChange
from trellis.core.ledger.votes import Evidence
from trellis.core.types import U32, U64, Address, CoreStruct

ACCOUNT_PREFIX = b"acct/"
KV_PREFIX = b"kv/"
EVIDENCE_PREFIX = b"evidence/"


class Account(CoreStruct, frozen=True):
    """An account record, at ``b"acct/" + address``."""

    balance: U64
    """Units of the settlement currency held."""
    nonce: U64
    """Number of transactions this account has sent (the next transaction's nonce)."""


class KvRecord(CoreStruct, frozen=True):
    """A kv record, at ``b"kv/" + namespace + b"\\x00" + key``."""

    owner: Address
    """The address that first wrote the record; only it may overwrite or delete."""
    value: Annotated[bytes, msgspec.Meta(max_length=32 * 1024)]
    """The stored value."""


def account_key(address: bytes) -> bytes:
    """State key of an account record."""
    return ACCOUNT_PREFIX + address


def kv_key(namespace: str, key: bytes) -> bytes:
    """State key of a kv record (namespaces cannot contain NUL, so the split is unambiguous)."""
    return KV_PREFIX + namespace.encode() + b"\x00" + key


class EvidenceRecord(CoreStruct, frozen=True):
    """Recorded equivocation, at ``b"evidence/" + offender + height(8) + round(4) + kind``."""

    offender: Address
    """The validator that equivocated."""
    height: U64
    """Height of the conflicting messages."""
    round: U32
    """Round of the conflicting messages."""
    kind: Annotated[str, msgspec.Meta(max_length=32)]
    """``duplicate_vote`` or ``duplicate_proposal``."""
    recorded_at: U64
    """Height of the block that recorded it."""
    evidence: Evidence
    """The two signed messages."""


def evidence_key(offender: bytes, height: int, round_: int, kind: str) -> bytes:
    """State key of an evidence record."""
    return EVIDENCE_PREFIX + offender + height.to_bytes(8, "big") + round_.to_bytes(4, "big") + kind.encode()


CONTRACT_PREFIX = b"contract/"
CODE_PREFIX = b"code/"
CONTRACT_STORE_PREFIX = b"cstore/"


class ContractMeta(CoreStruct, frozen=True):
    """A deployed contract, at ``b"contract/" + address``."""

    code_hash: Annotated[bytes, msgspec.Meta(min_length=32, max_length=32)]
    """Hash of its current code (the code itself is at ``b"code/" + code_hash``)."""
    deployer: Address
    """Who deployed it."""
    admin: Address | None
    """Who may upgrade it besides the genesis governance address (None: nobody else)."""
    created_height: U64
    """Height of the block that deployed it."""
    updated_height: U64
    """Height of the block that last set its code."""


def contract_key(address: bytes) -> bytes:
    """State key of a contract's record."""
    return CONTRACT_PREFIX + address


def code_key(code_hash: bytes) -> bytes:
    """State key of a module's code, stored once per code hash."""
    return CODE_PREFIX + code_hash


def contract_storage_key(address: bytes, key: bytes) -> bytes:
    """State key of one entry of a contract's own storage (20-byte address, then the contract's key)."""
    return CONTRACT_STORE_PREFIX + address + key


MEMBERSHIP_KEY = b"membership/config"
REVOKED_PREFIX = b"membership/revoked/"
PROPOSAL_PREFIX = b"membership/proposal/"
CERT_PREFIX = b"cert/"
MAX_CERTS_PER_ADDRESS = 2
"""Identity certificates kept per address: the current one and the one it is rolling to (or from)."""

_Der = Annotated[bytes, msgspec.Meta(min_length=1, max_length=8 * 1024)]
_OrgName = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
_Hash32 = Annotated[bytes, msgspec.Meta(min_length=32, max_length=32)]


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


DID_PREFIX = b"did/"
"""Identity module: ``did/<id16>`` -> ``DidRecord``; ``did/<id16>/v/<n:8>`` -> ``DidVersion``."""


class DidRecord(CoreStruct, frozen=True):
    """A DID's metadata, at ``b"did/" + id(16)``; its documents are in its versions."""

    version_id: U64
    """The current version: 1 at creation, +1 per update or deactivation."""
    created_ms: U64
    """Block time of the creation."""
    created_height: U64
    """Height of the creating block."""
    updated_ms: U64
    """Block time of the latest version."""
    updated_height: U64
    """Height of the block that wrote the latest version."""
    deactivated: bool = False
    """Whether the DID is deactivated (then no further change is possible)."""


class DidVersion(CoreStruct, frozen=True):
    """One version of a DID, at ``b"did/" + id(16) + b"/v/" + version(8, big-endian)``."""

    height: U64
    """Height of the block that wrote it."""
    time_ms: U64
    """That block's time."""
    document: DidDocument | None
    """The document of this version; None: the version that deactivated the DID."""


def did_key(did_id: bytes) -> bytes:
    """State key of a DID's record."""
    return DID_PREFIX + did_id


def did_version_key(did_id: bytes, version: int) -> bytes:
    """State key of one version of a DID (versions sort in order under the DID's prefix)."""
    return DID_PREFIX + did_id + b"/v/" + version.to_bytes(8, "big")
