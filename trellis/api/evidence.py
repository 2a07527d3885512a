"""Evidence route: the equivocations (double votes, double proposals) recorded on chain.

GET /v1/evidence                     the first 1000 records, by offender, height, round and kind
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from trellis.api.hexjson import _J, Hex
from trellis.api.params import json_response
from trellis.api.responses import ok
from trellis.api.types import hx
from trellis.app.modules.evidence import list_evidence
from trellis.core.codec import encode
from trellis.node.node import Node

__all__ = ["MAX_EVIDENCE", "OPENAPI_PATHS", "SCHEMAS", "EvidenceApi", "routes"]

MAX_EVIDENCE = 1000
"""The most records one answer lists."""


class EvidenceJson(_J):
    offender: Hex
    kind: str
    height: int
    round: int
    recorded_at: int
    evidence: Hex
    """Canonical encoding of the two conflicting signed messages."""


class EvidenceListJson(_J):
    evidence: list[EvidenceJson]


class EvidenceApi:
    """The evidence handler, bound to one node."""

    def __init__(self, node: Node) -> None:
        self.node = node

    async def evidence(self, request: web.Request) -> web.Response:
        """GET /v1/evidence."""
        out = [
            EvidenceJson(
                offender=hx(rec.offender),
                kind=rec.kind,
                height=rec.height,
                round=rec.round,
                recorded_at=rec.recorded_at,
                evidence=hx(encode(rec.evidence)),
            )
            for rec in list_evidence(self.node.app.reader(), MAX_EVIDENCE)
        ]
        return ok(EvidenceListJson(evidence=out))


def routes(node: Node) -> list[web.RouteDef]:
    """The evidence route of ``node``."""
    return [web.get("/v1/evidence", EvidenceApi(node).evidence)]


OPENAPI_PATHS: dict[str, Any] = {
    "/v1/evidence": {
        "get": {
            "summary": "Equivocations (double votes, double proposals) recorded on chain",
            "responses": {"200": json_response("EvidenceListJson", "Evidence records")},
        }
    },
}
"""The OpenAPI path item of the evidence route."""

SCHEMAS: tuple[type, ...] = (EvidenceListJson,)
"""The response types whose JSON schemas the OpenAPI document's components hold."""
