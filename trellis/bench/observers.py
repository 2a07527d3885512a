"""``trellis bench --workload observers`` (ADR 0018 section 4; issue 18 acceptance 3): does API load on observer
nodes slow the validators' commits?

Method:
- One network made by ``init_network(..., observers=N)``: ``validators`` validators (default 4) and ``observers``
  observers (default 8) on this machine, a bench genesis funding ``accounts`` sender accounts.
- Write load: open-loop transfers at ``rate`` tx/s for ``duration_s`` seconds, sent to the validators only, each
  sender's transactions to one validator (``trellis.bench.runner``'s driver: batches on the ordered transaction
  stream, latency from each transaction's scheduled send time to its block on node0's commit stream).
- Phases, in order: ``no_reads`` (the write load alone), ``with_reads`` (the same write load while a read load runs
  at the observers), and ``no_reads_again`` (the write load alone once more, to show the machine's drift).
- Read load: one process per observer (so the readers neither share the driver's interpreter nor bottleneck on
  one), ``readers`` concurrent clients per observer, each in a closed loop over three requests: ``GET /v1/state/<an account's key>?prove=true`` (a query with
  its proof; every 50th answer's proof is checked against its header here), ``GET /v1/blocks/<a recent height>``
  and ``GET /v1/txs/<a committed transaction>`` (with its receipt). It reports reads served per second (all answers
  200), by kind, their latency p50/p99, errors, and proofs checked.
- Observers' lag: the height difference between node0 and each observer, sampled every 0.5 s during each phase.
- Report: ``bench/results/observers-<time>.json`` with each phase's commit rate, confirmation p50/p99, the read
  rate served, and the relative change of p50/p99 and commit rate with the read load.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import shutil
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from trellis.bench.runner import BenchConfig, _address, _commit, _drive, _machine, _sign_pairs, tuned
from trellis.core.codec import decode
from trellis.core.crypto.suite import ED25519
from trellis.core.ledger.block import Header
from trellis.core.ledger.state_tree import StateProof, verify_state_proof
from trellis.core.modules.accounts.state import account_key
from trellis.core.params import GenesisAccount
from trellis.node.config import NodeConfig
from trellis.node.network import NetNode, free_port_range, init_network, start_node, stop_node, wait_ready

PROOF_CHECK_EVERY = 50
"""One proof answer in this many is verified by the read client (the rest are counted, not checked)."""
LAG_SAMPLE_S = 0.5
"""How often the observers' heights are compared with node0's during a phase."""
READY_TIMEOUT_S = 180.0
"""How long the nodes may take to answer after start (twelve processes on a small machine start slowly)."""


@dataclass
class ObserversBenchConfig:
    """One run of the observers workload."""

    validators: int = 4
    observers: int = 8
    rate: float = 1000.0
    """Offered transfers per second, in total, to the validators."""
    duration_s: float = 30.0
    """Seconds of write load per phase."""
    readers: int = 4
    """Concurrent read clients per observer during ``with_reads``."""
    accounts: int = 2000
    verifier_workers: int = 2
    """Verifier processes per node (all the nodes share the machine)."""
    drain_s: float = 10.0
    block_interval_ms: int = 20


# -- the read load (in its own process) ---------------------------------------------------------------------------
def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return round(s[min(len(s) - 1, int(q * (len(s) - 1)))] * 1000, 1)


def read_load(
    url: str, duration_s: float, readers: int, keys_hex: list[str], tx_hashes: list[str], top_height: int
) -> dict[str, Any]:
    """Run ``readers`` closed-loop clients at the node at ``url`` for ``duration_s`` seconds (see the module doc);
    return what was served, with every latency (``merge_reads`` sums several). Runs in a worker process."""
    return asyncio.run(_read_load(url, duration_s, readers, keys_hex, tx_hashes, top_height))


async def _read_load(
    url: str, duration_s: float, readers: int, keys_hex: list[str], tx_hashes: list[str], top_height: int
) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    kinds = ("state_proof", "block", "receipt")
    served = dict.fromkeys(kinds, 0)
    latency: dict[str, list[float]] = {k: [] for k in kinds}
    errors: dict[str, int] = {}
    proofs_checked = 0
    proof_failures: list[str] = []
    heights = {"top": top_height}
    rng = random.Random(url)
    start = loop.time()
    end = start + duration_s

    def check_proof(body: dict[str, Any], key: bytes) -> None:
        nonlocal proofs_checked
        try:
            header = decode(bytes.fromhex(body["header_hex"][2:]), Header)
            proof = decode(bytes.fromhex(body["proof_hex"][2:]), StateProof)
            value = None if body["value"] is None else bytes.fromhex(body["value"][2:])
            verify_state_proof(ED25519, key, value, proof, header)
            proofs_checked += 1
        except Exception as exc:  # any failure is a finding of the bench, reported, never raised
            proof_failures.append(repr(exc)[:200])

    async def client(session: aiohttp.ClientSession, base: str, first: int) -> None:
        i = first
        while loop.time() < end:
            kind = kinds[i % 3]
            if kind == "state_proof":
                key_hex = keys_hex[rng.randrange(len(keys_hex))]
                path = f"/v1/state/{key_hex}?prove=true"
            elif kind == "block":
                path = f"/v1/blocks/{rng.randint(max(1, heights['top'] - 50), heights['top'])}"
            else:
                path = f"/v1/txs/{tx_hashes[rng.randrange(len(tx_hashes))]}"
            t0 = loop.time()
            try:
                async with session.get(base + path) as resp:
                    body = await resp.read()
                    status = resp.status
            except (aiohttp.ClientError, TimeoutError) as exc:
                errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
                i += 1
                continue
            if status != 200:
                errors[f"{kind} HTTP {status}"] = errors.get(f"{kind} HTTP {status}", 0) + 1
            else:
                served[kind] += 1
                latency[kind].append(loop.time() - t0)
                if kind == "state_proof" and served[kind] % PROOF_CHECK_EVERY == 1:
                    check_proof(json.loads(body), bytes.fromhex(key_hex[2:]))
                elif kind == "block":
                    heights["top"] = max(heights["top"], int(json.loads(body)["header"]["height"]))
            i += 1

    timeout = aiohttp.ClientTimeout(total=30)
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        await asyncio.gather(*(client(session, url, k) for k in range(readers)))
    return {
        "seconds": loop.time() - start,
        "clients": readers,
        "served": served,
        "latencies": latency,
        "errors": errors,
        "proofs_checked": proofs_checked,
        "proof_failures": proof_failures[:5],
    }


def _warm(_: int) -> None:
    """Nothing: makes a read-pool worker process exist."""


def merge_reads(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """One summary of several ``read_load`` results (one per observer), run over the same period."""
    elapsed = max(p["seconds"] for p in parts)
    served = {k: sum(p["served"][k] for p in parts) for k in parts[0]["served"]}
    latency = {k: [x for p in parts for x in p["latencies"][k]] for k in served}
    all_lat = [x for v in latency.values() for x in v]
    errors: dict[str, int] = {}
    for p in parts:
        for k, v in p["errors"].items():
            errors[k] = errors.get(k, 0) + v
    total = sum(served.values())
    return {
        "seconds": round(elapsed, 2),
        "clients": sum(p["clients"] for p in parts),
        "served": total,
        "served_per_s": round(total / elapsed, 1) if elapsed > 0 else 0.0,
        "by_kind_per_s": {k: round(v / elapsed, 1) for k, v in served.items()} if elapsed > 0 else {},
        "latency_ms": {"p50": _pct(all_lat, 0.5), "p99": _pct(all_lat, 0.99)},
        "latency_ms_by_kind": {k: {"p50": _pct(v, 0.5), "p99": _pct(v, 0.99)} for k, v in latency.items()},
        "errors": errors,
        "proofs_checked": sum(p["proofs_checked"] for p in parts),
        "proof_failures": [f for p in parts for f in p["proof_failures"]][:5],
    }


# -- the network and phases ---------------------------------------------------------------------------------------
def _height(url: str) -> int:
    with urllib.request.urlopen(url + "/v1/status", timeout=10) as r:
        return int(json.loads(r.read())["height"])


class _LagSampler:
    """Samples node0's height minus each observer's every ``LAG_SAMPLE_S`` on a thread, until stopped."""

    def __init__(self, leader: str, observers: list[str]) -> None:
        self.leader = leader
        self.observers = observers
        self.lags: list[int] = []
        self.failures = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> _LagSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.wait(LAG_SAMPLE_S):
            try:
                top = _height(self.leader)
                self.lags.extend(max(0, top - _height(u)) for u in self.observers)
            except OSError:
                self.failures += 1

    def summary(self) -> dict[str, Any]:
        lags = sorted(self.lags)
        return {
            "samples": len(lags),
            "max_blocks": lags[-1] if lags else None,
            "p99_blocks": lags[min(len(lags) - 1, int(0.99 * (len(lags) - 1)))] if lags else None,
            "sample_failures": self.failures,
        }


def run_observers(
    cfg: ObserversBenchConfig, work_dir: Path, pool: ProcessPoolExecutor, read_pool: ProcessPoolExecutor
) -> dict[str, Any]:
    """Start the network, run the three phases, stop it; return the run's figures. ``pool`` signs, ``read_pool``
    (a worker per observer) runs the read load."""
    accounts = [GenesisAccount(address=_address(ED25519, i).hex(), balance=10**15) for i in range(cfg.accounts)]

    def tune(c: NodeConfig) -> NodeConfig:
        return tuned(c, cfg.verifier_workers, cfg.block_interval_ms, 400_000)

    n = cfg.validators + cfg.observers
    api = free_port_range(n)
    p2p = free_port_range(n, avoid=api)
    nodes = init_network(
        work_dir,
        cfg.validators,
        chain_id="bench",
        api_port=api,
        p2p_port=p2p,
        extra_accounts=accounts,
        tune=tune,
        bench_network=True,
        observers=cfg.observers,
    )
    validators = [x for x in nodes if x.role == "validator"]
    observers = [x for x in nodes if x.role == "observer"]
    procs = {x.name: start_node(x) for x in nodes}
    started = time.monotonic()
    try:
        wait_ready(nodes, procs, timeout_s=READY_TIMEOUT_S)
        _wait_observers_linked(validators, observers)
        ready_s = round(time.monotonic() - started, 1)
        bench = BenchConfig(validators=cfg.validators, workload="transfer", accounts=cfg.accounts)
        nonce = [0] * cfg.accounts
        v_urls = [x.api_url for x in validators]
        o_urls = [x.api_url for x in observers]
        keys_hex = ["0x" + account_key(_address(ED25519, i)).hex() for i in range(cfg.accounts)]
        committed_hashes: list[str] = []
        phases: list[dict[str, Any]] = []
        list(read_pool.map(_warm, range(cfg.observers)))  # the readers' processes exist before any phase starts
        for phase in ("no_reads", "with_reads", "no_reads_again"):
            signed = _sign_pairs(bench, nonce, int(cfg.rate * cfg.duration_s), pool)
            by_node: list[list[tuple[bytes, bytes]]] = [[] for _ in validators]
            for sender, raw, h in signed:
                by_node[sender % len(validators)].append((raw, h))
            reads = []
            with _LagSampler(v_urls[0], o_urls) as lag:
                if phase == "with_reads":
                    top = _height(v_urls[0])
                    args = (cfg.duration_s, cfg.readers, keys_hex, committed_hashes, top)
                    reads = [read_pool.submit(read_load, u, *args) for u in o_urls]
                label = f"{cfg.validators}v+{cfg.observers}o {phase} @ {cfg.rate:g}/s"
                res = asyncio.run(_drive(v_urls, by_node, cfg.rate, cfg.duration_s, cfg.drain_s, label))
                read_res = merge_reads([f.result(timeout=cfg.duration_s + 120) for f in reads]) if reads else None
            if not committed_hashes:
                committed_hashes = ["0x" + h.hex() for _, _, h in signed[:: max(1, len(signed) // 5000)]]
            phases.append({"phase": phase, "commits": res, "reads": read_res, "observer_lag": lag.summary()})
        rss = {x.name: _rss_mb(procs[x.name].pid) for x in nodes}
    finally:
        for x in nodes:
            stop_node(x)
    base = phases[0]["commits"]
    loaded = phases[1]["commits"]
    return {
        "config": {
            "validators": cfg.validators,
            "observers": cfg.observers,
            "rate": cfg.rate,
            "duration_s": cfg.duration_s,
            "readers_per_observer": cfg.readers,
            "accounts": cfg.accounts,
            "verifier_workers_per_node": cfg.verifier_workers,
            "block_interval_ms": cfg.block_interval_ms,
        },
        "ready_s": ready_s,
        "phases": phases,
        "with_reads_vs_no_reads": {
            "committed_tps_ratio": _ratio(loaded["committed_tps"], base["committed_tps"]),
            "p50_ratio": _ratio(loaded["latency_ms"]["p50"], base["latency_ms"]["p50"]),
            "p99_ratio": _ratio(loaded["latency_ms"]["p99"], base["latency_ms"]["p99"]),
        },
        "rss_mb": rss,
    }


def _wait_observers_linked(validators: list[NetNode], observers: list[NetNode], timeout_s: float = 60.0) -> None:
    """Wait until every observer has a link to every validator and is at node0's height or one behind."""
    want = sorted(v.name for v in validators)
    deadline = time.monotonic() + timeout_s
    while True:
        top = _height(validators[0].api_url)
        pending = []
        for o in observers:
            with urllib.request.urlopen(o.api_url + "/v1/status", timeout=10) as r:
                st = json.loads(r.read())
            if sorted(p for p in st["peers"] if p in want) != want or st["height"] < top - 1:
                pending.append(o.name)
        if not pending:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"observers not linked to every validator or not caught up: {', '.join(pending)}")
        time.sleep(0.2)  # polling the observers, bounded by the deadline


