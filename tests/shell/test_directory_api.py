"""The data directory's routes and CLI (ADR 0016 section 4) against a real node on a local port: publish, search
by each filter, update, withdraw, ``show --prove``, the access-request flow, and the refusals."""

from __future__ import annotations

import asyncio
import json
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import msgspec
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from tests.fixtures.chain_sim import SimChain
from tests.fixtures.two_chains import update_client
from tests.unit.test_directory_mirror import Net
from trellis.abci import CommittedView, QueryRequest, QueryResponse
from trellis.api import directory as directory_api
from trellis.api.hexjson import unhex
from trellis.api.openapi import openapi_document
from trellis.api.server import problem_middleware
from trellis.api.types import HeaderJson, StateProofJson, header_from_json, proof_from_json, proof_json
from trellis.cli import directory as directory_cli
from trellis.cli import main as cli_main
from trellis.cli.client import ClientError, NodeClient
from trellis.core.codec import decode
from trellis.core.crypto.suite import ED25519
from trellis.core.ledger.state_tree import StateProof, verify_state_proof
from trellis.core.modules.directory.messages import DirectoryUpdate
from trellis.core.modules.directory.state import mirror_key
from trellis.core.modules.interchain.state import client_key, consensus_key, read_client
from trellis.node.config import InterchainSection
from trellis.node.node import Node

from .conftest import WAIT_S, ThreadedNode, run_cli, run_cli_json, serve_new_home

_ID = re.compile(r"(?:entry|request) (0x[0-9a-f]{64}): tx 0x[0-9a-f]{64} at height \d+: ok")


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedNode]:
    yield from serve_new_home(tmp_path_factory, "directory-home")


@pytest.fixture
def did(node: ThreadedNode, capsys: pytest.CaptureFixture[str]) -> str:
    """A new DID of alice's (each test's entries have their own owner)."""
    return str(run_cli_json(capsys, node, "did", "create", "--from", "alice")["did"])


def cli(capsys: pytest.CaptureFixture[str], node: ThreadedNode, *argv: str) -> str:
    """Run a command that must succeed; return the id it printed (``entry``/``request`` 0x...), else its output."""
    code, out, err = run_cli(capsys, node, *argv)
    assert code == 0, out + err
    m = _ID.search(out)
    return m.group(1) if m else out


def publish(capsys: pytest.CaptureFixture[str], node: ThreadedNode, did: str, title: str, *extra: str) -> str:
    return cli(capsys, node, "directory", "publish", "--owner-did", did, "--title", title, *extra, "--from", "alice")


def search(capsys: pytest.CaptureFixture[str], node: ThreadedNode, *argv: str) -> list[str]:
    res = run_cli_json(capsys, node, "directory", "search", *argv)
    return [e["id"] for e in res["entries"]]


def test_publish_search_update_withdraw(capsys: pytest.CaptureFixture[str], node: ThreadedNode, did: str) -> None:
    chain_id = node.node.params.chain_id
    air = publish(
        capsys, node, did, "Harbour Air Quality, hourly", "--type", "sensor", "--keyword", "pm25",
        "--keyword", "covid-19", "--access", "public", "--licence", "CC-BY-4.0", "--digest", "ab" * 32,
    )  # fmt: skip
    water = publish(capsys, node, did, "Harbour water samples", "--type", "lab", "--access", "on_request")
    both = sorted([air, water])
    assert sorted(search(capsys, node, "--owner", did)) == both
    assert search(capsys, node, "--type", "sensor") == [air]
    assert search(capsys, node, "--q", "PM25") == [air]  # a keyword, any case
    assert search(capsys, node, "--q", "covid-19") == [air]  # a keyword with a hyphen is one word
    assert sorted(search(capsys, node, "--q", "harbour")) == both  # a title word
    assert search(capsys, node, "--q", "harbour quality", "--owner", did) == [air]
    assert sorted(search(capsys, node, "--chain", chain_id)) == both
    assert search(capsys, node, "--chain", "some-other-chain") == []
    first = run_cli_json(capsys, node, "directory", "search", "--owner", did, "--limit", "1")
    assert len(first["entries"]) == 1 and first["next"] == first["entries"][0]["id"]
    rest = search(capsys, node, "--owner", did, "--cursor", first["next"])
    assert [first["entries"][0]["id"], *rest] == both

    shown = run_cli_json(capsys, node, "directory", "show", air)["entry"]
    assert shown["digest"] == "0x" + "ab" * 32 and shown["licence"] == "CC-BY-4.0" and shown["mirrored"] is False
    assert shown["keywords"] == ["pm25", "covid-19"] and shown["access"] == "public" and shown["chain_id"] == chain_id

    cli(capsys, node, "directory", "update", water, "--title", "Harbour water, filtered", "--keyword", "filtered",
        "--from", "alice")  # fmt: skip
    (item,) = run_cli_json(capsys, node, "directory", "search", "--q", "filtered")["entries"]
    assert item["id"] == water and item["version"] == 2 and item["type"] == "lab"  # unchanged fields kept
    assert item["access"] == "on_request"
    versions = run_cli_json(capsys, node, "directory", "versions", water)["versions"]
    assert [(v["version"], v["title"]) for v in versions] == [
        (1, "Harbour water samples"),
        (2, "Harbour water, filtered"),
    ]

    cli(capsys, node, "directory", "withdraw", air, "--reason", "sensor retired", "--from", "alice")
    assert search(capsys, node, "--owner", did) == [water]
    assert search(capsys, node, "--q", "pm25") == []
    gone = run_cli_json(capsys, node, "directory", "show", air)["entry"]
    assert gone["withdrawn"] is True and gone["withdraw_reason"] == "sensor retired" and gone["version"] == 2

    code, out, _ = run_cli(capsys, node, "directory", "update", water, "--title", "mine now", "--from", "bob")
    assert code == 1 and "FAILED" in out  # only the owner


