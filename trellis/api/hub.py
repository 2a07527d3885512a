"""Hub routes (docs/spec/hub.md 6): a hub's registry of sub-chains, read at the committed tip. Proofs of a record go
through the generic ``GET /v1/state/{key}?prove&height=`` (key ``hub/chain/<chain_id>``).

  GET /v1/hub/chains?org=&status=&cursor=&limit=     sub-chains by chain id; ``next_cursor`` pages on
  GET /v1/hub/chains/{chain_id}                      one sub-chain

Refusals: 400 ``bad_id`` (a chain id that cannot be one), ``bad_parameter`` (``org``, ``status``, ``cursor`` or
``limit``); 404 ``not_found`` (a chain id never registered here).
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from trellis.api.hexjson import _J, Hex, hx
from trellis.api.params import ERRORS, ApiError, int_param, json_response, param
from trellis.api.responses import ok
from trellis.app.modules import hub as reads
from trellis.node.node import Node

__all__ = ["OPENAPI_PATHS", "SCHEMAS", "HubApi", "routes", "subchain_json"]

CHAIN_ID_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,63}$"
"""A chain id (path or cursor)."""
ORG_PATTERN = r"^.{1,64}$"
"""An organisation name."""
_CHAIN_ID = re.compile(CHAIN_ID_PATTERN.removesuffix("$"))
_STATUSES = tuple(reads.STATUS_BY_NAME)


class PortChannelJson(_J):
    """A hub channel end to the sub-chain."""

    port: str
    channel: str


class SubChainJson(_J):
    """``GET /v1/hub/chains/{chain_id}``: a registered sub-chain."""

    chain_id: str
    operator_org: str
    """The member organisation that runs it."""
    genesis_hash: Hex
    status: str
    """``registered``, ``connected`` (``hub.connected`` recorded) or ``retired``."""
    registered_height: int
    """0: registered in the hub's genesis."""
    retired_height: int
    """0: not retired."""
    client_id: str
    """The hub's client of it (``""`` until connected)."""
    connection_id: str
    channels: list[PortChannelJson]
    height: int
    """The committed height the answer was read at."""


class SubChainListJson(_J):
    """``GET /v1/hub/chains``: one page of sub-chains, by chain id."""

    height: int
    count: int
    """Registered sub-chains that are not retired (the whole registry, whatever the filters)."""
    chains: list[SubChainJson]
    next_cursor: str | None
    """The ``cursor`` of the next page; null at the end."""


def subchain_json(view: reads.SubChainView, height: int) -> SubChainJson:
    """A sub-chain as JSON."""
    r = view.record
    return SubChainJson(
        chain_id=view.chain_id,
        operator_org=r.operator_org,
        genesis_hash=hx(r.genesis_hash),
        status=view.status_name,
        registered_height=r.registered_height,
        retired_height=r.retired_height,
        client_id=r.client_id,
        connection_id=r.connection_id,
        channels=[PortChannelJson(port=pc.port, channel=pc.channel) for pc in r.channels],
        height=height,
    )


def _chain_id(text: str, code: str, what: str) -> str:
    if not _CHAIN_ID.fullmatch(text):
        raise ApiError(400, code, f"{what} {text[:80]!r} is not a chain id (a-z, 0-9, '.', '_', '-'; 1 to 64)")
    return text


class HubApi:
    """The hub handlers, bound to one node."""

    def __init__(self, node: Node) -> None:
        self.node = node

    async def chains(self, request: web.Request) -> web.Response:
        """GET /v1/hub/chains."""
        org = request.query.get("org") or None
        if org is not None and len(org) > 64:
            raise ApiError(400, "bad_parameter", "query parameter 'org' must be an organisation name (1 to 64)")
        status_name = request.query.get("status") or None
        status = None
        if status_name is not None:
            if status_name not in reads.STATUS_BY_NAME:
                raise ApiError(400, "bad_parameter", f"query parameter 'status' must be one of {', '.join(_STATUSES)}")
            status = reads.STATUS_BY_NAME[status_name]
        cursor = request.query.get("cursor") or ""
        if cursor:
            _chain_id(cursor, "bad_parameter", "query parameter 'cursor'")
        limit = int_param(request, "limit", reads.MAX_PAGE, 1, reads.MAX_PAGE) or reads.MAX_PAGE
        view = self.node.app.reader()
        page = reads.subchains(view, self.node.params.suite, org=org, status=status, after=cursor, limit=limit)
        return ok(
            SubChainListJson(
                height=view.height,
                count=reads.count(view),
                chains=[subchain_json(c, view.height) for c in page.chains],
                next_cursor=page.next,
            )
        )

    async def chain(self, request: web.Request) -> web.Response:
        """GET /v1/hub/chains/{chain_id}."""
        cid = _chain_id(request.match_info["chain_id"], "bad_id", "the path's chain id")
        view = self.node.app.reader()
        found = reads.subchain(view, cid)
        if found is None:
            raise ApiError(404, "not_found", f"chain {cid!r} is not registered on this hub")
        return ok(subchain_json(found, view.height))


def routes(node: Node) -> list[web.RouteDef]:
    """The hub routes of ``node``."""
    api = HubApi(node)
    return [
        web.get("/v1/hub/chains", api.chains),
        web.get("/v1/hub/chains/{chain_id}", api.chain),
    ]


OPENAPI_PATHS: dict[str, Any] = {
    "/v1/hub/chains": {
        "get": {
            "summary": "A hub's registered sub-chains, by chain id (docs/spec/hub.md)",
            "parameters": [
                param("org", "query", {"type": "string", "pattern": ORG_PATTERN}, "Only those this organisation runs"),
                param("status", "query", {"type": "string", "enum": list(_STATUSES)}, "Only those of this status"),
                param(
                    "cursor",
                    "query",
                    {"type": "string", "pattern": CHAIN_ID_PATTERN},
                    "List chain ids after this one (a previous page's next_cursor)",
                ),
                param(
                    "limit",
                    "query",
                    {"type": "integer", "minimum": 1, "maximum": reads.MAX_PAGE},
                    f"Page size (default {reads.MAX_PAGE}); a status filter may return fewer with a next_cursor",
                ),
            ],
            "responses": {"200": json_response("SubChainListJson", "One page of sub-chains"), "400": ERRORS["400"]},
        }
    },
    "/v1/hub/chains/{chain_id}": {
        "get": {
            "summary": "A registered sub-chain: operator, genesis, status, and its client, connection and channels",
            "parameters": [param("chain_id", "path", {"type": "string", "pattern": CHAIN_ID_PATTERN}, "The chain id")],
            "responses": {"200": json_response("SubChainJson", "The sub-chain"), **ERRORS},
        }
    },
}
"""The OpenAPI path items of the hub routes."""

SCHEMAS: tuple[type, ...] = (SubChainListJson, SubChainJson)
"""The response types whose JSON schemas the OpenAPI document's components hold."""
