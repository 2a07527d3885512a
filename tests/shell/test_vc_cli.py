"""``trellis vc ...`` against a real node on a local port: authorise, status-create, issue, present, verify,
revoke (the verifier refuses from the next block on), suspend and lift."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from trellis.core.crypto.suite import ED25519, address_of
from trellis.node.home import init_home
from trellis.vc.multibase import multikey_encode

from .conftest import ThreadedNode, node_config
from .conftest import run_cli as _run


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
    _ok(run("vc", "status-create", "--list", "uni", "--issuer", uni, "--from", "alice"))
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
    code, out, _ = run("vc", "revoke", "--list", "uni", "--index", "131072", "--from", "alice")
    assert code == 1 and "out of range" in out


def _did_create(run: Any, key: str) -> str:
    code, out, err = run("did", "create", "--from", key, "--json")
    assert code == 0, (out, err)
    did: str = json.loads(out)["did"]
    return did


def test_the_readme_walkthrough_with_did_trellis_issuer_and_holder(
    vnode: ThreadedNode, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from trellis.vc.proofs import split_proof, verify_proof
    from trellis.vc.status import decode_list

    run: Any = lambda *a: _run(capsys, vnode, *a)  # noqa: E731
    uni, student = _did_create(run, "alice"), _did_create(run, "bob")
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
    _ok(run("vc", "status-create", "--list", "uni-walk", "--issuer", uni, "--from", "alice"))
    wallet, vp, sl = tmp_path / "wallet.json", tmp_path / "vp.json", tmp_path / "status.json"
    subject = {"id": student, "degree": {"type": "BachelorDegree", "name": "BSc"}, "name": "Bob", "grade": "A"}
    issue = ["vc", "issue", "--issuer", uni, "--type", "UniversityDegreeCredential", "--subject", json.dumps(subject)]
    issue += ["--disclose", "name,grade", "--status-list", "uni-walk", "--status-index", "42"]
    issue += ["--status-base", "https://university.example", "--out", str(wallet)]
    _ok(run(*issue, "--key", "alice"))
    cred = json.loads(wallet.read_text())["credential"]
    status_url = "https://university.example/v1/status-lists/uni-walk"
    assert cred["credentialStatus"]["statusListCredential"] == status_url
    present = ["vc", "present", str(wallet), "--key", "bob", "--holder", student, "--reveal", "grade"]
    _ok(run(*present, "--challenge", "c1", "--domain", "d.example", "--out", str(vp)))
    assert "VERIFIED" in _ok(run("vc", "verify", str(vp), "--challenge", "c1", "--domain", "d.example"))
    publish = ["vc", "status-publish", "--list", "uni-walk", "--issuer", uni, "--key", "alice"]
    _ok(run(*publish, "--url", status_url, "--out", str(sl)))
    signed = json.loads(sl.read_text())
    assert signed["id"] == status_url and signed["issuer"] == uni
    unsecured, proof = split_proof(signed)
    from trellis.keys.signer import KeyStore

    verify_proof(unsecured, proof, KeyStore(vnode.root / "keys", ED25519).signer("alice", None).public_key)
    assert decode_list(signed["credentialSubject"]["encodedList"]) == bytes(131072 // 8)
    _ok(run("vc", "revoke", "--list", "uni-walk", "--index", "42", "--from", "alice"))
    code, out, _ = run("vc", "verify", str(vp), "--challenge", "c1", "--domain", "d.example")
    assert code == 1 and "revoked" in out
    # A key that is not in the issuer's DID is refused at issue time, before anything is signed.
    code, out, err = run(*issue[:-1], str(tmp_path / "forged.json"), "--key", "bob")
    assert code == 1 and not (tmp_path / "forged.json").exists()
    assert f"key 'bob' is not the key of {uni}#key-1" in err


def test_issue_refuses_a_key_that_is_not_the_issuers(vnode: ThreadedNode, capsys: pytest.CaptureFixture[str]) -> None:
    uni = _did_key(vnode, "alice")
    subject = json.dumps({"id": "did:example:x", "degree": {"type": "BachelorDegree", "name": "BSc"}})
    args = ["vc", "issue", "--issuer", uni, "--vm", f"{uni}#{uni[8:]}", "--type", "UniversityDegreeCredential"]
    code, out, err = _run(capsys, vnode, *args, "--subject", subject, "--key", "bob")
    assert code == 1 and "key 'bob' is not the key of" in err, (out, err)
    code, out, err = _run(capsys, vnode, *args[:-4], "--type", "X", "--subject", subject, "--key", "alice")
    assert code == 1 and f"{uni} has no verification method 'key-1'" in err, (out, err)
    chain_id = json.loads((vnode.root / "genesis.json").read_text())["chain_id"]
    unknown = f"did:trellis:{chain_id}:{'ab' * 16}"
    args = ["vc", "issue", "--issuer", unknown, "--type", "X", "--subject", subject, "--key", "alice"]
    code, out, err = _run(capsys, vnode, *args)
    assert code == 1 and f"{unknown} is not registered" in err, (out, err)


def test_issue_says_when_the_subject_is_not_json(vnode: ThreadedNode, capsys: pytest.CaptureFixture[str]) -> None:
    uni = _did_key(vnode, "alice")
    for bad in ("not json", "{not json", "[1, 2]"):
        args = ["vc", "issue", "--issuer", uni, "--type", "X", "--key", "alice", "--subject", bad]
        code, out, err = _run(capsys, vnode, *args)
        assert code == 1 and "--subject" in err and "Traceback" not in err, (bad, out, err)
        assert len(err.strip().splitlines()) == 1, err
    assert "neither JSON" in _run(capsys, vnode, *args[:-1], "not json")[2]


def test_a_status_list_below_16_kib_is_refused_by_the_cli(
    vnode: ThreadedNode, capsys: pytest.CaptureFixture[str]
) -> None:
    uni = _did_key(vnode, "alice")
    code, _, err = _run(
        capsys, vnode, "vc", "status-create", "--list", "tiny", "--issuer", uni, "--size", "1024", "--from", "alice"
    )
    assert code == 1 and "at least 131072" in err


class _FakeResolverClient:
    """Answers the DID resolver's route with one fixed DID document."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc

    def get(self, path: str) -> dict[str, Any]:
        assert path.startswith("/1.0/identifiers/")
        return {"didDocument": self.doc}


def test_a_method_not_listed_for_the_purpose_or_of_another_did_is_refused_before_signing() -> None:
    from trellis.cli import main as cli
    from trellis.cli.vc import _check_signing_key

    signer = type("S", (), {"public_key": bytes(range(32))})()
    did = "did:trellis:test:" + "ab" * 16
    vm = f"{did}#key-1"
    doc = {
        "id": did,
        "verificationMethod": [{"id": vm, "publicKeyMultibase": multikey_encode("ed25519", signer.public_key)}],
        "authentication": [vm],
        "assertionMethod": [],
    }
    client: Any = _FakeResolverClient(doc)
    _check_signing_key(client, signer, "k", did, vm, "authentication")  # listed: accepted
    with pytest.raises(cli.CliError, match="is not an assertionMethod method of"):
        _check_signing_key(client, signer, "k", did, vm, "assertionMethod")
    other = "did:trellis:test:" + "cd" * 16
    with pytest.raises(cli.CliError, match=f"--vm {vm} is not a verification method of {other}"):
        _check_signing_key(client, signer, "k", other, vm, "authentication")
