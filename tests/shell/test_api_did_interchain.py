"""Cross-chain DID resolution and credential verification (issue acceptance 3; ADR 0015 section 9).

Chain A resolves ``did:trellis:chain-b:<id>`` through its client of chain B: the client's latest consensus state
(height H, state root) is the trust; the values and their state proofs at H come from B's endpoint, which is not
trusted (a tampered value, or a proof of another height, is 502 ``invalid_proof``). Chain B is a ``SimChain``
(real blocks and state tree) served by a tiny aiohttp app that answers ``GET /v1/state/{key}?prove&height=`` as a
node does, or, for credentials with a status list, a real node with its API. Chain A's client records are written
into its state (``ChainA``), as the ``interchain.create_client`` handler would write them.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from tests.fixtures.chain_sim import SimChain
from trellis.api import interchain as interchain_api
from trellis.app.modules.interchain import Anchor, ProvenReader
from trellis.core.crypto.suite import ED25519, address_of
from trellis.core.errors import TrellisError
from trellis.core.modules.credentials.messages import SetIssuer, StatusCreate, StatusSet
from trellis.core.modules.credentials.state import IssuerRecord, issuer_key
from trellis.core.modules.identity.messages import (
    DidCreate,
    DidDocument,
    DidUpdate,
    DidVerificationMethod,
)
from trellis.core.modules.identity.state import did_key
from trellis.core.modules.interchain.messages import CreateClient
from trellis.core.modules.interchain.state import TrustedChain, client_key, trusted_key
from trellis.node.config import InterchainSection
from trellis.vc.issue import issue_credential, status_entry
from trellis.vc.multibase import multikey_encode
from trellis.vc.proofs import CRYPTOSUITES

from . import conftest as shell
from .conftest import WAIT_S, ApiHarness, node_config
from .test_api_credentials import DEGREE, GovernedHarness
from .test_api_interchain import ChainA

DID_ID = bytes(range(16))
DID_B = f"did:trellis:chain-b:{DID_ID.hex()}"
Tamper = Callable[[bytes, bytes | None], bytes | None]


def _doc(public_key: bytes) -> DidDocument:
    vm = DidVerificationMethod(id="key-1", type="Ed25519VerificationKey2020", public_key=public_key)
    return DidDocument(verification_methods=[vm], authentication=["key-1"], assertion_method=["key-1"])


@pytest.fixture(scope="module")
def chain_b() -> SimChain:
    """Chain B: alice's DID (two versions: key-1 = alice, then carol), some blocks after."""
    b = SimChain("chain-b", accounts={"alice": 1000})
    b.advance()
    assert b.submit("alice", DidCreate(document=_doc(b.public_key("alice")), id=DID_ID)).code == 0
    b.advance(2)
    assert b.submit("alice", DidUpdate(did=DID_B, document=_doc(b.public_key("carol")))).code == 0
    b.advance(2)
    return b


def _sim_app(b: SimChain, tamper: Tamper | None, proof_height_shift: int) -> web.Application:
    async def state(request: web.Request) -> web.Response:
        key = bytes.fromhex(request.match_info["key"])
        height = int(request.query["height"])
        value = b.get(key, height)
        proof = b.prove(key, height + proof_height_shift)
        if tamper is not None:
            value = tamper(key, value)
        body = {
            "key": "0x" + key.hex(),
            "height": height,
            "value": None if value is None else "0x" + value.hex(),
            "proof_hex": "0x" + proof.hex(),
        }
        return web.json_response(body)

    app = web.Application()
    app.add_routes([web.get("/v1/state/{key}", state)])
    return app


def chain_a_with_client(b: SimChain, height: int | None = None, **kw: Any) -> ChainA:
    """Chain A with client-0 of chain B at B's ``height`` (default: B's tip), 5 s after that block's time."""
    h = b.height if height is None else height
    header = b.header(h)
    a = ChainA(time_ms=header.time_ms + 5000)
    a.add_client("client-0", "chain-b", latest_height=h, state_root=header.state_root, time_ms=header.time_ms, **kw)
    return a


