"""membership module: reading the on-chain membership, identity certificates and revocations for queries."""

from __future__ import annotations

from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from trellis.core.codec import decode
from trellis.core.execution.context import StateReader
from trellis.core.modules.membership.state import (
    PROPOSAL_PREFIX,
    REVOKED_PREFIX,
    CertEntry,
    MembershipConfig,
    MembershipProposal,
    RevokedCert,
    read_certs,
    read_config,
)
from trellis.core.modules.membership.view import PeerMembership, entry_refusal


@dataclass(frozen=True)
class CertView:
    """A registered certificate and what the chain says of it at a time.

    Attributes:
        entry: the record.
        status: ``valid`` or the refusal code (``certificate_expired``, ``certificate_revoked``, ...).
        reason: why, when not valid.
    """

    entry: CertEntry
    status: str
    reason: str


def certs_of(state: StateReader, address: bytes, time_ms: int) -> list[CertView]:
    """The certificates registered for ``address``, each judged at ``time_ms`` against the current membership."""
    cfg = read_config(state)
    out = []
    for entry in read_certs(state, address):
        why = None if cfg is None else entry_refusal(state, cfg, entry, time_ms)
        out.append(CertView(entry, "valid" if why is None else why.code, "" if why is None else why.reason))
    return out


def membership_of(
    state: StateReader, limit: int = 1000
) -> tuple[MembershipConfig | None, list[RevokedCert], list[MembershipProposal]]:
    """The membership record, revocations and proposals (each list at most ``limit`` long, in key order)."""
    revoked = [decode(v, RevokedCert) for _, v in state.scan(REVOKED_PREFIX, REVOKED_PREFIX + b"\xff", limit)]
    proposals = [
        decode(v, MembershipProposal) for _, v in state.scan(PROPOSAL_PREFIX, PROPOSAL_PREFIX + b"\xff", limit)
    ]
    return read_config(state), revoked, proposals


def peer_membership(state: StateReader, limit: int = 100_000) -> PeerMembership | None:
    """The membership as the p2p transport applies it, or None on a chain without member organisations."""
    cfg, revoked, _ = membership_of(state, limit)
    if cfg is None:
        return None
    pems = [
        x509.load_der_x509_certificate(der).public_bytes(serialization.Encoding.PEM)
        for org in cfg.orgs
        for der in org.ca_certs
    ]
    return PeerMembership(
        version=cfg.version,
        ca_bundle_pem=b"".join(pems),
        revoked_serials=frozenset(int.from_bytes(r.serial, "big") for r in revoked),
    )
