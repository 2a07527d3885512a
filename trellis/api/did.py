"""``GET /1.0/identifiers/{did}``: the DID resolver (W3C DID Resolution, as Universal Resolver drivers serve it).

Query parameters: ``versionId`` (a version number), ``versionTime`` (ISO 8601 date-time, with a zone), and
``proof=true``: the resolution is then computed from values read with state proofs at one committed height, and
``didStateProof`` carries every key read, its value, its proof and the header the proofs are against.

Representation (``Accept``): a DID Resolution result (``application/ld+json;profile="https://w3id.org/did-resolution"``,
the default, also for ``application/ld+json``, ``application/json`` and ``*/*``), or with
``Accept: application/did+ld+json`` the bare DID document (``Content-Type: application/did+ld+json``); the
media range with the highest ``q`` wins. ``proof=true`` needs the resolution result (the proof has no place in
a bare document): asked with ``application/did+ld+json`` it is 406 ``representationNotSupported``.

Statuses: 200 resolved, 410 deactivated (the result still carries the metadata; a bare document is the
deactivated, empty one), 400 ``invalidDid`` (or a bad parameter), 404 ``notFound``, 501 ``methodNotSupported``.
Errors are always resolution results.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec
from aiohttp import web

from trellis.abci import QueryRequest
from trellis.api.interchain import run_remote
from trellis.api.types import header_json, hx, proof_json
from trellis.app.modules.identity import (
    DID_LD_JSON,
    ResolutionError,
    error_result,
    parse_iso_time,
    resolution_result,
    resolve,
)
from trellis.app.modules.interchain import (
    ClientNotActive,
    EndpointUnavailable,
    InvalidProof,
    ProvenReader,
    UnknownChain,
    anchor_for_chain,
    did_chain,
)
from trellis.core.codec import encode
from trellis.core.execution.context import PointReader, StateReader
from trellis.core.ledger.block import Header
from trellis.core.modules.identity.did import DidError, parse_did
from trellis.node.node import Node

RESOLUTION_MEDIA_TYPE = 'application/ld+json;profile="https://w3id.org/did-resolution"'
_STATUS = {
    "invalidDid": 400,
    "notFound": 404,
    "methodNotSupported": 501,
    "invalidOptions": 400,
    "representationNotSupported": 406,
    "unknown_chain": 404,
    "client_not_active": 409,
    "invalid_proof": 502,
    "endpoint_unavailable": 502,
}
_RESULT_TYPES = {"application/ld+json", "application/json", "*/*", "application/*"}


def wants_document(accept: str) -> bool:
    """True when ``accept`` prefers the bare DID document (``application/did+ld+json``) to the resolution
    result: the media range of the highest ``q`` decides, the first listed among equals; none known: the result."""
    best_q, document = -1.0, False
    for part in accept[:1024].split(","):
        fields = [f.strip() for f in part.split(";")]
        media = fields[0].lower()
        q = 1.0
        for f in fields[1:]:
            name, _, value = f.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if media == DID_LD_JSON:
            kind = True
        elif media in _RESULT_TYPES:
            kind = False
        else:
            continue
        if q > best_q:
            best_q, document = q, kind
    return document and best_q > 0


_MAX_DID = 160
DID_PATTERN = r"^did:[a-z0-9]+:(?:(?:[A-Za-z0-9._-]|%[0-9A-Fa-f]{2})*:)*(?:[A-Za-z0-9._-]|%[0-9A-Fa-f]{2})+$"
"""W3C DID syntax (DID Core 3.1): ``did:`` method-name ``:`` method-specific-id."""
_DID_SYNTAX = re.compile(DID_PATTERN.removeprefix("^").removesuffix("$"))


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
        if _DID_SYNTAX.fullmatch(did) is None:
            return _failure("invalidDid", "not a DID (W3C DID syntax: did:<method>:<method-specific-id>)")
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
        bare = wants_document(request.headers.get("Accept", ""))
        if bare and want_proof:
            return _failure(
                "representationNotSupported",
                f"proof=true answers a DID Resolution result ({RESOLUTION_MEDIA_TYPE}), not {DID_LD_JSON}",
            )
        app = self.node.app
        chain_id = app.params.chain_id
        other = did_chain(did)
        if other is not None and other != chain_id:
            return await self._resolve_other(other, did, version_id, version_time, bare, want_proof)
        proofs: list[dict[str, Any]] = []
        header: Header | None = None
        state: StateReader
        if want_proof:
            height = app.info().height
            if height < 1:
                return _failure("notFound", "no block has been committed yet: proofs are against a block header")

            def get(key: bytes) -> bytes | None:
                nonlocal header
                res = app.query(QueryRequest(path="state", key=key, height=height, prove=True))
                assert res.proof is not None and res.header is not None, "a proven state query answers both"
                header = res.header
                value = res.value
                proofs.append(
                    {"key": hx(key), "value": None if value is None else hx(value), "proof": proof_json(res.proof)}
                )
                return value

            state = PointReader(get)
        else:
            state = app.reader()
        try:
            res = resolve(state, chain_id, did, version_id, version_time)
        except ResolutionError as exc:
            return _failure(exc.code, exc.detail)
        body = resolution_result(chain_id, res)
        status = 410 if res.version.document is None else 200
        if bare:
            resp = web.Response(status=status, body=msgspec.json.encode(body["didDocument"]))
            resp.headers["Content-Type"] = DID_LD_JSON
            return resp
        if header is not None:
            body["didStateProof"] = {
                "height": header.height,
                "header": header_json(header),
                "header_hex": hx(encode(header)),
                "entries": proofs,
            }
        return _answer(status, body)

    async def _resolve_other(
        self, other: str, did: str, version_id: int | None, version_time: int | None, bare: bool, want_proof: bool
    ) -> web.Response:
        """Resolve a DID of chain ``other`` from that chain's state, proven against this chain's client of it
        (ADR 0015 section 9): the values come from the configured endpoint, each with its state proof at the
        client's latest consensus height, checked against that consensus state's root."""
        try:
            parse_did(did, other)
        except DidError as exc:
            return _failure(exc.code, exc.reason)
        view = self.node.app.reader()
        try:
            anchor = anchor_for_chain(view, other, view.time_ms, self.node.config.interchain.genesis_hashes)
        except (UnknownChain, ClientNotActive) as exc:
            return _failure(exc.code, exc.reason)
        reader = ProvenReader(anchor)
        try:
            res = await run_remote(
                lambda: resolve(reader, other, did, version_id, version_time), self.node.config.interchain.endpoints
            )
        except ResolutionError as exc:
            return _failure(exc.code, exc.detail)
        except (InvalidProof, EndpointUnavailable) as exc:
            return _failure(exc.code, exc.reason)
        body = resolution_result(other, res)
        status = 410 if res.version.document is None else 200
        if bare:
            resp = web.Response(status=status, body=msgspec.json.encode(body["didDocument"]))
            resp.headers["Content-Type"] = DID_LD_JSON
            return resp
        body["didResolutionMetadata"]["proof"] = {
            "chain_id": other,
            "height": anchor.height,
            "client_id": anchor.client_id,
        }
        if want_proof:
            body["didStateProof"] = {
                "chain_id": other,
                "height": anchor.height,
                "client_id": anchor.client_id,
                "state_root": hx(anchor.state_root),
                "entries": [
                    {"key": hx(k), "value": None if v is None else hx(v), "proof": proof_json(p)}
                    for k, v, p in reader.entries
                ],
            }
        return _answer(status, body)


OPENAPI_PATHS: dict[str, Any] = {
    "/1.0/identifiers/{did}": {
        "get": {
            "summary": "Resolve a did:trellis DID (W3C DID Resolution result), optionally at a version or time",
            "parameters": [
                {
                    "name": "did",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string", "pattern": DID_PATTERN, "maxLength": _MAX_DID},
                    "description": "The DID",
                },
                {"name": "versionId", "in": "query", "required": False, "schema": {"type": "string"}},
                {"name": "versionTime", "in": "query", "required": False, "schema": {"type": "string"}},
                {"name": "proof", "in": "query", "required": False, "schema": {"type": "boolean"}},
                {
                    "name": "Accept",
                    "in": "header",
                    "required": False,
                    "schema": {"type": "string"},
                    "description": f"{DID_LD_JSON} for the bare DID document; otherwise a resolution result",
                },
            ],
            "responses": {
                code: {
                    "description": text,
                    "content": {
                        RESOLUTION_MEDIA_TYPE: {"schema": {"type": "object"}},
                        **({DID_LD_JSON: {"schema": {"type": "object"}}} if code in ("200", "410") else {}),
                    },
                }
                for code, text in (
                    ("200", "Resolved"),
                    ("410", "Deactivated"),
                    ("406", "representationNotSupported (proof=true with Accept: application/did+ld+json)"),
                    ("400", "invalidDid or invalidOptions"),
                    ("404", "notFound, or unknown_chain (a DID of another chain this chain has no client of)"),
                    ("409", "client_not_active (this chain's client of the DID's chain is frozen or expired)"),
                    ("501", "methodNotSupported"),
                    ("502", "invalid_proof or endpoint_unavailable (another chain's value failed its proof)"),
                )
            },
        }
    }
}
"""The resolver's entry in the OpenAPI document."""
SCHEMAS: tuple[type, ...] = ()
"""The resolver's answers are W3C documents, not component schemas."""


def routes(node: Node) -> list[web.RouteDef]:
    """The resolver's routes, for ``build_app``."""
    return [web.get("/1.0/identifiers/{did}", DidResolver(node).resolve)]
