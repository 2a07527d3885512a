"""A node flooded with junk transaction batches for a minute keeps its memory bounded.

Issue 13: ~19,000 junk items per ``POST /v1/txs/batch`` (3.9 MB) grew a node by about 27 MB per request,
never freed: every refusal was the caught exception, whose traceback kept the batch's frames (and with them
the whole batch and its result list) alive in a reference cycle that the node's tuned collector rarely visits.
"""

from __future__ import annotations

import random
import struct
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from trellis.core.modules.accounts.messages import Transfer
from trellis.keys.signer import MemorySigner

from .harness import NodeProcess, free_port, init_home, rss_mb, signed

pytestmark = pytest.mark.e2e

FLOOD_S = 60.0
"""How long junk is sent."""
WARMUP_REQUESTS = 5
"""Requests before the baseline is read (allocator arenas, caches and imports settle)."""
GROWTH_BOUND_MB = 150
"""Most RSS may grow over the baseline; before the fix, 5 more requests already exceeded it."""
MAX_BODY = 3_900_000


def _frame(raws: list[bytes]) -> bytes:
    return b"".join(struct.pack(">I", len(r)) + r for r in raws)


def _junk_bodies(chain_id: str) -> list[bytes]:
    """Three kinds of junk, ~3.9 MB each: random bytes; well-formed transactions with bad signatures;
    well-formed ones for another chain."""
    rnd = random.Random(13)
    bodies = [_frame([rnd.randbytes(200) for _ in range(MAX_BODY // 204)])]
    for chain in (chain_id, "another-chain"):
        signer = MemorySigner(rnd.randbytes(32))
        raws = []
        for nonce in range(2000):
            raw, _ = signed(signer, chain, nonce, Transfer(to=rnd.randbytes(20), amount=1 + nonce))
            if chain == chain_id:
                raw = raw[:-1] + bytes([raw[-1] ^ 1])  # break the signature
            raws.append(raw)
        bodies.append(_frame((raws * (MAX_BODY // (sum(map(len, raws)) + 8000) + 1))[: MAX_BODY // 210]))
    return bodies


def _post(base: str, body: bytes) -> int:
    req = urllib.request.Request(base + "/v1/txs/batch", data=body, method="POST")
    req.add_header("Content-Type", "application/x-trellis-txs")
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            r.read()
            return int(r.status)
    except urllib.error.HTTPError as exc:
        exc.read()
        return int(exc.code)


def test_a_minute_of_junk_batches_keeps_the_nodes_memory_bounded(tmp_path: Path) -> None:
    home = tmp_path / "node"
    port = free_port()
    init_home(home, port)
    node = NodeProcess(home, port)
    node.start()
    try:
        assert node.proc is not None
        pid = node.proc.pid
        bodies = _junk_bodies("trellis-dev")
        assert all(len(b) <= MAX_BODY for b in bodies)
        for i in range(WARMUP_REQUESTS):
            assert _post(node.http.base, bodies[i % len(bodies)]) == 202
        baseline = rss_mb(pid)
        peak = baseline
        sent = 0
        deadline = time.monotonic() + FLOOD_S
        while time.monotonic() < deadline:
            assert _post(node.http.base, bodies[sent % len(bodies)]) == 202
            sent += 1
            peak = max(peak, rss_mb(pid))
            assert peak - baseline <= GROWTH_BOUND_MB, f"RSS {baseline} MB -> {peak} MB after {sent} junk batches"
        assert sent >= 10, "too few requests to judge"
        status, st = node.http.get("/v1/status")
        assert status == 200 and st["mempool_txs"] == 0
    finally:
        node.stop()