def resolve_on_a(
    a: ChainA,
    b: SimChain,
    path: str,
    *,
    tamper: Tamper | None = None,
    proof_height_shift: int = 0,
    endpoint: bool = True,
    headers: dict[str, str] | None = None,
    app: web.Application | None = None,
) -> tuple[int, Any]:
    """Serve B (optionally lying, or ``app`` in its place), point A's ``[interchain] endpoints`` at it, and GET
    ``path`` from A."""

    async def go() -> tuple[int, Any]:
        served_b: TestClient[Any, Any] = TestClient(TestServer(app or _sim_app(b, tamper, proof_height_shift)))
        await served_b.start_server()
        try:
            if endpoint:
                a.endpoints["chain-b"] = str(served_b.make_url("")).rstrip("/")
            served_a: TestClient[Any, Any] = TestClient(TestServer(a.web_app()))
            await served_a.start_server()
            try:
                async with served_a.get(path, headers=headers or {}) as resp:
                    return resp.status, msgspec.json.decode(await resp.read())
            finally:
                await served_a.close()
        finally:
            await served_b.close()

    return asyncio.run(asyncio.wait_for(go(), WAIT_S))


def test_a_did_of_another_chain_resolves_from_proven_state(chain_b: SimChain) -> None:
    b = chain_b
    a = chain_a_with_client(b)
    status, body = resolve_on_a(a, b, f"/1.0/identifiers/{DID_B}")
    assert status == 200, body
    assert body["didResolutionMetadata"]["proof"] == {
        "chain_id": "chain-b",
        "height": b.height,
        "client_id": "client-0",
    }
    doc = body["didDocument"]
    assert doc["id"] == DID_B
    assert doc["verificationMethod"][0]["publicKeyMultibase"] == multikey_encode("ed25519", b.public_key("carol"))
    assert body["didDocumentMetadata"]["versionId"] == "2"
    # A past version, and the proofs themselves on request.
    status, v1 = resolve_on_a(a, b, f"/1.0/identifiers/{DID_B}?versionId=1&proof=true")
    assert status == 200, v1
    assert v1["didDocument"]["verificationMethod"][0]["publicKeyMultibase"] == multikey_encode(
        "ed25519", b.public_key("alice")
    )
    sp = v1["didStateProof"]
    assert (sp["chain_id"], sp["height"], sp["client_id"]) == ("chain-b", b.height, "client-0")
    assert sp["state_root"] == "0x" + b.header(b.height).state_root.hex()
    assert "0x" + did_key(DID_ID).hex() in [e["key"] for e in sp["entries"]]
    # The bare document, as a did:trellis resolver of chain B would give it.
    status, bare = resolve_on_a(a, b, f"/1.0/identifiers/{DID_B}", headers={"Accept": "application/did+ld+json"})
    assert status == 200 and bare["id"] == DID_B


def test_the_client_height_decides_what_is_seen(chain_b: SimChain) -> None:
    # A client still at the block of the first version sees version 1 as the latest: the trust is the client's.
    b = chain_b
    first = next(h for h in range(1, b.height + 1) if b.events(h, "identity.did_create"))
    status, body = resolve_on_a(chain_a_with_client(b, first), b, f"/1.0/identifiers/{DID_B}")
    assert status == 200, body
    assert body["didDocumentMetadata"]["versionId"] == "1"
    assert body["didResolutionMetadata"]["proof"]["height"] == first
    # Before the DID existed on B, it is proven absent: notFound.
    status, body = resolve_on_a(chain_a_with_client(b, first - 1), b, f"/1.0/identifiers/{DID_B}")
    assert status == 404 and body["didResolutionMetadata"]["error"] == "notFound", body


