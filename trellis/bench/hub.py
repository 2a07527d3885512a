"""``trellis bench --workload hub --chains N[,N...]`` (ADR 0016 section 3): the hub's cost per registered chain.

Method, for each N:
- ``N`` simulated sub-chains (``bench/subchains.py``: four validators each, real genesis, headers with real state
  roots, commits signed by three of four). Every transaction of the run is built and signed before the hub starts
  (in worker processes; not timed).
- A real hub: one validator node process (``trellis node start``), its genesis made by ``init_network`` and given
  the N sub-chains in ``hub.subchains`` (operator ``org0``, the one genesis organisation), client policy
  ``governed`` and ``interchain.max_consensus_states`` = ``CONSENSUS_CAP``. The bench accounts are funded in it.
- Phase 1, clients: one ``interchain.create_client`` per chain (from its genesis and its block 1), all from one
  account in chain order (so chain ``i`` gets ``client-i``), sent open-loop at ``CREATE_RATE``/s over the node's
  ordered transaction stream (``runner._drive``). Time to create = the last success seen committed - the first
  send.
- Phase 2, updates: rounds of ``interchain.update_client`` (every chain once per round, each an adjacent header
  verified from the previous round's), open-loop at the offered rate for the asked duration (``runner._drive``:
  latency from each transaction's scheduled send to its block on the commit stream; only receipts with code 0
  count). The hub's CPU time (the node process and its verifier processes, from ``/proc``) is read before and after
  the phase: CPU-seconds per update = (CPU used - the idle node's CPU rate x the phase's wall time) / successful
  updates. Then, if asked, a saturation phase: more rounds offered faster than the hub takes them; its committed
  rate (successes / (last success seen - first send)) is the hub's sustained maximum on this machine.
- Phase 3, packets (``packet_chains`` of the chains, each fully connected to the hub: client, connection and a
  ``transfer`` channel proven against the simulated chain's tree): see ``_packets``.
- State: the node's LMDB environments are read (read-only, from this process) before phase 1 and after each phase:
  bytes of the state tables (``state``; the tree: ``smt_nodes``, ``smt_hist`` (old values of replaced leaves), the
  lifetime rows ``smt_born``/``smt_stale`` of a pruning node, ADR 0018, and ``smt_values`` of stores written before
  it) and their entry counts; per chain = the delta / N. RSS of the node (and its verifier processes) after each phase.

The report (``bench/results/hub-<time>.json`` and a PNG) holds one run per N and the cost model (``cost_model``).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from trellis.bench.runner import _commit, _drive, _machine, replace_struct
from trellis.bench.subchains import (
    DEFAULT_SEED,
    SimSubChain,
    UpdatesJob,
    build_hub_txs,
    chain_id_of,
    genesis_time_for,
)
from trellis.core.crypto.suite import ED25519
from trellis.core.params import Genesis, GenesisAccount, GenesisHub, GenesisInterchain, GenesisSubChain
from trellis.node.config import ConsensusSection, MempoolSection, NodeConfig
from trellis.node.home import encode_genesis
from trellis.node.network import free_port_range, init_network, start_node, stop_node, wait_ready

HUB_CHAIN_ID = "hub"
CONSENSUS_CAP = 8
"""``interchain.max_consensus_states`` of the bench hub."""
CREATE_RATE = 2000
"""Offered ``create_client`` transactions per second (more than a small hub takes: the phase runs at its pace)."""
UPDATE_SENDERS = 64
"""Accounts that send the updates (chain ``i``'s always from the same one)."""
TREE_TABLES = ("smt_nodes", "smt_hist", "smt_born", "smt_stale", "smt_values")
"""The state tree's tables: nodes, old leaf values, lifetime rows (a pruning node only; ADR 0018), and the values of
stores written before ADR 0018 (``smt_values``, no longer written)."""
STATE_TABLES = ("state", *TREE_TABLES)
"""LMDB tables that hold the hub's state (the rest is blocks, receipts and indexes: history, not per chain)."""
TARGET_CHAINS = 10_000
TARGET_UPDATE_INTERVAL_S = 10.0
TARGET_PACKETS_PER_S = 1000.0
USABLE_CORE_FRACTION = 0.7
"""Of each core, the share the cost model lets the hub's execution use (the rest: consensus, API, GC, peaks)."""


@dataclass(frozen=True)
class HubBenchConfig:
    """One hub run."""

    chains: int
    update_rate: float = 1000.0
    """Offered ``update_client`` transactions per second of the steady phase (latency and CPU per update)."""
    duration_s: float = 30.0
    """Seconds of the steady phase (rounded up to whole rounds)."""
    saturation_rate: float = 0.0
    """Offered rate of a second update phase meant to exceed what the hub takes (its sustained maximum); 0: none."""
    saturation_s: float = 20.0
    """Seconds of offered load of the saturation phase (rounded up to whole rounds)."""
    packet_chains: int = 10
    """Chains connected with a channel that send packets in phase 3 (0: no packet phase)."""
    packet_rate: float = 1000.0
    """Offered packets per second in phase 3 (the cost model's target)."""
    packet_duration_s: float = 20.0
    idle_s: float = 3.0
    """Seconds the idle hub's CPU rate is measured before the phases."""
    seed: bytes = DEFAULT_SEED
    label: str = ""


# -- the hub process: CPU, memory, LMDB -----------------------------------------------------------------------------
_TICK = os.sysconf("SC_CLK_TCK")


def _descendants(pid: int) -> list[int]:
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat[stat.rfind(")") + 2 :].split()[1])
        parents.setdefault(ppid, []).append(int(entry.name))
    out, todo = [pid], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of ``pid`` and its live descendants, plus the reaped children of ``pid``."""
    total = 0.0
    for i, p in enumerate(_descendants(pid)):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # fields[11..14]: utime, stime, cutime, cstime (stat fields 14..17)
        total += int(fields[11]) + int(fields[12]) + (int(fields[13]) + int(fields[14]) if i == 0 else 0)
    return total / _TICK


def rss_mb(pid: int) -> dict[str, float | None]:
    """Resident memory of the node process (all; anonymous: the heap; file-backed: mostly LMDB's memory map, page
    cache the kernel can take back), its peak, and the total with its descendants (MiB)."""

    def field(p: int, name: str) -> int | None:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith(name + ":"):
                    return int(line.split()[1])
        except OSError:
            return None
        return None

    def mb(kb: int | None) -> float | None:
        return None if kb is None else round(kb / 1024, 1)

    tree = sum(field(p, "VmRSS") or 0 for p in _descendants(pid))
    return {
        "node_mb": mb(field(pid, "VmRSS")),
        "node_anon_mb": mb(field(pid, "RssAnon")),
        "node_file_mb": mb(field(pid, "RssFile")),
        "node_peak_mb": mb(field(pid, "VmHWM")),
        "with_verifiers_mb": mb(tree),
    }


def lmdb_tables(home: Path) -> dict[str, dict[str, int]]:
    """Per LMDB table under ``home``: bytes in pages and entries (read-only, beside the running node)."""
    import lmdb

    out: dict[str, dict[str, int]] = {}
    for data in sorted(home.rglob("data.mdb")):
        env = lmdb.open(str(data.parent), readonly=True, max_dbs=32, lock=True)
        try:
            with env.begin() as txn:
                names = [name for name, _ in txn.cursor()]
            for name in names:
                db = env.open_db(name, create=False)
                with env.begin() as txn:
                    st = txn.stat(db)
                key = name.decode()
                row = out.setdefault(key, {"bytes": 0, "entries": 0})
                row["bytes"] += st["psize"] * (st["branch_pages"] + st["leaf_pages"] + st["overflow_pages"])
                row["entries"] += st["entries"]
        finally:
            env.close()
    return out


def _state_of(tables: dict[str, dict[str, int]]) -> dict[str, int]:
    return {
        "live_state_bytes": tables.get("state", {}).get("bytes", 0),
        "state_keys": tables.get("state", {}).get("entries", 0),
        "tree_bytes": sum(tables.get(t, {}).get("bytes", 0) for t in TREE_TABLES),
        "tree_nodes": tables.get("smt_nodes", {}).get("entries", 0),
        "tree_hist_values": tables.get("smt_hist", {}).get("entries", 0)
        + tables.get("smt_values", {}).get("entries", 0),
        "tree_lifetime_rows": tables.get("smt_born", {}).get("entries", 0)
        + tables.get("smt_stale", {}).get("entries", 0),
        "state_bytes": sum(tables.get(t, {}).get("bytes", 0) for t in STATE_TABLES),
        "all_bytes": sum(r["bytes"] for r in tables.values()),
    }


def _per_chain(after: dict[str, int], before: dict[str, int], n: int) -> dict[str, float]:
    return {k: round((after[k] - before[k]) / n, 1) for k in after}


# -- building the run's transactions --------------------------------------------------------------------------------
def _build(
    cfg: HubBenchConfig, rounds: int, genesis_time_ms: int, pool: ProcessPoolExecutor
) -> tuple[list[tuple[bytes, bytes]], list[list[tuple[bytes, bytes]]], list[bytes]]:
    workers = max(1, os.cpu_count() or 1)
    size = max(1, -(-cfg.chains // (workers * 4)))
    jobs = [
        UpdatesJob(
            seed=cfg.seed,
            chains=cfg.chains,
            first=first,
            count=min(size, cfg.chains - first),
            rounds=rounds,
            genesis_time_ms=genesis_time_ms,
            hub_chain_id=HUB_CHAIN_ID,
            update_from=cfg.packet_chains,
            update_senders=UPDATE_SENDERS,
        )
        for first in range(0, cfg.chains, size)
    ]
    creates: list[tuple[bytes, bytes]] = []
    per_round: list[list[tuple[bytes, bytes]]] = [[] for _ in range(rounds)]
    hashes: list[bytes] = []
    for c, r, h in pool.map(build_hub_txs, jobs):
        creates += c
        hashes += h
        for k in range(rounds):
            per_round[k] += r[k]
    return creates, per_round, hashes


def _hub_genesis(home: Path, cfg: HubBenchConfig, hashes: list[bytes]) -> None:
    """Give the node's genesis the simulated chains in ``hub.subchains``."""
    path = home / "genesis.json"
    genesis = msgspec.json.decode(path.read_bytes(), type=Genesis)
    subchains = [
        GenesisSubChain(chain_id=chain_id_of(i), operator_org="org0", genesis_hash=h.hex())
        for i, h in enumerate(hashes)
    ]
    path.write_bytes(encode_genesis(replace_struct(genesis, hub=GenesisHub(subchains=subchains))))


