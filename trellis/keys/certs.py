"""X.509 certificates for the node-to-node network: one CA per member organisation, one certificate per node.

Every key is ECDSA on P-256 and every signature ECDSA with SHA-256, which TLS 1.3 accepts. An organisation's
CA (``create_org_ca``) signs only end-entity certificates (``pathlen:0``); a node certificate
(``issue_node_cert``) names its node twice, as the subject's common name and as the SAN URI
``trellis:node:<id>``, and ``node_id_of_cert`` accepts a certificate only when both agree. The set of member CA
certificates is the network's membership: the p2p transport trusts exactly those.

Certificate validity here is wall-clock validity for TLS. The chain's own rules (credential validity and the
like) are judged by block time in the core, never by these dates.
"""

from __future__ import annotations

import ipaddress
import os
import re
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from trellis.core.errors import TrellisError

__all__ = [
    "IDENTITY_ROLES",
    "MAX_CERT_BYTES",
    "NODE_URI_PREFIX",
    "CertError",
    "create_org_ca",
    "is_valid_node_id",
    "issue_identity_cert",
    "issue_node_cert",
    "issue_tsa_cert",
    "node_id_of_cert",
    "write_private_key",
]

NODE_URI_PREFIX = "trellis:node:"
"""The SAN URI of a node certificate is this prefix followed by the node id."""

MAX_CERT_BYTES = 64 * 1024
"""The largest certificate (DER or PEM) ``node_id_of_cert`` will parse."""

_NODE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_ROLE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_CLOCK_SKEW = timedelta(minutes=5)


class CertError(TrellisError):
    """A certificate or key that cannot be created, parsed, written or accepted; ``reason`` says why."""

    code = "cert_error"


def is_valid_node_id(node_id: str) -> bool:
    """Whether ``node_id`` is a well-formed node id: 1-64 ASCII letters, digits, ``.``, ``_`` or ``-``, not
    starting with a punctuation mark."""
    return isinstance(node_id, str) and _NODE_ID.fullmatch(node_id) is not None


def _check_node_id(node_id: str) -> None:
    if not is_valid_node_id(node_id):
        raise CertError(
            f"invalid node id {node_id!r}: use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit"
        )


