"""Contract routes: a deployed contract, its code, a read-only query, and the events it emitted.

GET  /v1/contracts/{address}          code hash and size, deployer, admin, heights
GET  /v1/contracts/{address}/code     the WebAssembly module (``application/wasm``)
POST /v1/contracts/{address}/query    run a method read-only against the latest committed state
GET  /v1/contracts/{address}/events   its events in chain order (paged: ``limit``, ``after``)
"""

from __future__ import annotations

import re
from typing import Any

import msgspec
from aiohttp import web

from trellis.api.hexjson import _J, Hex
from trellis.api.params import (
    ADDRESS_SCHEMA,
    ERRORS,
    LIMITS,
    ApiError,
    address_param,
    cursor_param,
    int_param,
    json_response,
    param,
    schema_ref,
)
from trellis.api.responses import ok
from trellis.api.types import hx, unhex
from trellis.node.node import Node

__all__ = ["OPENAPI_PATHS", "SCHEMAS", "ContractsApi", "routes"]

_METHOD = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")
_MAX_CALL_ARGS = 16 * 1024


class ContractJson(_J):
    address: Hex
    code_hash: Hex
    code_size: int
    deployer: Hex
    admin: Hex | None
    created_height: int
    updated_height: int
    height: int
    """The committed height this answer reflects."""


class ContractQueryJson(_J):
    """Body of ``POST /v1/contracts/{address}/query``."""

    method: str
    args: Hex = "0x"
    gas_limit: int | None = None
    """At most the node's ``api.query_gas_limit`` (the default)."""


class ContractQueryResultJson(_J):
    ok: bool
    code: int
    message: str
    data: Hex
    gas_used: int
    height: int


class ContractEventJson(_J):
    height: int
    index: int
    tx_hash: Hex
    type: str
    topic: str
    data: Hex


class ContractEventsJson(_J):
    contract: Hex
    events: list[ContractEventJson]
    next: str | None
    """Cursor for the next page (``after=``), or null."""


class ContractsApi:
    """The contract handlers, bound to one node."""

    def __init__(self, node: Node) -> None:
        self.node = node

    async def contract(self, request: web.Request) -> web.Response:
        """GET /v1/contracts/{address}."""
        addr = address_param(request.match_info["address"])
        meta = self.node.app.contract(addr)
        code = self.node.app.contract_code(addr)
        return ok(
            ContractJson(
                address=hx(addr),
                code_hash=hx(meta.code_hash),
                code_size=len(code),
                deployer=hx(meta.deployer),
                admin=None if meta.admin is None else hx(meta.admin),
                created_height=meta.created_height,
                updated_height=meta.updated_height,
                height=self.node.app.info().height,
            )
        )

    async def contract_code(self, request: web.Request) -> web.Response:
        """GET /v1/contracts/{address}/code."""
        addr = address_param(request.match_info["address"])
        return web.Response(body=self.node.app.contract_code(addr), content_type="application/wasm")

    async def contract_query(self, request: web.Request) -> web.Response:
        """POST /v1/contracts/{address}/query."""
        addr = address_param(request.match_info["address"])
        try:
            q = msgspec.json.decode(await request.read(), type=ContractQueryJson)
        except msgspec.DecodeError as exc:
            raise ApiError(400, "malformed", f"invalid query body: {exc}") from None
        if not _METHOD.fullmatch(q.method):
            raise ApiError(400, "bad_method", f"{q.method!r} is not a method name (a letter, then letters, digits, _)")
        args = unhex(q.args, "args")
        if len(args) > _MAX_CALL_ARGS:
            raise ApiError(413, "too_large", f"args are {len(args)} bytes; the limit is {_MAX_CALL_ARGS}")
        cap = self.node.config.api.query_gas_limit
        gas = cap if q.gas_limit is None else q.gas_limit
        if not 1 <= gas <= cap:
            raise ApiError(400, "bad_gas_limit", f"gas_limit must be between 1 and this node's limit {cap}")
        height = self.node.app.info().height
        outcome = self.node.app.query_contract(addr, q.method, args, gas)
        return ok(
            ContractQueryResultJson(
                ok=outcome.ok,
                code=int(outcome.code),
                message=outcome.message,
                data=hx(outcome.data),
                gas_used=outcome.gas_used,
                height=height,
            )
        )

    async def contract_events(self, request: web.Request) -> web.Response:
        """GET /v1/contracts/{address}/events."""
        addr = address_param(request.match_info["address"])
        self.node.app.contract(addr)
        limit = int_param(request, "limit", 100, 1, 1000) or 100
        after = cursor_param(request)
        blocks = self.node.blocks
        rows = blocks.account_txs(addr, limit=limit, after=after)
        out = []
        for height, index, h in rows:
            r = blocks.receipt(height, index)
            for e in [] if r is None else r.events:
                attrs = dict(e.attributes)
                if attrs.get("contract") != addr:
                    continue
                topic = e.type.split(".", 1)[1] if "." in e.type else e.type
                data = attrs.get("data", attrs.get("code_hash", b""))
                out.append(
                    ContractEventJson(
                        height=height, index=index, tx_hash=hx(h), type=e.type, topic=topic, data=hx(data)
                    )
                )
        nxt = f"{rows[-1][0]}:{rows[-1][1]}" if len(rows) == limit else None
        return ok(ContractEventsJson(contract=hx(addr), events=out, next=nxt))


