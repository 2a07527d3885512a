"""Four validator processes on 127.0.0.1 (TCP with mutual TLS): a crashed validator does not stop the chain
and catches up when it returns; with two of four down nothing commits and nothing is lost, and the chain
resumes when one comes back. Every node ends with the same blocks and state roots."""

from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path

import pytest

from trellis.core.crypto.suite import ED25519
from trellis.core.ledger.tx import Transfer, tx_hash
from trellis.keys.signer import KeyStore
from trellis.node.network import free_port_range

from .harness import NodeProcess, signed, trellis_cmd

pytestmark = pytest.mark.e2e


class Network:
    def __init__(self, root: Path, n: int = 4) -> None:
        api = free_port_range(n)
        p2p = free_port_range(n, avoid=api)
        subprocess.run(
            trellis_cmd(
                "net",
                "init",
                "--home",
                str(root),
                "--validators",
                str(n),
                "--api-port",
                str(api),
                "--p2p-port",
                str(p2p),
            ),
            check=True,
            capture_output=True,
        )
        self.nodes = []
        for i in range(n):
            home = root / f"node{i}"
            cfg = home / "config.toml"
            # Shorter timeouts than production so failover is quick in tests.
            text = cfg.read_text().replace("propose_timeout_ms = 3000", "propose_timeout_ms = 800")
            cfg.write_text(text.replace("empty_block_interval_ms = 1000", "empty_block_interval_ms = 300"))
            self.nodes.append(NodeProcess(home, api + i))
        ks = KeyStore(root / "node0" / "keys")
        self.alice = ks.signer("alice")
        self.bob = ks.info("bob").address
        self.alice_addr = ks.info("alice").address
        self.chain_id = "trellis-dev"

    def start_all(self) -> None:
        procs = []
        for node in self.nodes:
            threading.Thread(target=node.start, daemon=True).start()
            procs.append(node)
        deadline = time.monotonic() + 60
        for node in self.nodes:
            while node.proc is None or not self._ready(node):
                assert time.monotonic() < deadline, f"{node.home.name} did not start"
                time.sleep(0.1)  # readiness polling, bounded

    @staticmethod
    def _ready(node: NodeProcess) -> bool:
        try:
            return node.http.get("/v1/status", timeout=1)[0] == 200
        except OSError:
            return False

    def heights(self, which: list[int]) -> list[int]:
        return [self.nodes[i].height() for i in which]

    def wait_height(self, which: list[int], target: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while min(self.heights(which)) < target:
            assert time.monotonic() < deadline, f"nodes {which} at {self.heights(which)}, wanted {target}"
            time.sleep(0.1)  # polling the chain, bounded

    def send(self, via: int, amount: int) -> str:
        node = self.nodes[via]
        nonce = node.http.get(f"/v1/accounts/0x{self.alice_addr.hex()}")[1]["next_nonce"]
        raw, _ = signed(self.alice, self.chain_id, nonce, Transfer(to=self.bob, amount=amount))
        status, body = node.http.post_tx(raw)
        assert status == 202, body
        return "0x" + tx_hash(ED25519, raw).hex()

    def wait_committed(self, via: int, h: str, timeout: float = 30) -> dict:
        status, st = self.nodes[via].http.get(f"/v1/txs/{h}?wait={int(timeout)}", timeout=timeout + 5)
        assert status == 200 and st["status"] == "committed", st
        return st

    def assert_same_ledgers(self, which: list[int], upto: int) -> None:
        for h in range(1, upto + 1):
            ids = {self.nodes[i].http.get(f"/v1/blocks/{h}")[1]["block_id"] for i in which}
            roots = {self.nodes[i].http.get(f"/v1/blocks/{h}")[1]["header"]["state_root"] for i in which}
            assert len(ids) == 1 and len(roots) == 1, f"nodes disagree at height {h}"

    def stop_all(self) -> None:
        for node in self.nodes:
            if node.proc is not None and node.proc.poll() is None:
                node.stop()


@pytest.fixture
def net(tmp_path: Path):
    network = Network(tmp_path / "net")
    try:
        network.start_all()
        yield network
    finally:
        network.stop_all()


def test_a_killed_validator_does_not_stop_the_chain_and_catches_up_on_restart(net: Network) -> None:
    net.wait_height([0, 1, 2, 3], 2, 30)
    acknowledged = [net.wait_committed(0, net.send(0, 1)) for _ in range(3)]
    net.nodes[2].kill()
    start = max(net.heights([0, 1, 3]))
    # Blocks keep committing without it (its turns as proposer time out), and transactions still commit.
    acknowledged += [net.wait_committed(1, net.send(1, 2)) for _ in range(3)]
    net.wait_height([0, 1, 3], start + 4, 60)
    net.nodes[2].start()
    target = max(net.heights([0, 1, 3]))
    net.wait_height([2], target, 60)
    acknowledged.append(net.wait_committed(2, net.send(2, 3)))
    top = min(net.heights([0, 1, 2, 3]))
    net.assert_same_ledgers([0, 1, 2, 3], top)
    for st in acknowledged:
        for node in net.nodes:
            status, other = node.http.get(f"/v1/txs/{st['hash']}")
            assert status == 200 and (other["height"], other["index"]) == (st["height"], st["index"])


def test_two_of_four_down_commits_nothing_loses_nothing_and_resumes_with_one_back(net: Network) -> None:
    net.wait_height([0, 1, 2, 3], 2, 30)
    committed = net.wait_committed(0, net.send(0, 5))
    net.nodes[2].kill()
    net.nodes[3].kill()
    halted = max(net.heights([0, 1]))
    pending = net.send(0, 6)
    time.sleep(4.0)  # an observation window: nothing may commit during it
    assert max(net.heights([0, 1])) <= halted + 1
    status, st = net.nodes[0].http.get(f"/v1/txs/{pending}")
    assert st["status"] == "pending"
    net.nodes[2].start()
    resumed = net.wait_committed(0, pending, timeout=60)
    assert resumed["height"] > halted
    top = min(net.heights([0, 1, 2]))
    net.assert_same_ledgers([0, 1, 2], top)
    for node in net.nodes[:3]:
        status, other = node.http.get(f"/v1/txs/{committed['hash']}")
        assert status == 200 and other["height"] == committed["height"]


def test_net_up_starts_four_validators_whose_blocks_verify_offline_and_net_down_stops_them(tmp_path: Path) -> None:
    root = tmp_path / "cli-net"
    api = free_port_range(4)
    p2p = free_port_range(4, avoid=api)
    up = subprocess.run(
        trellis_cmd(
            "net", "up", "--home", str(root), "--validators", "4", "--api-port", str(api), "--p2p-port", str(p2p)
        ),
        capture_output=True,
        text=True,
        timeout=120,
    )
    try:
        assert up.returncode == 0, up.stderr
        assert "network of 4 validators is up" in up.stdout
        nodes = [NodeProcess(root / f"node{i}", api + i) for i in range(4)]
        deadline = time.monotonic() + 30
        while min(n.height() for n in nodes) < 2:
            assert time.monotonic() < deadline
            time.sleep(0.1)  # polling the chain, bounded
        for i in range(4):
            res = subprocess.run(
                trellis_cmd("query", "block", "2", "--verify", "--home", str(root / f"node{i}")),
                capture_output=True,
                text=True,
                timeout=30,
            )
            assert res.returncode == 0, res.stderr
            assert "finality      verified" in res.stdout
        status, ev = nodes[0].http.get("/v1/evidence")
        assert status == 200 and ev == {"evidence": []}
    finally:
        down = subprocess.run(
            trellis_cmd("net", "down", "--home", str(root)), capture_output=True, text=True, timeout=120
        )
    assert down.returncode == 0, down.stderr
    assert "stopped node0, node1, node2, node3" in down.stdout
    for i in range(4):
        assert not (root / f"node{i}" / "node.pid").exists()
