"""Custody routes (docs/spec/custody.md 6): a file's registrations, an organisation's challenges and its missed
records, read at the committed tip.

  GET /v1/custody/files/{file_id}             every organisation's registration of the file
  GET /v1/custody/challenges?org=O&open=true  O's open challenges (``open=false``: its closed ones still kept),
                                              oldest first; ``limit`` 1..100, ``after`` = a ``next``
  GET /v1/custody/missed/{org}                O's missed records (one per file), by file id; ``limit``, ``after``

Refusals: 400 ``bad_id`` (``bad_file_id`` for the path's file id), ``bad_org``, ``bad_parameter``; 404 ``not_found``.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec
from aiohttp import web

from trellis.api.hexjson import hx, unhex
from trellis.api.params import ERRORS, HASH_PATTERN, ApiError, int_param, json_response
from trellis.api.params import param as openapi_param
from trellis.api.responses import ok
from trellis.app.modules.custody import MAX_PAGE, challenges, file_registrations, missed
from trellis.core.modules.custody.state import STATUS_NAMES, Challenge, FileRecord, MissedRecord
from trellis.node.node import Node

__all__ = [
    "OPENAPI_PATHS",
    "SCHEMAS",
    "ChallengeListJson",
    "CustodyChallengeJson",
    "CustodyFileJson",
    "CustodyFilesJson",
    "MissedListJson",
    "MissedRecordJson",
    "routes",
]

_ID = re.compile(HASH_PATTERN)
CHALLENGE_ID_PATTERN = r"^(0x)?[0-9a-fA-F]{24}$"
"""A challenge id: 12 bytes in hex."""
_CHALLENGE_ID = re.compile(CHALLENGE_ID_PATTERN)
MAX_ORG = 64
"""Most characters of an organisation's name."""


class CustodyFileJson(msgspec.Struct, kw_only=True):
    """One organisation's registration of a file."""

    file_id: str
    """The file's id, ``0x`` hex."""
    org: str
    """The organisation that keeps it."""
    registrant: str
    """The account that registered it, ``0x`` hex."""
    size: int
    """Its size in bytes, as stored."""
    segment_root: str
    """The Merkle root over its 4 KiB segments' hashes, ``0x`` hex."""
    segment_count: int
    """Its number of segments."""
    index: int
    """Its place among its organisation's registrations (a draw picks an organisation, then such an index)."""
    registered_height: int
    """The block that registered it."""
    challenged: int
    """Challenges opened on it."""
    answered: int
    """Challenges answered in time."""
    missed: int
    """Challenges missed."""
    open: int
    """Challenges open now."""


class CustodyFilesJson(msgspec.Struct, kw_only=True):
    """``GET /v1/custody/files/{file_id}``."""

    file_id: str
    """The file asked for, ``0x`` hex."""
    height: int
    """The committed height the answer was read at."""
    registrations: list[CustodyFileJson]
    """Every organisation's registration of it (at least one)."""


class CustodyChallengeJson(msgspec.Struct, kw_only=True):
    """A challenge."""

    id: str
    """Its id (opening height and number in the round), ``0x`` hex."""
    file_id: str
    """The challenged file, ``0x`` hex."""
    org: str
    """The organisation that must answer."""
    segment_index: int
    """The segment asked for."""
    issued_height: int
    """The height that opened it."""
    deadline: int
    """The last height at which an answer is accepted."""
    status: str
    """``open``, ``answered`` or ``missed``."""
    closed_height: int
    """The height that closed it; 0 while open."""
    responder: str
    """The account that answered it, ``0x`` hex; ``""`` otherwise."""


class ChallengeListJson(msgspec.Struct, kw_only=True):
    """``GET /v1/custody/challenges``: a page of an organisation's challenges, oldest first."""

    org: str
    """The organisation."""
    open: bool
    """True: open challenges; false: closed ones still kept."""
    height: int
    """The committed height the page was read at."""
    challenges: list[CustodyChallengeJson]
    """The page."""
    next: str | None
    """The id to pass as ``after`` for the next page; null on the last page."""


