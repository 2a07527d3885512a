"""Fixtures for the node-shell tests: deterministic signers, chain parameters, an application over a store,
and running nodes (in-process behind aiohttp's test server, or on a real port in a background thread).

No sleeps: every wait is on a condition or an event, with a bounded timeout.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import msgspec
import pytest
from aiohttp.test_utils import TestClient, TestServer

from trellis.abci import CheckedTx
from trellis.api.server import build_app, serve
from trellis.app.application import TrellisApp
from trellis.cli.main import main
from trellis.core.codec import encode
from trellis.core.crypto.suite import ED25519, address_of
from trellis.core.execution.block import ExecutedBlock
from trellis.core.ledger.tx import SignedTx, TxBody, sign_tx, tx_hash
from trellis.core.modules.payload import Payload
from trellis.core.params import (
    ChainParams,
    Genesis,
    GenesisAccount,
    GenesisLimits,
    GenesisValidator,
    params_from_genesis,
)
from trellis.keys.signer import MemorySigner
from trellis.node.assembly import assemble_node
from trellis.node.config import ApiSection, ConsensusSection, MempoolSection, NodeConfig, NodeSection
from trellis.node.home import init_home
from trellis.node.node import Node
from trellis.node.privval import solo_commit as sign_commit
from trellis.storage.chain_store import ChainStore
from trellis.storage.kv import MemoryStore

T = TypeVar("T")

CHAIN_ID = "shell-test"
GENESIS_TIME_MS = 1_700_000_000_000
ALICE_BALANCE = 1_000_000
WAIT_S = 20.0
"""Upper bound on any wait for a condition (a block, a server starting)."""


# -- keys and transactions ---------------------------------------------------------------------------------------
def make_signer(name: str) -> MemorySigner:
    """A signer whose seed is SHA-256 of ``name`` (stable across runs)."""
    return MemorySigner(hashlib.sha256(name.encode()).digest())


def addr(signer: MemorySigner) -> bytes:
    """The account address of ``signer``."""
    return address_of(ED25519, signer.public_key)


def make_tx(
    signer: MemorySigner, nonce: int, payload: Payload, *, chain_id: str = CHAIN_ID, memo: str = ""
) -> SignedTx:
    """A transaction signed by ``signer``."""
    body = TxBody(chain_id=chain_id, sender=signer.public_key, nonce=nonce, payload=payload, memo=memo)
    return sign_tx(body, signer.sign)


def raw_tx(signer: MemorySigner, nonce: int, payload: Payload, **kw: Any) -> bytes:
    """Canonical bytes of a transaction signed by ``signer``."""
    return encode(make_tx(signer, nonce, payload, **kw))


def checked(signer: MemorySigner, nonce: int, payload: Payload, **kw: Any) -> CheckedTx:
    """A ``CheckedTx`` as the application would admit it (for mempool tests)."""
    tx = make_tx(signer, nonce, payload, **kw)
    raw = encode(tx)
    return CheckedTx(tx=tx, raw=raw, hash=tx_hash(ED25519, raw), sender=addr(signer))


@dataclass(frozen=True)
class Actors:
    validator: MemorySigner
    alice: MemorySigner
    bob: MemorySigner
    carol: MemorySigner


@pytest.fixture(scope="session")
def actors() -> Actors:
    return Actors(
        validator=make_signer("shell-validator"),
        alice=make_signer("shell-alice"),
        bob=make_signer("shell-bob"),
        carol=make_signer("shell-carol"),
    )


def make_params(
    actors: Actors, *, chain_id: str = CHAIN_ID, alice_balance: int = ALICE_BALANCE, **limits: int
) -> ChainParams:
    """Chain parameters: one validator, alice as mint authority and funded, optional size limits."""
    genesis = Genesis(
        chain_id=chain_id,
        genesis_time_ms=GENESIS_TIME_MS,
        validators=[GenesisValidator(name="v0", public_key=actors.validator.public_key.hex(), power=1)],
        mint_authority=addr(actors.alice).hex(),
        accounts=[GenesisAccount(address=addr(actors.alice).hex(), balance=alice_balance)],
        limits=GenesisLimits(**limits),
    )
    return params_from_genesis(genesis)


@pytest.fixture
def params(actors: Actors) -> ChainParams:
    return make_params(actors)


@dataclass
class AppChain:
    """A ``TrellisApp`` driven by hand: admit transactions, build, sign and commit blocks."""

    app: TrellisApp
    validator: MemorySigner
    time_ms: int = GENESIS_TIME_MS

    @property
    def proposer(self) -> bytes:
        return addr(self.validator)

    def build(self, raws: list[bytes]) -> ExecutedBlock:
        """Check ``raws`` and prepare (execute) the next block from them, without committing."""
        self.time_ms += 1000
        return self.app.prepare_proposal([self.app.check_tx(r) for r in raws], self.time_ms, self.proposer)

    def commit(self, executed: ExecutedBlock) -> ExecutedBlock:
        p = self.app.params
        self.app.commit(executed, sign_commit(p.suite, p.chain_id, self.validator, executed))
        return executed

    def commit_txs(self, raws: list[bytes]) -> ExecutedBlock:
        """Build the next block from ``raws`` and commit it."""
        return self.commit(self.build(raws))


def make_app_chain(params: ChainParams, actors: Actors, kv: Any = None) -> AppChain:
    store = ChainStore(kv if kv is not None else MemoryStore())
    return AppChain(app=TrellisApp(params, store), validator=actors.validator)


@pytest.fixture
def chain(params: ChainParams, actors: Actors) -> AppChain:
    return make_app_chain(params, actors)


# -- running code on an event loop ----------------------------------------------------------------------------
def run(coro: Coroutine[Any, Any, T], timeout: float = WAIT_S) -> T:
    """Run ``coro`` on a fresh event loop, bounded by ``timeout`` seconds."""
    return asyncio.run(asyncio.wait_for(coro, timeout))


class LoopRunner:
    """One event loop kept across calls, so a node started in it keeps its tasks between tests."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = WAIT_S) -> T:
        return self.loop.run_until_complete(asyncio.wait_for(coro, timeout))

    def close(self) -> None:
        self.loop.run_until_complete(self.loop.shutdown_default_executor())
        self.loop.close()


