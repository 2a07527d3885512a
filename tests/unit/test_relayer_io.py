"""The relayer's I/O edges: ``relayer.toml`` parsing, the Prometheus text and the ``/status`` listener, and
``HttpEndpoint`` against a fake node (an aiohttp app answering the REST routes from a ``SimChain``, the JSON made by
the API's own converters): light blocks, set changes, proven state, the packets route and its probing fallback,
submission, the commit stream and its reconnect, and a second URL when the first is down.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import msgspec
import pytest
from aiohttp import web

from tests.fixtures.chain_sim import SimChain
from trellis.api.types import block_json, receipt_json
from trellis.core.codec import decode, encode
from trellis.core.ledger.block import block_hash
from trellis.core.ledger.tx import SignedTx, tx_hash
from trellis.core.modules.interchain.messages import Packet
from trellis.core.modules.interchain.state import packet_key, seq_send_key
from trellis.core.modules.kv.messages import KvPut
from trellis.keys.signer import KeyStore, KeyStoreError
from trellis.relayer.config import ConfigError, load_config, parse_config, parse_listen, parse_shard, render_config
from trellis.relayer.endpoint import EndpointError, HttpEndpoint, stream_lines
from trellis.relayer.metrics import Metrics, start_listener
from trellis.relayer.submit import Submitter, load_key

GOOD = """
[relayer]
scan_interval_s = 5
shard = "1/3"

[[chain]]
id = "chain-a"
api = ["http://127.0.0.1:8001", "http://127.0.0.1:8002"]
key = "keys/a.pem"
genesis = "/srv/a/genesis.json"

[[chain]]
id = "chain-b"
api = "http://127.0.0.1:9001"
key = "/abs/b.pem"
max_items = 10

[[path]]
a = "chain-a"
b = "chain-b"
a_client = "client-0"
b_client = "client-3"
a_connection = "connection-0"
b_connection = "connection-1"
channels = [{port = "transfer", a_channel = "channel-0", b_channel = "channel-7"}]

