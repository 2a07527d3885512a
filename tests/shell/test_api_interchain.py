"""The interchain and transfer read routes (docs/spec/interchain.md 8, transfer.md; ADR 0015 section 9).

The route logic is checked against records written straight into a chain's state (``ChainA``: the routes read
through ``node.app.reader()`` alone, so a node whose application is a dict of state serves them exactly), and the
routes are checked mounted on a real node (empty lists, 404s). Clients are judged at the tip's block time.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import msgspec
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from tests.memory_state import MemoryState
from trellis.abci import CommittedView
from trellis.api import credentials, did, interchain, transfer
from trellis.api.server import problem_middleware
from trellis.cli import transfer as cli_transfer
from trellis.cli.client import ClientError, NodeClient
from trellis.cli.main import CliError
from trellis.core.codec import encode
from trellis.core.crypto.suite import ED25519, Suite
from trellis.core.modules.accounts.state import Account, account_key
from trellis.core.modules.interchain.messages import UNORDERED, Ack, Packet
from trellis.core.modules.interchain.state import (
    OPEN,
    ChannelEnd,
    ClientState,
    ConnectionEnd,
    ConsensusState,
    MisbehaviourRecord,
    ack_key,
    channel_key,
    client_key,
    connection_key,
    consensus_key,
    misbehaviour_key,
    packet_id,
    packet_key,
    receipt_key,
    seq_recv_key,
    seq_send_key,
)
from trellis.core.modules.transfer.state import (
    DenomTrace,
    balance_key,
    denom_hash,
    denom_key,
    escrow_key,
    supply_key,
    vescrow_key,
)
from trellis.node.config import ConfigError, InterchainSection, NodeConfig, load_config, render_config
from trellis.node.node import Node

from .conftest import WAIT_S, ApiHarness, ThreadedNode, run, run_cli, run_cli_json

DAY_MS = 86_400_000
T0 = 1_800_000_000_000
"""Chain A's tip time in these tests."""


# -- a chain whose state the test writes -------------------------------------------------------------------------
@dataclass
class _App:
    chain_id: str
    state: MemoryState
    height: int
    time_ms: int

    @property
    def params(self) -> Any:
        return SimpleNamespace(chain_id=self.chain_id, suite=ED25519)

    def reader(self) -> CommittedView:
        return CommittedView(self.state, self.height, self.time_ms)


@dataclass
class ChainA:
    """Chain A's committed state at ``height`` / ``time_ms`` as a dict, and the routes that read it."""

    chain_id: str = "chain-a"
    height: int = 10
    time_ms: int = T0
    endpoints: dict[str, str] = field(default_factory=dict)
    genesis_hashes: dict[str, str] = field(default_factory=dict)
    """The node config's pinned genesis hashes (``add_client`` pins its client's unless told not to)."""
    st: MemoryState = field(default_factory=MemoryState)

    def put(self, key: bytes, value: Any) -> None:
        self.st.state[key] = value if isinstance(value, bytes) else encode(value)

    def delete(self, key: bytes) -> None:
        self.st.state.pop(key, None)

    def node(self) -> Node:
        app = _App(self.chain_id, self.st, self.height, self.time_ms)
        config = SimpleNamespace(
            interchain=InterchainSection(endpoints=self.endpoints, genesis_hashes=self.genesis_hashes)
        )
        return cast(Node, SimpleNamespace(app=app, params=app.params, config=config))

    def web_app(self) -> web.Application:
        node = self.node()
        app = web.Application(middlewares=[problem_middleware])
        for module in (interchain, transfer, did, credentials):
            app.add_routes(module.routes(node))
        return app

    def add_client(
        self,
        client_id: str,
        chain_id: str,
        *,
        latest_height: int,
        state_root: bytes = b"\x11" * 32,
        time_ms: int | None = None,
        trusting_period_ms: int = 14 * DAY_MS,
        frozen_height: int = 0,
        genesis_hash: bytes = b"\x22" * 32,
        pin: bool = True,
    ) -> None:
        """A client of ``chain_id`` with one consensus state (at ``latest_height``, time ``time_ms``); ``pin``: the
        node config pins its genesis hash for ``chain_id`` unless one is pinned already."""
        if pin:
            self.genesis_hashes.setdefault(chain_id, genesis_hash.hex())
        self.put(
            client_key(client_id),
            ClientState(
                chain_id=chain_id,
                genesis_hash=genesis_hash,
                suite="ed25519",
                trusting_period_ms=trusting_period_ms,
                max_clock_drift_ms=10_000,
                latest_height=latest_height,
                frozen_height=frozen_height,
            ),
        )
        self.put(
            consensus_key(client_id, latest_height),
            ConsensusState(
                time_ms=self.time_ms - 1000 if time_ms is None else time_ms,
                state_root=state_root,
                block_id=b"\x33" * 32,
                validators_hash=b"\x44" * 32,
                next_validators_hash=b"\x55" * 32,
            ),
        )


