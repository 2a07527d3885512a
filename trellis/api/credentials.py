"""Verifiable-credential endpoints (docs/spec/credentials.md §6).

- ``POST /v1/credentials/verify``: ``{"credential": {...}}`` or ``{"presentation": {...}, "challenge": "...",
  "domain": "..."}``; answers 200 with ``verified`` and every check (a refused credential is a result, not an
  error); 400 ``malformed`` for a body that is not one of those shapes.
- ``GET /v1/status-lists/{id}``: the list as a ``BitstringStatusListCredential`` body with its ``encodedList``,
  without a Data Integrity proof (the node does not hold the issuer's key); ``?proof=true`` adds a state proof of
  the list's header and every chunk against one committed header. For standard verifiers the issuer signs and
  publishes snapshots itself (``trellis vc status-publish``; docs/spec/credentials.md section 6.1).
- ``GET /v1/issuers``: the trust registry.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec
from aiohttp import web

from trellis.abci import CommittedView, QueryRequest
from trellis.api.interchain import run_remote
from trellis.api.responses import ok, problem
from trellis.api.types import header_json, hx, proof_json
from trellis.app.modules.credentials import (
    list_issuers,
    read_status_list,
    resolver_for,
    status_list_bits,
    status_list_chunks,
    status_list_json,
)
from trellis.app.modules.interchain import CrossChainResolver
from trellis.core.codec import encode
from trellis.core.execution.context import PointReader
from trellis.core.modules.credentials.state import status_chunk_key, status_list_key
from trellis.node.node import Node
from trellis.vc.verifier import Check, PresentationResult, VerificationResult, verify_credential, verify_presentation

__all__ = ["OPENAPI_PATHS", "SCHEMAS", "routes"]

_LIST_ID_MAX = 64
LIST_ID_PATTERN = r"^[A-Za-z0-9._-]{1,64}$"
"""A status list id (as ``StatusListId`` in the credentials transactions)."""
_LIST_ID = re.compile(LIST_ID_PATTERN)


class VerifyRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Body of ``POST /v1/credentials/verify``."""

    credential: dict[str, Any] | None = None
    presentation: dict[str, Any] | None = None
    challenge: str | None = None
    domain: str | None = None


def _checks(checks: list[Check]) -> list[dict[str, Any]]:
    return [{"check": c.name, "ok": c.ok, **({"code": c.code, "reason": c.reason} if not c.ok else {})} for c in checks]


def _credential_json(r: VerificationResult) -> dict[str, Any]:
    return {
        "verified": r.verified,
        "issuer": r.issuer,
        "types": r.types,
        "checks": _checks(r.checks),
        "credentialSubject": r.subject if r.verified else None,
    }


def verification_json(result: VerificationResult | PresentationResult, height: int, time_ms: int) -> dict[str, Any]:
    """The JSON answer of a verification (also what ``trellis vc verify`` prints)."""
    body: dict[str, Any] = {"verified": result.verified, "height": height, "block_time_ms": time_ms}
    if isinstance(result, PresentationResult):
        body["checks"] = _checks(result.checks)
        body["credentials"] = [_credential_json(r) for r in result.credentials]
    else:
        body.update(_credential_json(result))
    return body


