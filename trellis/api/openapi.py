"""The OpenAPI 3.1 document of the REST API, with schemas generated from the API's msgspec types.

The node's own paths (status, transactions, streams, blocks, state, metrics, this document) are here; every
module's paths and schemas come from its routes file, listed in ``trellis.api.registry.ROUTE_MODULES``.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import msgspec

import trellis
from trellis.api import types as t
from trellis.api.params import (
    BLOCK_REF_PATTERN,
    ERRORS,
    HASH_PATTERN,
    LIMITS,
    STATE_KEY_PATTERN,
    json_response,
    param,
    schema_ref,
)
from trellis.api.registry import ROUTE_MODULES
from trellis.api.responses import PROBLEM_RESPONSE

_SCHEMA_TYPES = (
    t.SubmitJson,
    t.TxStatusJson,
    t.BlockJson,
    t.StateValueJson,
    t.BatchResultJson,
    t.StreamResultJson,
    t.StreamErrorJson,
    t.CommittedBlockJson,
    t.StatusJson,
    t.BannedPeerJson,
    t.ProblemJson,
)
"""The node's own request and response types (each module's are its routes file's ``SCHEMAS``)."""


_PROBLEM = PROBLEM_RESPONSE

SUBMIT_PROMISE = (
    "What 202 promises: the transaction passed every admission check and is in this node's mempool, pending, "
    "and is being spread to the other validators. It is not durable: the mempool lives in memory, so a crash of "
    "this node, or its stop before the transaction is in a block, can lose it. A client that must know waits for "
    "the commit (?wait=commit, or GET /v1/txs/{hash}?wait=N) and, if the status is unknown, resubmits the same "
    "bytes: resubmitting is idempotent (refused as duplicate while pending, as already committed once in a block). "
    "A node that is stopping answers 503 shutting_down and admits nothing; one whose storage failed answers 503 "
    "node_failed or storage_error."
)
"""The acknowledgement contract of the submit routes, in their OpenAPI descriptions (README's API section)."""

_UNAVAILABLE = {"503": _PROBLEM}


