"""The ``trellis`` global options (``--home``, ``--node``, ``--json``) wherever they stand, and a ``--home`` that
does not exist, called in-process against a real node listening on a local port."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from trellis.cli.main import main
from trellis.node.config import ApiSection, NodeConfig, render_config

from .conftest import ThreadedNode


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(autouse=True)
def _no_env_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("TRELLIS_HOME", raising=False)
    monkeypatch.chdir(tmp_path)  # no ./.trellis to fall back on


@pytest.fixture
def client_home(tmp_path: Path, threaded_node: ThreadedNode) -> Path:
    """A home whose config.toml names the test node's API port (and nothing else)."""
    home = tmp_path / "client-home"
    home.mkdir()
    port = int(threaded_node.url.rsplit(":", 1)[1])
    (home / "config.toml").write_text(render_config(NodeConfig(api=ApiSection(port=port))))
    return home


def test_home_and_json_before_the_subcommand_are_honoured(
    capsys: pytest.CaptureFixture[str], client_home: Path
) -> None:
    code, out, err = _run(capsys, "--home", str(client_home), "--json", "status")
    assert code == 0, err
    assert json.loads(out)["chain_id"] == "trellis-dev"


def test_node_before_the_subcommand_is_honoured(
    capsys: pytest.CaptureFixture[str], threaded_node: ThreadedNode
) -> None:
    code, out, err = _run(capsys, "--node", threaded_node.url, "--json", "status")
    assert code == 0, err
    assert json.loads(out)["chain_id"] == "trellis-dev"


def test_global_options_between_a_command_group_and_its_subcommand_are_honoured(
    capsys: pytest.CaptureFixture[str], threaded_node: ThreadedNode
) -> None:
    code, out, err = _run(capsys, "query", "--node", threaded_node.url, "--json", "evidence")
    assert code == 0, err
    assert json.loads(out)["evidence"] == []


def test_an_option_after_the_subcommand_still_wins_over_one_before(
    capsys: pytest.CaptureFixture[str], client_home: Path, tmp_path: Path
) -> None:
    code, out, err = _run(capsys, "--home", str(tmp_path / "absent"), "status", "--home", str(client_home), "--json")
    assert code == 0, err
    assert json.loads(out)["chain_id"] == "trellis-dev"


@pytest.mark.parametrize("where", ["before", "after"])
def test_a_home_that_does_not_exist_is_refused_naming_it(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, where: str
) -> None:
    missing = str(tmp_path / "no-such-home")
    argv = ["--home", missing, "status"] if where == "before" else ["status", "--home", missing]
    code, out, err = _run(capsys, *argv)
    assert code == 1 and out == ""
    assert err.startswith(f"error: --home {missing} does not exist") and err.count("\n") == 1


def test_a_trellis_home_variable_that_does_not_exist_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRELLIS_HOME", str(tmp_path / "gone"))
    code, _, err = _run(capsys, "keys", "list")
    assert code == 1 and err.startswith(f"error: $TRELLIS_HOME {tmp_path / 'gone'} does not exist")


def test_init_and_keys_new_may_create_their_home(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = _run(capsys, "keys", "new", "k1", "--home", str(tmp_path / "fresh-keys"))
    assert code == 0, err
    code, _, err = _run(capsys, "--home", str(tmp_path / "fresh-chain"), "init")
    assert code == 0, err
    assert (tmp_path / "fresh-chain" / "genesis.json").is_file()


def test_a_damaged_home_config_is_reported_not_replaced_by_the_default_node(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    home = tmp_path / "damaged"
    home.mkdir()
    (home / "config.toml").write_text("[api\nport = ")
    code, _, err = _run(capsys, "status", "--home", str(home))
    assert code == 1 and "config.toml" in err and "127.0.0.1:8680" not in err
