"""``GET /v1/genesis``: the chain's genesis document as JSON (docs/spec/encoding.md 2.9), read-only.

The console's Verify view (ADR 0017 section 2) checks notarization receipts in the browser against the genesis:
it fetches this document, computes the genesis hash itself (the msgpack map of encoding.md 2.9, every default
filled in) and shows it, so a user can compare it with the hash they trust. The document is the node's parsed
genesis written back as JSON: members with defaults are written out, absent optional members (``interchain``,
``hub``, ``bench_network``, a validator's ``org``) stay absent, so it hashes exactly as the node's own file. Its
size is bounded by the genesis itself (parsed at start).
"""

from __future__ import annotations

from typing import Any

import msgspec
from aiohttp import web

from trellis.node.node import Node

__all__ = ["OPENAPI_PATHS", "SCHEMAS", "routes"]


def routes(node: Node) -> list[web.RouteDef]:
    """The genesis route of ``node`` (the body is encoded at the first request, then kept: the genesis never
    changes)."""
    cached: list[tuple[bytes, str]] = []

    async def genesis(request: web.Request) -> web.Response:
        if not cached:
            cached.append((msgspec.json.encode(node.params.genesis), "0x" + node.params.genesis_hash.hex()))
        body, genesis_hash = cached[0]
        return web.Response(
            body=body, content_type="application/json", headers={"X-Trellis-Genesis-Hash": genesis_hash}
        )

    return [web.get("/v1/genesis", genesis)]


OPENAPI_PATHS: dict[str, Any] = {
    "/v1/genesis": {
        "get": {
            "summary": "The chain's genesis document (docs/spec/encoding.md 2.9); its hash is the status's "
            "genesis_hash, recomputed by any verifier from this JSON",
            "responses": {
                "200": {
                    "description": "The genesis document (header X-Trellis-Genesis-Hash: the node's genesis hash)",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                }
            },
        }
    }
}
"""The OpenAPI path item of the genesis route."""

SCHEMAS: tuple[type, ...] = ()
"""No component schemas (the genesis document's JSON is encoding.md 2.9's)."""
