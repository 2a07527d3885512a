"""``GET /1.0/identifiers/{did}``: the DID resolver (W3C DID Resolution, as Universal Resolver drivers serve it).

Query parameters: ``versionId`` (a version number), ``versionTime`` (ISO 8601 date-time, with a zone), and
``proof=true``: the resolution is then computed from values read with state proofs at one committed height, and
``didStateProof`` carries every key read, its value, its proof and the header the proofs are against.

Statuses: 200 resolved, 410 deactivated (the result still carries the metadata), 400 ``invalidDid`` (or a bad
parameter), 404 ``notFound``, 501 ``methodNotSupported``. Every answer is a resolution result, errors included.
"""

from __future__ import annotations

from typing import Any

import msgspec
from aiohttp import web

from trellis.api.types import header_json, hx, proof_json
from trellis.app.modules.identity import ResolutionError, error_result, parse_iso_time, resolution_result, resolve
from trellis.core.codec import encode
from trellis.core.ledger.block import Header
from trellis.node.node import Node

RESOLUTION_MEDIA_TYPE = 'application/ld+json;profile="https://w3id.org/did-resolution"'
_STATUS = {"invalidDid": 400, "notFound": 404, "methodNotSupported": 501, "invalidOptions": 400}
_MAX_DID = 160


def _answer(status: int, body: dict[str, Any]) -> web.Response:
    resp = web.Response(status=status, body=msgspec.json.encode(body))
    resp.headers["Content-Type"] = RESOLUTION_MEDIA_TYPE
    return resp


def _failure(code: str, detail: str) -> web.Response:
    return _answer(_STATUS.get(code, 400), error_result(code, detail))


class DidResolver:
    """The resolver's handler, bound to one node."""

    def __init__(self, node: Node) -> None:
        self.node = node

    async def resolve(self, request: web.Request) -> web.Response:
        """Resolve the DID in the path (see the module docstring)."""
        did = request.match_info["did"]
        if len(did) > _MAX_DID:
            return _failure("invalidDid", f"a DID is at most {_MAX_DID} characters")
        q = request.query
        version_id: int | None = None
        version_time: int | None = None
        if q.get("versionId"):
            if not q["versionId"].isdigit() or len(q["versionId"]) > 19:
                return _failure("invalidOptions", "versionId must be a positive integer")
            version_id = int(q["versionId"])
        if q.get("versionTime"):
            if version_id is not None:
                return _failure("invalidOptions", "give versionId or versionTime, not both")
            try:
                version_time = parse_iso_time(q["versionTime"][:64])
            except (ValueError, OverflowError, OSError):
                return _failure("invalidOptions", "versionTime must be an ISO 8601 date-time with a zone")
        want_proof = q.get("proof", "").lower() in ("1", "true", "yes")
        app = self.node.app
        chain_id = app.params.chain_id
        proofs: list[dict[str, Any]] = []
        header: Header | None = None
        if want_proof:
            height = app.info().height
            if height < 1:
                return _failure("notFound", "no block has been committed yet: proofs are against a block header")

            def get(key: bytes) -> bytes | None:
                nonlocal header
                value, proof, hdr = app.prove(key, height)
                header = hdr
                proofs.append(
                    {"key": hx(key), "value": None if value is None else hx(value), "proof": proof_json(proof)}
                )
                return value

        else:
            get = app.store.get
        try:
            res = resolve(get, chain_id, did, version_id, version_time)
        except ResolutionError as exc:
            return _failure(exc.code, exc.detail)
        body = resolution_result(chain_id, res)
        if header is not None:
            body["didStateProof"] = {
                "height": header.height,
                "header": header_json(header),
                "header_hex": hx(encode(header)),
                "entries": proofs,
            }
        return _answer(410 if res.version.document is None else 200, body)


OPENAPI_PATHS: dict[str, Any] = {
    "/1.0/identifiers/{did}": {
        "get": {
            "summary": "Resolve a did:trellis DID (W3C DID Resolution result), optionally at a version or time",
            "parameters": [
                {"name": "did", "in": "path", "required": True, "schema": {"type": "string"}, "description": "The DID"},
                {"name": "versionId", "in": "query", "required": False, "schema": {"type": "string"}},
                {"name": "versionTime", "in": "query", "required": False, "schema": {"type": "string"}},
                {"name": "proof", "in": "query", "required": False, "schema": {"type": "boolean"}},
            ],
            "responses": {
                code: {"description": text, "content": {RESOLUTION_MEDIA_TYPE: {"schema": {"type": "object"}}}}
                for code, text in (
                    ("200", "Resolved"),
                    ("410", "Deactivated"),
                    ("400", "invalidDid or invalidOptions"),
                    ("404", "notFound"),
                    ("501", "methodNotSupported"),
                )
            },
        }
    }
}
"""The resolver's entry in the OpenAPI document."""


def routes(node: Node) -> list[web.RouteDef]:
    """The resolver's routes, for ``build_app``."""
    return [web.get("/1.0/identifiers/{did}", DidResolver(node).resolve)]