async def _with_server(app: web.Application, fn: Callable[[TestClient[Any, Any]], Coroutine[Any, Any, Any]]) -> Any:
    client: TestClient[Any, Any] = TestClient(TestServer(app))
    await client.start_server()
    try:
        return await fn(client)
    finally:
        await client.close()


def get_json(chain: ChainA, *paths: str) -> list[tuple[int, Any]]:
    """GET each path from chain A's routes: (status, JSON body)."""

    async def go(client: TestClient[Any, Any]) -> list[tuple[int, Any]]:
        out = []
        for p in paths:
            async with client.get(p) as resp:
                out.append((resp.status, msgspec.json.decode(await resp.read())))
        return out

    result: list[tuple[int, Any]] = run(_with_server(chain.web_app(), go), WAIT_S)
    return result


def one(chain: ChainA, path: str) -> tuple[int, Any]:
    return get_json(chain, path)[0]


# -- clients -----------------------------------------------------------------------------------------------------
def test_clients_list_their_status_at_the_tips_block_time() -> None:
    a = ChainA()
    a.add_client("client-0", "chain-b", latest_height=7)
    # Expired exactly at the boundary: latest time + trusting period <= tip time.
    a.add_client("client-1", "chain-c", latest_height=3, time_ms=T0 - DAY_MS, trusting_period_ms=DAY_MS)
    a.add_client("client-2", "chain-d", latest_height=4, frozen_height=4)
    a.put(
        misbehaviour_key("client-2"),
        MisbehaviourRecord(height=4, block_id_1=b"\x01" * 32, block_id_2=b"\x02" * 32, kind="conflict", recorded_at=9),
    )
    status, body = one(a, "/v1/interchain/clients")
    assert status == 200
    assert (body["height"], body["time_ms"]) == (10, T0)
    assert [(c["client_id"], c["chain_id"], c["status"]) for c in body["clients"]] == [
        ("client-0", "chain-b", "active"),
        ("client-1", "chain-c", "expired"),
        ("client-2", "chain-d", "frozen"),
    ]
    a.time_ms = T0 - 1  # one millisecond earlier client-1 is still trusted
    assert one(a, "/v1/interchain/clients/client-1")[1]["status"] == "active"


def test_a_client_shows_its_latest_consensus_state_and_misbehaviour() -> None:
    a = ChainA()
    a.add_client("client-3", "chain-b", latest_height=42, state_root=b"\xab" * 32, frozen_height=40)
    a.put(
        misbehaviour_key("client-3"),
        MisbehaviourRecord(height=40, block_id_1=b"\x01" * 32, block_id_2=b"\x02" * 32, kind="time", recorded_at=8),
    )
    status, c = one(a, "/v1/interchain/clients/client-3")
    assert status == 200, c
    assert c["status"] == "frozen" and c["frozen_height"] == 40 and c["latest_height"] == 42
    assert c["latest_consensus_state"] == {
        "height": 42,
        "time_ms": T0 - 1000,
        "state_root": "0x" + "ab" * 32,
        "block_id": "0x" + "33" * 32,
        "validators_hash": "0x" + "44" * 32,
        "next_validators_hash": "0x" + "55" * 32,
    }
    assert c["misbehaviour"]["kind"] == "time" and c["misbehaviour"]["block_id_2"] == "0x" + "02" * 32
    assert c["genesis_hash"] == "0x" + "22" * 32 and c["suite"] == "ed25519"


