"""The file store over REST: uploads streamed into the store, refused whole (413, 400) when oversized or
truncated, and downloads verified chunk by chunk."""

from __future__ import annotations

import asyncio
import io
import os
from collections.abc import Awaitable, Callable
from typing import Any
from unittest import mock

import aiohttp
import pytest
from aiohttp import web
from aiohttp.streams import StreamReader
from aiohttp.test_utils import TestClient, TestServer, make_mocked_request

from trellis.api.blobs import BlobApi
from trellis.api.server import problem_middleware
from trellis.blobs.files import put_file
from trellis.blobs.store import BlobStore, BlobStoreError, MemoryBlobStore
from trellis.core.crypto.suite import ED25519, SM, Suite

CHUNK = 1024
LIMIT = 8 * CHUNK
WAIT_S = 20.0


def app_for(store: BlobStore | None, limit: int = LIMIT, suite: Suite = ED25519) -> web.Application:
    api = BlobApi(store, suite, CHUNK, limit)
    app = web.Application(middlewares=[problem_middleware])
    app.add_routes(
        [
            web.put("/v1/blobs", api.put),
            web.get("/v1/blobs/{file_id}", api.get),
            web.get("/v1/blobs/{file_id}/manifest", api.manifest),
        ]
    )
    return app


def with_client(store: BlobStore | None, body: Callable[[TestClient[Any, Any]], Awaitable[None]], **kw: Any) -> None:
    async def main() -> None:
        async with TestClient(TestServer(app_for(store, **kw))) as client:
            await body(client)

    asyncio.run(asyncio.wait_for(main(), WAIT_S))


def test_an_upload_round_trips_with_its_manifest(real_store: BlobStore) -> None:
    data = os.urandom(3 * CHUNK + 1)

    async def body(c: TestClient[Any, Any]) -> None:
        r = await c.put("/v1/blobs", data=data)
        assert r.status == 201, await r.text()
        info = await r.json()
        assert info["size"] == len(data) and info["chunk_count"] == 4 and info["encrypted"] is False
        assert r.headers["Location"] == f"/v1/blobs/{info['file_id']}"
        r = await c.get(f"/v1/blobs/{info['file_id']}")
        assert r.status == 200 and await r.read() == data
        r = await c.get(f"/v1/blobs/{info['file_id']}/manifest")
        m = await r.json()
        assert m["file_id"] == info["file_id"] and len(m["chunks"]) == 4 and m["aead"] is None

    with_client(real_store, body)


def test_an_upload_without_content_length_round_trips() -> None:
    store = MemoryBlobStore()
    data = os.urandom(2 * CHUNK + 7)

    async def gen():  # type: ignore[no-untyped-def]
        for i in range(0, len(data), 500):
            yield data[i : i + 500]

    async def body(c: TestClient[Any, Any]) -> None:
        r = await c.put("/v1/blobs", data=gen())
        assert r.status == 201, await r.text()
        r = await c.get(f"/v1/blobs/{(await r.json())['file_id']}")
        assert await r.read() == data

    with_client(store, body)


def test_an_empty_upload_is_refused_with_a_reason() -> None:
    # An empty PUT is a client mistake (issue 13: it used to create an empty blob), refused as problem+json.
    async def body(c: TestClient[Any, Any]) -> None:
        r = await c.put("/v1/blobs", data=b"")
        assert r.status == 400
        assert r.content_type == "application/problem+json"
        assert (await r.json())["code"] == "empty_upload"

    with_client(MemoryBlobStore(), body)


def test_an_oversized_upload_is_refused_by_its_content_length_and_stores_nothing(real_store: BlobStore) -> None:
    async def body(c: TestClient[Any, Any]) -> None:
        r = await c.put("/v1/blobs", data=os.urandom(LIMIT + 1))
        assert r.status == 413 and (await r.json())["code"] == "file_too_large"

    with_client(real_store, body)
    assert list(real_store.list()) == []


