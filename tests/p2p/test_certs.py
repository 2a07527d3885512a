"""Organisation CAs, node certificates, and the node id a certificate names."""

from __future__ import annotations

import ipaddress
import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from trellis.core.errors import TrellisError
from trellis.keys.certs import (
    MAX_CERT_BYTES,
    CertError,
    create_org_ca,
    is_valid_node_id,
    issue_node_cert,
    node_id_of_cert,
    write_private_key,
)

from . import org


def _attr(name: x509.Name, oid: x509.ObjectIdentifier) -> str:
    (attribute,) = name.get_attributes_for_oid(oid)
    return str(attribute.value)


def test_org_ca_is_a_p256_ca_that_signs_only_end_entities() -> None:
    now = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    key_pem, cert_pem = create_org_ca("Acme Bank", valid_days=100, now=now)
    cert = x509.load_pem_x509_certificate(cert_pem)
    key = serialization.load_pem_private_key(key_pem, password=None)

    assert isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP256R1)
    assert _attr(cert.subject, NameOID.ORGANIZATION_NAME) == "Acme Bank"
    assert _attr(cert.subject, NameOID.COMMON_NAME) == "Acme Bank CA"
    assert cert.issuer == cert.subject
    assert isinstance(cert.signature_hash_algorithm, hashes.SHA256)
    constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical and constraints.value.ca and constraints.value.path_length == 0
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.key_cert_sign and usage.crl_sign and not usage.digital_signature
    assert cert.not_valid_after_utc == now + timedelta(days=100)
    assert cert.not_valid_before_utc <= now
    cert.verify_directly_issued_by(cert)


def test_node_certificate_names_its_node_org_and_role_and_serves_both_tls_ends() -> None:
    acme = org("acme")
    key_pem, cert_pem = issue_node_cert(acme.key_pem, acme.cert_pem, org="acme", node_id="val-1", role="validator")
    cert = x509.load_pem_x509_certificate(cert_pem)
    ca = x509.load_pem_x509_certificate(acme.cert_pem)
    key = serialization.load_pem_private_key(key_pem, password=None)

    cert.verify_directly_issued_by(ca)
    assert isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP256R1)
    spki = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert key.public_key().public_bytes(*spki) == cert.public_key().public_bytes(*spki)
    assert _attr(cert.subject, NameOID.COMMON_NAME) == "val-1"
    assert _attr(cert.subject, NameOID.ORGANIZATION_NAME) == "acme"
    assert _attr(cert.subject, NameOID.ORGANIZATIONAL_UNIT_NAME) == "validator"
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.IPv4Address("127.0.0.1")]
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == ["trellis:node:val-1"]
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert set(eku) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert isinstance(cert.signature_hash_algorithm, hashes.SHA256)


def test_node_certificates_get_random_serials() -> None:
    acme = org("acme")
    serials = {
        x509.load_pem_x509_certificate(
            issue_node_cert(acme.key_pem, acme.cert_pem, org="acme", node_id="n")[1]
        ).serial_number
        for _ in range(3)
    }
    assert len(serials) == 3


def test_node_id_of_cert_reads_pem_and_der() -> None:
    acme = org("acme")
    _, cert_pem = issue_node_cert(acme.key_pem, acme.cert_pem, org="acme", node_id="node.7_x-y")
    der = x509.load_pem_x509_certificate(cert_pem).public_bytes(serialization.Encoding.DER)
    assert node_id_of_cert(cert_pem) == "node.7_x-y"
    assert node_id_of_cert(der) == "node.7_x-y"


def test_explicit_validity_window_is_kept_even_when_already_over() -> None:
    acme = org("acme")
    start = datetime.now(UTC) - timedelta(days=10)
    end = datetime.now(UTC) - timedelta(days=1)
    _, cert_pem = issue_node_cert(
        acme.key_pem, acme.cert_pem, org="acme", node_id="old", not_before=start, not_after=end
    )
    cert = x509.load_pem_x509_certificate(cert_pem)
    assert cert.not_valid_before_utc == start.replace(microsecond=0)
    assert cert.not_valid_after_utc == end.replace(microsecond=0)


