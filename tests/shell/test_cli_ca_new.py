"""``trellis certs ca-new``: a new organisation CA that ``certs propose add-ca`` puts on chain and that
``certs issue --ca-dir`` issues with (the README's membership example, end to end on a permissioned node)."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import ThreadedNode, serve_new_home
from .conftest import run_cli as _run
from .conftest import run_cli_json as _json


@pytest.fixture(scope="module")
def pnode(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedNode]:
    yield from serve_new_home(tmp_path_factory, "ca-new-home", permissioned=True)


def test_a_new_ca_is_proposed_with_add_ca_and_issues_certificates(
    pnode: ThreadedNode, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    ca_dir = tmp_path / "org0-ca-2"
    made = _json(capsys, pnode, "certs", "ca-new", "--org", "org0", "--out", str(ca_dir))
    assert made["cert"] == str(ca_dir / "ca.crt")
    assert stat.S_IMODE((ca_dir / "ca.key").stat().st_mode) == 0o600

    before = len(_json(capsys, pnode, "certs", "membership")["orgs"][0]["ca_fingerprints"])
    alice_crt = pnode.root / "certs" / "alice.crt"
    _run(capsys, pnode, "certs", "issue", "--org", "org0", "--role", "admin", "--key", "alice")
    _json(capsys, pnode, "certs", "register", "--from", "alice", "--cert", str(alice_crt))
    _json(
        capsys,
        pnode,
        "certs",
        "propose",
        "add-ca",
        "--org",
        "org0",
        "--ca-cert",
        str(ca_dir / "ca.crt"),
        "--from",
        "alice",
    )
    after = _json(capsys, pnode, "certs", "membership")["orgs"][0]["ca_fingerprints"]
    assert len(after) == before + 1

    # the new CA issues, and the chain takes its certificates
    bob_crt = tmp_path / "bob.crt"
    code, _, err = _run(
        capsys,
        pnode,
        "certs",
        "issue",
        "--org",
        "org0",
        "--role",
        "client",
        "--key",
        "bob",
        "--ca-dir",
        str(ca_dir),
        "--out",
        str(bob_crt),
    )
    assert code == 0, err
    _json(capsys, pnode, "certs", "register", "--from", "bob", "--cert", str(bob_crt))


def test_ca_new_never_overwrites_a_ca(pnode: ThreadedNode, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    ca_dir = tmp_path / "ca"
    assert _run(capsys, pnode, "certs", "ca-new", "--org", "org9", "--out", str(ca_dir))[0] == 0
    key = (ca_dir / "ca.key").read_bytes()
    code, _, err = _run(capsys, pnode, "certs", "ca-new", "--org", "org9", "--out", str(ca_dir))
    assert code == 1 and "exists: not overwriting" in err
    assert (ca_dir / "ca.key").read_bytes() == key
