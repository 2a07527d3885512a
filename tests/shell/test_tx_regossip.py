"""Re-sending a node's own uncommitted transactions (ADR 0018 section 4, observers): a flush reaches only the peers
connected at that moment, so a node that does not propose sends its uncommitted transactions again to each peer
that connects and periodically (bounded per tick, oldest first, skipping what left the mempool); a validator does
so too, less often. A re-sent batch a peer already holds gets its missing transactions admitted. The mempool
evicts transactions older than its age bound, with the sender's later ones."""

from __future__ import annotations

import dataclasses

import pytest

from trellis.abci import CheckedTx
from trellis.app.application import TrellisApp
from trellis.core.crypto.suite import ED25519
from trellis.core.ledger.tx import tx_hash
from trellis.node import consensus_driver
from trellis.node.consensus_driver import REGOSSIP_TICKS_FOLLOWER, REGOSSIP_TICKS_VALIDATOR
from trellis.node.mempool import Mempool
from trellis.node.wire import BatchMsg
from trellis.storage.chain_store import ChainStore
from trellis.storage.kv import MemoryStore

from .test_consensus_driver import SOLO, VALIDATORS, Harness, kv_tx, make_node, make_params, submit

GOSSIP_MS = 500  # make_node's gossip interval
PAIR = make_params(VALIDATORS[:2])  # two validators: one alone never commits
FIRST_ROUND_MS = (REGOSSIP_TICKS_FOLLOWER + 1) * GOSSIP_MS - 10
"""From the first flush (5 ms after start; the harness then stands at 10 ms) to the tick of the first re-send."""


def _resent(node: Harness) -> list[list[bytes]]:
    """The batches broadcast after the first flush of each transaction."""
    return [list(m.txs) for m in node.net.broadcast_of(BatchMsg)]


def _observer_with(n: int) -> tuple[Harness, list[CheckedTx]]:
    node = make_node(params=PAIR, signer=None)
    node.driver.start()
    txs = [submit(node, kv_tx(i)) for i in range(n)]
    node.timers.advance(10)  # the first flush, to no peer
    node.net.broadcasts.clear()
    return node, txs


def test_an_observer_re_sends_an_uncommitted_transaction_periodically_not_every_tick() -> None:
    node, [tx] = _observer_with(1)  # flushed 5 ms after start; gossip ticks every 500 ms from start
    interval = REGOSSIP_TICKS_FOLLOWER * GOSSIP_MS
    node.timers.advance(interval - 10)  # the tick at 2000 ms: 1995 ms since it was sent
    assert _resent(node) == []
    node.timers.advance(GOSSIP_MS)  # the tick at 2500 ms
    assert _resent(node) == [[tx.raw]]
    node.timers.advance(interval - GOSSIP_MS - 1)
    assert _resent(node) == [[tx.raw]]  # not again before another interval
    node.timers.advance(GOSSIP_MS + 1)  # the tick at 4500 ms
    assert _resent(node) == [[tx.raw], [tx.raw]]
    assert node.driver.stats.txs_regossiped == 2


def test_a_committed_transaction_is_not_re_sent() -> None:
    node, [tx] = _observer_with(1)
    node.mempool.remove_committed([tx.hash])
    node.timers.advance(3 * REGOSSIP_TICKS_FOLLOWER * GOSSIP_MS)
    assert _resent(node) == []


