"""The REST API over a running ``Node``.

Errors are RFC 9457 problem details (``application/problem+json``) with a machine-readable ``code`` and a
human-readable ``detail``: 4xx for a request refused, 5xx for a node that failed or is not ready (503
``storage_error``, ``node_failed``, ``shutting_down``, ``not_ready`` with ``Retry-After``; 500 ``store_damaged``,
``internal_error``). A ``TrellisError`` is a 4xx only when its class says the request was wrong
(``_CLIENT_ERRORS``); every other one was raised inside the node and is a 5xx.

Requests are bounded before any handler works on them (``limits_middleware``): a request target longer than
``MAX_URL_BYTES`` is refused (414); a body whose declared ``Content-Length`` passes the route's limit is refused
at once (413, before a byte of it is read: ``api.max_body_bytes``, or the route's own for streamed uploads); a
body that has not arrived in full ``BODY_TIMEOUT_S`` after the request began (a streamed upload: no byte for
that long) is answered 408 and the connection closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import math
import re
from collections.abc import Awaitable, Callable
from typing import Any, TypeGuard

import msgspec
from aiohttp import WSCloseCode, WSMsgType, web

import trellis
from trellis.abci import CheckedTx, NotFound, Pruned, QueryRequest
from trellis.api.openapi import openapi_document
from trellis.api.params import HASH_PATTERN, STATE_KEY_PATTERN, ApiError, bool_param, hash_param, int_param
from trellis.api.prometheus import metrics_middleware, metrics_route
from trellis.api.registry import ROUTE_MODULES
from trellis.api.responses import ok, problem
from trellis.api.types import (
    BannedPeerJson,
    BatchRejectionJson,
    BatchResultJson,
    CommittedBlockJson,
    StateValueJson,
    StatusJson,
    StreamErrorJson,
    StreamFaultJson,
    StreamResultJson,
    SubmitJson,
    TxStatusJson,
    block_json,
    header_json,
    hx,
    proof_json,
    receipt_json,
    tx_from_json,
    tx_json,
    unhex,
)
from trellis.app.modules.notary import ReceiptNotReady
from trellis.core.codec import encode
from trellis.core.errors import DecodeError, InvalidTransaction, TrellisError
from trellis.core.ledger.block import block_hash
from trellis.core.ledger.state_tree import MissingNode
from trellis.node.metrics import NodeMetrics
from trellis.node.node import Node, NodeUnavailable, TxStatus

log = logging.getLogger("trellis.api")

_STATUS_OF_TX_ERROR = {
    "mempool_full": 429,
    "duplicate": 409,
    "too_large": 413,
    # The membership refuses the sender (docs/spec/membership.md): forbidden, not malformed.
    "unknown_certificate": 403,
    "certificate_expired": 403,
    "certificate_revoked": 403,
    "certificate_not_yet_valid": 403,
    "unknown_ca": 403,
    "role_not_permitted": 403,
    "key_mismatch": 403,
    "wrong_org": 403,
    "malformed_certificate": 400,
    "unsupported_key": 400,
    "no_role": 400,
}
# The path parameters' patterns of the OpenAPI document, matched with fullmatch (with ``match``, ``$`` would also
# accept a trailing newline).
_HASH = re.compile(HASH_PATTERN)
_STATE_KEY = re.compile(STATE_KEY_PATTERN)
_HEIGHT = re.compile(r"[0-9]{1,20}")
MAX_URL_BYTES = 8 * 1024
"""Longest request target (path and query string) answered; longer is 414 ``uri_too_long``."""
MAX_REQUEST_LINE = 64 * 1024
"""Longest request line aiohttp's parser takes (its default, 8190, answered longer URLs in plain text before any
middleware could answer them as problem details)."""
BODY_TIMEOUT_S = 30.0
"""Time a request body has to arrive in full (a streamed upload: most time without a byte)."""
CLOSE_GRACE_S = 1.0
"""How long a connection refused mid-body stays open after its answer, its input discarded."""
STREAMED_UPLOADS = frozenset({("PUT", "/v1/blobs")})
"""Routes that stream their body and check its size themselves (``[blobs] max_upload_bytes``): the declared
``Content-Length`` is not held to ``api.max_body_bytes`` and the body timeout is one of idleness."""
MAX_WAIT_S = 60.0
BATCH_MEDIA_TYPE = "application/x-trellis-txs"
MAX_BATCH_TXS = 20_000
STREAM_IN_FLIGHT = 8
"""Batches of one ``/v1/txs/stream`` connection being checked or waiting for their answer."""


_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def _closing(request: web.Request, resp: web.Response) -> web.Response:
    """Send ``resp`` now and end the connection: the answer, then EOF (a half-close, so that a client still
    sending reads the answer rather than a reset), and the connection closed ``CLOSE_GRACE_S`` later whatever
    the client still sends (aiohttp would otherwise linger up to 10 s reading a refused body)."""
    resp.force_close()
    await resp.prepare(request)
    await resp.write_eof()
    transport = request.transport
    if transport is not None and transport.can_write_eof():
        transport.write_eof()
        asyncio.get_running_loop().call_later(CLOSE_GRACE_S, request.protocol.force_close)
    else:
        request.protocol.force_close()
    return resp


def limits_middleware(max_body_bytes: int, body_timeout_s: float) -> Callable[..., Awaitable[web.StreamResponse]]:
    """The middleware that bounds every request before its handler works on it: the request target's length
    (414), the declared body size (413 at once), and the time the body takes to arrive (408, connection closed).
    """

    @web.middleware
    async def limits(request: web.Request, handler: _Handler) -> web.StreamResponse:
        if len(request.raw_path) > MAX_URL_BYTES:
            return await _closing(
                request,
                problem(
                    414, "uri_too_long", f"the request target is {len(request.raw_path)} bytes; at most {MAX_URL_BYTES}"
                ),
            )
        route = request.match_info.route
        streamed = (request.method, route.resource.canonical if route.resource else "") in STREAMED_UPLOADS
        declared = request.content_length
        if declared is not None and declared > max_body_bytes and not streamed:
            return await _closing(
                request,
                problem(
                    413, "body_too_large", f"the body is {declared} bytes; this route takes at most {max_body_bytes}"
                ),
            )
        body = request.content
        if body.is_eof():
            return await handler(request)
        task = asyncio.current_task()
        assert task is not None
        loop = asyncio.get_running_loop()
        expired = False
        seen = body.total_bytes
        timer: asyncio.TimerHandle | None = None

        def check() -> None:
            nonlocal expired, seen, timer
            if body.is_eof():
                return
            if streamed and body.total_bytes > seen:
                seen = body.total_bytes
                timer = loop.call_later(body_timeout_s, check)
                return
            expired = True
            task.cancel()

        timer = loop.call_later(body_timeout_s, check)
        try:
            return await handler(request)
        except asyncio.CancelledError:
            if not expired:
                raise
            task.uncancel()
            log.info("%s %s: the body did not arrive within %.0f s", request.method, request.path, body_timeout_s)
            return await _closing(
                request,
                problem(408, "body_timeout", f"the request body did not arrive within {body_timeout_s:g} seconds"),
            )
        finally:
            if timer is not None:
                timer.cancel()

    return limits


_CLIENT_ERRORS: dict[str, int] = {
    "DecodeError": 400,  # what the client sent does not decode (stored values are translated where they are read)
    "InvalidTransaction": 400,  # refined by _STATUS_OF_TX_ERROR
    "NotFound": 404,
    "Pruned": 410,  # a NotFound: a height this node's retention policy no longer keeps (ADR 0018)
    "UnknownHeight": 404,
    "FileNotStored": 404,
    "BlobNotFound": 404,
    "ContractsDisabled": 409,
    "FileTooLarge": 413,
    "CertificateRefused": 403,
    "DecryptionRefused": 403,
    "DidError": 400,
    "BadCursor": 400,  # an attestations page cursor that names no attestation of the list
    "UnknownChain": 404,  # a DID or issuer of a chain this chain has no client of
    "ClientNotActive": 409,  # the client of that chain is frozen or expired: it proves nothing
    "BadQuery": 400,  # a directory search written wrong (too many words, only stop words, a bad limit)
}
"""``TrellisError`` subclasses that say the request was wrong, by class name, with their status."""
_NODE_ERRORS: dict[str, int] = {
    "NodeUnavailable": 503,
    "StorageError": 503,  # answered as storage_error (``_storage_failure``)
    "ReceiptNotReady": 503,
    "BlobStoreError": 503,
    "MissingNode": 500,
    "ChunkCorrupt": 500,
    "ManifestCorrupt": 500,
    "BlobFileError": 500,
    "AeadError": 500,
    "InvalidBlock": 500,
    "MembershipRefusal": 500,  # an InvalidBlock
    "ProofError": 500,
    "MalformedCompact": 500,
    "LightClientError": 500,
    "ScheduleError": 500,  # the node's validator schedule refused an update it derived itself
    "GenesisMismatch": 500,
    "InvalidGenesis": 500,
    "ConfigError": 500,
    "HomeError": 500,
    "KeyStoreError": 500,
    "HsmError": 500,
    "CertError": 500,
    "OpenSSLError": 500,
    "UnknownSuite": 500,
    "SnapshotError": 500,  # a snapshot this node wrote or was sent fails its checks (never raised by the API)
    "SnapshotCancelled": 500,
    "StateSyncError": 500,  # the joining node's sync (before the API starts)
    "NetnsError": 500,  # setting up network namespaces for a local network (CLI only, never raised by the API)
    "InvalidProof": 502,  # another chain's endpoint answered a value its proof does not bind to the trusted root
    "EndpointUnavailable": 502,  # another chain's endpoint is not configured or did not answer
}
"""``TrellisError`` subclasses that say the node failed or is not ready, by class name: never a 4xx. Every
subclass of ``TrellisError`` is in exactly one of these two tables (a test lists them); one in neither, or the
base class itself, is answered 500 ``internal_error``: an error nobody classified is not the client's fault."""


