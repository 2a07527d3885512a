"""The API's two response shapes: a JSON body, and RFC 9457 problem details for every refusal."""

from __future__ import annotations

from typing import Any

import msgspec
from aiohttp import web

from trellis.api.types import ProblemJson


def problem(status: int, code: str, detail: str) -> web.Response:
    """A problem-details response (``application/problem+json``) with a machine-readable ``code``."""
    body = ProblemJson(
        type=f"https://trellis.dev/problems/{code}",
        title=code.replace("_", " "),
        status=status,
        detail=detail,
        code=code,
    )
    return web.Response(status=status, body=msgspec.json.encode(body), content_type="application/problem+json")


def ok(obj: Any, status: int = 200) -> web.Response:
    """A JSON response of an API struct (or any msgspec-encodable value)."""
    return web.Response(status=status, body=msgspec.json.encode(obj), content_type="application/json")


# -- OpenAPI pieces shared by the route modules ----------------------------------------------------------------
PROBLEM_RESPONSE: dict[str, Any] = {
    "description": "Problem details: the request was refused; 'code' says why",
    "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/ProblemJson"}}},
}
"""The OpenAPI response object of every refusal (``problem``)."""


def hex32_path_param(name: str, description: str) -> dict[str, Any]:
    """The OpenAPI parameter object of a 32-byte value in the path, as 64 hex digits (``0x`` optional)."""
    return {
        "name": name,
        "in": "path",
        "required": True,
        "schema": {"type": "string", "pattern": "^(0[xX])?[0-9a-fA-F]{64}$"},
        "description": description,
    }
