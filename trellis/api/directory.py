"""Directory routes (ADR 0016 section 4): search the data directory, read an entry (optionally proven), its
versions, and access requests.

  GET /v1/directory?owner=&type=&q=&chain=&cursor=&limit=   search (``trellis.app.modules.directory.search``)
  GET /v1/directory/{id}[?prove=true]                     one entry: this chain's, or a hub's mirror
  GET /v1/directory/{id}/versions?after=&limit=           its versions, oldest first
  GET /v1/directory/requests?entry=|requester=&cursor=&limit=   access requests for an entry or by an address
  GET /v1/directory/requests/{id}                         one access request

A search filters by owner DID, type, the words of ``q`` (normalised as titles are: ``query_words``) and the home
chain (``chain``; empty or absent: every chain, this one's entries and, at a hub, the mirrored ones); each given
filter must hold. Pages go by entry id: ``next`` is the next call's ``cursor``; one call scans at most 5,000 index
keys and makes at most 20,000 point reads, so a page may be short (even empty) with a non-null ``next``; ``next``
null: nothing is left. The search runs in a worker thread, not on the event loop.

``prove=true`` on this chain's entry answers the state proof of ``directory/entry/<id>`` and the header it is
against. On a mirror (a hub's copy of a sub-chain's entry) it answers the hub's proof of ``directory/mirror/<id>``
and, in ``home_proof``, the home chain's proof of ``directory/entry/<id>``: fetched from the node's configured
endpoint of that chain (``[interchain] endpoints``) at the height of this chain's client's latest consensus state
and checked against that state's root (the endpoint is untrusted), with the hub's own proofs of that client and
consensus state at the same height as the mirror's proof (so a client can check the whole chain from the hub's
genesis); ``verified_against`` names the client, height, state root and block id, and ``mirror_stale`` says the
home chain holds a newer version than the mirror.

Refusals: 400 ``bad_id``, ``bad_address``, ``bad_parameter``; 404 ``not_found``; a mirror's proof: 409
``unknown_chain`` / ``client_not_active`` (this chain cannot prove the home chain's state), 502 ``invalid_proof`` /
``endpoint_unavailable``; 503 ``proof_unavailable`` (the node's state answered no proof or header).
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

from aiohttp import web

from trellis.abci import QueryRequest
from trellis.api.hexjson import _J, Hex, hx, unhex
from trellis.api.interchain import run_remote
from trellis.api.params import ADDRESS_PATTERN, ERRORS, HASH_PATTERN, ApiError, bool_param, int_param, json_response
from trellis.api.params import param as openapi_param
from trellis.api.responses import PROBLEM_RESPONSE, ok
from trellis.api.types import StateProofJson, StateValueJson, header_json, proof_json
from trellis.app.modules import directory as reads
from trellis.app.modules import interchain as ic
from trellis.core.codec import decode, encode
from trellis.core.errors import DecodeError
from trellis.core.modules.attestations.messages import DID_SYNTAX
from trellis.core.modules.directory.messages import ACCESS_NAMES
from trellis.core.modules.directory.state import STATUS_NAMES, AccessRequest, Entry, entry_key, mirror_key
from trellis.core.modules.interchain.state import client_key, consensus_key
from trellis.node.node import Node

__all__ = [
    "OPENAPI_PATHS",
    "SCHEMAS",
    "AccessRequestJson",
    "AccessRequestListJson",
    "DirectoryApi",
    "DirectoryEntryJson",
    "DirectoryPageJson",
    "DirectoryShowJson",
    "DirectoryVersionsJson",
    "HomeProofJson",
    "VerifiedAgainstJson",
    "routes",
]

_ID = re.compile(HASH_PATTERN)
_ADDRESS = re.compile(ADDRESS_PATTERN)
_DID = re.compile(DID_SYNTAX)
CHAIN_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,63}$"
_CHAIN = re.compile(CHAIN_PATTERN)
_TYPE = re.compile(r"[!-~]{1,200}")
MAX_Q = 256
"""Most characters of ``q``."""
_ZERO = b"\x00" * 32


class DirectoryEntryJson(_J):
    """A directory entry as its home chain committed it, and where this chain got it."""

    id: Hex
    chain_id: str
    """The home chain (where it was published)."""
    owner: Hex
    """The publishing address (only it may update or withdraw)."""
    nonce: int
    version: int
    """1 when published, +1 per update (a withdrawal is a version too)."""
    withdrawn: bool
    withdraw_reason: str
    created_height: int
    """Home chain height that published it."""
    updated_height: int
    """Home chain height that wrote this version."""
    owner_did: str
    title: str
    type: str
    keywords: list[str]
    digest: Hex | None
    """The resource's digest; null: none given."""
    receipt_ref: str
    location: str
    licence: str
    access: str
    """``public``, ``on_request`` or ``credential_required``."""
    credential_type: str
    mirrored: bool
    """True: a hub's copy of another chain's entry (``home_height``, ``channel``, ``received_height`` say whence)."""
    home_height: int | None = None
    channel: str | None = None
    received_height: int | None = None


