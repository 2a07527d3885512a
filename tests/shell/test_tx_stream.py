"""Ordered, pipelined admission. ``GET /v1/txs/stream``: batches streamed over a WebSocket are checked
concurrently but admitted in the order sent, each answered in order; bad input gets a precise answer and
leaves the stream usable. Gossiped batches go through the same pipeline, off the event loop, with a bounded
backlog."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Any

import aiohttp
import pytest

from trellis.core.modules.accounts.messages import Transfer
from trellis.node.node import MAX_GOSSIP_BATCHES

from .conftest import ApiHarness, addr


def _batch(raws: list[bytes]) -> bytes:
    return b"".join(len(r).to_bytes(4, "big") + r for r in raws)


async def _exchange(api: ApiHarness, messages: list[bytes | str], answers: int) -> tuple[list[dict[str, Any]], Any]:
    """Send ``messages`` without waiting, then read ``answers`` text answers; return them and the close code."""
    assert api.client is not None
    ws = await api.client.ws_connect("/v1/txs/stream")
    try:
        for m in messages:
            if isinstance(m, bytes):
                await ws.send_bytes(m)
            else:
                await ws.send_str(m)
        got = []
        for _ in range(answers):
            msg = await asyncio.wait_for(ws.receive(), 20)
            if msg.type != aiohttp.WSMsgType.TEXT:
                return got, msg
            got.append(json.loads(msg.data))
        return got, None
    finally:
        await ws.close()


def test_consecutive_batches_of_one_sender_are_all_admitted_in_order(api: ApiHarness) -> None:
    # Twelve batches of one sender's consecutive nonces, sent back to back: the node checks several at once, so
    # any admission out of order would refuse a batch with nonce_gap.
    start = api.next_nonce(api.alice)
    batches = []
    for b in range(12):
        raws = [api.tx(api.alice, Transfer(to=addr(api.bob), amount=1), nonce=start + 10 * b + i) for i in range(10)]
        batches.append(_batch(raws))
    answers, closed = api.runner.run(_exchange(api, list(batches), 12), 60)
    assert closed is None
    assert [a["seq"] for a in answers] == list(range(12))
    assert all(a["accepted"] == 10 and a["rejected"] == [] for a in answers), answers
    assert api.next_nonce(api.alice) == start + 120


def test_a_batch_checked_slowly_still_enters_the_mempool_before_the_batches_sent_after_it(
    api: ApiHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The first batch's checks take longest, so the later ones finish checking first: admission must wait.
    check = api.node.app.check_txs
    finished: list[int] = []

    def slow_first(raws: list[bytes], *args: Any) -> Any:
        marker = raws[0]
        if marker == first_raw:
            time.sleep(0.4)
        out = check(raws, *args)
        finished.append(order.index(marker))
        return out

    monkeypatch.setattr(api.node.app, "check_txs", slow_first)
    start = api.next_nonce(api.alice)
    batches = [
        [api.tx(api.alice, Transfer(to=addr(api.bob), amount=1), nonce=start + 3 * b + i) for i in range(3)]
        for b in range(3)
    ]
    order = [b[0] for b in batches]
    first_raw = order[0]
    answers, _ = api.runner.run(_exchange(api, [_batch(b) for b in batches], 3), 30)
    assert finished[-1] == 0, finished  # the checks did overlap and finish out of order
    assert [(a["seq"], a["accepted"], a["rejected"]) for a in answers] == [(0, 3, []), (1, 3, []), (2, 3, [])]


def test_refused_transactions_are_named_with_their_index_and_code(api: ApiHarness) -> None:
    start = api.next_nonce(api.alice)
    good = api.tx(api.alice, Transfer(to=addr(api.bob), amount=1), nonce=start)
    gap = api.tx(api.alice, Transfer(to=addr(api.bob), amount=1), nonce=start + 5)
    wrong_chain = api.tx(api.alice, Transfer(to=addr(api.bob), amount=1), nonce=start + 1, chain_id="elsewhere")
    answers, _ = api.runner.run(_exchange(api, [_batch([good, gap, wrong_chain])], 1), 30)
    [a] = answers
    assert a["seq"] == 0 and a["accepted"] == 1
    assert {(r["index"], r["code"]) for r in a["rejected"]} == {(1, "nonce_gap"), (2, "wrong_chain_id")}


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"\x00\x00", "malformed_batch"),  # a truncated length prefix
        (b"\x00\x00\x00\x00", "malformed_batch"),  # a zero length
        (b"\x00\x00\x01\x00abc", "malformed_batch"),  # a length past the end
    ],
)
def test_a_malformed_batch_is_answered_with_its_error_and_the_stream_goes_on(
    api: ApiHarness, body: bytes, code: str
) -> None:
    raw = api.tx(api.alice, Transfer(to=addr(api.bob), amount=1))
    answers, closed = api.runner.run(_exchange(api, [body, _batch([raw])], 2), 30)
    assert closed is None
    assert answers[0]["seq"] == 0 and answers[0]["error"]["code"] == code and answers[0]["error"]["status"] == 400
    assert answers[1] == {"seq": 1, "accepted": 1, "rejected": []}


def test_a_text_message_closes_the_stream_as_unsupported_data(api: ApiHarness) -> None:
    answers, closed = api.runner.run(_exchange(api, ["hello"], 1), 30)
    assert answers == []
    assert closed is not None and closed.type == aiohttp.WSMsgType.CLOSE
    assert closed.data == aiohttp.WSCloseCode.UNSUPPORTED_DATA


# -- gossip: the same ordered pipeline, off the event loop, with a bounded backlog --------------------------------
def test_gossiped_batches_are_checked_off_the_loop_and_admitted_in_arrival_order(
    api: ApiHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    check = api.node.app.check_txs
    start = api.next_nonce(api.alice)
    batches = [
        [api.tx(api.alice, Transfer(to=addr(api.bob), amount=1), nonce=start + 4 * b + i) for i in range(4)]
        for b in range(3)
    ]

    def slow_first(raws: list[bytes], *args: Any) -> Any:
        if raws[0] == batches[0][0]:
            time.sleep(0.3)
        return check(raws, *args)

    monkeypatch.setattr(api.node.app, "check_txs", slow_first)

    async def gossip() -> float:
        t0 = time.perf_counter()
        for b in batches:
            api.node._on_gossiped_txs(list(b))
        returned = time.perf_counter() - t0
        while api.node._gossip_tasks:
            await asyncio.sleep(0.01)
        return returned

    returned = api.runner.run(gossip(), 30)
    assert returned < 0.1  # the event loop did not wait for the checks
    assert api.next_nonce(api.alice) == start + 12  # all admitted, so in order (a gap would have been refused)


def test_gossip_beyond_the_backlog_limit_is_dropped_and_counted(
    api: ApiHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    release = threading.Event()
    check = api.node.app.check_txs

    def blocked(raws: list[bytes], *args: Any) -> Any:
        release.wait(20)
        return check(raws, *args)

    monkeypatch.setattr(api.node.app, "check_txs", blocked)
    raw = api.tx(api.alice, Transfer(to=addr(api.bob), amount=1))
    dropped_before = api.node.gossip_dropped

    async def flood() -> None:
        for _ in range(MAX_GOSSIP_BATCHES + 5):
            api.node._on_gossiped_txs([raw, raw])
        assert len(api.node._gossip_tasks) == MAX_GOSSIP_BATCHES
        release.set()
        while api.node._gossip_tasks:
            await asyncio.sleep(0.01)

    api.runner.run(flood(), 30)
    assert api.node.gossip_dropped - dropped_before == 10
    assert api.get("/v1/metrics").json()["gossip_dropped_txs"] == api.node.gossip_dropped
