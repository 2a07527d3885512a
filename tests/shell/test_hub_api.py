"""The hub's read routes and CLI (docs/spec/hub.md 6; ADR 0016 section 1).

The routes are checked against records written straight into a chain's state (they read through
``node.app.reader()`` alone), then mounted on a real node and driven by ``trellis hub ...``: register and retire by
governance (one organisation, admin threshold 1: a proposal applies at once), list, show, and a refused
``hub connected``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, cast

import msgspec
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from tests.memory_state import MemoryState
from trellis.abci import CommittedView
from trellis.api import hub
from trellis.api.server import problem_middleware
from trellis.core.codec import encode
from trellis.core.crypto.suite import ED25519
from trellis.core.modules.hub.messages import PortChannel
from trellis.core.modules.hub.state import CONNECTED, COUNT_KEY, REGISTERED, RETIRED, SubChain, by_org_key, chain_key
from trellis.core.params import Genesis, GenesisHub
from trellis.node.home import GENESIS_FILE, encode_genesis, init_home
from trellis.node.node import Node

from .conftest import WAIT_S, ThreadedNode, node_config, run, run_cli, run_cli_json


@dataclass
class _App:
    state: MemoryState

    def reader(self) -> CommittedView:
        return CommittedView(self.state, 12, 1_800_000_000_000)


def _state() -> MemoryState:
    st = MemoryState()
    rows = [
        ("alpha", "org-a", REGISTERED),
        ("beta", "org-b", CONNECTED),
        ("gamma", "org-a", RETIRED),
        ("delta", "org-a", CONNECTED),
    ]
    for i, (cid, org, status) in enumerate(rows):
        sub = SubChain(
            operator_org=org,
            genesis_hash=bytes([i + 1]) * 32,
            status=status,
            registered_height=i,
            retired_height=9 if status == RETIRED else 0,
            client_id="client-3" if status == CONNECTED else "",
            connection_id="connection-2" if status == CONNECTED else "",
            channels=[PortChannel(port="transfer", channel="channel-4")] if status == CONNECTED else [],
        )
        st.state[chain_key(cid)] = encode(sub)
        st.state[by_org_key(ED25519, org, cid)] = b"\x01"
    st.state[COUNT_KEY] = (3).to_bytes(8, "big")
    return st


def _get(paths: list[str]) -> list[tuple[int, Any]]:
    node = cast(Node, SimpleNamespace(app=_App(_state()), params=SimpleNamespace(suite=ED25519)))
    app = web.Application(middlewares=[problem_middleware])
    app.add_routes(hub.routes(node))

    async def go() -> list[tuple[int, Any]]:
        client: TestClient[Any, Any] = TestClient(TestServer(app))
        await client.start_server()
        try:
            out = []
            for p in paths:
                async with client.get(p) as resp:
                    out.append((resp.status, msgspec.json.decode(await resp.read())))
            return out
        finally:
            await client.close()

    result: list[tuple[int, Any]] = run(go(), WAIT_S)
    return result


def test_routes_list_filter_page_and_show() -> None:
    (
        (s_all, every),
        (s_org, org_a),
        (s_st, connected),
        (s_p1, page1),
        (s_p2, page2),
        (s_one, beta),
    ) = _get(
        [
            "/v1/hub/chains",
            "/v1/hub/chains?org=org-a",
            "/v1/hub/chains?status=connected",
            "/v1/hub/chains?limit=2",
            "/v1/hub/chains?limit=2&cursor=beta",
            "/v1/hub/chains/beta",
        ]
    )
    assert {s_all, s_org, s_st, s_p1, s_p2, s_one} == {200}
    assert [c["chain_id"] for c in every["chains"]] == ["alpha", "beta", "delta", "gamma"]
    assert (every["height"], every["count"], every["next_cursor"]) == (12, 3, None)
    assert [c["chain_id"] for c in org_a["chains"]] == ["alpha", "delta", "gamma"]
    assert [c["chain_id"] for c in connected["chains"]] == ["beta", "delta"]
    assert ([c["chain_id"] for c in page1["chains"]], page1["next_cursor"]) == (["alpha", "beta"], "beta")
    assert ([c["chain_id"] for c in page2["chains"]], page2["next_cursor"]) == (["delta", "gamma"], None)
    assert beta == {
        "chain_id": "beta",
        "operator_org": "org-b",
        "genesis_hash": "0x" + "02" * 32,
        "status": "connected",
        "registered_height": 1,
        "retired_height": 0,
        "client_id": "client-3",
        "connection_id": "connection-2",
        "channels": [{"port": "transfer", "channel": "channel-4"}],
        "height": 12,
    }
    gamma = every["chains"][3]
    assert (gamma["status"], gamma["retired_height"]) == ("retired", 9)


def test_routes_refuse_bad_parameters_and_unknown_chains() -> None:
    answers = _get(
        [
            "/v1/hub/chains/omega",
            "/v1/hub/chains/Not_A_Chain",
            "/v1/hub/chains?status=gone",
            "/v1/hub/chains?limit=0",
            "/v1/hub/chains?limit=101",
            "/v1/hub/chains?limit=x",
            "/v1/hub/chains?cursor=BAD!",
            "/v1/hub/chains?org=" + "o" * 65,
        ]
    )
    assert [(s, b["code"]) for s, b in answers] == [
        (404, "not_found"),
        (400, "bad_id"),
        *[(400, "bad_parameter")] * 6,
    ]
    assert "omega" in answers[0][1]["detail"] and "registered" in answers[2][1]["detail"]


# -- a real node and the CLI -----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def hnode(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedNode]:
    """A hub: hub.register / hub.retire are refused on a chain whose genesis has no ``hub`` member."""
    root = tmp_path_factory.mktemp("hub-home")
    init_home(root)
    path = root / GENESIS_FILE
    genesis = msgspec.json.decode(path.read_bytes(), type=Genesis)
    hub_rules = msgspec.structs.replace(genesis.interchain_rules, client_policy="governed")
    path.write_bytes(encode_genesis(msgspec.structs.replace(genesis, interchain=hub_rules, hub=GenesisHub())))
    tn = ThreadedNode(root, node_config())
    try:
        yield tn
    finally:
        tn.close()


def test_cli_registers_lists_shows_and_retires(hnode: ThreadedNode, capsys: pytest.CaptureFixture[str]) -> None:
    node = hnode
    assert run_cli_json(capsys, node, "hub", "chains")["chains"] == []
    code, _, err = run_cli(capsys, node, "hub", "show", "sub-x")
    assert code == 1 and "not_found" in err
    code, _, err = run_cli(capsys, node, "hub", "show", "Bad!")
    assert code == 1 and "not a chain id" in err
    org = node.node.params.genesis.orgs[0].name
    certs = node.root / "certs"
    assert run_cli(capsys, node, "certs", "issue", "--org", org, "--role", "admin", "--key", "alice")[0] == 0
    run_cli_json(capsys, node, "certs", "register", "--from", "alice", "--cert", str(certs / "alice.crt"))
    gh = "ab" * 32
    admin = ("--from", "alice")
    # Refusals the CLI names before sending, and one the chain refuses.
    code, _, err = run_cli(capsys, node, "hub", "register", "sub-x", "--org", org, "--genesis-hash", "zz", *admin)
    assert code == 1 and "--genesis-hash" in err
    code, _, err = run_cli(
        capsys, node, "hub", "register", "sub-x", "--org", org, "--genesis-hash", gh, "--checkpoint-height", "3", *admin
    )
    assert code == 1 and "both" in err
    code, out, _ = run_cli(
        capsys, node, "hub", "register", "sub-x", "--org", "org-nobody", "--genesis-hash", gh, *admin
    )
    assert code == 1 and "not a member organisation" in out
    res = run_cli_json(capsys, node, "hub", "register", "sub-x", "--org", org, "--genesis-hash", gh, *admin)
    assert [e["type"] for e in res["receipt"]["events"]][-1] == "hub.registered"
    run_cli_json(capsys, node, "hub", "register", "sub-y", "--org", org, "--genesis-hash", "cd" * 32, *admin)
    listed = run_cli_json(capsys, node, "hub", "chains", "--org", org)
    assert [c["chain_id"] for c in listed["chains"]] == ["sub-x", "sub-y"] and listed["count"] == 2
    shown = run_cli_json(capsys, node, "hub", "show", "sub-x")
    assert (shown["status"], shown["operator_org"], shown["genesis_hash"]) == ("registered", org, "0x" + gh)
    code, out, _ = run_cli(capsys, node, "hub", "show", "sub-x")
    assert code == 0 and "sub-x  [registered]" in out
    # hub.connected is checked against the state: no client here.
    code, _, err = run_cli(
        capsys, node, "hub", "connected", "sub-x", "--client", "client-0", "--connection", "connection-0",
        "--channel", "transfer", *admin,
    )  # fmt: skip
    assert code == 1 and "PORT:CHANNEL" in err
    code, out, _ = run_cli(
        capsys, node, "hub", "connected", "sub-x", "--client", "client-0", "--connection", "connection-0",
        "--channel", "transfer:channel-0", *admin,
    )  # fmt: skip
    assert code == 1 and "no client client-0" in out
    res = run_cli_json(capsys, node, "hub", "retire", "sub-x", *admin)
    assert [e["type"] for e in res["receipt"]["events"]][-1] == "hub.retired"
    retired = run_cli_json(capsys, node, "hub", "chains", "--status", "retired")
    assert [c["chain_id"] for c in retired["chains"]] == ["sub-x"] and retired["count"] == 1
    code, out, _ = run_cli(capsys, node, "hub", "register", "sub-x", "--org", org, "--genesis-hash", gh, *admin)
    assert code == 1 and "never registered again" in out
