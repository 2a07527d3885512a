"""Attestation routes against a real node on LMDB (docs/spec/attestations.md 4): one attestation with and without
its state proof, pages by subject and by attester, and the refusals."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import msgspec
import pytest

from trellis.api.hexjson import unhex
from trellis.api.openapi import openapi_document
from trellis.api.types import HeaderJson, StateProofJson, header_from_json, proof_from_json
from trellis.core.crypto.suite import address_of
from trellis.core.ledger.state_tree import verify_state_proof
from trellis.core.modules.attestations.messages import Attest, RevokeAttestation
from trellis.core.modules.attestations.state import attestation_id, record_key

from .conftest import ApiHarness, ThreadedNode, run_cli, run_cli_json

SUBJECT = "did:web:carol.example"


def attest(api: ApiHarness, subject: str = SUBJECT, **fields: Any) -> tuple[str, dict[str, Any]]:
    """Commit an attestation by alice; return its id (``0x`` hex) and the committed status."""
    nonce = api.next_nonce(api.alice)
    msg = Attest(subject=subject, claim_type=fields.pop("claim_type", "employment.current"), **fields)
    data = api.commit(api.alice, msg, nonce=nonce)
    assert data["receipt"]["code"] == 0, data
    alice = address_of(api.node.params.suite, api.alice.public_key)
    ident = attestation_id(api.node.params.suite, alice, nonce, msg.subject, msg.claim_type)
    assert data["receipt"]["events"][0]["attributes"]["id"] == "0x" + ident.hex()
    return "0x" + ident.hex(), data


def test_an_attestation_reads_back_with_its_status(api: ApiHarness) -> None:
    ident, data = attest(api, statement=b"since 2021")
    resp = api.get(f"/v1/attestations/{ident}")
    assert resp.status == 200, resp.body
    body = resp.json()
    alice = address_of(api.node.params.suite, api.alice.public_key)
    assert body == {
        "id": ident,
        "attester": "0x" + alice.hex(),
        "attester_did": "",
        "subject": SUBJECT,
        "claim_type": "employment.current",
        "statement": "0x" + b"since 2021".hex(),
        "expires_at_ms": 0,
        "height": data["height"],
        "time_ms": body["time_ms"],
        "nonce": body["nonce"],
        "revoked_height": 0,
        "revoked_ms": 0,
        "status": "active",
        "proof": None,
    }
    assert api.get(f"/v1/attestations/{ident[2:].upper()}").json()["id"] == ident  # 0x optional, any case


def test_a_revoked_attestation_says_so(api: ApiHarness) -> None:
    ident, _ = attest(api)
    data = api.commit(api.alice, RevokeAttestation(id=unhex(ident)))
    assert data["receipt"]["code"] == 0, data
    body = api.get(f"/v1/attestations/{ident}").json()
    assert body["status"] == "revoked" and body["revoked_height"] == data["height"]
    again = api.commit(api.alice, RevokeAttestation(id=unhex(ident)))
    assert again["receipt"]["code"] == 7  # DUPLICATE


def test_the_proof_verifies_against_the_header(api: ApiHarness) -> None:
    ident, _ = attest(api, claim_type="proven")
    body = api.get(f"/v1/attestations/{ident}?prove=true").json()
    p = body["proof"]
    key = unhex(p["key"])
    assert key == record_key(unhex(ident))
    header = header_from_json(msgspec.convert(p["header"], type=HeaderJson))
    proof = proof_from_json(msgspec.convert(p["proof"], type=StateProofJson))
    verify_state_proof(api.node.params.suite, key, unhex(p["value"]), proof, header)
    assert p["height"] == header.height and body["claim_type"] == "proven"


def test_lists_page_by_subject_and_by_attester(api: ApiHarness) -> None:
    subject = "0x" + "c3" * 32
    made = [attest(api, subject, claim_type=f"page.{i}")[0] for i in range(3)]
    seen: list[str] = []
    after = ""
    while True:
        body = api.get(f"/v1/attestations?subject={subject}&limit=2{after}").json()
        assert body["subject"] == subject and body["attester"] is None
        seen += [a["id"] for a in body["attestations"]]
        if body["next"] is None:
            break
        after = f"&after={body['next']}"
    assert seen == made
    alice = "0x" + address_of(api.node.params.suite, api.alice.public_key).hex()
    mine = api.get(f"/v1/attestations?attester={alice}").json()
    assert mine["attester"] == alice and set(made) <= {a["id"] for a in mine["attestations"]}
    nobody = api.get(f"/v1/attestations?attester=0x{'00' * 20}").json()
    assert nobody["attestations"] == [] and nobody["next"] is None


def test_refusals_are_precise(api: ApiHarness) -> None:
    ident, _ = attest(api, claim_type="refusals")
    cases = {
        f"/v1/attestations/{'ab' * 32}": (404, "not_found"),
        "/v1/attestations/xyz": (400, "bad_id"),
        "/v1/attestations": (400, "bad_parameter"),
        f"/v1/attestations?subject={SUBJECT}&attester=0x{'00' * 20}": (400, "bad_parameter"),
        "/v1/attestations?subject=nobody": (400, "bad_subject"),
        "/v1/attestations?attester=0x1234": (400, "bad_address"),
        f"/v1/attestations?subject={SUBJECT}&limit=101": (400, "bad_parameter"),
        f"/v1/attestations?subject={SUBJECT}&after=zz": (400, "bad_id"),
        f"/v1/attestations?subject=did:web:other.example&after={ident}": (400, "bad_cursor"),
        f"/v1/attestations/{ident}?prove=maybe": (400, "bad_parameter"),
    }
    for path, (status, code) in cases.items():
        resp = api.get(path)
        assert (resp.status, resp.json()["code"]) == (status, code), (path, resp.body)


def test_the_routes_are_in_the_openapi_document() -> None:
    doc = openapi_document()
    assert {"/v1/attestations", "/v1/attestations/{id}"} <= set(doc["paths"])
    assert {"AttestationJson", "AttestationListJson", "AttestJson", "RevokeAttestationJson"} <= set(
        doc["components"]["schemas"]
    )


# -- the CLI (trellis attest ...) against a node on a real port ------------------------------------------------
def test_the_cli_creates_shows_proves_lists_and_revokes(
    threaded_node: ThreadedNode, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    node = threaded_node
    doc = tmp_path / "report.pdf"
    doc.write_bytes(b"%PDF- an audit report")
    code, out, err = run_cli(
        capsys, node, "attest", "create", "did:web:dave.example", "audit.passed",
        "--statement-digest", str(doc), "--expires-in", "3600", "--from", "alice",
    )  # fmt: skip
    assert code == 0, err
    m = re.match(r"attestation (0x[0-9a-f]{64}): tx 0x[0-9a-f]{64} at height \d+: ok", out)
    assert m is not None, out
    ident = m.group(1)
    assert "attestations.attest(" in out and f"id={ident}" in out  # the id computed by the client is the chain's

    shown = run_cli_json(capsys, node, "attest", "show", ident)
    suite = node.node.params.suite
    assert shown["status"] == "active" and shown["statement"] == "0x" + suite.hash(doc.read_bytes()).hex()
    code, out, err = run_cli(capsys, node, "attest", "show", ident, "--prove")
    assert code == 0, err
    assert "proof       verified against block" in out

    listed = run_cli_json(capsys, node, "attest", "list", "--subject", "did:web:dave.example")
    assert [a["id"] for a in listed["attestations"]] == [ident]
    assert run_cli_json(capsys, node, "attest", "list", "--attester", "alice")["attestations"][-1]["id"] == ident

    code, out, _ = run_cli(capsys, node, "attest", "revoke", ident, "--from", "bob")
    assert code == 1 and "FAILED code 3" in out  # NOT_OWNER: only the attester revokes
    code, out, err = run_cli(capsys, node, "attest", "revoke", ident, "--from", "alice")
    assert code == 0, err
    assert run_cli_json(capsys, node, "attest", "show", ident)["status"] == "revoked"


def test_the_cli_refuses_what_the_chain_would_refuse(
    threaded_node: ThreadedNode, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_cli(capsys, threaded_node, "attest", "create", "bob", "t", "--from", "alice")
    assert code == 1 and "not a valid attestation" in err and "subject" in err
    code, _, err = run_cli(capsys, threaded_node, "attest", "show", "0x1234")
    assert code == 1 and "not an attestation id" in err
    code, _, err = run_cli(capsys, threaded_node, "attest", "list")
    assert code == 1 and "exactly one of --subject and --attester" in err
