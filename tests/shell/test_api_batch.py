"""The binary batch endpoint and the commit stream."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from trellis.core.crypto.suite import ED25519
from trellis.core.ledger.tx import tx_hash
from trellis.core.modules.kv.messages import KvPut
from trellis.keys.signer import MemorySigner

from .conftest import ApiHarness, raw_tx

MEDIA = "application/x-trellis-txs"


def _frame(raws: list[bytes]) -> bytes:
    return b"".join(len(r).to_bytes(4, "big") + r for r in raws)


def _fresh_kv(api: ApiHarness, n: int, tag: bytes) -> list[bytes]:
    return [
        raw_tx(
            MemorySigner(tag.ljust(28, b".") + i.to_bytes(4, "big")),
            0,
            KvPut(namespace="batch", key=tag + b"-%d" % i, value=b"v"),
            chain_id=api.chain_id,
        )
        for i in range(n)
    ]


def test_a_batch_is_admitted_and_each_refusal_is_named_by_its_index(api: ApiHarness) -> None:
    raws = _fresh_kv(api, 100, b"batch-a")
    bad = raws[:]
    bad[7] = b"\x00not a tx"
    bad[42] = raw_tx(
        MemorySigner(b"\x31" * 32), 0, KvPut(namespace="batch", key=b"x", value=b"v"), chain_id="other-chain"
    )
    resp = api.post("/v1/txs/batch", data=_frame(bad), headers={"Content-Type": MEDIA})
    assert resp.status == 202
    body = resp.json()
    assert body["accepted"] == 98
    assert [(r["index"], r["code"]) for r in body["rejected"]] == [(7, "malformed"), (42, "wrong_chain_id")]
    h = "0x" + tx_hash(ED25519, raws[0]).hex()
    assert api.get(f"/v1/txs/{h}?wait=20").json()["status"] == "committed"


def test_a_batch_with_a_truncated_frame_is_refused_whole(api: ApiHarness) -> None:
    raws = _fresh_kv(api, 3, b"batch-b")
    data = _frame(raws)[:-5]
    resp = api.post("/v1/txs/batch", data=data, headers={"Content-Type": MEDIA})
    assert resp.status == 400 and resp.json()["code"] == "malformed_batch"
    h = "0x" + tx_hash(ED25519, raws[0]).hex()
    assert api.get(f"/v1/txs/{h}").status == 404


def test_a_batch_in_another_media_type_is_refused(api: ApiHarness) -> None:
    resp = api.post("/v1/txs/batch", data=b"{}", headers={"Content-Type": "application/json"})
    assert resp.status == 415 and resp.json()["code"] == "unsupported_media_type"


def test_the_commit_stream_reports_each_committed_transaction_with_its_code(api: ApiHarness) -> None:
    raws = _fresh_kv(api, 20, b"batch-c")
    wanted = {"0x" + tx_hash(ED25519, r).hex() for r in raws}

    async def watch() -> dict[str, int]:
        assert api.client is not None
        seen: dict[str, int] = {}
        async with api.client.get("/v1/commits/stream") as resp:
            assert resp.status == 200
            assert resp.content_type == "application/x-ndjson"
            post = api.client.post("/v1/txs/batch", data=_frame(raws), headers={"Content-Type": MEDIA})
            async with post as p:
                assert p.status == 202
            while not wanted <= seen.keys():
                line = await asyncio.wait_for(resp.content.readline(), 20)
                block: dict[str, Any] = json.loads(line)
                seen.update(zip(block["txs"], block["codes"], strict=True))
        return seen

    seen = api.runner.run(watch(), 30)
    assert all(seen[h] == 0 for h in wanted)