def _tune(c: NodeConfig) -> NodeConfig:
    return replace_struct(
        c,
        consensus=ConsensusSection(block_interval_ms=20, empty_block_interval_ms=200, propose_timeout_ms=3000),
        mempool=MempoolSection(max_txs=400_000, max_bytes=1024 * 1024 * 1024),
    )


def _idle_cpu_rate(pid: int, seconds: float) -> float:
    c0, t0 = cpu_seconds(pid), time.monotonic()
    time.sleep(seconds)
    return (cpu_seconds(pid) - c0) / (time.monotonic() - t0)


def _phase(
    label: str, url: str, pid: int, txs: list[tuple[bytes, bytes]], rate: float, drain_s: float, idle_rate: float
) -> dict[str, Any]:
    """Send ``txs`` open-loop at ``rate``; the commit tally of ``runner._drive`` with the hub's CPU over the phase."""
    duration = len(txs) / rate
    c0, t0 = cpu_seconds(pid), time.monotonic()
    row = asyncio.run(_drive([url], [txs], rate, duration, drain_s, label))
    wall = time.monotonic() - t0
    cpu = cpu_seconds(pid) - c0
    ok = row["committed_txs"]
    row["wall_s"] = round(wall, 2)
    row["hub_cpu_s"] = round(cpu, 2)
    row["hub_cpu_idle_s"] = round(idle_rate * wall, 2)
    row["hub_cpu_us_per_tx"] = round((cpu - idle_rate * wall) / ok * 1e6, 1) if ok else None
    row["hub_cpu_us_per_tx_gross"] = round(cpu / ok * 1e6, 1) if ok else None
    row["seconds_to_last_commit"] = round(ok / row["committed_tps"], 2) if row["committed_tps"] else None
    return row


