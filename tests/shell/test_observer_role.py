"""Observer nodes (ADR 0018 section 4) without processes: ``[node] role = "observer"`` opens no signer (not even a
configured HSM), the node refuses a signer for an observer, and ``net init --observers`` / ``net add-node
--observer`` make homes with their own org-issued TLS certificates, every validator as a peer and listed by every
validator. The running behaviour (following, serving, forwarding, never signing) is in tests/e2e/test_observers.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import msgspec
import pytest
from cryptography import x509

from trellis.cli.main import main as cli_main
from trellis.keys.certs import node_id_of_cert
from trellis.keys.pkcs11 import HsmError
from trellis.keys.signer import KeyStore, KeyStoreError
from trellis.node.assembly import assemble_node
from trellis.node.clock import SystemClock
from trellis.node.config import ConfigError, NodeConfig, SignerSection, load_config
from trellis.node.network import add_node, init_network, load_network
from trellis.node.node import Node
from trellis.node.privval import PrivValidator
from trellis.node.wal import FileWal


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("obsnet") / "net"
    init_network(root, 2, observers=2, api_port=18680, p2p_port=28656)
    return root


def _hsm_config(root: Path, role: str) -> NodeConfig:
    """The home's configuration with a ``[signer]`` pkcs11 section whose module does not exist: opening it fails."""
    cfg = load_config(root / "config.toml")
    signer = SignerSection(
        kind="pkcs11", module=str(root / "libno-such-hsm.so"), token_label="t", key_label="k", pin_file="pin"
    )
    return msgspec.structs.replace(cfg, node=msgspec.structs.replace(cfg.node, role=role), signer=signer)


def test_an_observer_with_a_pkcs11_signer_section_never_opens_the_hsm(net: Path) -> None:
    home = net / "observer0"
    (home / "pin").write_text("1234\n")
    # The same section on a validator reaches the HSM (and fails: the module is not there) ...
    with pytest.raises(HsmError, match="no PKCS#11 module at"):
        assemble_node(home, _hsm_config(home, "validator"))
    # ... an observer never opens it: no signer, no vote WAL, an empty validator address.
    node = assemble_node(home, _hsm_config(home, "observer"))
    try:
        assert node.role == "observer"
        assert node.privval is None and node.validator_address == b""
        assert not (home / "data" / "consensus.wal").exists()
    finally:
        node.close()


def test_an_observer_opens_no_key_file_either(net: Path) -> None:
    home = net / "observer1"
    key = home / "keys" / "validator.pem"
    saved = key.read_bytes()
    key.write_bytes(b"not a key")  # a validator would fail to load it
    try:
        node = assemble_node(home)
        node.close()
        assert node.privval is None
        validator_cfg = load_config(home / "config.toml")
        validator_cfg = msgspec.structs.replace(
            validator_cfg, node=msgspec.structs.replace(validator_cfg.node, role="validator")
        )
        with pytest.raises(KeyStoreError, match="cannot open key 'validator'"):
            assemble_node(home, validator_cfg)
    finally:
        key.write_bytes(saved)


def test_a_node_refuses_a_signer_for_an_observer(net: Path) -> None:
    home = net / "observer0"
    node = assemble_node(home)
    try:
        signer = KeyStore(home / "keys").signer("validator")
        wal = FileWal(home / "data" / "refused.wal")
        privval = PrivValidator(node.params.suite, signer, wal)
        try:
            with pytest.raises(ValueError, match="observer node has no signer"):
                Node(node.params, node.config, node.blocks, node.app, privval, SystemClock())
        finally:
            privval.close()
    finally:
        node.close()


def test_an_observer_without_peers_is_refused(net: Path) -> None:
    home = net / "observer0"
    cfg = load_config(home / "config.toml")
    lonely = msgspec.structs.replace(cfg, p2p=msgspec.structs.replace(cfg.p2p, peers=[]))
    with pytest.raises(ConfigError, match=r"an observer follows validators: \[p2p\] peers"):
        assemble_node(home, lonely)


