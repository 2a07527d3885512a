"""SM2 keys in the file keystore (our own documented format: 0600, optional scrypt + SM4-GCM encryption), and
homes, networks and the CLI of a chain created with ``--suite sm``."""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from trellis.cli.main import main
from trellis.core.crypto.sm import sm2_verify
from trellis.core.crypto.suite import ED25519, SM, address_of
from trellis.keys.signer import KeyStore, KeyStoreError, MemorySigner
from trellis.node.home import Home, HomeError, init_home
from trellis.node.network import init_network

from .conftest import ThreadedNode, node_config

STD_D = bytes.fromhex("3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8")
STD_PUB_HEX = (
    "04"
    "09f9df311e5421a150dd7d161e4bc5c672179fad1833fc076bb08ff356f35020"
    "ccea490ce26775a52dc6ea718cc1aa600aed05fbf35e084a6632f6072da9ad13"
)


@pytest.fixture
def ks(tmp_path: Path) -> KeyStore:
    return KeyStore(tmp_path / "keys", SM)


# -- the keystore ----------------------------------------------------------------------------------------------


def test_an_sm_keystore_creates_sm2_keys_with_sm3_addresses(ks: KeyStore) -> None:
    info = ks.create("alice")
    assert info.suite == "sm"
    assert len(info.public_key) == 65 and info.public_key[0] == 4
    assert info.address == address_of(SM, info.public_key)
    assert ks.info("alice") == info


def test_an_sm2_key_signs_signatures_that_verify_with_sm2(ks: KeyStore) -> None:
    info = ks.create("alice")
    signer = ks.signer("alice")
    assert signer.suite is SM and signer.public_key == info.public_key
    assert sm2_verify(info.public_key, b"msg", signer.sign(b"msg"))


def test_an_sm2_key_imported_from_its_scalar_is_that_key(ks: KeyStore) -> None:
    info = ks.create("std", seed=STD_D)
    assert info.public_key.hex() == STD_PUB_HEX
    assert ks.signer("std").public_key == MemorySigner(STD_D, SM).public_key


def test_an_sm2_scalar_out_of_range_is_refused(ks: KeyStore) -> None:
    with pytest.raises(KeyStoreError, match="cannot import key"):
        ks.create("zero", seed=b"\x00" * 32)
    assert not (ks.directory / "zero.pem").exists()


def test_sm2_key_files_are_readable_by_the_owner_only(ks: KeyStore) -> None:
    info = ks.create("alice")
    assert stat.S_IMODE(info.path.stat().st_mode) == 0o600


def test_an_unencrypted_sm2_key_file_is_our_armoured_json(ks: KeyStore) -> None:
    info = ks.create("std", seed=STD_D)
    lines = info.path.read_text().splitlines()
    assert lines[0] == "-----BEGIN TRELLIS SM2 PRIVATE KEY-----"
    assert lines[2] == "-----END TRELLIS SM2 PRIVATE KEY-----"
    body = json.loads(lines[1])
    assert body == {"version": 1, "suite": "sm", "public_key": STD_PUB_HEX, "secret": STD_D.hex()}


def test_an_encrypted_sm2_key_file_holds_no_plaintext_secret(ks: KeyStore) -> None:
    info = ks.create("std", passphrase=b"correct horse", seed=STD_D)
    text = info.path.read_text()
    assert info.encrypted
    assert text.startswith("-----BEGIN TRELLIS ENCRYPTED SM2 PRIVATE KEY-----")
    assert STD_D.hex() not in text.lower() and "correct horse" not in text
    body = json.loads(text.splitlines()[1])
    assert (body["kdf"], body["aead"]) == ("scrypt", "sm4-gcm")
    assert "secret" not in body


def test_an_encrypted_sm2_key_opens_with_its_passphrase(ks: KeyStore) -> None:
    ks.create("std", passphrase=b"pw", seed=STD_D)
    assert ks.signer("std", b"pw").public_key.hex() == STD_PUB_HEX


def test_an_encrypted_sm2_key_without_a_passphrase_says_one_is_needed(ks: KeyStore) -> None:
    ks.create("k", passphrase=b"pw")
    with pytest.raises(KeyStoreError, match="a passphrase is needed"):
        ks.signer("k")


def test_an_encrypted_sm2_key_with_the_wrong_passphrase_is_refused(ks: KeyStore) -> None:
    ks.create("k", passphrase=b"pw")
    with pytest.raises(KeyStoreError, match="wrong passphrase or damaged file"):
        ks.signer("k", b"not pw")


def test_a_passphrase_for_an_unencrypted_sm2_key_is_refused(ks: KeyStore) -> None:
    ks.create("k")
    with pytest.raises(KeyStoreError, match="not encrypted"):
        ks.signer("k", b"pw")


def test_an_encrypted_sm2_key_whose_public_key_was_swapped_does_not_open(ks: KeyStore) -> None:
    info = ks.create("k", passphrase=b"pw")
    other = ks.create("other").public_key.hex()
    lines = info.path.read_text().splitlines()
    body = json.loads(lines[1])
    body["public_key"] = other
    info.path.write_text("\n".join([lines[0], json.dumps(body), lines[2]]) + "\n")
    with pytest.raises(KeyStoreError, match="wrong passphrase or damaged file"):
        ks.signer("k", b"pw")


