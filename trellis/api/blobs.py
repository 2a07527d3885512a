"""The file store over REST: ``PUT /v1/blobs`` (upload), ``GET /v1/blobs/{file_id}`` (verified download),
``GET /v1/blobs/{file_id}/manifest``.

An upload is streamed into the node's ``BlobStore`` chunk by chunk (``trellis.blobs.FileWriter``): memory stays
bounded by one chunk whatever the file's size. It is refused with 413 ``file_too_large`` when its
``Content-Length`` (or, without one, the bytes actually sent) passes ``[blobs] max_upload_bytes``, with 400
``truncated_upload`` when the body ends before its ``Content-Length``, with 400 ``empty_upload`` when it is empty,
and with 408 ``body_timeout`` when no byte of it arrives for ``BODY_TIMEOUT_S`` (the server's middleware); a
refused upload stores nothing (the chunks it had written are removed, no manifest is written).

A download checks the manifest against the file id before answering, and each chunk against the manifest before
sending it. A damaged first chunk is answered 500 ``chunk_corrupt`` naming it; a damaged later chunk (the status
line is already sent) is logged, naming it, and the connection is closed before ``Content-Length`` is reached,
so no client mistakes the body for the file. An encrypted file is answered 409 ``encrypted_blob``: its key is
its owner's and never reaches the node (``trellis blob get --key-file`` decrypts on the owner's machine).
``HEAD`` answers the headers (size, ``ETag`` = file id) from the verified manifest alone. A store that fails
(S3 unreachable, disk error) is answered 503 ``blob_store_error``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from typing import Any

import msgspec
from aiohttp import web

from trellis.api.responses import PROBLEM_RESPONSE, hex32_path_param, ok, problem
from trellis.blobs.files import (
    FileNotStored,
    FileTooLarge,
    FileWriter,
    Manifest,
    ManifestCorrupt,
    iter_file,
    load_manifest,
)
from trellis.blobs.store import BlobStore, BlobStoreError
from trellis.core.crypto.suite import Suite
from trellis.core.errors import TrellisError
from trellis.node.node import Node

log = logging.getLogger("trellis.api.blobs")

_READ_BYTES = 256 * 1024
_HEX64 = frozenset("0123456789abcdefABCDEF")


class BlobJson(msgspec.Struct, frozen=True, kw_only=True):
    """A stored file, as an upload answers it."""

    file_id: str
    """The file id (hex): what the chain records."""
    size: int
    """Bytes."""
    chunk_bytes: int
    """Bytes per chunk."""
    chunk_count: int
    """Number of chunks."""
    suite: str
    """The chain suite whose hash made the id."""
    encrypted: bool
    """Whether the chunks are sealed under an owner's key."""


class ManifestJson(msgspec.Struct, frozen=True, kw_only=True):
    """A file's manifest (``trellis.blobs.files.Manifest``) in JSON; hashes and salts in hex."""

    file_id: str
    version: int
    suite: str
    size: int
    chunk_bytes: int
    chunks: list[str]
    """Stored chunk hashes, in order."""
    aead: str | None = None
    """Encrypted files: ``aes-256-gcm`` or ``sm4-gcm``."""
    kdf: str | None = None
    """Encrypted files: ``hkdf-sha256`` or ``hkdf-sm3``."""
    salt: str | None = None
    """Encrypted files: the HKDF salt."""
    key_check: str | None = None
    """Encrypted files: the key check value."""


def manifest_json(file_id: bytes, m: Manifest) -> ManifestJson:
    """The JSON form of ``m``."""
    e = m.encryption
    return ManifestJson(
        file_id=file_id.hex(),
        version=m.version,
        suite=m.suite,
        size=m.size,
        chunk_bytes=m.chunk_bytes,
        chunks=[h.hex() for h in m.chunks],
        aead=e.aead if e else None,
        kdf=e.kdf if e else None,
        salt=e.salt.hex() if e else None,
        key_check=e.key_check.hex() if e else None,
    )


def _file_id(text: str) -> bytes | None:
    t = text[2:] if text[:2] in ("0x", "0X") else text
    if len(t) != 64 or not _HEX64.issuperset(t):
        return None
    return bytes.fromhex(t)


def _next(it: Iterator[bytes]) -> bytes | None:
    return next(it, None)


