"""The OpenAPI 3.1 document of the REST API, with schemas generated from the API's msgspec types."""

from __future__ import annotations

from functools import cache
from typing import Any

import msgspec

import trellis
from trellis.api import types as t
from trellis.api.blobs import OPENAPI_PATHS as BLOB_PATHS
from trellis.api.credentials import OPENAPI_PATHS as CREDENTIAL_PATHS
from trellis.api.did import OPENAPI_PATHS as DID_PATHS
from trellis.api.notary import OPENAPI_PATHS as NOTARY_PATHS
from trellis.api.responses import PROBLEM_RESPONSE
from trellis.api.validators import OPENAPI_PATHS as VALIDATOR_PATHS
from trellis.api.validators import SCHEMA_TYPES as VALIDATOR_SCHEMA_TYPES

_SCHEMA_TYPES = (
    t.SubmitJson,
    t.TxStatusJson,
    t.BlockJson,
    t.AccountJson,
    t.AccountTxsJson,
    t.StateValueJson,
    t.KvRecordJson,
    t.EvidenceListJson,
    t.BatchResultJson,
    t.StreamResultJson,
    t.StreamErrorJson,
    t.CommittedBlockJson,
    t.StatusJson,
    t.ProblemJson,
    t.ContractJson,
    t.ContractQueryJson,
    t.ContractQueryResultJson,
    t.ContractEventsJson,
    t.CertsJson,
    t.MembershipJson,
    *VALIDATOR_SCHEMA_TYPES,
)


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(name: str, description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(name)}}}


_PROBLEM = PROBLEM_RESPONSE

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

_LIMITS = {"408": _PROBLEM, "413": _PROBLEM, "414": _PROBLEM}
"""Refusals of every route with a body: it stalled (408), it is over the route's limit (413, answered as soon as
the declared Content-Length says so), the URL is too long (414)."""
_UNAVAILABLE = {"503": _PROBLEM}


def _param(name: str, where: str, schema: dict[str, Any], description: str, required: bool = False) -> dict[str, Any]:
    return {
        "name": name,
        "in": where,
        "required": required or where == "path",
        "schema": schema,
        "description": description,
    }