def test_show_prove_verifies_and_catches_a_lie(
    capsys: pytest.CaptureFixture[str], node: ThreadedNode, did: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    ident = publish(capsys, node, did, "Proven dataset", "--type", "proven", "--access", "public")
    code, out, err = run_cli(capsys, node, "directory", "show", ident, "--prove")
    assert code == 0, err
    assert "proof       VERIFIED against block" in out
    body = NodeClient(node.url).get(f"/v1/directory/{ident}?prove=true")
    assert body["proof"]["key"] == "0x" + b"directory/entry/".hex() + ident[2:] and body["home_proof"] is None

    real_get = NodeClient.get

    def lying_get(self: NodeClient, path: str) -> Any:
        res = real_get(self, path)
        if path.startswith("/v1/directory/") and "prove=true" in path:
            res["entry"]["title"] = "Something else"
        return res

    monkeypatch.setattr(NodeClient, "get", lying_get)
    code, out, _ = run_cli(capsys, node, "directory", "show", ident, "--prove")
    assert code == 1 and "NOT VERIFIED: state_proof: the entry shown is not the proven record" in out


def test_access_request_flow(capsys: pytest.CaptureFixture[str], node: ThreadedNode, did: str, tmp_path: Path) -> None:
    entry = publish(capsys, node, did, "Clinical notes", "--type", "ehr", "--access", "credential_required",
                    "--credential-type", "PhysicianCredential")  # fmt: skip
    vp = tmp_path / "vp.json"
    vp.write_text('{"type": "VerifiablePresentation"}')
    req = cli(capsys, node, "directory", "request", entry, "--purpose", "care", "--presentation", str(vp),
              "--from", "bob")  # fmt: skip
    client = NodeClient(node.url)
    rec = client.get(f"/v1/directory/requests/{req}")
    suite = node.node.params.suite
    assert rec["status"] == "pending" and rec["entry_id"] == entry and rec["purpose"] == "care"
    assert rec["presentation_digest"] == "0x" + suite.hash(vp.read_bytes()).hex()
    listed = run_cli_json(capsys, node, "directory", "requests", "--entry", entry)
    assert [r["id"] for r in listed["requests"]] == [req]
    assert [r["id"] for r in run_cli_json(capsys, node, "directory", "requests", "--requester", "bob")["requests"]] == [
        req
    ]
    code, out, _ = run_cli(capsys, node, "directory", "decide", req, "--grant", "--from", "bob")
    assert code == 1 and "FAILED" in out  # only the entry's owner decides
    cli(capsys, node, "directory", "decide", req, "--grant", "--expires-at", str(2**50), "--reason", "ok",
        "--from", "alice")  # fmt: skip
    rec = client.get(f"/v1/directory/requests/{req}")
    assert rec["status"] == "granted" and rec["expires_at_ms"] == 2**50 and rec["decided_height"] > 0
    code, out, err = run_cli(
        capsys, node, "directory", "decide", req, "--refuse", "--expires-at", "5", "--from", "alice"
    )
    assert code == 1 and "a refusal has no expiry" in err


def test_refusals(capsys: pytest.CaptureFixture[str], node: ThreadedNode) -> None:
    client = NodeClient(node.url)
    cases = {
        f"/v1/directory/{'ab' * 32}": (404, "not_found"),
        f"/v1/directory/{'ab' * 32}/versions": (404, "not_found"),
        f"/v1/directory/requests/{'ab' * 32}": (404, "not_found"),
        "/v1/directory/xyz": (400, "bad_id"),
        "/v1/directory?cursor=12": (400, "bad_id"),
        "/v1/directory?limit=101": (400, "bad_parameter"),
        "/v1/directory?limit=0": (400, "bad_parameter"),
        "/v1/directory?owner=nobody": (400, "bad_parameter"),
        "/v1/directory?type=a%20b": (400, "bad_parameter"),
        "/v1/directory?chain=Bad_Chain": (400, "bad_parameter"),
        "/v1/directory?q=the%20of": (400, "bad_parameter"),
        "/v1/directory?q=" + "%20".join(f"wd{chr(97 + i)}" for i in range(9)): (400, "bad_parameter"),
        f"/v1/directory/{'ab' * 32}?prove=maybe": (400, "bad_parameter"),
        "/v1/directory/requests": (400, "bad_parameter"),
        "/v1/directory/requests?requester=0x12": (400, "bad_address"),
        "/v1/directory/requests?entry=zz": (400, "bad_id"),
    }
    for path, (status, code) in cases.items():
        with pytest.raises(ClientError) as info:
            client.get(path)
        assert (info.value.status, info.value.code) == (status, code), (path, info.value.message)
    code, _, err = run_cli(capsys, node, "directory", "show", "0x1234")
    assert code == 1 and "is not 64 hex digits" in err
    code, _, err = run_cli(capsys, node, "directory", "publish", "--owner-did", "did:trellis:x:" + "0" * 32,
                           "--title", "t", "--type", "has space", "--access", "public", "--from", "alice")  # fmt: skip
    assert code == 1 and "not a valid directory entry" in err and "type" in err
    code, _, err = run_cli(capsys, node, "directory", "requests")
    assert code == 1 and "exactly one of --entry and --requester" in err


def test_the_routes_are_in_the_openapi_document() -> None:
    doc = openapi_document()
    assert {
        "/v1/directory",
        "/v1/directory/{id}",
        "/v1/directory/{id}/versions",
        "/v1/directory/requests",
        "/v1/directory/requests/{id}",
    } <= set(doc["paths"])
    assert {"DirectoryPageJson", "DirectoryShowJson", "AccessRequestJson"} <= set(doc["components"]["schemas"])
    assert json.dumps(doc)  # serialisable


# -- a hub's mirror: the hub's proofs and the home chain's, through the hub's client -------------------------------
class _SimApp:
    """The application side of a node whose chain is a ``SimChain`` (the routes read ``reader`` and ``query``)."""

    def __init__(self, chain: SimChain) -> None:
        self.chain = chain
        self.params = chain.params

    def reader(self) -> CommittedView:
        return CommittedView(self.chain.reader(), self.chain.height, self.chain.time_ms)

    def info(self) -> Any:
        return SimpleNamespace(height=self.chain.height)

    def query(self, req: QueryRequest) -> QueryResponse:
        h = self.chain.height if req.height is None else req.height
        return QueryResponse(
            code=0,
            value=self.chain.get(req.key, h),
            height=h,
            proof=decode(self.chain.prove(req.key, h), StateProof),
            header=self.chain.header(h),
        )


def _served_state(chain: SimChain, tamper: bool) -> web.Application:
    """``GET /v1/state/{key}?prove&height=`` of ``chain``, as a node answers it (``tamper``: the value is altered)."""

    async def state(request: web.Request) -> web.Response:
        key = bytes.fromhex(request.match_info["key"])
        height = int(request.query["height"])
        value = chain.get(key, height)
        if tamper and value is not None:
            value = value[:-1] + bytes([value[-1] ^ 1])
        body = {
            "key": "0x" + key.hex(),
            "height": height,
            "value": None if value is None else "0x" + value.hex(),
            "proof_hex": "0x" + chain.prove(key, height).hex(),
        }
        return web.json_response(body)

    app = web.Application()
    app.add_routes([web.get("/v1/state/{key}", state)])
    return app


def hub_get(net: Net, path: str, *, endpoint: bool = True, tamper: bool = False) -> tuple[int, Any]:
    """Serve the sub-chain's state (optionally lying), point the hub's ``[interchain] endpoints`` at it, GET ``path``
    from the hub's directory routes."""

    async def go() -> tuple[int, Any]:
        sub: TestClient[Any, Any] = TestClient(TestServer(_served_state(net.sub, tamper)))
        await sub.start_server()
        try:
            endpoints = {net.sub.chain_id: str(sub.make_url("")).rstrip("/")} if endpoint else {}
            app = _SimApp(net.hub)
            node = SimpleNamespace(
                app=app, params=app.params, config=SimpleNamespace(interchain=InterchainSection(endpoints=endpoints))
            )
            web_app = web.Application(middlewares=[problem_middleware])
            web_app.add_routes(directory_api.routes(cast(Node, node)))
            hub: TestClient[Any, Any] = TestClient(TestServer(web_app))
            await hub.start_server()
            try:
                async with hub.get(path) as resp:
                    return resp.status, msgspec.json.decode(await resp.read())
            finally:
                await hub.close()
        finally:
            await sub.close()

    return asyncio.run(asyncio.wait_for(go(), WAIT_S))


@pytest.fixture(scope="module")
def mirrored() -> tuple[Net, str]:
    net = Net()
    ident = "0x" + net.publish(title="Harbour air quality", keywords=["air"]).hex()
    net.relay()
    return net, ident


def _header_only(args: Any, key: bytes, res: dict[str, Any]) -> bool:
    """``_verify_state_answer`` without the commit certificate (a SimChain serves no commits): the proof must reach
    the state root of the header sent."""
    proof = proof_from_json(msgspec.convert(res["proof"], StateProofJson))
    header = header_from_json(msgspec.convert(res["header"], HeaderJson))
    value = None if res["value"] is None else unhex(res["value"])
    assert unhex(res["key"]) == key
    verify_state_proof(ED25519, key, value, proof, header)
    return value is not None


def test_a_mirror_is_searched_at_the_hub_and_proven_by_both_chains(
    mirrored: tuple[Net, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    net, ident = mirrored
    status, page = hub_get(net, "/v1/directory?chain=sub-1&q=air")
    assert status == 200 and [e["id"] for e in page["entries"]] == [ident]
    (e,) = page["entries"]
    assert e["mirrored"] is True and e["chain_id"] == "sub-1" and e["home_height"] > 0 and e["channel"]
    status, everything = hub_get(net, "/v1/directory")
    assert status == 200 and ident in [x["id"] for x in everything["entries"]]

    status, body = hub_get(net, f"/v1/directory/{ident}?prove=true")
    assert status == 200, body
    home = body["home_proof"]
    against = home["verified_against"]
    client = read_client(net.hub.reader(), against["client_id"])
    assert client is not None and against["chain_id"] == "sub-1" and against["height"] == client.latest_height
    assert against["state_root"] == "0x" + net.sub.header(against["height"]).state_root.hex()
    assert home["entry"]["version"] == 1 and body["mirror_stale"] is False
    assert body["proof"]["key"] == "0x" + mirror_key(unhex(ident)).hex()

    monkeypatch.setattr(cli_main, "_verify_state_answer", _header_only)
    said, proven = directory_cli._check_proof(SimpleNamespace(), unhex(ident), body)
    assert proven["entry"] == body["entry"] and proven["home_proof"]["entry"] == home["entry"]
    assert said.startswith("VERIFIED: the hub's mirror") and "STALE" not in said
    lie = json.loads(json.dumps(body))
    lie["home_proof"]["value"] = lie["proof"]["value"]  # another value under the home chain's proof
    with pytest.raises(cli_main.ProofFailure, match="home_proof"):
        directory_cli._check_proof(SimpleNamespace(), unhex(ident), lie)
    # the same value under a valid proof of another height's state, relabelled with the anchor's height: it reaches
    # another state root than the client's consensus state
    other = decode(net.sub.prove(unhex(home["key"]), net.sub.height), StateProof)
    assert net.sub.header(net.sub.height).state_root != net.sub.header(against["height"]).state_root
    forged = msgspec.structs.replace(other, height=against["height"])
    lie = json.loads(json.dumps(body))
    lie["home_proof"]["proof"] = msgspec.to_builtins(proof_json(forged))
    with pytest.raises(cli_main.ProofFailure, match="does not reach the client's consensus state root"):
        directory_cli._check_proof(SimpleNamespace(), unhex(ident), lie)
    lie = json.loads(json.dumps(body))
    lie["mirror_stale"] = True
    with pytest.raises(cli_main.ProofFailure, match="mirror_stale"):
        directory_cli._check_proof(SimpleNamespace(), unhex(ident), lie)


def test_a_mirror_behind_its_home_chain_is_stale_and_lies_are_refused(mirrored: tuple[Net, str]) -> None:
    net, ident = mirrored
    r = net.sub.submit("alice", DirectoryUpdate(id=unhex(ident), entry=net.fields(title="Harbour noise")))
    assert r.code == 0, r
    update_client(net.hub, net.sub, net.path)  # the hub's client moves on; the announcement is not relayed yet
    status, body = hub_get(net, f"/v1/directory/{ident}?prove=true")
    assert status == 200, body
    assert (
        body["mirror_stale"] is True and body["entry"]["version"] == 1 and body["home_proof"]["entry"]["version"] == 2
    )

    status, body = hub_get(net, f"/v1/directory/{ident}?prove=true", tamper=True)
    assert (status, body["code"]) == (502, "invalid_proof"), body
    status, body = hub_get(net, f"/v1/directory/{ident}?prove=true", endpoint=False)
    assert (status, body["code"]) == (502, "endpoint_unavailable"), body
    status, body = hub_get(net, f"/v1/directory/{ident}")  # without proofs: the mirror as stored, no endpoint needed
    assert status == 200 and body["home_proof"] is None and body["entry"]["version"] == 1

    net.relay()
    status, body = hub_get(net, f"/v1/directory/{ident}?prove=true")
    assert status == 200 and body["mirror_stale"] is False and body["entry"]["title"] == "Harbour noise"


def test_show_prove_refuses_any_field_the_node_altered(
    capsys: pytest.CaptureFixture[str], node: ThreadedNode, did: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every field printed is compared with the proven record: a forged licence (or any other) is refused."""
    ident = publish(
        capsys, node, did, "Every field", "--type", "every", "--access", "credential_required",
        "--credential-type", "token:member", "--licence", "CC-BY-4.0", "--receipt", "r-1", "--location", "s3://x",
    )  # fmt: skip
    cli(capsys, node, "directory", "withdraw", ident, "--reason", "superseded", "--from", "alice")
    real_get = NodeClient.get
    forged = {
        "licence": "MIT",
        "receipt_ref": "r-2",
        "credential_type": "token:other",
        "withdraw_reason": "no reason",
        "nonce": 12345,
        "created_height": 1,
        "updated_height": 2,
        "location": "s3://y",
    }
    for name, value in forged.items():

        def lying_get(self: NodeClient, path: str, name: str = name, value: Any = value) -> Any:
            res = real_get(self, path)
            if path.startswith("/v1/directory/") and "prove=true" in path:
                res["entry"][name] = value
            return res

        monkeypatch.setattr(NodeClient, "get", lying_get)
        code, out, _ = run_cli(capsys, node, "directory", "show", ident, "--prove")
        assert (
            code == 1 and f"NOT VERIFIED: state_proof: the entry shown is not the proven record: {name} differ" in out
        )
    monkeypatch.setattr(NodeClient, "get", real_get)
    res = run_cli_json(capsys, node, "directory", "show", ident, "--prove")
    assert res["verified"] is True and res["entry"]["licence"] == "CC-BY-4.0"
    assert res["entry"]["withdraw_reason"] == "superseded"


def _lie(body: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(json.dumps(body))
    at = out
    for p in path[:-1]:
        at = at[p]
    at[path[-1]] = value
    return out


def _hub_proven(net: Net, key: bytes, height: int) -> Any:
    """The hub's proof of ``key`` at ``height``, as the API renders it."""
    api = directory_api.DirectoryApi(cast(Node, SimpleNamespace(app=_SimApp(net.hub))))
    return msgspec.to_builtins(api._proven(key, height)[1])


def test_a_mirror_answer_is_checked_whole_and_stale_splices_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli_main, "_verify_state_answer", _header_only)
    net = Net()
    ident = "0x" + net.publish(title="Harbour tides", keywords=["tide"]).hex()
    net.relay()
    status, old = hub_get(net, f"/v1/directory/{ident}?prove=true")
    assert status == 200, old
    check = lambda body: directory_cli._check_proof(SimpleNamespace(), unhex(ident), body)  # noqa: E731
    check(old)
    for path, value, named in [
        (("entry", "channel"), "channel-9", "channel"),
        (("entry", "home_height"), 1, "home_height"),
        (("entry", "received_height"), 1, "received_height"),
        (("entry", "licence"), "MIT", "licence"),
        (("home_proof", "entry", "licence"), "MIT", "licence"),
        (("home_proof", "entry", "created_height"), 1, "created_height"),
        (("home_proof", "verified_against", "state_root"), "0x" + "11" * 32, "state_root"),
        (("home_proof", "verified_against", "block_id"), "0x" + "22" * 32, "block_id"),
    ]:
        with pytest.raises(cli_main.ProofFailure, match=f"not the proven record: {named} differ"):
            check(_lie(old, path, value))

    # the home chain moves on (v2), the hub's client follows, the announcement is not relayed: the mirror is stale
    r = net.sub.submit("alice", DirectoryUpdate(id=unhex(ident), entry=net.fields(title="Harbour tides v2")))
    assert r.code == 0, r
    update_client(net.hub, net.sub, net.path)
    status, new = hub_get(net, f"/v1/directory/{ident}?prove=true")
    assert status == 200 and new["mirror_stale"] is True
    said, proven = check(new)
    assert "STALE" in said and proven["mirror_stale"] is True
    said, proven = check(_lie(new, ("mirror_stale",), None))  # the flag is computed here, not taken from the node
    assert proven["mirror_stale"] is True
    # the older answer's home proof spliced into the newer answer, claiming the mirror is current
    splice = _lie(new, ("home_proof",), old["home_proof"])
    splice["mirror_stale"] = False
    with pytest.raises(cli_main.ProofFailure, match="not the mirror's"):
        check(splice)
    # ... with the client and consensus state proven at the mirror's height (the hub still holds the old state)
    height = new["proof"]["height"]
    client_id, old_anchor = (
        old["home_proof"]["verified_against"]["client_id"],
        old["home_proof"]["verified_against"]["height"],
    )
    splice["home_proof"]["client_proof"] = _hub_proven(net, client_key(client_id), height)
    splice["home_proof"]["consensus_proof"] = _hub_proven(net, consensus_key(client_id, old_anchor), height)
    assert splice["home_proof"]["consensus_proof"]["value"] is not None
    with pytest.raises(cli_main.ProofFailure, match="not the client's latest"):
        check(splice)


def test_search_runs_off_the_event_loop_and_a_missing_proof_is_no_crash(
    mirrored: tuple[Net, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    net, ident = mirrored
    real_search = directory_api.reads.search
    threads: list[threading.Thread] = []

    def recording(*a: Any, **kw: Any) -> Any:
        threads.append(threading.current_thread())
        return real_search(*a, **kw)

    monkeypatch.setattr(directory_api.reads, "search", recording)
    status, page = hub_get(net, "/v1/directory?q=air")
    assert status == 200 and ident in [e["id"] for e in page["entries"]]
    assert threads and threads[0] is not threading.main_thread()  # the loop runs in the main thread here

    real_query = _SimApp.query
    monkeypatch.setattr(_SimApp, "query", lambda self, req: msgspec.structs.replace(real_query(self, req), proof=None))
    status, body = hub_get(net, f"/v1/directory/{ident}?prove=true")
    assert (status, body["code"]) == (503, "proof_unavailable"), body


def test_publish_prechecks_name_the_field_before_sending(
    capsys: pytest.CaptureFixture[str], node: ThreadedNode, did: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent: list[Any] = []
    monkeypatch.setattr(cli_main, "submit_and_report", lambda *a: sent.append(a) or 0)
    base = ("directory", "publish", "--owner-did", did, "--title", "t", "--type", "x", "--from", "alice")
    code, out, err = run_cli(capsys, node, *base, "--access", "credential_required")
    assert code != 0 and "needs a credential_type (give --credential-type)" in out + err
    code, out, err = run_cli(capsys, node, *base, "--access", "public", "--credential-type", "token:x")
    assert code != 0 and "credential_type is only for access 3" in out + err
    code, out, err = run_cli(capsys, node, *base, "--access", "public", "--keyword", "ok", "--keyword", "Not OK")
    assert code != 0 and "keywords[1]" in out + err and "$[" not in out + err
    assert sent == []
    assert run_cli(capsys, node, *base, "--access", "public", "--keyword", "ok")[0] == 0 and len(sent) == 1
