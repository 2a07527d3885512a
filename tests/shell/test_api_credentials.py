"""Verifiable credentials over the REST API, in-process against a real node on LMDB: the issue's acceptance
story with did:trellis DIDs (a university is registered and authorised, issues a diploma to a student DID, the
student presents it with selective disclosure, a verifier accepts it, the university revokes it, and the
verifier refuses it from the next block on), plus the status list and registry endpoints."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import msgspec
import pytest

from trellis.api.openapi import openapi_document
from trellis.api.types import HeaderJson, StateProofJson, header_from_json, proof_from_json, unhex
from trellis.core.crypto.suite import ED25519, address_of
from trellis.core.ledger.state_tree import verify_state_proof
from trellis.core.modules.credentials.messages import SetIssuer, StatusCreate, StatusSet
from trellis.core.modules.identity.messages import DidCreate, DidDocument, DidVerificationMethod
from trellis.vc.issue import issue_credential, make_presentation, status_entry
from trellis.vc.proofs import CRYPTOSUITES
from trellis.vc.status import decode_list

from . import conftest as shell
from .conftest import ApiHarness, make_signer, node_config

EDDSA = CRYPTOSUITES["eddsa-jcs-2022"]
DEGREE = "UniversityDegreeCredential"


class GovernedHarness(ApiHarness):
    """An API harness whose genesis names ``bob`` as the governance address."""

    def __init__(self, root: Path) -> None:
        original = shell.init_home

        def init_with_governance(r: Path, *args: Any, **kwargs: Any) -> Any:
            home = original(r, *args, **kwargs)
            path = r / "genesis.json"
            genesis = json.loads(path.read_text())
            bob = home.keys.signer("bob")
            genesis.setdefault("contracts", {})["governance"] = address_of(ED25519, bob.public_key).hex()
            path.write_text(json.dumps(genesis, indent=2))
            return home

        shell.init_home = init_with_governance  # type: ignore[assignment]
        try:
            super().__init__(root, node_config())
        finally:
            shell.init_home = original  # type: ignore[assignment]


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiHarness]:
    harness = GovernedHarness(tmp_path_factory.mktemp("vc-api-home"))
    try:
        yield harness
    finally:
        harness.close()


def _did(api: ApiHarness, signer: Any) -> str:
    vm = DidVerificationMethod(id="key-1", type="Multikey", public_key=signer.public_key)
    doc = DidDocument(verification_methods=[vm], authentication=["key-1"], assertion_method=["key-1"])
    data = api.commit(signer, DidCreate(document=doc))
    assert data["receipt"]["code"] == 0, data
    return f"did:trellis:{api.chain_id}:{data['receipt']['data'][2:]}"


def _ok(data: dict[str, Any]) -> None:
    assert data["receipt"]["code"] == 0, data["receipt"]


def _verify(api: ApiHarness, body: dict[str, Any]) -> dict[str, Any]:
    resp = api.post("/v1/credentials/verify", data=json.dumps(body), headers={"Content-Type": "application/json"})
    assert resp.status == 200, resp.body
    out: dict[str, Any] = resp.json()
    return out


def test_acceptance_issue_present_selectively_verify_revoke(api: ApiHarness) -> None:
    university, student = api.alice, make_signer("student")
    uni_did, student_did = _did(api, university), _did(api, student)
    _ok(
        api.commit(
            api.bob, SetIssuer(did=uni_did, types=[DEGREE], controller=address_of(ED25519, university.public_key))
        )
    )
    _ok(api.commit(university, StatusCreate(list_id="uni-2026", size=131072, purpose="revocation", issuer=uni_did)))
    now = api.get("/v1/status").json()["time_ms"]
    cred, disclosures = issue_credential(
        issuer=uni_did,
        verification_method=f"{uni_did}#key-1",
        sign=university.sign,
        cryptosuite=EDDSA,
        types=[DEGREE],
        subject={
            "id": student_did,
            "degree": {"type": "BachelorDegree", "name": "Bachelor of Science"},
            "name": "Ada Student",
            "grade": "First",
        },
        valid_from_ms=now,
        status=[status_entry("http://node.example", "uni-2026", 42, "revocation")],
        disclosable=["name", "grade"],
    )
    vp = make_presentation(
        [(cred, [disclosures["grade"]])],
        holder=student_did,
        verification_method=f"{student_did}#key-1",
        sign=student.sign,
        cryptosuite=EDDSA,
        challenge="nonce-1",
        domain="employer.example",
    )
    request = {"presentation": vp, "challenge": "nonce-1", "domain": "employer.example"}
    accepted = _verify(api, request)
    assert accepted["verified"], accepted["credentials"]
    subject = accepted["credentials"][0]["credentialSubject"]
    assert subject["grade"] == "First" and "name" not in subject

    replay = _verify(api, {**request, "challenge": "nonce-2"})
    assert not replay["verified"]
    assert [c["code"] for c in replay["checks"] if not c["ok"]] == ["wrong_challenge"]

    revoked_at = api.commit(university, StatusSet(list_id="uni-2026", set_indexes=[42]))
    _ok(revoked_at)
    refused = _verify(api, request)
    assert not refused["verified"]
    assert refused["height"] >= revoked_at["height"]
    status = next(c for c in refused["credentials"][0]["checks"] if c["check"] == "status")
    assert status["code"] == "revoked"

    lists = api.get("/v1/status-lists/uni-2026").json()
    bits = decode_list(lists["credentialSubject"]["encodedList"])
    assert len(bits) == 131072 // 8 and bits[42 // 8] == 0x80 >> (42 % 8)

    issuers = api.get("/v1/issuers").json()["issuers"]
    assert [i["did"] for i in issuers] == [uni_did] and issuers[0]["types"] == [DEGREE]


def test_a_status_list_id_outside_its_pattern_is_refused_as_such(api: ApiHarness) -> None:
    pattern = openapi_document()["paths"]["/v1/status-lists/{id}"]["get"]["parameters"][0]["schema"]["pattern"]
    for bad in ("uni%202026", "uni-2026%0A", "a" * 65, "uni%2B2026"):
        assert re.fullmatch(pattern, unquote(bad)) is None, bad
        resp = api.get(f"/v1/status-lists/{bad}")
        assert resp.status == 400 and resp.json()["code"] == "bad_list_id", (bad, resp.body)
    assert api.get("/v1/status-lists/no-such.list_1").json()["code"] == "unknown_status_list"


def test_a_status_list_comes_with_state_proofs_of_its_header_and_chunks(api: ApiHarness) -> None:
    resp = api.get("/v1/status-lists/uni-2026?proof=true")
    assert resp.status == 200
    sp = resp.json()["stateProof"]
    header = header_from_json(msgspec.convert(sp["header"], type=HeaderJson))
    assert len(sp["entries"]) == 1 + len(sp["keys"]["chunks"])
    for entry in sp["entries"]:
        proof = proof_from_json(msgspec.convert(entry["proof"], type=StateProofJson))
        value = None if entry["value"] is None else unhex(entry["value"])
        verify_state_proof(api.node.params.suite, unhex(entry["key"]), value, proof, header)


def test_an_unknown_status_list_is_404(api: ApiHarness) -> None:
    resp = api.get("/v1/status-lists/nope")
    assert resp.status == 404 and resp.json()["code"] == "unknown_status_list"


@pytest.mark.parametrize(
    "body",
    [b"not json", b'{"credential": {}, "presentation": {}}', b"{}", b'{"presentation": {}}', b'{"credential": 5}'],
)
def test_a_malformed_verify_request_is_400(api: ApiHarness, body: bytes) -> None:
    resp = api.post("/v1/credentials/verify", data=body, headers={"Content-Type": "application/json"})
    assert resp.status == 400 and resp.json()["code"] == "malformed"


def test_a_garbage_credential_is_a_refusal_not_an_error(api: ApiHarness) -> None:
    out = _verify(api, {"credential": {"@context": "x"}})
    assert out["verified"] is False and out["checks"][0]["code"] == "malformed"
