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
