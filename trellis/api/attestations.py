"""Attestation routes (docs/spec/attestations.md 4): one attestation, optionally with its state proof, and the
attestations about a subject or by an attester, a page at a time.

  GET /v1/attestations/{id}                   ``prove=true``: read at the latest height, with the state proof
  GET /v1/attestations?subject=S              about S, oldest first; ``limit`` 1..100, ``after`` = a ``next``
  GET /v1/attestations?attester=0x...         by an address, the same way

Refusals: 400 ``bad_id``, ``bad_subject``, ``bad_address``, ``bad_parameter``, ``bad_cursor``; 404 ``not_found``.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec
from aiohttp import web

from trellis.abci import QueryRequest
from trellis.api.hexjson import hx, unhex
from trellis.api.params import ADDRESS_PATTERN, ERRORS, HASH_PATTERN, ApiError, bool_param, int_param, json_response
from trellis.api.params import param as openapi_param
from trellis.api.responses import ok
from trellis.api.types import StateValueJson, header_json, proof_json
from trellis.app.modules.attestations import MAX_PAGE, BadCursor, Page, attestation, by_attester, by_subject
from trellis.core.codec import encode
from trellis.core.execution.context import PointReader
from trellis.core.modules.attestations.messages import MAX_SUBJECT, SUBJECT_SYNTAX
from trellis.core.modules.attestations.state import Attestation, record_key, status_at
from trellis.node.node import Node

__all__ = ["OPENAPI_PATHS", "SCHEMAS", "AttestationJson", "AttestationListJson", "AttestationsApi", "routes"]

_ID = re.compile(HASH_PATTERN)
_ADDRESS = re.compile(ADDRESS_PATTERN)
_SUBJECT = re.compile(SUBJECT_SYNTAX)


class AttestationJson(msgspec.Struct, kw_only=True):
    """``GET /v1/attestations/{id}``: an attestation as stored, with its status at the committed tip."""

    id: str
    """Its id, ``0x`` hex."""
    attester: str
    """The address that made it, ``0x`` hex."""
    attester_did: str
    """The DID the attester named, or ``""``."""
    subject: str
    """Who or what it is about: a DID or a ``0x``-hex digest."""
    claim_type: str
    """What kind of statement it is."""
    statement: str
    """The statement, ``0x`` hex."""
    expires_at_ms: int
    """Block time from which it no longer holds; 0: never."""
    height: int
    """The block that recorded it."""
    time_ms: int
    """That block's time."""
    nonce: int
    """The attesting transaction's nonce."""
    revoked_height: int
    """The block that revoked it; 0: not revoked."""
    revoked_ms: int
    """That block's time; 0: not revoked."""
    status: str
    """``active``, ``expired`` or ``revoked`` at the time of the block the answer is read after."""
    proof: StateValueJson | None = None
    """With ``prove=true``: the record's state key, value, proof and the header it is proved against."""


class AttestationListJson(msgspec.Struct, kw_only=True):
    """``GET /v1/attestations``: a page of attestations, oldest first."""

    subject: str | None
    """The subject listed (null when listing by attester)."""
    attester: str | None
    """The attester listed, ``0x`` hex (null when listing by subject)."""
    height: int
    """The committed height the page was read at."""
    attestations: list[AttestationJson]
    """The page."""
    next: str | None
    """The id to pass as ``after`` for the next page; null on the last page."""


def attestation_json(rec: Attestation, time_ms: int, proof: StateValueJson | None = None) -> AttestationJson:
    """A record as JSON, with its status at ``time_ms``."""
    return AttestationJson(
        id=hx(rec.id),
        attester=hx(rec.attester),
        attester_did=rec.attester_did,
        subject=rec.subject,
        claim_type=rec.claim_type,
        statement=hx(rec.statement),
        expires_at_ms=rec.expires_at_ms,
        height=rec.height,
        time_ms=rec.time_ms,
        nonce=rec.nonce,
        revoked_height=rec.revoked_height,
        revoked_ms=rec.revoked_ms,
        status=status_at(rec, time_ms),
        proof=proof,
    )


def _id(text: str, what: str) -> bytes:
    if not _ID.fullmatch(text):
        raise ApiError(400, "bad_id", f"{what} {text[:80]!r} is not an attestation id (64 hex digits, 0x optional)")
    return unhex(text)