class DirectoryPageJson(_J):
    """``GET /v1/directory``: a page of a search, by id."""

    height: int
    """The committed height the page was read at."""
    entries: list[DirectoryEntryJson]
    next: Hex | None
    """The ``cursor`` of the next call; null: nothing left (a page may be short with a non-null ``next``)."""
    scanned: int
    """Index keys (entries) this call scanned (at most 5,000)."""


class VerifiedAgainstJson(_J):
    """What the home chain's proof was checked against: this chain's client of it and a consensus state."""

    chain_id: str
    client_id: str
    height: int
    state_root: Hex
    """The consensus state's state root (the home chain's app hash after ``height``)."""
    block_id: Hex


class HomeProofJson(_J):
    """The home chain's proof of ``directory/entry/<id>``, checked here against ``verified_against``."""

    key: Hex
    value: Hex | None
    proof: StateProofJson
    proof_hex: Hex
    entry: DirectoryEntryJson | None
    """The home chain's current entry, as proven (null: proven absent at that height)."""
    verified_against: VerifiedAgainstJson
    client_proof: StateValueJson
    """This chain's proof of its client record, at the height of the mirror's proof."""
    consensus_proof: StateValueJson
    """This chain's proof of the client's consensus state at ``verified_against.height``, at the same height."""


class DirectoryShowJson(_J):
    """``GET /v1/directory/{id}``: the entry (``entry.mirrored``: a hub's copy) with, on ``prove=true``, its proofs."""

    height: int
    entry: DirectoryEntryJson
    proof: StateValueJson | None = None
    """This chain's proof of ``directory/entry/<id>`` (or, for a mirror, ``directory/mirror/<id>``)."""
    home_proof: HomeProofJson | None = None
    """A mirror's home chain proof (``prove=true`` on a mirror)."""
    mirror_stale: bool | None = None
    """``prove=true`` on a mirror: the home chain holds a newer version than the mirror."""


class DirectoryVersionsJson(_J):
    """``GET /v1/directory/{id}/versions``: an entry's versions, oldest first (a mirror: only the current one)."""

    id: Hex
    height: int
    versions: list[DirectoryEntryJson]
    next: int | None
    """The ``after`` of the next page; null on the last."""


class AccessRequestJson(_J):
    """An access request and its decision."""

    id: Hex
    entry_id: Hex
    requester: Hex
    presentation_digest: Hex | None
    """Digest of the presentation given off chain; null: none."""
    purpose: str
    status: str
    """``pending``, ``granted`` or ``refused``."""
    expires_at_ms: int
    reason: str
    requested_height: int
    decided_height: int


class AccessRequestListJson(_J):
    """``GET /v1/directory/requests``: requests for an entry or by a requester, by request id."""

    entry: Hex | None
    requester: Hex | None
    height: int
    requests: list[AccessRequestJson]
    next: Hex | None
    """The ``cursor`` of the next page; null on the last."""


def entry_json(e: Entry, mirror: Any = None) -> DirectoryEntryJson:
    """An entry as JSON (``mirror``: the ``Mirror`` it came in, if it is one)."""
    f = e.fields
    return DirectoryEntryJson(
        id=hx(e.id),
        chain_id=e.chain_id,
        owner=hx(e.owner),
        nonce=e.nonce,
        version=e.version,
        withdrawn=e.withdrawn,
        withdraw_reason=e.withdraw_reason,
        created_height=e.created_height,
        updated_height=e.updated_height,
        owner_did=f.owner_did,
        title=f.title,
        type=f.type,
        keywords=list(f.keywords),
        digest=None if f.digest == _ZERO else hx(f.digest),
        receipt_ref=f.receipt_ref,
        location=f.location,
        licence=f.licence,
        access=ACCESS_NAMES.get(f.access, str(f.access)),
        credential_type=f.credential_type,
        mirrored=mirror is not None,
        home_height=None if mirror is None else mirror.home_height,
        channel=None if mirror is None else mirror.channel,
        received_height=None if mirror is None else mirror.received_height,
    )