class BlobApi:
    """The file store's handlers.

    Args:
        store: the node's blob store, or None (every route then answers 404 ``blobs_disabled``).
        suite: the chain's crypto suite.
        chunk_bytes: bytes per chunk of uploaded files.
        max_upload_bytes: largest upload accepted (0: uploads refused).
    """

    def __init__(self, store: BlobStore | None, suite: Suite, chunk_bytes: int, max_upload_bytes: int) -> None:
        self.store = store
        self.suite = suite
        self.chunk_bytes = chunk_bytes
        self.max_upload_bytes = max_upload_bytes

    def _disabled(self) -> web.Response:
        return problem(404, "blobs_disabled", "this node has no blob store")

    async def put(self, request: web.Request) -> web.Response:
        """Store the request body as one file; answer 201 with a ``BlobJson``."""
        if self.store is None:
            return self._disabled()
        limit = self.max_upload_bytes
        if limit == 0:
            return problem(403, "uploads_disabled", "this node accepts no uploads ([blobs] max_upload_bytes = 0)")
        declared = request.content_length
        if declared is not None and declared > limit:
            return problem(413, "file_too_large", f"the file is {declared} bytes; this node accepts at most {limit}")
        writer = FileWriter(self.store, self.suite, chunk_bytes=self.chunk_bytes, max_bytes=limit)
        pending = bytearray()
        received = 0
        try:
            while True:
                try:
                    data = await request.content.read(_READ_BYTES)
                except Exception as exc:  # the client went away mid-body: aiohttp's payload errors vary by version
                    await asyncio.to_thread(writer.abort)
                    return problem(400, "truncated_upload", f"the upload was cut off after {received} bytes: {exc}")
                if not data:
                    break
                received += len(data)
                if received > limit:
                    await asyncio.to_thread(writer.abort)
                    return problem(413, "file_too_large", f"the file is larger than this node's limit of {limit} bytes")
                pending += data
                if len(pending) >= self.chunk_bytes:
                    await asyncio.to_thread(writer.write, bytes(pending))
                    pending.clear()
            if received == 0:
                await asyncio.to_thread(writer.abort)
                return problem(
                    400, "empty_upload", "the body is empty: send the file's bytes (an empty file is refused)"
                )
            if declared is not None and received != declared:
                await asyncio.to_thread(writer.abort)
                return problem(
                    400, "truncated_upload", f"the body has {received} bytes; its Content-Length says {declared}"
                )
            if pending:
                await asyncio.to_thread(writer.write, bytes(pending))
            stored = await asyncio.to_thread(writer.finish)
        except FileTooLarge as exc:
            return problem(413, exc.code, exc.reason)
        except BlobStoreError as exc:
            writer.abort()
            log.error("blob store failed during an upload: %s", exc.reason)
            return problem(503, exc.code, exc.reason)
        except BaseException:
            # A store failure or the handler cancelled (the client went away, the server stops): nothing
            # partial stays. Synchronous on purpose: a cancelled handler must not leave before the chunks are gone.
            writer.abort()
            raise
        m = stored.manifest
        body = BlobJson(
            file_id=stored.file_id.hex(),
            size=m.size,
            chunk_bytes=m.chunk_bytes,
            chunk_count=len(m.chunks),
            suite=m.suite,
            encrypted=m.encryption is not None,
        )
        resp = ok(body, 201)
        resp.headers["Location"] = f"/v1/blobs/{stored.file_id.hex()}"
        return resp

    async def _manifest(self, request: web.Request) -> tuple[bytes, Manifest] | web.Response:
        if self.store is None:
            return self._disabled()
        file_id = _file_id(request.match_info["file_id"])
        if file_id is None:
            return problem(400, "bad_file_id", "a file id is 64 hex digits")
        try:
            return file_id, await asyncio.to_thread(load_manifest, self.store, self.suite, file_id)
        except FileNotStored as exc:
            return problem(404, exc.code, exc.reason)
        except ManifestCorrupt as exc:
            log.error("blob store damaged: %s", exc.reason)
            return problem(500, exc.code, exc.reason)
        except BlobStoreError as exc:
            log.error("blob store failed: %s", exc.reason)
            return problem(503, exc.code, exc.reason)

    async def manifest(self, request: web.Request) -> web.Response:
        """Answer the file's verified manifest as ``ManifestJson``."""
        got = await self._manifest(request)
        if isinstance(got, web.Response):
            return got
        return ok(manifest_json(*got))

    async def get(self, request: web.Request) -> web.StreamResponse:
        """Stream the file's bytes, each chunk verified before it is sent."""
        got = await self._manifest(request)
        if isinstance(got, web.Response):
            return got
        file_id, m = got
        if m.encryption is not None:
            return problem(
                409, "encrypted_blob", "the file is encrypted under its owner's key: fetch it with trellis blob get"
            )
        assert self.store is not None
        headers = {"Content-Type": "application/octet-stream", "ETag": f'"{file_id.hex()}"'}
        if request.method == "HEAD":
            resp = web.StreamResponse(headers=headers)
            resp.content_length = m.size
            await resp.prepare(request)
            await resp.write_eof()
            return resp
        chunks = iter_file(self.store, self.suite, file_id, manifest=m)
        try:
            first = await asyncio.to_thread(_next, chunks)
        except TrellisError as exc:
            log.error("blob store failed: %s", exc.reason)
            return problem(500, exc.code, exc.reason)
        resp = web.StreamResponse(headers=headers)
        resp.content_length = m.size
        await resp.prepare(request)
        chunk = first
        try:
            while chunk is not None:
                await resp.write(chunk)
                try:
                    chunk = await asyncio.to_thread(_next, chunks)
                except TrellisError as exc:
                    log.error("blob store failed, download cut off: %s", exc.reason)
                    if request.transport is not None:
                        request.transport.close()
                    return resp
            await resp.write_eof()
        except ConnectionResetError:
            log.debug("client left during the download of %s", file_id.hex())
        return resp


