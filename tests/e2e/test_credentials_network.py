"""Acceptance 1 of issue 7 on four validators: a university registers a did:trellis DID and is authorised as
an issuer by governance; it issues a diploma to a student DID; the student presents it with selective
disclosure; a verifier (another node) accepts it; the university revokes it; the verifier refuses it from the
next block on."""

from __future__ import annotations

import hashlib
import json
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from trellis.core.crypto.suite import ED25519, address_of
from trellis.core.ledger.tx import tx_hash
from trellis.core.modules.credentials.messages import SetIssuer, StatusCreate, StatusSet
from trellis.core.modules.identity.messages import DidCreate, DidDocument, DidVerificationMethod
from trellis.core.modules.payload import Payload
from trellis.keys.signer import KeyStore, MemorySigner
from trellis.vc.issue import issue_credential, make_presentation, status_entry
from trellis.vc.proofs import CRYPTOSUITES

from .harness import Network, signed

pytestmark = pytest.mark.e2e
EDDSA = CRYPTOSUITES["eddsa-jcs-2022"]
DEGREE = "UniversityDegreeCredential"


def _with_governance(root: Path, governance: bytes) -> None:
    """Name ``governance`` in every node's (identical) genesis before the network first starts."""
    text = (root / "node0" / "genesis.json").read_text()
    genesis = json.loads(text)
    genesis.setdefault("contracts", {})["governance"] = governance.hex()
    new = json.dumps(genesis, indent=2) + "\n"
    for home in sorted(root.glob("node*")):
        (home / "genesis.json").write_text(new)


def _commit(net: Network, via: int, signer: MemorySigner, payload: Payload) -> dict[str, Any]:
    node = net.nodes[via]
    address = address_of(ED25519, signer.public_key)
    nonce = node.http.get(f"/v1/accounts/0x{address.hex()}")[1]["next_nonce"]
    raw, _ = signed(signer, net.chain_id, nonce, payload)
    status, body = node.http.post_tx(raw)
    assert status == 202, body
    st = net.wait_committed(via, "0x" + tx_hash(ED25519, raw).hex())
    assert st["receipt"]["code"] == 0, st["receipt"]
    # Every node at that height before the next transaction (its nonce is read from whichever node sends it).
    net.wait_height([0, 1, 2, 3], st["height"], timeout=30)
    return st


def _verify(net: Network, via: int, body: dict[str, Any]) -> dict[str, Any]:
    req = urllib.request.Request(
        net.nodes[via].http.base + "/v1/credentials/verify", data=json.dumps(body).encode(), method="POST"
    )
    req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=10) as r:
        out: dict[str, Any] = json.loads(r.read())
    return out


def _did(net: Network, signer: MemorySigner) -> str:
    vm = DidVerificationMethod(id="key-1", type="Multikey", public_key=signer.public_key)
    doc = DidDocument(verification_methods=[vm], authentication=["key-1"], assertion_method=["key-1"])
    st = _commit(net, 0, signer, DidCreate(document=doc))
    return f"did:trellis:{net.chain_id}:{st['receipt']['data'][2:]}"


def test_diploma_issued_presented_selectively_verified_and_revoked_on_four_validators(tmp_path: Path) -> None:
    root = tmp_path / "net"
    net = Network(root)
    keys = KeyStore(root / "node0" / "keys")
    governance = keys.signer("bob")
    _with_governance(root, address_of(ED25519, governance.public_key))
    university, student = net.alice, MemorySigner(hashlib.sha256(b"e2e student").digest())
    try:
        net.start_all()
        uni_did, student_did = _did(net, university), _did(net, student)
        controller = address_of(ED25519, university.public_key)
        _commit(net, 1, governance, SetIssuer(did=uni_did, types=[DEGREE], controller=controller))
        _commit(net, 2, university, StatusCreate(list_id="uni-2026", size=131072, purpose="revocation", issuer=uni_did))

        now = net.nodes[0].http.get("/v1/status")[1]["time_ms"]
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
                "dateOfBirth": "2001-02-03",
                "grade": "First",
            },
            valid_from_ms=now,
            status=[status_entry(net.nodes[0].http.base, "uni-2026", 1234, "revocation")],
            disclosable=["name", "dateOfBirth", "grade"],
        )
        vp = make_presentation(
            [(cred, [disclosures["grade"]])],
            holder=student_did,
            verification_method=f"{student_did}#key-1",
            sign=student.sign,
            cryptosuite=EDDSA,
            challenge="employer-nonce-7",
            domain="employer.example",
        )
        request = {"presentation": vp, "challenge": "employer-nonce-7", "domain": "employer.example"}
        accepted = _verify(net, 3, request)
        assert accepted["verified"], accepted
        subject = accepted["credentials"][0]["credentialSubject"]
        assert subject["grade"] == "First" and "name" not in subject and "dateOfBirth" not in subject

        revoked = _commit(net, 1, university, StatusSet(list_id="uni-2026", set_indexes=[1234]))
        net.wait_height([3], revoked["height"], timeout=30)
        refused = _verify(net, 3, request)
        assert not refused["verified"] and refused["height"] >= revoked["height"]
        codes = [c["code"] for c in refused["credentials"][0]["checks"] if not c["ok"]]
        assert codes == ["revoked"]
    finally:
        net.stop_all()