def _forged_cert(common_name: str, uris: list[str]) -> bytes:
    """A self-signed certificate with the given CN and SAN URIs (the shapes issue_node_cert never makes)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(datetime(2020, 1, 1, tzinfo=UTC))
        .not_valid_after(datetime(2040, 1, 1, tzinfo=UTC))
    )
    if uris:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.UniformResourceIdentifier(u) for u in uris]), critical=False
        )
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


@pytest.mark.parametrize(
    ("common_name", "uris", "message"),
    [
        ("alice", ["trellis:node:bob"], "does not match"),
        ("alice", [], "no subjectAltName"),
        ("alice", ["https://example.com"], "exactly one trellis:node:"),
        ("alice", ["trellis:node:alice", "trellis:node:bob"], "exactly one trellis:node:"),
        ("bad id!", ["trellis:node:bad id!"], "invalid node id"),
    ],
)
def test_node_id_of_cert_refuses_a_cn_and_san_uri_that_do_not_name_one_valid_id(
    common_name: str, uris: list[str], message: str
) -> None:
    with pytest.raises(CertError, match=message):
        node_id_of_cert(_forged_cert(common_name, uris))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"\x30\x03\x02\x01", "cannot parse"),
        (b"-----BEGIN CERTIFICATE-----\nxx\n", "cannot parse"),
        (b"\x30" * (MAX_CERT_BYTES + 1), "exceeds the limit"),
    ],
)
def test_node_id_of_cert_refuses_bytes_that_are_not_a_certificate(data: bytes, message: str) -> None:
    with pytest.raises(CertError, match=message) as caught:
        node_id_of_cert(data)
    assert isinstance(caught.value, TrellisError) and caught.value.code == "cert_error"


def test_issuing_refuses_a_ca_of_another_organisation() -> None:
    acme = org("acme")
    with pytest.raises(CertError, match="belongs to organisation 'acme', not 'globex'"):
        issue_node_cert(acme.key_pem, acme.cert_pem, org="globex", node_id="n1")


def test_issuing_refuses_a_ca_key_that_does_not_match_the_ca_certificate() -> None:
    with pytest.raises(CertError, match="does not belong"):
        issue_node_cert(org("globex").key_pem, org("acme").cert_pem, org="acme", node_id="n1")


def test_issuing_refuses_a_node_certificate_as_the_ca() -> None:
    acme = org("acme")
    key, cert = issue_node_cert(acme.key_pem, acme.cert_pem, org="acme", node_id="n1")
    with pytest.raises(CertError, match="not a CA"):
        issue_node_cert(key, cert, org="acme", node_id="n2")


@pytest.mark.parametrize("node_id", ["", "-lead", "has space", "a" * 65, "colon:id", "at@id"])
def test_issuing_refuses_a_malformed_node_id(node_id: str) -> None:
    acme = org("acme")
    assert not is_valid_node_id(node_id)
    with pytest.raises(CertError, match="invalid node id"):
        issue_node_cert(acme.key_pem, acme.cert_pem, org="acme", node_id=node_id)


def test_issuing_refuses_an_empty_or_naive_validity_window() -> None:
    acme = org("acme")
    now = datetime.now(UTC)
    with pytest.raises(CertError, match="must be later"):
        issue_node_cert(acme.key_pem, acme.cert_pem, org="acme", node_id="n", not_before=now, not_after=now)
    with pytest.raises(CertError, match="timezone-aware"):
        issue_node_cert(acme.key_pem, acme.cert_pem, org="acme", node_id="n", not_after=datetime(2040, 1, 1))
    with pytest.raises(CertError, match="timezone-aware"):
        create_org_ca("acme", now=datetime(2040, 1, 1))


def test_private_key_file_is_created_owner_only(tmp_path: Path) -> None:
    key_pem, _ = create_org_ca("acme")
    path = tmp_path / "ca.key"
    old_umask = os.umask(0)  # even a permissive umask must not widen the mode
    try:
        write_private_key(path, key_pem)
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_bytes() == key_pem
    loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    assert isinstance(loaded, ec.EllipticCurvePrivateKey)


def test_private_key_file_is_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "node.key"
    path.write_bytes(b"existing")
    with pytest.raises(CertError, match="refusing to overwrite"):
        write_private_key(path, b"-----BEGIN PRIVATE KEY-----\n")
    assert path.read_bytes() == b"existing"


def test_private_key_file_error_is_translated(tmp_path: Path) -> None:
    with pytest.raises(CertError, match="cannot create"):
        write_private_key(tmp_path / "missing-dir" / "node.key", b"pem")
