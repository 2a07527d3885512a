"""The README's command examples, run as written (with the placeholders filled in) against a real node."""

from __future__ import annotations

import json
import os
import shlex
import shutil
from pathlib import Path

import pytest

from trellis.cli.main import main

from .conftest import ThreadedNode

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"


def readme_commands(heading: str) -> list[list[str]]:
    """The ``trellis ...`` lines of the first ``sh`` block after ``heading`` in the README, split as a shell
    would (comments dropped)."""
    text = README.read_text()
    start = text.index(heading)
    block = text[text.index("```sh\n", start) + len("```sh\n") :]
    block = block[: block.index("```")]
    return [shlex.split(line, comments=True) for line in block.splitlines() if line.startswith("trellis ")]


# In CI (`make test` installs the contract toolchain first) this never skips: a missing Node.js fails it.
@pytest.mark.skipif(
    shutil.which("node") is None and not os.environ.get("CI"),
    reason="compiling a contract needs Node.js (make contracts-toolchain)",
)
def test_the_readme_contract_example_runs_as_written(
    capsys: pytest.CaptureFixture[str], threaded_node: ThreadedNode, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)  # the README's paths are relative to the repository
    commands = readme_commands("### Contracts")
    assert [c[:3] for c in commands][:3] == [
        ["trellis", "contract", "build"],
        ["trellis", "contract", "deploy"],
        ["trellis", "contract", "call"],
    ]
    address = ""
    wasm = ""
    outputs: dict[str, str] = {}
    for argv in commands:
        argv = [a.replace("0x<address>", address) for a in argv]
        if argv[2] == "upgrade":
            argv = [wasm if a == "new.wasm" else a for a in argv]  # an upgrade to the same code
        capsys.readouterr()
        code = main([*argv[1:], "--home", str(threaded_node.root), "--node", threaded_node.url])
        out, err = capsys.readouterr()
        assert code == 0, f"{shlex.join(argv)}\n{out}{err}"
        outputs[argv[2]] = out
        if argv[2] == "build":
            wasm = out.split()[1]
        if argv[2] == "deploy":
            address = out.split()[1]
            assert address.startswith("0x") and len(address) == 42
    assert 'returned: {"ok": true}' in outputs["call"]
    assert json.loads(outputs["query"]) == {"balance": 250}


def test_a_key_name_for_an_address_argument_that_is_no_key_is_refused(
    capsys: pytest.CaptureFixture[str], threaded_node: ThreadedNode, tmp_path: Path
) -> None:
    abi = tmp_path / "token.abi.json"
    shutil.copy(ROOT / "contracts/examples/token/token.abi.json", abi)
    capsys.readouterr()
    code = main(
        [
            "contract",
            "query",
            "ab" * 20,
            "balanceOf",
            "nobody",
            "--abi",
            str(abi),
            "--home",
            str(threaded_node.root),
            "--node",
            threaded_node.url,
        ]
    )
    assert code == 1 and "'nobody' is neither an address" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["query", "call"])
def test_a_contract_command_on_an_address_without_a_contract_says_no_contract(
    capsys: pytest.CaptureFixture[str], threaded_node: ThreadedNode, command: str
) -> None:
    # No ABI is known for the address: before, this said "no ABI for this contract".
    extra = ["--from", "alice"] if command == "call" else []
    capsys.readouterr()
    code = main(
        [
            "contract",
            command,
            "cd" * 20,
            "balanceOf",
            "bob",
            *extra,
            "--home",
            str(threaded_node.root),
            "--node",
            threaded_node.url,
        ]
    )
    err = capsys.readouterr().err
    assert code == 1 and err == f"error: no contract at 0x{'cd' * 20}\n"


def test_the_readme_notary_example_runs_as_written_in_the_default_home(
    capsys: pytest.CaptureFixture[str], threaded_node: ThreadedNode, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The user's directory after `trellis init`: the default home ./.trellis, and the files to anchor.
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TRELLIS_HOME", raising=False)
    (tmp_path / ".trellis").symlink_to(threaded_node.root)
    (tmp_path / "report.pdf").write_bytes(b"%PDF-1.7 report")
    (tmp_path / "scan.png").write_bytes(b"\x89PNG scan")
    commands = [c for c in readme_commands("### Notarization") if c[1] == "notary"]
    assert [c[2] for c in commands] == ["anchor", "verify"]
    for argv in commands:
        capsys.readouterr()
        code = main([*argv[1:], "--node", threaded_node.url])
        out, err = capsys.readouterr()
        assert code == 0, f"{shlex.join(argv)}\n{out}{err}"
    assert out.startswith("VALID: anchored at height ")
