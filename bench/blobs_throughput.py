"""File-store throughput: upload and download MB/s of one file through the local and S3 (moto) backends.

    .venv/bin/python bench/blobs_throughput.py [--mib 64] [--chunk-kib 1024] [--encrypt] [--json OUT]

With ``--rest``, also ``PUT``/``GET /v1/blobs`` to a local store over HTTP on 127.0.0.1 (client and server in
one process, so they share its core). Upload is ``put_file`` (chunk, hash, [seal], store); download is ``get_file`` (fetch, verify, [open]) into
/dev/null. The local store fsyncs every blob. The S3 backend is a moto server started here as a subprocess
(in-memory, on this machine: it measures the client path and HTTP, not a real object store's disks).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from aiohttp import ClientSession, web
from blobs.conftest import S3Server

from trellis.api.blobs import BlobApi
from trellis.blobs.files import get_file, put_file
from trellis.blobs.s3 import S3BlobStore
from trellis.blobs.store import BlobStore, LocalBlobStore
from trellis.core.crypto.suite import ED25519, SM


def measure(store: BlobStore, data: bytes, chunk: int, secret: bytes | None, suite: Any) -> dict[str, float]:
    t0 = time.perf_counter()
    stored = put_file(store, suite, io.BytesIO(data), chunk_bytes=chunk, secret=secret)
    t1 = time.perf_counter()
    with open(os.devnull, "wb") as sink:
        get_file(store, suite, stored.file_id, sink, secret=secret)  # type: ignore[arg-type]
    t2 = time.perf_counter()
    mb = len(data) / 1e6
    return {"upload_MBps": round(mb / (t1 - t0), 1), "download_MBps": round(mb / (t2 - t1), 1)}


async def _measure_rest(store: BlobStore, data: bytes, chunk: int, suite: Any) -> dict[str, float]:
    api = BlobApi(store, suite, chunk, len(data))
    app = web.Application()
    app.add_routes([web.put("/v1/blobs", api.put), web.get("/v1/blobs/{file_id}", api.get)])
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        async with ClientSession() as s:
            t0 = time.perf_counter()
            async with s.put(f"http://127.0.0.1:{port}/v1/blobs", data=data) as r:
                assert r.status == 201, await r.text()
                file_id = (await r.json())["file_id"]
            t1 = time.perf_counter()
            n = 0
            async with s.get(f"http://127.0.0.1:{port}/v1/blobs/{file_id}") as r:
                async for piece in r.content.iter_chunked(1 << 20):
                    n += len(piece)
            t2 = time.perf_counter()
            assert n == len(data)
    finally:
        await runner.cleanup()
    mb = len(data) / 1e6
    return {"upload_MBps": round(mb / (t1 - t0), 1), "download_MBps": round(mb / (t2 - t1), 1)}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--mib", type=int, default=64)
    p.add_argument("--chunk-kib", type=int, default=1024)
    p.add_argument("--encrypt", action="store_true")
    p.add_argument("--suite", choices=["ed25519", "sm"], default="ed25519")
    p.add_argument("--rest", action="store_true", help="also through the REST API (client and server here)")
    p.add_argument("--json")
    a = p.parse_args()
    suite = ED25519 if a.suite == "ed25519" else SM
    data = os.urandom(a.mib * 1024 * 1024)
    secret = os.urandom(32) if a.encrypt else None
    chunk = a.chunk_kib * 1024
    report: dict[str, Any] = {"mib": a.mib, "chunk_kib": a.chunk_kib, "encrypt": a.encrypt, "suite": a.suite}
    with tempfile.TemporaryDirectory() as d:
        report["local"] = measure(LocalBlobStore(Path(d) / "blobs"), data, chunk, secret, suite)
        if a.rest and not a.encrypt:
            rest = asyncio.run(_measure_rest(LocalBlobStore(Path(d) / "rest"), data, chunk, suite))
            report["local_rest"] = rest
    server = S3Server()
    try:
        store = S3BlobStore(f"bench-{uuid.uuid4().hex[:12]}", client=server.client())
        store.create_bucket()
        report["s3_moto"] = measure(store, data, chunk, secret, suite)
    finally:
        server.stop()
    print(json.dumps(report))
    if a.json:
        Path(a.json).write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