[metrics]
listen = "127.0.0.1:9464"
"""


# -- config ----------------------------------------------------------------------------------------------------------
def test_config_parses_every_field(tmp_path: Path) -> None:
    f = tmp_path / "relayer.toml"
    f.write_text(GOOD)
    cfg = load_config(f)
    a, b = cfg.chains["chain-a"], cfg.chains["chain-b"]
    assert a.api == ["http://127.0.0.1:8001", "http://127.0.0.1:8002"] and a.key == tmp_path / "keys/a.pem"
    assert a.genesis == Path("/srv/a/genesis.json") and b.api == ["http://127.0.0.1:9001"] and b.max_items == 10
    (p,) = cfg.paths
    assert (p.a_client, p.b_client, p.a_connection, p.b_connection) == (
        "client-0",
        "client-3",
        "connection-0",
        "connection-1",
    )
    assert p.channels[0].b_channel == "channel-7" and p.channels[0].counterparty_port == "transfer"
    assert cfg.metrics_listen == ("127.0.0.1", 9464) and cfg.scan_interval_s == 5 and cfg.shard == (1, 3)
    # render -> parse gives the same configuration back
    assert parse_config(__import__("tomllib").loads(render_config(cfg)), tmp_path) == cfg


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (('b = "chain-b"', 'b = "chain-z"'), "chain 'chain-z' has no"),
        (('a_client = "client-0"', 'a_client = "client-x"'), "a_client"),
        (('b_channel = "channel-7"', 'b_channel = "chan"'), "b_channel"),
        (('shard = "1/3"', 'shard = "3/3"'), "shard"),
        (('listen = "127.0.0.1:9464"', 'listen = "nowhere"'), "listen"),
        (("max_items = 10", "max_items = 300"), "max_items"),
        (('key = "/abs/b.pem"', 'keyfile = "/abs/b.pem"'), "unknown key"),
        (("scan_interval_s = 5", "scan_interval_s = 0"), "scan_interval_s"),
    ],
)
def test_config_errors_name_the_entry(tmp_path: Path, edit: tuple[str, str], message: str) -> None:
    f = tmp_path / "relayer.toml"
    assert edit[0] in GOOD
    f.write_text(GOOD.replace(edit[0], edit[1]))
    with pytest.raises(ConfigError, match=message):
        load_config(f)


def test_shard_and_listen_syntax() -> None:
    assert parse_shard("0/1") == (0, 1) and parse_shard(" 2/5 ") == (2, 5)
    for bad in ("1/1", "a/b", "-1/2", "1/0"):
        with pytest.raises(ConfigError):
            parse_shard(bad)
    assert parse_listen("[::1]:80") == ("::1", 80)
    with pytest.raises(ConfigError):
        parse_listen("host:0")


def test_the_key_file_is_a_keystore_file(tmp_path: Path) -> None:
    ks = KeyStore(tmp_path / "keys")
    info = ks.create("relayer", b"secret")
    (tmp_path / "pass").write_text("secret\n")
    s = load_key(info.path, tmp_path / "pass")
    assert s.public_key == info.public_key
    with pytest.raises(Exception, match="passphrase"):
        load_key(info.path)


# -- metrics -----------------------------------------------------------------------------------------------------------
def test_metrics_text_is_prometheus_exposition() -> None:
    m = Metrics()
    m.set_pending("chain-a", "transfer/channel-0", 3)
    m.count_item("ok", 5)
    m.count_item("duplicate")
    m.set_client_age("chain-b/client-0", 12.5)
    for s in (0.05, 0.3, 2.0, 400.0):
        m.observe_latency(s)
    text = m.render()
    lines = text.splitlines()
    assert 'trellis_relayer_packets_pending{chain="chain-a",channel="transfer/channel-0"} 3' in lines
    assert 'trellis_relayer_items_total{outcome="ok"} 5' in lines
    assert 'trellis_relayer_items_total{outcome="duplicate"} 1' in lines
    assert 'trellis_relayer_client_age_seconds{client="chain-b/client-0"} 12.5' in lines
    assert 'trellis_relayer_relay_latency_seconds_bucket{le="0.1"} 1' in lines
    assert 'trellis_relayer_relay_latency_seconds_bucket{le="0.5"} 2' in lines
    assert 'trellis_relayer_relay_latency_seconds_bucket{le="300.0"} 3' in lines
    assert 'trellis_relayer_relay_latency_seconds_bucket{le="+Inf"} 4' in lines
    assert "trellis_relayer_relay_latency_seconds_count 4" in lines
    assert "# TYPE trellis_relayer_relay_latency_seconds histogram" in lines
    # cumulative buckets never decrease
    counts = [int(x.rsplit(" ", 1)[1]) for x in lines if x.startswith("trellis_relayer_relay_latency_seconds_bucket")]
    assert counts == sorted(counts)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_listener_serves_metrics_and_status() -> None:
    async def go() -> tuple[str, Any]:
        m = Metrics()
        m.count_item("ok", 2)
        port = _free_port()
        runner = await start_listener(m, lambda: {"paths": [{"path": "a<->b", "last_error": None}]}, "127.0.0.1", port)
        try:
            ep = HttpEndpoint("x", [f"http://127.0.0.1:{port}"])
            sess = ep._sess()
            async with sess.get(f"http://127.0.0.1:{port}/metrics") as r:
                text = await r.text()
            status = await ep._get("/status")
            await ep.close()
            return text, status
        finally:
            await runner.cleanup()

    text, status = asyncio.run(go())
    assert 'trellis_relayer_items_total{outcome="ok"} 2' in text
    assert status["paths"][0]["path"] == "a<->b"


# -- the CLI: user mistakes are one-line errors ------------------------------------------------------------------------
def _relayer_toml(tmp_path: Path, listen_port: int) -> Path:
    ks = KeyStore(tmp_path / "keys")
    info = ks.create("relayer", b"secret")
    (tmp_path / "pass").write_text("secret\n")
    chains = "".join(
        f'[[chain]]\nid = "{c}"\napi = "http://127.0.0.1:1"\nkey = "{info.path}"\npassphrase_file = "pass"\n\n'
        for c in ("chain-a", "chain-b")
    )
    path = (
        '[[path]]\na = "chain-a"\nb = "chain-b"\na_client = "client-0"\nb_client = "client-0"\n'
        'a_connection = "connection-0"\nb_connection = "connection-0"\n'
        'channels = [{port = "transfer", a_channel = "channel-0", b_channel = "channel-0"}]\n\n'
    )
    cfg = tmp_path / "relayer.toml"
    cfg.write_text(chains + path + f'[metrics]\nlisten = "127.0.0.1:{listen_port}"\n')
    return cfg


def test_relayer_start_on_a_taken_metrics_port_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from trellis.cli.main import main

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        cfg = _relayer_toml(tmp_path, port)
        assert main(["relayer", "start", "--config", str(cfg)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and f"listen 127.0.0.1:{port}" in err and "\n" not in err, err


@pytest.mark.parametrize(
    ("exc", "says"),
    [
        (TimeoutError(), "did not finish in time"),
        (KeyStoreError("wrong passphrase for chain-0.pem"), "wrong passphrase"),
        (EndpointError("chain-a", "unreachable"), "unreachable"),
    ],
)
def test_net_up_chains_reports_a_failed_join_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, exc: Exception, says: str
) -> None:
    import trellis.bench.interchain as bench
    from trellis.cli.main import main
    from trellis.node import multichain

    def fail(*_a: object, **_k: object) -> object:
        raise exc

    def up_chains(root: Path, *, connect: Any, **_k: object) -> object:
        a, b = SimpleNamespace(chain_id="chain-a"), SimpleNamespace(chain_id="chain-b")
        return connect(SimpleNamespace(root=root), a, b)

    monkeypatch.setattr(bench, "connect_chains", fail)
    monkeypatch.setattr(multichain, "up_chains", up_chains)
    assert main(["net", "up", "--chains", "2", "--home", str(tmp_path / "net")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: joining chain-a and chain-b failed: ") and says in err and "\n" not in err, err


# -- HttpEndpoint against a fake node ----------------------------------------------------------------------------------
class FakeNode:
    """The REST routes the relayer uses, answered from a SimChain (``packets_route=False``: a node without it)."""

    def __init__(self, chain: SimChain, *, packets_route: bool = True) -> None:
        self.chain = chain
        self.packets_route = packets_route
        self.streams: list[web.StreamResponse] = []
        self.blocks: asyncio.Queue[int] = asyncio.Queue()
        self.queued: list[bytes] = []
        self.done: dict[bytes, tuple[int, Any]] = {}

    def app(self) -> web.Application:
        c = self.chain

        async def status(_r: web.Request) -> web.Response:
            return web.json_response(
                {
                    "chain_id": c.chain_id,
                    "suite": "ed25519",
                    "genesis_hash": "0x" + c.params.genesis_hash.hex(),
                    "height": c.height,
                    "time_ms": c.time_ms,
                }
            )

        async def block(r: web.Request) -> web.Response:
            h = int(r.match_info["ref"])
            b = c.block(h)
            return web.Response(
                body=msgspec.json.encode(
                    block_json(c.params.suite, block_hash(c.params.suite, b.header), b, c.commit(h))
                ),
                content_type="application/json",
            )

        async def validators(r: web.Request) -> web.Response:
            vs = c.validators_at(int(r.query["height"]))
            return web.json_response(
                {
                    "validators": [
                        {"public_key": "0x" + v.public_key.hex(), "power": v.power, "name": v.name}
                        for v in vs.validators
                    ]
                }
            )

        async def changes(r: web.Request) -> web.Response:
            to = int(r.query["to_height"])
            return web.json_response(
                {
                    "changes": [
                        {
                            "header": "0x" + x.header.hex(),
                            "commit": "0x" + x.commit.hex(),
                            "next_validators": "0x" + x.next_validators.hex(),
                        }
                        for x in c.set_changes(to)
                    ]
                }
            )

        async def state(r: web.Request) -> web.Response:
            key = bytes.fromhex(r.match_info["key"].removeprefix("0x"))
            h = int(r.query.get("height", c.height))
            v = c.get(key, h)
            body: dict[str, Any] = {
                "key": "0x" + key.hex(),
                "height": h,
                "value": None if v is None else "0x" + v.hex(),
            }
            if r.query.get("prove") == "true":
                body["proof_hex"] = "0x" + c.prove(key, h).hex()
            return web.json_response(body)

        async def packets(r: web.Request) -> web.Response:
            from trellis.core.modules.interchain.state import pending_packets

            if not self.packets_route:
                raise web.HTTPNotFound()
            rows = pending_packets(
                c.reader(),
                r.match_info["port"],
                r.match_info["channel"],
                int(r.query["from_seq"]),
                int(r.query["limit"]),
            )
            return web.json_response(
                {"packets": [{"sequence": p.sequence, "packet_hex": "0x" + encode(p).hex()} for p in rows]}
            )

        async def account(r: web.Request) -> web.Response:
            return web.json_response({"next_nonce": c.account_nonce(bytes.fromhex(r.match_info["addr"][2:]))})

        def committed(raw: bytes) -> web.Response:
            h, receipt = self.done[raw]
            body = {
                "hash": "0x" + tx_hash(c.params.suite, raw).hex(),
                "status": "committed",
                "height": h,
                "receipt": receipt_json(receipt),
            }
            return web.Response(body=msgspec.json.encode(body), content_type="application/json")

        def commit_queued() -> None:
            if self.queued:
                receipts = c.commit_block([decode(x, SignedTx) for x in self.queued])
                for x, rc in zip(self.queued, receipts, strict=True):
                    self.done[x] = (c.height, rc)
                self.queued = []

        async def submit(r: web.Request) -> web.Response:
            raw = await r.read()
            tx = decode(raw, SignedTx)
            if getattr(tx.body.payload, "namespace", "") == "refuse":
                return web.json_response({"code": "invalid_tx", "detail": "refused at admission (test)"}, status=400)
            self.queued.append(raw)
            if r.query.get("wait") == "commit":
                commit_queued()
                return committed(raw)
            body = {"hash": "0x" + tx_hash(c.params.suite, raw).hex(), "status": "pending"}
            return web.json_response(body, status=202)

        async def tx_status(r: web.Request) -> web.Response:
            commit_queued()  # the next block takes everything queued
            h = bytes.fromhex(r.match_info["hash"][2:])
            raw = next(x for x in self.done if tx_hash(c.params.suite, x) == h)
            return committed(raw)

        async def stream(r: web.Request) -> web.StreamResponse:
            resp = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
            await resp.prepare(r)
            h = await self.blocks.get()
            if h < 0:  # drop this stream
                return resp
            b = c.block(h)
            line = {
                "height": h,
                "time_ms": b.header.time_ms,
                "block_id": "0x00",
                "txs": ["0x01"] * len(b.txs),
                "codes": [],
            }
            await resp.write(json.dumps(line).encode() + b"\n")
            h2 = await self.blocks.get()
            if h2 >= 0:
                b = c.block(h2)
                await resp.write(json.dumps({**line, "height": h2, "time_ms": b.header.time_ms}).encode() + b"\n")
            return resp

        app = web.Application()
        app.add_routes(
            [
                web.get("/v1/status", status),
                web.get("/v1/blocks/{ref}", block),
                web.get("/v1/validators", validators),
                web.get("/v1/validators/changes", changes),
                web.get("/v1/state/{key}", state),
                web.get("/v1/interchain/channels/{port}/{channel}/packets", packets),
                web.get("/v1/accounts/{addr}", account),
                web.post("/v1/txs", submit),
                web.get("/v1/txs/{hash}", tx_status),
                web.get("/v1/commits/stream", stream),
            ]
        )
        return app


async def _serve(node: FakeNode) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(node.app())
    await runner.setup()
    port = _free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, f"http://127.0.0.1:{port}"


def _chain_with_packets() -> SimChain:
    """A chain whose state holds three stored packets of transfer/channel-0 (written directly) and seq_send 4."""
    c = SimChain("chain-h", accounts={"alice": 1000})
    c.advance(2)
    pk = [
        Packet(
            sequence=s,
            source_port="transfer",
            source_channel="channel-0",
            dest_port="transfer",
            dest_channel="channel-0",
            data=b"d%d" % s,
            timeout_height=100,
            timeout_time_ms=0,
        )
        for s in (1, 2, 3)
    ]
    for p in pk:
        c._st.state[packet_key("transfer", "channel-0", p.sequence)] = encode(p)
    c._st.state[seq_send_key("transfer", "channel-0")] = (4).to_bytes(8, "big")
    return c


def test_http_endpoint_reads_light_blocks_state_and_packets() -> None:
    chain = SimChain("chain-h", accounts={"alice": 1000})
    chain.advance(3)

    async def go() -> None:
        node = FakeNode(chain)
        runner, url = await _serve(node)
        ep = HttpEndpoint("chain-h", ["http://127.0.0.1:1", url], timeout_s=5)  # the first URL is down
        try:
            info = await ep.info()
            assert info.chain_id == "chain-h" and info.genesis_hash == chain.params.genesis_hash
            head = await ep.head()
            assert (head.height, head.time_ms) == (3, chain.time_ms)
            lb = await ep.light_block(2)
            assert lb == chain.light_block(2)
            assert await ep.set_changes(3) == chain.set_changes(3)
            key = b"acct/does-not-exist"
            got = await ep.state(key, 2, prove=True)
            assert got.value is None and got.proof == chain.prove(key, 2) and got.height == 2
            with pytest.raises(EndpointError):
                await ep.genesis()  # no genesis file configured
        finally:
            await ep.close()
            await runner.cleanup()

    asyncio.run(go())


@pytest.mark.parametrize("route", [True, False])
def test_http_endpoint_lists_pending_packets_with_or_without_the_route(route: bool) -> None:
    chain = _chain_with_packets()

    async def go() -> list[int]:
        runner, url = await _serve(FakeNode(chain, packets_route=route))
        ep = HttpEndpoint("chain-h", [url])
        try:
            got = await ep.pending_packets("transfer", "channel-0", 2, 10)
            assert all(isinstance(p, Packet) for p in got)
            return [p.sequence for p in got]
        finally:
            await ep.close()
            await runner.cleanup()

    assert asyncio.run(go()) == [2, 3]


def test_http_endpoint_submits_and_reports_the_receipt() -> None:
    chain = SimChain("chain-h", accounts={"alice": 1000})
    chain.advance(1)
    from trellis.keys.signer import MemorySigner

    signer = MemorySigner(hashlib.sha256(b"alice").digest())

    async def go() -> None:
        runner, url = await _serve(FakeNode(chain))
        ep = HttpEndpoint("chain-h", [url])
        try:
            sub = Submitter(ep, signer)
            res = await sub.submit(KvPut(namespace="ns", key=b"k", value=b"v"))
            assert res.ok and res.height == 2 and any(t == "kv.put" for t, _ in res.events)
            res = await sub.submit(KvPut(namespace="ns", key=b"k2", value=b"v"))
            assert res.ok and res.height == 3  # the next nonce, read again
        finally:
            await ep.close()
            await runner.cleanup()

    asyncio.run(go())


def test_http_endpoint_commit_stream_reconnects_and_marks_the_gap() -> None:
    chain = SimChain("chain-h")
    chain.advance(3)

    async def go() -> list[tuple[int, bool]]:
        node = FakeNode(chain)
        runner, url = await _serve(node)
        ep = HttpEndpoint("chain-h", [url])
        seen: list[tuple[int, bool]] = []
        stream: AsyncIterator[Any] = ep.commits()
        for h in (1, -1, 2, 3):  # block 1, the stream drops, a new stream: 2, 3
            node.blocks.put_nowait(h)
        try:
            async for c in stream:
                seen.append((c.height, c.reconnected))
                if len(seen) == 3:
                    break
        finally:
            await stream.aclose()  # type: ignore[attr-defined]
            await ep.close()
            await runner.cleanup()
        return seen

    assert asyncio.run(asyncio.wait_for(go(), 20)) == [(1, False), (2, True), (3, False)]


def test_stream_lines_splits_chunks_and_refuses_an_overlong_line() -> None:
    async def chunks(*parts: bytes) -> AsyncIterator[bytes]:
        for p in parts:
            yield p

    async def lines(limit: int, *parts: bytes) -> list[bytes]:
        return [x async for x in stream_lines(chunks(*parts), limit)]

    assert asyncio.run(lines(100, b"ab", b"c\nd", b"\n\nef\ngh", b"")) == [b"abc", b"d", b"", b"ef", b"gh"]
    with pytest.raises(ValueError, match="longer than 8"):
        asyncio.run(lines(8, b"0123", b"45678", b"9\n"))


def _stream_app(scripts: list[list[bytes | None]]) -> web.Application:
    """A commit stream whose n-th connection writes ``scripts[n]`` (None: stays silent for 3 s, open) and ends."""
    calls = {"n": 0}

    async def stream(r: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        await resp.prepare(r)
        script = scripts[min(calls["n"], len(scripts) - 1)]
        calls["n"] += 1
        for chunk in script:
            if chunk is None:
                await asyncio.sleep(3)  # well past the read timeout below
            else:
                await resp.write(chunk)
        return resp

    app = web.Application()
    app.add_routes([web.get("/v1/commits/stream", stream)])
    return app


def _line(height: int, txs: int = 0) -> bytes:
    return json.dumps({"height": height, "time_ms": height * 1000, "txs": ["0x" + "ab" * 32] * txs}).encode() + b"\n"


def test_http_endpoint_commit_stream_survives_long_lines_odd_rows_and_silence() -> None:
    scripts: list[list[bytes | None]] = [
        [_line(1, txs=5000)],  # a full block's line: ~340 KB, past aiohttp's 64 KiB line limit
        [b"[1, 2]\n"],  # a row that is not an object (TypeError), then the stream is reopened
        [_line(2), None],  # then silent with the connection open (half-open): the read timeout reopens it
        [_line(3)],
    ]

    async def go() -> list[tuple[int, int, bool]]:
        runner = web.AppRunner(_stream_app(scripts))
        await runner.setup()
        port = _free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        ep = HttpEndpoint("chain-h", [f"http://127.0.0.1:{port}"], stream_read_timeout_s=0.5)
        seen: list[tuple[int, int, bool]] = []
        stream: AsyncIterator[Any] = ep.commits()
        try:
            async for c in stream:
                seen.append((c.height, c.tx_count, c.reconnected))
                if len(seen) == 3:
                    break
        finally:
            await stream.aclose()  # type: ignore[attr-defined]
            await ep.close()
            await runner.cleanup()
        return seen

    assert asyncio.run(asyncio.wait_for(go(), 20)) == [(1, 5000, False), (2, 0, True), (3, 0, True)]


def test_http_endpoint_submits_many_into_one_block_and_stops_at_a_refusal() -> None:
    chain = SimChain("chain-h", accounts={"alice": 1000})
    chain.advance(1)
    from trellis.keys.signer import MemorySigner

    signer = MemorySigner(hashlib.sha256(b"alice").digest())

    async def go() -> None:
        runner, url = await _serve(FakeNode(chain))
        ep = HttpEndpoint("chain-h", [url])
        try:
            sub = Submitter(ep, signer)
            res = await sub.submit_many([KvPut(namespace="ns", key=b"k%d" % i, value=b"v") for i in range(3)])
            assert [r.status for r in res] == ["committed"] * 3 and all(r.ok for r in res)
            assert {r.height for r in res} == {2}  # one block
            res = await sub.submit_many(
                [
                    KvPut(namespace="ns", key=b"a", value=b"v"),
                    KvPut(namespace="refuse", key=b"b", value=b"v"),
                    KvPut(namespace="ns", key=b"c", value=b"v"),
                ]
            )
            assert [r.status for r in res] == ["committed", "refused", "not_sent"]
            assert "refused at admission" in res[1].message
        finally:
            await ep.close()
            await runner.cleanup()

    asyncio.run(go())