def test_an_oversized_upload_without_content_length_is_refused_and_stores_nothing() -> None:
    store = MemoryBlobStore()

    async def gen():  # type: ignore[no-untyped-def]
        for _ in range(LIMIT // 512 + 4):
            yield os.urandom(512)

    async def body(c: TestClient[Any, Any]) -> None:
        r = await c.put("/v1/blobs", data=gen())
        assert r.status == 413 and (await r.json())["code"] == "file_too_large"

    with_client(store, body)
    assert store.blobs == {}


def test_a_truncated_upload_is_refused_with_400_and_stores_nothing(real_store: BlobStore) -> None:
    # The body stream fails after 3.5 of the 5 chunks its Content-Length declares (what aiohttp does when the
    # client's connection ends early): 400, and the chunks already written are removed.
    api = BlobApi(real_store, ED25519, CHUNK, LIMIT)

    async def main() -> web.StreamResponse:
        payload = StreamReader(mock.Mock(_reading_paused=False), 2**16, loop=asyncio.get_running_loop())
        payload.feed_data(os.urandom(3 * CHUNK + CHUNK // 2))
        payload.set_exception(ConnectionResetError("Connection lost"))
        request = make_mocked_request("PUT", "/v1/blobs", headers={"Content-Length": str(5 * CHUNK)}, payload=payload)
        return await api.put(request)

    resp = asyncio.run(asyncio.wait_for(main(), WAIT_S))
    assert isinstance(resp, web.Response) and resp.status == 400
    assert resp.body is not None and b"truncated_upload" in bytes(resp.body)  # type: ignore[arg-type]
    assert list(real_store.list()) == []


def test_a_connection_closed_mid_upload_stores_nothing(real_store: BlobStore) -> None:
    # Over a real socket: the client declares 5 chunks, sends 3 and a half, and closes its side. The server
    # closes the connection (no 201), and once it has finished with the request nothing is stored.
    async def body(c: TestClient[Any, Any]) -> None:
        reader, writer = await asyncio.open_connection(c.host, c.port)
        head = f"PUT /v1/blobs HTTP/1.1\r\nHost: x\r\nContent-Length: {5 * CHUNK}\r\n\r\n".encode()
        writer.write(head + os.urandom(3 * CHUNK + CHUNK // 2))
        await writer.drain()
        writer.write_eof()
        answer = await reader.read()
        writer.close()
        assert b" 201 " not in answer.split(b"\r\n", 1)[0]

    with_client(real_store, body)  # leaving it stops the server, which waits for (or cancels) the handler
    assert list(real_store.list()) == []


def test_a_download_with_a_tampered_first_chunk_is_500_naming_it() -> None:
    store = MemoryBlobStore()
    data = os.urandom(2 * CHUNK)
    stored = put_file(store, ED25519, io.BytesIO(data), chunk_bytes=CHUNK)
    bad = stored.manifest.chunks[0]
    store.blobs[bad] = b"X" + store.blobs[bad][1:]

    async def body(c: TestClient[Any, Any]) -> None:
        r = await c.get(f"/v1/blobs/{stored.file_id.hex()}")
        assert r.status == 500
        p = await r.json()
        assert p["code"] == "chunk_corrupt" and f"chunk 0 (blob {bad.hex()})" in p["detail"]

    with_client(store, body)


def test_a_download_with_a_tampered_later_chunk_is_cut_off() -> None:
    store = MemoryBlobStore()
    stored = put_file(store, ED25519, io.BytesIO(os.urandom(3 * CHUNK)), chunk_bytes=CHUNK)
    bad = stored.manifest.chunks[2]
    store.blobs[bad] = b"X" + store.blobs[bad][1:]

    async def body(c: TestClient[Any, Any]) -> None:
        r = await c.get(f"/v1/blobs/{stored.file_id.hex()}")
        assert r.status == 200
        with pytest.raises(aiohttp.ClientPayloadError):
            await r.read()

    with_client(store, body)


def test_unknown_malformed_and_encrypted_file_ids() -> None:
    store = MemoryBlobStore()
    enc = put_file(store, ED25519, io.BytesIO(b"doc"), chunk_bytes=CHUNK, secret=b"k" * 32)

    async def body(c: TestClient[Any, Any]) -> None:
        r = await c.get("/v1/blobs/" + "00" * 32)
        assert r.status == 404 and (await r.json())["code"] == "file_not_found"
        r = await c.get("/v1/blobs/xyz")
        assert r.status == 400 and (await r.json())["code"] == "bad_file_id"
        r = await c.get(f"/v1/blobs/{enc.file_id.hex()}")
        assert r.status == 409 and (await r.json())["code"] == "encrypted_blob"
        r = await c.get(f"/v1/blobs/{enc.file_id.hex()}/manifest")
        assert r.status == 200 and (await r.json())["aead"] == "aes-256-gcm"

    with_client(store, body)


def test_a_node_without_a_blob_store_answers_404() -> None:
    async def body(c: TestClient[Any, Any]) -> None:
        r = await c.put("/v1/blobs", data=b"x")
        assert r.status == 404 and (await r.json())["code"] == "blobs_disabled"

    with_client(None, body)


def test_uploads_can_be_turned_off() -> None:
    async def body(c: TestClient[Any, Any]) -> None:
        r = await c.put("/v1/blobs", data=b"x")
        assert r.status == 403 and (await r.json())["code"] == "uploads_disabled"

    with_client(MemoryBlobStore(), body, limit=0)


class FailingStore(MemoryBlobStore):
    """A store whose writes and reads fail, as an unreachable S3 service's do."""

    def put(self, key: bytes, data: bytes) -> None:
        raise BlobStoreError("S3 put failed: EndpointConnectionError")

    def get(self, key: bytes) -> bytes:
        raise BlobStoreError("S3 get failed: EndpointConnectionError")


def test_a_failing_store_is_503() -> None:
    async def body(c: TestClient[Any, Any]) -> None:
        r = await c.put("/v1/blobs", data=os.urandom(3 * CHUNK))
        assert r.status == 503 and (await r.json())["code"] == "blob_store_error"
        r = await c.get("/v1/blobs/" + "11" * 32)
        assert r.status == 503 and (await r.json())["code"] == "blob_store_error"

    with_client(FailingStore(), body)


def test_head_answers_the_size_and_etag_without_a_body() -> None:
    store = MemoryBlobStore()
    stored = put_file(store, ED25519, io.BytesIO(os.urandom(2 * CHUNK + 3)), chunk_bytes=CHUNK)

    async def body(c: TestClient[Any, Any]) -> None:
        r = await c.head(f"/v1/blobs/{stored.file_id.hex()}")
        assert r.status == 200
        assert r.headers["Content-Length"] == str(2 * CHUNK + 3)
        assert r.headers["ETag"] == f'"{stored.file_id.hex()}"'

    with_client(store, body)


def test_an_sm_chain_stores_files_under_sm3_ids() -> None:
    store = MemoryBlobStore()
    data = os.urandom(2 * CHUNK + 1)

    async def body(c: TestClient[Any, Any]) -> None:
        r = await c.put("/v1/blobs", data=data)
        info = await r.json()
        assert r.status == 201 and info["suite"] == "sm"
        r = await c.get(f"/v1/blobs/{info['file_id']}")
        assert await r.read() == data

    with_client(store, body, suite=SM)
    put_again = put_file(MemoryBlobStore(), SM, io.BytesIO(data), chunk_bytes=CHUNK)
    assert put_again.file_id in store.blobs
