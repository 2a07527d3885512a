"""Transfer routes (docs/spec/transfer.md): voucher balances, denomination traces and channel escrows, read at the
committed tip. Proofs go through the generic ``GET /v1/state/{key}?prove&height=``.

  GET /v1/transfer/balances/{address}      the native balance and every voucher held, with its trace
  GET /v1/transfer/denoms/{hash}           a voucher denomination: its trace and the supply on this chain
  GET /v1/transfer/escrow/{channel}        native units and vouchers a channel holds in escrow

The voucher listings walk at most ``MAX_DENOMS`` (1,000) denominations per answer: ``next_from_denom`` (null on
the last page) is the ``from_denom`` query parameter of the next page (``native`` is on the first page only).

Refusals: 400 ``bad_address``, ``bad_hash``, ``bad_channel``; 404 ``not_found``.
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from trellis.api.hexjson import _J, Hex, hx
from trellis.api.interchain import CHANNEL_ID_PATTERN
from trellis.api.params import (
    ADDRESS_SCHEMA,
    ERRORS,
    HASH_PATTERN,
    ApiError,
    address_param,
    hash_param,
    json_response,
    param,
)
from trellis.api.responses import ok
from trellis.app.modules import transfer as reads
from trellis.node.node import Node

__all__ = ["OPENAPI_PATHS", "SCHEMAS", "TransferApi", "routes"]

_CHANNEL = re.compile(CHANNEL_ID_PATTERN.removesuffix("$"))
_FROM_DENOM = param(
    "from_denom",
    "query",
    {"type": "string", "pattern": HASH_PATTERN},
    "Denomination hash the page starts from (the previous page's next_from_denom)",
)


class HoldingJson(_J):
    """An amount of one denomination."""

    denom: str
    """``native``, or the full voucher denomination ``path/base`` (``transfer/channel-0/native``)."""
    denom_hash: Hex | None
    """The voucher's denomination hash (its key in state and in ``transfer.move``); null for ``native``."""
    path: str
    """The hops it came over (``transfer/channel-0``); ``""`` for ``native``."""
    base: str
    """Its denomination at its origin."""
    amount: int


class BalancesJson(_J):
    """``GET /v1/transfer/balances/{address}``."""

    address: Hex
    height: int
    balances: list[HoldingJson]
    """``native`` first (even when 0; first page only), then every voucher held (non-zero), by denomination hash."""
    next_from_denom: Hex | None
    """The ``from_denom`` of the next page (more than 1,000 denominations to walk); null on the last page."""


class DenomJson(_J):
    """``GET /v1/transfer/denoms/{hash}``."""

    denom_hash: Hex
    denom: str
    path: str
    base: str
    supply: int
    """Vouchers of this denomination outstanding on this chain."""
    height: int


class EscrowJson(_J):
    """``GET /v1/transfer/escrow/{channel}``."""

    channel: str
    native: int
    """Native units escrowed for vouchers on the counterparty."""
    vouchers: list[HoldingJson]
    next_from_denom: Hex | None
    """The ``from_denom`` of the next page of ``vouchers``; null on the last page."""
    height: int


def _from_denom(request: web.Request) -> bytes | None:
    text = request.query.get("from_denom")
    if text is None:
        return None
    try:
        return hash_param(text)
    except ApiError as exc:
        raise ApiError(400, "bad_parameter", f"from_denom: {exc.detail}") from None


def holding_json(h: reads.Holding) -> HoldingJson:
    """A holding as JSON."""
    return HoldingJson(
        denom=h.denom,
        denom_hash=hx(h.denom_hash) if h.trace is not None else None,
        path="" if h.trace is None else h.trace.path,
        base=h.denom if h.trace is None else h.trace.base,
        amount=h.amount,
    )


class TransferApi:
    """The transfer handlers, bound to one node."""

    def __init__(self, node: Node) -> None:
        self.node = node

    async def balances(self, request: web.Request) -> web.Response:
        """GET /v1/transfer/balances/{address}."""
        address = address_param(request.match_info["address"])
        view = self.node.app.reader()
        page = reads.balances(view, address, _from_denom(request))
        return ok(
            BalancesJson(
                address=hx(address),
                height=view.height,
                balances=[holding_json(h) for h in page.holdings],
                next_from_denom=None if page.next_from is None else hx(page.next_from),
            )
        )

    async def denom(self, request: web.Request) -> web.Response:
        """GET /v1/transfer/denoms/{hash}."""
        dhash = hash_param(request.match_info["hash"])
        view = self.node.app.reader()
        found = reads.denom(view, dhash)
        if found is None:
            raise ApiError(404, "not_found", f"no voucher denomination {hx(dhash)} on this chain")
        return ok(
            DenomJson(
                denom_hash=hx(dhash),
                denom=reads.full_denom(found.trace),
                path=found.trace.path,
                base=found.trace.base,
                supply=found.supply,
                height=view.height,
            )
        )

    async def escrow(self, request: web.Request) -> web.Response:
        """GET /v1/transfer/escrow/{channel}."""
        chan = request.match_info["channel"]
        if not _CHANNEL.fullmatch(chan):
            raise ApiError(400, "bad_channel", f"{chan[:80]!r} is not a channel id (channel-<n>)")
        start = _from_denom(request)
        view = self.node.app.reader()
        e = reads.escrow(view, self.node.params.suite, chan, start)
        return ok(
            EscrowJson(
                channel=chan,
                native=e.native,
                vouchers=[holding_json(h) for h in e.vouchers],
                next_from_denom=None if e.next_from is None else hx(e.next_from),
                height=view.height,
            )
        )


def routes(node: Node) -> list[web.RouteDef]:
    """The transfer routes of ``node``."""
    api = TransferApi(node)
    return [
        web.get("/v1/transfer/balances/{address}", api.balances),
        web.get("/v1/transfer/denoms/{hash}", api.denom),
        web.get("/v1/transfer/escrow/{channel}", api.escrow),
    ]


OPENAPI_PATHS: dict[str, Any] = {
    "/v1/transfer/balances/{address}": {
        "get": {
            "summary": "An address's native balance and every voucher it holds, with its denomination trace",
            "parameters": [param("address", "path", ADDRESS_SCHEMA, "Account address (20 bytes)"), _FROM_DENOM],
            "responses": {"200": json_response("BalancesJson", "The balances"), **ERRORS},
        }
    },
    "/v1/transfer/denoms/{hash}": {
        "get": {
            "summary": "A voucher denomination: its trace and the supply outstanding on this chain",
            "parameters": [param("hash", "path", {"type": "string", "pattern": HASH_PATTERN}, "Denomination hash")],
            "responses": {"200": json_response("DenomJson", "The denomination"), **ERRORS},
        }
    },
    "/v1/transfer/escrow/{channel}": {
        "get": {
            "summary": "What a channel holds in escrow: native units and vouchers at its escrow address",
            "parameters": [
                param("channel", "path", {"type": "string", "pattern": CHANNEL_ID_PATTERN}, "The channel id"),
                _FROM_DENOM,
            ],
            "responses": {"200": json_response("EscrowJson", "The escrow"), "400": ERRORS["400"]},
        }
    },
}
"""The OpenAPI path items of the transfer routes."""

SCHEMAS: tuple[type, ...] = (BalancesJson, DenomJson, EscrowJson)
"""The response types whose JSON schemas the OpenAPI document's components hold."""