def routes(node: Node) -> list[web.RouteDef]:
    """The file store's routes, for ``build_app``."""
    cfg = node.config.blobs
    api = BlobApi(node.blobs, node.params.suite, cfg.chunk_bytes, cfg.max_upload_bytes)
    return [
        web.put("/v1/blobs", api.put),
        web.get("/v1/blobs/{file_id}", api.get),
        web.get("/v1/blobs/{file_id}/manifest", api.manifest),
    ]


def _schema(cls: type) -> dict[str, Any]:
    _, components = msgspec.json.schema_components([cls], ref_template="#/components/schemas/{name}")
    return dict(components[cls.__name__])


_PROBLEM = PROBLEM_RESPONSE
_FILE_ID = hex32_path_param("file_id", "The file id (64 hex digits)")

OPENAPI_PATHS: dict[str, Any] = {
    "/v1/blobs": {
        "put": {
            "summary": "Store a file (streamed, chunked, content-addressed); refused whole if empty, oversized, "
            "truncated or stalled",
            "requestBody": {"required": True, "content": {"application/octet-stream": {}}},
            "responses": {
                "201": {"description": "Stored", "content": {"application/json": {"schema": _schema(BlobJson)}}},
                "400": _PROBLEM,
                "403": _PROBLEM,
                "404": _PROBLEM,
                "408": _PROBLEM,
                "413": _PROBLEM,
                "503": _PROBLEM,
            },
        }
    },
    "/v1/blobs/{file_id}": {
        "get": {
            "summary": "A stored file's bytes, every chunk verified against the manifest and the file id",
            "parameters": [_FILE_ID],
            "responses": {
                "200": {"description": "The file", "content": {"application/octet-stream": {}}},
                "400": _PROBLEM,
                "404": _PROBLEM,
                "409": _PROBLEM,
                "500": _PROBLEM,
                "503": _PROBLEM,
            },
        }
    },
    "/v1/blobs/{file_id}/manifest": {
        "get": {
            "summary": "A stored file's manifest (size, chunk size, chunk hashes, encryption parameters), verified",
            "parameters": [_FILE_ID],
            "responses": {
                "200": {
                    "description": "The manifest",
                    "content": {"application/json": {"schema": _schema(ManifestJson)}},
                },
                "400": _PROBLEM,
                "404": _PROBLEM,
                "500": _PROBLEM,
            },
        }
    },
}
"""The file store's entries in the OpenAPI document."""
SCHEMAS: tuple[type, ...] = ()
"""The file store's answers are documented inline (``_schema``), not as component schemas."""