def status_of_error(exc: TrellisError) -> int:
    """The HTTP status a ``TrellisError`` reaching the API is answered with (see ``_CLIENT_ERRORS`` and
    ``_NODE_ERRORS``; 500 for one in neither)."""
    for cls in type(exc).__mro__:
        name = cls.__name__
        if name in _CLIENT_ERRORS:
            if isinstance(exc, InvalidTransaction):
                return _STATUS_OF_TX_ERROR.get(exc.code, 400)
            return _CLIENT_ERRORS[name]
        if name in _NODE_ERRORS:
            return _NODE_ERRORS[name]
        if cls is TrellisError:
            break
    return 500


def _storage_failure(exc: BaseException) -> TypeGuard[TrellisError]:
    """True for the storage engine's ``StorageError`` (and its subclasses), known by class name like the tables
    above: the API reads the node through the ABCI boundary and never imports the storage."""
    return any(cls.__name__ == "StorageError" for cls in type(exc).__mro__)


@web.middleware
async def problem_middleware(request: web.Request, handler: _Handler) -> web.StreamResponse:
    """Answer every refusal and failure as problem details (see the module's docstring for the statuses)."""
    try:
        return await handler(request)
    except ApiError as exc:
        return problem(exc.status, exc.code, exc.detail)
    except InvalidTransaction as exc:
        return problem(_STATUS_OF_TX_ERROR.get(exc.code, 400), exc.code, exc.reason)
    except Pruned as exc:
        return problem(410, exc.code, exc.reason)
    except NotFound as exc:
        return problem(404, "not_found", exc.reason)
    except DecodeError as exc:
        return problem(400, "malformed", exc.reason)
    except NodeUnavailable as exc:
        return problem(503, exc.code, exc.reason)
    except ReceiptNotReady as exc:
        # A state this node is in (behind the chain), not a mistake of the request: ask again shortly.
        resp = problem(503, exc.code, exc.reason)
        resp.headers["Retry-After"] = str(exc.retry_after_s)
        return resp
    except MissingNode as exc:
        log.error("state store damaged serving %s %s: %s", request.method, request.path, exc.reason)
        return problem(500, "store_damaged", f"the node's state store is damaged: {exc.reason}")
    except web.HTTPRequestEntityTooLarge as exc:
        return await _closing(request, problem(413, "body_too_large", exc.text or "request body too large"))
    except web.HTTPException as exc:
        if exc.status >= 400:
            resp = problem(exc.status, re.sub(r"\W+", "_", exc.reason.lower()), exc.reason)
            if "Allow" in exc.headers:  # 405: RFC 9110 requires the methods the resource allows
                resp.headers["Allow"] = exc.headers["Allow"]
            return resp
        raise
    except TrellisError as exc:
        if _storage_failure(exc):
            # The node's failure, not the request's: never a 4xx (the node stops when a commit fails).
            log.error("storage failed serving %s %s: %s", request.method, request.path, exc.reason)
            return problem(503, "storage_error", f"the node's storage failed: {exc.reason}")
        status = status_of_error(exc)
        if status < 500:
            log.info("%s %s refused: %s", request.method, request.path, exc.reason)
            return problem(status, exc.code, exc.reason)
        # Raised inside the node: its failure, not the client's (a generic TrellisError used to be a 400).
        log.error("%s %s failed: %s: %s", request.method, request.path, type(exc).__name__, exc.reason)
        return problem(status, exc.code if status == 503 else "internal_error", f"the node failed: {exc.reason}")
    except Exception:
        log.exception("internal error serving %s %s", request.method, request.path)
        return problem(500, "internal_error", "the node failed to handle this request; see its log")


