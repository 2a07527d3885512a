"""What every routes module of the REST API shares (``trellis.api.registry.ROUTE_MODULES``): the refusal a
handler raises (``ApiError``, answered as problem details by ``trellis.api.server.problem_middleware``), the
parsing of query and path parameters, and the path patterns and OpenAPI pieces that document them. A parameter
is read, refused and documented the same way on every route that takes it.
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from trellis.api.responses import PROBLEM_RESPONSE
from trellis.api.types import unhex

__all__ = [
    "ADDRESS_PATTERN",
    "ADDRESS_SCHEMA",
    "BLOCK_REF_PATTERN",
    "ERRORS",
    "HASH_PATTERN",
    "KV_KEY_PATTERN",
    "LIMITS",
    "NAMESPACE_PATTERN",
    "STATE_KEY_PATTERN",
    "ApiError",
    "address_param",
    "bool_param",
    "cursor_param",
    "hash_param",
    "int_param",
    "json_response",
    "param",
    "schema_ref",
]

ADDRESS_PATTERN = "^(0[xX])?[0-9a-fA-F]{40}$"
"""A 20-byte address in a path: 40 hex digits, ``0x`` optional."""
HASH_PATTERN = "^(0[xX])?[0-9a-fA-F]{64}$"
"""A 32-byte hash in a path: 64 hex digits, ``0x`` optional."""
BLOCK_REF_PATTERN = "^(latest|[0-9]{1,20}|(0[xX])?[0-9a-fA-F]{64})$"
"""A block in a path: ``latest``, a height, or a block id."""
STATE_KEY_PATTERN = "^(0[xX])?([0-9a-fA-F]{2}){1,1024}$"
"""A state key in a path: 1 to 1024 bytes in hex."""
NAMESPACE_PATTERN = "^[A-Za-z0-9._-]{1,64}$"
"""A kv namespace."""
KV_KEY_PATTERN = "^[^/]{1,512}$"
"""A kv key in a path: 1 to 256 bytes of UTF-8 (percent-encoded as needed) or, with ``key_encoding=hex``, in hex."""

# The patterns above, matched with fullmatch (with ``match``, ``$`` would also accept a trailing newline).
_ADDRESS = re.compile(ADDRESS_PATTERN)
_HASH = re.compile(HASH_PATTERN)
_CURSOR = re.compile(r"([0-9]{1,20}):([0-9]{1,10})")


class ApiError(Exception):
    """An error answered as problem details."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail


def int_param(request: web.Request, name: str, default: int | None, lo: int, hi: int) -> int | None:
    """The integer query parameter ``name`` (``default`` when absent or empty), in ``lo .. hi``.

    Raises:
        ApiError: 400 ``bad_parameter``.
    """
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        v = int(raw)
    except ValueError:
        raise ApiError(400, "bad_parameter", f"query parameter {name!r} must be an integer") from None
    if not lo <= v <= hi:
        raise ApiError(400, "bad_parameter", f"query parameter {name!r} must be between {lo} and {hi}")
    return v


def bool_param(request: web.Request, name: str) -> bool:
    """The boolean query parameter ``name`` (false when absent).

    Raises:
        ApiError: 400 ``bad_parameter``.
    """
    raw = request.query.get(name, "").lower()
    if raw in ("", "0", "false", "no"):
        return False
    if raw in ("1", "true", "yes"):
        return True
    raise ApiError(400, "bad_parameter", f"query parameter {name!r} must be true or false")


def cursor_param(request: web.Request) -> tuple[int, int] | None:
    """The paging cursor ``after=HEIGHT:INDEX`` (a previous page's ``next``), or None.

    Raises:
        ApiError: 400 ``bad_parameter``.
    """
    cursor = request.query.get("after")
    if not cursor:
        return None
    m = _CURSOR.fullmatch(cursor)
    if not m or int(m.group(1)) >= 2**64 or int(m.group(2)) >= 2**32:
        raise ApiError(400, "bad_parameter", "'after' must be HEIGHT:INDEX as returned in 'next'")
    return int(m.group(1)), int(m.group(2))


def address_param(text: str) -> bytes:
    """The address in a path segment.

    Raises:
        ApiError: 400 ``bad_address``.
    """
    if not _ADDRESS.fullmatch(text):
        raise ApiError(400, "bad_address", f"{text!r} is not an address (40 hex digits)")
    return unhex(text)


def hash_param(text: str) -> bytes:
    """The 32-byte hash in a path segment.

    Raises:
        ApiError: 400 ``bad_hash``.
    """
    if not _HASH.fullmatch(text):
        raise ApiError(400, "bad_hash", f"{text!r} is not a hash (64 hex digits)")
    return unhex(text)


# -- OpenAPI pieces ----------------------------------------------------------------------------------------------
def schema_ref(name: str) -> dict[str, Any]:
    """A reference to the component schema ``name``."""
    return {"$ref": f"#/components/schemas/{name}"}


def json_response(name: str, description: str) -> dict[str, Any]:
    """An OpenAPI response object: a JSON body of the component schema ``name``."""
    return {"description": description, "content": {"application/json": {"schema": schema_ref(name)}}}


def param(name: str, where: str, schema: dict[str, Any], description: str, required: bool = False) -> dict[str, Any]:
    """An OpenAPI parameter object (a path parameter is always required)."""
    return {
        "name": name,
        "in": where,
        "required": required or where == "path",
        "schema": schema,
        "description": description,
    }


ERRORS: dict[str, Any] = {"400": PROBLEM_RESPONSE, "404": PROBLEM_RESPONSE}
"""The refusals of a route that reads something named in its request: a bad parameter (400), nothing there (404)."""
LIMITS: dict[str, Any] = {"408": PROBLEM_RESPONSE, "413": PROBLEM_RESPONSE, "414": PROBLEM_RESPONSE}
"""Refusals of every route with a body: it stalled (408), it is over the route's limit (413, answered as soon as
the declared Content-Length says so), the URL is too long (414)."""
ADDRESS_SCHEMA: dict[str, Any] = {"type": "string", "pattern": ADDRESS_PATTERN}
"""The schema of an address path parameter."""
