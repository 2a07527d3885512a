"""``trellis bench --workload interchain`` (ADR 0015 section 11): cross-chain transfer throughput and latency.

Method:
- Two chains of ``validators`` validators on this host (``node/multichain.py``), joined by the relayer's handshake
  (clients, a connection, one ``transfer`` channel); the bench accounts are funded in both geneses.
- One relayer runs as its own process (``trellis relayer start --config relayer.toml``, the layout's relayer
  accounts), as an operator runs it: the bench's load generator and commit-stream readers do not share its event
  loop.
- Phase 1 (baseline): the single-chain ``transfer`` workload on chain A with the ordinary harness (``runner._drive``)
  at each offered rate: the same chain's plain committed tx/s.
- Phase 2: for ``duration_s`` per rate, an open-loop offered load of ``transfer.send`` A -> B (signed beforehand,
  each sender's transactions to one node of A, in nonce order, one ``POST /v1/txs/batch`` per node and tick). Both
  chains' ``GET /v1/commits/stream`` are followed on one clock: the k-th send committed with code 0 on A is packet
  sequence ``first + k`` (only the bench sends on the channel); B's committed transactions are read back
  (``GET /v1/txs/{hash}``) for their ``interchain.recv_packet`` events. Per packet, latency = (B block with its recv
  seen) - (A block with its send seen); throughput = packets received on B / (last recv seen - first send time).
  Relay batch sizes are the recv items per relay transaction on B; ``recv_per_second`` counts the receipts on B in
  each second from the first send.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import statistics
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import aiohttp

from trellis.core.codec import encode
from trellis.core.crypto.suite import suite_by_name
from trellis.core.ledger.tx import TxBody, sign_tx, tx_hash
from trellis.core.modules.interchain.state import seq_send_key
from trellis.core.modules.transfer.messages import TransferSend
from trellis.core.params import GenesisAccount
from trellis.node import multichain
from trellis.node.config import NodeConfig

from .runner import (
    BATCH_MEDIA,
    BenchConfig,
    _account,
    _address,
    _drive,
    _get_json,
    _sign_chunk,
    _vm_hwm_kb,
    open_loop,
    tuned,
)

PORT = "transfer"
MAX_ACCOUNTS = 400
"""Most funded bench accounts: each chain's genesis must fit the other's ``interchain.create_client``."""
SEND_TIMEOUT_MS = 3_600_000
"""Packets of the bench time out an hour after they are signed (never, in a run)."""


# -- joining two chains: the relayer's handshake over a multichain layout --------------------------------------------
def connect_chains(layout: multichain.Layout, a: multichain.Chain, b: multichain.Chain) -> multichain.ChainPath:
    """Join chains ``a`` and ``b`` of ``layout``: clients of each other, a connection and one ``transfer`` channel,
    each step submitted by the layout's relayer account of that chain (``trellis.relayer.handshake``). This is what
    ``trellis net up --chains`` runs for each consecutive pair."""
    from trellis.relayer import handshake

    joined = handshake.connect_chains(layout, a, b)
    return multichain.ChainPath(**vars(joined))


# -- signing ------------------------------------------------------------------------------------------------------
def _sign_sends(args: tuple[str, str, list[tuple[int, int]], int, str, int]) -> list[tuple[bytes, bytes]]:
    """Sign ``transfer.send`` (1 unit to the next bench account's address on B) for (sender, nonce) pairs in a
    worker process; return (canonical bytes, tx hash)."""
    chain_id, channel, pairs, accounts, suite_name, timeout_ms = args
    suite = suite_by_name(suite_name)
    out = []
    for sender, nonce in pairs:
        s = _account(suite, sender)
        payload = TransferSend(
            channel=channel,
            denom="native",
            amount=1,
            receiver=_address(suite, (sender + 1) % accounts),
            timeout_time_ms=timeout_ms,
        )
        raw = encode(sign_tx(TxBody(chain_id=chain_id, sender=s.public_key, nonce=nonce, payload=payload), s.sign))
        out.append((raw, tx_hash(suite, raw)))
    return out


def _sign(
    pool: ProcessPoolExecutor,
    fn: Callable[[Any], list[tuple[bytes, bytes]]],
    make_job: Callable[[list[tuple[int, int]]], Any],
    nonce: list[int],
    count: int,
    accounts: int,
) -> list[tuple[int, bytes, bytes]]:
    pairs = []
    for i in range(count):
        sender = i % accounts
        pairs.append((sender, nonce[sender]))
        nonce[sender] += 1
    chunks = [pairs[k : k + 2000] for k in range(0, len(pairs), 2000)]
    signed: list[tuple[int, bytes, bytes]] = []
    for chunk, out in zip(chunks, pool.map(fn, [make_job(c) for c in chunks]), strict=True):
        signed.extend((sender, raw, h) for (sender, _), (raw, h) in zip(chunk, out, strict=True))
    return signed


# -- phase 2: offered cross-chain load -------------------------------------------------------------------------------
def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return round(s[min(len(s) - 1, int(q * (len(s) - 1)))] * 1000, 1)


class _Lines:
    """ndjson lines of a commit stream (lines may be longer than aiohttp's line reader takes)."""

    def __init__(self, resp: aiohttp.ClientResponse) -> None:
        self.resp = resp

    async def __aiter__(self) -> Any:
        pending = bytearray()
        async for chunk in self.resp.content.iter_any():
            pending += chunk
            end = pending.rfind(b"\n")
            if end < 0:
                continue
            lines = bytes(pending[:end]).split(b"\n")
            del pending[: end + 1]
            for line in lines:
                if line.strip():
                    yield json.loads(line)


async def _cross_chain_load(
    a_urls: list[str],
    b_url: str,
    path: multichain.ChainPath,
    by_node: list[list[tuple[bytes, bytes]]],
    rate: float,
    drain_s: float,
    label: str,
) -> dict[str, Any]:
    """Send ``by_node``'s transfers at ``rate`` in total to A's nodes; follow both commit streams; return the row."""
    loop = asyncio.get_running_loop()
    total = sum(len(x) for x in by_node)
    ours: dict[bytes, float] = {}
    """Hash -> scheduled time of each send not yet seen committed on A."""
    first_seq = int(_u64(_get_json(f"{a_urls[0]}/v1/state/0x{seq_send_key(PORT, path.a_channel).hex()}")) or 1)
    next_seq = first_seq
    sent_at: dict[int, float] = {}
    """Sequence -> when the A block with its send was seen."""
    recv_at: dict[int, float] = {}
    """Sequence -> when the B block with its recv was seen."""
    batches: list[int] = []
    """Recv items of each relay transaction on B that received any of ours."""
    failed_sends: dict[int, int] = {}
    rejected = 0
    errors: list[str] = []
    done = asyncio.Event()
    timeout = aiohttp.ClientTimeout(total=None, sock_read=None)
    async with aiohttp.ClientSession(timeout=timeout) as session:

        async def follow_a() -> None:
            nonlocal next_seq
            async with session.get(a_urls[0] + "/v1/commits/stream") as resp:
                async for line in _Lines(resp):
                    now = loop.time()
                    for h, code in zip(line["txs"], line["codes"], strict=True):
                        if ours.pop(bytes.fromhex(h[2:]), None) is None:
                            continue
                        if code == 0:
                            sent_at[next_seq] = now
                            next_seq += 1
                        else:
                            failed_sends[code] = failed_sends.get(code, 0) + 1

        async def read_relay(h: str, now: float) -> None:
            async with session.get(f"{b_url}/v1/txs/{h}") as r:
                st = await r.json()
            receipt = st.get("receipt") or {}
            n = 0
            for ev in receipt.get("events", []):
                attrs = ev.get("attributes", {})
                if ev["type"] == "interchain.recv_packet" and attrs.get("source_channel") == path.a_channel:
                    seq = int(attrs["sequence"])
                    if seq >= first_seq and seq not in recv_at:
                        recv_at[seq] = now
                        n += 1
            if n:
                batches.append(n)
            if len(recv_at) >= total and not ours:
                done.set()

        async def follow_b() -> None:
            readers: set[asyncio.Task[None]] = set()
            async with session.get(b_url + "/v1/commits/stream") as resp:
                async for line in _Lines(resp):
                    now = loop.time()
                    for h, code in zip(line["txs"], line["codes"], strict=True):
                        if code == 0:
                            t = asyncio.create_task(read_relay(h, now))
                            readers.add(t)
                            t.add_done_callback(readers.discard)

        async def poster(url: str, q: asyncio.Queue[list[tuple[bytes, bytes]] | None]) -> None:
            nonlocal rejected
            ended = False
            while not ended:
                item = await q.get()
                if item is None:
                    break
                chunk = list(item)
                while not q.empty():
                    more = q.get_nowait()
                    if more is None:
                        ended = True
                        break
                    chunk += more
                body = b"".join(len(raw).to_bytes(4, "big") + raw for raw, _ in chunk)
                try:
                    async with session.post(
                        url + "/v1/txs/batch", data=body, headers={"Content-Type": BATCH_MEDIA}
                    ) as r:
                        res = await r.json()
                except aiohttp.ClientError as exc:
                    errors.append(f"batch to {url}: {exc}")
                    continue
                if "rejected" not in res:
                    errors.append(str(res)[:200])
                    continue
                rejected += len(res["rejected"])
                for rej in res["rejected"]:
                    ours.pop(chunk[rej["index"]][1], None)
                    if len(errors) < 5:
                        errors.append(f"{rej['code']}: {rej['detail']}")

        tasks = [asyncio.create_task(follow_a()), asyncio.create_task(follow_b())]
        await asyncio.sleep(0.3)  # both streams open before the first send
        queues: list[asyncio.Queue[list[tuple[bytes, bytes]] | None]] = [asyncio.Queue() for _ in a_urls]
        posters = [asyncio.create_task(poster(a_urls[n], queues[n])) for n in range(len(a_urls))]
        t0 = loop.time() + 0.1
        await open_loop(by_node, rate, queues, ours, t0)
        for q in queues:
            q.put_nowait(None)
        send_end = loop.time()
        await asyncio.gather(*posters, return_exceptions=True)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), drain_s)
        for t in tasks:
            t.cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        for res in results:
            if isinstance(res, BaseException) and not isinstance(res, asyncio.CancelledError):
                errors.insert(0, f"task failed: {res!r}")
    lat = [recv_at[s] - sent_at[s] for s in recv_at if s in sent_at]
    per_second = [0] * (int(max(recv_at.values()) - t0) + 1 if recv_at else 0)
    for seen in recv_at.values():
        per_second[max(0, int(seen - t0))] += 1
    received = len(recv_at)
    elapsed = (max(recv_at.values()) - t0) if recv_at else float("nan")
    tps = received / elapsed if recv_at else 0.0
    row: dict[str, Any] = {
        "offered_tps": rate,
        "offered_txs": total,
        "send_seconds": round(send_end - t0, 3),
        "committed_txs": received,
        "sends_committed": len(sent_at),
        "failed_txs": sum(failed_sends.values()),
        "failed_codes": {str(c): n for c, n in sorted(failed_sends.items())},
        "rejected_txs": rejected,
        "committed_tps": round(tps, 1),
        "latency_ms": {"p50": _pct(lat, 0.5), "p95": _pct(lat, 0.95), "p99": _pct(lat, 0.99), "max": _pct(lat, 1.0)},
        "recv_per_second": per_second,
        "relay_batch": {
            "txs": len(batches),
            "mean_items": round(statistics.fmean(batches), 1) if batches else 0.0,
            "max_items": max(batches, default=0),
        },
        "errors": errors[:5],
    }
    sys.stderr.write(
        f"  {label:<28} received {received}/{total} on B, {tps:8.1f} transfers/s  p50 {row['latency_ms']['p50']} ms"
        f"  p99 {row['latency_ms']['p99']} ms  relay batch mean {row['relay_batch']['mean_items']}\n"
    )
    return row


