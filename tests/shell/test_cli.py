"""The ``trellis`` command line, called in-process against a real node listening on a local port."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from trellis.cli.main import main
from trellis.node.config import ApiSection, NodeConfig, render_config
from trellis.node.home import Home
from trellis.node.network import free_port_range

from .conftest import ThreadedNode


class Cli:
    def __init__(self, capsys: pytest.CaptureFixture[str], node: ThreadedNode) -> None:
        self.capsys = capsys
        self.node = node

    def __call__(self, *argv: str, node: bool = True) -> tuple[int, str, str]:
        """Run ``trellis ARGV --home HOME [--node URL]``; return (exit status, stdout, stderr)."""
        args = [*argv, "--home", str(self.node.root)]
        if node:
            args += ["--node", self.node.url]
        self.capsys.readouterr()
        code = main(args)
        out, err = self.capsys.readouterr()
        return code, out, err

    def json(self, *argv: str) -> Any:
        code, out, err = self(*argv, "--json")
        assert code == 0, err
        return json.loads(out)


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], threaded_node: ThreadedNode) -> Cli:
    return Cli(capsys, threaded_node)


def _closed_port() -> int:
    return free_port_range(1)


# -- init and keys (no node needed) ----------------------------------------------------------------------------------
def test_init_creates_a_home_and_prints_its_keys(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["init", "--home", str(tmp_path / "h"), "--chain-id", "cli-chain", "--api-port", "9999"])
    out = capsys.readouterr().out
    assert code == 0
    assert "initialised cli-chain" in out
    for name in ("alice", "bob", "validator"):
        assert f"key {name}" in out
    assert Home(tmp_path / "h").load_params().chain_id == "cli-chain"


def test_init_json_output_parses(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["init", "--home", str(tmp_path / "h"), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["chain_id"] == "trellis-dev"
    assert set(data["keys"]) == {"alice", "bob", "validator"}
    assert data["genesis_hash"].startswith("0x") and len(data["genesis_hash"]) == 66


def test_a_second_init_exits_1_saying_already_initialised(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["init", "--home", str(tmp_path / "h")]) == 0
    capsys.readouterr()
    assert main(["init", "--home", str(tmp_path / "h")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "already initialised" in err


def test_init_with_a_bad_chain_id_exits_1_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["init", "--home", str(tmp_path / "h"), "--chain-id", "Bad Id"]) == 1
    assert "chain id" in capsys.readouterr().err
    assert not (tmp_path / "h").exists()


def test_keys_new_list_and_show(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    home = ["--home", str(tmp_path)]
    assert main(["keys", "new", "carol", *home]) == 0
    assert "created key carol" in capsys.readouterr().out
    assert main(["keys", "list", *home]) == 0
    assert capsys.readouterr().out.startswith("carol ")
    assert main(["keys", "show", "carol", *home, "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["name"] == "carol" and shown["encrypted"] is False
    assert main(["keys", "list", *home, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == [shown]


def test_keys_list_of_an_empty_store_says_no_keys(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["keys", "list", "--home", str(tmp_path)]) == 0
    assert capsys.readouterr().out.strip() == "no keys"


def test_keys_new_with_a_passphrase_file_makes_an_encrypted_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pw = tmp_path / "pw"
    pw.write_text("s3cret\n")
    assert main(["keys", "new", "enc", "--home", str(tmp_path), "--passphrase-file", str(pw), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["encrypted"] is True


def test_keys_new_of_an_existing_name_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["keys", "new", "dup", "--home", str(tmp_path)]) == 0
    assert main(["keys", "new", "dup", "--home", str(tmp_path)]) == 1
    assert "already exists" in capsys.readouterr().err


def test_keys_new_with_an_invalid_name_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["keys", "new", "../evil", "--home", str(tmp_path)]) == 1
    assert "invalid key name" in capsys.readouterr().err


def test_keys_show_of_an_unknown_name_exits_1_naming_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["keys", "show", "nobody", "--home", str(tmp_path)]) == 1
    assert "error: no key named 'nobody'" in capsys.readouterr().err


def test_keys_new_with_a_missing_passphrase_file_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["keys", "new", "k", "--home", str(tmp_path), "--passphrase-file", str(tmp_path / "absent")]) == 1
    assert "cannot read passphrase file" in capsys.readouterr().err


# -- against the node ---------------------------------------------------------------------------------------------------
def test_status_prints_the_chain(cli: Cli) -> None:
    code, out, _ = cli("status")
    assert code == 0 and "trellis-dev" in out
    assert cli.json("status")["chain_id"] == "trellis-dev"


def test_without_node_the_cli_uses_the_api_address_in_the_home_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], threaded_node: ThreadedNode
) -> None:
    port = int(threaded_node.url.rsplit(":", 1)[1])
    (tmp_path / "config.toml").write_text(render_config(NodeConfig(api=ApiSection(host="0.0.0.0", port=port))))
    assert main(["status", "--home", str(tmp_path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["chain_id"] == "trellis-dev"


def test_tx_send_transfer_waits_for_the_commit_and_reports_ok(cli: Cli) -> None:
    code, out, err = cli("tx", "send", "transfer", "--from", "alice", "--to", "bob", "--amount", "25")
    assert code == 0, err
    assert "committed at height" in out and "result: ok" in out


def test_tx_send_json_output_parses_and_shows_the_receipt(cli: Cli) -> None:
    res = cli.json("tx", "send", "transfer", "--from", "alice", "--to", "bob", "--amount", "1", "--memo", "hi")
    assert res["status"] == "committed"
    assert res["receipt"]["code"] == 0
    assert res["tx"]["body"]["memo"] == "hi"


def test_tx_send_kv_put_commits_and_query_kv_shows_it(cli: Cli) -> None:
    code, out, err = cli(
        "tx", "send", "kv-put", "--from", "alice", "--namespace", "cli", "--key", "greeting", "--value", "hello"
    )
    assert code == 0, err
    code, out, _ = cli("query", "kv", "cli", "greeting")
    assert code == 0
    assert "value hello" in out
    alice = cli.json("keys", "show", "alice")["address"]
    assert cli.json("query", "kv", "cli", "greeting")["owner"] == alice


def test_tx_send_kv_put_with_a_value_file(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "v").write_bytes(b"\x00\x01binary")
    res = cli.json(
        "tx",
        "send",
        "kv-put",
        "--from",
        "alice",
        "--namespace",
        "cli",
        "--key",
        "file",
        "--value-file",
        str(tmp_path / "v"),
    )
    assert res["receipt"]["code"] == 0
    assert cli.json("query", "kv", "cli", "file")["value"] == "0x" + b"\x00\x01binary".hex()


def test_query_kv_of_a_key_with_url_special_characters(cli: Cli) -> None:
    key = "a b/c?d#e%f"
    code, _, err = cli("tx", "send", "kv-put", "--from", "alice", "--namespace", "cli", "--key", key, "--value", "odd")
    assert code == 0, err
    code, out, err = cli("query", "kv", "cli", key)
    assert code == 0, err
    assert "value odd" in out


def test_tx_status_and_query_tx_show_the_committed_transaction(cli: Cli) -> None:
    sent = cli.json("tx", "send", "transfer", "--from", "alice", "--to", "bob", "--amount", "2")
    code, out, _ = cli("tx", "status", sent["hash"])
    assert code == 0
    assert "status  committed" in out and "result  ok" in out and "event   transfer" in out
    assert cli.json("query", "tx", sent["hash"]) == cli.json("tx", "status", sent["hash"])


def test_tx_send_without_wait_returns_pending_or_committed(cli: Cli) -> None:
    res = cli.json("tx", "send", "transfer", "--from", "alice", "--to", "bob", "--amount", "1", "--no-wait")
    assert res["status"] in ("pending", "committed")
    assert cli.json("tx", "status", res["hash"], "--wait", "20")["status"] == "committed"


def test_query_block_shows_the_block_of_a_transaction(cli: Cli) -> None:
    sent = cli.json("tx", "send", "transfer", "--from", "alice", "--to", "bob", "--amount", "3")
    code, out, _ = cli("query", "block", str(sent["height"]))
    assert code == 0
    assert f"block {sent['height']}" in out and f"tx {sent['hash']}" in out and "commit        1 signature(s)" in out
    block = cli.json("query", "block", str(sent["height"]))
    assert [t["hash"] for t in block["txs"]] == [sent["hash"]]
    assert cli.json("query", "block", "latest")["header"]["height"] >= sent["height"]


def test_query_account_lists_the_full_history(cli: Cli) -> None:
    before = cli.json("query", "account", "bob")
    sent = [
        cli.json("tx", "send", "transfer", "--from", "alice", "--to", "bob", "--amount", "1")["hash"] for _ in range(3)
    ]
    after = cli.json("query", "account", "bob")
    assert len(after["history"]) == len(before["history"]) + 3
    assert [t["hash"] for t in after["history"][-3:]] == sent
    assert after["balance"] == before["balance"] + 3
    code, out, _ = cli("query", "account", "bob")
    assert code == 0
    assert f"history  {len(after['history'])} transaction(s)" in out
    for h in sent:
        assert h in out


def test_query_account_accepts_an_address(cli: Cli) -> None:
    bob = cli.json("keys", "show", "bob")["address"]
    assert cli.json("query", "account", bob)["address"] == bob
    assert cli.json("query", "account", bob[2:])["address"] == bob


def test_query_state_prove_prints_verified(cli: Cli) -> None:
    cli.json("tx", "send", "transfer", "--from", "alice", "--to", "bob", "--amount", "1")
    code, out, err = cli("query", "state", "account:bob", "--prove")
    assert code == 0, err
    assert "proof  verified: inclusion" in out
    res = cli.json("query", "state", "account:bob", "--prove")
    assert res["verified"] is True


def test_query_state_prove_of_an_absent_key_verifies_non_inclusion(cli: Cli) -> None:
    cli.json("tx", "send", "transfer", "--from", "alice", "--to", "bob", "--amount", "1")
    code, out, err = cli("query", "state", "kv:nowhere:nothing", "--prove")
    assert code == 0, err
    assert "value  (absent)" in out and "proof  verified: non-inclusion" in out


def test_query_state_prove_at_an_older_height(cli: Cli) -> None:
    first = cli.json(
        "tx", "send", "kv-put", "--from", "alice", "--namespace", "cli", "--key", "versioned", "--value", "v1"
    )
    cli.json("tx", "send", "kv-put", "--from", "alice", "--namespace", "cli", "--key", "versioned", "--value", "v2")
    old = cli.json("query", "state", "kv:cli:versioned", "--prove", "--height", str(first["height"]))
    assert old["verified"] is True and old["height"] == first["height"]
    new = cli.json("query", "state", "kv:cli:versioned", "--prove")
    assert new["value"] != old["value"]


def test_query_state_of_a_raw_hex_key(cli: Cli) -> None:
    bob = cli.json("keys", "show", "bob")["address"]
    raw_key = "0x" + (b"acct/" + bytes.fromhex(bob[2:])).hex()
    assert cli.json("query", "state", raw_key)["value"] == cli.json("query", "state", "account:bob")["value"]


# -- errors --------------------------------------------------------------------------------------------------------------
def test_tx_send_from_an_unknown_key_exits_1_naming_it(cli: Cli) -> None:
    code, _, err = cli("tx", "send", "transfer", "--from", "nobody", "--to", "bob", "--amount", "1")
    assert code == 1
    assert err.startswith("error: ") and "'nobody'" in err


def test_tx_send_to_an_unknown_name_exits_1(cli: Cli) -> None:
    code, _, err = cli("tx", "send", "transfer", "--from", "alice", "--to", "nobody", "--amount", "1")
    assert code == 1
    assert "'nobody' is neither an address" in err


def test_an_unreachable_node_exits_1_saying_so(cli: Cli, threaded_node: ThreadedNode) -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    for argv in (["status"], ["tx", "send", "transfer", "--from", "alice", "--to", "bob", "--amount", "1"]):
        code, _, err = cli(*argv, "--node", url, node=False)
        assert code == 1
        assert err.startswith("error: unreachable: cannot reach the node at " + url)


def test_a_node_url_that_is_not_a_url_exits_1(cli: Cli) -> None:
    code, _, err = cli("status", "--node", "not-a-url", node=False)
    assert code == 1
    assert err.startswith("error: ") and "not-a-url" in err


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ("nothex", "is not a state key"),
        ("0x", "the state key is empty"),
        ("kv:ns", "kv:NAMESPACE:KEY"),
        ("kv::k", "kv:NAMESPACE:KEY"),
        ("account:nobody", "neither an address"),
    ],
)
def test_a_bad_state_key_spec_exits_1_saying_why(cli: Cli, spec: str, says: str) -> None:
    code, _, err = cli("query", "state", spec)
    assert code == 1
    assert err.startswith("error: ") and says in err


def test_a_transaction_that_fails_in_execution_exits_1_with_its_code(cli: Cli, tmp_path: Path) -> None:
    # a fresh key has no funds: the transfer commits, and fails with insufficient funds (code 1)
    assert main(["keys", "new", "pauper", "--home", str(cli.node.root)]) == 0
    code, out, _ = cli("tx", "send", "transfer", "--from", "pauper", "--to", "bob", "--amount", "5")
    assert code == 1
    assert "FAILED code 1" in out


def test_a_refused_transaction_exits_1_with_the_node_code(cli: Cli) -> None:
    code, _, err = cli("tx", "send", "transfer", "--from", "alice", "--to", "bob", "--amount", "1", "--nonce", "0")
    assert code == 1
    assert "error: nonce_replayed:" in err


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["transfer", "--to", "bob"], "needs --to and --amount"),
        (["transfer", "--to", "bob", "--amount", "0"], "positive"),
        (["kv-put", "--namespace", "n"], "needs --namespace and --key"),
        (["kv-put", "--namespace", "n", "--key", "k"], "--value"),
        (["transfer", "--to", "bob", "--amount", str(2**64)], "out of range"),
    ],
)
def test_tx_send_with_bad_arguments_exits_1_saying_why(cli: Cli, argv: list[str], says: str) -> None:
    code, _, err = cli("tx", "send", *argv, "--from", "alice")
    assert code == 1
    assert says in err


def test_tx_send_with_a_missing_value_file_exits_1(cli: Cli, tmp_path: Path) -> None:
    code, _, err = cli(
        "tx",
        "send",
        "kv-put",
        "--from",
        "alice",
        "--namespace",
        "n",
        "--key",
        "k",
        "--value-file",
        str(tmp_path / "absent"),
    )
    assert code == 1
    assert err.startswith("error: ") and "absent" in err


def test_query_tx_of_an_unknown_or_malformed_hash_exits_1(cli: Cli) -> None:
    code, _, err = cli("query", "tx", "ab" * 32)
    assert code == 1 and "error: not_found:" in err
    code, _, err = cli("query", "tx", "nothex")
    assert code == 1 and "error: bad_hash:" in err
    code, _, err = cli("query", "tx", "has space")
    assert code == 1 and "error: bad_hash:" in err


def test_query_block_of_a_missing_height_exits_1(cli: Cli) -> None:
    code, _, err = cli("query", "block", "999999")
    assert code == 1 and "error: not_found:" in err


def test_an_encrypted_key_signs_with_its_passphrase_file(cli: Cli, tmp_path: Path) -> None:
    pw = tmp_path / "pw"
    pw.write_text("pass phrase\n")
    assert main(["keys", "new", "locked", "--home", str(cli.node.root), "--passphrase-file", str(pw)]) == 0
    code, _, err = cli(
        "tx", "send", "kv-put", "--from", "locked", "--namespace", "cli", "--key", "locked", "--value", "x"
    )
    assert code == 1 and "passphrase is needed" in err
    code, out, err = cli(
        "tx",
        "send",
        "kv-put",
        "--from",
        "locked",
        "--namespace",
        "cli",
        "--key",
        "locked",
        "--value",
        "x",
        "--passphrase-file",
        str(pw),
    )
    assert code == 0, err
    assert "result: ok" in out
