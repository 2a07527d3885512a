"""Account routes: an account's balance and nonces, and its transactions in chain order.

GET /v1/accounts/{address}           balance, committed nonce, and the next nonce counting this node's mempool
GET /v1/accounts/{address}/txs       every transaction of the account (paged: ``limit``, ``after``)
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from trellis.api.hexjson import _J, Hex
from trellis.api.params import (
    ADDRESS_SCHEMA,
    ERRORS,
    address_param,
    cursor_param,
    int_param,
    json_response,
    param,
)
from trellis.api.responses import ok
from trellis.api.types import hx
from trellis.node.node import Node

__all__ = ["OPENAPI_PATHS", "SCHEMAS", "AccountsApi", "routes"]


class AccountJson(_J):
    address: Hex
    balance: int
    nonce: int
    """Next nonce in committed state."""
    next_nonce: int
    """Next nonce counting transactions pending in this node's mempool: the nonce to sign next."""
    height: int


class AccountTxJson(_J):
    height: int
    index: int
    hash: Hex
    code: int


class AccountTxsJson(_J):
    address: Hex
    txs: list[AccountTxJson]
    next: str | None


class AccountsApi:
    """The account handlers, bound to one node."""

    def __init__(self, node: Node) -> None:
        self.node = node

    async def account(self, request: web.Request) -> web.Response:
        """GET /v1/accounts/{address}."""
        addr = address_param(request.match_info["address"])
        acct = self.node.app.account(addr)
        return ok(
            AccountJson(
                address=hx(addr),
                balance=acct.balance,
                nonce=acct.nonce,
                next_nonce=self.node.mempool.next_nonce(addr),
                height=self.node.app.info().height,
            )
        )

    async def account_txs(self, request: web.Request) -> web.Response:
        """GET /v1/accounts/{address}/txs."""
        addr = address_param(request.match_info["address"])
        limit = int_param(request, "limit", 100, 1, 1000) or 100
        after = cursor_param(request)
        blocks = self.node.blocks
        rows = blocks.account_txs(addr, limit=limit, after=after)
        out = []
        for height, index, h in rows:
            r = blocks.receipt(height, index)
            out.append(AccountTxJson(height=height, index=index, hash=hx(h), code=-1 if r is None else r.code))
        nxt = f"{rows[-1][0]}:{rows[-1][1]}" if len(rows) == limit else None
        return ok(AccountTxsJson(address=hx(addr), txs=out, next=nxt))


def routes(node: Node) -> list[web.RouteDef]:
    """The account routes of ``node``."""
    api = AccountsApi(node)
    return [
        web.get("/v1/accounts/{address}", api.account),
        web.get("/v1/accounts/{address}/txs", api.account_txs),
    ]


OPENAPI_PATHS: dict[str, Any] = {
    "/v1/accounts/{address}": {
        "get": {
            "summary": "Account balance and nonce",
            "parameters": [param("address", "path", ADDRESS_SCHEMA, "Account address (20 bytes)")],
            "responses": {"200": json_response("AccountJson", "Account"), **ERRORS},
        }
    },
    "/v1/accounts/{address}/txs": {
        "get": {
            "summary": "Every transaction of an account, in chain order (paged)",
            "parameters": [
                param("address", "path", ADDRESS_SCHEMA, "Account address"),
                param("limit", "query", {"type": "integer", "minimum": 1, "maximum": 1000}, "Page size"),
                param("after", "query", {"type": "string"}, "Cursor from the previous page's 'next'"),
            ],
            "responses": {"200": json_response("AccountTxsJson", "History"), **ERRORS},
        }
    },
}
"""The OpenAPI path items of the account routes."""

SCHEMAS: tuple[type, ...] = (AccountJson, AccountTxsJson)
"""The response types whose JSON schemas the OpenAPI document's components hold."""