def node_config(
    *,
    block_interval_ms: int = 1,
    empty_block_interval_ms: int = 3_600_000,
    max_body_bytes: int = 256 * 1024,
    mempool_max_txs: int = 10_000,
) -> NodeConfig:
    """A test configuration: API on a free port, fast blocks, empty blocks rarely (heights move only with txs)."""
    return NodeConfig(
        node=NodeSection(verifier_workers=2),
        api=ApiSection(port=0, max_body_bytes=max_body_bytes),
        consensus=ConsensusSection(
            block_interval_ms=block_interval_ms, empty_block_interval_ms=empty_block_interval_ms
        ),
        mempool=MempoolSection(max_txs=mempool_max_txs),
    )


@dataclass
class Response:
    status: int
    content_type: str
    body: bytes

    def json(self) -> Any:
        return msgspec.json.decode(self.body)


class ApiHarness:
    """A node assembled from an initialised home, served in-process by aiohttp's test server."""

    def __init__(self, root: Path, config: NodeConfig) -> None:
        self.root = root
        home = init_home(root)
        self.runner = LoopRunner()
        self.node: Node = assemble_node(root, config)
        self.alice = home.keys.signer("alice")
        self.bob = home.keys.signer("bob")
        self.client: TestClient[Any, Any] | None = None
        try:
            self.runner.run(self._start())
        except BaseException:
            self.close()
            raise

    @property
    def chain_id(self) -> str:
        return self.node.params.chain_id

    async def _start(self) -> None:
        await self.node.start()
        self.client = TestClient(TestServer(build_app(self.node)))
        await self.client.start_server()

    async def _stop(self) -> None:
        if self.client is not None:
            await self.client.close()
        await self.node.stop()

    def close(self) -> None:
        try:
            self.runner.run(self._stop())
        finally:
            self.runner.close()
            self.node.close()

    # -- requests ------------------------------------------------------------------------------------------------
    async def _request(self, method: str, path: str, **kw: Any) -> Response:
        assert self.client is not None
        async with self.client.request(method, path, **kw) as resp:
            body = await resp.read()
            return Response(resp.status, resp.content_type, body)

    def request(self, method: str, path: str, timeout: float = WAIT_S, **kw: Any) -> Response:
        return self.runner.run(self._request(method, path, **kw), timeout)

    def get(self, path: str, **kw: Any) -> Response:
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> Response:
        return self.request("POST", path, **kw)

    def submit(self, raw: bytes, *, wait: bool = True) -> Response:
        q = "?wait=commit&timeout=20" if wait else ""
        return self.post("/v1/txs" + q, data=raw, headers={"Content-Type": "application/octet-stream"})

    def next_nonce(self, signer: MemorySigner) -> int:
        return self.node.mempool.next_nonce(addr(signer))

    def tx(self, signer: MemorySigner, payload: Payload, *, nonce: int | None = None, **kw: Any) -> bytes:
        """Canonical bytes of a transaction for this chain, by default with the signer's next nonce."""
        n = self.next_nonce(signer) if nonce is None else nonce
        kw.setdefault("chain_id", self.chain_id)
        return raw_tx(signer, n, payload, **kw)

    def commit(self, signer: MemorySigner, payload: Payload, **kw: Any) -> dict[str, Any]:
        """Submit a transaction, wait for its commit and return the committed status."""
        resp = self.submit(self.tx(signer, payload, **kw))
        assert resp.status == 200, resp.body
        data: dict[str, Any] = resp.json()
        assert data["status"] == "committed"
        return data


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiHarness]:
    """A running node with its API (shared by a module's tests; each test reads its own before/after)."""
    harness = ApiHarness(tmp_path_factory.mktemp("api-home"), node_config())
    try:
        yield harness
    finally:
        harness.close()