def _u64(state_json: Any) -> int:
    value = state_json.get("value")
    return 0 if value is None else int(value.removeprefix("0x"), 16)


def run_interchain_bench(cfg: BenchConfig, work_dir: Path, signer_pool: ProcessPoolExecutor) -> dict[str, Any]:
    """Two chains, a relayer process, phase 1 then phase 2 at each of ``cfg.rates``; one report run."""
    suite = suite_by_name(cfg.suite)
    label = cfg.label or f"2x{cfg.validators}v interchain"
    # Each chain's genesis travels in the other's create_client (at most 60,000 bytes under the open policy this
    # bench uses): at most MAX_ACCOUNTS funded senders.
    cfg = dataclasses.replace(cfg, accounts=min(cfg.accounts, MAX_ACCOUNTS))
    accounts = [GenesisAccount(address=_address(suite, i).hex(), balance=10**15) for i in range(cfg.accounts)]

    def tune(c: NodeConfig) -> NodeConfig:
        return tuned(c, cfg.verifier_workers, cfg.block_interval_ms, cfg.mempool_max_txs)

    layout = multichain.init_chains(
        work_dir, 2, cfg.validators, base_chain_id="bench", extra_accounts=accounts, tune=tune, suite=suite.name
    )
    a, b = layout.chains
    procs = multichain.start_chains(layout)
    try:
        sys.stderr.write(f"  {label}: joining {a.chain_id} and {b.chain_id} (clients, connection, channel)...\n")
        multichain.wait_blocks(layout)
        path = connect_chains(layout, a, b)
        layout.paths.append(path)
        multichain.save_layout(layout)
        multichain.write_relayer_config(layout, scan_interval_s=30.0)
        nonce = [0] * cfg.accounts
        single: list[dict[str, Any]] = []
        cross: list[dict[str, Any]] = []
        deadline_ms = int(time.time() * 1000) + SEND_TIMEOUT_MS
        for rate in cfg.rates:
            count = int(rate * cfg.duration_s)
            signed = _sign(
                signer_pool,
                _sign_chunk,
                lambda c: (a.chain_id, "transfer", c, cfg.accounts, b"", suite.name),
                nonce,
                count,
                cfg.accounts,
            )
            by_node: list[list[tuple[bytes, bytes]]] = [[] for _ in a.nodes]
            for sender, raw, h in signed:
                by_node[sender % len(a.nodes)].append((raw, h))
            single.append(
                asyncio.run(
                    _drive(a.api_urls, by_node, rate, cfg.duration_s, cfg.drain_s, f"{label} A only @ {rate}/s")
                )
            )
        relayer_proc = multichain.start_relayer(layout.root)
        for rate in cfg.rates:
            if relayer_proc.poll() is not None:
                raise RuntimeError(f"the relayer exited (code {relayer_proc.returncode}); see its log")
            count = int(rate * cfg.duration_s)
            signed = _sign(
                signer_pool,
                _sign_sends,
                lambda c: (a.chain_id, path.a_channel, c, cfg.accounts, suite.name, deadline_ms),
                nonce,
                count,
                cfg.accounts,
            )
            by_node = [[] for _ in a.nodes]
            for sender, raw, h in signed:
                by_node[sender % len(a.nodes)].append((raw, h))
            row = asyncio.run(
                _cross_chain_load(
                    a.api_urls,
                    b.api_urls[0],
                    path,
                    by_node,
                    rate,
                    max(cfg.drain_s, 30.0),
                    f"{label} A->B @ {rate}/s",
                )
            )
            cross.append(row)
        rss = {
            f"{c.chain_id}/{n.name}": _vm_hwm_kb(procs[f"{c.root.name}/{n.name}"].pid)
            for c in layout.chains
            for n in c.nodes
        }
    finally:
        multichain.stop_relayer(layout.root)
        multichain.stop_chains(layout)
    peak: dict[str, Any] = (
        max(cross, key=lambda r: r["committed_tps"]) if cross else {"committed_tps": 0.0, "latency_ms": {}}
    )
    single_peak = max((r["committed_tps"] for r in single), default=0.0)
    return {
        "label": label,
        "config": {
            "validators": cfg.validators,
            "chains": 2,
            "workload": "interchain",
            "signature_checks": True,
            "suite": cfg.suite,
            "accounts": cfg.accounts,
            "duration_s": cfg.duration_s,
            "block_interval_ms": cfg.block_interval_ms,
            "verifier_workers": cfg.verifier_workers,
            "verifier": "cpu-pool",
            "relayer": "its own process (trellis relayer start)",
        },
        "rates": cross,
        "single_chain_rates": single,
        "peak_committed_tps": peak["committed_tps"],
        "interchain": {
            "transfers_per_s": peak["committed_tps"],
            "latency_ms_p50": peak["latency_ms"].get("p50"),
            "latency_ms_p99": peak["latency_ms"].get("p99"),
            "relay_batch": peak.get("relay_batch"),
            "single_chain_tps": single_peak,
            "measured": "recv committed on B per second; latency = B block with the recv seen - A block with the "
            "send seen (both commit streams, one clock)",
        },
        "stages_us_per_tx_node0": {},
        "rss_peak_mb": {k: (round(v / 1024, 1) if v else None) for k, v in rss.items()},
        "mempool_flood": None,
    }


__all__ = ["connect_chains", "run_interchain_bench"]
