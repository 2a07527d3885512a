"""The operator's commands of issue 15 on real processes: ``trellis interchain connect`` joins two running chains
(new clients both ways, a connection and a channel, each step a transaction the chain checks), ``trellis
interchain show|clients`` read the result, and ``trellis relayer status`` answers from a running relayer."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from trellis.node.multichain import relayer_key_path

from .harness import MultiChain

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]


def _cli(*args: str) -> dict:  # type: ignore[type-arg]
    out = subprocess.run(
        [sys.executable, "-m", "trellis.cli.main", *args, "--json"], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr + out.stdout
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def test_connect_show_and_relayer_status(tmp_path: Path) -> None:
    mc = MultiChain(tmp_path / "chains", 2, 1)
    try:
        mc.start_all()
        mc.connect()
        mc.start_relayer()
        a, b = mc.layout.chains
        args = []
        for side, c in (("a", a), ("b", b)):
            args += [
                f"--{side}-chain",
                c.chain_id,
                f"--{side}-api",
                c.api_urls[0],
                f"--{side}-genesis",
                str(c.nodes[0].home / "genesis.json"),
                f"--{side}-key",
                str(relayer_key_path(mc.root, c.index)),
            ]
        ids = _cli("interchain", "connect", *args)
        # A second path next to the one net up made: new clients, connection and channel on both chains.
        assert ids["a_client"] == "client-1" and ids["b_client"] == "client-1"
        assert ids["a_channel"] == "channel-1" and ids["b_channel"] == "channel-1"
        for c, side in ((a, "a"), (b, "b")):
            end = _cli("interchain", "show", f"transfer/{ids[side + '_channel']}", "--node", c.api_urls[0])
            assert end["state"] == "OPEN", end
            other = "b" if side == "a" else "a"
            assert end["counterparty_channel"] == ids[other + "_channel"], end
            clients = _cli("interchain", "clients", "--node", c.api_urls[0])
            assert [x["status"] for x in clients["clients"]] == ["active", "active"], clients
        # A broken step is a named error, not a traceback: a key file that does not exist.
        bad = subprocess.run(
            [sys.executable, "-m", "trellis.cli.main", "interchain", "connect", *args[:-1], "/nonexistent.pem"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert bad.returncode != 0 and "Traceback" not in bad.stderr and "nonexistent" in bad.stderr, bad.stderr
        status = subprocess.run(
            [sys.executable, "-m", "trellis.cli.main", "relayer", "status", "--config", str(mc.root / "relayer.toml")],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert status.returncode == 0 and a.chain_id in status.stdout, status.stderr + status.stdout
    finally:
        mc.stop_all()
