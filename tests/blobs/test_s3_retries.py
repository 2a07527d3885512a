"""``S3BlobStore``'s retries, against a scripted HTTP server that speaks just enough S3: transient failures (5xx,
throttling, a stalled response, a reset connection, a body cut short) are retried with a doubling, capped
backoff; permanent ones (403, a missing bucket) fail at once; a spent budget fails naming the operation, the
blob, the bucket, the last error and the number of tries, never the credentials."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from trellis.blobs.s3 import S3BlobStore
from trellis.blobs.store import BlobStoreError

KEY = bytes(range(32))
READ_TIMEOUT_S = 0.5


class ScriptedS3(ThreadingHTTPServer):
    """Answers each request with the next scripted action, then (script spent) as a tiny in-memory S3."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.script: list[tuple[Any, ...]] = []
        self.objects: dict[str, bytes] = {}
        self.requests: list[str] = []
        self.access_keys: list[str] = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(BaseHTTPRequestHandler):
    server: ScriptedS3
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _error(self, status: int, code: str) -> None:
        body = f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code><Message>m</Message></Error>'.encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        with self.server.lock:
            self.server.requests.append(self.command)
            auth = self.headers.get("Authorization", "")
            self.server.access_keys.append(auth.partition("Credential=")[2].partition("/")[0])
            action = self.server.script.pop(0) if self.server.script else ("ok",)
        if action[0] == "status":
            self._error(action[1], action[2])
            return
        if action[0] == "stall":
            time.sleep(READ_TIMEOUT_S * 3)
        if action[0] == "reset":
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            self.close_connection = True
            return
        name = self.path.split("?")[0]
        if self.command == "PUT":
            self.server.objects[name] = body
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if self.command == "DELETE":
            self.server.objects.pop(name, None)
            self.send_response(204)
            self.end_headers()
            return
        data = self.server.objects.get(name)
        if data is None:
            self._error(404, "NoSuchKey")
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command == "GET":
            if action[0] == "short":
                self.wfile.write(data[: len(data) // 2])
                self.close_connection = True
                return
            self.wfile.write(data)

    do_GET = do_PUT = do_HEAD = do_DELETE = _handle


@pytest.fixture
def server() -> Iterator[ScriptedS3]:
    srv = ScriptedS3()
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def store_for(server: ScriptedS3, monkeypatch: pytest.MonkeyPatch, sleeps: Sleeps, attempts: int = 5) -> S3BlobStore:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDRETRYTEST")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "sekrit-never-shown")
    return S3BlobStore(
        "bkt",
        endpoint_url=server.url,
        attempts=attempts,
        backoff_s=0.1,
        max_backoff_s=0.3,
        read_timeout_s=READ_TIMEOUT_S,
        connect_timeout_s=1.0,
        sleep=sleeps,
    )


@pytest.mark.parametrize(
    "failure",
    [("status", 503, "SlowDown"), ("status", 500, "InternalError"), ("status", 429, "TooManyRequestsException")],
)
def test_a_transient_error_answer_is_retried_with_a_doubling_backoff(
    server: ScriptedS3, monkeypatch: pytest.MonkeyPatch, failure: tuple[Any, ...]
) -> None:
    sleeps = Sleeps()
    store = store_for(server, monkeypatch, sleeps)
    server.script = [failure, failure]
    store.put(KEY, b"payload")
    assert server.requests == ["PUT", "PUT", "PUT"] and store.retries == 2
    assert 0.05 <= sleeps[0] <= 0.1 and 0.1 <= sleeps[1] <= 0.2
    server.script = [failure]
    assert store.get(KEY) == b"payload"


def test_a_stalled_response_a_reset_connection_and_a_short_body_are_retried(
    server: ScriptedS3, monkeypatch: pytest.MonkeyPatch
) -> None:
    sleeps = Sleeps()
    store = store_for(server, monkeypatch, sleeps)
    server.script = [("reset",)]
    store.put(KEY, b"x" * 4096)
    server.script = [("stall",)]
    assert store.get(KEY) == b"x" * 4096
    server.script = [("short",)]
    assert store.get(KEY) == b"x" * 4096
    assert store.retries == 3 and len(sleeps) == 3


def test_permanent_errors_fail_at_once(server: ScriptedS3, monkeypatch: pytest.MonkeyPatch) -> None:
    sleeps = Sleeps()
    store = store_for(server, monkeypatch, sleeps)
    for status, code in [(403, "AccessDenied"), (404, "NoSuchBucket"), (400, "InvalidRequest")]:
        server.requests.clear()
        server.script = [("status", status, code)]
        with pytest.raises(BlobStoreError) as info:
            store.put(KEY, b"x")
        assert server.requests == ["PUT"], code
        assert str(info.value) == f"S3 put of blob {KEY.hex()} in bucket 'bkt' failed: {code} (HTTP {status})"
    assert sleeps == [] and store.retries == 0
    server.requests.clear()
    assert not store.has(KEY)  # a missing object is an answer, not a failure
    assert server.requests == ["HEAD"]


def test_a_spent_budget_fails_naming_what_failed_without_credentials(
    server: ScriptedS3, monkeypatch: pytest.MonkeyPatch
) -> None:
    sleeps = Sleeps()
    store = store_for(server, monkeypatch, sleeps, attempts=5)
    server.script = [("status", 503, "ServiceUnavailable")] * 5
    with pytest.raises(BlobStoreError) as info:
        store.get(KEY)
    message = str(info.value)
    assert message.startswith(f"S3 get of blob {KEY.hex()} in bucket 'bkt' failed after 5 tries over ")
    assert message.endswith(": ServiceUnavailable (HTTP 503)")
    assert "sekrit" not in message and "AKIDRETRYTEST" not in message
    assert len(server.requests) == 5 and len(sleeps) == 4
    assert max(sleeps) <= 0.3 and sleeps[-1] >= 0.15  # doubled up to the cap, jittered in its upper half


def test_retry_parameters_are_checked() -> None:
    with pytest.raises(ValueError, match="attempts"):
        S3BlobStore("bkt", endpoint_url="http://127.0.0.1:9", attempts=0)
    with pytest.raises(ValueError, match="backoff"):
        S3BlobStore("bkt", endpoint_url="http://127.0.0.1:9", backoff_s=5, max_backoff_s=1)


def test_each_store_takes_the_credentials_in_the_environment_when_it_is_built(
    server: ScriptedS3, monkeypatch: pytest.MonkeyPatch
) -> None:
    # boto3's default session keeps the first credentials it finds for the whole process
    for access_key in ("AKIDFIRST", "AKIDSECOND"):
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", access_key)
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s")
        S3BlobStore("bkt", endpoint_url=server.url).put(KEY, b"x")
    assert server.access_keys == ["AKIDFIRST", "AKIDSECOND"]
