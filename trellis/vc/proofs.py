"""Data Integrity proofs with JCS canonicalisation: ``eddsa-jcs-2022`` (W3C vc-di-eddsa) and ``sm2-jcs-2025``.

Both follow the same algorithm (vc-di-eddsa section 3.3): the proof options without ``proofValue`` and the
document without ``proof`` are each canonicalised with JCS (RFC 8785) and hashed; the signature covers
``hash(proof options) || hash(document)``; ``proofValue`` is the signature in base58btc multibase.
``eddsa-jcs-2022`` uses SHA-256 and Ed25519; ``sm2-jcs-2025`` (docs/spec/credentials.md) uses SM3 and SM2 with
the standard user id, and a 64-byte ``r || s`` signature.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from trellis.core.crypto.sm import sm3
from trellis.core.crypto.suite import ED25519, SM, Suite
from trellis.vc.errors import VcError
from trellis.vc.jcs import CanonicalizationError, canonicalize
from trellis.vc.multibase import MultibaseError, multibase_decode, multibase_encode

__all__ = [
    "CRYPTOSUITES",
    "Cryptosuite",
    "ProofOptions",
    "add_proof",
    "cryptosuite_for_chain",
    "hash_data",
    "split_proof",
    "verify_proof",
]


@dataclass(frozen=True)
class Cryptosuite:
    """A JCS Data Integrity cryptosuite: its name, signature suite and hash."""

    name: str
    suite: Suite
    digest: Callable[[bytes], bytes]


def _sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


CRYPTOSUITES: dict[str, Cryptosuite] = {
    "eddsa-jcs-2022": Cryptosuite("eddsa-jcs-2022", ED25519, _sha256),
    "sm2-jcs-2025": Cryptosuite("sm2-jcs-2025", SM, sm3),
}
"""The cryptosuites this build implements, by name."""


def cryptosuite_for_chain(suite_name: str) -> Cryptosuite:
    """The cryptosuite a chain of suite ``ed25519`` or ``sm`` issues with."""
    return CRYPTOSUITES["sm2-jcs-2025" if suite_name == "sm" else "eddsa-jcs-2022"]


@dataclass(frozen=True)
class ProofOptions:
    """A parsed proof: its options (everything but ``proofValue``), cryptosuite and signature bytes."""

    options: dict[str, Any]
    cryptosuite: Cryptosuite
    signature: bytes

    @property
    def verification_method(self) -> str:
        """The proof's ``verificationMethod`` URL."""
        return str(self.options["verificationMethod"])

    @property
    def purpose(self) -> str:
        """The proof's ``proofPurpose``."""
        return str(self.options["proofPurpose"])


def hash_data(cryptosuite: Cryptosuite, document: Mapping[str, Any], options: Mapping[str, Any]) -> bytes:
    """``hash(JCS(options)) || hash(JCS(document))``: the bytes a proof signs.

    Raises:
        VcError: ``malformed`` when either has no canonical JSON form.
    """
    try:
        return cryptosuite.digest(canonicalize(dict(options))) + cryptosuite.digest(canonicalize(dict(document)))
    except CanonicalizationError as exc:
        raise VcError("malformed", f"not canonicalisable JSON: {exc}") from exc


def add_proof(
    document: Mapping[str, Any],
    *,
    cryptosuite: Cryptosuite,
    verification_method: str,
    sign: Callable[[bytes], bytes],
    created: str | None = None,
    proof_purpose: str = "assertionMethod",
    challenge: str | None = None,
    domain: str | None = None,
) -> dict[str, Any]:
    """Return a copy of ``document`` with a Data Integrity proof made by ``sign`` (bytes -> 64-byte signature).

    The proof carries the document's ``@context`` (as vc-di-eddsa requires), and ``challenge`` and ``domain``
    when given (a presentation's replay protection).
    """
    unsecured = {k: v for k, v in document.items() if k != "proof"}
    options: dict[str, Any] = {
        "type": "DataIntegrityProof",
        "cryptosuite": cryptosuite.name,
        "verificationMethod": verification_method,
        "proofPurpose": proof_purpose,
    }
    if created is not None:
        options["created"] = created
    if challenge is not None:
        options["challenge"] = challenge
    if domain is not None:
        options["domain"] = domain
    if "@context" in unsecured:
        options["@context"] = unsecured["@context"]
    signature = sign(hash_data(cryptosuite, unsecured, options))
    return {**unsecured, "proof": {**options, "proofValue": multibase_encode(signature)}}


def split_proof(secured: Mapping[str, Any]) -> tuple[dict[str, Any], ProofOptions]:
    """Separate a secured document into (unsecured document, parsed proof).

    Raises:
        VcError: ``malformed_proof`` (no single proof object, missing or mistyped members, a proofValue that is
            not base58btc), ``unknown_cryptosuite``.
    """
    proof = secured.get("proof")
    if not isinstance(proof, dict):
        raise VcError("malformed_proof", "the document has no proof object (a proof set is not supported)")
    if proof.get("type") != "DataIntegrityProof":
        raise VcError("malformed_proof", "proof type must be DataIntegrityProof")
    name = proof.get("cryptosuite")
    if not isinstance(name, str) or name not in CRYPTOSUITES:
        raise VcError("unknown_cryptosuite", f"unsupported cryptosuite {name!r}; supported: {sorted(CRYPTOSUITES)}")
    for member in ("verificationMethod", "proofPurpose", "proofValue"):
        if not isinstance(proof.get(member), str):
            raise VcError("malformed_proof", f"proof.{member} must be a string")
    try:
        signature = multibase_decode(proof["proofValue"])
    except MultibaseError as exc:
        raise VcError("malformed_proof", f"proofValue: {exc}") from exc
    options = {k: v for k, v in proof.items() if k != "proofValue"}
    unsecured = {k: v for k, v in secured.items() if k != "proof"}
    return unsecured, ProofOptions(options=options, cryptosuite=CRYPTOSUITES[name], signature=signature)


def verify_proof(unsecured: Mapping[str, Any], proof: ProofOptions, public_key: bytes) -> None:
    """Check a proof's signature over ``unsecured`` with ``public_key`` (raw, of the cryptosuite's suite).

    Raises:
        VcError: ``context_mismatch`` when the proof's ``@context`` is not a prefix of the document's;
            ``bad_signature`` when the signature does not verify.
    """
    ctx = proof.options.get("@context")
    document = dict(unsecured)
    if ctx is not None:
        doc_ctx = document.get("@context")
        if not isinstance(ctx, list) or not isinstance(doc_ctx, list) or doc_ctx[: len(ctx)] != ctx:
            raise VcError("context_mismatch", "the proof's @context does not start the document's @context")
        document["@context"] = ctx
    data = hash_data(proof.cryptosuite, document, proof.options)
    if not proof.cryptosuite.suite.verify(public_key, data, proof.signature):
        raise VcError("bad_signature", "the proof's signature does not verify (the document or proof was altered)")
