"""Trellis credentials in standard W3C verifiers.

1. Digital Bazaar's verifier (``@digitalbazaar/vc`` with ``DataIntegrityProof``/``eddsa-jcs-2022`` and
   ``@digitalbazaar/vc-bitstring-status-list``, pinned in ``tests/interop/vc_js``; ``make vc-interop-tools``
   installs it) runs offline on a credential and a selectively disclosed presentation that Trellis issued,
   with the issuer's and holder's ``did:trellis`` documents as the resolver renders them and the issuer-signed
   status list credential.
2. A clean-room ``eddsa-jcs-2022`` check written from the W3C spec (vc-di-eddsa 3.3.x) with ``json`` and
   ``cryptography`` only, independent of ``trellis.vc``.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from trellis.app.modules.identity import render_document
from trellis.core.crypto.suite import ed25519_keypair_from_seed, ed25519_sign
from trellis.core.modules.identity.did import format_did
from trellis.core.modules.identity.messages import DidDocument, DidVerificationMethod
from trellis.vc.issue import format_time, issue_credential, issue_status_list_credential, make_presentation
from trellis.vc.proofs import CRYPTOSUITES
from trellis.vc.status import encode_list

VC_JS = Path(__file__).with_name("vc_js")
CHAIN = "interop-chain"
T0 = 1_795_000_000_250  # a block time with milliseconds
LIST_URL = "https://university.example/v1/status-lists/uni-2026"
EDDSA = CRYPTOSUITES["eddsa-jcs-2022"]


class Party:
    """A did:trellis DID with one Multikey, for issuing and authenticating, and its rendered document."""

    def __init__(self, name: str) -> None:
        self.secret, self.public = ed25519_keypair_from_seed(hashlib.sha256(name.encode()).digest())
        did_id = hashlib.sha256(b"id" + name.encode()).digest()[:16]
        self.did = format_did(CHAIN, did_id)
        self.vm = f"{self.did}#key-1"
        doc = DidDocument(
            verification_methods=[DidVerificationMethod(id="key-1", type="Multikey", public_key=self.public)],
            authentication=["key-1"],
            assertion_method=["key-1"],
        )
        self.document = render_document(CHAIN, did_id, doc)

    def sign(self, message: bytes) -> bytes:
        return ed25519_sign(self.secret, message)


UNIVERSITY = Party("university")
STUDENT = Party("student")


def _diploma() -> tuple[dict[str, Any], dict[str, str]]:
    return issue_credential(
        issuer=UNIVERSITY.did,
        verification_method=UNIVERSITY.vm,
        sign=UNIVERSITY.sign,
        cryptosuite=EDDSA,
        types=["UniversityDegreeCredential"],
        subject={
            "id": STUDENT.did,
            "degree": {"type": "BachelorDegree", "name": "Bachelor of Science and Arts"},
            "name": "Ada Student",
            "grade": "First",
        },
        valid_from_ms=T0,
        status=[
            {
                "id": f"{LIST_URL}#94567",
                "type": "BitstringStatusListEntry",
                "statusPurpose": "revocation",
                "statusListIndex": "94567",
                "statusListCredential": LIST_URL,
            }
        ],
        disclosable=["name", "grade"],
    )


def _status_list(revoked: set[int]) -> dict[str, Any]:
    bits = bytearray(131072 // 8)
    for i in revoked:
        bits[i // 8] |= 0x80 >> (i % 8)
    return issue_status_list_credential(
        url=LIST_URL,
        issuer=UNIVERSITY.did,
        verification_method=UNIVERSITY.vm,
        sign=UNIVERSITY.sign,
        cryptosuite=EDDSA,
        purpose="revocation",
        encoded_list=encode_list(bytes(bits)),
        valid_from_ms=T0,
        # The status check of vc-bitstring-status-list 2.0.1 judges the list's validity by the wall clock (it
        # does not pass `now` on), so this snapshot is valid for long.
        valid_until_ms=T0 + 50 * 365 * 86_400_000,
    )


def _present(
    credentials: list[tuple[dict[str, Any], list[str]]], challenge: str = "c-123", domain: str = "verifier.example"
) -> dict[str, Any]:
    """The student's presentation of ``(credential, disclosures)`` pairs."""
    return make_presentation(
        credentials,
        holder=STUDENT.did,
        verification_method=STUDENT.vm,
        sign=STUDENT.sign,
        cryptosuite=EDDSA,
        challenge=challenge,
        domain=domain,
        created_ms=T0 + 1000,
    )


