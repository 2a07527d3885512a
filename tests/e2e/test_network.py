"""Four validator processes on 127.0.0.1 (TCP with mutual TLS): a crashed validator does not stop the chain
and catches up when it returns; with two of four down nothing commits and nothing is lost, and the chain
resumes when one comes back. Every node ends with the same blocks and state roots."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from trellis.node.network import free_port_range

from .harness import Network, NodeProcess, trellis_cmd

pytestmark = pytest.mark.e2e


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