@pytest.mark.parametrize(
    "damage",
    [
        lambda t: t.replace("-----END TRELLIS SM2 PRIVATE KEY-----", ""),
        lambda t: t.replace('"version": 1', '"version": 2'),
        lambda t: t.replace('"secret": "', '"secret": "zz'),
        lambda t: t[:-20],
    ],
)
def test_a_damaged_sm2_key_file_is_refused(ks: KeyStore, damage: object) -> None:
    info = ks.create("k", seed=STD_D)
    info.path.write_text(damage(info.path.read_text()))  # type: ignore[operator]
    with pytest.raises(KeyStoreError, match="damaged SM2 key file"):
        ks.signer("k")


def test_an_sm2_secret_that_does_not_match_its_public_key_is_refused(ks: KeyStore) -> None:
    info = ks.create("k", seed=STD_D)
    info.path.write_text(info.path.read_text().replace(STD_D.hex(), (b"\x01" * 32).hex()))
    with pytest.raises(KeyStoreError, match="does not match"):
        ks.signer("k")


def test_one_store_holds_keys_of_both_suites_each_read_in_its_own(tmp_path: Path) -> None:
    ks = KeyStore(tmp_path / "keys", ED25519)
    ed = ks.create("ed")
    sm = ks.create("sm", suite=SM)
    assert (ed.suite, sm.suite) == ("ed25519", "sm")
    assert (ks.suite_of("ed"), ks.suite_of("sm")) == (ED25519, SM)
    assert [k.name for k in ks.list()] == ["ed", "sm"]
    assert ks.signer("ed").suite is ED25519 and ks.signer("sm").suite is SM


def test_the_sm_signer_repr_does_not_contain_the_secret(ks: KeyStore) -> None:
    ks.create("std", seed=STD_D)
    assert STD_D.hex() not in repr(ks.signer("std")).lower()


# -- homes and networks --------------------------------------------------------------------------------------


def test_init_home_with_the_sm_suite_makes_sm_keys_and_an_sm_genesis(tmp_path: Path) -> None:
    home = init_home(tmp_path / "home", suite="sm")
    params = home.load_params()
    assert params.suite is SM
    assert {k.suite for k in home.keys.list()} == {"sm"}
    val = home.keys.info("validator")
    assert params.validators.validators[0].public_key == val.public_key
    assert params.mint_authority == home.keys.info("alice").address


def test_init_home_with_an_unknown_suite_is_refused_and_writes_nothing(tmp_path: Path) -> None:
    with pytest.raises(HomeError, match="unknown crypto suite"):
        init_home(tmp_path / "home", suite="rsa")
    assert not (tmp_path / "home").exists()


def test_init_network_with_the_sm_suite_gives_every_node_sm_keys_and_one_sm_genesis(tmp_path: Path) -> None:
    nodes = init_network(tmp_path / "net", 2, api_port=20000, p2p_port=21000, suite="sm")
    geneses = {(n.home / "genesis.json").read_bytes() for n in nodes}
    assert len(geneses) == 1
    params = Home(nodes[0].home).load_params()
    assert params.suite is SM
    for n in nodes:
        ks = KeyStore(n.home / "keys")
        assert {k.suite for k in ks.list()} == {"sm"}
    vals = {v.public_key for v in params.validators.validators}
    assert vals == {KeyStore(n.home / "keys").info("validator").public_key for n in nodes}


def test_cli_init_with_suite_sm_reports_the_suite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["init", "--home", str(tmp_path / "h"), "--suite", "sm", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["suite"] == "sm"
    assert Home(tmp_path / "h").load_params().suite is SM


def test_cli_keys_new_in_an_sm_home_makes_an_sm_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    home = ["--home", str(tmp_path / "h")]
    assert main(["init", *home, "--suite", "sm"]) == 0
    capsys.readouterr()
    assert main(["keys", "new", "carol", *home, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    info = KeyStore(tmp_path / "h" / "keys").info("carol")
    assert info.suite == "sm"
    assert data["address"] == "0x" + info.address.hex()


def test_cli_net_init_with_suite_sm(tmp_path: Path) -> None:
    assert main(["net", "init", "--home", str(tmp_path / "n"), "--validators", "2", "--suite", "sm"]) == 0
    assert Home(tmp_path / "n" / "node0").load_params().suite is SM


# -- a running sm node through the CLI -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sm_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedNode]:
    root = tmp_path_factory.mktemp("sm-home")
    init_home(root, suite="sm")
    KeyStore(root / "keys").create("edkey", suite=ED25519)
    tn = ThreadedNode(root, node_config())
    try:
        yield tn
    finally:
        tn.close()


def _cli(node: ThreadedNode, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main([*argv, "--home", str(node.root), "--node", node.url])
    out, err = capsys.readouterr()
    return code, out, err


def test_the_status_of_an_sm_node_names_its_suite(sm_node: ThreadedNode, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _cli(sm_node, capsys, "status", "--json")
    assert code == 0, err
    assert json.loads(out)["suite"] == "sm"


def test_an_sm_node_commits_an_sm2_signed_transfer_sent_by_the_cli(
    sm_node: ThreadedNode, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _cli(sm_node, capsys, "tx", "send", "transfer", "--from", "alice", "--to", "bob", "--amount", "7")
    assert code == 0, err
    assert "committed at height" in out and "result: ok" in out


def test_the_cli_refuses_to_send_with_an_ed25519_key_to_an_sm_chain(
    sm_node: ThreadedNode, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _cli(sm_node, capsys, "tx", "send", "transfer", "--from", "edkey", "--to", "bob", "--amount", "1")
    assert code == 1
    assert "is a ed25519 key; this chain uses the sm suite" in err
