"""``trellis did create|resolve|update|deactivate`` against a real node on a local port."""

from __future__ import annotations

import json

import pytest

from trellis.cli.main import main

from .conftest import ThreadedNode


def run_cli(capsys: pytest.CaptureFixture[str], node: ThreadedNode, *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main([*argv, "--home", str(node.root), "--node", node.url])
    out, err = capsys.readouterr()
    return code, out, err


def test_did_create_update_resolve_and_deactivate(
    capsys: pytest.CaptureFixture[str], threaded_node: ThreadedNode
) -> None:
    code, out, err = run_cli(capsys, threaded_node, "did", "create", "--from", "alice", "--json")
    assert code == 0, err
    did = json.loads(out)["did"]
    assert did.startswith("did:trellis:")

    code, out, err = run_cli(
        capsys, threaded_node, "did", "update", did, "--from", "alice", "--key", "alice", "--key", "bob"
    )
    assert code == 0, err

    code, out, _ = run_cli(capsys, threaded_node, "did", "resolve", did)
    res = json.loads(out)
    assert code == 0 and res["didDocumentMetadata"]["versionId"] == "2"
    assert len(res["didDocument"]["verificationMethod"]) == 2

    code, out, _ = run_cli(capsys, threaded_node, "did", "resolve", did, "--version-id", "1")
    assert json.loads(out)["didDocumentMetadata"]["nextVersionId"] == "2"

    code, out, err = run_cli(capsys, threaded_node, "did", "deactivate", did, "--from", "bob")
    assert code == 0, err
    code, out, _ = run_cli(capsys, threaded_node, "did", "resolve", did)
    assert code == 0 and json.loads(out)["didDocumentMetadata"]["deactivated"] is True

    code, out, err = run_cli(capsys, threaded_node, "did", "update", did, "--from", "alice", "--key", "alice")
    assert code == 1 and "FAILED code 19" in out


def test_did_resolve_of_a_malformed_did_exits_1_with_invalid_did(
    capsys: pytest.CaptureFixture[str], threaded_node: ThreadedNode
) -> None:
    code, out, _ = run_cli(capsys, threaded_node, "did", "resolve", "did:trellis:nope")
    assert code == 1 and json.loads(out)["didResolutionMetadata"]["error"] == "invalidDid"