def _utc(value: datetime, what: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise CertError(f"{what} must be a timezone-aware datetime, got naive {value.isoformat()}")
    return value.astimezone(UTC)


def _private_key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def create_org_ca(org: str, *, valid_days: int = 3650, now: datetime | None = None) -> tuple[bytes, bytes]:
    """Create a member organisation's certificate authority.

    Args:
        org: the organisation's name; the CA's subject is ``O=org, CN="<org> CA"``.
        valid_days: how long the CA is valid, counted from ``now``.
        now: the issuing time (timezone-aware); defaults to the current time. The certificate is valid from five
            minutes before it, to absorb clock skew between machines.

    Returns:
        ``(private key PEM, certificate PEM)``: an unencrypted PKCS#8 P-256 key and a self-signed certificate with
        ``basicConstraints CA:true, pathlen:0`` and ``keyUsage keyCertSign, cRLSign``.

    Raises:
        CertError: an empty organisation name, a non-positive ``valid_days`` or a naive ``now``.
    """
    if not org or not org.strip():
        raise CertError("organisation name must not be empty")
    if valid_days <= 0:
        raise CertError(f"valid_days must be positive, got {valid_days}")
    issued = _utc(now, "now") if now is not None else datetime.now(UTC)
    key = _new_key()
    name = x509.Name(
        [x509.NameAttribute(NameOID.ORGANIZATION_NAME, org), x509.NameAttribute(NameOID.COMMON_NAME, f"{org} CA")]
    )
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(issued - _CLOCK_SKEW)
        .not_valid_after(issued + timedelta(days=valid_days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    return _private_key_pem(key), cert.public_bytes(serialization.Encoding.PEM)


def _load_ca(ca_key_pem: bytes, ca_cert_pem: bytes) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    try:
        ca_cert = x509.load_pem_x509_certificate(ca_cert_pem)
    except ValueError as exc:
        raise CertError(f"cannot parse the CA certificate: {exc}") from exc
    try:
        ca_key = serialization.load_pem_private_key(ca_key_pem, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise CertError(f"cannot open the CA private key (it must be an unencrypted PEM key): {exc}") from exc
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise CertError("the CA private key is not an elliptic-curve key")
    try:
        constraints = ca_cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        raise CertError("the CA certificate has no basicConstraints extension") from None
    except x509.DuplicateExtension as exc:
        raise CertError(f"the CA certificate repeats an extension: {exc}") from None
    if not constraints.ca:
        raise CertError("the CA certificate is not a CA (basicConstraints CA:false)")
    ca_public = ca_cert.public_key()
    der = serialization.Encoding.DER
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    if ca_public.public_bytes(der, spki) != ca_key.public_key().public_bytes(der, spki):
        raise CertError("the CA private key does not belong to the CA certificate")
    return ca_key, ca_cert


def _org_of(cert: x509.Certificate) -> str | None:
    values = cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    if len(values) != 1:
        return None
    value = values[0].value
    return value if isinstance(value, str) else None


def _issuer_and_validity(
    ca_key_pem: bytes,
    ca_cert_pem: bytes,
    org: str,
    not_before: datetime | None,
    not_after: datetime | None,
    valid_days: int,
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate, datetime, datetime]:
    """Load ``org``'s CA and settle a certificate's validity window (default start: now less clock skew).

    Raises:
        CertError: an unreadable CA, a CA of another organisation, or an empty validity period.
    """
    ca_key, ca_cert = _load_ca(ca_key_pem, ca_cert_pem)
    ca_org = _org_of(ca_cert)
    if ca_org != org:
        raise CertError(f"the CA belongs to organisation {ca_org!r}, not {org!r}")
    start = _utc(not_before, "not_before") if not_before is not None else datetime.now(UTC) - _CLOCK_SKEW
    if not_after is not None:
        end = _utc(not_after, "not_after")
    else:
        if valid_days <= 0:
            raise CertError(f"valid_days must be positive, got {valid_days}")
        end = start + timedelta(days=valid_days)
    if end <= start:
        raise CertError(f"not_after ({end.isoformat()}) must be later than not_before ({start.isoformat()})")
    return ca_key, ca_cert, start, end


def _leaf_builder(
    subject: x509.Name,
    ca_cert: x509.Certificate,
    public: ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey,
    start: datetime,
    end: datetime,
) -> x509.CertificateBuilder:
    """The part every end-entity certificate shares: names, key, a random serial, validity, CA:false."""
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
    )


def _signing_key_usage(*, content_commitment: bool) -> x509.KeyUsage:
    """keyUsage digitalSignature (and nonRepudiation/contentCommitment for time-stamping), nothing else."""
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=content_commitment,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


def issue_node_cert(
    ca_key_pem: bytes,
    ca_cert_pem: bytes,
    *,
    org: str,
    node_id: str,
    role: str = "node",
    valid_days: int = 825,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
) -> tuple[bytes, bytes]:
    """Issue a node's TLS certificate under an organisation's CA, with a fresh P-256 key.

    Args:
        ca_key_pem, ca_cert_pem: the organisation's CA, as returned by ``create_org_ca``.
        org: the organisation; must equal the CA's ``O``.
        node_id: the node's id (see ``is_valid_node_id``); it becomes the subject's ``CN`` and the SAN URI
            ``trellis:node:<node_id>``.
        role: the node's role, written as the subject's ``OU`` (for example ``validator`` or ``observer``).
        valid_days: validity when ``not_after`` is not given, counted from ``not_before``.
        not_before: start of validity (timezone-aware); defaults to five minutes before now, for clock skew.
        not_after: end of validity (timezone-aware); defaults to ``not_before`` plus ``valid_days``. It may lie
            in the past, which issues an expired certificate (useful only for tests).

    Returns:
        ``(node key PEM, node certificate PEM)``. The certificate has a random serial, SAN ``DNS:localhost``,
        ``IP:127.0.0.1`` and the node URI, ``extendedKeyUsage serverAuth, clientAuth`` and ``keyUsage
        digitalSignature``.

    Raises:
        CertError: an unreadable or mismatched CA, a CA of another organisation, a malformed node id or role, or
            an empty validity period.
    """
    _check_node_id(node_id)
    if not isinstance(role, str) or _ROLE.fullmatch(role) is None:
        raise CertError(f"invalid role {role!r}: use 1-64 letters, digits, '.', '_' or '-'")
    ca_key, ca_cert, start, end = _issuer_and_validity(ca_key_pem, ca_cert_pem, org, not_before, not_after, valid_days)

    key = _new_key()
    public = key.public_key()
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, role),
            x509.NameAttribute(NameOID.COMMON_NAME, node_id),
        ]
    )
    try:
        ca_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        authority_key_id = x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski)
    except x509.ExtensionNotFound:
        authority_key_id = x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key())
    cert = (
        _leaf_builder(subject, ca_cert, public, start, end)
        .add_extension(
            _signing_key_usage(content_commitment=False),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName("localhost"),
                    x509.IPAddress(ipaddress.IPv4Address("127.0.0.1")),
                    x509.UniformResourceIdentifier(NODE_URI_PREFIX + node_id),
                ]
            ),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(authority_key_id, critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    try:
        cert.verify_directly_issued_by(ca_cert)
    except (ValueError, TypeError, InvalidSignature) as exc:  # pragma: no cover - a broken library, not bad input
        raise CertError(f"the issued certificate does not verify under its CA: {exc}") from exc
    return _private_key_pem(key), cert.public_bytes(serialization.Encoding.PEM)


def issue_tsa_cert(
    ca_key_pem: bytes,
    ca_cert_pem: bytes,
    *,
    org: str,
    name: str = "tsa",
    valid_days: int = 825,
    not_before: datetime | None = None,
) -> tuple[bytes, bytes]:
    """Issue an RFC 3161 time-stamping authority certificate under an organisation's CA, with a fresh P-256 key.

    Args:
        ca_key_pem, ca_cert_pem: the organisation's CA, as returned by ``create_org_ca``.
        org: the organisation; must equal the CA's ``O``.
        name: the subject's ``CN`` (1-64 letters, digits, '.', '_' or '-').
        valid_days: validity, counted from ``not_before``.
        not_before: start of validity (timezone-aware); defaults to five minutes before now.

    Returns:
        ``(TSA key PEM, TSA certificate PEM)``: ``extendedKeyUsage timeStamping`` (critical, the only purpose,
        as RFC 3161 section 2.3 requires) and ``keyUsage digitalSignature, nonRepudiation`` (critical).

    Raises:
        CertError: an unreadable or mismatched CA, a CA of another organisation, a malformed name, or a
            non-positive validity.
    """
    _check_node_id(name)
    ca_key, ca_cert = _load_ca(ca_key_pem, ca_cert_pem)
    ca_org = _org_of(ca_cert)
    if ca_org != org:
        raise CertError(f"the CA belongs to organisation {ca_org!r}, not {org!r}")
    if valid_days <= 0:
        raise CertError(f"valid_days must be positive, got {valid_days}")
    start = _utc(not_before, "not_before") if not_before is not None else datetime.now(UTC) - _CLOCK_SKEW
    key = _new_key()
    public = key.public_key()
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "tsa"),
            x509.NameAttribute(NameOID.COMMON_NAME, name),
        ]
    )
    cert = (
        _leaf_builder(subject, ca_cert, public, start, start + timedelta(days=valid_days))
        .add_extension(
            _signing_key_usage(content_commitment=True),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return _private_key_pem(key), cert.public_bytes(serialization.Encoding.PEM)


IDENTITY_ROLES = ("admin", "client", "node", "regulator")
"""Roles an identity certificate may carry (its subject's ``OU``); see docs/spec/membership.md."""


def issue_identity_cert(
    ca_key_pem: bytes,
    ca_cert_pem: bytes,
    *,
    org: str,
    role: str,
    public_key: bytes,
    name: str,
    valid_days: int = 365,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
) -> bytes:
    """Issue an identity certificate binding a transaction key (Ed25519) to an organisation and a role.

    Args:
        ca_key_pem, ca_cert_pem: the organisation's CA, as returned by ``create_org_ca``.
        org: the organisation; must equal the CA's ``O``.
        role: one of ``IDENTITY_ROLES``, written as the subject's ``OU``.
        public_key: the holder's raw 32-byte Ed25519 public key (the key that signs its transactions).
        name: the subject's ``CN`` (for people to read; the chain keys certificates by address).
        valid_days: validity when ``not_after`` is not given, counted from ``not_before``.
        not_before: start of validity (timezone-aware); defaults to five minutes before now.
        not_after: end of validity (timezone-aware); defaults to ``not_before`` plus ``valid_days``.

    Returns:
        The certificate, PEM.

    Raises:
        CertError: an unreadable or mismatched CA, a CA of another organisation, an unknown role, a key that is
            not 32 bytes, or an empty validity period.
    """
    if role not in IDENTITY_ROLES:
        raise CertError(f"unknown role {role!r}: use one of {', '.join(IDENTITY_ROLES)}")
    if not isinstance(public_key, bytes) or len(public_key) != 32:
        raise CertError("an identity certificate binds a raw 32-byte Ed25519 public key")
    if not name or len(name) > 64:
        raise CertError("the certificate's name must be 1-64 characters")
    ca_key, ca_cert, start, end = _issuer_and_validity(ca_key_pem, ca_cert_pem, org, not_before, not_after, valid_days)
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, role),
            x509.NameAttribute(NameOID.COMMON_NAME, name),
        ]
    )
    cert = _leaf_builder(subject, ca_cert, ed25519.Ed25519PublicKey.from_public_bytes(public_key), start, end).sign(
        ca_key, hashes.SHA256()
    )
    return cert.public_bytes(serialization.Encoding.PEM)


