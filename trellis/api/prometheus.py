"""``GET /metrics`` (Prometheus text format 0.0.4) and the middleware that counts and times every API request by
route template (docs/ops/metrics.md).

Unauthenticated, like ``/v1/metrics`` and the rest of the read API: an operator who does not want it reachable
firewalls the API port or binds ``[api] host`` to a private address.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from trellis.node.metrics import CONTENT_TYPE, OTHER, NodeMetrics

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def route_template(request: web.Request) -> str:
    """The template of the route that matched ``request`` (``/v1/txs/{hash}``), or ``other`` when none did (a 404
    or 405 answered by the router): the label set stays bounded whatever paths clients send."""
    resource = request.match_info.route.resource
    return OTHER if resource is None else resource.canonical


def metrics_middleware(metrics: NodeMetrics) -> Callable[..., Awaitable[web.StreamResponse]]:
    """The outermost middleware: every request's route, method, status class and time go to ``metrics``."""

    @web.middleware
    async def middleware(request: web.Request, handler: _Handler) -> web.StreamResponse:
        t0 = time.perf_counter()
        status = 500
        try:
            resp = await handler(request)
            status = resp.status
            return resp
        except web.HTTPException as exc:
            status = exc.status
            raise
        finally:
            metrics.observe_request(route_template(request), request.method, status, time.perf_counter() - t0)

    return middleware


def metrics_route(metrics: NodeMetrics) -> web.RouteDef:
    """``GET /metrics``: every metric of the node in the text exposition format."""

    async def handler(_request: web.Request) -> web.Response:
        body = metrics.exposition()
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})

    return web.get("/metrics", handler)


__all__ = ["metrics_middleware", "metrics_route", "route_template"]
