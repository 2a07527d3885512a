"""State sync on real processes (ADR 0018 sections 2 and 3, issue 18).

Four validators over a state of 100,000 genesis accounts write a snapshot every few blocks; one of them (node3)
is a damaged peer: every chunk file of its snapshots is corrupted on disk as soon as it appears. Two validators
are then stopped, so the chain holds still at the snapshots' height while the fifth node (an observer) joins with
``trellis node start --state-sync``: it must serve a proof-checked query (``trellis query state --prove``,
verified from genesis) within 60 s of its start, have banned node3 (its log), and, once the two validators are
back, follow new blocks, without ever having replayed the blocks before the snapshot.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest

from trellis.app.application import TrellisApp
from trellis.node.home import Home
from trellis.node.network import free_port_range
from trellis.storage.chain_store import ChainStore
from trellis.storage.kv import open_data_store

from .harness import Http, Network, NodeProcess, trellis_cmd

pytestmark = pytest.mark.e2e

ACCOUNTS = 100_000
INTERVAL = 16
JOIN_LIMIT_S = 60.0


def _network(root: Path) -> tuple[Network, NodeProcess]:
    api = free_port_range(5)
    p2p = free_port_range(5, avoid=api)
    init = [
        *("net", "init", "--home", str(root), "--validators", "4", "--observers", "1"),
        *("--api-port", str(api), "--p2p-port", str(p2p), "--json"),
    ]
    listed = json.loads(subprocess.run(trellis_cmd(*init), capture_output=True, text=True, check=True).stdout)["nodes"]
    homes = [Path(x["home"]) for x in listed]
    # 100,000 accounts in the genesis (its limit), the same file in every home.
    genesis = json.loads((homes[0] / "genesis.json").read_text())
    have = {a["address"] for a in genesis["accounts"]}
    i = 0
    while len(genesis["accounts"]) < ACCOUNTS:
        addr = hashlib.sha256(b"state-sync-account-%d" % i).hexdigest()[:40]
        i += 1
        if addr not in have:
            have.add(addr)
            genesis["accounts"].append({"address": addr, "balance": 1000 + i})
    data = json.dumps(genesis).encode()
    for home in homes:
        (home / "genesis.json").write_bytes(data)
        cfg = home / "config.toml"
        text = cfg.read_text().replace("propose_timeout_ms = 3000", "propose_timeout_ms = 800")
        text = text.replace("empty_block_interval_ms = 1000", "empty_block_interval_ms = 300")
        if home.name.startswith("node"):
            text = re.sub(r"snapshot_interval = \d+", f"snapshot_interval = {INTERVAL}", text)
        else:
            # discovery_s 6 s: both live validators have linked by then (they list the joiner and dial it, redialing
            # at most 5 s apart), so the damaged one is among the peers asked for chunks.
            text = text.replace("discovery_s = 3.0", "discovery_s = 6.0").replace(
                "chunk_timeout_s = 20.0", "chunk_timeout_s = 5.0"
            )
        cfg.write_text(text)
    # The validators' genesis state is computed once and copied (loading 100,000 accounts fast).
    params = Home(homes[0]).load_params()
    kv = open_data_store(homes[0] / "data")
    TrellisApp(params, ChainStore(kv))
    kv.close()
    for home in homes[1:4]:
        for env in ("chain", "state"):
            (home / "data" / env).mkdir(parents=True)
            shutil.copy(homes[0] / "data" / env / "data.mdb", home / "data" / env / "data.mdb")
    net = Network.__new__(Network)
    net.root = root
    net.nodes = [NodeProcess(home, api + i) for i, home in enumerate(homes[:4])]
    net.chain_id = "trellis-dev"
    return net, NodeProcess(homes[4], api + 4)


class _Damage:
    """Corrupts every chunk file of a node's snapshots as soon as it appears (a damaged disk)."""

    def __init__(self, snapshots: Path) -> None:
        self.snapshots = snapshots
        self.done: set[Path] = set()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.is_set():
            for f in self.snapshots.glob("[0-9]*/chunk-*"):
                if f not in self.done:
                    try:
                        data = bytearray(f.read_bytes())
                        data[len(data) // 2] ^= 0x55
                        f.write_bytes(bytes(data))
                        self.done.add(f)
                    except OSError:
                        pass  # the snapshot was pruned meanwhile
            self.stop.wait(0.02)


def _offered(home: Path) -> set[int]:
    snaps = home / "data" / "snapshots"
    return {int(p.name) for p in snaps.glob("[0-9]*") if (p / "manifest").is_file()} if snaps.is_dir() else set()


def _proof_checked_query(root: Path, node: NodeProcess, key: str, height: int) -> dict[str, object]:
    query = [
        *("query", "state", key, "--prove", "--height", str(height)),
        *("--node", node.http.base, "--home", str(root / "node0"), "--json"),
    ]
    res = subprocess.run(trellis_cmd(*query), capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr
    answer: dict[str, object] = json.loads(res.stdout)
    return answer


def test_state_sync_joins_from_verified_snapshots_bans_the_damaged_peer_and_follows(tmp_path: Path) -> None:
    root = tmp_path / "net"
    net, joiner = _network(root)
    damage = _Damage(net.nodes[3].home / "data" / "snapshots")
    joiner_proc: subprocess.Popen[bytes] | None = None
    try:
        net.start_all()
        # Every validator offers the same newest snapshot; then two stop, so the chain (and the snapshots) hold.
        deadline = time.monotonic() + 60
        while True:
            offered = [_offered(n.home) for n in net.nodes]
            common = set.intersection(*offered)
            if common and max(common) >= INTERVAL and all(max(o) == max(common) for o in offered):
                net.nodes[0].stop()
                net.nodes[1].stop()
                break
            assert time.monotonic() < deadline, f"snapshots offered: {offered}"
            time.sleep(0.05)
        time.sleep(1.0)  # a snapshot begun just before the stop lands (or is abandoned)
        offered = [_offered(n.home) for n in net.nodes[2:]]
        assert offered[0] == offered[1], offered
        snap_height = max(offered[0])
        assert any(p.parent.name == str(snap_height) for p in damage.done), "node3's snapshot was not damaged"
        tip = net.nodes[2].height()

        # The fifth node joins by state sync.
        log = open(joiner.log_path, "ab")  # handed to the child process
        t0 = time.monotonic()
        joiner_proc = subprocess.Popen(
            trellis_cmd("node", "start", "--home", str(joiner.home), "--state-sync"),
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        log.close()
        http = Http(joiner.http.base)
        while True:
            assert joiner_proc.poll() is None, joiner.log_path.read_text()[-3000:]
            try:
                if http.get("/v1/status", timeout=1.0)[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() - t0 < JOIN_LIMIT_S, joiner.log_path.read_text()[-3000:]
            time.sleep(0.05)
        bob = "0x" + json.loads((root / "node0" / "genesis.json").read_text())["accounts"][1]["address"]
        answer = _proof_checked_query(root, joiner, f"account:{bob}", snap_height)
        joined_s = time.monotonic() - t0
        assert answer["verified"] is True and answer["value"] is not None, answer
        assert joined_s < JOIN_LIMIT_S
        text = joiner.log_path.read_text()
        print(f"state sync: joined at height {snap_height} (tip {tip}) with a proof-checked query in {joined_s:.1f}s")
        assert re.search(r"banned peer node3 for \d+s: sent a bad chunk", text), text[-3000:]
        assert "banned peer node2" not in text
        m = re.search(r"(\d+) blocks not replayed", text)
        assert m is not None and int(m.group(1)) == snap_height, text[-3000:]
        print(f"state sync: {m.group(1)} blocks not replayed; log: {text.count('banned peer node3')} ban line(s)")
        # A block before the snapshot was never fetched (410: not held here); the snapshot's own block is.
        assert http.get("/v1/blocks/1")[0] == 410
        assert http.get(f"/v1/blocks/{snap_height}")[0] == 200

        # The two validators come back: the chain goes on and the joined node follows it.
        net.nodes[0].start(ready_timeout=30)
        net.nodes[1].start(ready_timeout=30)
        target = max(tip, snap_height) + 3
        deadline = time.monotonic() + 40
        while int(http.get("/v1/status")[1]["height"]) < target:
            assert time.monotonic() < deadline, joiner.log_path.read_text()[-3000:]
            time.sleep(0.1)
        h = int(http.get("/v1/status")[1]["height"])
        net.wait_height([2], h, 20)
        assert http.get(f"/v1/blocks/{h}")[1]["block_id"] == net.nodes[2].http.get(f"/v1/blocks/{h}")[1]["block_id"]
    finally:
        damage.stop.set()
        if joiner_proc is not None and joiner_proc.poll() is None:
            joiner_proc.terminate()
            try:
                joiner_proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                joiner_proc.kill()
                joiner_proc.wait()
        net.stop_all()
