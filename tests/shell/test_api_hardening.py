"""The REST API under hostile or unlucky input: memory stays bounded, bodies are bounded in size and time,
storage failures are 5xx, a 202 means what the API promises, and the answers conform to the OpenAPI document."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import os
import random
import re
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from urllib.parse import quote

import pytest
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trellis.abci import CheckedTx
from trellis.api.openapi import openapi_document
from trellis.api.server import MAX_URL_BYTES, build_app
from trellis.core.errors import InvalidTransaction
from trellis.core.ledger.state_tree import MissingNode
from trellis.core.modules.kv.messages import KvPut
from trellis.node.assembly import assemble_node
from trellis.node.home import init_home
from trellis.node.mempool import Mempool
from trellis.storage.kv import StorageError

from .conftest import (
    Actors,
    ApiHarness,
    AppChain,
    checked,
    make_signer,
    node_config,
    raw_tx,
    run,
)

MEDIA = "application/x-trellis-txs"


# -- memory: refusals are values that keep nothing alive ---------------------------------------------------------
@pytest.fixture
def no_cyclic_gc() -> Iterator[None]:
    """The cyclic collector off, as good as the node's rarely-running tuned one (``gc_tuning``)."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _live_refusals() -> int:
    return sum(1 for o in gc.get_objects() if isinstance(o, InvalidTransaction))


def _junk(n: int, seed: int) -> list[bytes]:
    rnd = random.Random(seed)
    return [rnd.randbytes(rnd.randrange(1, 300)) for _ in range(n)]


def _assert_detached(results: list[CheckedTx | InvalidTransaction]) -> None:
    for r in results:
        if isinstance(r, InvalidTransaction):
            assert r.__traceback__ is None and r.__cause__ is None and r.__context__ is None, r


def test_a_junk_batch_leaves_no_refusal_alive_once_its_answer_is_dropped(chain: AppChain, no_cyclic_gc: None) -> None:
    before = _live_refusals()
    for seed in range(3):
        results = chain.app.check_txs(_junk(2000, seed))
        assert all(isinstance(r, InvalidTransaction) for r in results)
        _assert_detached(results)
        del results
    assert _live_refusals() == before


def test_refusals_of_every_admission_rule_carry_no_traceback(chain: AppChain, actors: Actors) -> None:
    other_chain = raw_tx(make_signer("x"), 0, KvPut(namespace="n", key=b"k", value=b"v"), chain_id="elsewhere")
    forged = bytearray(raw_tx(actors.alice, 0, KvPut(namespace="n", key=b"k", value=b"v")))
    forged[-1] ^= 1
    good = raw_tx(actors.alice, 0, KvPut(namespace="n", key=b"k", value=b"v"))
    big = b"\x00" * (chain.app.params.limits.max_tx_bytes + 1)
    results = chain.app.check_txs([b"\x92junk", other_chain, bytes(forged), good, big], known={_hash_of(chain, good)})
    assert [r.code for r in results if isinstance(r, InvalidTransaction)] == [
        "malformed",
        "wrong_chain_id",
        "bad_signature",
        "duplicate",
        "too_large",
    ]
    _assert_detached(results)


def _hash_of(chain: AppChain, raw: bytes) -> bytes:
    return chain.app.check_tx(raw).hash


def test_mempool_refusals_of_a_batch_keep_nothing_alive(actors: Actors, no_cyclic_gc: None) -> None:
    pool = Mempool(lambda _a: 0, max_txs=10, max_bytes=1 << 20)
    txs = [checked(actors.alice, 0, KvPut(namespace="n", key=b"%d" % i, value=b"v")) for i in range(50)]
    before = _live_refusals()
    refusals = pool.add_many(txs)
    assert [r is None for r in refusals].count(True) == 1
    assert all(r is None or (r.__traceback__ is None and r.__context__ is None) for r in refusals)
    del refusals
    assert _live_refusals() == before


# -- a harness with a short body timeout, and raw HTTP ---------------------------------------------------------
BODY_TIMEOUT_S = 0.5