def _ratio(a: float, b: float) -> float | None:
    return round(a / b, 3) if b and a == a and b == b else None


def _rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def run_observers_bench(cfg: ObserversBenchConfig, out_dir: Path, *, label: str = "") -> dict[str, Any]:
    """Run the workload; write ``observers-<time>.json`` to ``out_dir``; return the report."""
    work_root = Path(tempfile.mkdtemp(prefix="trellis-bench-observers-"))
    started = time.monotonic()
    try:
        with (
            ProcessPoolExecutor(max_workers=max(2, min(4, os.cpu_count() or 1))) as pool,
            ProcessPoolExecutor(max_workers=cfg.observers) as read_pool,
        ):
            run = run_observers(cfg, work_root / "net", pool, read_pool)
    finally:
        shutil.rmtree(work_root, ignore_errors=True)
    report: dict[str, Any] = {
        "benchmark": "trellis bench --workload observers",
        "label": label,
        "command": " ".join(["trellis", *sys.argv[1:]]) if sys.argv else "",
        "time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": _machine(),
        "commit": _commit(),
        "wall_s": round(time.monotonic() - started, 1),
        "run": run,
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = "observers-" + time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    (out_dir / f"{stem}.json").write_text(json.dumps(report, indent=2) + "\n")
    report["files"] = {"json": str(out_dir / f"{stem}.json")}
    return report


def summary(report: dict[str, Any]) -> str:
    """The printed table."""
    run = report["run"]
    c = run["config"]
    lines = [
        f"trellis bench --workload observers — {report['machine']['cpu']} ({report['machine']['cores']} cores)"
        + (f"; {report['label']}" if report["label"] else ""),
        f"{c['validators']} validators + {c['observers']} observers, transfers at {c['rate']:g}/s to the validators "
        f"for {c['duration_s']:g} s per phase; {c['readers_per_observer']} read clients per observer",
        f"{'phase':<16} {'commit tx/s':>11} {'p50 ms':>8} {'p99 ms':>8} {'fail':>5} {'reads/s':>8} "
        f"{'read p50':>8} {'read p99':>8} {'proofs ok':>9} {'obs lag max':>11}",
    ]
    for p in run["phases"]:
        m = p["commits"]
        r = p["reads"] or {}
        fails = m["failed_txs"] + m["rejected_txs"]
        lines.append(
            f"{p['phase']:<16} {m['committed_tps']:>11.1f} {m['latency_ms']['p50']:>8} {m['latency_ms']['p99']:>8} "
            f"{fails:>5} {r.get('served_per_s', '-'):>8} {r.get('latency_ms', {}).get('p50', '-'):>8} "
            f"{r.get('latency_ms', {}).get('p99', '-'):>8} {r.get('proofs_checked', '-'):>9} "
            f"{p['observer_lag']['max_blocks'] if p['observer_lag']['max_blocks'] is not None else '-':>11}"
        )
    cmp_ = run["with_reads_vs_no_reads"]
    lines.append(
        f"with reads / without: commit rate x{cmp_['committed_tps_ratio']}, p50 x{cmp_['p50_ratio']}, "
        f"p99 x{cmp_['p99_ratio']}"
    )
    lines.append(f"report: {report['files']['json']}")
    return "\n".join(lines)