# -- one N --------------------------------------------------------------------------------------------------------
def run_hub(cfg: HubBenchConfig, work_dir: Path, pool: ProcessPoolExecutor) -> dict[str, Any]:
    """One hub of ``cfg.chains`` registered chains through the phases; one report run."""
    label = cfg.label or f"hub N={cfg.chains}"
    n = cfg.chains
    cfg = HubBenchConfig(**{**cfg.__dict__, "packet_chains": min(cfg.packet_chains, n // 2)})
    updating = n - cfg.packet_chains
    steady_rounds = max(1, -(-int(cfg.update_rate * cfg.duration_s) // updating))
    sat_rounds = max(1, -(-int(cfg.saturation_rate * cfg.saturation_s) // updating)) if cfg.saturation_rate else 0
    rounds = steady_rounds + sat_rounds
    now_ms = int(time.time() * 1000)
    packet_blocks = 8 + int(cfg.packet_rate * cfg.packet_duration_s) // ITEMS_PER_RELAY
    genesis_time_ms = genesis_time_for(now_ms, 1 + rounds + packet_blocks)
    sys.stderr.write(f"  {label}: simulating {n} chains, {rounds} rounds of headers (signing)...\n")
    t = time.monotonic()
    creates, per_round, hashes = _build(cfg, rounds, genesis_time_ms, pool)
    build_s = time.monotonic() - t
    updates = [tx for r in per_round[:steady_rounds] for tx in r]
    saturating = [tx for r in per_round[steady_rounds:] for tx in r]
    from trellis.bench.runner import _address

    accounts = [
        GenesisAccount(address=_address(ED25519, i).hex(), balance=10**15)
        for i in range(1 + UPDATE_SENDERS + cfg.packet_chains + 1)
    ]
    api = free_port_range(1)
    p2p = free_port_range(1, avoid=api)
    nodes = init_network(
        work_dir,
        1,
        chain_id=HUB_CHAIN_ID,
        api_port=api,
        p2p_port=p2p,
        extra_accounts=accounts,
        tune=_tune,
        interchain=GenesisInterchain(client_policy="governed", max_consensus_states=CONSENSUS_CAP),
    )
    node = nodes[0]
    _hub_genesis(node.home, cfg, hashes)
    t = time.monotonic()
    proc = start_node(node)
    run: dict[str, Any] = {"label": label, "chains": n}
    try:
        wait_ready(nodes, {node.name: proc}, timeout_s=120.0 + n / 100)
        start_s = time.monotonic() - t
        pid = proc.pid
        time.sleep(1.0)
        idle = _idle_cpu_rate(pid, cfg.idle_s)
        s0 = _state_of(lmdb_tables(node.home))
        rss0 = rss_mb(pid)
        create = _phase(f"{label} create_client", node.api_url, pid, creates, CREATE_RATE, 60.0 + n / 20, idle)
        s1 = _state_of(lmdb_tables(node.home))
        rss1 = rss_mb(pid)
        if create["committed_txs"] != n:
            raise RuntimeError(f"{label}: {create['committed_txs']}/{n} clients created: {create}")
        update = _phase(f"{label} update_client", node.api_url, pid, updates, cfg.update_rate, 60.0, idle)
        s2 = _state_of(lmdb_tables(node.home))
        rss2 = rss_mb(pid)
        saturation: dict[str, Any] | None = None
        if saturating:
            saturation = _phase(
                f"{label} update_client saturating",
                node.api_url,
                pid,
                saturating,
                cfg.saturation_rate,
                30.0 + len(saturating) / 100,
                idle,
            )
        packets: dict[str, Any] | None = None
        if cfg.packet_chains:
            from trellis.core.params import load_genesis

            hub_hash = load_genesis((node.home / "genesis.json").read_bytes()).genesis_hash
            packets = _packets(
                cfg, node.api_url, pid, genesis_time_ms, idle, hub_hash, update["hub_cpu_us_per_tx"] or 0.0
            )
            packets["state_after"] = _state_of(lmdb_tables(node.home))
        rss3 = rss_mb(pid)
    finally:
        stop_node(node)
    run.update(
        {
            "config": {
                "chains": n,
                "validators_per_chain": 4,
                "signatures_per_commit": 3,
                "update_rounds": steady_rounds,
                "offered_update_rate": cfg.update_rate,
                "duration_s": cfg.duration_s,
                "saturation_rounds": sat_rounds,
                "saturation_offered_rate": cfg.saturation_rate,
                "packet_chains": cfg.packet_chains,
                "max_consensus_states": CONSENSUS_CAP,
                "hub_validators": 1,
            },
            "simulator_build_s": round(build_s, 2),
            "hub_start_s": round(start_s, 2),
            "hub_idle_cpu_cores": round(idle, 3),
            "create": create,
            "update": update,
            "update_saturation": saturation,
            "max_updates_per_s": max(update["committed_tps"], (saturation or {}).get("committed_tps", 0.0)),
            "packets": packets,
            "state": {"before": s0, "after_create": s1, "after_updates": s2},
            "state_per_chain": {
                "after_create": _per_chain(s1, s0, n),
                "after_updates": _per_chain(s2, s0, n),
            },
            "history_per_update": {
                "tree_bytes": round((s2["tree_bytes"] - s1["tree_bytes"]) / max(1, update["committed_txs"]), 1),
                "tree_nodes": round((s2["tree_nodes"] - s1["tree_nodes"]) / max(1, update["committed_txs"]), 2),
                "all_bytes": round((s2["all_bytes"] - s1["all_bytes"]) / max(1, update["committed_txs"]), 1),
                "note": "the node keeps every version of the state tree (no pruning): each update leaves its "
                "replaced tree nodes behind, and its block, commit and receipt",
            },
            "rss": {"before": rss0, "after_create": rss1, "after_updates": rss2, "end": rss3},
            "rss_per_chain_kb": round(((rss1["node_anon_mb"] or 0) - (rss0["node_anon_mb"] or 0)) * 1024 / n, 2),
        }
    )
    return run


# -- the cost model --------------------------------------------------------------------------------------------------
def _slope(xs: list[float], ys: list[float]) -> float | None:
    if len(xs) < 2:
        return None
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return None if den == 0 else sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / den


def cost_model(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Cores, memory and disk for ``TARGET_CHAINS`` chains at one update per ``TARGET_UPDATE_INTERVAL_S`` and
    ``TARGET_PACKETS_PER_S`` routed packets, from the runs' measured CPU per transaction and the slopes of state
    bytes and RSS over N."""
    big = max(runs, key=lambda r: r["chains"])
    us_update = big["update"]["hub_cpu_us_per_tx"]
    pk = big.get("packets") or {}
    us_packet = pk.get("hub_cpu_us_per_packet")
    ns = [float(r["chains"]) for r in runs]
    live_slope = _slope(
        ns,
        [
            float(r["state"]["after_updates"]["live_state_bytes"] + r["state"]["after_create"]["tree_bytes"])
            for r in runs
        ],
    )
    # The node's heap after the clients exist (before the updates: a backlog left by an overloaded phase grows the
    # heap, and Python keeps it); the file-backed part is LMDB's map, i.e. the disk figure again.
    mem_slope = _slope(ns, [float(r["rss"]["after_create"]["node_anon_mb"] or 0) for r in runs])
    history = big["history_per_update"]["all_bytes"]
    updates_per_s = TARGET_CHAINS / TARGET_UPDATE_INTERVAL_S
    cpu = updates_per_s * (us_update or 0) + (TARGET_PACKETS_PER_S * us_packet if us_packet else 0)
    cores = cpu / (1e6 * USABLE_CORE_FRACTION)
    model: dict[str, Any] = {
        "formula": "cores = (chains x updates per chain per s x CPU-us per update + packets/s x CPU-us per packet) "
        "/ (10^6 x usable fraction of a core)",
        "targets": {
            "chains": TARGET_CHAINS,
            "update_interval_s": TARGET_UPDATE_INTERVAL_S,
            "routed_packets_per_s": TARGET_PACKETS_PER_S,
            "usable_core_fraction": USABLE_CORE_FRACTION,
        },
        "cpu_us_per_update": us_update,
        "cpu_us_per_update_from": f"{big['label']}, steady phase at {big['update']['offered_tps']} updates/s offered",
        "cpu_us_per_update_saturating": (big.get("update_saturation") or {}).get("hub_cpu_us_per_tx"),
        "cpu_us_per_update_note": "per-block costs (durable commit, WAL, consensus) are shared by a block's "
        "transactions: CPU per update falls as blocks fill, so it is measured at the target's update rate",
        "cpu_us_per_packet": us_packet,
        "cpu_us_per_packet_note": pk.get("note", "no packet phase in this run: packets not in the core count"),
        "cores": round(cores, 2),
        "live_state_bytes_per_chain_slope": None if live_slope is None else round(live_slope, 1),
        "live_state_bytes_at_target": None if live_slope is None else round(live_slope * TARGET_CHAINS),
        "rss_kb_per_chain_slope": None if mem_slope is None else round(mem_slope * 1024, 2),
        "rss_kb_per_chain_slope_of": "the node's anonymous RSS after the clients were created, over N",
        "rss_growth_mb_at_target": None if mem_slope is None else round(mem_slope * TARGET_CHAINS, 1),
        "history_bytes_per_update": history,
        "history_gb_per_day_at_target": round(history * updates_per_s * 86400 / 1e9, 1),
        "notes": "slopes are least squares over the runs' N; live state = the state table after the updates "
        "(client, <= max_consensus_states consensus states, registry) + the tree as created; history = tree "
        "versions, blocks and receipts the node keeps (no pruning), per successful update",
    }
    return model


# -- the report ------------------------------------------------------------------------------------------------------
def plot(report: dict[str, Any], path: Path) -> None:
    """Per-chain state and memory, sustained rates, and update latency, against N (log scale)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = sorted(report["runs"], key=lambda r: r["chains"])
    ns = [r["chains"] for r in runs]
    fig, (ax1, ax2, ax3) = plt.subplots(1, 3, figsize=(15, 4.6))
    mib = 1024 * 1024
    ax1.plot(
        ns,
        [
            (r["state"]["after_updates"]["live_state_bytes"] + r["state"]["after_create"]["tree_bytes"]) / mib
            for r in runs
        ],
        marker="o",
        label="LMDB live state (state table + tree as created)",
    )
    ax1.plot(
        ns, [r["rss"]["after_create"]["node_anon_mb"] or 0 for r in runs], marker="s", label="node heap after clients"
    )
    ax1.plot(ns, [r["rss"]["after_updates"]["node_mb"] or 0 for r in runs], marker="x", label="node RSS after updates")
    ax1.set_xscale("log")
    ax1.set_yscale("log")
    ax1.set_xlabel("registered chains N")
    ax1.set_ylabel("MiB")
    ax1.set_title("Hub state and memory")
    ax1.legend(fontsize=7)
    ax2.plot(ns, [r["update"]["committed_tps"] for r in runs], marker="o", label="updates/s (successful)")
    ax2.plot(ns, [r["update"]["offered_tps"] for r in runs], linestyle=":", color="grey", label="offered updates/s")
    ax2.plot(ns, [r["max_updates_per_s"] for r in runs], marker="v", label="max updates/s (saturating phase)")
    if any(r.get("packets") for r in runs):
        ax2.plot(ns, [(r.get("packets") or {}).get("packets_per_s", 0) for r in runs], marker="^", label="packets/s")
    ax2.set_xscale("log")
    ax2.set_xlabel("registered chains N")
    ax2.set_ylabel("per second")
    ax2.set_title("Sustained rates")
    ax2.legend(fontsize=7, loc="best")
    ax3.plot(ns, [r["update"]["latency_ms"]["p50"] for r in runs], marker="o", label="update p50")
    ax3.plot(ns, [r["update"]["latency_ms"]["p99"] for r in runs], marker="o", label="update p99")
    ax3.set_xscale("log")
    ax3.set_yscale("log")
    ax3.set_xlabel("registered chains N")
    ax3.set_ylabel("submit-to-commit (ms)")
    ax3.set_title("update_client latency")
    ax3.legend(fontsize=7)
    m = report["machine"]
    fig.suptitle(f"trellis bench --workload hub — {m['cpu']} ({m['cores']} cores); {report['label']}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run_hub_suite(configs: list[HubBenchConfig], out_dir: Path, *, with_plot: bool, label: str = "") -> dict[str, Any]:
    """Run every N; write ``hub-<time>.json`` (and ``.png``) to ``out_dir``; return the report."""
    runs: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    work_root = Path(tempfile.mkdtemp(prefix="trellis-bench-hub-"))
    started = time.monotonic()
    try:
        with ProcessPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
            for i, cfg in enumerate(configs):
                try:
                    runs.append(run_hub(cfg, work_root / f"hub{i}", pool))
                except Exception as exc:  # one N failing leaves the others' figures; the report says why
                    sys.stderr.write(f"  hub N={cfg.chains} failed: {exc!r}\n")
                    failed.append({"chains": cfg.chains, "error": repr(exc)[:2000]})
    finally:
        shutil.rmtree(work_root, ignore_errors=True)
    report: dict[str, Any] = {
        "benchmark": "trellis bench --workload hub",
        "label": label,
        "command": " ".join(["trellis", *sys.argv[1:]]) if sys.argv else "",
        "time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": _machine(),
        "commit": _commit(),
        "wall_s": round(time.monotonic() - started, 1),
        "runs": runs,
        "failed_runs": failed,
        "cost_model": cost_model(runs) if runs else None,
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = "hub-" + time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    (out_dir / f"{stem}.json").write_text(json.dumps(report, indent=2) + "\n")
    report["files"] = {"json": str(out_dir / f"{stem}.json")}
    if with_plot:
        plot(report, out_dir / f"{stem}.png")
        report["files"]["png"] = str(out_dir / f"{stem}.png")
    return report


def summary(report: dict[str, Any]) -> str:
    """The printed table and the cost model."""
    lines = [
        f"trellis bench --workload hub — {report['machine']['cpu']} ({report['machine']['cores']} cores)"
        + (f"; {report['label']}" if report["label"] else ""),
        f"{'N':>6} {'create s':>9} {'live B/chain':>12} {'keys/chain':>10} {'nodes/chain':>11} {'hist B/upd':>10} "
        f"{'RSS MB':>8} {'upd/s':>7} {'offered':>7} {'p50 ms':>8} {'p99 ms':>8} {'fail':>5} {'us/upd':>7} "
        f"{'max upd/s':>9} {'pkt/s':>7} {'us/pkt':>7}",
    ]
    for r in sorted(report["runs"], key=lambda r: r["chains"]):
        pc = r["state_per_chain"]
        u = r["update"]
        pk = r.get("packets") or {}
        live = pc["after_updates"]["live_state_bytes"] + pc["after_create"]["tree_bytes"]
        sat = r.get("update_saturation") or {}
        fails = sum(x.get("failed_txs", 0) + x.get("rejected_txs", 0) for x in (u, sat, pk.get("relay") or {}))
        fails += pk.get("relays_failed", 0) + pk.get("items_refused_or_error_acked", 0)
        lines.append(
            f"{r['chains']:>6} {r['create']['seconds_to_last_commit'] or float('nan'):>9.1f} {live:>12,.0f} "
            f"{pc['after_updates']['state_keys']:>10.1f} {pc['after_create']['tree_nodes']:>11.1f} "
            f"{r['history_per_update']['all_bytes']:>10,.0f} {r['rss']['after_updates']['with_verifiers_mb']:>8} "
            f"{u['committed_tps']:>7.1f} {u['offered_tps']:>7.0f} {u['latency_ms']['p50']:>8} "
            f"{u['latency_ms']['p99']:>8} {fails:>5} "
            f"{u['hub_cpu_us_per_tx'] or float('nan'):>7.0f} {r['max_updates_per_s']:>9.1f} "
            f"{pk.get('packets_per_s', '-'):>7} {pk.get('hub_cpu_us_per_packet') or '-':>7}"
        )
    for f in report.get("failed_runs", []):
        lines.append(f"{f['chains']:>6} FAILED: {f['error'][:200]}")
    m = report["cost_model"]
    if m is None:
        return "\n".join(lines)
    lines.append(
        f"cost model: {m['targets']['chains']:,} chains x 1 update / {m['targets']['update_interval_s']:.0f} s "
        f"x {m['cpu_us_per_update']} CPU-us + {m['targets']['routed_packets_per_s']:.0f} packets/s x "
        f"{m['cpu_us_per_packet']} CPU-us, at {m['targets']['usable_core_fraction']} of a core: {m['cores']} cores; "
        f"live state {m['live_state_bytes_per_chain_slope']} B/chain ({m['live_state_bytes_at_target']} B), RSS "
        f"{m['rss_kb_per_chain_slope']} KiB/chain, history {m['history_gb_per_day_at_target']} GB/day"
    )
    files = report.get("files", {})
    if files:
        lines.append("report: " + ", ".join(files.values()))
    return "\n".join(lines)


__all__ = ["HubBenchConfig", "cost_model", "run_hub", "run_hub_suite", "summary"]


# -- phase 3: routed packets ---------------------------------------------------------------------------------------
ITEMS_PER_RELAY = 8
"""Packets per ``interchain.relay`` (a forwarded receive writes about six events; a receipt holds 64)."""
SIM_CLIENT = "client-0"
"""The simulated chains' client of the hub (a record in their trees)."""
SIM_CONNECTION = "connection-0"
SIM_CHANNEL = "channel-0"


class _HubTxs:
    """Signed transactions to the hub from the bench accounts, nonces counted here."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.nonces: dict[int, int] = {}

    def sign(self, account: int, payload: Any) -> tuple[bytes, bytes]:
        from trellis.bench.runner import _account
        from trellis.core.codec import encode
        from trellis.core.ledger.tx import TxBody, sign_tx, tx_hash

        s = _account(ED25519, account)
        nonce = self.nonces.get(account, 0)
        self.nonces[account] = nonce + 1
        body = TxBody(chain_id=HUB_CHAIN_ID, sender=s.public_key, nonce=nonce, payload=payload)
        raw = encode(sign_tx(body, s.sign))
        return raw, tx_hash(ED25519, raw)

    def commit(self, txs: list[tuple[bytes, bytes]]) -> list[dict[str, Any]]:
        """Submit ``txs`` as one batch, wait for each, and return their receipts; every one must succeed."""
        import urllib.request

        from trellis.bench.runner import BATCH_MEDIA, _get_json

        body = b"".join(len(raw).to_bytes(4, "big") + raw for raw, _ in txs)
        req = urllib.request.Request(self.url + "/v1/txs/batch", data=body, headers={"Content-Type": BATCH_MEDIA})
        with urllib.request.urlopen(req, timeout=60) as resp:
            res = json.loads(resp.read())
        if res.get("rejected"):
            raise RuntimeError(f"hub refused set-up transactions: {res['rejected'][:3]}")
        out = []
        for _, h in txs:
            st = _get_json(f"{self.url}/v1/txs/0x{h.hex()}?wait=60")
            receipt = st.get("receipt") or {}
            if st.get("status") != "committed" or receipt.get("code") != 0:
                raise RuntimeError(f"hub set-up transaction 0x{h.hex()} failed: {str(st)[:400]}")
            out.append(receipt)
        return out


def _attr(receipt: dict[str, Any], type_: str, name: str) -> str:
    for ev in receipt.get("events", []):
        if ev["type"] == type_:
            return str(ev["attributes"][name])
    raise RuntimeError(f"no {type_} event with {name} in {str(receipt)[:300]}")


def _connect(
    hub: _HubTxs, chains: list[SimSubChain], accounts: list[int], hub_genesis_hash: bytes
) -> tuple[list[int], list[str]]:
    """Connect each simulated chain to the hub: connection (try, confirm) and a ``transfer`` channel (try, confirm),
    each hub step proven against the records the chain wrote into its tree. Returns the hub's trusted height of
    each chain and the hub's channel to each."""
    from trellis.core.codec import encode
    from trellis.core.modules.interchain.messages import (
        VERSION,
        ChanOpenConfirm,
        ChanOpenTry,
        ConnOpenConfirm,
        ConnOpenTry,
    )
    from trellis.core.modules.interchain.state import (
        INIT,
        OPEN,
        ChannelEnd,
        ClientState,
        ConnectionEnd,
        channel_key,
        client_key,
        connection_key,
    )
    from trellis.core.modules.transfer.messages import VERSION as TRANSFER_VERSION

    from .subchains import MAX_CLOCK_DRIFT_MS, TRUSTING_PERIOD_MS

    trusted = [1 for _ in chains]
    hub_client_state = encode(
        ClientState(
            chain_id=HUB_CHAIN_ID,
            genesis_hash=hub_genesis_hash,
            suite=ED25519.name,
            trusting_period_ms=TRUSTING_PERIOD_MS,
            max_clock_drift_ms=MAX_CLOCK_DRIFT_MS,
            latest_height=1,
            frozen_height=0,
        )
    )

    def step(records: list[dict[bytes, bytes | None]], make: Any) -> list[dict[str, Any]]:
        txs = []
        for k, chain in enumerate(chains):
            chain.write(records[k])
            h, c = chain.next_block()
            txs.append(hub.sign(accounts[k], chain.update(f"client-{chain.index}", trusted[k], h, c)))
            trusted[k] = chain.height
            txs.append(hub.sign(accounts[k], make(k, chain)))
        return hub.commit(txs)[1::2]

    receipts = step(
        [
            {
                client_key(SIM_CLIENT): hub_client_state,
                connection_key(SIM_CONNECTION): encode(
                    ConnectionEnd(
                        state=INIT,
                        client_id=SIM_CLIENT,
                        counterparty_client_id=f"client-{chain.index}",
                        counterparty_connection_id="",
                        version=VERSION,
                    )
                ),
            }
            for chain in chains
        ],
        lambda k, chain: ConnOpenTry(
            client_id=f"client-{chain.index}",
            counterparty_client_id=SIM_CLIENT,
            counterparty_connection_id=SIM_CONNECTION,
            counterparty_client_state=hub_client_state,
            proof_init=chain.prove(connection_key(SIM_CONNECTION), chain.height),
            proof_client=chain.prove(client_key(SIM_CLIENT), chain.height),
        ),
    )
    conns = [_attr(r, "interchain.connection_open_try", "connection_id") for r in receipts]
    step(
        [
            {
                connection_key(SIM_CONNECTION): encode(
                    ConnectionEnd(
                        state=OPEN,
                        client_id=SIM_CLIENT,
                        counterparty_client_id=f"client-{chain.index}",
                        counterparty_connection_id=conns[k],
                        version=VERSION,
                    )
                )
            }
            for k, chain in enumerate(chains)
        ],
        lambda k, chain: ConnOpenConfirm(
            connection_id=conns[k], proof_ack=chain.prove(connection_key(SIM_CONNECTION), chain.height)
        ),
    )

    def end(state: int, counterparty_channel: str) -> bytes:
        return encode(
            ChannelEnd(
                state=state,
                order=1,
                connection_id=SIM_CONNECTION,
                counterparty_port="transfer",
                counterparty_channel=counterparty_channel,
                version=TRANSFER_VERSION,
            )
        )

    receipts = step(
        [{channel_key("transfer", SIM_CHANNEL): end(INIT, "")} for _ in chains],
        lambda k, chain: ChanOpenTry(
            port="transfer",
            connection_id=conns[k],
            counterparty_port="transfer",
            counterparty_channel=SIM_CHANNEL,
            order=1,
            version=TRANSFER_VERSION,
            proof_init=chain.prove(channel_key("transfer", SIM_CHANNEL), chain.height),
        ),
    )
    chans = [_attr(r, "interchain.channel_open_try", "channel") for r in receipts]
    step(
        [{channel_key("transfer", SIM_CHANNEL): end(OPEN, chans[k])} for k in range(len(chains))],
        lambda k, chain: ChanOpenConfirm(
            port="transfer", channel=chans[k], proof_ack=chain.prove(channel_key("transfer", SIM_CHANNEL), chain.height)
        ),
    )
    return trusted, chans


def count_routed(receipt: dict[str, Any]) -> tuple[int, int]:
    """(routed, not routed) relay items of a committed ``interchain.relay`` receipt (JSON, as ``GET /v1/txs``
    gives it): an item is routed when it succeeded (its ``interchain.item`` code is 0) after an
    ``interchain.recv_packet`` and without an ``interchain.write_ack`` (a forwarded first hop's ack stays pending
    until its second hop ends; an ack written at the receive is an error ack or a plain payment). A receipt whose
    transaction failed routes nothing."""
    if receipt.get("code") != 0:
        return 0, 0
    routed = other = 0
    received = acked = False
    for ev in receipt.get("events", []):
        if ev["type"] == "interchain.recv_packet":
            received = True
        elif ev["type"] == "interchain.write_ack":
            acked = True
        elif ev["type"] == "interchain.item":
            if str(ev["attributes"].get("code")) == "0" and received and not acked:
                routed += 1
            else:
                other += 1
            received = acked = False
    return routed, other


def _packets(
    cfg: HubBenchConfig,
    url: str,
    pid: int,
    genesis_time_ms: int,
    idle: float,
    hub_genesis_hash: bytes,
    us_update: float,
) -> dict[str, Any]:
    """Phase 3: connect ``cfg.packet_chains`` simulated chains to the hub (``_connect``), then relay routed
    transfers: chain ``i`` commits ``ForwardedTransferData`` packets to the hub whose forward names the hub's
    channel to chain ``i + 1``; each ``interchain.relay`` (update to the block holding them, ``ITEMS_PER_RELAY``
    receives proven at it) is sent open-loop at ``packet_rate / ITEMS_PER_RELAY`` per second. A packet counts as
    routed only when its relay committed with code 0 and the hub sent its second hop (an ``interchain.send_packet``
    event in that receipt): a refused item, an error ack or a failed relay does not count."""
    from trellis.bench.runner import _address, _get_json
    from trellis.core.codec import encode
    from trellis.core.modules.interchain.messages import Packet, RecvPacket, Relay
    from trellis.core.modules.interchain.state import packet_key, seq_send_key
    from trellis.core.modules.transfer.messages import Forward, ForwardedTransferData

    p = cfg.packet_chains
    chains = [SimSubChain(i, genesis_time_ms, cfg.seed) for i in range(p)]
    for chain in chains:
        chain.next_block()  # block 1: the header the hub's client was created from
    accounts = [1 + UPDATE_SENDERS + i for i in range(p)]
    hub = _HubTxs(url)
    t = time.monotonic()
    trusted, chans = _connect(hub, chains, accounts, hub_genesis_hash)
    connect_s = time.monotonic() - t
    now_ms = int(time.time() * 1000)
    first_timeout = now_ms + 3 * 3_600_000
    forward_timeout = now_ms + 2 * 3_600_000
    total = int(cfg.packet_rate * cfg.packet_duration_s)
    relays: list[tuple[bytes, bytes]] = []
    seq = [0] * p
    t = time.monotonic()
    for r in range(max(1, total // ITEMS_PER_RELAY)):
        k = r % p
        chain = chains[k]
        packets = []
        for _ in range(ITEMS_PER_RELAY):
            seq[k] += 1
            data = ForwardedTransferData(
                denom="native",
                amount=1,
                sender=_address(ED25519, 10_000 + k),
                receiver=_address(ED25519, 20_000 + k),
                forward=Forward(channel=chans[(k + 1) % p], timeout_time_ms=forward_timeout),
            )
            packets.append(
                Packet(
                    sequence=seq[k],
                    source_port="transfer",
                    source_channel=SIM_CHANNEL,
                    dest_port="transfer",
                    dest_channel=chans[k],
                    data=encode(data),
                    timeout_height=0,
                    timeout_time_ms=first_timeout,
                )
            )
        chain.write({packet_key("transfer", SIM_CHANNEL, pk.sequence): encode(pk) for pk in packets})
        h, c = chain.next_block()
        update = chain.update(f"client-{chain.index}", trusted[k], h, c)
        trusted[k] = chain.height
        items = [
            RecvPacket(packet=pk, proof=chain.prove(packet_key("transfer", SIM_CHANNEL, pk.sequence), chain.height))
            for pk in packets
        ]
        relays.append(hub.sign(accounts[k], Relay(update=update, items=list(items))))
    build_s = time.monotonic() - t
    label = f"hub N={cfg.chains} relay x{ITEMS_PER_RELAY} routed"
    row = _phase(label, url, pid, relays, cfg.packet_rate / ITEMS_PER_RELAY, 60.0, idle)
    routed = refused = 0
    failed_relays = 0
    for _, h in relays:
        st = _get_json(f"{url}/v1/txs/0x{h.hex()}")
        receipt = st.get("receipt") or {}
        if st.get("status") != "committed" or receipt.get("code") != 0:
            failed_relays += 1
            continue
        ok, bad = count_routed(receipt)
        routed += ok
        refused += bad
    # The hub's own count of second hops: the next send sequence of each forward channel.
    sent_by_state = 0
    for ch in chans:
        value = _get_json(f"{url}/v1/state/0x{seq_send_key('transfer', ch).hex()}").get("value")
        sent_by_state += 0 if value is None else int(value.removeprefix("0x"), 16) - 1
    if sent_by_state != routed:
        sys.stderr.write(f"  warning: receipts say {routed} routed, the hub's forward channels sent {sent_by_state}\n")
    routed = min(routed, sent_by_state)
    elapsed = row["seconds_to_last_commit"] or float("nan")
    cpu_net = row["hub_cpu_s"] - row["hub_cpu_idle_s"] - us_update * 1e-6 * (len(relays) - failed_relays)
    return {
        "packet_chains": p,
        "connect_s": round(connect_s, 2),
        "simulator_build_s": round(build_s, 2),
        "offered_packets_per_s": cfg.packet_rate,
        "packets_offered": len(relays) * ITEMS_PER_RELAY,
        "packets_routed": routed,
        "items_refused_or_error_acked": refused,
        "second_hops_sent_by_hub_state": sent_by_state,
        "relays_failed": failed_relays,
        "packets_per_s": round(routed / elapsed, 1) if routed else 0.0,
        "relay": row,
        "hub_cpu_us_per_packet": round(cpu_net / routed * 1e6, 1) if routed else None,
        "note": "routed = received by the hub over chain i's channel and forwarded (transfer.send_via's "
        "ForwardedTransferData) over its channel to chain i+1: one recv + one send per packet, counted when its relay "
        "item succeeded with no ack written (the first hop's ack waits for the second hop) and checked against the "
        "hub's next send sequences of the forward channels; the relay's client update is subtracted at the measured "
        f"{us_update} CPU-us per update",
    }
