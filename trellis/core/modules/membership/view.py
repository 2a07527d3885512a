"""The ``membership`` module: identity certificates, revocations and governance of the member organisations.

Everything is judged at the block's time (``time_ms``), never a clock. X.509 parsing and the CA signature check
are pure calls into ``cryptography``; its exceptions are translated here into ``CertificateRefused`` with a
precise code. See docs/spec/membership.md for the rules and docs/adr/0009-membership.md for the design.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.x509.oid import NameOID

from trellis.core.crypto.suite import Suite, address_of
from trellis.core.errors import InvalidBlock, TrellisError
from trellis.core.execution.context import StateReader
from trellis.core.modules.evidence.messages import SubmitEvidence
from trellis.core.modules.membership.messages import (
    ApproveMembership,
    ProposeMembership,
    RegisterCert,
    RevokeCert,
)
from trellis.core.modules.membership.state import (
    CertEntry,
    MemberOrg,
    MembershipConfig,
    read_certs,
    read_config,
    revoked_key,
)
from trellis.core.modules.payload import Payload

ROLES = ("admin", "client", "node", "regulator")
"""The roles an identity certificate may carry (its subject's ``OU``)."""


GOVERNANCE_MESSAGES = (ProposeMembership, ApproveMembership, RevokeCert)
"""Messages only an ``admin`` may send."""


MAX_ORGS = 64
"""Most member organisations."""


class CertificateRefused(TrellisError):
    """A certificate (or a sender's lack of one) that the membership rules refuse; ``code`` names the rule.

    Codes: ``malformed_certificate``, ``unsupported_key``, ``no_role``, ``unknown_ca``, ``wrong_org``,
    ``certificate_not_yet_valid``, ``certificate_expired``, ``certificate_revoked``, ``unknown_certificate``,
    ``key_mismatch``, ``role_not_permitted``, ``no_membership``.
    """

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code


class MembershipRefusal(InvalidBlock):
    """A block with a transaction whose sender the membership refuses.

    Attributes:
        code: the rule (a ``CertificateRefused`` code).
        tx_index: the transaction's position in the block.
        tx_hash: its hash.
    """

    def __init__(self, code: str, reason: str, tx_index: int, tx_hash: bytes) -> None:
        super().__init__(code, f"transaction {tx_index} ({tx_hash.hex()}): {reason}")
        self.tx_index = tx_index
        self.tx_hash = tx_hash


@dataclass(frozen=True)
class IdentityCert:
    """An identity certificate's facts, as parsed (not yet checked against a CA or a time).

    Attributes:
        der: the certificate's DER bytes.
        public_key: the subject's raw Ed25519 public key.
        org: the subject's ``O``.
        role: the subject's ``OU`` (one of ``ROLES``).
        serial: the serial number, unsigned big-endian.
        not_before_ms, not_after_ms: validity, in ms since the epoch.
    """

    der: bytes
    public_key: bytes
    org: str
    role: str
    serial: bytes
    not_before_ms: int
    not_after_ms: int


_PARSE_ERRORS = (
    ValueError,
    TypeError,
    OverflowError,
    UnsupportedAlgorithm,
    x509.InvalidVersion,
    x509.ExtensionNotFound,
    x509.DuplicateExtension,
)
"""Everything ``cryptography`` raises on hostile certificate bytes (``InvalidVersion`` and
``DuplicateExtension``, raised when the extensions are first read, are no ValueError)."""


def _load_der(der: bytes) -> x509.Certificate:
    try:
        return x509.load_der_x509_certificate(der)
    except _PARSE_ERRORS as exc:
        raise CertificateRefused("malformed_certificate", "not a DER-encoded X.509 certificate") from exc


def _single_attr(name: x509.Name, oid: x509.ObjectIdentifier) -> str | None:
    values = name.get_attributes_for_oid(oid)
    if len(values) != 1 or not isinstance(values[0].value, str):
        return None
    return values[0].value


def _serial_bytes(n: int) -> bytes:
    if n <= 0 or n.bit_length() > 160:
        raise CertificateRefused("malformed_certificate", "the serial number must be positive and at most 20 bytes")
    return n.to_bytes((n.bit_length() + 7) // 8, "big")


def _validity_ms(cert: x509.Certificate) -> tuple[int, int]:
    # timestamp() of an aware datetime is arithmetic on its fields, no clock; X.509 times are whole seconds.
    start = int(cert.not_valid_before_utc.timestamp()) * 1000
    end = int(cert.not_valid_after_utc.timestamp()) * 1000
    return max(start, 0), max(end, 0)


def parse_identity_cert(der: bytes) -> IdentityCert:
    """Parse an identity certificate: an Ed25519 subject key, one ``O``, one ``OU`` naming a role.

    Args:
        der: the certificate's DER bytes.

    Returns:
        The certificate's facts.

    Raises:
        CertificateRefused: ``malformed_certificate`` (not X.509, or no single ``O``), ``unsupported_key``
            (the subject key is not Ed25519), ``no_role`` (no ``OU`` naming one of ``ROLES``).
    """
    cert = _load_der(der)
    try:
        key = cert.public_key()
        subject = cert.subject
        serial_int = cert.serial_number
        not_before, not_after = _validity_ms(cert)
        org = _single_attr(subject, NameOID.ORGANIZATION_NAME)
        role = _single_attr(subject, NameOID.ORGANIZATIONAL_UNIT_NAME)
    except _PARSE_ERRORS as exc:
        raise CertificateRefused("malformed_certificate", "the certificate's fields cannot be read") from exc
    if not isinstance(key, ed25519.Ed25519PublicKey):
        raise CertificateRefused("unsupported_key", "the certificate's subject key is not an Ed25519 key")
    if org is None or not 1 <= len(org) <= 64:
        raise CertificateRefused("malformed_certificate", "the certificate's subject must have exactly one O")
    if role not in ROLES:
        raise CertificateRefused("no_role", f"the subject's OU must be one of {', '.join(ROLES)}")
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return IdentityCert(
        der=der,
        public_key=raw,
        org=org,
        role=role,
        serial=_serial_bytes(serial_int),
        not_before_ms=not_before,
        not_after_ms=not_after,
    )


def ca_fingerprint(ca_der: bytes) -> bytes:
    """SHA-256 of a CA certificate's DER: how cert records and ``remove_ca`` name a CA."""
    return hashlib.sha256(ca_der).digest()


def check_ca_cert(ca_der: bytes) -> None:
    """Check that ``ca_der`` is a CA certificate (``basicConstraints CA:true``) with an ``O``.

    Raises:
        CertificateRefused: ``malformed_certificate`` otherwise.
    """
    cert = _load_der(ca_der)
    try:
        bc = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
        org = _single_attr(cert.subject, NameOID.ORGANIZATION_NAME)
        cert.public_key()
    except _PARSE_ERRORS as exc:
        raise CertificateRefused("malformed_certificate", "not a CA certificate (no basicConstraints)") from exc
    if not bc.ca or org is None:
        raise CertificateRefused("malformed_certificate", "not a CA certificate (CA:false or no O)")


def find_issuer(cert_der: bytes, config: MembershipConfig) -> tuple[MemberOrg, bytes, x509.Certificate]:
    """Find the member CA that issued ``cert_der``.

    Returns:
        (the organisation, the CA certificate's DER, the parsed CA certificate).

    Raises:
        CertificateRefused: ``malformed_certificate`` or ``unknown_ca`` (no member CA's signature verifies).
    """
    cert = _load_der(cert_der)
    for org in config.orgs:
        for ca_der in org.ca_certs:
            try:
                ca = x509.load_der_x509_certificate(ca_der)
                if cert.issuer != ca.subject:
                    continue
                cert.verify_directly_issued_by(ca)
            except (InvalidSignature, *_PARSE_ERRORS):
                continue
            return org, ca_der, ca
    raise CertificateRefused("unknown_ca", "the certificate was not issued by a member organisation's CA")


def _time_refusal(not_before_ms: int, not_after_ms: int, time_ms: int) -> CertificateRefused | None:
    if time_ms < not_before_ms:
        return CertificateRefused("certificate_not_yet_valid", f"the certificate is valid from {not_before_ms} ms")
    if time_ms > not_after_ms:
        return CertificateRefused("certificate_expired", f"the certificate expired at {not_after_ms} ms")
    return None


def member_cas(config: MembershipConfig) -> frozenset[tuple[str, bytes]]:
    """Every (organisation, CA fingerprint) pair of the membership."""
    return frozenset((o.name, ca_fingerprint(c)) for o in config.orgs for c in o.ca_certs)


def entry_refusal(
    state: StateReader,
    config: MembershipConfig,
    entry: CertEntry,
    time_ms: int,
    members: frozenset[tuple[str, bytes]] | None = None,
) -> CertificateRefused | None:
    """Why ``entry`` is not valid at ``time_ms`` (None: it is valid).

    Valid means: its CA is still a member CA of its organisation, it is not revoked, and ``time_ms`` lies in its
    validity (``not_before_ms <= time_ms <= not_after_ms``). ``members`` is ``member_cas(config)`` when the
    caller has it already.
    """
    if (entry.org, entry.ca_fingerprint) not in (member_cas(config) if members is None else members):
        return CertificateRefused("unknown_ca", "the certificate's CA is no longer a member CA")
    if state.get(revoked_key(entry.org, entry.serial)) is not None:
        return CertificateRefused("certificate_revoked", f"certificate {entry.serial.hex()} of {entry.org} is revoked")
    return _time_refusal(entry.not_before_ms, entry.not_after_ms, time_ms)


def role_permits(role: str, payload: Payload) -> bool:
    """Whether a sender with ``role`` may send ``payload`` (``register_cert`` is always allowed).

    ``admin``: everything. ``client``: everything but membership governance (propose, approve, revoke).
    ``node``: only ``evidence.submit`` (validators report equivocation). ``regulator``: nothing — read-only,
    through queries.
    """
    if isinstance(payload, RegisterCert) or role == "admin":
        return True
    if role == "client":
        return not isinstance(payload, GOVERNANCE_MESSAGES)
    if role == "node":
        return isinstance(payload, SubmitEvidence)
    return False


class MembershipView:
    """Judges senders against a fixed state (the parent block's) at one time, caching per sender.

    Args:
        state: the state the judgement is made against.
        time_ms: the block's time (or, at admission, the latest block's).
        validators: the validators' addresses: they may report equivocation (``evidence.submit``) without a
            certificate, since the validator set is itself on-chain configuration.
    """

    def __init__(self, state: StateReader, time_ms: int, validators: frozenset[bytes] = frozenset()) -> None:
        self.state = state
        self.time_ms = time_ms
        self.validators = validators
        self.config = read_config(state)
        self._members = frozenset() if self.config is None else member_cas(self.config)
        self._valid: dict[bytes, list[CertEntry] | CertificateRefused] = {}

    def valid_certs(self, address: bytes) -> list[CertEntry]:
        """The certificates of ``address`` valid now.

        Raises:
            CertificateRefused: none is (the code of the newest-registered one's refusal, or
                ``unknown_certificate`` if none is registered, ``no_membership`` on a chain without members).
        """
        cached = self._valid.get(address)
        if cached is None:
            cached = self._judge(address)
            self._valid[address] = cached
        if isinstance(cached, CertificateRefused):
            raise cached
        return cached

    def _judge(self, address: bytes) -> list[CertEntry] | CertificateRefused:
        if self.config is None:
            return CertificateRefused("no_membership", "this chain has no member organisations")
        entries = read_certs(self.state, address)
        if not entries:
            return CertificateRefused("unknown_certificate", f"no certificate is registered for {address.hex()}")
        valid: list[CertEntry] = []
        last: CertificateRefused | None = None
        for entry in entries:
            why = entry_refusal(self.state, self.config, entry, self.time_ms, self._members)
            if why is None:
                valid.append(entry)
            else:
                last = why
        if not valid:
            assert last is not None
            return last
        return valid

    def check_sender(self, address: bytes, payload: Payload) -> None:
        """Check that ``address`` may send ``payload`` now (``register_cert`` needs no certificate, nor a
        validator's ``evidence.submit``).

        Raises:
            CertificateRefused: no valid certificate (see ``valid_certs``) or ``role_not_permitted``.
        """
        if isinstance(payload, RegisterCert):
            return
        if isinstance(payload, SubmitEvidence) and address in self.validators:
            return
        certs = self.valid_certs(address)
        if not any(role_permits(c.role, payload) for c in certs):
            roles = ", ".join(sorted({c.role for c in certs}))
            raise CertificateRefused("role_not_permitted", f"role {roles} may not send {type(payload).__name__}")


@dataclass(frozen=True)
class PeerMembership:
    """What the p2p transport needs of the on-chain membership (``TlsTransport.update_membership``).

    Attributes:
        version: the membership record's version (changes with every applied governance change).
        ca_bundle_pem: every member organisation's CA certificates, PEM, concatenated.
        revoked_serials: serial numbers of every revoked certificate (any organisation).
    """

    version: int
    ca_bundle_pem: bytes
    revoked_serials: frozenset[int]


def genesis_membership(orgs: Sequence[tuple[str, bytes]], threshold: int | None) -> MembershipConfig:
    """The membership record at genesis: one org per (name, CA DER); threshold defaults to a majority."""
    members = [MemberOrg(name=name, ca_certs=[der]) for name, der in orgs]
    t = threshold if threshold is not None else len(members) // 2 + 1
    return MembershipConfig(version=0, orgs=members, threshold=min(max(t, 1), len(members)), next_proposal=0)


def check_registration(
    state: StateReader, suite: Suite, sender: bytes, cert_der: bytes, time_ms: int, height: int
) -> CertEntry:
    """Judge an identity certificate for registration by ``sender`` at ``time_ms`` (reads only).

    Returns:
        The ``CertEntry`` to store.

    Raises:
        CertificateRefused: ``no_membership``, a parsing code (``parse_identity_cert``), ``key_mismatch`` (the
            subject key is not the sender's), ``unknown_ca``, ``wrong_org``, or a validity code
            (``entry_refusal``).
    """
    cfg = read_config(state)
    if cfg is None:
        raise CertificateRefused("no_membership", "this chain has no member organisations")
    ident = parse_identity_cert(cert_der)
    if address_of(suite, ident.public_key) != sender:
        raise CertificateRefused("key_mismatch", "the certificate's subject key is not the sender's key")
    org, ca_der, ca = find_issuer(cert_der, cfg)
    if ident.org != org.name:
        raise CertificateRefused("wrong_org", f"the subject's O is {ident.org!r}; its CA is {org.name!r}'s")
    _, ca_end = _validity_ms(ca)
    entry = CertEntry(
        org=org.name,
        serial=ident.serial,
        role=ident.role,
        not_before_ms=ident.not_before_ms,
        not_after_ms=min(ident.not_after_ms, ca_end),
        ca_fingerprint=ca_fingerprint(ca_der),
        cert_hash=hashlib.sha256(cert_der).digest(),
        registered_height=height,
    )
    why = entry_refusal(state, cfg, entry, time_ms)
    if why is not None:
        raise why
    return entry