def found_json(found: reads.Found) -> DirectoryEntryJson:
    """A search or read result as JSON."""
    return entry_json(found.entry, found.mirror)


def request_json(r: AccessRequest) -> AccessRequestJson:
    """An access request as JSON."""
    return AccessRequestJson(
        id=hx(r.id),
        entry_id=hx(r.entry_id),
        requester=hx(r.requester),
        presentation_digest=None if r.presentation_digest == _ZERO else hx(r.presentation_digest),
        purpose=r.purpose,
        status=STATUS_NAMES.get(r.status, str(r.status)),
        expires_at_ms=r.expires_at_ms,
        reason=r.reason,
        requested_height=r.requested_height,
        decided_height=r.decided_height,
    )


def _hash(text: str, what: str) -> bytes:
    if not _ID.fullmatch(text):
        raise ApiError(400, "bad_id", f"{what} {text[:80]!r} is not an id (64 hex digits, 0x optional)")
    return unhex(text)


def _cursor(request: web.Request) -> bytes | None:
    text = request.query.get("cursor")
    return _hash(text, "cursor") if text else None


class DirectoryApi:
    """The directory handlers, bound to one node."""

    def __init__(self, node: Node) -> None:
        self.node = node

    async def search(self, request: web.Request) -> web.Response:
        """GET /v1/directory."""
        q = request.query
        owner, type_, text, chain = q.get("owner", ""), q.get("type", ""), q.get("q", ""), q.get("chain", "")
        if owner and (len(owner) > 160 or not _DID.fullmatch(owner)):
            raise ApiError(400, "bad_parameter", f"owner {owner[:80]!r} is not a DID (at most 160 characters)")
        if type_ and not _TYPE.fullmatch(type_):
            raise ApiError(400, "bad_parameter", "type is 1 to 200 printable ASCII characters without spaces")
        if len(text) > MAX_Q:
            raise ApiError(400, "bad_parameter", f"q is at most {MAX_Q} characters")
        if chain and not _CHAIN.fullmatch(chain):
            raise ApiError(400, "bad_parameter", f"chain {chain[:80]!r} is not a chain id")
        limit = int_param(request, "limit", reads.DEFAULT_PAGE, 1, reads.MAX_PAGE) or reads.DEFAULT_PAGE
        cursor = _cursor(request)
        try:
            words = tuple(reads.query_words(text))
        except reads.BadQuery as exc:
            raise ApiError(400, "bad_parameter", exc.reason) from exc
        view = self.node.app.reader()
        query = reads.Query(owner=owner, type=type_, words=words, chain=chain)
        # thousands of reads: off the event loop, in a worker thread (the view reads committed state)
        page = await asyncio.to_thread(reads.search, view, self.node.app.params.suite, query, limit, cursor)
        return ok(
            DirectoryPageJson(
                height=view.height,
                entries=[found_json(f) for f in page.items],
                next=None if page.next is None else hx(page.next),
                scanned=page.scanned,
            )
        )

    def _proven(self, key: bytes, height: int) -> tuple[bytes | None, StateValueJson]:
        res = self.node.app.query(QueryRequest(path="state", key=key, height=height, prove=True))
        if res.proof is None or res.header is None:
            raise ApiError(
                503, "proof_unavailable", f"the node answered no proof or header of 0x{key.hex()} at height {height}"
            )
        return res.value, StateValueJson(
            key=hx(key),
            height=res.height,
            value=None if res.value is None else hx(res.value),
            proof=proof_json(res.proof),
            proof_hex=hx(encode(res.proof)),
            header=header_json(res.header),
            header_hex=hx(encode(res.header)),
        )

    async def one(self, request: web.Request) -> web.Response:
        """GET /v1/directory/{id}."""
        ident = _hash(request.match_info["id"], "the path's id")
        prove = bool_param(request, "prove")
        view = self.node.app.reader()
        found = reads.entry(view, ident)
        if found is None:
            raise ApiError(404, "not_found", f"no directory entry {hx(ident)} on this chain")
        if not prove:
            return ok(DirectoryShowJson(height=view.height, entry=found_json(found)))
        if view.height < 1:
            raise ApiError(404, "not_found", "no block has been committed yet: proofs are against a block header")
        if found.mirror is None:
            value, proof = self._proven(entry_key(ident), view.height)
            if value is None:  # read at the same committed height as the view
                raise ApiError(404, "not_found", f"no directory entry {hx(ident)} on this chain")
            rec = decode(value, Entry)
            return ok(DirectoryShowJson(height=view.height, entry=entry_json(rec), proof=proof))
        return await self._one_mirror(view, ident, found)

    async def _one_mirror(self, view: Any, ident: bytes, found: reads.Found) -> web.Response:
        """A mirror with the hub's proof and the home chain's proof (see the module docstring)."""
        mirror = found.mirror
        assert mirror is not None
        _, proof = self._proven(mirror_key(ident), view.height)
        cfg = self.node.config.interchain
        try:
            anchor = ic.anchor_for_chain(view, mirror.chain_id, view.time_ms, cfg.genesis_hashes)
        except (ic.UnknownChain, ic.ClientNotActive) as exc:
            raise ApiError(409, exc.code, f"the mirror's home chain cannot be proven here: {exc.reason}") from exc
        reader = ic.ProvenReader(anchor)
        key = entry_key(ident)
        try:
            value = await run_remote(lambda: reader.get(key), cfg.endpoints)
        except (ic.InvalidProof, ic.EndpointUnavailable) as exc:
            raise ApiError(502, exc.code, exc.reason) from exc
        _, _, home_proof = reader.entries[-1]
        try:
            home = None if value is None else decode(value, Entry)
        except DecodeError as exc:
            raise ApiError(502, "invalid_proof", f"the home chain's proven entry does not decode: {exc}") from exc
        client = ic.client(view, anchor.client_id, view.time_ms)
        assert client is not None and client.latest is not None, "the anchor's client and consensus state exist"
        _, client_proof = self._proven(client_key(anchor.client_id), view.height)
        _, consensus_proof = self._proven(consensus_key(anchor.client_id, anchor.height), view.height)
        return ok(
            DirectoryShowJson(
                height=view.height,
                entry=found_json(found),
                proof=proof,
                home_proof=HomeProofJson(
                    key=hx(key),
                    value=None if value is None else hx(value),
                    proof=proof_json(home_proof),
                    proof_hex=hx(encode(home_proof)),
                    entry=None if home is None else entry_json(home),
                    verified_against=VerifiedAgainstJson(
                        chain_id=anchor.chain_id,
                        client_id=anchor.client_id,
                        height=anchor.height,
                        state_root=hx(anchor.state_root),
                        block_id=hx(client.latest.block_id),
                    ),
                    client_proof=client_proof,
                    consensus_proof=consensus_proof,
                ),
                mirror_stale=home is not None and home.version > found.entry.version,
            )
        )

    async def versions(self, request: web.Request) -> web.Response:
        """GET /v1/directory/{id}/versions."""
        ident = _hash(request.match_info["id"], "the path's id")
        limit = int_param(request, "limit", reads.MAX_PAGE, 1, reads.MAX_PAGE) or reads.MAX_PAGE
        after = int_param(request, "after", 0, 0, 2**64 - 1) or 0
        view = self.node.app.reader()
        page = reads.versions(view, ident, limit, after)
        if page is None:
            raise ApiError(404, "not_found", f"no directory entry {hx(ident)} on this chain")
        found = reads.entry(view, ident)
        mirror = None if found is None else found.mirror
        return ok(
            DirectoryVersionsJson(
                id=hx(ident),
                height=view.height,
                versions=[entry_json(e, mirror) for e in page.items],
                next=page.next,
            )
        )

    async def requests(self, request: web.Request) -> web.Response:
        """GET /v1/directory/requests?entry= or ?requester=."""
        q = request.query
        if ("entry" in q) == ("requester" in q):
            raise ApiError(400, "bad_parameter", "give exactly one of 'entry' and 'requester'")
        limit = int_param(request, "limit", reads.MAX_PAGE, 1, reads.MAX_PAGE) or reads.MAX_PAGE
        cursor = _cursor(request)
        view = self.node.app.reader()
        entry: bytes | None = None
        requester: bytes | None = None
        if "entry" in q:
            entry = _hash(q["entry"], "entry")
            page = reads.requests_by_entry(view, entry, limit, cursor)
        else:
            if not _ADDRESS.fullmatch(q["requester"]):
                raise ApiError(400, "bad_address", f"{q['requester'][:80]!r} is not an address (40 hex digits)")
            requester = unhex(q["requester"])
            page = reads.requests_by_requester(view, requester, limit, cursor)
        return ok(
            AccessRequestListJson(
                entry=None if entry is None else hx(entry),
                requester=None if requester is None else hx(requester),
                height=view.height,
                requests=[request_json(r) for r in page.items],
                next=None if page.next is None else hx(page.next),
            )
        )

    async def request(self, request: web.Request) -> web.Response:
        """GET /v1/directory/requests/{id}."""
        ident = _hash(request.match_info["id"], "the path's id")
        rec = reads.request(self.node.app.reader(), ident)
        if rec is None:
            raise ApiError(404, "not_found", f"no access request {hx(ident)} on this chain")
        return ok(request_json(rec))