def test_a_tampered_value_or_a_proof_of_another_height_is_invalid_proof(chain_b: SimChain) -> None:
    b = chain_b
    a = chain_a_with_client(b)

    def flip(key: bytes, value: bytes | None) -> bytes | None:
        if key != did_key(DID_ID) or value is None:
            return value
        return value[:-1] + bytes([value[-1] ^ 1])

    status, body = resolve_on_a(a, b, f"/1.0/identifiers/{DID_B}", tamper=flip)
    assert status == 502 and body["didResolutionMetadata"]["error"] == "invalid_proof", body

    def hide(key: bytes, value: bytes | None) -> bytes | None:  # claims the DID is absent
        return None if key == did_key(DID_ID) else value

    status, body = resolve_on_a(a, b, f"/1.0/identifiers/{DID_B}", tamper=hide)
    assert status == 502 and body["didResolutionMetadata"]["error"] == "invalid_proof", body
    status, body = resolve_on_a(a, b, f"/1.0/identifiers/{DID_B}", proof_height_shift=-1)
    assert status == 502 and body["didResolutionMetadata"]["error"] == "invalid_proof", body
    # A consensus state with another root (a client of a fork): every value fails.
    forked = chain_a_with_client(b)
    forked.add_client("client-0", "chain-b", latest_height=b.height, time_ms=b.header(b.height).time_ms)
    status, body = resolve_on_a(forked, b, f"/1.0/identifiers/{DID_B}")
    assert status == 502 and body["didResolutionMetadata"]["error"] == "invalid_proof", body


def test_a_frozen_or_expired_client_proves_nothing(chain_b: SimChain) -> None:
    b = chain_b
    frozen = chain_a_with_client(b, frozen_height=b.height)
    status, body = resolve_on_a(frozen, b, f"/1.0/identifiers/{DID_B}")
    assert status == 409 and body["didResolutionMetadata"]["error"] == "client_not_active", body
    expired = chain_a_with_client(b, trusting_period_ms=5000)  # A's tip is 5 s after the consensus state
    status, body = resolve_on_a(expired, b, f"/1.0/identifiers/{DID_B}")
    assert status == 409 and "expired" in body["didResolutionMetadata"]["errorMessage"], body
    expired.time_ms -= 1
    assert resolve_on_a(expired, b, f"/1.0/identifiers/{DID_B}")[0] == 200


def test_an_unknown_chain_a_malformed_id_or_no_endpoint(chain_b: SimChain) -> None:
    b = chain_b
    a = chain_a_with_client(b)
    status, body = resolve_on_a(a, b, f"/1.0/identifiers/did:trellis:chain-c:{DID_ID.hex()}")
    assert status == 404 and body["didResolutionMetadata"]["error"] == "unknown_chain", body
    status, body = resolve_on_a(a, b, "/1.0/identifiers/did:trellis:chain-b:XYZ")
    assert status == 400 and body["didResolutionMetadata"]["error"] == "invalidDid", body
    status, body = resolve_on_a(chain_a_with_client(b), b, f"/1.0/identifiers/{DID_B}", endpoint=False)
    assert status == 502 and body["didResolutionMetadata"]["error"] == "endpoint_unavailable", body


# -- the endpoint's transport ------------------------------------------------------------------------------------
def _dribbling_app(b: SimChain, body_of: Callable[[bytes, int], bytes]) -> web.Application:
    """B's state route sending ``body_of(key, height)`` in 7-byte chunks, 2 ms apart (no Content-Length)."""

    async def state(request: web.Request) -> web.StreamResponse:
        body = body_of(bytes.fromhex(request.match_info["key"]), int(request.query["height"]))
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        for i in range(0, len(body), 7):
            await resp.write(body[i : i + 7])
            await asyncio.sleep(0.002)
        await resp.write_eof()
        return resp

    app = web.Application()
    app.add_routes([web.get("/v1/state/{key}", state)])
    return app


def _proven_body(b: SimChain, key: bytes, height: int) -> bytes:
    value = b.get(key, height)
    return msgspec.json.encode(
        {
            "key": "0x" + key.hex(),
            "height": height,
            "value": None if value is None else "0x" + value.hex(),
            "proof_hex": "0x" + b.prove(key, height).hex(),
        }
    )


def test_an_answer_sent_in_small_delayed_chunks_is_read_whole(chain_b: SimChain) -> None:
    b = chain_b
    app = _dribbling_app(b, lambda key, height: _proven_body(b, key, height))
    status, body = resolve_on_a(chain_a_with_client(b), b, f"/1.0/identifiers/{DID_B}", app=app)
    assert status == 200, body
    assert body["didDocument"]["id"] == DID_B


