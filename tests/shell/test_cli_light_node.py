"""``trellis light verify`` against a real node: the REST shapes it reads (``/v1/status``, ``/v1/blocks/{n}``,
``/v1/validators``, ``/v1/validators/changes``) are the node's, from genesis and skipping from a trusted header."""

from __future__ import annotations

import json

import pytest

from trellis.cli.main import main

from .conftest import ThreadedNode


def _light(capsys: pytest.CaptureFixture[str], node: ThreadedNode, *argv: str) -> tuple[int, dict]:
    capsys.readouterr()
    code = main(["light", "verify", "--json", "--home", str(node.root), "--node", node.url, *argv])
    return code, json.loads(capsys.readouterr().out)


def test_light_verify_of_the_tip_from_genesis_and_from_a_trusted_header(
    threaded_node: ThreadedNode, capsys: pytest.CaptureFixture[str]
) -> None:
    for _ in range(2):  # two committed transactions: at least two blocks
        args = ["did", "create", "--from", "alice", "--json", "--home", str(threaded_node.root)]
        assert main([*args, "--node", threaded_node.url]) == 0
    code, out = _light(capsys, threaded_node)
    assert code == 0 and out["verified"] and out["mode"] == "genesis" and out["height"] >= 2, out
    assert out["set_changes"] == 0
    tip = out["height"]
    code, first = _light(capsys, threaded_node, "--height", "1")
    assert code == 0 and first["height"] == 1
    code, out = _light(capsys, threaded_node, "--trusted", f"1:{first['block_id']}", "--height", str(tip))
    assert code == 0 and out["mode"] == "trusted" and out["height"] == tip and out["steps"] == [tip], out
