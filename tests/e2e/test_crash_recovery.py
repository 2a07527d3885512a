"""A node killed with SIGKILL at arbitrary moments under load restarts at its last committed block, and every
transaction it acknowledged as committed is still there, at the same place, under the same state roots."""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path

import pytest

from trellis.core.crypto.suite import ED25519
from trellis.core.ledger.tx import tx_hash
from trellis.core.modules.accounts.messages import Transfer
from trellis.core.modules.kv.messages import KvPut
from trellis.keys.signer import KeyStore

from .harness import NodeProcess, free_port, init_home, signed

pytestmark = pytest.mark.e2e


class Load:
    """Submits transfers (alice -> bob) and kv writes (bob) as fast as the node takes them, in a thread."""

    def __init__(self, node: NodeProcess, home: Path, chain_id: str) -> None:
        ks = KeyStore(home / "keys")
        self.alice = ks.signer("alice")
        self.bob = ks.signer("bob")
        self.bob_addr = ks.info("bob").address
        self.node = node
        self.chain_id = chain_id
        self.stop = threading.Event()
        self.submitted: list[bytes] = []
        self.counter = 0

    def next_nonces(self) -> tuple[int, int]:
        a = self.node.http.get(f"/v1/accounts/0x{KeyStore(self.node.home / 'keys').info('alice').address.hex()}")[1]
        b = self.node.http.get(f"/v1/accounts/0x{self.bob_addr.hex()}")[1]
        return int(a["next_nonce"]), int(b["next_nonce"])

    def run(self) -> None:
        na, nb = self.next_nonces()
        while not self.stop.is_set():
            self.counter += 1
            if self.counter % 2:
                raw, _ = signed(self.alice, self.chain_id, na, Transfer(to=self.bob_addr, amount=1))
            else:
                raw, _ = signed(
                    self.bob,
                    self.chain_id,
                    nb,
                    KvPut(namespace="load", key=b"k%d" % (self.counter % 50), value=b"v%d" % self.counter),
                )
            try:
                status, _ = self.node.http.post_tx(raw, timeout=2.0)
            except OSError:
                return  # the node was killed
            if status == 202:
                self.submitted.append(tx_hash(ED25519, raw))
                if self.counter % 2:
                    na += 1
                else:
                    nb += 1
            else:
                return


def observe_committed(node: NodeProcess, since: int, upto: int) -> dict[int, tuple[str, str, list[str]]]:
    """Read blocks (since, upto] from the API: height -> (block id, state root, tx hashes)."""
    out = {}
    for h in range(since + 1, upto + 1):
        status, b = node.http.get(f"/v1/blocks/{h}")
        assert status == 200, b
        out[h] = (b["block_id"], b["header"]["state_root"], [t["hash"] for t in b["txs"]])
    return out


def test_sigkill_under_load_loses_no_acknowledged_commit(tmp_path: Path) -> None:
    home = tmp_path / "home"
    port = free_port()
    init_home(home, port)
    node = NodeProcess(home, port)
    rng = random.Random(20261126)
    acknowledged: dict[int, tuple[str, str, list[str]]] = {}
    try:
        node.start()
        chain_id = node.http.get("/v1/status")[1]["chain_id"]
        for _cycle in range(3):
            load = Load(node, home, chain_id)
            t = threading.Thread(target=load.run, daemon=True)
            t.start()
            # Let the load run a while, acknowledging commits as the API reports them, then kill at a random
            # instant (most likely while a block is being built, executed or written).
            deadline = time.monotonic() + rng.uniform(1.0, 2.5)
            seen = max(acknowledged, default=0)
            while time.monotonic() < deadline:
                h = node.height()
                acknowledged.update(observe_committed(node, seen, h))
                seen = h
            node.kill()
            load.stop.set()
            t.join(timeout=10)
            node.start()
            # Every acknowledged block and transaction is still there, unchanged.
            assert node.height() >= max(acknowledged)
            for h, (block_id, state_root, txs) in acknowledged.items():
                status, b = node.http.get(f"/v1/blocks/{h}")
                assert status == 200
                assert b["block_id"] == block_id
                assert b["header"]["state_root"] == state_root
                assert [x["hash"] for x in b["txs"]] == txs
            committed_txs = [(h, i, x) for h, (_, _, txs) in acknowledged.items() for i, x in enumerate(txs)]
            for h, i, x in rng.sample(committed_txs, min(200, len(committed_txs))):
                status, st = node.http.get(f"/v1/txs/{x}")
                assert status == 200 and st["status"] == "committed"
                assert (st["height"], st["index"]) == (h, i)
        total = sum(len(v[2]) for v in acknowledged.values())
        print(f"acknowledged {total} transactions in {len(acknowledged)} blocks")
        assert total > 50, "the load did not commit enough transactions"
        # The chain carries on after the last restart, and nonces continue from committed state.
        ks = KeyStore(home / "keys")
        alice = ks.signer("alice")
        nonce = node.http.get(f"/v1/accounts/0x{ks.info('alice').address.hex()}")[1]["next_nonce"]
        raw, _ = signed(alice, chain_id, nonce, Transfer(to=ks.info("bob").address, amount=7))
        status, _ = node.http.post_tx(raw)
        assert status == 202
        status, st = node.http.get(f"/v1/txs/0x{tx_hash(ED25519, raw).hex()}?wait=10")
        assert st["status"] == "committed" and st["receipt"]["code"] == 0
        assert node.stop() == 0
    finally:
        if node.proc is not None and node.proc.poll() is None:
            node.proc.kill()
