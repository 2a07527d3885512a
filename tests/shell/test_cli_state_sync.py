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


@pytest.mark.parametrize("lost", [False, True])
def test_a_store_whose_restore_was_cut_short_or_whose_synced_state_was_lost_is_refused(
    home: Path, lost: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    """Neither can be rebuilt by re-executing blocks (those below the snapshot are not held): the node says so and
    names the fix, instead of failing at block 1."""
    from trellis.node.home import Home
    from trellis.storage.kv import open_data_store
    from trellis.storage.snapshots import RESTORE_MARKER, SYNCED_AT

    genesis = Home(home).load_params().genesis_hash
    kv = open_data_store(home / "data")
    h8 = (7).to_bytes(8, "big")
    kv.write_tables({"chain_meta": {b"genesis": genesis, SYNCED_AT: h8} if lost else {RESTORE_MARKER: h8}})
    kv.close()
    assert main(["node", "start", "--home", str(home)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "start the node with `trellis node start --state-sync`" in err.lower(), err
    assert len(err.strip().splitlines()) == 1
