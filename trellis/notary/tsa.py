"""RFC 3161 time stamps whose time and hash come from the chain (docs/spec/receipt.md section 7).

``parse_request`` reads a DER ``TimeStampReq``; ``build_response`` returns a DER ``TimeStampResp`` whose token
is a CMS ``SignedData`` over a ``TSTInfo`` with:
  * ``messageImprint``: the request's (the digest anchored on chain);
  * ``genTime``: the time of the block that first anchored the digest (millisecond accuracy);
  * ``serialNumber``: derived from the anchoring (chain, height, transaction, digest) and the request nonce;
  * ``tsa``: the TSA certificate's subject;
  * extension ``TRELLIS_RECEIPT_OID`` (non-critical): a UTF8String JSON object naming the chain receipt
    (``chain_id``, ``genesis_hash``, ``height``, ``tx``, ``digest``, ``receipt`` = the API path that serves it).
Signed by the TSA key (ECDSA P-256, SHA-256) with the ESS ``signingCertificateV2`` attribute that
``openssl ts -verify`` requires.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime

from asn1crypto import algos, cms, core, tsp, x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

__all__ = [
    "MAX_REQUEST_BYTES",
    "TRELLIS_POLICY_OID",
    "TRELLIS_RECEIPT_OID",
    "TsaError",
    "TsaIdentity",
    "TsaRequest",
    "build_response",
    "parse_request",
    "rejection",
]

MAX_REQUEST_BYTES = 16 * 1024
TRELLIS_POLICY_OID = "1.3.6.1.4.1.59999.8.1"
"""The TSA policy of Trellis tokens: time and imprint are those of the chain's first anchoring of the digest."""
TRELLIS_RECEIPT_OID = "1.3.6.1.4.1.59999.8.2"
"""TSTInfo extension naming the chain receipt (private arc; see the module docstring)."""
_DIGEST_OIDS = {"sha-256": "sha256", "sm3": "1.2.156.10197.1.401"}


class TsaError(Exception):
    """A request the TSA refuses; ``fail_info`` is the RFC 3161 ``PKIFailureInfo`` bit name."""

    def __init__(self, fail_info: str, message: str) -> None:
        super().__init__(message)
        self.fail_info = fail_info
        self.message = message


@dataclass(frozen=True)
class TsaRequest:
    """What the TSA needs from a ``TimeStampReq``."""

    digest: bytes
    hash_algorithm: str
    nonce: int | None
    cert_req: bool
    imprint: tsp.MessageImprint