@cache
def openapi_document() -> dict[str, Any]:
    """Return the OpenAPI document (built once)."""
    _, components = msgspec.json.schema_components(_SCHEMA_TYPES, ref_template="#/components/schemas/{name}")
    errors = {"400": _PROBLEM, "404": _PROBLEM}
    address = {"type": "string", "pattern": ADDRESS_PATTERN}
    hash32 = {"type": "string", "pattern": HASH_PATTERN}
    paths: dict[str, Any] = {
        "/v1/status": {
            "get": {"summary": "Node and chain status", "responses": {"200": _json("StatusJson", "Status")}}
        },
        "/v1/txs": {
            "post": {
                "summary": "Submit a signed transaction",
                "description": "Body: canonical transaction bytes (application/octet-stream), or JSON "
                '{"tx": {...}} or {"tx_hex": "0x..."}. With ?wait=commit the call returns when the '
                "transaction commits (200) or the timeout passes (202). " + SUBMIT_PROMISE,
                "parameters": [
                    _param("wait", "query", {"type": "string", "enum": ["commit"]}, "Wait for the commit"),
                    _param("timeout", "query", {"type": "integer", "minimum": 1, "maximum": 60}, "Seconds to wait"),
                ],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
                        "application/json": {"schema": _ref("SubmitJson")},
                    },
                },
                "responses": {
                    "200": _json("TxStatusJson", "Committed"),
                    "202": _json("TxStatusJson", "In this node's mempool, pending (see the description)"),
                    "400": _PROBLEM,
                    "403": _PROBLEM,
                    "409": _PROBLEM,
                    "415": _PROBLEM,
                    "429": _PROBLEM,
                    **_LIMITS,
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
                    "202": _json("BatchResultJson", "Admitted count and refusals"),
                    "400": _PROBLEM,
                    "415": _PROBLEM,
                    **_LIMITS,
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
                        "content": {"application/x-ndjson": {"schema": _ref("CommittedBlockJson")}},
                    }
                },
            }
        },
        "/v1/txs/{hash}": {
            "get": {
                "summary": "Transaction status, receipt and content",
                "parameters": [
                    _param("hash", "path", hash32, "Transaction hash"),
                    _param(
                        "wait", "query", {"type": "integer", "minimum": 0, "maximum": 60}, "Seconds to wait for commit"
                    ),
                ],
                "responses": {"200": _json("TxStatusJson", "Status"), **errors},
            }
        },
        "/v1/blocks/{ref}": {
            "get": {
                "summary": "A block with its commit certificate",
                "parameters": [
                    _param(
                        "ref", "path", {"type": "string", "pattern": BLOCK_REF_PATTERN}, "Height, block id, or 'latest'"
                    )
                ],
                "responses": {"200": _json("BlockJson", "Block"), **errors},
            }
        },
        "/v1/accounts/{address}": {
            "get": {
                "summary": "Account balance and nonce",
                "parameters": [_param("address", "path", address, "Account address (20 bytes)")],
                "responses": {"200": _json("AccountJson", "Account"), **errors},
            }
        },
        "/v1/accounts/{address}/txs": {
            "get": {
                "summary": "Every transaction of an account, in chain order (paged)",
                "parameters": [
                    _param("address", "path", address, "Account address"),
                    _param("limit", "query", {"type": "integer", "minimum": 1, "maximum": 1000}, "Page size"),
                    _param("after", "query", {"type": "string"}, "Cursor from the previous page's 'next'"),
                ],
                "responses": {"200": _json("AccountTxsJson", "History"), **errors},
            }
        },
        "/v1/state/{key}": {
            "get": {
                "summary": "A raw state value, optionally with its Merkle proof and header",
                "parameters": [
                    _param("key", "path", {"type": "string", "pattern": STATE_KEY_PATTERN}, "State key, hex"),
                    _param("height", "query", {"type": "integer", "minimum": 0}, "Height (default: latest)"),
                    _param("prove", "query", {"type": "boolean"}, "Include the proof and header"),
                ],
                "responses": {"200": _json("StateValueJson", "Value"), **errors},
            }
        },
        "/v1/metrics": {
            "get": {
                "summary": "Time spent per pipeline stage (seconds, items), mempool size, height, verifier",
                "responses": {"200": {"description": "JSON counters", "content": {"application/json": {}}}},
            }
        },
        "/v1/certs/{address}": {
            "get": {
                "summary": "An address's registered identity certificates, judged at the latest block's time",
                "parameters": [_param("address", "path", address, "Account address (20 bytes)")],
                "responses": {"200": _json("CertsJson", "Certificates"), **errors},
            }
        },
        "/v1/membership": {
            "get": {
                "summary": "The on-chain membership: orgs and their CA certificates, threshold, revocations, proposals",
                "responses": {"200": _json("MembershipJson", "Membership")},
            }
        },
        "/v1/evidence": {
            "get": {
                "summary": "Equivocations (double votes, double proposals) recorded on chain",
                "responses": {"200": _json("EvidenceListJson", "Evidence records")},
            }
        },
        "/v1/kv/{namespace}/{key}": {
            "get": {
                "summary": "A kv record",
                "parameters": [
                    _param("namespace", "path", {"type": "string", "pattern": NAMESPACE_PATTERN}, "Namespace"),
                    _param(
                        "key",
                        "path",
                        {"type": "string", "pattern": KV_KEY_PATTERN},
                        "Key: 1 to 256 bytes of UTF-8, or in hex with key_encoding=hex",
                    ),
                    _param("key_encoding", "query", {"type": "string", "enum": ["utf8", "hex"]}, "Key encoding"),
                    _param("height", "query", {"type": "integer", "minimum": 0}, "Height (default: latest)"),
                    _param("prove", "query", {"type": "boolean"}, "Include the proof and header"),
                ],
                "responses": {"200": _json("KvRecordJson", "Record"), **errors},
            }
        },
        "/v1/contracts/{address}": {
            "get": {
                "summary": "A deployed contract: code hash and size, deployer, admin, heights",
                "parameters": [_param("address", "path", address, "Contract address (20 bytes)")],
                "responses": {"200": _json("ContractJson", "Contract"), **errors},
            }
        },
        "/v1/contracts/{address}/code": {
            "get": {
                "summary": "The contract's WebAssembly code",
                "parameters": [_param("address", "path", address, "Contract address")],
                "responses": {
                    "200": {"description": "The module", "content": {"application/wasm": {}}},
                    **errors,
                },
            }
        },
        "/v1/contracts/{address}/query": {
            "post": {
                "summary": "Run a method read-only against the latest committed state (no transaction)",
                "parameters": [_param("address", "path", address, "Contract address")],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref("ContractQueryJson")}},
                },
                "responses": {
                    "200": _json("ContractQueryResultJson", "The outcome: return data, or why the call failed"),
                    **errors,
                    **_LIMITS,
                },
            }
        },
        "/v1/contracts/{address}/events": {
            "get": {
                "summary": "Events the contract emitted, in chain order (paged)",
                "parameters": [
                    _param("address", "path", address, "Contract address"),
                    _param(
                        "limit", "query", {"type": "integer", "minimum": 1, "maximum": 1000}, "Transactions per page"
                    ),
                    _param("after", "query", {"type": "string"}, "Cursor from the previous page's 'next'"),
                ],
                "responses": {"200": _json("ContractEventsJson", "Events"), **errors},
            }
        },
        "/openapi.json": {
            "get": {
                "summary": "This OpenAPI document",
                "responses": {"200": {"description": "The document", "content": {"application/json": {}}}},
            }
        },
    }
    paths.update(DID_PATHS)
    paths.update(NOTARY_PATHS)
    paths.update(BLOB_PATHS)
    paths.update(CREDENTIAL_PATHS)
    paths.update(VALIDATOR_PATHS)
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
