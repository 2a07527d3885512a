"""Credential issuance and verification throughput on this machine: ``python -m trellis.bench.vc_throughput``.

Issuance: a UniversityDegreeCredential with a status entry and three selectively disclosable claims, signed
with ``eddsa-jcs-2022`` (and ``sm2-jcs-2025``). Verification: every check of ``verify_credential`` (proof,
trust registry, validity, disclosures, schema, status bit) against a committed state held in a dict, as the
REST verifier reads it (one process, one core).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from collections.abc import Callable
from typing import Any

from trellis.core.codec import encode
from trellis.core.crypto.sm import Sm2PrivateKey
from trellis.core.crypto.suite import ed25519_keypair_from_seed, ed25519_sign
from trellis.core.modules.credentials.state import IssuerRecord, StatusListRecord, issuer_key, status_list_key
from trellis.vc.issue import issue_credential, make_presentation, status_entry
from trellis.vc.multibase import multikey_encode
from trellis.vc.proofs import CRYPTOSUITES
from trellis.vc.resolver import DidKeyResolver
from trellis.vc.verifier import verify_credential, verify_presentation

T0 = 1_800_000_000_000


class _View:
    def __init__(self, state: dict[bytes, bytes]) -> None:
        self.state = state
        self.height = 10
        self.time_ms = T0 + 60_000

    def get(self, key: bytes) -> bytes | None:
        return self.state.get(key)

    def scan(self, start: bytes, end: bytes, limit: int) -> list[tuple[bytes, bytes]]:
        return sorted((k, v) for k, v in self.state.items() if start <= k < end)[:limit]


def _rate(fn: Callable[[int], Any], seconds: float) -> float:
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        fn(n)
        n += 1
    return n / (time.perf_counter() - start)


def _measure_suite(suite: str, seconds: float, out: dict[str, float]) -> None:
    seed = hashlib.sha256(b"bench-issuer").digest()
    if suite == "ed25519":
        secret, public = ed25519_keypair_from_seed(seed)
        cs = CRYPTOSUITES["eddsa-jcs-2022"]

        def sign(m: bytes) -> bytes:
            return ed25519_sign(secret, m)

    else:
        key = Sm2PrivateKey(seed)  # an issuer holds its key open (opening costs about one signature)
        public = key.public_key
        cs = CRYPTOSUITES["sm2-jcs-2025"]

        def sign(m: bytes) -> bytes:
            return key.sign(m)

    mk = multikey_encode(suite, public)
    issuer, vm = f"did:key:{mk}", f"did:key:{mk}#{mk}"
    h_secret, h_public = ed25519_keypair_from_seed(hashlib.sha256(b"bench-holder").digest())
    hmk = multikey_encode("ed25519", h_public)
    holder = f"did:key:{hmk}"

    def issue(i: int) -> tuple[dict[str, Any], dict[str, str]]:
        return issue_credential(
            issuer=issuer,
            verification_method=vm,
            sign=sign,
            cryptosuite=cs,
            types=["UniversityDegreeCredential"],
            subject={
                "id": holder,
                "degree": {"type": "BachelorDegree", "name": "Bachelor of Science"},
                "name": f"Student {i}",
                "grade": "First",
                "dateOfBirth": "2001-02-03",
            },
            valid_from_ms=T0,
            status=[status_entry("https://node.example", "bench", i % 131072, "revocation")],
            disclosable=["name", "grade", "dateOfBirth"],
        )

    state = {
        issuer_key(issuer): encode(
            IssuerRecord(did=issuer, types=["UniversityDegreeCredential"], controller=b"\1" * 20, updated_height=1)
        ),
        status_list_key("bench"): encode(
            StatusListRecord(
                list_id="bench",
                issuer=issuer,
                purpose="revocation",
                size=131072,
                created_height=1,
                updated_height=1,
                version=0,
            )
        ),
    }
    view, resolver = _View(state), DidKeyResolver()
    creds = [issue(i) for i in range(256)]
    assert verify_credential(creds[0][0], view, resolver).verified
    out[f"{suite}.issue_per_s"] = _rate(issue, seconds)
    out[f"{suite}.verify_with_status_per_s"] = _rate(
        lambda i: verify_credential(creds[i % 256][0], view, resolver), seconds
    )
    vps = [
        make_presentation(
            [(c, [d["grade"]])],
            holder=holder,
            verification_method=f"{holder}#{hmk}",
            sign=lambda m: ed25519_sign(h_secret, m),
            cryptosuite=CRYPTOSUITES["eddsa-jcs-2022"],
            challenge="c",
            domain="d",
        )
        for c, d in creds[:64]
    ]
    assert verify_presentation(vps[0], view, resolver, challenge="c", domain="d").verified
    out[f"{suite}.verify_presentation_per_s"] = _rate(
        lambda i: verify_presentation(vps[i % 64], view, resolver, challenge="c", domain="d"), seconds
    )


def run(seconds: float = 3.0) -> dict[str, float]:
    """Measure and return rates per second."""
    out: dict[str, float] = {}
    for suite in ("ed25519", "sm"):
        _measure_suite(suite, seconds, out)
    return out


def main() -> None:
    """Print the rates as JSON."""
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--seconds", type=float, default=3.0, help="seconds per measurement")
    args = p.parse_args()
    print(json.dumps({k: round(v, 1) for k, v in run(args.seconds).items()}, indent=2))


if __name__ == "__main__":
    main()