class CredentialsApi:
    """The credential endpoints' handlers, bound to one node."""

    def __init__(self, node: Node) -> None:
        self.node = node

    def _view(self) -> CommittedView:
        return self.node.app.reader()

    async def verify(self, request: web.Request) -> web.Response:
        """Verify a credential or a presentation against the latest committed block."""
        try:
            req = msgspec.json.decode(await request.read(), type=VerifyRequest)
        except msgspec.DecodeError as exc:
            return problem(400, "malformed", f"invalid request body: {exc}")
        view = self._view()
        params = self.node.app.params
        # did:trellis DIDs of other chains (issuers and their status lists) resolve by proof through this chain's
        # client of that chain (ADR 0015 section 9); no request is made for a credential that names none.
        resolver = CrossChainResolver(
            resolver_for(view, params.chain_id, params.suite.name),
            view,
            params.chain_id,
            view.time_ms,
            self.node.config.interchain.genesis_hashes,
        )
        endpoints = self.node.config.interchain.endpoints
        if (req.credential is None) == (req.presentation is None):
            return problem(400, "malformed", "give exactly one of credential and presentation")
        if req.presentation is not None:
            if req.challenge is None or req.domain is None:
                return problem(400, "malformed", "a presentation is verified against a challenge and a domain")
            vp, challenge, domain = req.presentation, req.challenge, req.domain
            result: VerificationResult | PresentationResult = await run_remote(
                lambda: verify_presentation(vp, view, resolver, challenge=challenge, domain=domain), endpoints
            )
        else:
            result = await run_remote(lambda: verify_credential(req.credential, view, resolver), endpoints)
        return ok(verification_json(result, view.height, view.time_ms))

    async def status_list(self, request: web.Request) -> web.Response:
        """A status list's bits, optionally with state proofs."""
        list_id = request.match_info["id"]
        if _LIST_ID.fullmatch(list_id) is None:
            return problem(
                400, "bad_list_id", f"a list id is 1 to {_LIST_ID_MAX} characters of A-Z, a-z, 0-9, '.', '_', '-'"
            )
        app = self.node.app
        want_proof = request.query.get("proof", "").lower() in ("1", "true", "yes")
        state = app.reader()
        record = read_status_list(state, list_id)
        if record is None:
            return problem(404, "unknown_status_list", f"no status list {list_id!r}")
        url = f"{request.url.origin()}/v1/status-lists/{list_id}"
        if not want_proof:
            return ok({**status_list_json(record, status_list_bits(state, record), url), "height": app.info().height})
        height = app.info().height
        entries: list[dict[str, Any]] = []
        header = None

        def get(key: bytes) -> bytes | None:
            nonlocal header
            res = app.query(QueryRequest(path="state", key=key, height=height, prove=True))
            assert res.proof is not None and res.header is not None, "a proven state query answers both"
            header = res.header
            value = res.value
            entries.append(
                {"key": hx(key), "value": None if value is None else hx(value), "proof": proof_json(res.proof)}
            )
            return value

        proven = read_status_list(PointReader(get), list_id)
        assert proven is not None
        bits = status_list_bits(PointReader(get), proven)
        body = {**status_list_json(proven, bits, url), "height": height}
        assert header is not None
        body["stateProof"] = {
            "height": height,
            "header": header_json(header),
            "header_hex": hx(encode(header)),
            "keys": {
                "list": hx(status_list_key(list_id)),
                "chunks": [hx(status_chunk_key(list_id, n)) for n in status_list_chunks(proven)],
            },
            "entries": entries,
        }
        return ok(body)

    async def issuers(self, request: web.Request) -> web.Response:
        """The trust registry."""
        app = self.node.app
        records = list_issuers(app.reader())
        return ok(
            {
                "issuers": [
                    {
                        "did": r.did,
                        "types": list(r.types),
                        "controller": hx(r.controller),
                        "updated_height": r.updated_height,
                    }
                    for r in records
                ],
                "height": app.info().height,
            }
        )


OPENAPI_PATHS: dict[str, Any] = {
    "/v1/credentials/verify": {
        "post": {
            "summary": "Verify a credential, or a presentation with its challenge and domain, against the latest block",
            "responses": {"200": {"description": "The result with every check"}, "400": {"description": "malformed"}},
        }
    },
    "/v1/status-lists/{id}": {
        "get": {
            "summary": "A Bitstring Status List (encodedList), optionally with state proofs (?proof=true)",
            "parameters": [
                {
                    "name": "id",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string", "pattern": LIST_ID_PATTERN},
                },
                {"name": "proof", "in": "query", "required": False, "schema": {"type": "boolean"}},
            ],
            "responses": {"200": {"description": "The list"}, "404": {"description": "unknown_status_list"}},
        }
    },
    "/v1/issuers": {"get": {"summary": "The issuer trust registry", "responses": {"200": {"description": "Issuers"}}}},
}
"""The credential endpoints' entries in the OpenAPI document."""
SCHEMAS: tuple[type, ...] = ()
"""The credential answers are W3C shapes, documented inline, not as component schemas."""


def routes(node: Node) -> list[web.RouteDef]:
    """The credential routes, for ``build_app``."""
    api = CredentialsApi(node)
    return [
        web.post("/v1/credentials/verify", api.verify),
        web.get("/v1/status-lists/{id}", api.status_list),
        web.get("/v1/issuers", api.issuers),
    ]
