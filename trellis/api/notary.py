"""Notary routes: first-anchoring records, receipts (docs/spec/receipt.md), lookups by owner and reference, and
the RFC 3161 time-stamping endpoint.

  GET  /v1/notary/records/{digest}     when, where and by whom the digest was first anchored (and its batch)
  GET  /v1/notary/receipts/{digest}    its receipt: canonical JSON, or msgpack with ``Accept: application/msgpack``
                                       (or ``?format=msgpack``); 404 never anchored (as far as this node's state
                                       knows), 503 ``not_ready`` + ``Retry-After`` anchored but its block, commit
                                       or results not stored here yet
  GET  /v1/notary/batches?owner=DID    batches anchored for an owner, oldest first (``limit`` up to 1000)
  GET  /v1/notary/batches?ref=REF      batches anchored with an external reference
  POST /v1/notary/tsa                  RFC 3161: ``application/timestamp-query`` in, ``timestamp-reply`` out
"""

from __future__ import annotations

import re
from typing import Any, Protocol

from aiohttp import web

from trellis.api.responses import PROBLEM_RESPONSE, hex32_path_param, ok, problem
from trellis.app.modules.notary import batches_by, receipt_for, record_of
from trellis.core.execution.context import StateReader
from trellis.core.ledger.block import Block, Commit, Receipt
from trellis.core.modules.notary.state import NotaryBatch
from trellis.node.node import Node
from trellis.notary.receipt import receipt_to_binary, receipt_to_json

__all__ = ["OPENAPI_PATHS", "SCHEMAS", "ChainReads", "NotaryApi", "StoredBlocks", "routes"]

MSGPACK_MEDIA_TYPE = "application/msgpack"


_DIGEST_TEXT = re.compile(r"(0[xX])?[0-9a-fA-F]{64}")


def parse_digest(text: str) -> bytes | None:
    """A 32-byte digest from 64 hex digits (optionally ``0x``); None if it is not one."""
    if not _DIGEST_TEXT.fullmatch(text):  # bytes.fromhex alone would also take spaces
        return None
    return bytes.fromhex(text[2:] if text[:2].lower() == "0x" else text)


class StoredBlocks(Protocol):
    """What a receipt reads of the block store (``Node.blocks``, the block-store port)."""

    def block(self, height: int) -> Block | None: ...
    def commit(self, height: int) -> Commit | None: ...
    def receipts(self, height: int) -> list[Receipt]: ...


class ChainReads:
    """The committed blocks (the block-store port) and the committed state (``Application.reader()``) read as
    one: what a receipt is built from (``NotaryStore``: the anchoring's record in state, its block, certificate
    and results, and the validator-set changes up to it)."""

    def __init__(self, blocks: StoredBlocks, state: StateReader) -> None:
        self.blocks = blocks
        self.state = state

    def get(self, key: bytes) -> bytes | None:
        """The committed value at ``key``, or None."""
        return self.state.get(key)

    def scan(self, start: bytes, end: bytes, limit: int) -> list[tuple[bytes, bytes]]:
        """Up to ``limit`` committed entries with ``start <= key < end``, in key order."""
        return self.state.scan(start, end, limit)

    def block(self, height: int) -> Block | None:
        """The block at ``height``, or None."""
        return self.blocks.block(height)

    def commit(self, height: int) -> Commit | None:
        """The commit certificate of block ``height``, or None."""
        return self.blocks.commit(height)

    def receipts(self, height: int) -> list[Receipt]:
        """The stored receipts of block ``height``, in order."""
        return self.blocks.receipts(height)


def batch_json(b: NotaryBatch) -> dict[str, Any]:
    """A batch as JSON."""
    return {
        "root": "0x" + b.root.hex(),
        "size": b.size,
        "record_type": b.record_type,
        "owner": b.owner,
        "ref": b.ref,
        "sender": "0x" + b.sender.hex(),
        "nonce": b.nonce,
        "height": b.height,
        "time_ms": b.time_ms,
    }