def test_re_sends_are_bounded_per_tick_and_go_oldest_first(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(consensus_driver, "REGOSSIP_MAX_TXS", 3)
    node, txs = _observer_with(7)
    node.timers.advance(FIRST_ROUND_MS)
    assert _resent(node) == [[t.raw for t in txs[:3]]]
    node.timers.advance(GOSSIP_MS)
    node.timers.advance(GOSSIP_MS)
    assert _resent(node) == [[t.raw for t in txs[i : i + 3]] for i in (0, 3, 6)]


def test_re_sends_are_bounded_in_bytes_but_carry_at_least_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(consensus_driver, "REGOSSIP_MAX_BYTES", 1)
    node, txs = _observer_with(2)
    node.timers.advance(FIRST_ROUND_MS)
    assert _resent(node) == [[txs[0].raw]]
    node.timers.advance(GOSSIP_MS)
    assert _resent(node) == [[txs[0].raw], [txs[1].raw]]


def test_a_connecting_peer_gets_the_uncommitted_transactions_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(consensus_driver, "REGOSSIP_MAX_TXS", 2)
    node, txs = _observer_with(3)
    node.mempool.remove_committed([txs[0].hash])
    node.driver.on_peer_connected("validator-1")
    assert [list(m.txs) for m in node.net.sent_to("validator-1", BatchMsg)] == [[txs[1].raw, txs[2].raw]]
    assert _resent(node) == []  # to that peer only


def test_a_validator_re_sends_its_own_uncommitted_transactions_but_less_often() -> None:
    node = make_node(params=PAIR, signer=VALIDATORS[0])
    node.driver.start()
    tx = submit(node, kv_tx(0))
    node.timers.advance(10)
    node.net.broadcasts.clear()
    node.timers.advance(REGOSSIP_TICKS_VALIDATOR * GOSSIP_MS - 10)
    assert [m for m in _resent(node) if tx.raw in m] == []
    node.timers.advance(GOSSIP_MS)
    assert [m for m in _resent(node) if tx.raw in m] == [[tx.raw]]
    assert node.height == 0  # the other validator never voted: it was never committed


def test_a_re_sent_batch_already_held_gets_its_missing_transactions_admitted() -> None:
    node = make_node(params=PAIR, signer=None)
    node.driver.start()
    first, second = kv_tx(0), kv_tx(1)
    node.frame(BatchMsg(txs=[second]))  # refused: a nonce gap; the batch is held all the same
    assert tx_hash(ED25519, second) not in node.mempool
    node.frame(BatchMsg(txs=[first]))
    node.timers.advance(GOSSIP_MS)
    node.frame(BatchMsg(txs=[second]))  # the sender re-sends it: the same batch, now admissible
    assert tx_hash(ED25519, second) in node.mempool


# -- the mempool's age bound ----------------------------------------------------------------------------------
def test_the_mempool_evicts_transactions_older_than_its_bound_with_the_senders_later_ones() -> None:
    app = TrellisApp(SOLO, ChainStore(MemoryStore()))
    now = [0]
    pool = Mempool(app.account_nonce, max_txs=100, max_bytes=1 << 20, max_age_ms=1000, now_ms=lambda: now[0])
    a = [app.check_tx(kv_tx(i)) for i in range(3)]
    pool.add(a[0])
    now[0] = 600
    pool.add(a[1])
    assert pool.expire() == []
    now[0] = 1000
    pool.add(a[2])
    assert pool.expire() == a  # the oldest reached the bound; its sender's later nonces could never commit
    assert len(pool) == 0 and pool.size_bytes == 0
    pool.add(a[0])  # the sender starts again from its committed nonce
    assert pool.next_nonce(a[0].sender) == 1


def test_a_mempool_without_an_age_bound_evicts_nothing() -> None:
    app = TrellisApp(SOLO, ChainStore(MemoryStore()))
    pool = Mempool(app.account_nonce, max_txs=100, max_bytes=1 << 20)
    pool.add(app.check_tx(kv_tx(0)))
    assert pool.expire() == [] and len(pool) == 1
    with pytest.raises(ValueError):
        Mempool(app.account_nonce, max_txs=1, max_bytes=1024, max_age_ms=1000)  # an age bound needs a clock


def test_the_driver_evicts_expired_transactions_on_its_gossip_tick() -> None:
    node = make_node(params=PAIR, signer=None)
    pool = Mempool(node.app.account_nonce, max_txs=100, max_bytes=1 << 20, max_age_ms=2000, now_ms=node.timers.now_ms)
    node.driver.mempool = pool
    node = dataclasses.replace(node, mempool=pool)
    node.driver.start()
    tx = submit(node, kv_tx(0))
    node.timers.advance(1500)
    assert tx.hash in node.mempool
    node.timers.advance(1000)
    assert tx.hash not in node.mempool