def test_malformed_json_or_an_oversized_answer_is_endpoint_unavailable(chain_b: SimChain) -> None:
    b = chain_b
    for body_of in (
        lambda key, height: _proven_body(b, key, height)[:-1],
        lambda key, height: b"[1, 2]",
        lambda key, height: b'{"value": null, "proof_hex": "0xzz"}',
        lambda key, height: b" " * (interchain_api.MAX_REMOTE_BYTES + 1),
    ):
        status, body = resolve_on_a(
            chain_a_with_client(b), b, f"/1.0/identifiers/{DID_B}", app=_dribbling_app(b, body_of)
        )
        assert status == 502 and body["didResolutionMetadata"]["error"] == "endpoint_unavailable", body


def _counting_app(served: list[float], stall_s: float) -> web.Application:
    async def state(request: web.Request) -> web.Response:
        served.append(time.monotonic())
        await asyncio.sleep(stall_s)
        return web.json_response({"error": "busy"}, status=503)

    app = web.Application()
    app.add_routes([web.get("/v1/state/{key}", state)])
    return app


def _run_many_keys(b: SimChain, app: web.Application, n: int) -> tuple[list[str], float]:
    """A read of ``n`` keys of B (each failure caught and the read going on, as a credential's checks do) through
    ``run_remote`` against ``app``: the failure codes and the seconds it took."""
    header = b.header(b.height)
    reader = ProvenReader(Anchor("chain-b", "client-0", b.height, header.state_root, ED25519))

    def read_all() -> list[str]:
        codes = []
        for i in range(n):
            try:
                reader.get(b"k/" + bytes([i]))
                codes.append("ok")
            except TrellisError as exc:
                codes.append(exc.code)
        return codes

    async def go() -> tuple[list[str], float]:
        served: TestClient[Any, Any] = TestClient(TestServer(app))
        await served.start_server()
        try:
            started = time.monotonic()
            codes = await interchain_api.run_remote(read_all, {"chain-b": str(served.make_url("")).rstrip("/")})
            return codes, time.monotonic() - started
        finally:
            await served.close()

    return asyncio.run(asyncio.wait_for(go(), WAIT_S))


def test_after_an_endpoint_fails_the_chains_other_keys_fail_at_once(chain_b: SimChain) -> None:
    served: list[float] = []
    codes, _ = _run_many_keys(chain_b, _counting_app(served, 0), 40)
    assert codes == ["endpoint_unavailable"] * 40
    assert len(served) == 1