def test_unknown_and_malformed_ids_are_404_and_400() -> None:
    a = ChainA()
    answers = get_json(
        a,
        "/v1/interchain/clients/client-9",
        "/v1/interchain/clients/client-01",
        "/v1/interchain/clients/bogus",
        "/v1/interchain/connections/connection-0",
        "/v1/interchain/connections/client-0",
        "/v1/interchain/channels/transfer/channel-0",
        "/v1/interchain/channels/Transfer/channel-0",
        "/v1/interchain/channels/transfer/chan-0",
        "/v1/interchain/channels/transfer/channel-0/packets",
        "/v1/interchain/channels/transfer/channel-0/packets/1",
    )
    assert [(s, b["code"]) for s, b in answers] == [
        (404, "not_found"),
        (400, "bad_id"),
        (400, "bad_id"),
        (404, "not_found"),
        (400, "bad_id"),
        (404, "not_found"),
        (400, "bad_port"),
        (400, "bad_channel"),
        (404, "not_found"),
        (404, "not_found"),
    ]


# -- connections, channels, packets ------------------------------------------------------------------------------
def _packet(seq: int) -> Packet:
    return Packet(
        sequence=seq,
        source_port="transfer",
        source_channel="channel-0",
        dest_port="transfer",
        dest_channel="channel-7",
        data=bytes([seq]) * 3,
        timeout_height=100 + seq,
        timeout_time_ms=0,
    )


def _channel_chain() -> ChainA:
    a = ChainA()
    a.put(
        connection_key("connection-0"),
        ConnectionEnd(
            state=OPEN,
            client_id="client-0",
            counterparty_client_id="client-4",
            counterparty_connection_id="connection-2",
            version="trellis-1",
        ),
    )
    for chan, cp in (("channel-0", "channel-7"), ("channel-1", "")):
        a.put(
            channel_key("transfer", chan),
            ChannelEnd(
                state=OPEN if cp else 1,
                order=UNORDERED,
                connection_id="connection-0",
                counterparty_port="transfer",
                counterparty_channel=cp,
                version="trellis-transfer-1",
            ),
        )
    a.put(seq_send_key("transfer", "channel-0"), (6).to_bytes(8, "big"))
    a.put(seq_recv_key("transfer", "channel-0"), (3).to_bytes(8, "big"))
    for seq in (1, 2, 5):
        a.put(packet_key("transfer", "channel-0", seq), _packet(seq))
    a.put(packet_key("transfer", "channel-1", 1), _packet(1))  # another channel's: never listed with channel-0
    a.put(receipt_key("transfer", "channel-0", 3), b"\x01")
    a.put(ack_key("transfer", "channel-0", 3), Ack(code=0, result=b"\x01"))
    return a


def test_a_connection_and_channels_read_as_stored_with_their_sequences() -> None:
    a = _channel_chain()
    (s1, conn), (s2, listed), (s3, ch) = get_json(
        a,
        "/v1/interchain/connections/connection-0",
        "/v1/interchain/channels",
        "/v1/interchain/channels/transfer/channel-0",
    )
    assert (s1, s2, s3) == (200, 200, 200)
    assert conn == {
        "connection_id": "connection-0",
        "state": "OPEN",
        "client_id": "client-0",
        "counterparty_client_id": "client-4",
        "counterparty_connection_id": "connection-2",
        "version": "trellis-1",
        "height": 10,
    }
    assert [(c["channel"], c["state"], c["counterparty_channel"]) for c in listed["channels"]] == [
        ("channel-0", "OPEN", "channel-7"),
        ("channel-1", "INIT", ""),
    ]
    assert ch["order"] == "UNORDERED" and ch["version"] == "trellis-transfer-1"
    assert (ch["next_sequence_send"], ch["next_sequence_recv"], ch["next_sequence_ack"]) == (6, 3, 1)


def test_pending_packets_come_with_their_canonical_bytes_a_page_at_a_time() -> None:
    a = _channel_chain()
    base = "/v1/interchain/channels/transfer/channel-0/packets"
    (s1, all_), (s2, page), (s3, rest) = get_json(a, base, f"{base}?from_seq=2&limit=1", f"{base}?from_seq=3")
    assert (s1, s2, s3) == (200, 200, 200)
    assert [p["sequence"] for p in all_["packets"]] == [1, 2, 5] and all_["next_from_seq"] is None
    assert [p["sequence"] for p in page["packets"]] == [2] and page["next_from_seq"] == 3
    assert [p["sequence"] for p in rest["packets"]] == [5]
    p5 = rest["packets"][0]
    assert bytes.fromhex(p5["packet_hex"][2:]) == encode(_packet(5))
    assert p5["packet_id"] == "0x" + packet_id(ED25519, _packet(5)).hex()
    assert (p5["dest_channel"], p5["data"], p5["timeout_height"]) == ("channel-7", "0x050505", 105)
    bad = get_json(a, f"{base}?limit=0", f"{base}?limit=101", f"{base}?from_seq=0", f"{base}?from_seq=x")
    assert [(s, b["code"]) for s, b in bad] == [(400, "bad_parameter")] * 4