def _load_cert(cert_der_or_pem: bytes) -> x509.Certificate:
    if not isinstance(cert_der_or_pem, bytes | bytearray | memoryview):
        raise CertError(f"a certificate must be bytes, got {type(cert_der_or_pem).__name__}")
    data = bytes(cert_der_or_pem)
    if not data:
        raise CertError("empty certificate")
    if len(data) > MAX_CERT_BYTES:
        raise CertError(f"certificate of {len(data)} bytes exceeds the limit of {MAX_CERT_BYTES}")
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            return x509.load_pem_x509_certificate(data)
        return x509.load_der_x509_certificate(data)
    except ValueError as exc:
        raise CertError(f"cannot parse the certificate: {exc}") from exc


def node_id_of_cert(cert_der_or_pem: bytes) -> str:
    """Return the node id a node certificate names.

    Accepts DER or PEM (the first certificate of a PEM bundle), at most ``MAX_CERT_BYTES``. The id is the
    subject's single common name, which must be a well-formed node id and must equal the certificate's single
    ``trellis:node:`` SAN URI. Nothing here checks the signature or validity dates: that is the TLS handshake's
    job (or the caller's).

    Raises:
        CertError: unparseable bytes, a missing or repeated CN, a missing SAN URI, or a CN and URI that disagree.
    """
    cert = _load_cert(cert_der_or_pem)
    try:
        common_names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        if len(common_names) != 1:
            raise CertError(f"a node certificate must have exactly one common name, found {len(common_names)}")
        node_id = common_names[0].value
        if not isinstance(node_id, str):
            raise CertError("the certificate's common name is not a string")
        _check_node_id(node_id)
        try:
            san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        except x509.ExtensionNotFound:
            raise CertError(f"certificate of {node_id!r} has no subjectAltName extension") from None
        except x509.DuplicateExtension as exc:
            raise CertError(f"certificate of {node_id!r} repeats an extension: {exc}") from None
        uris = [
            uri for uri in san.get_values_for_type(x509.UniformResourceIdentifier) if uri.startswith(NODE_URI_PREFIX)
        ]
    except ValueError as exc:  # a malformed name or extension surfaces lazily, on access
        raise CertError(f"malformed certificate: {exc}") from exc
    if len(uris) != 1:
        raise CertError(
            f"certificate of {node_id!r} must have exactly one {NODE_URI_PREFIX} SAN URI, found {len(uris)}"
        )
    if uris[0] != NODE_URI_PREFIX + node_id:
        raise CertError(f"certificate common name {node_id!r} does not match its SAN URI {uris[0]!r}")
    return node_id


def write_private_key(path: str | os.PathLike[str], pem: bytes) -> None:
    """Write a private key PEM to a new file that only its owner can read or write (mode 0600).

    The file is created with ``O_EXCL``, so an existing file is never overwritten and a file planted in advance
    (by someone else, with other permissions) is never reused.

    Raises:
        CertError: the file exists, or it cannot be created or written.
    """
    if not isinstance(pem, bytes) or not pem:
        raise CertError("the private key PEM must be non-empty bytes")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        raise CertError(f"refusing to overwrite the existing file {os.fspath(path)!s}") from None
    except OSError as exc:
        raise CertError(f"cannot create the key file {os.fspath(path)!s}: {exc.strerror or exc}") from exc
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), 0o600)  # the umask may have taken bits away; never more than 0600 either way
            f.write(pem)
            f.flush()
            os.fsync(f.fileno())
    except OSError as exc:
        try:
            os.unlink(path)  # never leave a truncated key behind
        except OSError:
            pass
        raise CertError(f"cannot write the key file {os.fspath(path)!s}: {exc.strerror or exc}") from exc