def routes(node: Node) -> list[web.RouteDef]:
    """The contract routes of ``node``."""
    api = ContractsApi(node)
    return [
        web.get("/v1/contracts/{address}", api.contract),
        web.get("/v1/contracts/{address}/code", api.contract_code),
        web.post("/v1/contracts/{address}/query", api.contract_query),
        web.get("/v1/contracts/{address}/events", api.contract_events),
    ]


OPENAPI_PATHS: dict[str, Any] = {
    "/v1/contracts/{address}": {
        "get": {
            "summary": "A deployed contract: code hash and size, deployer, admin, heights",
            "parameters": [param("address", "path", ADDRESS_SCHEMA, "Contract address (20 bytes)")],
            "responses": {"200": json_response("ContractJson", "Contract"), **ERRORS},
        }
    },
    "/v1/contracts/{address}/code": {
        "get": {
            "summary": "The contract's WebAssembly code",
            "parameters": [param("address", "path", ADDRESS_SCHEMA, "Contract address")],
            "responses": {
                "200": {"description": "The module", "content": {"application/wasm": {}}},
                **ERRORS,
            },
        }
    },
    "/v1/contracts/{address}/query": {
        "post": {
            "summary": "Run a method read-only against the latest committed state (no transaction)",
            "parameters": [param("address", "path", ADDRESS_SCHEMA, "Contract address")],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": schema_ref("ContractQueryJson")}},
            },
            "responses": {
                "200": json_response("ContractQueryResultJson", "The outcome: return data, or why the call failed"),
                **ERRORS,
                **LIMITS,
            },
        }
    },
    "/v1/contracts/{address}/events": {
        "get": {
            "summary": "Events the contract emitted, in chain order (paged)",
            "parameters": [
                param("address", "path", ADDRESS_SCHEMA, "Contract address"),
                param("limit", "query", {"type": "integer", "minimum": 1, "maximum": 1000}, "Transactions per page"),
                param("after", "query", {"type": "string"}, "Cursor from the previous page's 'next'"),
            ],
            "responses": {"200": json_response("ContractEventsJson", "Events"), **ERRORS},
        }
    },
}
"""The OpenAPI path items of the contract routes."""

SCHEMAS: tuple[type, ...] = (ContractJson, ContractQueryJson, ContractQueryResultJson, ContractEventsJson)
"""The request and response types whose JSON schemas the OpenAPI document's components hold."""