class MissedRecordJson(msgspec.Struct, kw_only=True):
    """An organisation's missed challenges on one file."""

    org: str
    """The organisation."""
    file_id: str
    """The file, ``0x`` hex."""
    count: int
    """Challenges missed."""
    last_challenge: str
    """The latest one missed, ``0x`` hex."""
    last_height: int
    """The height that recorded it."""


class MissedListJson(msgspec.Struct, kw_only=True):
    """``GET /v1/custody/missed/{org}``: a page of missed records, by file id."""

    org: str
    """The organisation."""
    height: int
    """The committed height the page was read at."""
    records: list[MissedRecordJson]
    """The page."""
    next: str | None
    """The file id to pass as ``after`` for the next page; null on the last page."""


def file_json(rec: FileRecord) -> CustodyFileJson:
    """A registration as JSON."""
    return CustodyFileJson(
        file_id=hx(rec.file_id),
        org=rec.org,
        registrant=hx(rec.registrant),
        size=rec.size,
        segment_root=hx(rec.segment_root),
        segment_count=rec.segment_count,
        index=rec.index,
        registered_height=rec.registered_height,
        challenged=rec.challenged,
        answered=rec.answered,
        missed=rec.missed,
        open=rec.open,
    )


def challenge_json(ch: Challenge) -> CustodyChallengeJson:
    """A challenge as JSON."""
    return CustodyChallengeJson(
        id=hx(ch.id),
        file_id=hx(ch.file_id),
        org=ch.org,
        segment_index=ch.segment_index,
        issued_height=ch.issued_height,
        deadline=ch.deadline,
        status=STATUS_NAMES[ch.status],
        closed_height=ch.closed_height,
        responder=hx(ch.responder) if ch.responder else "",
    )


def missed_json(rec: MissedRecord) -> MissedRecordJson:
    """A missed record as JSON."""
    return MissedRecordJson(
        org=rec.org,
        file_id=hx(rec.file_id),
        count=rec.count,
        last_challenge=hx(rec.last_challenge),
        last_height=rec.last_height,
    )


def _file_id(text: str, what: str, code: str = "bad_id") -> bytes:
    if not _ID.fullmatch(text):
        raise ApiError(400, code, f"{what} {text[:80]!r} is not a file id (64 hex digits, 0x optional)")
    return unhex(text)


def _org(text: str | None) -> str:
    if text is None or not 1 <= len(text) <= MAX_ORG or len(text.encode()) > 255:
        raise ApiError(400, "bad_org", f"an organisation's name is 1 to {MAX_ORG} characters (query or path 'org')")
    return text


def _open(request: web.Request) -> bool:
    raw = request.query.get("open", "true").lower()
    if raw in ("1", "true", "yes", ""):
        return True
    if raw in ("0", "false", "no"):
        return False
    raise ApiError(400, "bad_parameter", "query parameter 'open' must be true or false")


