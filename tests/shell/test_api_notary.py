"""Notary routes against a real node on LMDB: records, receipts that verify offline, owner/ref lookups."""

from __future__ import annotations

import hashlib

from trellis.core.ledger.notary_tx import NotaryAnchor
from trellis.notary.receipt import decode_receipt, verify_receipt

from .conftest import ApiHarness

DOCS = [b"alpha", b"beta", b"gamma"]


def test_anchor_then_record_receipt_and_lookups(api: ApiHarness) -> None:
    digests = [hashlib.sha256(d).digest() for d in DOCS]
    data = api.commit(api.alice, NotaryAnchor(digests=digests, record_type="doc", owner="did:web:a.example", ref="r-1"))
    assert data["receipt"]["code"] == 0, data
    assert data["tx"]["body"]["payload"]["type"] == "notary.anchor"

    rec = api.get(f"/v1/notary/records/{digests[1].hex()}")
    assert rec.status == 200
    body = rec.json()
    assert body["height"] == data["height"] and body["index"] == 1 and body["batch"]["owner"] == "did:web:a.example"

    for query, accept in (("", "application/json"), ("?format=msgpack", "*/*"), ("", "application/msgpack")):
        resp = api.get(f"/v1/notary/receipts/0x{digests[2].hex()}{query}", headers={"Accept": accept})
        assert resp.status == 200
        v = verify_receipt(decode_receipt(resp.body), api.node.app.params, hashlib.sha256(DOCS[2]).digest())
        assert v.height == data["height"] and v.batch_index == 2

    owned = api.get("/v1/notary/batches?owner=did:web:a.example").json()["batches"]
    assert [b["ref"] for b in owned] == ["r-1"]
    assert len(api.get("/v1/notary/batches?ref=r-1").json()["batches"]) == 1


def test_unknown_and_malformed_digests_are_precise_errors(api: ApiHarness) -> None:
    assert api.get(f"/v1/notary/records/{'00' * 32}").status == 404
    assert api.get(f"/v1/notary/receipts/{'ab' * 32}").status == 404
    bad = api.get("/v1/notary/receipts/xyz")
    assert bad.status == 400 and bad.json()["code"] == "bad_digest"
    assert api.get(f"/v1/notary/records/{'ab' * 20}").json()["code"] == "bad_digest"
    assert api.get("/v1/notary/batches").status == 400
