"""``trellis node start --state-sync`` refuses bad options and configurations with one line naming the problem,
before anything is opened (ADR 0018 section 3)."""

from __future__ import annotations

from pathlib import Path

import pytest

from trellis.cli.main import main
from trellis.node.home import init_home
from trellis.node.network import free_port_range


@pytest.fixture
def home(tmp_path: Path) -> Path:
    init_home(tmp_path / "solo", api_port=free_port_range(1))
    return tmp_path / "solo"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--trust-height", "5"], "--trust-height and --trust-hash go together"),
        (["--trust-hash", "ab" * 32], "--trust-height and --trust-hash go together"),
        (["--trust-height", "5", "--trust-hash", "zz"], "--trust-hash must be a block id of 64 hex digits"),
        (["--trust-height", "5", "--trust-hash", "ab" * 31], "--trust-hash must be a block id of 64 hex digits"),
        (["--trust-height", "-3", "--trust-hash", "ab" * 32], "--trust-height must be a block height"),
        ([], "state sync needs [p2p] node_id and peers"),
    ],
)
def test_state_sync_option_errors_are_one_line(
    home: Path, extra: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["node", "start", "--home", str(home), "--state-sync", *extra]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and len(err.strip().splitlines()) == 1, err
    assert not (home / "data" / "statesync").exists()