def test_one_sequence_shows_packet_receipt_and_ack() -> None:
    a = _channel_chain()
    base = "/v1/interchain/channels/transfer/channel-0/packets"
    (s1, pending), (s2, received), (s3, nothing) = get_json(a, f"{base}/2", f"{base}/3", f"{base}/4")
    assert (s1, s2, s3) == (200, 200, 200)
    assert pending["packet"]["sequence"] == 2 and not pending["receipt"] and pending["ack"] is None
    assert received["packet"] is None and received["receipt"]
    assert received["ack"] == {
        "code": 0,
        "result": "0x01",
        "reason": "",
        "ack_hex": "0x" + encode(Ack(code=0, result=b"\x01")).hex(),
    }
    assert nothing == {
        "port": "transfer",
        "channel": "channel-0",
        "sequence": 4,
        "height": 10,
        "packet": None,
        "receipt": False,
        "ack": None,
    }
    bad = get_json(a, f"{base}/0", f"{base}/x", f"{base}/{2**64}", f"{base}/01")
    assert [(s, b["code"]) for s, b in bad] == [(400, "bad_sequence")] * 4


# -- transfer ----------------------------------------------------------------------------------------------------
def _voucher(a: ChainA, suite: Suite, denom: str, holder: bytes, amount: int, supply: int) -> bytes:
    path, _, base = denom.rpartition("/")
    dh = denom_hash(suite, denom)
    a.put(denom_key(dh), DenomTrace(path=path, base=base))
    a.put(balance_key(dh, holder), amount.to_bytes(8, "big"))
    a.put(supply_key(dh), supply.to_bytes(8, "big"))
    return dh


def test_balances_denoms_and_escrow() -> None:
    a = ChainA()
    alice, bob = b"\xaa" * 20, b"\xbb" * 20
    a.put(account_key(alice), Account(balance=77, nonce=3))
    d1 = _voucher(a, ED25519, "transfer/channel-0/native", alice, 5, 9)
    d2 = _voucher(a, ED25519, "transfer/channel-1/transfer/channel-4/gold", bob, 4, 4)
    a.put(vescrow_key("channel-1", d1), (2).to_bytes(8, "big"))
    a.put(escrow_key("channel-1"), (300).to_bytes(8, "big"))
    (s1, ab), (s2, bb), (s3, dj), (s4, ej), (s5, none) = get_json(
        a,
        f"/v1/transfer/balances/0x{alice.hex()}",
        f"/v1/transfer/balances/{bob.hex()}",
        f"/v1/transfer/denoms/0x{d2.hex()}",
        "/v1/transfer/escrow/channel-1",
        "/v1/transfer/escrow/channel-5",
    )
    assert (s1, s2, s3, s4, s5) == (200,) * 5
    assert ab["balances"] == [
        {"denom": "native", "denom_hash": None, "path": "", "base": "native", "amount": 77},
        {
            "denom": "transfer/channel-0/native",
            "denom_hash": "0x" + d1.hex(),
            "path": "transfer/channel-0",
            "base": "native",
            "amount": 5,
        },
    ]
    assert [(h["denom"], h["amount"]) for h in bb["balances"]] == [
        ("native", 0),
        ("transfer/channel-1/transfer/channel-4/gold", 4),
    ]
    assert dj == {
        "denom_hash": "0x" + d2.hex(),
        "denom": "transfer/channel-1/transfer/channel-4/gold",
        "path": "transfer/channel-1/transfer/channel-4",
        "base": "gold",
        "supply": 4,
        "height": 10,
    }
    assert ej["native"] == 300 and "escrow_address" not in ej
    assert [(h["denom"], h["amount"]) for h in ej["vouchers"]] == [("transfer/channel-0/native", 2)]
    assert (none["native"], none["vouchers"]) == (0, [])
    bad = get_json(
        a,
        "/v1/transfer/balances/0x1234",
        f"/v1/transfer/denoms/0x{'00' * 32}",
        "/v1/transfer/denoms/abc",
        "/v1/transfer/escrow/channel-x",
    )
    assert [(s, b["code"]) for s, b in bad] == [
        (400, "bad_address"),
        (404, "not_found"),
        (400, "bad_hash"),
        (400, "bad_channel"),
    ]


