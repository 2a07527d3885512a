"""Selective disclosure by salted hashes (SD-JWT style, over JSON credentials; docs/spec/credentials.md §4).

The issuer replaces each selectively disclosable claim of ``credentialSubject`` by the digest of a
*disclosure* — ``base64url(JCS([salt, name, value]))`` with a 128-bit random salt — lists the digests, sorted,
in ``credentialSubject._sd`` and names the hash in ``credentialSubject._sd_alg``, then signs the credential
with a Data Integrity proof as usual. The holder keeps the disclosures and passes on only those it chooses, in
the *presentation's* ``disclosures`` member (never inside the credential, which stays byte for byte as the
issuer signed it, so standard Data Integrity verifiers accept its proof); a verifier recomputes each
disclosure's digest, requires it to be one of the signed ``_sd`` digests, and puts the claim back.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from trellis.core.crypto.sm import sm3
from trellis.vc.errors import VcError
from trellis.vc.jcs import CanonicalizationError, canonicalize

__all__ = ["SD_ALGS", "conceal", "digest_of", "make_disclosure", "reveal", "signed_digests"]

SD_ALGS: dict[str, Callable[[bytes], bytes]] = {
    "sha-256": lambda data: hashlib.sha256(data).digest(),
    "sm3": sm3,
}
"""Digest algorithms by their ``_sd_alg`` name."""
MAX_DISCLOSURES = 64
MAX_DISCLOSURE_CHARS = 8192
_RESERVED = {"id", "_sd", "_sd_alg"}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    if not isinstance(text, str) or len(text) > MAX_DISCLOSURE_CHARS:
        raise VcError("malformed_disclosure", "a disclosure must be a base64url string of at most 8192 characters")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError) as exc:
        raise VcError("malformed_disclosure", "a disclosure is not base64url") from exc


def make_disclosure(salt: bytes, name: str, value: Any) -> str:
    """``base64url(JCS([base64url(salt), name, value]))``."""
    return _b64(canonicalize([_b64(salt), name, value]))


def digest_of(alg: str, disclosure: str) -> str:
    """``base64url(hash(ascii(disclosure)))``, the digest the issuer signs in ``_sd``.

    Raises:
        VcError: ``malformed_disclosure`` when ``disclosure`` is not an ASCII string of at most 8192 characters.
    """
    if not isinstance(disclosure, str) or len(disclosure) > MAX_DISCLOSURE_CHARS or not disclosure.isascii():
        raise VcError("malformed_disclosure", "a disclosure must be a base64url string of at most 8192 characters")
    return _b64(SD_ALGS[alg](disclosure.encode("ascii")))


def signed_digests(subject: object) -> tuple[str, frozenset[str]] | None:
    """``(_sd_alg, set of _sd digests)`` of a credential subject, or None when it conceals nothing or its
    ``_sd``/``_sd_alg`` are unusable (``reveal`` then reports why)."""
    if not isinstance(subject, dict):
        return None
    alg, signed = subject.get("_sd_alg"), subject.get("_sd")
    if not isinstance(alg, str) or alg not in SD_ALGS or not isinstance(signed, list):
        return None
    return alg, frozenset(d for d in signed if isinstance(d, str))


def conceal(
    credential: Mapping[str, Any],
    names: Iterable[str],
    *,
    alg: str = "sha-256",
    salt: Callable[[int], bytes] = os.urandom,
) -> tuple[dict[str, Any], dict[str, str]]:
    """Replace the ``credentialSubject`` claims ``names`` by digests; return (credential, name -> disclosure).

    Raises:
        VcError: ``not_disclosable`` for a reserved or absent claim name.
    """
    subject = dict(credential["credentialSubject"])
    disclosures: dict[str, str] = {}
    for name in names:
        if name in _RESERVED or name not in subject:
            raise VcError("not_disclosable", f"{name!r} is not a claim of credentialSubject that can be concealed")
        disclosures[name] = make_disclosure(salt(16), name, subject.pop(name))
    subject["_sd"] = sorted(digest_of(alg, d) for d in disclosures.values())
    subject["_sd_alg"] = alg
    return {**credential, "credentialSubject": subject}, disclosures


def reveal(subject: Mapping[str, Any], disclosures: object) -> dict[str, Any]:
    """Return ``subject`` with the claims of ``disclosures`` restored and ``_sd``/``_sd_alg`` removed.

    Raises:
        VcError: ``malformed_disclosure`` (not a list of base64url JCS arrays ``[salt, name, value]``),
            ``unknown_sd_alg``, ``tampered_disclosure`` (a digest the issuer did not sign),
            ``duplicate_disclosure``, ``claim_conflict`` (a claim the subject already has).
    """
    if not isinstance(disclosures, list) or len(disclosures) > MAX_DISCLOSURES:
        raise VcError("malformed_disclosure", f"disclosures must be a list of at most {MAX_DISCLOSURES}")
    out = {k: v for k, v in subject.items() if k not in ("_sd", "_sd_alg")}
    if not disclosures and "_sd" not in subject:
        return out
    alg = subject.get("_sd_alg")
    if not isinstance(alg, str) or alg not in SD_ALGS:
        raise VcError("unknown_sd_alg", f"unsupported _sd_alg {alg!r}; supported: {sorted(SD_ALGS)}")
    signed = subject.get("_sd")
    if not isinstance(signed, list) or not all(isinstance(d, str) for d in signed):
        raise VcError("malformed_disclosure", "credentialSubject._sd must be a list of digests")
    allowed = set(signed)
    seen: set[str] = set()
    for disclosure in disclosures:
        raw = _unb64(disclosure)
        try:
            item = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise VcError("malformed_disclosure", "a disclosure is not UTF-8 JSON") from exc
        if not (isinstance(item, list) and len(item) == 3 and isinstance(item[0], str) and isinstance(item[1], str)):
            raise VcError("malformed_disclosure", "a disclosure must be the array [salt, name, value]")
        try:
            if canonicalize(item) != raw:
                raise VcError("malformed_disclosure", "a disclosure is not in JCS canonical form")
        except CanonicalizationError as exc:
            raise VcError("malformed_disclosure", f"a disclosure is not canonical JSON: {exc}") from exc
        digest = digest_of(alg, disclosure)
        if digest not in allowed:
            raise VcError("tampered_disclosure", f"disclosure of {item[1]!r} matches no digest the issuer signed")
        if digest in seen:
            raise VcError("duplicate_disclosure", f"disclosure of {item[1]!r} is given twice")
        seen.add(digest)
        name = item[1]
        if name in _RESERVED or name in out:
            raise VcError("claim_conflict", f"disclosed claim {name!r} conflicts with a claim of the subject")
        out[name] = item[2]
    return out
