"""A validator fed junk transaction batches by a Byzantine peer for a minute keeps its memory bounded.

Issue 13: a Byzantine peer's junk batches grew a node's memory as junk REST batches did (every refusal the
caught exception, whose traceback kept the whole batch alive in a reference cycle the tuned collector rarely
visits). Here the insider holds a validator's own TLS identity (node1's certificate and key), takes node1's
place and sends node0 batches of transactions that do not decode, carry bad signatures, or name another chain.
What node0 may keep of them is its batch store (bounded at 32 MiB here) and a bounded check backlog.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from pathlib import Path

import pytest

from trellis.core.modules.accounts.messages import Transfer
from trellis.keys.signer import MemorySigner
from trellis.node.wire import MAX_TXS_PER_BATCH, BatchMsg, encode_msg
from trellis.p2p import TlsTransport

from .harness import Network, rss_mb, signed

pytestmark = pytest.mark.e2e

FLOOD_S = 60.0
"""How long junk is sent."""
WARMUP_S = 5.0
"""Junk sent before the baseline is read (allocator arenas, caches and the batch store fill)."""
STORE_MB = 32
"""node0's batch store bound for this test."""
GROWTH_BOUND_MB = 100
"""Most RSS may grow over the baseline (read with the store already full)."""


def _junk_batches(chain_id: str, count: int) -> list[bytes]:
    """Frames of ``MAX_TXS_PER_BATCH`` junk transactions each, every batch different (a new digest)."""
    rnd = random.Random(13)
    signer = MemorySigner(rnd.randbytes(32))
    good = [signed(signer, chain_id, n, Transfer(to=rnd.randbytes(20), amount=1 + n))[0] for n in range(200)]
    other = [signed(signer, "another-chain", n, Transfer(to=rnd.randbytes(20), amount=1))[0] for n in range(200)]
    frames = []
    for i in range(count):
        kind = i % 3
        if kind == 0:
            txs = [rnd.randbytes(200) for _ in range(MAX_TXS_PER_BATCH)]
        elif kind == 1:  # bad signatures
            txs = [g[:-64] + rnd.randbytes(64) for g in good] * (MAX_TXS_PER_BATCH // len(good))
            txs = [t[:-1] + bytes([j % 256]) for j, t in enumerate(txs)]
        else:
            txs = [o[:-2] + rnd.randbytes(2) for o in other] * (MAX_TXS_PER_BATCH // len(other))
            txs = [t[:-1] + bytes([j % 256]) for j, t in enumerate(txs)]
        frames.append(encode_msg(BatchMsg(txs=txs)))
    return frames


def test_a_minute_of_junk_batches_from_a_byzantine_peer_keeps_the_nodes_memory_bounded(tmp_path: Path) -> None:
    net = Network(tmp_path / "net", n=2)
    node0 = net.nodes[0]
    cfg = node0.home / "config.toml"
    cfg.write_text(
        cfg.read_text().replace("batch_store_max_bytes = 134217728", f"batch_store_max_bytes = {STORE_MB << 20}")
    )
    home1 = net.nodes[1].home
    p2p1 = (home1 / "config.toml").read_text()
    port1 = int(p2p1.split("[p2p]")[1].split("port = ")[1].split()[0])
    genesis = json.loads((home1 / "genesis.json").read_text())
    ca_bundle = "".join(org["ca_cert"] for org in genesis["orgs"]).encode()
    frames = _junk_batches(genesis["chain_id"], 12)

    node0.start()
    try:
        assert node0.proc is not None
        pid = node0.proc.pid

        async def flood() -> tuple[int, int, int]:
            insider = TlsTransport(
                "node1",
                "127.0.0.1",
                port1,
                [],
                ca_bundle,
                (home1 / "tls/node.crt").read_bytes(),
                (home1 / "tls/node.key").read_bytes(),
            )
            await insider.start()  # node0 dials node1: it dials us
            try:
                deadline = time.monotonic() + 30
                while insider.connected_peers() != ["node0"]:
                    assert time.monotonic() < deadline, "node0 never linked to the insider"
                    await asyncio.sleep(0.05)
                sent = 0
                baseline = peak = 0
                start = time.monotonic()
                while time.monotonic() - start < WARMUP_S + FLOOD_S:
                    if insider.send("node0", frames[sent % len(frames)]):
                        sent += 1
                    await asyncio.sleep(0.05)
                    elapsed = time.monotonic() - start
                    if elapsed >= WARMUP_S:
                        rss = rss_mb(pid)
                        baseline = baseline or rss
                        peak = max(peak, rss)
                        assert peak - baseline <= GROWTH_BOUND_MB, (
                            f"RSS {baseline} MB -> {peak} MB after {sent} junk batches"
                        )
                return sent, baseline, peak
            finally:
                await insider.stop()

        sent, baseline, peak = asyncio.run(flood())
        print(f"{sent} junk batches; node0 RSS {baseline} MB after warm-up, peak {peak} MB")
        assert sent >= 200, f"only {sent} junk batches sent"
        status, st = node0.http.get("/v1/status")
        assert status == 200 and st["mempool_txs"] == 0
    finally:
        node0.stop()