class HardenedHarness(ApiHarness):
    """``ApiHarness`` with a short body timeout, and a way to speak raw HTTP to it."""

    async def _start(self) -> None:
        await self.node.start()
        self.client = TestClient(TestServer(build_app(self.node, body_timeout_s=BODY_TIMEOUT_S)))
        await self.client.start_server()

    async def _raw(self, head: bytes, body_parts: list[bytes], pause_s: float) -> tuple[int, dict[str, str], bytes]:
        assert self.client is not None
        reader, writer = await asyncio.open_connection(self.client.server.host, self.client.server.port)

        async def send() -> None:
            with contextlib.suppress(ConnectionError):
                writer.write(head)
                for part in body_parts:
                    writer.write(part)
                    await writer.drain()
                    if pause_s:
                        await asyncio.sleep(pause_s)  # the client is slow on purpose: this is the input under test

        sending = asyncio.create_task(send())  # the answer is read while the body is still being sent
        try:
            status_line = await reader.readline()
            headers: dict[str, str] = {}
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode().partition(":")
                headers[name.strip().lower()] = value.strip()
            rest = await reader.read()  # to EOF: the server closes the connection
            return int(status_line.split()[1]), headers, rest
        finally:
            sending.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sending
            writer.close()

    def raw(
        self, head: bytes, body_parts: Sequence[bytes] = (), pause_s: float = 0.0
    ) -> tuple[int, dict[str, str], bytes]:
        """Send ``head`` and ``body_parts`` (``pause_s`` between parts); return status, headers and the body read
        until the server closes the connection."""
        return self.runner.run(self._raw(head, list(body_parts), pause_s), timeout=10.0)


@pytest.fixture(scope="module")
def hardened(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HardenedHarness]:
    harness = HardenedHarness(tmp_path_factory.mktemp("hardened"), node_config())
    try:
        yield harness
    finally:
        harness.close()


def _problem(status: int, headers: dict[str, str], body: bytes, want_status: int, code: str) -> None:
    assert status == want_status, (status, body)
    assert headers["content-type"].startswith("application/problem+json"), headers
    doc = json.loads(body)
    assert doc["status"] == want_status and doc["code"] == code, doc


# -- item 2: body size and time ----------------------------------------------------------------------------------
def test_a_declared_body_over_the_routes_limit_is_refused_before_it_is_sent(hardened: HardenedHarness) -> None:
    head = (
        b"POST /v1/txs/batch HTTP/1.1\r\nHost: t\r\nContent-Type: application/x-trellis-txs\r\n"
        b"Content-Length: 300000000\r\n\r\n"
    )
    t0 = time.monotonic()
    status, headers, body = hardened.raw(head, [b"\x00" * 1024])
    _problem(status, headers, body, 413, "body_too_large")
    assert time.monotonic() - t0 < BODY_TIMEOUT_S  # answered at once, not after a timeout


def test_a_body_that_stops_arriving_is_answered_408_and_the_connection_closed(hardened: HardenedHarness) -> None:
    head = b"POST /v1/txs HTTP/1.1\r\nHost: t\r\nContent-Type: application/octet-stream\r\nContent-Length: 2000\r\n\r\n"
    before = len(hardened.node.mempool)
    status, headers, body = hardened.raw(head, [b"\x00" * 1000])
    _problem(status, headers, body, 408, "body_timeout")
    assert len(hardened.node.mempool) == before


def test_a_body_that_trickles_past_the_timeout_is_refused(hardened: HardenedHarness) -> None:
    """Bytes keep coming, but the body as a whole is late: still 408 (a total deadline, not idleness)."""
    head = b"POST /v1/txs HTTP/1.1\r\nHost: t\r\nContent-Type: application/octet-stream\r\nContent-Length: 100\r\n\r\n"
    status, headers, body = hardened.raw(head, [b"\x00"] * 99, pause_s=BODY_TIMEOUT_S / 4)
    _problem(status, headers, body, 408, "body_timeout")


def test_a_stalled_upload_is_refused_and_stores_nothing(hardened: HardenedHarness) -> None:
    blob_dir = hardened.root / "blobs"
    files_before = sum(1 for p in blob_dir.rglob("*") if p.is_file()) if blob_dir.exists() else 0
    head = b"PUT /v1/blobs HTTP/1.1\r\nHost: t\r\nContent-Type: application/octet-stream\r\nContent-Length: 5000000\r\n\r\n"
    status, headers, body = hardened.raw(head, [os.urandom(2_000_000)])
    _problem(status, headers, body, 408, "body_timeout")
    assert (sum(1 for p in blob_dir.rglob("*") if p.is_file()) if blob_dir.exists() else 0) == files_before