def test_net_init_observers_make_homes_with_org_certificates_and_both_way_peers(net: Path) -> None:
    nodes = load_network(net)
    assert [(n.name, n.role) for n in nodes] == [
        ("node0", "validator"),
        ("node1", "validator"),
        ("observer0", "observer"),
        ("observer1", "observer"),
    ]
    assert [n.api_url for n in nodes] == [f"http://127.0.0.1:{18680 + i}" for i in range(4)]
    for i, name in enumerate(("observer0", "observer1")):
        cfg = load_config(net / name / "config.toml")
        assert cfg.node.role == "observer" and cfg.p2p.node_id == name and cfg.p2p.port == 28658 + i
        assert cfg.p2p.peers == ["node0@127.0.0.1:28656", "node1@127.0.0.1:28657"]
        cert_pem = (net / name / "tls" / "node.crt").read_bytes()
        assert node_id_of_cert(cert_pem) == name
        cert = x509.load_pem_x509_certificate(cert_pem)
        ca = x509.load_pem_x509_certificate((net / "orgs" / f"org{i}" / "ca.crt").read_bytes())
        cert.verify_directly_issued_by(ca)  # its own certificate, from a member organisation's CA
        assert (net / name / "genesis.json").read_bytes() == (net / "node0" / "genesis.json").read_bytes()
    genesis = json.loads((net / "node0" / "genesis.json").read_text())
    assert [v["name"] for v in genesis["validators"]] == ["node0", "node1"]
    for i, name in enumerate(("node0", "node1")):
        cfg = load_config(net / name / "config.toml")
        assert cfg.node.role == "validator"
        assert cfg.p2p.peers == [
            f"node{1 - i}@127.0.0.1:{28657 - i}",
            "observer0@127.0.0.1:28658",
            "observer1@127.0.0.1:28659",
        ]


def test_net_init_without_observers_writes_what_it_always_wrote(tmp_path: Path) -> None:
    init_network(tmp_path / "net", 2, api_port=18680, p2p_port=28656)
    data = json.loads((tmp_path / "net" / "network.json").read_text())
    assert data["nodes"] == [
        {"name": "node0", "home": "node0", "api_url": "http://127.0.0.1:18680"},
        {"name": "node1", "home": "node1", "api_url": "http://127.0.0.1:18681"},
    ]
    assert load_config(tmp_path / "net" / "node0" / "config.toml").p2p.peers == ["node1@127.0.0.1:28657"]


def test_too_many_observers_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = cli_main(["net", "init", "--home", str(tmp_path / "net"), "--validators", "4", "--observers", "61"])
    assert code != 0
    assert "--observers must be between 0 and 60" in capsys.readouterr().err


def test_net_add_node_observer_is_listed_by_the_validators_whose_config_can_be_rewritten(tmp_path: Path) -> None:
    root = tmp_path / "net"
    init_network(root, 3, api_port=18680, p2p_port=28656)
    # node2 has a [notary] section, which config rendering does not carry: its file must not be rewritten.
    node2_cfg = root / "node2" / "config.toml"
    node2_text = node2_cfg.read_text() + '\n[notary]\ntsa_key = "tsa.key"\ntsa_cert = "tsa.crt"\ntsa_account = "x"\n'
    node2_cfg.write_text(node2_text)
    added = add_node(root, "org1", observer=True)
    assert added.node.name == "observer0" and added.node.role == "observer"
    assert added.peers_updated == ("node0", "node1") and added.peers_not_updated == ("node2",)
    assert node2_cfg.read_text() == node2_text
    cfg = load_config(added.node.home / "config.toml")
    assert cfg.node.role == "observer" and cfg.p2p.port == 28659 and cfg.api.port == 18683
    assert cfg.p2p.peers == [f"node{i}@127.0.0.1:{28656 + i}" for i in range(3)]
    assert load_config(root / "node0" / "config.toml").p2p.peers == [
        "node1@127.0.0.1:28657",
        "node2@127.0.0.1:28658",
        "observer0@127.0.0.1:28659",
    ]
    ca = x509.load_pem_x509_certificate((root / "orgs" / "org1" / "ca.crt").read_bytes())
    x509.load_pem_x509_certificate((added.node.home / "tls" / "node.crt").read_bytes()).verify_directly_issued_by(ca)
    # A second observer peers with the validators only, not with observer0.
    second = add_node(root, "org0", observer=True)
    assert second.node.name == "observer1"
    assert load_config(second.node.home / "config.toml").p2p.peers == cfg.p2p.peers
    assert [n.role for n in load_network(root)] == ["validator"] * 3 + ["observer"] * 2