@cache
def openapi_document() -> dict[str, Any]:
    """Return the OpenAPI document (built once)."""
    types = _SCHEMA_TYPES + tuple(cls for module in ROUTE_MODULES for cls in module.SCHEMAS)
    _, components = msgspec.json.schema_components(types, ref_template="#/components/schemas/{name}")
    errors = ERRORS
    hash32 = {"type": "string", "pattern": HASH_PATTERN}
    paths: dict[str, Any] = {
        "/v1/status": {
            "get": {"summary": "Node and chain status", "responses": {"200": json_response("StatusJson", "Status")}}
        },
        "/v1/txs": {
            "post": {
                "summary": "Submit a signed transaction",
                "description": "Body: canonical transaction bytes (application/octet-stream), or JSON "
                '{"tx": {...}} or {"tx_hex": "0x..."}. With ?wait=commit the call returns when the '
                "transaction commits (200) or the timeout passes (202). " + SUBMIT_PROMISE,
                "parameters": [
                    param("wait", "query", {"type": "string", "enum": ["commit"]}, "Wait for the commit"),
                    param("timeout", "query", {"type": "integer", "minimum": 1, "maximum": 60}, "Seconds to wait"),
                ],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
                        "application/json": {"schema": schema_ref("SubmitJson")},
                    },
                },
                "responses": {
                    "200": json_response("TxStatusJson", "Committed"),
                    "202": json_response("TxStatusJson", "In this node's mempool, pending (see the description)"),
                    "400": _PROBLEM,
                    "403": _PROBLEM,
                    "409": _PROBLEM,
                    "415": _PROBLEM,
                    "429": _PROBLEM,
                    **LIMITS,
                    **_UNAVAILABLE,
                },
            }
        },
        "/v1/txs/batch": {
            "post": {
                "summary": "Submit many signed transactions at once (signatures verified as one batch)",
                "description": "Body (application/x-trellis-txs): for each transaction a 4-byte big-endian length "
                "and its canonical bytes; at most 20,000 per request. 'accepted' counts the transactions now in "
                "this node's mempool; each refusal is listed by index. " + SUBMIT_PROMISE,
                "requestBody": {
                    "required": True,
                    "content": {"application/x-trellis-txs": {"schema": {"type": "string", "format": "binary"}}},
                },
                "responses": {
                    "202": json_response("BatchResultJson", "Admitted count and refusals"),
                    "400": _PROBLEM,
                    "415": _PROBLEM,
                    **LIMITS,
                    **_UNAVAILABLE,
                },
            }
        },
        "/v1/txs/stream": {
            "get": {
                "summary": "Stream batches of signed transactions over a WebSocket; admitted in the order sent",
                "description": "Upgrade to a WebSocket. Each binary message is one batch in the "
                "application/x-trellis-txs format (at most 20,000 transactions and api.max_body_bytes). The node "
                "checks up to three batches at once but admits them in the order sent, and answers each with one "
                'text message, in order: StreamResultJson {"seq", "accepted", "rejected"} or StreamErrorJson '
                '{"seq", "error": {"status", "code", "detail"}} for a batch it could not parse (the stream stays '
                "open). At most 8 batches are pending per connection; the node reads no more until the oldest is "
                "answered. A text message closes the stream with code 1003.",
                "responses": {
                    "101": {"description": "Switching to the WebSocket protocol"},
                    "400": _PROBLEM,
                },
            }
        },
        "/v1/commits/stream": {
            "get": {
                "summary": "Stream of committed blocks (one JSON object per line) from now on",
                "responses": {
                    "200": {
                        "description": "application/x-ndjson: CommittedBlockJson per line",
                        "content": {"application/x-ndjson": {"schema": schema_ref("CommittedBlockJson")}},
                    }
                },
            }
        },
        "/v1/txs/{hash}": {
            "get": {
                "summary": "Transaction status, receipt and content",
                "parameters": [
                    param("hash", "path", hash32, "Transaction hash"),
                    param(
                        "wait", "query", {"type": "integer", "minimum": 0, "maximum": 60}, "Seconds to wait for commit"
                    ),
                ],
                "responses": {"200": json_response("TxStatusJson", "Status"), **errors},
            }
        },
        "/v1/blocks/{ref}": {
            "get": {
                "summary": "A block with its commit certificate",
                "parameters": [
                    param(
                        "ref", "path", {"type": "string", "pattern": BLOCK_REF_PATTERN}, "Height, block id, or 'latest'"
                    )
                ],
                "responses": {"200": json_response("BlockJson", "Block"), **errors},
            }
        },
        "/v1/state/{key}": {
            "get": {
                "summary": "A raw state value, optionally with its Merkle proof and header",
                "parameters": [
                    param("key", "path", {"type": "string", "pattern": STATE_KEY_PATTERN}, "State key, hex"),
                    param("height", "query", {"type": "integer", "minimum": 0}, "Height (default: latest)"),
                    param("prove", "query", {"type": "boolean"}, "Include the proof and header"),
                ],
                "responses": {"200": json_response("StateValueJson", "Value"), **errors},
            }
        },
        "/v1/metrics": {
            "get": {
                "summary": "Time spent per pipeline stage (seconds, items), mempool size, height, verifier",
                "responses": {"200": {"description": "JSON counters", "content": {"application/json": {}}}},
            }
        },
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics (text format 0.0.4); docs/ops/metrics.md lists them",
                "responses": {"200": {"description": "Metrics", "content": {"text/plain": {}}}},
            }
        },
        "/openapi.json": {
            "get": {
                "summary": "This OpenAPI document",
                "responses": {"200": {"description": "The document", "content": {"application/json": {}}}},
            }
        },
    }
    for module in ROUTE_MODULES:
        twice = paths.keys() & module.OPENAPI_PATHS.keys()
        assert not twice, f"{module} documents {sorted(twice)} again"
        paths.update(module.OPENAPI_PATHS)
    # Every route: a method it does not serve is 405 (with Allow); a node whose storage failed is 503.
    paths = {
        path: {
            method: {**op, "responses": {"405": _PROBLEM, "503": _PROBLEM, **op["responses"]}}
            for method, op in item.items()
        }
        for path, item in paths.items()
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "Trellis node API", "version": trellis.__version__},
        "paths": paths,
        "components": {"schemas": components},
    }
