"""Issuing credentials and making presentations (the issuer's and holder's side)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from trellis.vc.errors import VcError
from trellis.vc.proofs import Cryptosuite, add_proof
from trellis.vc.sd import conceal
from trellis.vc.verifier import CREDENTIALS_V2

__all__ = ["format_time", "issue_credential", "issue_status_list_credential", "make_presentation", "status_entry"]


def format_time(ms: int) -> str:
    """An XML Schema dateTime in UTC (``2026-11-26T12:00:00Z``; with milliseconds when they are not zero)."""
    text = datetime.fromtimestamp(ms // 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{text}.{ms % 1000:03d}Z" if ms % 1000 else text + "Z"


def status_entry(base_url: str, list_id: str, index: int, purpose: str) -> dict[str, Any]:
    """A ``BitstringStatusListEntry`` for entry ``index`` of on-chain list ``list_id``."""
    url = f"{base_url.rstrip('/')}/v1/status-lists/{list_id}"
    return {
        "id": f"{url}#{index}",
        "type": "BitstringStatusListEntry",
        "statusPurpose": purpose,
        "statusListIndex": str(index),
        "statusListCredential": url,
    }


def issue_credential(
    *,
    issuer: str,
    verification_method: str,
    sign: Callable[[bytes], bytes],
    cryptosuite: Cryptosuite,
    types: Sequence[str],
    subject: Mapping[str, Any],
    valid_from_ms: int,
    valid_until_ms: int | None = None,
    credential_id: str | None = None,
    status: Sequence[Mapping[str, Any]] = (),
    disclosable: Iterable[str] = (),
    salt: Callable[[int], bytes] = os.urandom,
) -> tuple[dict[str, Any], dict[str, str]]:
    """Return (signed credential, claim name -> disclosure) for a W3C VC 2.0 credential.

    Claims named in ``disclosable`` are concealed behind salted digests (``trellis.vc.sd``); the holder gets
    their disclosures. ``created`` in the proof is ``valid_from_ms``.
    """
    cred: dict[str, Any] = {
        "@context": [CREDENTIALS_V2],
        "type": ["VerifiableCredential", *types],
        "issuer": issuer,
        "validFrom": format_time(valid_from_ms),
        "credentialSubject": dict(subject),
    }
    if credential_id is not None:
        cred["id"] = credential_id
    if valid_until_ms is not None:
        cred["validUntil"] = format_time(valid_until_ms)
    if status:
        cred["credentialStatus"] = list(status) if len(status) > 1 else dict(status[0])
    disclosures: dict[str, str] = {}
    names = list(disclosable)
    if names:
        alg = "sm3" if cryptosuite.suite.name == "sm" else "sha-256"
        cred, disclosures = conceal(cred, names, alg=alg, salt=salt)
    signed = add_proof(
        cred,
        cryptosuite=cryptosuite,
        verification_method=verification_method,
        sign=sign,
        created=format_time(valid_from_ms),
    )
    return signed, disclosures


def issue_status_list_credential(
    *,
    url: str,
    issuer: str,
    verification_method: str,
    sign: Callable[[bytes], bytes],
    cryptosuite: Cryptosuite,
    purpose: str,
    encoded_list: str,
    valid_from_ms: int,
    valid_until_ms: int,
) -> dict[str, Any]:
    """A ``BitstringStatusListCredential`` for the list at ``url``, signed by its issuer (W3C Bitstring Status
    List section 2.2), for the issuer to publish at ``url`` where standard verifiers fetch it.

    ``encoded_list`` is the on-chain list's ``encodedList`` at some committed height (``GET
    /v1/status-lists/{id}``); ``validFrom`` is that block's time and ``validUntil`` says how long a verifier may
    rely on this snapshot: a revocation committed later shows in a standard verifier only once the issuer
    republishes. Trellis verifiers read the bits from the chain instead (docs/spec/credentials.md section 6).

    Raises:
        VcError: ``malformed`` when ``valid_until_ms`` is not after ``valid_from_ms`` or the purpose is unknown.
    """
    if purpose not in ("revocation", "suspension"):
        raise VcError("malformed", f"statusPurpose must be revocation or suspension, not {purpose!r}")
    if valid_until_ms <= valid_from_ms:
        raise VcError("malformed", "validUntil must be after validFrom")
    cred: dict[str, Any] = {
        "@context": [CREDENTIALS_V2],
        "id": url,
        "type": ["VerifiableCredential", "BitstringStatusListCredential"],
        "issuer": issuer,
        "validFrom": format_time(valid_from_ms),
        "validUntil": format_time(valid_until_ms),
        "credentialSubject": {
            "id": f"{url}#list",
            "type": "BitstringStatusList",
            "statusPurpose": purpose,
            "encodedList": encoded_list,
        },
    }
    return add_proof(
        cred,
        cryptosuite=cryptosuite,
        verification_method=verification_method,
        sign=sign,
        created=format_time(valid_from_ms),
    )


def make_presentation(
    credentials: Sequence[tuple[Mapping[str, Any], Sequence[str]]],
    *,
    holder: str,
    verification_method: str,
    sign: Callable[[bytes], bytes],
    cryptosuite: Cryptosuite,
    challenge: str,
    domain: str,
    created_ms: int | None = None,
) -> dict[str, Any]:
    """A holder-signed presentation of (credential, disclosures to reveal) pairs, bound to ``challenge`` and
    ``domain``.

    Each credential is embedded exactly as its issuer signed it (so its proof verifies in any Data Integrity
    verifier); the chosen disclosures of all credentials go in the presentation's own ``disclosures`` member,
    which the holder's proof covers (docs/spec/credentials.md section 4).
    """
    vcs: list[dict[str, Any]] = []
    chosen_all: list[str] = []
    for cred, chosen in credentials:
        vcs.append(dict(cred))
        chosen_all.extend(chosen)
    vp: dict[str, Any] = {
        "@context": [CREDENTIALS_V2],
        "type": ["VerifiablePresentation"],
        "holder": holder,
        "verifiableCredential": vcs,
    }
    if chosen_all:
        vp["disclosures"] = chosen_all
    return add_proof(
        vp,
        cryptosuite=cryptosuite,
        verification_method=verification_method,
        sign=sign,
        created=None if created_ms is None else format_time(created_ms),
        proof_purpose="authentication",
        challenge=challenge,
        domain=domain,
    )