def _digitalbazaar(tmp_path: Path, revoked: set[int] = frozenset(), **request: Any) -> dict[str, Any]:  # type: ignore[assignment]
    node = shutil.which("node")
    if node is None or not (VC_JS / "node_modules" / "@digitalbazaar" / "vc").is_dir():
        pytest.fail("Digital Bazaar's verifier is not installed: run `make vc-interop-tools` (needs node and npm)")
    documents = {UNIVERSITY.did: UNIVERSITY.document, STUDENT.did: STUDENT.document, LIST_URL: _status_list(revoked)}
    path = tmp_path / "input.json"
    path.write_text(json.dumps({"documents": documents, "now": format_time(T0 + 60_000), **request}))
    run = subprocess.run([node, str(VC_JS / "verify.mjs"), str(path)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    result: dict[str, Any] = json.loads(run.stdout)
    return result


def test_an_issued_credential_verifies_in_digitalbazaars_verifier(tmp_path: Path) -> None:
    cred, _ = _diploma()
    result = _digitalbazaar(tmp_path, credential=cred)["credential"]
    assert result["verified"], result["errors"]
    assert result["statuses"] == [{"purpose": "revocation", "status": False}]


def test_a_revoked_credential_shows_revoked_in_digitalbazaars_status_check(tmp_path: Path) -> None:
    cred, _ = _diploma()
    result = _digitalbazaar(tmp_path, revoked={94567}, credential=cred)["credential"]
    assert result["statuses"] == [{"purpose": "revocation", "status": True}]


def test_a_selectively_disclosed_presentation_verifies_in_digitalbazaars_verifier(tmp_path: Path) -> None:
    cred, disclosures = _diploma()
    vp = _present([(cred, [disclosures["grade"]])])
    result = _digitalbazaar(tmp_path, presentation=vp, challenge="c-123", domain="verifier.example")["presentation"]
    assert result["presentationProof"]["verified"], result["presentationProof"]["errors"]
    assert [c["verified"] for c in result["credentials"]] == [True], result["credentials"]
    assert result["verified"]


def test_digitalbazaars_verifier_refuses_an_altered_disclosure_list(tmp_path: Path) -> None:
    cred, disclosures = _diploma()
    vp = _present([(cred, [disclosures["grade"]])])
    vp["disclosures"].append(disclosures["name"])  # the holder chose not to show the name
    result = _digitalbazaar(tmp_path, presentation=vp, challenge="c-123", domain="verifier.example")["presentation"]
    assert not result["presentationProof"]["verified"]
    assert not result["verified"]


def test_the_old_shape_with_disclosures_inside_the_credential_fails_in_digitalbazaars_verifier(
    tmp_path: Path,
) -> None:
    # The root cause of issue 13's "Invalid signature": anything added to an issuer-signed credential breaks its
    # proof in a standard verifier, which is why disclosures now travel beside it.
    cred, disclosures = _diploma()
    vp = _present([({**cred, "disclosures": [disclosures["grade"]]}, [])])
    result = _digitalbazaar(tmp_path, presentation=vp, challenge="c-123", domain="verifier.example")["presentation"]
    assert result["presentationProof"]["verified"]
    assert [c["verified"] for c in result["credentials"]] == [False]
    assert any("Invalid signature" in e for e in result["credentials"][0]["errors"]), result["credentials"]


# --- clean-room eddsa-jcs-2022, from the W3C spec only ---------------------------------------------------------


def _jcs(value: Any) -> bytes:
    # RFC 8785 for documents of strings, objects, arrays, booleans and small integers: sorted members (ASCII
    # names sort the same in UTF-16), no whitespace, minimal escaping.
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def _b58decode(text: str) -> bytes:
    n = 0
    for ch in text:
        n = n * 58 + _B58.index(ch)
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return b"\0" * (len(text) - len(text.lstrip("1"))) + raw


def _clean_room_verify(secured: dict[str, Any], public_key: bytes) -> None:
    """vc-di-eddsa 3.3.2-3.3.6: hash(JCS(proof config)) || hash(JCS(document)), Ed25519. Raises on failure."""
    document = {k: v for k, v in secured.items() if k != "proof"}
    proof = dict(secured["proof"])
    assert proof["type"] == "DataIntegrityProof" and proof["cryptosuite"] == "eddsa-jcs-2022"
    proof_value = proof.pop("proofValue")
    assert proof_value.startswith("z")
    if "@context" in proof:
        assert document["@context"][: len(proof["@context"])] == proof["@context"]
        document["@context"] = proof["@context"]
    data = hashlib.sha256(_jcs(proof)).digest() + hashlib.sha256(_jcs(document)).digest()
    Ed25519PublicKey.from_public_bytes(public_key).verify(_b58decode(proof_value[1:]), data)


def _multikey_public(document: dict[str, Any]) -> bytes:
    raw = _b58decode(document["verificationMethod"][0]["publicKeyMultibase"][1:])
    assert raw[:2] == b"\xed\x01"  # ed25519-pub multicodec
    return raw[2:]


def test_clean_room_eddsa_jcs_2022_accepts_the_credential_presentation_and_status_list() -> None:
    cred, disclosures = _diploma()
    vp = _present([(cred, [disclosures["grade"]])], "c", "d")
    issuer_key, holder_key = _multikey_public(UNIVERSITY.document), _multikey_public(STUDENT.document)
    _clean_room_verify(vp, holder_key)
    _clean_room_verify(vp["verifiableCredential"][0], issuer_key)
    status_list = _status_list({7})
    _clean_room_verify(status_list, issuer_key)
    packed = status_list["credentialSubject"]["encodedList"]
    bits = gzip.decompress(base64.urlsafe_b64decode(packed[1:] + "=" * (-len(packed[1:]) % 4)))
    assert len(bits) == 16384 and bits[0] == 0x01  # entry 7 is the 8th bit from the left
    # The disclosure's digest is one the issuer signed.
    digest = base64.urlsafe_b64encode(hashlib.sha256(disclosures["grade"].encode()).digest()).rstrip(b"=").decode()
    assert digest in vp["verifiableCredential"][0]["credentialSubject"]["_sd"]
    with pytest.raises(InvalidSignature):
        _clean_room_verify({**cred, "disclosures": [disclosures["grade"]]}, issuer_key)
