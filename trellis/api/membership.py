"""Membership routes: an address's identity certificates, and the on-chain membership.

GET /v1/certs/{address}              its registered certificates, judged at the latest block's time
GET /v1/membership                   orgs and their CA certificates, threshold, revocations, proposals
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from trellis.api.hexjson import _J, Hex
from trellis.api.params import ADDRESS_SCHEMA, ERRORS, address_param, json_response, param
from trellis.api.responses import ok
from trellis.api.types import hx
from trellis.core.codec import encode
from trellis.core.modules.membership.view import ca_fingerprint
from trellis.node.node import Node

__all__ = ["OPENAPI_PATHS", "SCHEMAS", "MembershipApi", "routes"]


class CertJson(_J):
    org: str
    serial: Hex
    role: str
    not_before_ms: int
    not_after_ms: int
    ca_fingerprint: Hex
    cert_hash: Hex
    registered_height: int
    status: str
    """``valid`` or why not (``certificate_expired``, ``certificate_revoked``, ``unknown_ca``, ...)."""
    reason: str = ""


class CertsJson(_J):
    address: Hex
    height: int
    time_ms: int
    """The block time the statuses are judged at (the latest block's)."""
    certs: list[CertJson]


class MemberOrgJson(_J):
    name: str
    ca_certs: list[Hex]
    ca_fingerprints: list[Hex]


class RevokedJson(_J):
    org: str
    serial: Hex
    revoked_by: Hex
    height: int


class ProposalJson(_J):
    id: int
    change: Hex
    change_type: str
    proposer: Hex
    config_version: int
    approvals: list[str]
    created_height: int
    applied_height: int | None


class MembershipJson(_J):
    enforce: bool
    version: int | None
    threshold: int | None
    orgs: list[MemberOrgJson]
    revoked: list[RevokedJson]
    proposals: list[ProposalJson]
    height: int


class MembershipApi:
    """The membership handlers, bound to one node."""

    def __init__(self, node: Node) -> None:
        self.node = node

    async def certs(self, request: web.Request) -> web.Response:
        """GET /v1/certs/{address}."""
        addr = address_param(request.match_info["address"])
        tip = self.node.app.info()
        views = self.node.app.certificates(addr)
        return ok(
            CertsJson(
                address=hx(addr),
                height=tip.height,
                time_ms=tip.time_ms,
                certs=[
                    CertJson(
                        org=v.entry.org,
                        serial=hx(v.entry.serial),
                        role=v.entry.role,
                        not_before_ms=v.entry.not_before_ms,
                        not_after_ms=v.entry.not_after_ms,
                        ca_fingerprint=hx(v.entry.ca_fingerprint),
                        cert_hash=hx(v.entry.cert_hash),
                        registered_height=v.entry.registered_height,
                        status=v.status,
                        reason=v.reason,
                    )
                    for v in views
                ],
            )
        )

    async def membership(self, request: web.Request) -> web.Response:
        """GET /v1/membership."""
        cfg, revoked, proposals = self.node.app.membership()
        return ok(
            MembershipJson(
                enforce=self.node.app.params.genesis.membership.enforce,
                version=None if cfg is None else cfg.version,
                threshold=None if cfg is None else cfg.threshold,
                orgs=[]
                if cfg is None
                else [
                    MemberOrgJson(
                        name=o.name,
                        ca_certs=[hx(c) for c in o.ca_certs],
                        ca_fingerprints=[hx(ca_fingerprint(c)) for c in o.ca_certs],
                    )
                    for o in cfg.orgs
                ],
                revoked=[
                    RevokedJson(org=r.org, serial=hx(r.serial), revoked_by=hx(r.revoked_by), height=r.height)
                    for r in revoked
                ],
                proposals=[
                    ProposalJson(
                        id=p.id,
                        change=hx(encode(p.change)),
                        change_type=str(type(p.change).__struct_config__.tag),
                        proposer=hx(p.proposer),
                        config_version=p.config_version,
                        approvals=list(p.approvals),
                        created_height=p.created_height,
                        applied_height=p.applied_height,
                    )
                    for p in proposals
                ],
                height=self.node.app.info().height,
            )
        )


def routes(node: Node) -> list[web.RouteDef]:
    """The membership routes of ``node``."""
    api = MembershipApi(node)
    return [
        web.get("/v1/certs/{address}", api.certs),
        web.get("/v1/membership", api.membership),
    ]


OPENAPI_PATHS: dict[str, Any] = {
    "/v1/certs/{address}": {
        "get": {
            "summary": "An address's registered identity certificates, judged at the latest block's time",
            "parameters": [param("address", "path", ADDRESS_SCHEMA, "Account address (20 bytes)")],
            "responses": {"200": json_response("CertsJson", "Certificates"), **ERRORS},
        }
    },
    "/v1/membership": {
        "get": {
            "summary": "The on-chain membership: orgs and their CA certificates, threshold, revocations, proposals",
            "responses": {"200": json_response("MembershipJson", "Membership")},
        }
    },
}
"""The OpenAPI path items of the membership routes."""

SCHEMAS: tuple[type, ...] = (CertsJson, MembershipJson)
"""The response types whose JSON schemas the OpenAPI document's components hold."""
