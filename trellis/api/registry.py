"""The one list of the REST API's module routes files: ``ROUTE_MODULES``.

Every module's routes file (``trellis/api/<name>.py``, beside its read side in ``trellis/app/modules``) exposes
``routes(node) -> list[web.RouteDef]``, ``OPENAPI_PATHS`` (its path items) and ``SCHEMAS`` (the types whose
JSON schemas the document's components hold). ``trellis.api.server.build_app`` mounts every entry's routes after
the node's own (status, transactions, streams, blocks, state, metrics, the document), behind the same
middlewares, limits and error mapping; ``trellis.api.openapi`` merges every entry's paths and schemas. A new
module adds one line here (``tests/unit/test_api_boundary.py`` checks each entry is mounted and documented, and
no route is defined twice).
"""

from __future__ import annotations

from typing import Any, Protocol

from aiohttp import web

from trellis.api import (
    accounts,
    attestations,
    blobs,
    console,
    contracts,
    credentials,
    custody,
    did,
    directory,
    evidence,
    genesis,
    hub,
    interchain,
    kv,
    membership,
    notary,
    transfer,
    validators,
)
from trellis.node.node import Node

__all__ = ["ROUTE_MODULES", "RouteModule"]


class RouteModule(Protocol):
    """What a routes file exposes."""

    OPENAPI_PATHS: dict[str, Any]
    SCHEMAS: tuple[type, ...]

    def routes(self, node: Node) -> list[web.RouteDef]:
        """The module's routes, bound to ``node``."""
        ...


ROUTE_MODULES: tuple[RouteModule, ...] = (
    accounts,
    membership,
    evidence,
    kv,
    contracts,
    did,
    notary,
    blobs,
    credentials,
    validators,
    attestations,
    interchain,
    transfer,
    hub,
    directory,
    genesis,
    console,
    custody,
)
"""Every module's routes file, once, in the order their paths appear in the OpenAPI document."""
