"""``trellis net up``: what counts as a running node (not a zombie, not a stranger holding a reused pid) and,
when the network does not come up, stopping only the processes this invocation started."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from trellis.cli.main import main
from trellis.node import network
from trellis.node.network import NetNode, free_port_range, init_network, running_pid


def _spawn(*argv: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, *argv], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Processes a test starts; killed and reaped at its end."""
    procs: list[subprocess.Popen[bytes]] = []
    yield procs
    for p in procs:
        if p.poll() is None:
            p.kill()
        p.wait()


def _impersonate_node(procs: list[subprocess.Popen[bytes]], home: Path) -> subprocess.Popen[bytes]:
    """A live process whose command line is ``... node start --home HOME`` (as a node started by hand)."""
    p = _spawn("-c", "import time; time.sleep(120)", "node", "start", "--home", str(home))
    procs.append(p)
    return p


def _zombie(procs: list[subprocess.Popen[bytes]]) -> int:
    """The pid of a child that has exited and is not yet reaped (a zombie)."""
    p = _spawn("-c", "pass")
    procs.append(p)
    os.waitid(os.P_PID, p.pid, os.WEXITED | os.WNOWAIT)  # wait for the exit without reaping it
    return p.pid


def _write_pid(node: NetNode, pid: int) -> None:
    (node.home / "node.pid").write_text(f"{pid}\n")


@pytest.fixture
def net(tmp_path: Path) -> list[NetNode]:
    """A two-validator network on free ports (not started)."""
    api = free_port_range(2)
    return init_network(tmp_path / "net", 2, api_port=api, p2p_port=free_port_range(2, avoid=api))


def test_a_zombie_in_the_pid_file_is_not_running(net: list[NetNode], processes: list[subprocess.Popen[bytes]]) -> None:
    zombie = _zombie(processes)
    _write_pid(net[0], zombie)
    assert running_pid(net[0]) is None
    # A zombie's cmdline is empty, so the command-line check alone would refuse it; stop_node's wait for the
    # process to end relies on the liveness check itself seeing the zombie as gone.
    assert not network.alive(zombie)


def test_a_live_process_that_is_not_this_nodes_is_not_running(
    net: list[NetNode], processes: list[subprocess.Popen[bytes]]
) -> None:
    stranger = _spawn("-c", "import time; time.sleep(120)")
    processes.append(stranger)
    _write_pid(net[0], stranger.pid)
    assert running_pid(net[0]) is None
    other_home = _impersonate_node(processes, net[1].home)
    _write_pid(net[0], other_home.pid)
    assert running_pid(net[0]) is None


def test_a_node_process_for_this_home_is_running(net: list[NetNode], processes: list[subprocess.Popen[bytes]]) -> None:
    node = _impersonate_node(processes, net[0].home)
    _write_pid(net[0], node.pid)
    assert running_pid(net[0]) == node.pid


def test_net_up_that_fails_stops_only_the_nodes_it_started(
    net: list[NetNode], processes: list[subprocess.Popen[bytes]], capsys: pytest.CaptureFixture[str]
) -> None:
    # node0 runs already (someone else's); node1 is started here and exits at once: its API port is taken.
    theirs = _impersonate_node(processes, net[0].home)
    _write_pid(net[0], theirs.pid)
    port = int(net[1].api_url.rsplit(":", 1)[1])
    with socket.create_server(("127.0.0.1", port)):
        code = main(["net", "up", "--home", str(net[0].home.parent)])
    out, err = capsys.readouterr()
    assert code == 1
    assert "node0 is already running" in out and "node1 exited with status 1" in err
    assert theirs.poll() is None, "net up stopped a node it did not start"
    assert running_pid(net[0]) == theirs.pid
    assert not (net[1].home / "node.pid").exists()


def test_net_up_starts_a_node_whose_pid_file_names_a_zombie(
    tmp_path: Path, processes: list[subprocess.Popen[bytes]], capsys: pytest.CaptureFixture[str]
) -> None:
    api = free_port_range(1)
    root = tmp_path / "solo-net"
    [node] = init_network(root, 1, api_port=api, p2p_port=free_port_range(1, avoid=api))
    _write_pid(node, _zombie(processes))
    try:
        code = main(["net", "up", "--home", str(root)])
        out, err = capsys.readouterr()
        assert code == 0, err
        assert "already running" not in out and "network of 1 validator is up" in out
        assert running_pid(node) not in (None, processes[0].pid)
    finally:
        assert main(["net", "down", "--home", str(root)]) == 0
    assert running_pid(node) is None
