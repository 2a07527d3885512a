"""Acceptance 3 of issue 15 (ADR 0015 sections 9 and 12) on real processes: two chains joined by a relayer; a
university creates a DID and issues a credential with a revocation status entry on chain B; chain A's API
(``[interchain] endpoints`` naming B's API) resolves ``did:trellis:<B>:…`` from B's state proven against A's own
client of B, and verifies the credential with its status; once B revokes it (and A's client has seen that block),
A refuses it. The issuer must be in A's own trust registry (A's governance authorises B's university);
B's registry does not count on A."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.chain_sim import SimChain
from trellis.core.crypto.suite import ED25519, address_of
from trellis.core.ledger.tx import tx_hash
from trellis.core.modules.credentials.messages import SetIssuer, StatusCreate, StatusSet
from trellis.core.modules.identity.messages import DidCreate, DidDocument, DidVerificationMethod
from trellis.core.modules.interchain.messages import CreateClient
from trellis.core.modules.payload import Payload
from trellis.core.modules.transfer.messages import TransferSend
from trellis.keys.signer import MemorySigner
from trellis.vc.issue import issue_credential, status_entry
from trellis.vc.proofs import CRYPTOSUITES

from .harness import MultiChain, account_signer, signed

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]
EDDSA = CRYPTOSUITES["eddsa-jcs-2022"]
DEGREE = "UniversityDegreeCredential"
A, B = 0, 1


def _commit(mc: MultiChain, chain: int, signer: MemorySigner, payload: Payload) -> dict[str, Any]:
    net = mc.nets[chain]
    nonce = mc.next_nonce(chain, address_of(ED25519, signer.public_key))
    raw, _ = signed(signer, net.chain_id, nonce, payload)
    status, body = net.nodes[0].http.post_tx(raw)
    assert status == 202, body
    st = net.wait_committed(0, "0x" + tx_hash(ED25519, raw).hex())
    assert st["receipt"]["code"] == 0, st["receipt"]
    return st


def _client_of_b_reaches(mc: MultiChain, height: int) -> None:
    """Send a transfer B -> A and wait until A has received it: the relay that delivers it updates A's client of
    B to a height at or past the send (and so past ``height``)."""
    path = mc.paths[0]
    sender = mc.nets[B].alice
    st = _commit(
        mc,
        B,
        sender,
        TransferSend(
            channel=path.b_channel,
            denom="native",
            amount=1,
            receiver=b"\x42" * 20,
            timeout_time_ms=int(time.time() * 1000) + 600_000,
        ),
    )
    assert st["height"] >= height
    client = path.a_client

    def updated() -> bool:
        status, body = mc.nets[A].nodes[0].http.get(f"/v1/interchain/clients/{client}")
        return status == 200 and int(body["latest_height"]) >= st["height"]

    mc.wait_until(f"A's client of B at height {st['height']}", updated, timeout=60)


def _verify_on_a(mc: MultiChain, cred: dict[str, Any]) -> dict[str, Any]:
    req = urllib.request.Request(
        mc.nets[A].nodes[0].http.base + "/v1/credentials/verify",
        data=json.dumps({"credential": cred}).encode(),
        method="POST",
    )
    req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=30) as r:
        out: dict[str, Any] = json.loads(r.read())
    return out


def test_a_did_and_credential_issued_on_chain_b_resolve_and_verify_on_chain_a(tmp_path: Path) -> None:
    university = account_signer("university")
    mc = MultiChain(tmp_path / "chains", 2, 1, funded=[address_of(ED25519, university.public_key)], endpoints=True)
    try:
        mc.start_all()
        chain_b = mc.nets[B].chain_id
        # A squatter: a chain of its own genesis that calls itself B, whose client on A is created first (the open
        # policy lets any member): before, the first client of a chain id answered for it. A's node config pins
        # B's real genesis hash, so only the relayer's client of B answers.
        squat = SimChain(chain_b, accounts={"mallory": 1000}, genesis_time_ms=int(time.time() * 1000) - 60_000)
        squat.advance(5000, time_step_ms=5)  # far higher than B will be: height does not make it answer either
        header, commit, _ = squat.encoded_light_block(squat.height)
        _commit(
            mc,
            A,
            mc.nets[A].alice,
            CreateClient(
                chain_id=chain_b,
                genesis=squat.genesis_bytes,
                set_changes=squat.set_changes(squat.height),
                header=header,
                commit=commit,
                trusting_period_ms=86_400_000,
                max_clock_drift_ms=60_000,
            ),
        )
        listed_clients = mc.nets[A].nodes[0].http.get("/v1/interchain/clients")[1]["clients"]
        assert [(c["chain_id"], c["status"]) for c in listed_clients] == [(chain_b, "active")]
        squatter_id = listed_clients[0]["client_id"]
        mc.connect()
        mc.start_relayer()
        assert mc.paths[0].a_client != squatter_id

        vm = DidVerificationMethod(id="key-1", type="Multikey", public_key=university.public_key)
        doc = DidDocument(verification_methods=[vm], authentication=["key-1"], assertion_method=["key-1"])
        created = _commit(mc, B, university, DidCreate(document=doc))
        did = f"did:trellis:{chain_b}:{created['receipt']['data'][2:]}"
        controller = address_of(ED25519, university.public_key)
        # B's governance (alice, the dev genesis's) authorises the issuer; the university makes a status list.
        _commit(mc, B, mc.nets[B].alice, SetIssuer(did=did, types=[DEGREE], controller=controller))
        listed = _commit(mc, B, university, StatusCreate(list_id="uni", size=131072, purpose="revocation", issuer=did))

        # A knows nothing of the DID until its client of B has a header at or past those blocks.
        _client_of_b_reaches(mc, listed["height"])
        status, resolved = mc.nets[A].nodes[0].http.get(f"/1.0/identifiers/{did}")
        assert status == 200, resolved
        assert resolved["didDocument"]["id"] == did
        proof = resolved["didResolutionMetadata"]["proof"]
        assert proof["chain_id"] == chain_b and proof["client_id"] == mc.paths[0].a_client != squatter_id
        assert int(proof["height"]) >= listed["height"]
        # A chain A has no client of answers 404, never a guess.
        status, unknown = mc.nets[A].nodes[0].http.get(f"/1.0/identifiers/did:trellis:no-such-chain:{'ab' * 16}")
        assert status == 404, unknown

        now = mc.nets[B].nodes[0].http.get("/v1/status")[1]["time_ms"]
        cred, _ = issue_credential(
            issuer=did,
            verification_method=f"{did}#key-1",
            sign=university.sign,
            cryptosuite=EDDSA,
            types=[DEGREE],
            subject={"id": "did:example:student", "degree": {"type": "BachelorDegree", "name": "BSc"}},
            valid_from_ms=now,
            status=[status_entry(mc.nets[B].nodes[0].http.base, "uni", 77, "revocation")],
        )
        # The proof's ``created`` is the wall clock now; A judges it against its latest block's time.
        issued_ms = int(time.time() * 1000)
        mc.wait_until(
            "a block of A after the issuance",
            lambda: int(mc.nets[A].nodes[0].http.get("/v1/status")[1]["time_ms"]) > issued_ms,
            timeout=30,
        )
        # A decides whom it trusts as an issuer: B's registry does not count on A...
        untrusted = _verify_on_a(mc, cred)
        assert [c["code"] for c in untrusted["checks"] if not c["ok"]] == ["issuer_not_registered"], untrusted
        # ... until A's governance (A's alice) authorises B's university for the type.
        _commit(mc, A, mc.nets[A].alice, SetIssuer(did=did, types=[DEGREE], controller=controller))
        accepted = _verify_on_a(mc, cred)
        assert accepted["verified"], [c for c in accepted["checks"] if not c["ok"]]

        revoked = _commit(mc, B, university, StatusSet(list_id="uni", set_indexes=[77]))
        _client_of_b_reaches(mc, revoked["height"])
        refused = _verify_on_a(mc, cred)
        assert not refused["verified"], refused
        codes = [c["code"] for c in refused["checks"] if not c["ok"]]
        assert codes == ["revoked"], refused
        mc.assert_relayer_alive()
    finally:
        mc.stop_all()
