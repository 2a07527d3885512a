"""Hostile certificate bytes never crash the membership's certificate path: they raise ``CertificateRefused``
with a precise code (parsing), or fail the transaction with a receipt code (``membership.register_cert``).

Inputs are random bytes and, more usefully, a valid identity certificate (and a valid CA) with a few random
edits, which reach the DER structure, names, validity, key and signature.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trellis.core.codec import encode
from trellis.core.crypto.suite import ED25519, address_of
from trellis.core.execution.results import TxFailure
from trellis.core.modules.membership.handlers import handle_register_cert
from trellis.core.modules.membership.messages import RegisterCert
from trellis.core.modules.membership.state import MEMBERSHIP_KEY
from trellis.core.modules.membership.view import (
    CertificateRefused,
    check_ca_cert,
    find_issuer,
    genesis_membership,
    parse_identity_cert,
)
from trellis.keys.certs import create_org_ca, issue_identity_cert

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CODES = {
    "malformed_certificate",
    "unsupported_key",
    "no_role",
    "unknown_ca",
    "wrong_org",
    "certificate_not_yet_valid",
    "certificate_expired",
    "certificate_revoked",
    "key_mismatch",
}
NOW = datetime(2026, 1, 1, tzinfo=UTC)
PUBLIC_KEY = bytes(range(32))
CA_KEY, CA_PEM = create_org_ca("acme", now=NOW)
CA_DER = x509.load_pem_x509_certificate(CA_PEM).public_bytes(serialization.Encoding.DER)
CERT_DER = x509.load_pem_x509_certificate(
    issue_identity_cert(
        CA_KEY,
        CA_PEM,
        org="acme",
        role="client",
        public_key=PUBLIC_KEY,
        name="c",
        not_before=NOW,
        not_after=NOW + timedelta(days=1),
    )
).public_bytes(serialization.Encoding.DER)
CONFIG = genesis_membership([("acme", CA_DER)], None)


@st.composite
def edited(draw: st.DrawFn, base: bytes) -> bytes:
    """``base`` with 1-4 random edits: flip a bit, overwrite, insert, delete or truncate."""
    data = bytearray(base)
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        op = draw(st.sampled_from(["flip", "set", "insert", "delete", "truncate"]))
        pos = draw(st.integers(min_value=0, max_value=max(len(data) - 1, 0)))
        if op == "insert" or not data:
            data.insert(pos, draw(st.integers(min_value=0, max_value=255)))
        elif op == "flip":
            data[pos] ^= 1 << draw(st.integers(min_value=0, max_value=7))
        elif op == "set":
            data[pos] = draw(st.sampled_from([0x00, 0x01, 0x02, 0x05, 0x0C, 0x13, 0x17, 0x30, 0x7F, 0x80, 0x81, 0xFF]))
        elif op == "delete":
            del data[pos]
        else:
            del data[pos:]
    return bytes(data)


def hostile(base: bytes) -> st.SearchStrategy[bytes]:
    return st.one_of(st.binary(max_size=800), edited(base))


def test_the_unedited_certificate_parses() -> None:
    ident = parse_identity_cert(CERT_DER)
    assert (ident.org, ident.role, ident.public_key) == ("acme", "client", PUBLIC_KEY)
    assert find_issuer(CERT_DER, CONFIG)[0].name == "acme"


@FUZZ
@given(hostile(CERT_DER))
def test_parsing_hostile_bytes_raises_only_a_precise_refusal(data: bytes) -> None:
    try:
        parse_identity_cert(data)
    except CertificateRefused as exc:
        assert exc.code in CODES
    try:
        find_issuer(data, CONFIG)
    except CertificateRefused as exc:
        assert exc.code in CODES


@FUZZ
@given(hostile(CA_DER))
def test_checking_a_hostile_ca_certificate_raises_only_a_precise_refusal(data: bytes) -> None:
    try:
        check_ca_cert(data)
    except CertificateRefused as exc:
        assert exc.code == "malformed_certificate"


def test_a_ca_certificate_that_repeats_an_extension_is_refused_as_malformed() -> None:
    # keyUsage (2.5.29.15) renamed subjectKeyIdentifier (2.5.29.14): cryptography raises DuplicateExtension, not
    # a ValueError, when the extensions are read (a hypothesis example found it).
    key_usage, ski = bytes.fromhex("0603551d0f"), bytes.fromhex("0603551d0e")
    assert CA_DER.count(key_usage) == 1 and ski in CA_DER
    try:
        check_ca_cert(CA_DER.replace(key_usage, ski))
    except CertificateRefused as exc:
        assert exc.code == "malformed_certificate"
    else:
        raise AssertionError("a CA certificate with a repeated extension was accepted")


class _Ctx:
    def __init__(self) -> None:
        self.sender = address_of(ED25519, PUBLIC_KEY)
        self.height = 1
        self.time_ms = int(NOW.timestamp() * 1000) + 1000
        self.suite = ED25519
        self.state: dict[bytes, bytes | None] = {MEMBERSHIP_KEY: encode(CONFIG)}

    def get(self, key: bytes) -> bytes | None:
        return self.state.get(key)

    def put(self, key: bytes, value: bytes | None) -> None:
        self.state[key] = value


@FUZZ
@given(hostile(CERT_DER).filter(lambda b: 1 <= len(b) <= 8 * 1024))
def test_registering_hostile_bytes_fails_the_transaction_with_a_receipt_code(data: bytes) -> None:
    ctx = _Ctx()
    try:
        handle_register_cert(ctx, RegisterCert(cert=data))
    except TxFailure as fail:
        assert fail.message.split(":", 1)[0] in CODES


def test_registering_the_unedited_certificate_succeeds() -> None:
    ctx = _Ctx()
    events = handle_register_cert(ctx, RegisterCert(cert=CERT_DER))
    assert events[0].type == "membership.cert_registered"


def test_a_certificate_with_an_unknown_x509_version_is_refused_not_a_crash() -> None:
    # cryptography raises InvalidVersion (not a ValueError) for a version field other than v1/v3 — found by
    # Hypothesis; the TBSCertificate's version is the first "A0 03 02 01 02" in the DER.
    at = CERT_DER.index(bytes.fromhex("a003020102"))
    bad = CERT_DER[: at + 4] + b"\x05" + CERT_DER[at + 5 :]
    try:
        parse_identity_cert(bad)
    except CertificateRefused as exc:
        assert exc.code == "malformed_certificate"
    else:
        raise AssertionError("a certificate with an unknown version was accepted")
    ctx = _Ctx()
    try:
        handle_register_cert(ctx, RegisterCert(cert=bad))
    except TxFailure as fail:
        assert fail.message.startswith("malformed_certificate")
    else:
        raise AssertionError("registering it succeeded")
