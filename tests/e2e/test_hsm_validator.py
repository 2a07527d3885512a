"""A validator whose key lives in SoftHSM2 takes part in consensus: four validator processes on 127.0.0.1,
one of them (node3) signing its proposals and votes inside a PKCS#11 token through ``[signer] kind =
"pkcs11"``. Its key is made with ``trellis keys hsm-new`` and written into every node's genesis before the
first start; its key file is deleted, so the token is the only place the key exists. Blocks commit with its
precommit signatures in their commit certificates, it proposes blocks in its turn, and the chain keeps
committing transactions."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import msgspec
import pytest

from trellis.core.crypto.suite import ED25519, address_of
from trellis.core.ledger.votes import PRECOMMIT, Vote, vote_signing_bytes
from trellis.keys.pkcs11 import DEFAULT_MODULE
from trellis.node.config import SignerSection, load_config
from trellis.node.home import write_config

from .harness import Network, trellis_cmd

# In CI (`make test` installs SoftHSM2 first) these tests never skip: a missing install step fails them.
SOFTHSM_ABSENT = shutil.which("softhsm2-util") is None or not Path(DEFAULT_MODULE).is_file()
pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        SOFTHSM_ABSENT and not os.environ.get("CI"),
        reason="SoftHSM2 is not installed (`make hsm-tools` installs Debian softhsm2)",
    ),
]

TOKEN = "validators"
KEY = "node3-validator"
PIN = "7391-user"
HSM_NODE = 3


def _softhsm_token(root: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A SoftHSM2 configuration of its own with one token; ``SOFTHSM2_CONF`` set for every child process.
    Returns the PIN file."""
    (root / "tokens").mkdir(parents=True)
    conf = root / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {root / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n")
    monkeypatch.setenv("SOFTHSM2_CONF", str(conf))
    subprocess.run(
        ["softhsm2-util", "--init-token", "--free", "--label", TOKEN, "--pin", PIN, "--so-pin", "so-" + PIN],
        check=True,
        capture_output=True,
    )
    pin_file = root / "user.pin"
    pin_file.write_text(PIN + "\n")
    pin_file.chmod(0o600)
    return pin_file


def _put_hsm_key_in_genesis(net: Network, node_name: str, public_key: bytes) -> None:
    """Replace ``node_name``'s validator key by ``public_key`` in every node's (identical) genesis file."""
    genesis = json.loads((net.nodes[0].home / "genesis.json").read_text())
    entries = [v for v in genesis["validators"] if v["name"] == node_name]
    assert len(entries) == 1, genesis["validators"]
    entries[0]["public_key"] = public_key.hex()
    text = json.dumps(genesis, indent=2) + "\n"
    for node in net.nodes:
        (node.home / "genesis.json").write_text(text)


@pytest.fixture
def net(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    pin_file = _softhsm_token(tmp_path / "softhsm", monkeypatch)
    network = Network(tmp_path / "net")
    made = subprocess.run(
        trellis_cmd("keys", "hsm-new", "--token", TOKEN, "--label", KEY, "--pin-file", str(pin_file), "--json"),
        check=True,
        capture_output=True,
        text=True,
    )
    public_key = bytes.fromhex(json.loads(made.stdout)["public_key"][2:])
    home = network.nodes[HSM_NODE].home
    _put_hsm_key_in_genesis(network, f"node{HSM_NODE}", public_key)
    for suffix in (".pem", ".pub"):
        (home / "keys" / f"validator{suffix}").unlink()  # the token holds the only copy of this key
    cfg = load_config(home / "config.toml")
    signer = SignerSection(kind="pkcs11", token_label=TOKEN, key_label=KEY, pin_file=str(pin_file))
    write_config(home / "config.toml", msgspec.structs.replace(cfg, signer=signer))
    network.hsm_public_key = public_key  # type: ignore[attr-defined]
    try:
        network.start_all()
        yield network
    finally:
        network.stop_all()


def _block(net: Network, via: int, height: int) -> dict:
    status, block = net.nodes[via].http.get(f"/v1/blocks/{height}")
    assert status == 200, block
    return block


def _verified_precommit_of(net: Network, block: dict, public_key: bytes) -> bool:
    """Whether ``block``'s commit certificate holds a precommit by ``public_key``'s validator (checked under
    the chain's Ed25519 rules)."""
    commit = block["commit"]
    if commit is None:
        return False
    address = "0x" + address_of(ED25519, public_key).hex()
    vote = Vote(
        chain_id=net.chain_id,
        kind=PRECOMMIT,
        height=commit["height"],
        round=commit["round"],
        block_hash=bytes.fromhex(commit["block_hash"][2:]),
    )
    for sig in commit["signatures"]:
        if sig["validator"] == address:
            assert ED25519.verify(public_key, vote_signing_bytes(vote), bytes.fromhex(sig["signature"][2:]))
            return True
    return False


def test_a_validator_whose_key_is_in_softhsm2_signs_commits_and_proposals(net: Network) -> None:
    public_key: bytes = net.hsm_public_key  # type: ignore[attr-defined]
    hsm_address = "0x" + address_of(ED25519, public_key).hex()
    # A commit certificate carries the first quorum of precommits to arrive, so on a loaded machine the HSM
    # validator's (started last, signing in the token) can miss several in a row: look over a growing window.
    for target in (6, 12, 24):
        net.wait_height([0, 1, 2, 3], target, 90)
        top = min(net.heights([0, 1, 2, 3]))
        blocks = [_block(net, 0, h) for h in range(1, top + 1)]
        signed = any(_verified_precommit_of(net, b, public_key) for b in blocks)
        proposed = any(b["header"]["proposer"] == hsm_address for b in blocks)
        if signed and proposed:
            break
    assert any(_verified_precommit_of(net, b, public_key) for b in blocks), f"no HSM precommit in 1..{top}"
    assert any(b["header"]["proposer"] == hsm_address for b in blocks), f"no HSM proposal in 1..{top}"
    committed = [net.wait_committed(HSM_NODE, net.send(HSM_NODE, 1 + i)) for i in range(3)]
    assert all(c["status"] == "committed" for c in committed)


def test_with_another_validator_down_every_commit_carries_the_hsm_validators_precommit(net: Network) -> None:
    public_key: bytes = net.hsm_public_key  # type: ignore[attr-defined]
    net.wait_height([0, 1, 2, 3], 2, 60)
    net.nodes[0].stop()
    # Three of four validators remain: a quorum needs all three, the HSM validator included.
    start = max(net.heights([1, 2, 3]))
    tx = net.wait_committed(1, net.send(1, 7))
    net.wait_height([1, 2, 3], max(start, tx["height"]) + 3, 90)
    top = min(net.heights([1, 2, 3]))
    for h in range(start + 1, top + 1):
        assert _verified_precommit_of(net, _block(net, 1, h), public_key), f"height {h}: no HSM precommit"
    net.assert_same_ledgers([1, 2, 3], top)
    assert PIN not in (net.nodes[HSM_NODE].home / "node.log").read_text()