def test_voucher_listings_page_past_max_denoms_instead_of_truncating(monkeypatch: pytest.MonkeyPatch) -> None:
    from trellis.app.modules import transfer as transfer_reads

    monkeypatch.setattr(transfer_reads, "MAX_DENOMS", 2)
    a = ChainA()
    alice = b"\xaa" * 20
    held = sorted(_voucher(a, ED25519, f"transfer/channel-0/coin{i}", alice, 10 + i, 10 + i) for i in range(5))
    for dh in held:
        a.put(vescrow_key("channel-1", dh), (1).to_bytes(8, "big"))
    seen: list[str] = []
    path, pages = f"/v1/transfer/balances/0x{alice.hex()}", 0
    while True:
        status, body = one(a, path)
        assert status == 200, body
        seen += [h["denom_hash"] for h in body["balances"]]
        pages += 1
        if body["next_from_denom"] is None:
            break
        path = f"/v1/transfer/balances/0x{alice.hex()}?from_denom={body['next_from_denom']}"
    assert seen == [None, *("0x" + dh.hex() for dh in held)]  # native on the first page only, every voucher once
    assert pages == 3
    status, first = one(a, "/v1/transfer/escrow/channel-1")
    assert status == 200 and len(first["vouchers"]) == 2 and first["next_from_denom"] == "0x" + held[2].hex()
    _, rest = one(a, f"/v1/transfer/escrow/channel-1?from_denom={held[4].hex()}")
    assert [v["denom_hash"] for v in rest["vouchers"]] == ["0x" + held[4].hex()] and rest["next_from_denom"] is None
    bad = get_json(
        a, f"/v1/transfer/balances/0x{alice.hex()}?from_denom=xyz", "/v1/transfer/escrow/channel-1?from_denom="
    )
    assert [(s, b["code"]) for s, b in bad] == [(400, "bad_parameter")] * 2


# -- mounted on a real node --------------------------------------------------------------------------------------
def test_the_routes_are_mounted_on_a_node(api: ApiHarness) -> None:
    clients = api.get("/v1/interchain/clients")
    assert clients.status == 200 and clients.json()["clients"] == []
    assert api.get("/v1/interchain/channels").json()["channels"] == []
    assert api.get("/v1/interchain/clients/client-0").json()["code"] == "not_found"
    alice = api.get(f"/v1/transfer/balances/0x{'00' * 20}").json()
    assert alice["balances"][0]["denom"] == "native"
    assert api.get("/v1/transfer/escrow/channel-0").json()["native"] == 0
    doc = api.get("/openapi.json").json()
    assert "/v1/interchain/channels/{port}/{channel}/packets/{seq}" in doc["paths"]
    assert "/v1/transfer/balances/{address}" in doc["paths"]


# -- the CLI -----------------------------------------------------------------------------------------------------
class _FakeNodeClient:
    """Answers the three reads ``destination_tip`` makes, from chain A's routes' JSON shapes."""

    def __init__(self, consensus: dict[str, Any] | None) -> None:
        self.consensus = consensus

    def get(self, path: str) -> Any:
        if self.consensus is None:
            raise ClientError("no channel", "not_found", 404)
        if path == "/v1/interchain/channels/transfer/channel-0":
            return {"connection_id": "connection-3"}
        if path == "/v1/interchain/connections/connection-3":
            return {"client_id": "client-2"}
        assert path == "/v1/interchain/clients/client-2", path
        return {"latest_consensus_state": self.consensus}