class NotaryApi:
    """The notary handlers, bound to one node."""

    def __init__(self, node: Node) -> None:
        self.node = node

    def _chain(self) -> ChainReads:
        return ChainReads(self.node.blocks, self.node.app.reader())

    def _digest(self, request: web.Request) -> bytes | web.Response:
        d = parse_digest(request.match_info["digest"])
        if d is None:
            return problem(400, "bad_digest", "a digest is 64 hex digits (32 bytes: SHA-256 or SM3 by chain suite)")
        return d

    async def record(self, request: web.Request) -> web.Response:
        """GET /v1/notary/records/{digest}."""
        d = self._digest(request)
        if isinstance(d, web.Response):
            return d
        view = record_of(self.node.app.reader(), d)
        if view is None:
            return problem(404, "not_found", f"digest {d.hex()} was never anchored on this chain")
        rec = view.record
        return ok(
            {
                "digest": "0x" + d.hex(),
                "height": rec.height,
                "time_ms": rec.time_ms,
                "sender": "0x" + rec.sender.hex(),
                "nonce": rec.nonce,
                "index": rec.index,
                "batch": batch_json(view.batch),
            }
        )

    async def receipt(self, request: web.Request) -> web.Response:
        """GET /v1/notary/receipts/{digest}."""
        d = self._digest(request)
        if isinstance(d, web.Response):
            return d
        fmt = request.query.get("format", "")
        if fmt not in ("", "json", "msgpack"):  # the request's own mistake, whatever state the node is in
            return problem(400, "bad_parameter", "format is 'json' or 'msgpack'")
        # ReceiptNotReady (503 + Retry-After) and StorageError (503) are the node's, answered by the middleware.
        r = receipt_for(self._chain(), self.node.app.params, d)
        if r is None:
            return problem(404, "not_found", f"no committed anchoring of digest {d.hex()} on this chain")
        if fmt == "msgpack" or (not fmt and MSGPACK_MEDIA_TYPE in request.headers.get("Accept", "")):
            return web.Response(body=receipt_to_binary(r), content_type=MSGPACK_MEDIA_TYPE)
        return web.Response(body=receipt_to_json(r), content_type="application/json")

    async def batches(self, request: web.Request) -> web.Response:
        """GET /v1/notary/batches?owner=DID or ?ref=REF."""
        q = request.query
        if ("owner" in q) == ("ref" in q):
            return problem(400, "bad_parameter", "give exactly one of 'owner' or 'ref'")
        kind = "owner" if "owner" in q else "ref"
        value = q[kind]
        if not value or len(value) > 256:
            return problem(400, "bad_parameter", f"{kind} must be 1 to 256 characters")
        limit_text = q.get("limit", "100")
        if not limit_text.isdigit() or not 1 <= int(limit_text) <= 1000:
            return problem(400, "bad_parameter", "limit must be 1 to 1000")
        found = batches_by(self._chain(), self.node.app.params, kind, value, int(limit_text))
        return ok({kind: value, "batches": [batch_json(b) for b in found]})


def routes(node: Node) -> list[web.RouteDef]:
    """The notary routes of ``node``."""
    api = NotaryApi(node)
    out = [
        web.get("/v1/notary/records/{digest}", api.record),
        web.get("/v1/notary/receipts/{digest}", api.receipt),
        web.get("/v1/notary/batches", api.batches),
    ]
    if node.tsa is not None:  # [notary] tsa_key, tsa_cert and tsa_account are set
        from trellis.api.notary_tsa import tsa_routes

        out += tsa_routes(node, *node.tsa)
    return out


_PROBLEM = PROBLEM_RESPONSE
_DIGEST = hex32_path_param("digest", "The record digest (64 hex digits: SHA-256 or SM3 by chain suite)")
OPENAPI_PATHS: dict[str, Any] = {
    "/v1/notary/records/{digest}": {
        "get": {
            "summary": "When, in which block and by whom a digest was first anchored, with its batch's metadata",
            "parameters": [_DIGEST],
            "responses": {
                "200": {"description": "The first anchoring", "content": {"application/json": {}}},
                "400": _PROBLEM,
                "404": _PROBLEM,
            },
        }
    },
    "/v1/notary/receipts/{digest}": {
        "get": {
            "summary": "The digest's receipt (docs/spec/receipt.md), verifiable offline with the genesis file",
            "parameters": [
                _DIGEST,
                {"name": "format", "in": "query", "schema": {"type": "string", "enum": ["json", "msgpack"]}},
            ],
            "responses": {
                "200": {
                    "description": "The receipt",
                    "content": {"application/json": {}, MSGPACK_MEDIA_TYPE: {}},
                },
                "400": _PROBLEM,
                "404": _PROBLEM,
                "503": {
                    **_PROBLEM,
                    "description": "not_ready: the digest is anchored but this node does not hold its block, commit "
                    "certificate or results yet (ask again after Retry-After seconds); storage_error",
                    "headers": {"Retry-After": {"schema": {"type": "integer", "minimum": 1}}},
                },
            },
        }
    },
    "/v1/notary/batches": {
        "get": {
            "summary": "Batches anchored for an owner DID or with an external reference, oldest first",
            "parameters": [
                {"name": "owner", "in": "query", "schema": {"type": "string"}},
                {"name": "ref", "in": "query", "schema": {"type": "string"}},
                {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000}},
            ],
            "responses": {
                "200": {"description": "The batches", "content": {"application/json": {}}},
                "400": _PROBLEM,
            },
        }
    },
}
"""The OpenAPI paths of the notary routes."""
SCHEMAS: tuple[type, ...] = ()
"""The notary's answers are documented inline (receipts: docs/spec/receipt.md), not as component schemas."""