class CustodyApi:
    """The custody handlers, bound to one node."""

    def __init__(self, node: Node) -> None:
        self.node = node

    async def file(self, request: web.Request) -> web.Response:
        """GET /v1/custody/files/{file_id}."""
        fid = _file_id(request.match_info["file_id"], "the path's file id", "bad_file_id")
        view = self.node.app.reader()
        regs = file_registrations(view, fid)
        if not regs:
            raise ApiError(404, "not_found", f"no organisation has registered file {hx(fid)} for custody")
        return ok(CustodyFilesJson(file_id=hx(fid), height=view.height, registrations=[file_json(r) for r in regs]))

    async def challenges(self, request: web.Request) -> web.Response:
        """GET /v1/custody/challenges?org=O&open=true."""
        org = _org(request.query.get("org"))
        open_only = _open(request)
        limit = int_param(request, "limit", MAX_PAGE, 1, MAX_PAGE) or MAX_PAGE
        after_text = request.query.get("after")
        after = None
        if after_text:
            if not _CHALLENGE_ID.fullmatch(after_text):
                raise ApiError(400, "bad_id", f"after {after_text[:80]!r} is not a challenge id (24 hex digits)")
            after = unhex(after_text)
        view = self.node.app.reader()
        page = challenges(view, org, open_only=open_only, limit=limit, after=after)
        return ok(
            ChallengeListJson(
                org=org,
                open=open_only,
                height=view.height,
                challenges=[challenge_json(c) for c in page.challenges],
                next=None if page.next_after is None else hx(page.next_after),
            )
        )

    async def missed(self, request: web.Request) -> web.Response:
        """GET /v1/custody/missed/{org}."""
        org = _org(request.match_info["org"])
        limit = int_param(request, "limit", MAX_PAGE, 1, MAX_PAGE) or MAX_PAGE
        after = _file_id(request.query["after"], "after") if request.query.get("after") else None
        view = self.node.app.reader()
        page = missed(view, org, limit=limit, after=after)
        return ok(
            MissedListJson(
                org=org,
                height=view.height,
                records=[missed_json(r) for r in page.records],
                next=None if page.next_after is None else hx(page.next_after),
            )
        )


def routes(node: Node) -> list[web.RouteDef]:
    """The custody routes of ``node``."""
    api = CustodyApi(node)
    return [
        web.get("/v1/custody/files/{file_id}", api.file),
        web.get("/v1/custody/challenges", api.challenges),
        web.get("/v1/custody/missed/{org}", api.missed),
    ]


_LIMIT = openapi_param("limit", "query", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE}, "Page size (100)")
_ORG_SCHEMA = {"type": "string", "minLength": 1, "maxLength": MAX_ORG, "pattern": f"^[\\s\\S]{{1,{MAX_ORG}}}$"}

OPENAPI_PATHS: dict[str, Any] = {
    "/v1/custody/files/{file_id}": {
        "get": {
            "summary": "Every organisation's custody registration of a file (docs/spec/custody.md)",
            "parameters": [
                openapi_param("file_id", "path", {"type": "string", "pattern": HASH_PATTERN}, "The file id"),
            ],
            "responses": {"200": json_response("CustodyFilesJson", "The registrations"), **ERRORS},
        }
    },
    "/v1/custody/challenges": {
        "get": {
            "summary": "An organisation's custody challenges, oldest first, a page at a time",
            "parameters": [
                openapi_param("org", "query", _ORG_SCHEMA, "The organisation"),
                openapi_param("open", "query", {"type": "boolean"}, "true (default): open; false: closed, kept"),
                _LIMIT,
                openapi_param(
                    "after", "query", {"type": "string", "pattern": CHALLENGE_ID_PATTERN}, "The previous page's 'next'"
                ),
            ],
            "responses": {"200": json_response("ChallengeListJson", "The page"), "400": ERRORS["400"]},
        }
    },
    "/v1/custody/missed/{org}": {
        "get": {
            "summary": "An organisation's missed custody challenges, one record per file",
            "parameters": [
                openapi_param("org", "path", _ORG_SCHEMA, "The organisation"),
                _LIMIT,
                openapi_param(
                    "after", "query", {"type": "string", "pattern": HASH_PATTERN}, "The previous page's 'next'"
                ),
            ],
            "responses": {"200": json_response("MissedListJson", "The page"), "400": ERRORS["400"]},
        }
    },
}
"""The OpenAPI path items of the custody routes."""

SCHEMAS: tuple[type, ...] = (
    CustodyFileJson,
    CustodyFilesJson,
    CustodyChallengeJson,
    ChallengeListJson,
    MissedRecordJson,
    MissedListJson,
)
"""The response types whose JSON schemas the OpenAPI document's components hold."""
