"""Four validator processes of a chain created with ``trellis net init --suite sm``: votes and transactions are
SM2-signed and every hash is SM3; transfers and contract calls commit on every node, sent directly and through
the CLI, and an Ed25519-signed transaction is refused."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from trellis.app.modules.contracts import toolchain
from trellis.core.crypto.suite import SM
from trellis.core.ledger.tx import tx_hash
from trellis.core.modules.accounts.messages import Transfer
from trellis.keys.signer import KeyStore, MemorySigner
from trellis.node.network import free_port_range

from .harness import Network, NodeProcess, signed, trellis_cmd

pytestmark = pytest.mark.e2e


class SmNetwork(Network):
    """``n`` validators initialised with ``trellis net init --suite sm`` (short timeouts for tests)."""

    def __init__(self, root: Path, n: int = 4) -> None:
        api = free_port_range(n)
        p2p = free_port_range(n, avoid=api)
        args = ["--home", str(root), "--validators", str(n), "--api-port", str(api), "--p2p-port", str(p2p)]
        subprocess.run(trellis_cmd("net", "init", *args, "--suite", "sm"), check=True, capture_output=True)
        self.nodes = []
        for i in range(n):
            cfg = root / f"node{i}" / "config.toml"
            text = cfg.read_text().replace("propose_timeout_ms = 3000", "propose_timeout_ms = 800")
            cfg.write_text(text.replace("empty_block_interval_ms = 1000", "empty_block_interval_ms = 300"))
            self.nodes.append(NodeProcess(root / f"node{i}", api + i))
        ks = KeyStore(root / "node0" / "keys")
        self.alice = ks.signer("alice")
        self.bob = ks.info("bob").address
        self.alice_addr = ks.info("alice").address
        self.chain_id = "trellis-dev"

    def send(self, via: int, amount: int) -> str:
        node = self.nodes[via]
        nonce = node.http.get(f"/v1/accounts/0x{self.alice_addr.hex()}")[1]["next_nonce"]
        raw, _ = signed(self.alice, self.chain_id, nonce, Transfer(to=self.bob, amount=amount))
        status, body = node.http.post_tx(raw)
        assert status == 202, body
        return "0x" + tx_hash(SM, raw).hex()


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SmNetwork]:
    network = SmNetwork(tmp_path_factory.mktemp("sm") / "net")
    try:
        network.start_all()
        yield network
    finally:
        network.stop_all()


def test_every_node_reports_the_sm_suite(net: SmNetwork) -> None:
    for node in net.nodes:
        assert node.http.get("/v1/status")[1]["suite"] == "sm"
    assert net.alice.suite is SM and len(net.alice.public_key) == 65


def test_sm2_signed_transfers_commit_and_every_node_has_the_same_ledger(net: SmNetwork) -> None:
    net.wait_height([0, 1, 2, 3], 2, 60)
    committed = [net.wait_committed(i % 4, net.send(i % 4, i + 1)) for i in range(4)]
    assert all(st["receipt"]["code"] == 0 for st in committed)
    top = max(st["height"] for st in committed)
    net.wait_height([0, 1, 2, 3], top, 30)
    net.assert_same_ledgers([0, 1, 2, 3], top)
    for st in committed:
        for node in net.nodes:
            status, other = node.http.get(f"/v1/txs/{st['hash']}")
            assert status == 200 and (other["height"], other["index"]) == (st["height"], st["index"])


def test_a_transfer_sent_with_the_cli_commits(net: SmNetwork) -> None:
    home = net.nodes[1].home
    res = subprocess.run(
        trellis_cmd(
            "tx", "send", "transfer", "--from", "alice", "--to", "bob", "--amount", "3", "--home", str(home), "--json"
        ),
        check=True,
        capture_output=True,
    )
    out = json.loads(res.stdout)
    assert out["status"] == "committed" and out["receipt"]["code"] == 0


def test_an_ed25519_signed_transaction_is_refused(net: SmNetwork) -> None:
    ed = MemorySigner(b"\x11" * 32)
    raw, _ = signed(ed, net.chain_id, 0, Transfer(to=net.bob, amount=1))
    status, body = net.nodes[0].http.post_tx(raw)
    assert status == 400, body
    assert body["code"] == "malformed"


def _cli(home: Path, *args: str) -> Any:
    res = subprocess.run(trellis_cmd(*args, "--home", str(home), "--json"), capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, f"trellis {' '.join(args)} failed: {res.stderr or res.stdout}"
    return json.loads(res.stdout)


def test_a_contract_is_deployed_and_called_with_sm2_signed_transactions(net: SmNetwork) -> None:
    wasm = toolchain.build(toolchain.CONTRACTS_DIR / "examples" / "token").wasm_path
    home = net.nodes[0].home
    bob = "0x" + net.bob.hex()
    deployed = _cli(home, "contract", "deploy", str(wasm), "SM Token", "SMT", "1000", "--from", "alice")
    assert deployed["receipt"]["code"] == 0, deployed
    token = str(deployed["receipt"]["data"])
    assert _cli(home, "contract", "call", token, "transfer", bob, "40", "--from", "alice")["returned"] == {"ok": True}
    assert _cli(home, "contract", "query", token, "balanceOf", bob)["returned"] == {"balance": 40}
    height = net.heights([0])[0]
    net.wait_height([0, 1, 2, 3], height, 60)
    net.assert_same_ledgers([0, 1, 2, 3], height)
