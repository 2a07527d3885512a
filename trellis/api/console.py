"""Console routes (ADR 0017): the web console's static files, served by every node under ``/console/``.

  GET /console             301 to ``/console/``
  GET /console/            ``index.html``
  GET /console/{file}      a file of ``trellis/console/static``

Only files directly in the package's ``static`` folder are served (the console has no sub-folders), by an
allow-list of extensions; a file name is letters, digits, ``.``, ``_`` and ``-`` and does not start with a dot (so
never ``..``); there is no directory listing. Every answer carries the console's Content-Security-Policy (no inline scripts or styles, no
other origin) and ``X-Content-Type-Options: nosniff``. Refusals: 404 ``not_found`` with the reason.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

from aiohttp import web

import trellis
from trellis.api.params import param
from trellis.api.responses import PROBLEM_RESPONSE, problem
from trellis.node.node import Node

__all__ = ["CONTENT_TYPES", "CSP", "OPENAPI_PATHS", "SCHEMAS", "STATIC_DIR", "ConsoleFiles", "routes"]

STATIC_DIR = Path(__file__).resolve().parent.parent / "console" / "static"
"""The console's files (package data of ``trellis.console``)."""

CSP = "default-src 'self'; img-src 'self' data:; style-src 'self'; base-uri 'none'; object-src 'none'; frame-ancestors 'none'"
"""The console's Content-Security-Policy: its own files only; images also as ``data:`` URLs."""

CONTENT_TYPES: dict[str, str] = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".txt": "text/plain; charset=utf-8",
}
"""The extensions served (the allow-list) and their media types."""

MAX_PATH_CHARS = 200
MAX_SEGMENTS = 1
MAX_FILE_BYTES = 4 << 20
"""A file in ``static`` larger than this is not served (nothing the console ships comes near it)."""

FILE_PATTERN = "^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,99}$"
"""A file name below ``/console/``."""
_SEGMENT = re.compile(FILE_PATTERN.removeprefix("^").removesuffix("$"))
_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


def _secured(resp: web.Response) -> web.Response:
    resp.headers.update(_HEADERS)
    return resp


def _not_found(reason: str) -> web.Response:
    return _secured(problem(404, "not_found", reason))


class ConsoleFiles:
    """Serves the files of one ``static`` folder (``root``)."""

    def __init__(self, root: Path = STATIC_DIR) -> None:
        self.root = root.resolve()

    def resolve(self, rel: str) -> Path | str:
        """The file ``rel`` (a path below ``/console/``) names, or why there is none."""
        if rel == "":
            rel = "index.html"
        if len(rel) > MAX_PATH_CHARS:
            return f"a console path is at most {MAX_PATH_CHARS} characters"
        parts = rel.split("/")
        if len(parts) > MAX_SEGMENTS:
            return f"a console path has at most {MAX_SEGMENTS} segments"
        for part in parts:
            if not _SEGMENT.fullmatch(part) or part.startswith("."):
                return (
                    f"no console file {rel[:80]!r}: each path segment is letters, digits, '.', '_' or '-' "
                    "and does not start with '.' (no '..', no directory listing)"
                )
        ext = Path(parts[-1]).suffix.lower()
        if ext not in CONTENT_TYPES:
            return f"no console file {rel[:80]!r}: only {', '.join(sorted(CONTENT_TYPES))} files are served"
        path = (self.root / Path(*parts)).resolve()
        if not path.is_relative_to(self.root) or not path.is_file():
            return f"no console file {rel[:80]!r}"
        return path

    async def redirect(self, request: web.Request) -> web.Response:
        """GET /console: to the console's index."""
        return _secured(web.Response(status=301, headers={"Location": "/console/"}))

    async def file(self, request: web.Request) -> web.Response:
        """GET /console/ and GET /console/{file}."""
        found = self.resolve(request.match_info.get("file", ""))
        if isinstance(found, str):
            return _not_found(found)
        if found.stat().st_size > MAX_FILE_BYTES:
            return _not_found(f"console file {found.name!r} is too large to serve")
        body = found.read_bytes()
        etag = f'"{trellis.__version__}-{hashlib.sha256(body).hexdigest()[:32]}"'
        headers = {"ETag": etag, "Cache-Control": "no-cache"}
        if etag in [t.strip() for t in request.headers.get("If-None-Match", "").split(",")]:
            return _secured(web.Response(status=304, headers=headers))
        resp = web.Response(body=body, headers=headers)
        resp.headers["Content-Type"] = CONTENT_TYPES[found.suffix.lower()]
        return _secured(resp)


def routes(node: Node) -> list[web.RouteDef]:
    """The console routes (the same files for every node)."""
    files = ConsoleFiles()
    return [
        web.get("/console", files.redirect),
        web.get("/console/", files.file),
        web.get("/console/{file}", files.file),
    ]


_FILE_RESPONSES: dict[str, Any] = {
    "200": {
        "description": "The file, with the console's Content-Security-Policy and X-Content-Type-Options: nosniff",
        "content": {t.split(";")[0]: {} for t in sorted(set(CONTENT_TYPES.values()))},
    },
    "404": PROBLEM_RESPONSE,
}

OPENAPI_PATHS: dict[str, Any] = {
    "/console": {
        "get": {
            "summary": "The web console (docs/adr/0017): redirects to /console/",
            "responses": {"301": {"description": "Location: /console/"}},
        }
    },
    "/console/": {
        "get": {
            "summary": "The web console's page (index.html)",
            "responses": {
                "200": {"description": "The console's index.html", "content": {"text/html": {}}},
                "404": PROBLEM_RESPONSE,
            },
        }
    },
    "/console/{file}": {
        "get": {
            "summary": "A static file of the web console (an allow-list of extensions; no sub-folders)",
            "parameters": [
                param(
                    "file",
                    "path",
                    {"type": "string", "pattern": FILE_PATTERN},
                    "The file name",
                )
            ],
            "responses": _FILE_RESPONSES,
        }
    },
}
"""The OpenAPI path items of the console routes."""

SCHEMAS: tuple[type, ...] = ()
"""The console answers files, not JSON: no component schemas."""
