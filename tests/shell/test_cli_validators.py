"""``trellis validators ...`` against a real node (``trellis init``: one validator, power 10, owned by org0, the only
organisation, so one admin's proposal applies at once), and ``trellis net add-node``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from trellis.cli.main import main
from trellis.core.codec import decode
from trellis.core.modules.membership.messages import MembershipChange
from trellis.core.modules.validators.messages import AddValidator, RemoveValidator, SetValidatorPower
from trellis.core.params import load_genesis
from trellis.keys.certs import node_id_of_cert
from trellis.keys.signer import KeyStore
from trellis.node.config import load_config
from trellis.node.home import init_home
from trellis.node.network import add_node, init_network, load_network

from .conftest import ThreadedNode, serve_new_home
from .conftest import run_cli as _run
from .conftest import run_cli_json as _json


@pytest.fixture(scope="module")
def vnode(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedNode]:
    yield from serve_new_home(tmp_path_factory, "validators-home")


def _change(res: dict[str, Any]) -> MembershipChange:
    payload = res["tx"]["body"]["payload"]
    assert payload["type"] == "membership.propose"
    return decode(bytes.fromhex(payload["change"][2:]), MembershipChange)  # type: ignore[arg-type]


def _effective_height(res: dict[str, Any]) -> int:
    (changed,) = [e for e in res["receipt"]["events"] if e["type"] == "validators.changed"]
    return int(changed["attributes"]["effective_height"])


def test_list_shows_the_genesis_set_with_its_org(vnode: ThreadedNode, capsys: pytest.CaptureFixture[str]) -> None:
    s = _json(capsys, vnode, "validators", "list")
    assert s["effective_height"] == 1 and s["total_power"] == 10
    (v,) = s["validators"]
    assert v["org"] == "org0" and v["power"] == 10
    code, out, _ = _run(capsys, vnode, "validators", "list", "--height", "1")
    assert code == 0 and "org org0" in out and "total power 10" in out


def test_add_set_power_remove_through_governance(vnode: ThreadedNode, capsys: pytest.CaptureFixture[str]) -> None:
    certs = vnode.root / "certs"
    assert _run(capsys, vnode, "certs", "issue", "--org", "org0", "--role", "admin", "--key", "alice")[0] == 0
    assert _json(capsys, vnode, "certs", "register", "--from", "alice", "--cert", str(certs / "alice.crt"))
    bob = KeyStore(vnode.root / "keys").info("bob")
    admin = ("--from", "alice")

    add = ("validators", "add", "--name", "newbie", "--public-key", bob.public_key.hex(), "--power", "1")
    res = _json(capsys, vnode, *add, "--org", "org0", *admin)
    assert res["receipt"]["code"] == 0, res["receipt"]
    assert res["tx"]["body"]["payload"]["type"] == "membership.propose"
    assert _change(res) == AddValidator(public_key=bob.public_key, power=1, name="newbie", org="org0")
    e = _effective_height(res)
    assert e == res["height"] + 2
    s = _json(capsys, vnode, "validators", "list", "--height", str(e))
    assert {v["name"]: (v["power"], v["org"]) for v in s["validators"]} == {
        "validator-0": (10, "org0"),
        "newbie": (1, "org0"),
    }
    assert _json(capsys, vnode, "validators", "list", "--height", str(e - 1))["total_power"] == 10

    # Removed by name at once: the newbie is only in the newest decided set, set(tip + 2).
    assert _json(capsys, vnode, "validators", "list")["total_power"] == 10
    res = _json(capsys, vnode, "validators", "remove", "--name", "newbie", *admin)
    assert res["receipt"]["code"] == 0 and _change(res) == RemoveValidator(address=bob.address)
    s = _json(capsys, vnode, "validators", "list", "--height", str(_effective_height(res)))
    assert [v["name"] for v in s["validators"]] == ["validator-0"]

    v0 = s["validators"][0]["address"]
    res = _json(capsys, vnode, "validators", "set-power", "--address", v0, "--power", "11", *admin)
    assert res["receipt"]["code"] == 0
    assert _change(res) == SetValidatorPower(address=bytes.fromhex(v0[2:]), power=11)
    s = _json(capsys, vnode, "validators", "list", "--height", str(_effective_height(res)))
    assert {v["name"]: v["power"] for v in s["validators"]} == {"validator-0": 11}

    # One third: a step may change at most floor(11 / 3) = 3 of the power (the chain refuses, the CLI exits 1).
    code, out, _ = _run(capsys, vnode, *add[:-1], "4", "--org", "org0", *admin)
    assert code == 1 and "FAILED code 16" in out and "at most" in out


def test_approve_sends_membership_approve(vnode: ThreadedNode, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, vnode, "validators", "approve", "999999", "--from", "alice", "--json")
    res = json.loads(out)
    assert code == 1 and res["tx"]["body"]["payload"] == {"type": "membership.approve", "proposal_id": 999999}
    assert res["receipt"]["code"] != 0


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("validators", "list", "--height", "0"), "--height must be at least 1"),
        (("validators", "list", "--height", "99999999"), "unknown_height"),
        (
            ("validators", "add", "--name", "x", "--public-key", "zz", "--power", "1", "--org", "org0"),
            "--public-key must be hex",
        ),
        (("validators", "add", "--name", "x", "--public-key", "00" * 32, "--power", "0", "--org", "o"), "--power"),
        (("validators", "set-power", "--address", "0x1234", "--power", "2"), "--address must be 20 bytes"),
        (("validators", "set-power", "--address", "00" * 20, "--power", str(2**40 + 1)), "--power"),
        (("validators", "remove", "--name", "nobody"), "no validator named 'nobody'"),
        (("validators", "approve", "-1"), "not negative"),
    ],
)
def test_bad_arguments_are_refused_before_sending(
    vnode: ThreadedNode, capsys: pytest.CaptureFixture[str], argv: tuple[str, ...], message: str
) -> None:
    sends = argv[1] != "list"
    code, _, err = _run(capsys, vnode, *argv, *(("--from", "alice") if sends else ()))
    assert code == 1 and message in err, err


# -- net add-node -------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def net2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("net-add-node")
    init_network(root, 2, api_port=18680, p2p_port=36656)
    return root


def test_net_init_gives_each_genesis_validator_its_org(net2: Path) -> None:
    genesis = load_genesis((net2 / "node0" / "genesis.json").read_bytes())
    assert [(v.name, v.org) for v in genesis.genesis.validators] == [("node0", "org0"), ("node1", "org1")]


def test_init_home_gives_its_validator_org0(tmp_path: Path) -> None:
    init_home(tmp_path)
    (v,) = load_genesis((tmp_path / "genesis.json").read_bytes()).genesis.validators
    assert v.org == "org0"


def test_net_add_node_makes_a_joining_home_beside_the_network(net2: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["net", "add-node", "--home", str(net2), "--org", "org1", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    home = net2 / "node2"
    assert out["name"] == "node2" and Path(out["home"]) == home and out["org"] == "org1"
    # Its own validator key, printed.
    key = KeyStore(home / "keys").info("validator")
    assert out["public_key"] == key.public_key.hex() and out["address"] == key.address.hex()
    others = {KeyStore(net2 / n / "keys").info("validator").public_key for n in ("node0", "node1")}
    assert key.public_key not in others
    # The network's genesis, unchanged.
    assert (home / "genesis.json").read_bytes() == (net2 / "node0" / "genesis.json").read_bytes()
    # A node TLS certificate for node2, issued by org1's CA.
    cert_pem = (home / "tls" / "node.crt").read_bytes()
    assert node_id_of_cert(cert_pem) == "node2"
    cert = x509.load_pem_x509_certificate(cert_pem)
    ca = x509.load_pem_x509_certificate((net2 / "orgs" / "org1" / "ca.crt").read_bytes())
    assert cert.issuer == ca.subject
    cert.verify_directly_issued_by(ca)
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "org1"
    assert (home / "tls" / "node.key").stat().st_mode & 0o077 == 0
    # Peers: every existing node; ports one above the network's highest.
    cfg = load_config(home / "config.toml")
    assert sorted(cfg.p2p.peers) == ["node0@127.0.0.1:36656", "node1@127.0.0.1:36657"]
    assert (
        (cfg.p2p.node_id, cfg.p2p.port, cfg.api.port)
        == ("node2", 36658, 18682)
        == (
            "node2",
            out["p2p_port"],
            int(out["api"].rsplit(":", 1)[1]),
        )
    )
    assert [n.name for n in load_network(net2)] == ["node0", "node1", "node2"]
    # A second one takes the next name and ports, and peers with node2 too.
    assert main(["net", "add-node", "--home", str(net2), "--org", "org0"]) == 0
    text = capsys.readouterr().out
    assert "added node3 (org org0)" in text and "validator public key" in text
    assert "node2@127.0.0.1:36658" in load_config(net2 / "node3" / "config.toml").p2p.peers


def test_net_add_node_refuses_an_unknown_org_and_a_missing_network(
    net2: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    before = sorted(p.name for p in net2.iterdir())
    assert main(["net", "add-node", "--home", str(net2), "--org", "org9"]) == 1
    err = capsys.readouterr().err
    assert "no organisation 'org9'" in err and "org0, org1" in err
    assert sorted(p.name for p in net2.iterdir()) == before
    assert main(["net", "add-node", "--home", str(tmp_path), "--org", "org0"]) == 1
    assert "network.json" in capsys.readouterr().err


def test_net_add_node_takes_ports_above_the_highest_in_use(tmp_path: Path) -> None:
    init_network(tmp_path, 2, api_port=18780, p2p_port=36756)
    cfg_path = tmp_path / "node0" / "config.toml"
    cfg_path.write_text(
        cfg_path.read_text().replace("port = 36756", "port = 40000").replace("port = 18780", "port = 19000")
    )
    assert load_config(cfg_path).p2p.port == 40000
    added = add_node(tmp_path, "org0")
    cfg = load_config(added.node.home / "config.toml")
    assert (cfg.p2p.port, cfg.api.port) == (40001, 19001)
    assert "node0@127.0.0.1:40000" in cfg.p2p.peers