class ThreadedNode:
    """A node and its API on a real TCP port, served by a background thread running its own event loop."""

    def __init__(self, root: Path, config: NodeConfig) -> None:
        self.root = root
        self.node = assemble_node(root, config)
        self._loop = asyncio.new_event_loop()
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self.url = ""
        self._thread = threading.Thread(target=self._main, name="trellis-test-node", daemon=True)
        self._thread.start()
        if not self._ready.wait(WAIT_S) or self._error is not None:
            self.close()
            raise RuntimeError(f"node did not start: {self._error!r}")

    def _main(self) -> None:
        asyncio.set_event_loop(self._loop)

        async def main() -> None:
            self._stop = asyncio.Event()

            def on_ready(url: str) -> None:
                self.url = url
                self._ready.set()

            await serve(self.node, self._stop, on_ready)

        try:
            self._loop.run_until_complete(main())
        except BaseException as exc:
            self._error = exc
            self._ready.set()
        finally:
            self._loop.run_until_complete(self._loop.shutdown_default_executor())
            self._loop.close()

    def close(self) -> None:
        if self._stop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(WAIT_S)
        assert not self._thread.is_alive(), "node thread did not stop"
        self.node.close()


def serve_new_home(
    tmp_path_factory: pytest.TempPathFactory, name: str, *, permissioned: bool = False
) -> Iterator[ThreadedNode]:
    """A fresh ``init_home`` in a new temporary folder ``name``, served by a ThreadedNode; closed when the generator
    is (a fixture body: ``yield from serve_new_home(...)``)."""
    root = tmp_path_factory.mktemp(name)
    init_home(root, permissioned=permissioned)
    tn = ThreadedNode(root, node_config())
    try:
        yield tn
    finally:
        tn.close()


@pytest.fixture(scope="module")
def threaded_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedNode]:
    yield from serve_new_home(tmp_path_factory, "cli-home")


def run_cli(capsys: pytest.CaptureFixture[str], node: ThreadedNode, *argv: str) -> tuple[int, str, str]:
    """Run ``trellis ARGV --home <node's home> --node <node's URL>`` in-process: (exit code, stdout, stderr)."""
    capsys.readouterr()
    code = main([*argv, "--home", str(node.root), "--node", node.url])
    out, err = capsys.readouterr()
    return code, out, err


def run_cli_json(capsys: pytest.CaptureFixture[str], node: ThreadedNode, *argv: str) -> Any:
    """``run_cli`` with ``--json``: asserts exit code 0 (stderr as the message) and returns the parsed stdout."""
    code, out, err = run_cli(capsys, node, *argv, "--json")
    assert code == 0, err
    return json.loads(out)
