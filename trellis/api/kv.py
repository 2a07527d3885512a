"""kv route: one record of a namespace, at the latest or a given height, optionally with its state proof.

GET /v1/kv/{namespace}/{key}         ``key_encoding`` utf8 (default) or hex; ``height``; ``prove``
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from trellis.abci import QueryRequest
from trellis.api.params import (
    ERRORS,
    KV_KEY_PATTERN,
    NAMESPACE_PATTERN,
    ApiError,
    bool_param,
    int_param,
    json_response,
    param,
)
from trellis.api.responses import ok
from trellis.api.types import KvRecordJson, header_json, hx, proof_json, unhex
from trellis.app.modules.kv import read_record
from trellis.core.errors import DecodeError
from trellis.core.execution.context import PointReader
from trellis.core.modules.kv.state import kv_key
from trellis.node.node import Node

__all__ = ["OPENAPI_PATHS", "SCHEMAS", "KvApi", "routes"]

_NAMESPACE = re.compile(NAMESPACE_PATTERN)
_HEX_KEY = re.compile(r"(0[xX])?([0-9a-fA-F]{2})+")
_MAX_KV_KEY = 256


class KvApi:
    """The kv handler, bound to one node."""

    def __init__(self, node: Node) -> None:
        self.node = node

    async def kv(self, request: web.Request) -> web.Response:
        """GET /v1/kv/{namespace}/{key}."""
        ns = request.match_info["namespace"]
        if not _NAMESPACE.fullmatch(ns):
            raise ApiError(400, "bad_namespace", "a namespace is 1-64 letters, digits, '.', '_' or '-'")
        encoding = request.query.get("key_encoding", "utf8")
        if encoding not in ("utf8", "hex"):
            raise ApiError(400, "bad_parameter", "query parameter 'key_encoding' must be 'utf8' or 'hex'")
        text = request.match_info["key"]
        if encoding == "hex" and not _HEX_KEY.fullmatch(text):
            raise ApiError(400, "bad_key", "the key is not hex (whole bytes, 0x optional)")
        try:
            key = unhex(text, "key") if encoding == "hex" else text.encode("utf-8")
        except (DecodeError, UnicodeEncodeError):
            raise ApiError(400, "bad_key", f"the key is not {encoding}") from None
        if not 1 <= len(key) <= _MAX_KV_KEY:
            raise ApiError(400, "bad_key", f"a kv key is 1 to {_MAX_KV_KEY} bytes")
        height = int_param(request, "height", None, 0, 2**63)
        prove = bool_param(request, "prove")
        state_key = kv_key(ns, key)
        proof = header = None
        res = self.node.app.query(QueryRequest(path="state", key=state_key, height=height, prove=prove))
        raw, h = res.value, res.height
        if prove:
            assert res.proof is not None and res.header is not None, "a proven state query answers both"
            proof, header = proof_json(res.proof), header_json(res.header)
        rec = read_record(PointReader(lambda _k: raw), ns, key)
        return ok(
            KvRecordJson(
                namespace=ns,
                key=hx(key),
                owner=None if rec is None else hx(rec.owner),
                value=None if rec is None else hx(rec.value),
                height=h,
                proof=proof,
                header=header,
            )
        )


def routes(node: Node) -> list[web.RouteDef]:
    """The kv route of ``node``."""
    return [web.get("/v1/kv/{namespace}/{key}", KvApi(node).kv)]


OPENAPI_PATHS: dict[str, Any] = {
    "/v1/kv/{namespace}/{key}": {
        "get": {
            "summary": "A kv record",
            "parameters": [
                param("namespace", "path", {"type": "string", "pattern": NAMESPACE_PATTERN}, "Namespace"),
                param(
                    "key",
                    "path",
                    {"type": "string", "pattern": KV_KEY_PATTERN},
                    "Key: 1 to 256 bytes of UTF-8, or in hex with key_encoding=hex",
                ),
                param("key_encoding", "query", {"type": "string", "enum": ["utf8", "hex"]}, "Key encoding"),
                param("height", "query", {"type": "integer", "minimum": 0}, "Height (default: latest)"),
                param("prove", "query", {"type": "boolean"}, "Include the proof and header"),
            ],
            "responses": {"200": json_response("KvRecordJson", "Record"), **ERRORS},
        }
    },
}
"""The OpenAPI path item of the kv route."""

SCHEMAS: tuple[type, ...] = (KvRecordJson,)
"""The response types whose JSON schemas the OpenAPI document's components hold."""
