"""Helpers for end-to-end tests: real ``trellis`` node processes on 127.0.0.1 and a small HTTP client."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from trellis.core.codec import encode
from trellis.core.ledger.tx import Payload, SignedTx, TxBody, sign_tx
from trellis.keys.signer import MemorySigner
from trellis.node.network import free_port_range


def free_port() -> int:
    """A TCP port that was free a moment ago."""
    return free_port_range(1)


def trellis_cmd(*args: str) -> list[str]:
    """The command line that runs the installed CLI with this interpreter."""
    return [sys.executable, "-m", "trellis.cli.main", *args]


class Http:
    """Minimal JSON-over-HTTP client for the node API."""

    def __init__(self, base: str) -> None:
        self.base = base

    def get(self, path: str, timeout: float = 10.0) -> tuple[int, Any]:
        try:
            with urllib.request.urlopen(self.base + path, timeout=timeout) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null")

    def post_tx(self, raw: bytes, timeout: float = 10.0) -> tuple[int, Any]:
        req = urllib.request.Request(self.base + "/v1/txs", data=raw, method="POST")
        req.add_header("Content-Type", "application/octet-stream")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null")


class NodeProcess:
    """A ``trellis node start`` process over a home directory."""

    def __init__(self, home: Path, port: int) -> None:
        self.home = home
        self.port = port
        self.http = Http(f"http://127.0.0.1:{port}")
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = home / "node.log"

    def start(self, ready_timeout: float = 30.0) -> None:
        """Start the process and return once its API answers (or fail with its log)."""
        log = open(self.log_path, "ab")  # handed to the child process
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            trellis_cmd("node", "start", "--home", str(self.home)), stdout=log, stderr=subprocess.STDOUT, env=env
        )
        log.close()
        deadline = time.monotonic() + ready_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"node exited with {self.proc.returncode}:\n{self.log_path.read_text()[-3000:]}")
            try:
                status, _ = self.http.get("/v1/status", timeout=1.0)
                if status == 200:
                    return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.05)  # polling for readiness, bounded by the deadline
        raise RuntimeError(f"node did not become ready:\n{self.log_path.read_text()[-3000:]}")

    def kill(self) -> None:
        """SIGKILL the process and reap it."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> int:
        """SIGTERM (a clean stop) and return the exit status."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise

    def height(self) -> int:
        _, st = self.http.get("/v1/status")
        return int(st["height"])


def init_home(home: Path, port: int, *extra: str) -> None:
    """Run ``trellis init`` for a one-validator dev network."""
    subprocess.run(
        trellis_cmd("init", "--home", str(home), "--api-port", str(port), *extra), check=True, capture_output=True
    )


def signed(signer: MemorySigner, chain_id: str, nonce: int, payload: Payload) -> tuple[bytes, SignedTx]:
    """Sign ``payload`` and return (canonical bytes, transaction)."""
    tx = sign_tx(TxBody(chain_id=chain_id, sender=signer.public_key, nonce=nonce, payload=payload), signer.sign)
    return encode(tx), tx