def test_send_timeouts_count_from_the_destinations_latest_block_time() -> None:
    known = cast(NodeClient, _FakeNodeClient({"height": 70, "time_ms": 5_000_000}))
    unknown = cast(NodeClient, _FakeNodeClient(None))
    now = 5_000_000 - 2000  # the destination's block time is ahead of the local clock
    assert cli_transfer.timeouts(known, "channel-0", None, "10m", now)[:2] == (0, 5_000_000 + 600_000)
    assert cli_transfer.timeouts(known, "channel-0", None, None, now)[:2] == (0, 5_000_000 + 600_000)  # default
    assert cli_transfer.timeouts(unknown, "channel-0", None, "90s", now)[:2] == (0, now + 90_000)
    assert cli_transfer.timeouts(known, "channel-0", "+30", None, now)[:2] == (100, 0)
    assert cli_transfer.timeouts(unknown, "channel-0", "500", "2h", now)[:2] == (500, now + 7_200_000)
    for bad_height, bad_duration in (("0", None), ("x", None), (None, "10"), (None, "0m"), (None, "5y")):
        with pytest.raises(CliError):
            cli_transfer.timeouts(known, "channel-0", bad_height, bad_duration, now)
    with pytest.raises(CliError, match="no client"):
        cli_transfer.timeouts(unknown, "channel-0", "+5", None, now)


def test_send_timeouts_on_an_idle_path_do_not_count_from_a_stale_client() -> None:
    # The client's latest consensus state of the destination is two days old: a time timeout counts from the
    # local clock (else "10m" would already have passed), and "+N" heights are refused (the destination is far on).
    stale = cast(NodeClient, _FakeNodeClient({"height": 70, "time_ms": 5_000_000}))
    now = 5_000_000 + 2 * DAY_MS
    assert cli_transfer.timeouts(stale, "channel-0", None, "10m", now)[:2] == (0, now + 600_000)
    assert cli_transfer.timeouts(stale, "channel-0", "500", "1h", now)[:2] == (500, now + 3_600_000)
    with pytest.raises(CliError, match="older than the local clock"):
        cli_transfer.timeouts(stale, "channel-0", "+30", None, now)
    # Within the bound, +N still counts from the client's height.
    edge = 5_000_000 + cli_transfer.MAX_TIP_AGE_MS
    assert cli_transfer.timeouts(stale, "channel-0", "+30", None, edge)[:2] == (100, 0)
    with pytest.raises(CliError, match="update the client"):
        cli_transfer.timeouts(stale, "channel-0", "+30", None, edge + 1)


def test_cli_reads_and_sends(capsys: pytest.CaptureFixture[str], threaded_node: ThreadedNode) -> None:
    node = threaded_node
    assert run_cli_json(capsys, node, "interchain", "clients")["clients"] == []
    assert run_cli_json(capsys, node, "interchain", "channels")["channels"] == []
    code, _, err = run_cli(capsys, node, "interchain", "show", "client-0")
    assert code == 1 and "not_found" in err
    code, _, err = run_cli(capsys, node, "interchain", "packets", "transfer/chan-0")
    assert code == 1 and "not a channel end" in err
    balances = run_cli_json(capsys, node, "transfer", "balances", "alice")
    assert balances["balances"][0]["denom"] == "native" and balances["balances"][0]["amount"] > 0
    # A send over a channel this chain does not have is committed and refused by the handler.
    code, out, err = run_cli(
        capsys, node, "transfer", "send", "--channel", "channel-0", "--denom", "native", "--amount", "5",
        "--to", "bob", "--timeout-height", "100", "--from", "alice",
    )  # fmt: skip
    assert code == 1 and "FAILED code" in out, (out, err)
    assert "timeout height 100" in out
    code, _, err = run_cli(
        capsys, node, "transfer", "send", "--channel", "channel-0", "--denom", "bad denom!", "--amount", "5",
        "--to", "bob", "--from", "alice",
    )  # fmt: skip
    assert code == 1 and "denom" in err


# -- the node config's pinned genesis hashes ----------------------------------------------------------------------
def test_pinned_genesis_hashes_render_load_and_refuse_bad_hex(tmp_path: Path) -> None:
    section = InterchainSection(
        endpoints={"chain-b": "http://127.0.0.1:8690"}, genesis_hashes={"chain-b": "ab" * 32, "c.2": "01" * 32}
    )
    cfg = NodeConfig(interchain=section)
    text = render_config(cfg)
    assert "[interchain.genesis_hashes]" in text
    path = tmp_path / "config.toml"
    path.write_text(text)
    assert load_config(path) == cfg
    for bad in ("AB" * 32, "ab" * 31, "zz" * 32):
        path.write_text(f'[interchain.genesis_hashes]\n"chain-b" = "{bad}"\n')
        with pytest.raises(ConfigError, match="genesis_hashes"):
            load_config(path)