def test_a_slow_but_steady_upload_is_not_cut_off(hardened: HardenedHarness) -> None:
    """Uploads stream: their timeout is one of idleness, so an upload longer than the timeout still lands."""
    parts = [os.urandom(1000) for _ in range(6)]
    head = (
        b"PUT /v1/blobs HTTP/1.1\r\nHost: t\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n"
        b"Content-Length: 6000\r\n\r\n"
    )
    status, _headers, body = hardened.raw(head, parts, pause_s=BODY_TIMEOUT_S / 3)
    assert status == 201, body
    assert json.loads(body)["size"] == 6000


# -- item 5: OpenAPI conformance --------------------------------------------------------------------------------
def test_an_empty_upload_is_refused_and_stores_nothing(hardened: HardenedHarness) -> None:
    resp = hardened.request("PUT", "/v1/blobs", data=b"")
    assert resp.status == 400 and resp.content_type == "application/problem+json", resp.body
    assert resp.json()["code"] == "empty_upload"


def test_a_method_not_allowed_names_the_allowed_ones(hardened: HardenedHarness) -> None:
    status, headers, body = hardened.raw(b"DELETE /v1/txs/batch HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    _problem(status, headers, body, 405, "method_not_allowed")
    assert "POST" in headers["allow"].split(","), headers


@pytest.mark.parametrize("length", [8 * 1024, 20 * 1024])
def test_an_over_long_url_is_refused_as_problem_details(hardened: HardenedHarness, length: int) -> None:
    path = "/v1/accounts/" + "a" * length
    status, headers, body = hardened.raw(f"GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".encode())
    _problem(status, headers, body, 414, "uri_too_long")


def test_a_long_url_within_the_limit_is_answered_by_its_route(hardened: HardenedHarness) -> None:
    path = "/v1/accounts/" + "a" * 8000
    status, headers, body = hardened.raw(f"GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".encode())
    _problem(status, headers, body, 400, "bad_address")


# -- item 3: a failing store is the node's failure (5xx), never the client's (4xx) -------------------------------
def _fail_commits(harness: ApiHarness) -> None:
    def commit_block(*_a: object, **_k: object) -> None:
        raise StorageError("no space left on device (injected)")

    harness.node.app.store.commit_block = commit_block  # type: ignore[method-assign]


def test_a_storage_failure_during_commit_is_answered_503_never_4xx(tmp_path: Path) -> None:
    api = ApiHarness(tmp_path / "home", node_config())
    try:
        _fail_commits(api)
        raw = api.tx(api.alice, KvPut(namespace="n", key=b"k", value=b"v"))
        resp = api.post(
            "/v1/txs?wait=commit&timeout=10", data=raw, headers={"Content-Type": "application/octet-stream"}
        )
        assert resp.status == 503 and resp.content_type == "application/problem+json", resp.body
        assert resp.json()["code"] in ("storage_error", "node_failed")
        assert api.node.failure is not None
        # The node must stop now: it admits nothing more, and says why.
        again = api.submit(api.tx(api.alice, KvPut(namespace="n", key=b"k2", value=b"v"), nonce=1), wait=False)
        assert again.status == 503 and again.json()["code"] == "node_failed", again.body
    finally:
        api.close()


def test_a_client_waiting_for_a_commit_is_answered_503_as_soon_as_a_commit_fails(tmp_path: Path) -> None:
    """The block is built on a timer, not in the submitting request: the waiting client is woken by the failure
    (not left to its timeout) and told the node failed."""
    api = ApiHarness(tmp_path / "home", node_config(block_interval_ms=2_000))  # the first block waits 2 s
    try:
        _fail_commits(api)
        raw = api.tx(api.alice, KvPut(namespace="n", key=b"k", value=b"v"))
        t0 = time.monotonic()
        resp = api.post(
            "/v1/txs?wait=commit&timeout=60", data=raw, headers={"Content-Type": "application/octet-stream"}
        )
        assert resp.status == 503 and resp.content_type == "application/problem+json", resp.body
        assert resp.json()["code"] in ("node_failed", "storage_error")
        assert time.monotonic() - t0 < 15.0  # woken by the failure, long before its 60 s
    finally:
        api.close()


def test_a_storage_failure_on_a_read_is_answered_503(
    hardened: HardenedHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    def account(_address: bytes) -> None:
        raise StorageError("I/O error (injected)")

    monkeypatch.setattr(hardened.node.app, "account", account)
    resp = hardened.get("/v1/accounts/0x" + "11" * 20)
    assert resp.status == 503 and resp.content_type == "application/problem+json", resp.body
    assert resp.json()["code"] == "storage_error"


def test_a_damaged_state_store_is_answered_500_never_4xx(
    hardened: HardenedHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    def query(_req: object) -> None:
        raise MissingNode("state tree node 00 is not in the store (injected)")

    monkeypatch.setattr(hardened.node.app, "query", query)
    resp = hardened.get("/v1/state/0x6b")
    assert resp.status == 500 and resp.content_type == "application/problem+json", resp.body
    assert resp.json()["code"] == "store_damaged"


# -- item 4: what a 202 promises, kept through a graceful stop ---------------------------------------------------
def test_a_stopping_node_refuses_transactions_with_503_and_admits_nothing(tmp_path: Path) -> None:
    api = ApiHarness(tmp_path / "home", node_config())
    try:
        api.node.close_admission()
        raw = api.tx(api.alice, KvPut(namespace="n", key=b"k", value=b"v"))
        one = api.submit(raw, wait=False)
        many = api.post("/v1/txs/batch", data=len(raw).to_bytes(4, "big") + raw, headers={"Content-Type": MEDIA})
        for resp in (one, many):
            assert resp.status == 503 and resp.content_type == "application/problem+json", resp.body
            assert resp.json()["code"] == "shutting_down"
        assert len(api.node.mempool) == 0
    finally:
        api.close()


class RecordingTransport:
    """A peer network that records what the node broadcasts until it is stopped."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []
        self.stopped = False
        self.on_frame: object = None
        self.on_peer_connected: object = None
        self.on_peer_disconnected: object = None

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        self.stopped = True

    def send(self, peer_id: str, frame: bytes) -> bool:
        return False

    def broadcast(self, frame: bytes) -> None:
        if not self.stopped:
            self.sent.append(frame)

    def connected_peers(self) -> list[str]:
        return []

    def disconnect(self, peer_id: str, reason: str) -> None:
        pass


def test_a_graceful_stop_spreads_every_acknowledged_transaction_before_the_network_stops(tmp_path: Path) -> None:
    home = init_home(tmp_path / "home")
    node = assemble_node(tmp_path / "home", node_config(block_interval_ms=60_000))  # no proposal (and flush) meanwhile
    transport = RecordingTransport()
    node.transport = transport  # type: ignore[assignment]
    alice = home.keys.signer("alice")

    async def scenario() -> bytes:
        await node.start()
        assert node.driver is not None
        node.driver.tx_gossip_delay_ms = 3_600_000  # the stop comes before the batch flush would
        raw = raw_tx(alice, 0, KvPut(namespace="n", key=b"k", value=b"v"), chain_id=node.params.chain_id)
        node.submit(raw)  # what the API answers 202
        await node.stop()
        return raw

    try:
        raw = run(scenario())
    finally:
        node.close()
    assert any(raw in frame for frame in transport.sent), "an acknowledged transaction was never spread"


def test_a_batch_being_checked_when_the_stop_begins_is_admitted_and_spread_before_the_network_stops(
    tmp_path: Path,
) -> None:
    home = init_home(tmp_path / "home")
    node = assemble_node(tmp_path / "home", node_config(block_interval_ms=60_000))  # no proposal (and flush) meanwhile
    transport = RecordingTransport()
    node.transport = transport  # type: ignore[assignment]
    alice = home.keys.signer("alice")
    chain_id = node.params.chain_id
    raws = [raw_tx(alice, n, KvPut(namespace="n", key=b"%d" % n, value=b"v"), chain_id=chain_id) for n in range(50)]

    async def scenario() -> list[CheckedTx | InvalidTransaction]:
        await node.start()
        assert node.driver is not None
        node.driver.tx_gossip_delay_ms = 3_600_000  # the stop comes before the batch flush would
        checking = asyncio.create_task(node.submit_batch(raws))
        await asyncio.sleep(0)  # the batch is now being checked
        await node.stop()
        return await checking

    try:
        results = run(scenario())
    finally:
        node.close()
    assert all(isinstance(r, CheckedTx) for r in results)  # what the API answers 202 with 50 accepted
    spread = b"".join(transport.sent)
    assert all(raw in spread for raw in raws), "an acknowledged transaction was never spread"


# -- item 5: path parameters have patterns, and the handlers hold to them ----------------------------------------
BAD_CODE = {
    "hash": "bad_hash",
    "ref": "bad_block_ref",
    "address": "bad_address",
    "key": "bad_key",
    "namespace": "bad_namespace",
    "file_id": "bad_file_id",
    "digest": "bad_digest",
}
"""What a handler answers (400) for a path parameter that does not match its pattern."""
FILLER = {"namespace": "ns", "key": "6b"}
"""A matching value for the other path parameter of a route with two."""


def _path_params() -> list[tuple[str, str, str, str]]:
    """(path template, method, parameter, pattern) of every path parameter in the OpenAPI document."""
    out = []
    for path, item in openapi_document()["paths"].items():
        for method, op in item.items():
            for p in op.get("parameters", []):
                if p["in"] == "path":
                    out.append((path, method, p["name"], p["schema"].get("pattern", "")))
    return out


def test_every_path_parameter_in_the_openapi_document_has_a_pattern() -> None:
    params = _path_params()
    assert len(params) >= 15
    missing = [(path, name) for path, _m, name, pattern in params if not pattern]
    assert missing == []


def _fill(template: str, name: str, value: str) -> str:
    path = template.replace("{" + name + "}", quote(value, safe=""))
    for other, filler in FILLER.items():
        path = path.replace("{" + other + "}", filler)
    return path


_ENFORCED = [(path, method, name, pattern) for path, method, name, pattern in _path_params() if name in BAD_CODE]
_segment_text = st.text(
    # Without '/', '{', '}': aiohttp routes no segment holding them to these handlers (404 not_found).
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="/{}"),
    min_size=1,
    max_size=80,
).filter(lambda t: t not in (".", ".."))


def _near_miss(pattern: str) -> st.SearchStrategy[str]:
    """A value matching ``pattern`` with one character inserted or replaced (a space, a tab, a non-hex letter,
    a digit, a newline): mostly values that no longer match, the way a parser too lenient would take them."""

    def edit(args: tuple[str, int, str, bool]) -> str:
        value, at, char, replace = args
        i = at % (len(value) + 1)
        return value[:i] + char + value[i + 1 if replace else i :]

    chars = st.sampled_from([" ", "\t", "g", "0", "\n", "x"])
    return st.tuples(st.from_regex(pattern, fullmatch=True), st.integers(0, 2**16), chars, st.booleans()).map(edit)


@settings(max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.data_too_large])
@given(data=st.data())
def test_path_parameters_are_refused_exactly_when_they_do_not_match_their_pattern(
    hardened: HardenedHarness, data: st.DataObject
) -> None:
    template, method, name, pattern = data.draw(st.sampled_from(_ENFORCED))
    if name == "key" and template.startswith("/v1/kv/"):
        pattern = "^(0[xX])?([0-9a-fA-F]{2}){1,256}$"  # with key_encoding=hex: the bytes of the key in hex
    value = data.draw(st.one_of(st.from_regex(pattern, fullmatch=True), _near_miss(pattern), _segment_text))
    query = "?key_encoding=hex" if template.startswith("/v1/kv/") else ""
    body = b'{"method": "get", "args": "0x"}' if method == "post" else None
    resp = hardened.request(method.upper(), _fill(template, name, value) + query, data=body)
    matches = re.fullmatch(pattern, value) is not None
    if matches:
        assert resp.status < 500, (template, value, resp.body)
        if resp.status >= 400:
            assert resp.content_type == "application/problem+json"
            assert resp.json()["code"] != BAD_CODE[name], (template, value, resp.body)
    else:
        assert resp.status == 400, (template, value, resp.status, resp.body)
        assert resp.content_type == "application/problem+json"
        assert resp.json()["code"] == BAD_CODE[name], (template, value, resp.body)


@pytest.mark.parametrize(
    ("target", "status", "code"),
    [
        ("/v1/state/ab%20cd", 400, "bad_key"),  # bytes.fromhex alone takes spaces between bytes
        ("/v1/kv/ns/ab%20cd?key_encoding=hex", 400, "bad_key"),
        ("/v1/notary/records/" + "ab" * 30 + "%20ab%20", 400, "bad_digest"),
        ("/v1/txs/" + "ab" * 32 + "%0A", 400, "bad_hash"),  # a trailing newline, which `$` would take
        ("/v1/accounts/0X" + "ab" * 20, 200, ""),  # 0X is in the pattern, so it is taken
        ("/v1/blobs/0X" + "ab" * 32, 404, "file_not_found"),
    ],
)
def test_lenient_parser_traps_are_answered_by_the_pattern(
    hardened: HardenedHarness, target: str, status: int, code: str
) -> None:
    resp = hardened.get(target)
    assert resp.status == status, resp.body
    if code:
        assert resp.content_type == "application/problem+json" and resp.json()["code"] == code, resp.body


@settings(max_examples=40, deadline=None, database=None)
@given(length=st.integers(min_value=1, max_value=3 * 8192), char=st.sampled_from("a0%~"))
def test_a_url_is_refused_414_exactly_when_it_is_over_the_limit(
    hardened: HardenedHarness, length: int, char: str
) -> None:
    prefix = "/v1/kv/ns/"
    tail = (quote(char, safe="") * length)[: max(1, length - len(prefix))]
    target = prefix + tail
    resp = hardened.get(target)
    if len(target.encode()) > MAX_URL_BYTES:
        assert resp.status == 414 and resp.content_type == "application/problem+json", resp.status
        assert resp.json()["code"] == "uri_too_long"
    else:
        assert resp.status in (200, 400), resp.body
        assert resp.content_type in ("application/json", "application/problem+json")
        if resp.status == 400:
            assert resp.json()["code"] == "bad_key"


@settings(max_examples=40, deadline=None, database=None)
@given(declared=st.integers(min_value=0, max_value=2**40), sent=st.binary(max_size=512))
def test_a_declared_body_length_over_the_limit_is_refused_413_whatever_is_sent(
    hardened: HardenedHarness, declared: int, sent: bytes
) -> None:
    limit = hardened.node.config.api.max_body_bytes
    if declared <= limit and declared > len(sent):
        declared = len(sent)  # a short body within the limit is the body-timeout case, tested above
    head = (
        b"POST /v1/txs/batch HTTP/1.1\r\nHost: t\r\nContent-Type: application/x-trellis-txs\r\nConnection: close\r\n"
        + f"Content-Length: {declared}\r\n\r\n".encode()
    )
    status, headers, body = hardened.raw(head, [sent[:declared]])
    if declared > limit:
        _problem(status, headers, body, 413, "body_too_large")
    else:
        assert status in (202, 400, 413), (status, body)
        if status != 202:
            assert headers["content-type"].startswith("application/problem+json")
            assert json.loads(body)["code"] in ("malformed_batch", "batch_too_large")


def _frames_ok(body: bytes) -> int | None:
    """How many transactions ``body`` frames (u32 length + bytes each, no zero length), or None if it is not a
    whole number of frames: the model ``parse_batch`` is held to."""
    pos = count = 0
    while pos < len(body):
        if pos + 4 > len(body):
            return None
        n = int.from_bytes(body[pos : pos + 4], "big")
        if n == 0 or pos + 4 + n > len(body):
            return None
        pos += 4 + n
        count += 1
    return count


_framed = st.lists(st.binary(max_size=64), max_size=8).map(  # an empty item frames as a zero length
    lambda raws: b"".join(len(r).to_bytes(4, "big") + r for r in raws)
)


@settings(max_examples=60, deadline=None, database=None)
@given(body=st.one_of(_framed, st.binary(max_size=256)))
def test_a_junk_batch_is_answered_by_its_framing_status_and_code(hardened: HardenedHarness, body: bytes) -> None:
    resp = hardened.post("/v1/txs/batch", data=body, headers={"Content-Type": MEDIA})
    count = _frames_ok(body)
    if count is None:
        assert resp.status == 400 and resp.content_type == "application/problem+json", resp.body
        assert resp.json()["code"] == "malformed_batch"
    else:
        assert resp.status == 202 and resp.content_type == "application/json", resp.body
        result = resp.json()
        assert result["accepted"] == 0 and [r["index"] for r in result["rejected"]] == list(range(count))
        assert {r["code"] for r in result["rejected"]} <= {"malformed", "too_large", "unknown_module"}
