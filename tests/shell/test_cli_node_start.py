"""``trellis node start`` on a port that is taken: one line naming the port and the option that changes it, exit 1,
no traceback (run as a subprocess, as a user runs it)."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from trellis.node.config import load_config
from trellis.node.home import init_home
from trellis.node.network import free_port_range, init_network

START_S = 60.0


def _start(home: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "trellis.cli.main", "node", "start", "--home", str(home), *extra],
        capture_output=True,
        text=True,
        timeout=START_S,
    )


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port on 127.0.0.1 held by a listening socket for the test's duration."""
    port = free_port_range(1)
    with socket.create_server(("127.0.0.1", port)) as sock:
        assert sock.getsockname()[1] == port
        yield port


def test_a_taken_api_port_is_one_line_naming_the_port_and_api_port(tmp_path: Path, taken_port: int) -> None:
    init_home(tmp_path / "solo", api_port=taken_port)
    res = _start(tmp_path / "solo")
    assert res.returncode == 1, res.stderr
    assert "Traceback" not in res.stderr
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith(f"error: the API port {taken_port} on 127.0.0.1 is already in use")
    assert "--api-port" in lines[0]


def test_the_api_port_option_overrides_the_config_and_is_checked_too(tmp_path: Path, taken_port: int) -> None:
    init_home(tmp_path / "solo")
    res = _start(tmp_path / "solo", "--api-port", str(taken_port))
    assert res.returncode == 1 and f"the API port {taken_port} " in res.stderr and "Traceback" not in res.stderr


def test_a_taken_peer_port_is_one_line_naming_the_port_and_p2p_port(tmp_path: Path, taken_port: int) -> None:
    api = free_port_range(2, avoid=taken_port)
    nodes = init_network(tmp_path / "net", 2, api_port=api, p2p_port=taken_port)
    assert load_config(nodes[0].home / "config.toml").p2p.port == taken_port
    res = _start(nodes[0].home)
    assert res.returncode == 1, res.stderr
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith(f"error: the peer (p2p) port {taken_port} on 127.0.0.1 is already in use")
    assert "--p2p-port" in lines[0]


def test_an_out_of_range_api_port_is_a_usage_error(tmp_path: Path) -> None:
    init_home(tmp_path / "solo")
    res = _start(tmp_path / "solo", "--api-port", "70000")
    assert res.returncode == 2 and "out of range" in res.stderr