@dataclass(frozen=True)
class TsaIdentity:
    """The TSA's signing key and certificate (``issue_tsa_cert``)."""

    key: ec.EllipticCurvePrivateKey
    cert_der: bytes

    @classmethod
    def from_pem(cls, key_pem: bytes, cert_pem: bytes) -> TsaIdentity:
        """Load a PEM key and certificate.

        Raises:
            ValueError: not an EC key or not a certificate.
        """
        key = serialization.load_pem_private_key(key_pem, password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError("the TSA key must be an elliptic-curve key")
        from cryptography import x509 as cx509

        cert = cx509.load_pem_x509_certificate(cert_pem)
        return cls(key=key, cert_der=cert.public_bytes(serialization.Encoding.DER))


def parse_request(der: bytes, digest_alg: str) -> TsaRequest:
    """Parse a DER ``TimeStampReq`` for a chain whose digests use ``digest_alg`` (``sha-256`` or ``sm3``).

    Raises:
        TsaError: ``bad_data_format`` (not a request, truncated, trailing bytes, a digest of the wrong length),
            ``bad_alg`` (another hash algorithm), ``unaccepted_policy`` (a policy other than Trellis's),
            ``unaccepted_extension`` (request extensions).
    """
    if len(der) > MAX_REQUEST_BYTES:
        raise TsaError("bad_data_format", f"request is {len(der)} bytes; the limit is {MAX_REQUEST_BYTES}")
    try:
        req = tsp.TimeStampReq.load(der, strict=True)
        version = req["version"].native
        imprint = req["message_imprint"]
        alg_oid = imprint["hash_algorithm"]["algorithm"].dotted
        digest = bytes(imprint["hashed_message"].native)
        policy = req["req_policy"].native
        nonce = req["nonce"].native
        cert_req = bool(req["cert_req"].native)
        has_ext = req["extensions"].native is not None
    except (ValueError, TypeError, KeyError) as exc:
        raise TsaError("bad_data_format", f"not a DER TimeStampReq: {exc}") from None
    if version != "v1" and version != 1:
        raise TsaError("bad_data_format", f"TimeStampReq version {version}; only v1 exists")
    want = algos.DigestAlgorithmId(_DIGEST_OIDS[digest_alg]).dotted
    if alg_oid != want:
        raise TsaError("bad_alg", f"message imprint uses {alg_oid}; this chain anchors {digest_alg} ({want}) digests")
    if len(digest) != 32:
        raise TsaError("bad_data_format", f"message imprint is {len(digest)} bytes; {digest_alg} gives 32")
    if policy is not None and policy != TRELLIS_POLICY_OID:
        raise TsaError("unaccepted_policy", f"policy {policy} is not this TSA's ({TRELLIS_POLICY_OID})")
    if has_ext:
        raise TsaError("unaccepted_extension", "this TSA accepts no request extensions")
    return TsaRequest(digest=digest, hash_algorithm=digest_alg, nonce=nonce, cert_req=cert_req, imprint=imprint)


def rejection(err: TsaError) -> bytes:
    """A DER ``TimeStampResp`` with status ``rejection`` and the error's failure bit."""
    status = tsp.PKIStatusInfo(
        {
            "status": "rejection",
            "status_string": [err.message[:200]],
            "fail_info": tsp.PKIFailureInfo({err.fail_info}),
        }
    )
    # asn1crypto's TimeStampResp insists on a token; a rejection carries none, so the SEQUENCE is written here.
    body = bytes(status.dump())
    n = len(body)
    length = (
        bytes([n])
        if n < 0x80
        else bytes([0x80 | ((n.bit_length() + 7) // 8)]) + n.to_bytes((n.bit_length() + 7) // 8, "big")
    )
    return b"\x30" + length + body


def build_response(
    req: TsaRequest,
    identity: TsaIdentity,
    *,
    time_ms: int,
    reference: dict[str, object],
) -> bytes:
    """A DER ``TimeStampResp`` (status ``granted``) for ``req``, at chain time ``time_ms``, naming the chain
    receipt ``reference`` (JSON-serialisable) in the ``TRELLIS_RECEIPT_OID`` extension."""
    cert = x509.Certificate.load(identity.cert_der)
    ref_json = json.dumps(reference, sort_keys=True, separators=(",", ":"))
    serial_src = ref_json.encode() + (b"" if req.nonce is None else str(req.nonce).encode())
    serial = int.from_bytes(hashlib.sha256(serial_src).digest()[:15], "big")
    gen_time = datetime.fromtimestamp(time_ms // 1000, tz=UTC).replace(microsecond=(time_ms % 1000) * 1000)
    tst = {
        "version": "v1",
        "policy": TRELLIS_POLICY_OID,
        "message_imprint": req.imprint,
        "serial_number": serial,
        "gen_time": gen_time,
        "accuracy": {"millis": 1},
        "ordering": False,
        "tsa": x509.GeneralName(name="directory_name", value=cert.subject),
        "extensions": [
            {
                "extn_id": TRELLIS_RECEIPT_OID,
                "critical": False,
                "extn_value": core.UTF8String(ref_json).dump(),
            }
        ],
    }
    if req.nonce is not None:
        tst["nonce"] = req.nonce
    tst_info = tsp.TSTInfo(tst)
    tst_der = tst_info.dump()
    signed_attrs = cms.CMSAttributes(
        [
            cms.CMSAttribute({"type": "content_type", "values": ["tst_info"]}),
            cms.CMSAttribute({"type": "message_digest", "values": [hashlib.sha256(tst_der).digest()]}),
            cms.CMSAttribute(
                {
                    "type": "signing_certificate_v2",
                    "values": [
                        tsp.SigningCertificateV2(
                            {"certs": [tsp.ESSCertIDv2({"cert_hash": hashlib.sha256(identity.cert_der).digest()})]}
                        )
                    ],
                }
            ),
        ]
    )
    signature = identity.key.sign(signed_attrs.dump(), ec.ECDSA(hashes.SHA256()))
    signer = cms.SignerInfo(
        {
            "version": "v1",
            "sid": cms.SignerIdentifier(
                name="issuer_and_serial_number",
                value=cms.IssuerAndSerialNumber({"issuer": cert.issuer, "serial_number": cert.serial_number}),
            ),
            "digest_algorithm": algos.DigestAlgorithm({"algorithm": "sha256"}),
            "signed_attrs": signed_attrs,
            "signature_algorithm": algos.SignedDigestAlgorithm({"algorithm": "sha256_ecdsa"}),
            "signature": signature,
        }
    )
    signed_data = {
        "version": "v3",
        "digest_algorithms": [algos.DigestAlgorithm({"algorithm": "sha256"})],
        "encap_content_info": {"content_type": "tst_info", "content": tst_info},
        "signer_infos": [signer],
    }
    if req.cert_req:
        signed_data["certificates"] = [cert]
    token = cms.ContentInfo({"content_type": "signed_data", "content": cms.SignedData(signed_data)})
    resp = tsp.TimeStampResp({"status": tsp.PKIStatusInfo({"status": "granted"}), "time_stamp_token": token})
    return bytes(resp.dump())
