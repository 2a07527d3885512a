"""Issuing credentials and making presentations (the issuer's and holder's side)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from trellis.vc.proofs import Cryptosuite, add_proof
from trellis.vc.sd import conceal
from trellis.vc.verifier import CREDENTIALS_V2

__all__ = ["format_time", "issue_credential", "make_presentation", "status_entry"]


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
    ``domain``; each credential carries the chosen disclosures in its ``disclosures`` member."""
    vcs = []
    for cred, chosen in credentials:
        vc = {k: v for k, v in cred.items() if k != "disclosures"}
        if chosen:
            vc["disclosures"] = list(chosen)
        vcs.append(vc)
    vp: dict[str, Any] = {
        "@context": [CREDENTIALS_V2],
        "type": ["VerifiablePresentation"],
        "holder": holder,
        "verifiableCredential": vcs,
    }
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
