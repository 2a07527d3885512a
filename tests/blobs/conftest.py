"""Fixtures for the file-store tests: the three ``BlobStore`` adapters, the S3 one against a real S3-compatible
server (moto's, started as a subprocess on a free port for the session and stopped after)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import boto3
import pytest

from trellis.blobs.s3 import S3BlobStore
from trellis.blobs.store import BlobStore, LocalBlobStore, MemoryBlobStore
from trellis.node.network import free_port_range

READY_S = 30.0
"""Upper bound on the S3 server's start."""


class S3Server:
    """A moto S3 server running as a subprocess."""

    def __init__(self) -> None:
        self.port = free_port_range(1)
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        self._wait_ready()

    def _wait_ready(self) -> None:
        # Readiness poll (bounded): the server is ready once it accepts a connection.
        deadline = time.monotonic() + READY_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"moto server exited with status {self.proc.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"moto server did not start within {READY_S} s")

    def client(self):  # type: ignore[no-untyped-def]
        return boto3.client(
            "s3",
            endpoint_url=self.url,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    server = S3Server()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def s3_client(s3_server: S3Server):  # type: ignore[no-untyped-def]
    return s3_server.client()


@pytest.fixture
def s3_store(s3_client) -> S3BlobStore:  # type: ignore[no-untyped-def]
    """A fresh bucket on the S3 server."""
    store = S3BlobStore(f"t-{uuid.uuid4().hex[:20]}", client=s3_client)
    store.create_bucket()
    return store


@pytest.fixture
def local_store(tmp_path: Path) -> LocalBlobStore:
    return LocalBlobStore(tmp_path / "blobs")


@pytest.fixture(params=["memory", "local", "s3"])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    """Each adapter in turn."""
    if request.param == "memory":
        return MemoryBlobStore()
    if request.param == "local":
        return LocalBlobStore(tmp_path / "blobs")
    store: BlobStore = request.getfixturevalue("s3_store")
    return store


@pytest.fixture(params=["local", "s3"])
def real_store(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    """Both real backends: a local directory and an S3 bucket."""
    if request.param == "local":
        return LocalBlobStore(tmp_path / "blobs")
    store: BlobStore = request.getfixturevalue("s3_store")
    return store


Tamper = Callable[[BlobStore, bytes, bytes], None]


def overwrite(store: BlobStore, key: bytes, data: bytes) -> None:
    """Replace a blob's bytes behind the file layer's back (as a damaged disk or a hostile operator would)."""
    store.put(key, data)