class Api:
    """Request handlers bound to one node."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.suite = node.params.suite

    def _status_json(self, h: bytes, st: TxStatus) -> TxStatusJson:
        tx = None
        if st.state == "committed" and st.height is not None and st.index is not None:
            block = self.node.blocks.block(st.height)
            if block is not None:
                tx = tx_json(block.txs[st.index])
        return TxStatusJson(
            hash=hx(h),
            status=st.state,
            height=st.height,
            index=st.index,
            receipt=None if st.receipt is None else receipt_json(st.receipt),
            tx=tx,
        )

    async def status(self, request: web.Request) -> web.Response:
        node = self.node
        tip = node.app.info()
        consensus = node.driver.status() if node.driver is not None else None
        return ok(
            StatusJson(
                chain_id=node.params.chain_id,
                suite=node.params.suite.name,
                genesis_hash=hx(node.params.genesis_hash),
                moniker=node.config.node.moniker,
                validator_address=hx(node.validator_address),
                height=tip.height,
                block_id=hx(tip.block_id),
                state_root=hx(tip.state_root),
                time_ms=tip.time_ms,
                consensus_round=consensus.round if consensus is not None else 0,
                consensus_step=consensus.step if consensus is not None else "",
                peers=sorted(node.transport.connected_peers()) if node.transport is not None else [],
                mempool_txs=len(node.mempool),
                mempool_bytes=node.mempool.size_bytes,
                version=trellis.__version__,
                bench_network=node.params.genesis.is_bench_network,
                signature_checks=not node.config.bench.skip_signature_checks,
                role=node.config.node.role,
                earliest_state_height=node.blocks.earliest_state_height(),
                earliest_block_height=node.blocks.earliest_block_height(),
                banned_peers=_banned_peers(node.transport),
            )
        )

    async def submit(self, request: web.Request) -> web.Response:
        ctype = request.content_type
        body = await request.read()
        if ctype == "application/octet-stream":
            raw = body
        elif ctype == "application/json":
            try:
                sub = msgspec.json.decode(body, type=SubmitJson)
            except msgspec.DecodeError as exc:
                raise ApiError(400, "malformed_json", f"invalid request body: {exc}") from exc
            if (sub.tx is None) == (sub.tx_hex is None):
                raise ApiError(400, "malformed_json", "give exactly one of 'tx' and 'tx_hex'")
            raw = encode(tx_from_json(sub.tx)) if sub.tx is not None else unhex(sub.tx_hex or "", "tx_hex")
        else:
            raise ApiError(
                415, "unsupported_media_type", "send application/octet-stream (canonical bytes) or application/json"
            )
        # Parameters are checked before admission: a refused request must not leave the transaction pending.
        wait = request.query.get("wait", "")
        if wait not in ("", "commit"):
            raise ApiError(400, "bad_parameter", "query parameter 'wait' must be 'commit' or absent")
        timeout = int_param(request, "timeout", 10, 1, int(MAX_WAIT_S)) or 10
        checked = self.node.submit(raw)
        if wait == "commit":
            st = await self.node.wait_committed(checked.hash, float(timeout))
            if st.state != "committed":
                self.node.check_open()  # woken because the node failed: not a 202 that nothing will honour
            return ok(self._status_json(checked.hash, st), 200 if st.state == "committed" else 202)
        return ok(TxStatusJson(hash=hx(checked.hash), status="pending"), 202)

    async def submit_batch(self, request: web.Request) -> web.Response:
        """Many transactions in one request: ``application/x-trellis-txs``, each transaction as a 4-byte
        big-endian length and its canonical bytes. Signatures are verified as one batch."""
        if request.content_type != BATCH_MEDIA_TYPE:
            raise ApiError(
                415, "unsupported_media_type", f"send {BATCH_MEDIA_TYPE}: u32 length + bytes per transaction"
            )
        raws = parse_batch(await request.read())
        results = await self.node.submit_batch(raws)
        return ok(_batch_result(results), 202)

    async def tx_stream(self, request: web.Request) -> web.WebSocketResponse:
        """``GET /v1/txs/stream`` (WebSocket): a client streams batches and the node pipelines them.

        Each binary message is one batch in the ``POST /v1/txs/batch`` format; the node answers each with one
        text message, in order: ``{"seq": n, "accepted": k, "rejected": [...]}`` (``seq`` counts the
        connection's batches from 0), or ``{"seq": n, "error": {"code", "detail"}}`` for a batch it could not
        parse (the stream stays open). Batches are checked concurrently but admitted in the order sent. At most
        ``STREAM_IN_FLIGHT`` batches are pending per connection; the node reads no more until the oldest is
        answered (back-pressure through TCP). A text message from the client closes the stream (1003).
        """
        ws = web.WebSocketResponse(max_msg_size=self.node.config.api.max_body_bytes, heartbeat=30.0)
        await ws.prepare(request)
        pending: asyncio.Queue[tuple[int, asyncio.Task[list[CheckedTx | InvalidTransaction]] | ApiError] | None]
        pending = asyncio.Queue(maxsize=STREAM_IN_FLIGHT)

        async def answer() -> None:
            # Drains every pending batch even after the client went away (so ``pending.put`` never blocks on a
            # dead reader); answers are sent while the socket is open.
            while (item := await pending.get()) is not None:
                seq, work = item
                reply: StreamErrorJson | StreamResultJson
                if isinstance(work, ApiError):
                    fault = StreamFaultJson(status=work.status, code=work.code, detail=work.detail)
                    reply = StreamErrorJson(seq=seq, error=fault)
                else:
                    try:
                        res = _batch_result(await work)
                        reply = StreamResultJson(seq=seq, accepted=res.accepted, rejected=res.rejected)
                    except Exception as exc:
                        if isinstance(exc, NodeUnavailable) or _storage_failure(exc):  # as the REST API's 503
                            code = exc.code if isinstance(exc, NodeUnavailable) else "storage_error"
                            fault = StreamFaultJson(status=503, code=code, detail=exc.reason)
                        else:  # answered like the REST API's 500
                            log.exception("streamed batch %d failed", seq)
                            fault = StreamFaultJson(status=500, code="internal_error", detail=type(exc).__name__)
                        reply = StreamErrorJson(seq=seq, error=fault)
                if not ws.closed:
                    with contextlib.suppress(ConnectionError, RuntimeError):
                        await ws.send_str(msgspec.json.encode(reply).decode())

        answering = asyncio.create_task(answer())
        seq = 0
        try:
            async for msg in ws:
                if msg.type == WSMsgType.BINARY:
                    try:
                        raws = parse_batch(msg.data)
                        item: tuple[int, asyncio.Task[list[CheckedTx | InvalidTransaction]] | ApiError] = (
                            seq,
                            asyncio.create_task(self.node.submit_batch(raws)),
                        )
                    except ApiError as exc:
                        item = (seq, exc)
                    seq += 1
                    await pending.put(item)
                elif msg.type == WSMsgType.TEXT:
                    await ws.close(code=WSCloseCode.UNSUPPORTED_DATA, message=b"send binary batches")
                    break
                else:
                    break
        finally:
            await pending.put(None)  # the answerer drains everything before it, so this cannot wait forever
            await answering
            if not ws.closed:
                await ws.close()
        return ws

    async def commit_stream(self, request: web.Request) -> web.StreamResponse:
        """Every block committed from now on, one JSON object per line (``application/x-ndjson``)."""
        resp = web.StreamResponse(headers={"Content-Type": "application/x-ndjson", "Cache-Control": "no-cache"})
        await resp.prepare(request)
        q = self.node.subscribe_blocks()
        try:
            while True:
                try:
                    executed = await asyncio.wait_for(q.get(), 1.0)
                except TimeoutError:
                    if not self.node.is_subscribed(q):
                        break  # the client did not keep up and was dropped: end the stream, it can reconnect
                    continue
                h = executed.block.header
                line = CommittedBlockJson(
                    height=h.height,
                    time_ms=h.time_ms,
                    block_id=hx(executed.block_id),
                    txs=[hx(x) for x in executed.output.tx_hashes],
                    codes=[r.code for r in executed.output.receipts],
                )
                await resp.write(msgspec.json.encode(line) + b"\n")
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self.node.unsubscribe(q)
        return resp

    async def tx(self, request: web.Request) -> web.Response:
        h = hash_param(request.match_info["hash"])
        timeout = int_param(request, "wait", 0, 0, int(MAX_WAIT_S)) or 0
        st = await self.node.wait_committed(h, float(timeout)) if timeout else self.node.tx_status(h)
        if st.state == "unknown":
            earliest = self.node.blocks.earliest_block_height()
            if earliest > 1:  # its block may have been pruned: say which blocks were looked in
                raise ApiError(
                    404,
                    "not_found",
                    f"no transaction {hx(h)} in the mempool or in blocks {earliest} to {self.node.app.info().height}"
                    f" (blocks below {earliest} are pruned on this node)",
                )
            raise ApiError(404, "not_found", f"no transaction {hx(h)} in the mempool or the chain")
        return ok(self._status_json(h, st))

    async def block(self, request: web.Request) -> web.Response:
        ref = request.match_info["ref"]
        tip = self.node.app.info()
        if ref == "latest":
            height = tip.height
        elif _HEIGHT.fullmatch(ref):
            height = int(ref)
        elif _HASH.fullmatch(ref):
            found = self.node.blocks.height_of_block(unhex(ref))
            if found is None:
                raise ApiError(404, "not_found", f"no block with id {ref}")
            height = found
        else:
            raise ApiError(400, "bad_block_ref", "give a height, a block id (64 hex digits) or 'latest'")
        if height < 1 or height > tip.height:
            raise ApiError(404, "not_found", f"no block at height {height}; the chain is at height {tip.height}")
        block = self.node.blocks.block(height)
        if block is None:
            earliest = self.node.blocks.earliest_block_height()
            if height < earliest:
                raise ApiError(
                    410,
                    "pruned",
                    f"block {height} is pruned: this node keeps blocks {earliest} to {tip.height} "
                    "(and the blocks of validator-set changes)",
                )
            block = self.node.blocks.require_block(height)
        return ok(block_json(self.suite, block_hash(self.suite, block.header), block, self.node.blocks.commit(height)))

    async def state(self, request: web.Request) -> web.Response:
        text = request.match_info["key"]
        if not _STATE_KEY.fullmatch(text):
            raise ApiError(400, "bad_key", "a state key is 1 to 1024 bytes in hex (0x optional)")
        key = unhex(text, "key")
        return ok(self._state_json(key, request))

    def _state_json(self, key: bytes, request: web.Request) -> Any:
        height = int_param(request, "height", None, 0, 2**63)
        prove = bool_param(request, "prove")
        res = self.node.app.query(QueryRequest(path="state", key=key, height=height, prove=prove))
        value = None if res.value is None else hx(res.value)
        if prove:
            assert res.proof is not None and res.header is not None, "a proven state query answers both"
            return StateValueJson(
                key=hx(key),
                height=res.height,
                value=value,
                proof=proof_json(res.proof),
                proof_hex=hx(encode(res.proof)),
                header=header_json(res.header),
                header_hex=hx(encode(res.header)),
            )
        return StateValueJson(key=hx(key), height=res.height, value=value)

    async def metrics(self, request: web.Request) -> web.Response:
        """Counters for operators and benchmarks: time per pipeline stage, mempool and chain position."""
        tip = self.node.app.info()
        return web.json_response(
            {
                "height": tip.height,
                "mempool_txs": len(self.node.mempool),
                "mempool_bytes": self.node.mempool.size_bytes,
                "gossip_dropped_txs": self.node.gossip_dropped,
                "dissemination": {} if self.node.driver is None else dataclasses.asdict(self.node.driver.stats),
                "stages": self.node.stages.snapshot(),
                "verifier": self.node.app.verifier.name,
            }
        )

    async def openapi(self, request: web.Request) -> web.Response:
        return web.json_response(openapi_document())


def _banned_peers(transport: object) -> list[BannedPeerJson]:
    """The bans a transport holds (a TlsTransport has ``banned_peers``), for ``GET /v1/status``."""
    banned = getattr(transport, "banned_peers", None)
    if banned is None:
        return []
    return [BannedPeerJson(node_id=pid, reason=why, seconds_left=math.ceil(left)) for pid, why, left in banned()]


def build_app(node: Node, *, body_timeout_s: float = BODY_TIMEOUT_S) -> web.Application:
    """Return the aiohttp application serving ``node`` (``body_timeout_s``: see ``BODY_TIMEOUT_S``)."""
    api = Api(node)
    metrics = NodeMetrics(node)  # this node's own Prometheus registry (GET /metrics)
    max_body = node.config.api.max_body_bytes
    app = web.Application(
        client_max_size=max_body,
        middlewares=[metrics_middleware(metrics), limits_middleware(max_body, body_timeout_s), problem_middleware],
        handler_args={"max_line_size": MAX_REQUEST_LINE},
    )
    app.add_routes(
        [
            web.get("/v1/status", api.status),
            web.post("/v1/txs", api.submit),
            web.post("/v1/txs/batch", api.submit_batch),
            web.get("/v1/commits/stream", api.commit_stream),
            web.get("/v1/txs/stream", api.tx_stream),
            web.get("/v1/txs/{hash}", api.tx),
            web.get("/v1/blocks/{ref}", api.block),
            web.get("/v1/state/{key}", api.state),
            web.get("/v1/metrics", api.metrics),
            metrics_route(metrics),
            web.get("/openapi.json", api.openapi),
        ]
    )
    for module in ROUTE_MODULES:  # every module's routes, behind the same middlewares and limits
        app.add_routes(module.routes(node))
    return app


def parse_batch(body: bytes) -> list[bytes]:
    """Split an ``application/x-trellis-txs`` body (per transaction: u32 big-endian length, canonical bytes).

    Raises:
        ApiError: 400 ``malformed_batch`` (a truncated prefix, a zero or overrunning length), 413
            ``batch_too_large`` (more than ``MAX_BATCH_TXS`` transactions).
    """
    raws: list[bytes] = []
    pos = 0
    while pos < len(body):
        if pos + 4 > len(body):
            raise ApiError(400, "malformed_batch", f"truncated length prefix at byte {pos}")
        n = int.from_bytes(body[pos : pos + 4], "big")
        pos += 4
        if n == 0 or pos + n > len(body):
            raise ApiError(400, "malformed_batch", f"transaction {len(raws)} has a bad length ({n}) at byte {pos - 4}")
        raws.append(body[pos : pos + n])
        pos += n
        if len(raws) > MAX_BATCH_TXS:
            raise ApiError(413, "batch_too_large", f"at most {MAX_BATCH_TXS} transactions per batch")
    return raws


def _batch_result(results: list[CheckedTx | InvalidTransaction]) -> BatchResultJson:
    rejected = [
        BatchRejectionJson(index=i, code=r.code, detail=r.reason)
        for i, r in enumerate(results)
        if isinstance(r, InvalidTransaction)
    ]
    return BatchResultJson(accepted=len(results) - len(rejected), rejected=rejected)


async def serve(node: Node, stop: asyncio.Event, on_ready: Callable[[str], None] | None = None) -> None:
    """Start ``node`` and its API; run until ``stop`` is set; then shut both down cleanly."""
    await node.start()
    runner = web.AppRunner(build_app(node), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, node.config.api.host, node.config.api.port)
    await site.start()
    addresses = runner.addresses
    port = addresses[0][1] if addresses else node.config.api.port
    url = f"http://{node.config.api.host}:{port}"
    if on_ready is not None:
        on_ready(url)
    waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(node.failed.wait())]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()
        # Refuse new transactions (503) before the requests under way are drained: a transaction acknowledged
        # from here on would be checked after the node began to stop.
        node.close_admission()
        await runner.cleanup()
        await node.stop()
    if node.failure is not None:
        raise node.failure


__all__ = ["Api", "ApiError", "build_app", "serve"]
