"""``trellis certs ...`` against a real permissioned node (``trellis init --permissioned``) on a local port."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .conftest import ThreadedNode, serve_new_home
from .conftest import run_cli as _run
from .conftest import run_cli_json as _json


@pytest.fixture(scope="module")
def pnode(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedNode]:
    yield from serve_new_home(tmp_path_factory, "permissioned-home", permissioned=True)


def test_issue_register_send_revoke_and_status(pnode: ThreadedNode, capsys: pytest.CaptureFixture[str]) -> None:
    certs = pnode.root / "certs"
    send = ("tx", "send", "transfer", "--to", "alice", "--amount", "1")

    code, _, err = _run(capsys, pnode, *send, "--from", "bob")
    assert code == 1 and "unknown_certificate" in err

    for key, role in (("alice", "admin"), ("bob", "client")):
        assert _run(capsys, pnode, "certs", "issue", "--org", "org0", "--role", role, "--key", key)[0] == 0
        res = _json(capsys, pnode, "certs", "register", "--from", key, "--cert", str(certs / f"{key}.crt"))
        assert res["receipt"]["code"] == 0
    assert _run(capsys, pnode, *send, "--from", "bob")[0] == 0

    # A client may not revoke; the admin of its organisation may.
    code, _, err = _run(capsys, pnode, "certs", "revoke", "--from", "bob", "--cert", str(certs / "alice.crt"))
    assert code == 1 and "role_not_permitted" in err
    res = _json(capsys, pnode, "certs", "revoke", "--from", "alice", "--cert", str(certs / "bob.crt"))
    assert res["receipt"]["code"] == 0
    code, _, err = _run(capsys, pnode, *send, "--from", "bob")
    assert code == 1 and "certificate_revoked" in err

    status = _json(capsys, pnode, "certs", "status")
    chain = {c["file"].rsplit("/", 1)[1]: c.get("chain") for c in status["certs"] if c["kind"] == "identity"}
    assert chain == {"alice.crt": "valid", "bob.crt": chain["bob.crt"]}
    assert chain["bob.crt"].startswith("certificate_revoked")
    code, out, _ = _run(capsys, pnode, "certs", "status", "--key", "bob")
    assert code == 0 and "on chain for bob" in out and "certificate_revoked" in out


def test_a_single_org_admin_changes_the_membership_alone(
    pnode: ThreadedNode, capsys: pytest.CaptureFixture[str]
) -> None:
    certs = pnode.root / "certs"
    if not (certs / "alice.crt").exists():  # run alone
        _run(capsys, pnode, "certs", "issue", "--org", "org0", "--role", "admin", "--key", "alice")
        _json(capsys, pnode, "certs", "register", "--from", "alice", "--cert", str(certs / "alice.crt"))
    res = _json(capsys, pnode, "certs", "propose", "set-threshold", "--threshold", "1", "--from", "alice")
    assert [e["type"] for e in res["receipt"]["events"]][-1] == "membership.changed"

    m = _json(capsys, pnode, "certs", "membership")
    assert m["proposals"][-1]["change_type"] == "set_threshold" and m["proposals"][-1]["applied_height"] is not None
    code, out, _ = _run(capsys, pnode, "certs", "membership")
    assert code == 0 and "org org0" in out and "set_threshold" in out