def routes(node: Node) -> list[web.RouteDef]:
    """The directory routes of ``node`` (``requests`` before ``{id}``: aiohttp matches in order)."""
    api = DirectoryApi(node)
    return [
        web.get("/v1/directory", api.search),
        web.get("/v1/directory/requests", api.requests),
        web.get("/v1/directory/requests/{id}", api.request),
        web.get("/v1/directory/{id}", api.one),
        web.get("/v1/directory/{id}/versions", api.versions),
    ]


def _p(name: str, schema: dict[str, Any], text: str) -> dict[str, Any]:
    return openapi_param(name, "query", schema, text)


_HASH = {"type": "string", "pattern": HASH_PATTERN}
_LIMIT = {"type": "integer", "minimum": 1, "maximum": reads.MAX_PAGE}
_ID_PARAM = openapi_param("id", "path", _HASH, "The entry id")

OPENAPI_PATHS: dict[str, Any] = {
    "/v1/directory": {
        "get": {
            "summary": "Search the data directory: this chain's entries and, at a hub, the mirrored ones, by id",
            "parameters": [
                _p("owner", {"type": "string", "maxLength": 160}, "The owner's DID"),
                _p("type", {"type": "string", "maxLength": 200}, "The resource type"),
                _p("q", {"type": "string", "maxLength": MAX_Q}, "Words: each must be a keyword or a title word"),
                _p("chain", {"type": "string", "pattern": CHAIN_PATTERN}, "The home chain (absent: every chain)"),
                _p("cursor", _HASH, "The previous page's 'next'"),
                _p("limit", _LIMIT, f"Page size (default {reads.DEFAULT_PAGE})"),
            ],
            "responses": {"200": json_response("DirectoryPageJson", "The page"), "400": ERRORS["400"]},
        }
    },
    "/v1/directory/requests": {
        "get": {
            "summary": "Access requests for an entry or by a requester, by request id",
            "parameters": [
                _p("entry", _HASH, "An entry id (give this or requester)"),
                _p("requester", {"type": "string", "pattern": ADDRESS_PATTERN}, "An address (or entry)"),
                _p("cursor", _HASH, "The previous page's 'next'"),
                _p("limit", _LIMIT, f"Page size (default {reads.MAX_PAGE})"),
            ],
            "responses": {"200": json_response("AccessRequestListJson", "The page"), "400": ERRORS["400"]},
        }
    },
    "/v1/directory/requests/{id}": {
        "get": {
            "summary": "An access request and its decision",
            "parameters": [openapi_param("id", "path", _HASH, "The request id")],
            "responses": {"200": json_response("AccessRequestJson", "The request"), **ERRORS},
        }
    },
    "/v1/directory/{id}": {
        "get": {
            "summary": "A directory entry (a hub's mirror too), optionally with its proofs (a mirror's: the hub's "
            "and the home chain's, checked against the hub's client)",
            "parameters": [
                _ID_PARAM,
                _p("prove", {"type": "boolean"}, "Include the state proofs and headers"),
            ],
            "responses": {
                "200": json_response("DirectoryShowJson", "The entry"),
                **ERRORS,
                "409": PROBLEM_RESPONSE,
                "502": PROBLEM_RESPONSE,
            },
        }
    },
    "/v1/directory/{id}/versions": {
        "get": {
            "summary": "An entry's versions, oldest first (a mirror: only its current version)",
            "parameters": [
                _ID_PARAM,
                _p("after", {"type": "integer", "minimum": 0}, "The previous page's 'next'"),
                _p("limit", _LIMIT, f"Page size (default {reads.MAX_PAGE})"),
            ],
            "responses": {"200": json_response("DirectoryVersionsJson", "The versions"), **ERRORS},
        }
    },
}
"""The OpenAPI path items of the directory routes."""

SCHEMAS: tuple[type, ...] = (
    DirectoryPageJson,
    DirectoryShowJson,
    DirectoryVersionsJson,
    AccessRequestJson,
    AccessRequestListJson,
)
"""The response types whose JSON schemas the OpenAPI document's components hold."""
