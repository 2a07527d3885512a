"""Notary routes against a real node on LMDB: records, receipts that verify offline, owner/ref lookups."""

from __future__ import annotations

import hashlib
from typing import Any, cast

import msgspec
import pytest

from trellis.abci import CommittedView
from trellis.api import notary as notary_api
from trellis.app.modules import notary as notary_module
from trellis.core.errors import InvalidBlock, ProofError, TrellisError
from trellis.core.modules.notary.messages import NotaryAnchor
from trellis.core.modules.notary.state import BATCH_PREFIX, record_key
from trellis.core.params import InvalidGenesis
from trellis.notary.receipt import decode_receipt, verify_receipt
from trellis.storage.chain_store import ChainStore, height_key

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


# -- errors of the node, not of the request (issue 13: a restarted node answered a receipt request 400) -----------


class _StoreView:
    """The node's KV store as a receipt request would find it in a given state: one chain row of one block
    missing (not stored yet) or holding bytes this code does not decode (written by another version of the
    node, or damaged); everything else read through."""

    def __init__(self, kv: Any, table: str, height: int, value: bytes | None) -> None:
        self._kv = kv
        self._table = table
        self._key = height_key(height)
        self._value = value

    def get(self, table: str, key: bytes) -> bytes | None:
        if table == self._table and key == self._key:
            return self._value
        return cast("bytes | None", self._kv.get(table, key))

    def scan(self, table: str, start: bytes, end: bytes, **kw: Any) -> list[tuple[bytes, bytes]]:
        if table == self._table and start[:8] == self._key:  # the per-transaction rows of older stores
            return []
        return cast("list[tuple[bytes, bytes]]", self._kv.scan(table, start, end, **kw))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._kv, name)


def _stored(api: ApiHarness) -> ChainStore:
    """The block store assembly gave the node: the chain store over the home's data store (its ``kv``)."""
    blocks = api.node.blocks
    assert isinstance(blocks, ChainStore)
    return blocks


def _reads_state_from(state: ChainStore) -> Any:
    """An ``Application.reader`` answering from ``state``: the API reads committed state only through it."""
    return lambda height=None: CommittedView(state, 0, 0)


def _get_with_headers(api: ApiHarness, path: str) -> tuple[int, dict[str, str], Any]:
    async def go() -> tuple[int, dict[str, str], Any]:
        assert api.client is not None
        async with api.client.get(path) as resp:
            return resp.status, dict(resp.headers), await resp.json(content_type=None)

    return cast("tuple[int, dict[str, str], Any]", api.runner.run(go(), 20))


def _anchored(api: ApiHarness, doc: bytes) -> tuple[bytes, int]:
    digest = hashlib.sha256(doc).digest()
    data = api.commit(api.alice, NotaryAnchor(digests=[digest], record_type="doc", owner="", ref=""))
    assert data["receipt"]["code"] == 0, data
    return digest, int(data["height"])


@pytest.mark.parametrize("table", ["blocks", "commits", "receipts"])
def test_a_receipt_whose_block_is_not_stored_here_yet_is_503_with_retry_after(
    api: ApiHarness, monkeypatch: pytest.MonkeyPatch, table: str
) -> None:
    digest, height = _anchored(api, f"not yet {table}".encode())
    monkeypatch.setattr(api.node, "blocks", ChainStore(_StoreView(_stored(api).kv, table, height, None)))
    status, headers, body = _get_with_headers(api, f"/v1/notary/receipts/{digest.hex()}")
    assert status == 503 and body["code"] == "not_ready", body
    assert int(headers["Retry-After"]) >= 1
    assert f"height {height}" in body["detail"] or f"block {height}" in body["detail"]
    monkeypatch.undo()
    assert api.get(f"/v1/notary/receipts/{digest.hex()}").status == 200  # the same request, once the node holds it


@pytest.mark.parametrize("table", ["blocks", "commits", "receipts"])
def test_a_stored_block_this_node_cannot_decode_is_its_failure_not_a_bad_request(
    api: ApiHarness, monkeypatch: pytest.MonkeyPatch, table: str
) -> None:
    # What a node restarted on code with another block format reads (a DecodeError used to be answered 400).
    digest, height = _anchored(api, f"undecodable {table}".encode())
    monkeypatch.setattr(api.node, "blocks", ChainStore(_StoreView(_stored(api).kv, table, height, b"\x93\x01")))
    resp = api.get(f"/v1/notary/receipts/{digest.hex()}")
    assert resp.status == 503 and resp.json()["code"] == "storage_error", resp.body