def test_a_cross_chain_read_has_one_overall_deadline(chain_b: SimChain, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(interchain_api, "REMOTE_DEADLINE_S", 0.5)
    served: list[float] = []
    codes, took = _run_many_keys(chain_b, _counting_app(served, 5), 5)
    assert codes == ["endpoint_unavailable"] * 5
    assert took < 3, took
    assert len(served) == 1


# -- who answers for another chain ---------------------------------------------------------------------------------
def _genuine(b: SimChain, client_id: str = "client-1", **kw: Any) -> ChainA:
    """Chain A pinning B's real genesis hash, a squatter client-0 of another genesis that calls itself chain-b
    (active, created first), and ``client_id`` of the real B."""
    header = b.header(b.height)
    a = ChainA(time_ms=header.time_ms + 5000, genesis_hashes={"chain-b": b.params.genesis_hash.hex()})
    a.add_client("client-0", "chain-b", latest_height=b.height, genesis_hash=b"\x66" * 32, time_ms=header.time_ms)
    a.add_client(
        client_id,
        "chain-b",
        latest_height=b.height,
        state_root=header.state_root,
        time_ms=header.time_ms,
        genesis_hash=b.params.genesis_hash,
        **kw,
    )
    return a


def test_a_client_of_another_genesis_that_calls_itself_the_chain_never_answers(chain_b: SimChain) -> None:
    b = chain_b
    a = _genuine(b)
    status, body = resolve_on_a(a, b, f"/1.0/identifiers/{DID_B}")
    assert status == 200, body
    assert body["didResolutionMetadata"]["proof"]["client_id"] == "client-1"
    # The squatter alone: no client of B's genesis, so nothing answers (409), never the squatter.
    a.delete(client_key("client-1"))
    status, body = resolve_on_a(a, b, f"/1.0/identifiers/{DID_B}")
    assert status == 409 and body["didResolutionMetadata"]["error"] == "client_not_active", body
    assert b.params.genesis_hash.hex() in body["didResolutionMetadata"]["errorMessage"]


def test_governance_trust_decides_the_genesis_over_the_node_config(chain_b: SimChain) -> None:
    b = chain_b
    a = _genuine(b)
    a.genesis_hashes.clear()
    a.put(trusted_key("chain-b"), TrustedChain(genesis_hash=b.params.genesis_hash, added_height=1))
    status, body = resolve_on_a(a, b, f"/1.0/identifiers/{DID_B}")
    assert status == 200 and body["didResolutionMetadata"]["proof"]["client_id"] == "client-1", body
    # Trust of another genesis wins over the operator's pin of B's: the squatter's genesis answers (and fails).
    a.genesis_hashes["chain-b"] = b.params.genesis_hash.hex()
    a.put(trusted_key("chain-b"), TrustedChain(genesis_hash=b"\x66" * 32, added_height=1))
    status, body = resolve_on_a(a, b, f"/1.0/identifiers/{DID_B}")
    assert status == 502 and body["didResolutionMetadata"]["error"] == "invalid_proof", body
    # Neither trusted nor pinned: unknown, and the reason names both ways to know it.
    a.delete(trusted_key("chain-b"))
    a.genesis_hashes.clear()
    status, body = resolve_on_a(a, b, f"/1.0/identifiers/{DID_B}")
    assert status == 404 and body["didResolutionMetadata"]["error"] == "unknown_chain", body
    why = body["didResolutionMetadata"]["errorMessage"]
    assert "interchain/trusted/chain-b" in why and "genesis_hashes" in why


def test_the_active_client_of_the_genesis_with_the_greatest_height_answers(chain_b: SimChain) -> None:
    # A frozen client (e.g. untrusted, then trusted again) is passed over for a fresh one of the same genesis,
    # and of two active ones the higher answers.
    b = chain_b
    a = _genuine(b, "client-3")
    header = b.header(b.height)
    a.add_client("client-2", "chain-b", latest_height=b.height + 9, genesis_hash=b.params.genesis_hash, frozen_height=1)
    a.add_client(
        "client-4",
        "chain-b",
        latest_height=b.height - 1,
        state_root=b.header(b.height - 1).state_root,
        time_ms=header.time_ms,
        genesis_hash=b.params.genesis_hash,
    )
    status, body = resolve_on_a(a, b, f"/1.0/identifiers/{DID_B}")
    assert status == 200 and body["didResolutionMetadata"]["proof"]["client_id"] == "client-3", body
    a.delete(client_key("client-3"))
    status, body = resolve_on_a(a, b, f"/1.0/identifiers/{DID_B}")
    assert status == 200 and body["didResolutionMetadata"]["proof"]["client_id"] == "client-4", body


# -- credentials issued on another chain -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def issuer_chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiHarness]:
    """Chain B as a real node with its API (a governance address, so it can register issuers)."""
    harness = GovernedHarness(tmp_path_factory.mktemp("issuer-chain"))
    try:
        yield harness
    finally:
        harness.close()


def _b_did(b: ApiHarness, signer: Any) -> str:
    vm = DidVerificationMethod(id="key-1", type="Multikey", public_key=signer.public_key)
    doc = DidDocument(verification_methods=[vm], authentication=["key-1"], assertion_method=["key-1"])
    data = b.commit(signer, DidCreate(document=doc))
    assert data["receipt"]["code"] == 0, data
    return f"did:trellis:{b.chain_id}:{data['receipt']['data'][2:]}"


def _client_of(b: ApiHarness, a: ChainA, registry: dict[str, IssuerRecord]) -> ChainA:
    """A (again) with client-0 of B at B's latest block and the given trust registry."""
    header = b.get("/v1/blocks/latest").json()["header"]
    fresh = ChainA(time_ms=header["time_ms"] + 5000, endpoints=a.endpoints)
    fresh.add_client(
        "client-0",
        b.chain_id,
        latest_height=header["height"],
        state_root=bytes.fromhex(header["state_root"][2:]),
        time_ms=header["time_ms"],
    )
    for did_, rec in registry.items():
        fresh.put(issuer_key(did_), rec)
    return fresh


def _verify_on_a(b: ApiHarness, a: ChainA, cred: dict[str, Any]) -> dict[str, Any]:
    """POST the credential to A's verify route, with A's endpoint of B pointing at B's API."""

    async def go() -> dict[str, Any]:
        assert b.client is not None
        a.endpoints[b.chain_id] = str(b.client.make_url("")).rstrip("/")
        served_a: TestClient[Any, Any] = TestClient(TestServer(a.web_app()))
        await served_a.start_server()
        try:
            async with served_a.post("/v1/credentials/verify", data=json.dumps({"credential": cred})) as resp:
                assert resp.status == 200, await resp.read()
                out: dict[str, Any] = msgspec.json.decode(await resp.read())
                return out
        finally:
            await served_a.close()

    return b.runner.run(go(), WAIT_S)


def test_a_credential_issued_on_another_chain_verifies_by_proof_and_its_revocation_is_seen(
    issuer_chain: ApiHarness, tmp_path: Path
) -> None:
    b = issuer_chain
    university = b.alice
    uni = _b_did(b, university)
    controller = address_of(ED25519, university.public_key)
    assert b.commit(b.bob, SetIssuer(did=uni, types=[DEGREE], controller=controller))["receipt"]["code"] == 0
    made = b.commit(university, StatusCreate(list_id="uni-x", size=131072, purpose="revocation", issuer=uni))
    assert made["receipt"]["code"] == 0
    now = b.get("/v1/status").json()["time_ms"]
    cred, _ = issue_credential(
        issuer=uni,
        verification_method=f"{uni}#key-1",
        sign=university.sign,
        cryptosuite=CRYPTOSUITES["eddsa-jcs-2022"],
        types=[DEGREE],
        subject={"id": "did:example:student", "degree": {"type": "BachelorDegree", "name": "BSc"}},
        valid_from_ms=now,
        status=[status_entry("http://b.example", "uni-x", 7, "revocation")],
    )
    registry = {uni: IssuerRecord(did=uni, types=[DEGREE], controller=controller, updated_height=1)}
    a = _client_of(b, ChainA(), registry)
    ok = _verify_on_a(b, a, cred)
    assert ok["verified"], ok["checks"]

    # Not in A's own trust registry: A decides whom it trusts, B's registry does not count.
    untrusted = _verify_on_a(b, _client_of(b, a, {}), cred)
    assert [c["code"] for c in untrusted["checks"] if not c["ok"]] == ["issuer_not_registered"]

    # Revoked on B: seen once A's client has a consensus state after the revocation, not before.
    assert b.commit(university, StatusSet(list_id="uni-x", set_indexes=[7]))["receipt"]["code"] == 0
    assert _verify_on_a(b, a, cred)["verified"]
    revoked = _verify_on_a(b, _client_of(b, a, registry), cred)
    assert [c["code"] for c in revoked["checks"] if not c["ok"]] == ["revoked"], revoked["checks"]

    # A client of B that is frozen proves nothing: the issuer's key is not resolved.
    frozen = _client_of(b, a, registry)
    frozen.add_client("client-0", b.chain_id, latest_height=1, frozen_height=1, time_ms=frozen.time_ms - 1)
    refused = _verify_on_a(b, frozen, cred)
    assert {c["check"]: c.get("code") for c in refused["checks"] if not c["ok"]} == {
        "proof": "client_not_active",
        "status": "client_not_active",
    }


# -- end to end on a real node: the client created by interchain.create_client ------------------------------------
class SimServer:
    """Chain B's proven state over HTTP on a real port (a background thread with its own loop): what chain A's
    node is configured to fetch from. ``tamper`` makes it lie."""

    def __init__(self, b: SimChain) -> None:
        self.tamper: Tamper | None = None
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self.url = ""
        ready = threading.Event()

        async def start() -> None:
            self._runner = web.AppRunner(self._app(b))
            await self._runner.setup()
            site = web.TCPSite(self._runner, "127.0.0.1", 0)
            await site.start()
            host, port = self._runner.addresses[0][:2]
            self.url = f"http://{host}:{port}"

        def main() -> None:
            asyncio.set_event_loop(self._loop)
            self._loop.run_until_complete(start())
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=main, name="sim-chain-b", daemon=True)
        self._thread.start()
        assert ready.wait(WAIT_S), "the sim server did not start"

    def _app(self, b: SimChain) -> web.Application:
        async def state(request: web.Request) -> web.Response:
            key = bytes.fromhex(request.match_info["key"])
            height = int(request.query["height"])
            value = b.get(key, height)
            if self.tamper is not None:
                value = self.tamper(key, value)
            return web.json_response(
                {
                    "key": "0x" + key.hex(),
                    "height": height,
                    "value": None if value is None else "0x" + value.hex(),
                    "proof_hex": "0x" + b.prove(key, height).hex(),
                }
            )

        app = web.Application()
        app.add_routes([web.get("/v1/state/{key}", state)])
        return app

    def close(self) -> None:
        async def stop() -> None:
            if self._runner is not None:
                await self._runner.cleanup()

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(WAIT_S)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(WAIT_S)


