"""Data Integrity proofs: the W3C vc-di-eddsa eddsa-jcs-2022 test vectors, JCS (RFC 8785), and sm2-jcs-2025."""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from trellis.core.crypto.sm import sm2_keypair_from_secret, sm2_sign
from trellis.core.crypto.suite import ed25519_keypair_from_seed, ed25519_sign
from trellis.vc.errors import VcError
from trellis.vc.jcs import CanonicalizationError, canonicalize
from trellis.vc.multibase import multibase_decode, multikey_decode, multikey_encode
from trellis.vc.proofs import CRYPTOSUITES, add_proof, hash_data, split_proof, verify_proof

VECTORS = json.loads((Path(__file__).parents[1] / "vectors" / "vc" / "eddsa-jcs-2022.json").read_text())
EDDSA = CRYPTOSUITES["eddsa-jcs-2022"]
SM2 = CRYPTOSUITES["sm2-jcs-2025"]


def _vector_keys() -> tuple[bytes, bytes]:
    secret = multibase_decode(VECTORS["keyPair"]["privateKeyMultibase"])[2:]
    suite, public = multikey_decode(VECTORS["keyPair"]["publicKeyMultibase"])
    assert suite == "ed25519"
    return secret, public


def test_w3c_vector_key_pair_is_consistent() -> None:
    secret, public = _vector_keys()
    assert ed25519_keypair_from_seed(secret)[1] == public


def test_w3c_vector_canonical_document_and_its_hash() -> None:
    canon = canonicalize(VECTORS["unsigned"])
    assert canon.decode() == VECTORS["canonicalDocument"]
    assert hashlib.sha256(canon).hexdigest() == VECTORS["documentHashHex"]


def test_w3c_vector_proof_config_canonical_form_and_hash() -> None:
    # The earlier revision's did:key proof configuration: our JCS reproduces its canonical form and hash.
    parsed = json.loads(VECTORS["didKeyProofConfig"]["canonical"])
    canon = canonicalize(parsed)
    assert canon.decode() == VECTORS["didKeyProofConfig"]["canonical"]
    assert hashlib.sha256(canon).hexdigest() == VECTORS["didKeyProofConfig"]["hashHex"]


def test_w3c_vector_signature_is_reproduced_exactly() -> None:
    secret, _ = _vector_keys()
    data = hash_data(EDDSA, VECTORS["unsigned"], VECTORS["proofConfig"])
    assert data[32:].hex() == VECTORS["documentHashHex"]
    assert ed25519_sign(secret, data).hex() == VECTORS["signatureHex"]


def test_w3c_vector_signed_credential_is_recreated_byte_for_byte() -> None:
    secret, _ = _vector_keys()
    signed = add_proof(
        VECTORS["unsigned"],
        cryptosuite=EDDSA,
        verification_method=VECTORS["proofConfig"]["verificationMethod"],
        sign=lambda m: ed25519_sign(secret, m),
        created=VECTORS["proofConfig"]["created"],
    )
    assert signed == VECTORS["signed"]


def test_w3c_vector_signed_credential_verifies() -> None:
    _, public = _vector_keys()
    unsecured, proof = split_proof(VECTORS["signed"])
    verify_proof(unsecured, proof, public)


@pytest.mark.parametrize(
    "path, value",
    [
        (("credentialSubject", "alumniOf"), "The School of Forgeries"),
        (("validFrom",), "2020-01-01T00:00:00Z"),
        (("proof", "created"), "2024-02-24T23:36:38Z"),
        (("proof", "proofPurpose"), "authentication"),
    ],
)
def test_an_altered_credential_is_refused(path: tuple[str, ...], value: Any) -> None:
    _, public = _vector_keys()
    forged = copy.deepcopy(VECTORS["signed"])
    target = forged
    for p in path[:-1]:
        target = target[p]
    target[path[-1]] = value
    unsecured, proof = split_proof(forged)
    with pytest.raises(VcError) as err:
        verify_proof(unsecured, proof, public)
    assert err.value.code == "bad_signature"


def test_a_proof_context_that_does_not_start_the_documents_is_refused() -> None:
    _, public = _vector_keys()
    forged = copy.deepcopy(VECTORS["signed"])
    forged["@context"] = ["https://www.w3.org/ns/credentials/v2"]
    unsecured, proof = split_proof(forged)
    with pytest.raises(VcError) as err:
        verify_proof(unsecured, proof, public)
    assert err.value.code == "context_mismatch"


def test_an_unknown_cryptosuite_is_refused_by_name() -> None:
    forged = copy.deepcopy(VECTORS["signed"])
    forged["proof"]["cryptosuite"] = "eddsa-rdfc-2022"
    with pytest.raises(VcError) as err:
        split_proof(forged)
    assert err.value.code == "unknown_cryptosuite"


def test_sm2_jcs_2025_signs_and_verifies_and_refuses_an_alteration() -> None:
    secret = hashlib.sha256(b"sm2 issuer").digest()
    _, public = sm2_keypair_from_secret(secret)
    vm = f"did:key:{multikey_encode('sm', public)}#{multikey_encode('sm', public)}"
    signed = add_proof(VECTORS["unsigned"], cryptosuite=SM2, verification_method=vm, sign=lambda m: sm2_sign(secret, m))
    assert signed["proof"]["cryptosuite"] == "sm2-jcs-2025"
    unsecured, proof = split_proof(signed)
    verify_proof(unsecured, proof, public)
    unsecured["name"] = "Altered"
    with pytest.raises(VcError, match="bad_signature"):
        verify_proof(unsecured, proof, public)


@pytest.mark.parametrize(
    "value, canonical",
    [
        ({"b": 1, "a": [True, None, False]}, '{"a":[true,null,false],"b":1}'),
        # RFC 8785 appendix B: numbers as ECMAScript writes them.
        (
            [1e21, 1e-7, 0.000001, 333333333.3333333, 1e23, -0.0, 5e-324],
            "[1e+21,1e-7,0.000001,333333333.3333333,1e+23,0,5e-324]",
        ),
        ({"\u20ac": 1, "\r": 2, "\U0001f600": 3, "\ufb33": 4}, '{"\\r":2,"\u20ac":1,"\U0001f600":3,"\ufb33":4}'),
        ('\u0001\u001f"\\/\u007f', '"\\u0001\\u001f\\"\\\\/\u007f"'),
    ],
)
def test_jcs_matches_rfc_8785(value: Any, canonical: str) -> None:
    assert canonicalize(value).decode() == canonical


@pytest.mark.parametrize("value", [float("nan"), float("inf"), 10**400, "\ud800", {1: "x"}, b"bytes"])
def test_jcs_refuses_values_without_a_canonical_form(value: Any) -> None:
    with pytest.raises(CanonicalizationError):
        canonicalize(value)