class AttestationsApi:
    """The attestation handlers, bound to one node."""

    def __init__(self, node: Node) -> None:
        self.node = node

    async def one(self, request: web.Request) -> web.Response:
        """GET /v1/attestations/{id}."""
        ident = _id(request.match_info["id"], "the path's id")
        app = self.node.app
        if bool_param(request, "prove"):
            key = record_key(ident)
            res = app.query(QueryRequest(path="state", key=key, prove=True))
            assert res.proof is not None and res.header is not None, "a proven state query answers both"
            rec = attestation(PointReader(lambda _k: res.value), ident)
            time_ms = res.header.time_ms
            proof = StateValueJson(
                key=hx(key),
                height=res.height,
                value=None if res.value is None else hx(res.value),
                proof=proof_json(res.proof),
                proof_hex=hx(encode(res.proof)),
                header=header_json(res.header),
                header_hex=hx(encode(res.header)),
            )
        else:
            view = app.reader()
            rec, time_ms, proof = attestation(view, ident), view.time_ms, None
        if rec is None:
            raise ApiError(404, "not_found", f"no attestation {hx(ident)} on this chain")
        return ok(attestation_json(rec, time_ms, proof))

    async def many(self, request: web.Request) -> web.Response:
        """GET /v1/attestations?subject=S or ?attester=0x..."""
        q = request.query
        if ("subject" in q) == ("attester" in q):
            raise ApiError(400, "bad_parameter", "give exactly one of 'subject' and 'attester'")
        limit = int_param(request, "limit", MAX_PAGE, 1, MAX_PAGE) or MAX_PAGE
        after = _id(q["after"], "after") if q.get("after") else None
        view = self.node.app.reader()
        try:
            if "subject" in q:
                subject, attester = q["subject"], None
                if len(subject) > MAX_SUBJECT or not _SUBJECT.fullmatch(subject):
                    raise ApiError(
                        400,
                        "bad_subject",
                        f"a subject is a DID or a 0x-hex 32-byte digest, at most {MAX_SUBJECT} characters",
                    )
                page: Page = by_subject(view, self.node.app.params.suite, subject, limit, after)
            else:
                subject, text = None, q["attester"]
                if not _ADDRESS.fullmatch(text):
                    raise ApiError(400, "bad_address", f"{text[:80]!r} is not an address (40 hex digits)")
                attester = unhex(text)
                page = by_attester(view, attester, limit, after)
        except BadCursor as exc:
            raise ApiError(400, "bad_cursor", exc.reason) from exc
        return ok(
            AttestationListJson(
                subject=subject,
                attester=None if attester is None else hx(attester),
                height=view.height,
                attestations=[attestation_json(r, view.time_ms) for r in page.items],
                next=None if page.next is None else hx(page.next),
            )
        )


def routes(node: Node) -> list[web.RouteDef]:
    """The attestation routes of ``node``."""
    api = AttestationsApi(node)
    return [
        web.get("/v1/attestations", api.many),
        web.get("/v1/attestations/{id}", api.one),
    ]


OPENAPI_PATHS: dict[str, Any] = {
    "/v1/attestations/{id}": {
        "get": {
            "summary": "An attestation (docs/spec/attestations.md), optionally with its state proof",
            "parameters": [
                openapi_param("id", "path", {"type": "string", "pattern": HASH_PATTERN}, "The attestation id"),
                openapi_param("prove", "query", {"type": "boolean"}, "Include the record's state proof and header"),
            ],
            "responses": {"200": json_response("AttestationJson", "The attestation"), **ERRORS},
        }
    },
    "/v1/attestations": {
        "get": {
            "summary": "Attestations about a subject or by an attester, oldest first, a page at a time",
            "parameters": [
                openapi_param(
                    "subject",
                    "query",
                    {"type": "string", "pattern": f"^{SUBJECT_SYNTAX}$", "maxLength": MAX_SUBJECT},
                    "A DID or a 0x-hex digest (give this or attester)",
                ),
                openapi_param(
                    "attester", "query", {"type": "string", "pattern": ADDRESS_PATTERN}, "An address (or subject)"
                ),
                openapi_param(
                    "limit", "query", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE}, "Page size (default 100)"
                ),
                openapi_param(
                    "after", "query", {"type": "string", "pattern": HASH_PATTERN}, "The previous page's 'next'"
                ),
            ],
            "responses": {"200": json_response("AttestationListJson", "The page"), "400": ERRORS["400"]},
        }
    },
}
"""The OpenAPI path items of the attestation routes."""

SCHEMAS: tuple[type, ...] = (AttestationJson, AttestationListJson)
"""The response types whose JSON schemas the OpenAPI document's components hold."""