class InterchainHarness(ApiHarness):
    """Chain A: a real node whose genesis lets any member create clients (``client_policy = "open"``) and whose
    ``[interchain] endpoints`` names chain B's server."""

    def __init__(self, root: Path, endpoints: dict[str, str], genesis_hashes: dict[str, str]) -> None:
        original = shell.init_home

        def init_open(r: Path, *args: Any, **kwargs: Any) -> Any:
            home = original(r, *args, **kwargs)
            path = r / "genesis.json"
            genesis = json.loads(path.read_text())
            genesis["interchain"] = {"client_policy": "open"}
            path.write_text(json.dumps(genesis, indent=2))
            return home

        shell.init_home = init_open  # type: ignore[assignment]
        try:
            config = msgspec.structs.replace(
                node_config(), interchain=InterchainSection(endpoints=endpoints, genesis_hashes=genesis_hashes)
            )
            super().__init__(root, config)
        finally:
            shell.init_home = original  # type: ignore[assignment]


def test_end_to_end_a_node_resolves_a_did_of_a_chain_it_created_a_client_of(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    # Chain B runs on the wall clock, so chain A's node (which does too) accepts its header as recent.
    b = SimChain("chain-b", accounts={"alice": 1000}, genesis_time_ms=int(time.time() * 1000) - 60_000)
    b.advance()
    assert b.submit("alice", DidCreate(document=_doc(b.public_key("alice")), id=DID_ID)).code == 0
    b.advance()
    # A squatter: a chain of its own (another genesis) that calls itself chain-b, its client created first.
    squat = SimChain("chain-b", accounts={"mallory": 1000}, genesis_time_ms=int(time.time() * 1000) - 60_000)
    squat.advance(b.height + 3)
    server = SimServer(b)
    pinned = {"chain-b": b.params.genesis_hash.hex()}
    a = InterchainHarness(tmp_path_factory.mktemp("chain-a"), {"chain-b": server.url}, pinned)
    try:
        for chain in (squat, b):
            header, commit, _ = chain.encoded_light_block(chain.height)
            created = a.commit(
                a.alice,
                CreateClient(
                    chain_id="chain-b",
                    genesis=chain.genesis_bytes,
                    set_changes=chain.set_changes(chain.height),
                    header=header,
                    commit=commit,
                    trusting_period_ms=86_400_000,
                    max_clock_drift_ms=60_000,
                ),
            )
            assert created["receipt"]["code"] == 0, created["receipt"]
        clients = a.get("/v1/interchain/clients").json()["clients"]
        assert [(c["client_id"], c["chain_id"], c["status"], c["latest_height"]) for c in clients] == [
            ("client-0", "chain-b", "active", squat.height),
            ("client-1", "chain-b", "active", b.height),
        ]
        resp = a.get(f"/1.0/identifiers/{DID_B}")
        body = resp.json()
        assert resp.status == 200, body
        assert body["didDocument"]["id"] == DID_B
        assert body["didResolutionMetadata"]["proof"] == {
            "chain_id": "chain-b",
            "height": b.height,
            "client_id": "client-1",
        }

        server.tamper = lambda key, value: None if key == did_key(DID_ID) else value
        resp = a.get(f"/1.0/identifiers/{DID_B}")
        assert resp.status == 502 and resp.json()["didResolutionMetadata"]["error"] == "invalid_proof", resp.body
    finally:
        a.close()
        server.close()