def test_a_stored_notary_record_that_does_not_decode_is_a_5xx(api: ApiHarness, monkeypatch: pytest.MonkeyPatch) -> None:
    digest, _ = _anchored(api, b"bad record")
    kv = _stored(api).kv
    view = _StoreView(kv, "state", 0, None)
    monkeypatch.setattr(view, "get", lambda t, k: b"\xc1" if t == "state" and k == record_key(digest) else kv.get(t, k))
    monkeypatch.setattr(api.node.app, "reader", _reads_state_from(ChainStore(view)))
    for route in ("records", "receipts"):
        resp = api.get(f"/v1/notary/{route}/{digest.hex()}")
        assert resp.status == 503 and resp.json()["code"] == "storage_error", (route, resp.body)


def test_a_stored_notary_batch_that_does_not_decode_is_a_5xx_in_lookups(
    api: ApiHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    digest = hashlib.sha256(b"bad batch").digest()
    data = api.commit(api.alice, NotaryAnchor(digests=[digest], record_type="doc", owner="did:web:bad.example", ref=""))
    assert data["receipt"]["code"] == 0, data
    kv = _stored(api).kv
    view = _StoreView(kv, "state", 0, None)
    monkeypatch.setattr(
        view, "get", lambda t, k: b"\xc1" if t == "state" and k.startswith(BATCH_PREFIX) else kv.get(t, k)
    )
    monkeypatch.setattr(api.node.app, "reader", _reads_state_from(ChainStore(view)))
    resp = api.get("/v1/notary/batches?owner=did:web:bad.example")
    assert resp.status == 503 and resp.json()["code"] == "storage_error", resp.body


@pytest.mark.parametrize(
    "error",
    [TrellisError("unclassified"), InvalidBlock("bad_block", "x"), ProofError("x"), InvalidGenesis("x")],
    ids=lambda e: type(e).__name__,
)
def test_a_trellis_error_raised_inside_the_node_is_never_a_4xx(
    api: ApiHarness, monkeypatch: pytest.MonkeyPatch, error: TrellisError
) -> None:
    def fail(*_: object) -> None:
        raise error

    monkeypatch.setattr(notary_api, "receipt_for", fail)
    resp = api.get(f"/v1/notary/receipts/{'ab' * 32}")
    assert resp.status == 500 and resp.json()["code"] == "internal_error", resp.body


def test_a_bad_format_is_the_requests_mistake_whatever_state_the_node_is_in(
    api: ApiHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    digest, height = _anchored(api, b"format first")
    monkeypatch.setattr(api.node, "blocks", ChainStore(_StoreView(_stored(api).kv, "blocks", height, None)))
    resp = api.get(f"/v1/notary/receipts/{digest.hex()}?format=xml")
    assert resp.status == 400 and resp.json()["code"] == "bad_parameter"


def test_a_receipt_whose_set_change_blocks_are_not_stored_yet_is_503_not_ready(
    api: ApiHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    digest, _ = _anchored(api, b"set change not stored")
    monkeypatch.setattr(notary_module, "set_changes_from_store", lambda store, to_height: None)
    status, headers, body = _get_with_headers(api, f"/v1/notary/receipts/{digest.hex()}")
    assert status == 503 and body["code"] == "not_ready" and "Retry-After" in headers, body


def test_a_block_stored_with_an_older_header_layout_is_503_storage_error_not_400(
    api: ApiHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The reviewer's 400: node2 restarted on code whose Header had gained a field (next_validators_hash) read a
    # block written before, got a DecodeError, and the API blamed the request (400 malformed).
    digest, height = _anchored(api, b"older header layout")
    raw = api.node.blocks.block_bytes(height)
    assert raw is not None
    header, txs = msgspec.msgpack.decode(raw)
    older = msgspec.msgpack.encode([header[:-1], txs])
    monkeypatch.setattr(api.node, "blocks", ChainStore(_StoreView(_stored(api).kv, "blocks", height, older)))
    resp = api.get(f"/v1/notary/receipts/{digest.hex()}")
    assert resp.status == 503 and resp.json()["code"] == "storage_error", resp.body
    assert "does not decode" in resp.json()["detail"]
