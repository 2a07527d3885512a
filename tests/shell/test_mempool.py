"""The mempool: nonce order per sender, duplicates, bounds, candidates and removal after a commit."""

from __future__ import annotations

import pytest

from trellis.core.errors import InvalidTransaction
from trellis.core.modules.accounts.messages import Transfer
from trellis.core.modules.kv.messages import KvPut
from trellis.node.mempool import Mempool

from .conftest import Actors, addr, checked


class Committed:
    """The committed nonces the mempool consults (what the application would answer)."""

    def __init__(self) -> None:
        self.nonces: dict[bytes, int] = {}

    def __call__(self, address: bytes) -> int:
        return self.nonces.get(address, 0)


@pytest.fixture
def committed() -> Committed:
    return Committed()


@pytest.fixture
def pool(committed: Committed) -> Mempool:
    return Mempool(committed, max_txs=100, max_bytes=1024 * 1024)


def _pay(actors: Actors, amount: int = 1) -> Transfer:
    return Transfer(to=addr(actors.carol), amount=amount)


def _refusal(pool: Mempool, c: object) -> str:
    with pytest.raises(InvalidTransaction) as info:
        pool.add(c)  # type: ignore[arg-type]
    return info.value.code


def test_a_transaction_with_the_next_nonce_is_admitted(actors: Actors, pool: Mempool) -> None:
    c = checked(actors.alice, 0, _pay(actors))
    pool.add(c)
    assert c.hash in pool
    assert len(pool) == 1
    assert pool.size_bytes == len(c.raw)


def test_a_nonce_below_the_committed_nonce_is_refused_as_nonce_replayed(
    actors: Actors, pool: Mempool, committed: Committed
) -> None:
    committed.nonces[addr(actors.alice)] = 3
    assert _refusal(pool, checked(actors.alice, 2, _pay(actors))) == "nonce_replayed"
    assert len(pool) == 0


def test_a_nonce_already_pending_is_refused_as_nonce_replayed(actors: Actors, pool: Mempool) -> None:
    pool.add(checked(actors.alice, 0, _pay(actors, 1)))
    assert _refusal(pool, checked(actors.alice, 0, _pay(actors, 2))) == "nonce_replayed"
    assert len(pool) == 1


def test_a_nonce_past_the_next_one_is_refused_as_nonce_gap(actors: Actors, pool: Mempool) -> None:
    assert _refusal(pool, checked(actors.alice, 1, _pay(actors))) == "nonce_gap"
    pool.add(checked(actors.alice, 0, _pay(actors)))
    assert _refusal(pool, checked(actors.alice, 2, _pay(actors))) == "nonce_gap"
    assert len(pool) == 1


def test_the_same_transaction_twice_is_refused_as_duplicate(actors: Actors, pool: Mempool) -> None:
    c = checked(actors.alice, 0, _pay(actors))
    pool.add(c)
    assert _refusal(pool, c) == "duplicate"
    assert len(pool) == 1


def test_a_full_pool_by_count_refuses_with_mempool_full(actors: Actors, committed: Committed) -> None:
    pool = Mempool(committed, max_txs=2, max_bytes=1024 * 1024)
    pool.add(checked(actors.alice, 0, _pay(actors)))
    pool.add(checked(actors.bob, 0, _pay(actors)))
    assert _refusal(pool, checked(actors.alice, 1, _pay(actors))) == "mempool_full"
    assert len(pool) == 2


def test_a_full_pool_by_bytes_refuses_with_mempool_full(actors: Actors, committed: Committed) -> None:
    first = checked(actors.alice, 0, KvPut(namespace="ns", key=b"a", value=b"x" * 600))
    pool = Mempool(committed, max_txs=100, max_bytes=len(first.raw) + 100)
    pool.add(first)
    second = checked(actors.bob, 0, KvPut(namespace="ns", key=b"b", value=b"x" * 600))
    assert _refusal(pool, second) == "mempool_full"
    assert pool.size_bytes == len(first.raw)


def test_a_pool_exactly_at_its_byte_bound_admits_the_last_transaction(actors: Actors, committed: Committed) -> None:
    a = checked(actors.alice, 0, _pay(actors))
    b = checked(actors.bob, 0, _pay(actors))
    pool = Mempool(committed, max_txs=100, max_bytes=len(a.raw) + len(b.raw))
    pool.add(a)
    pool.add(b)
    assert pool.size_bytes == pool.max_bytes


def test_a_refused_transaction_does_not_advance_the_senders_next_nonce(actors: Actors, committed: Committed) -> None:
    pool = Mempool(committed, max_txs=1, max_bytes=1024 * 1024)
    pool.add(checked(actors.bob, 0, _pay(actors)))
    _refusal(pool, checked(actors.alice, 0, _pay(actors)))
    assert pool.next_nonce(addr(actors.alice)) == 0


def test_next_nonce_is_the_committed_nonce_plus_pending_transactions(
    actors: Actors, pool: Mempool, committed: Committed
) -> None:
    alice = addr(actors.alice)
    committed.nonces[alice] = 5
    assert pool.next_nonce(alice) == 5
    pool.add(checked(actors.alice, 5, _pay(actors)))
    pool.add(checked(actors.alice, 6, _pay(actors)))
    assert pool.next_nonce(alice) == 7
    assert pool.next_nonce(addr(actors.bob)) == 0


def test_candidates_keep_arrival_order_which_is_nonce_order_per_sender(actors: Actors, pool: Mempool) -> None:
    order = [
        checked(actors.alice, 0, _pay(actors)),
        checked(actors.bob, 0, _pay(actors)),
        checked(actors.alice, 1, _pay(actors)),
        checked(actors.alice, 2, _pay(actors)),
        checked(actors.bob, 1, _pay(actors)),
    ]
    for c in order:
        pool.add(c)
    got = pool.candidates(100, 1024 * 1024)
    assert [c.hash for c in got] == [c.hash for c in order]
    for sender in (addr(actors.alice), addr(actors.bob)):
        nonces = [c.tx.body.nonce for c in got if c.sender == sender]
        assert nonces == sorted(nonces)


def test_candidates_are_bounded_by_count_and_bytes(actors: Actors, pool: Mempool) -> None:
    cs = [checked(actors.alice, n, _pay(actors)) for n in range(5)]
    for c in cs:
        pool.add(c)
    assert len(pool.candidates(3, 1024 * 1024)) == 3
    two = len(cs[0].raw) + len(cs[1].raw)
    assert [c.hash for c in pool.candidates(100, two)] == [cs[0].hash, cs[1].hash]
    assert len(pool) == 5  # taking candidates removes nothing


def test_remove_committed_drops_the_included_transactions(actors: Actors, pool: Mempool, committed: Committed) -> None:
    a0, a1, b0 = (
        checked(actors.alice, 0, _pay(actors)),
        checked(actors.alice, 1, _pay(actors)),
        checked(actors.bob, 0, _pay(actors)),
    )
    for c in (a0, a1, b0):
        pool.add(c)
    committed.nonces[addr(actors.alice)] = 1
    pool.remove_committed([a0.hash])
    assert a0.hash not in pool
    assert a1.hash in pool and b0.hash in pool
    assert pool.size_bytes == len(a1.raw) + len(b0.raw)
    assert pool.next_nonce(addr(actors.alice)) == 2


def test_remove_committed_drops_pending_transactions_made_stale_by_the_commit(
    actors: Actors, pool: Mempool, committed: Committed
) -> None:
    a0 = checked(actors.alice, 0, _pay(actors))
    pool.add(a0)
    # Another transaction with nonce 0 (submitted elsewhere) was committed: a0 can never be valid now.
    committed.nonces[addr(actors.alice)] = 1
    pool.remove_committed([b"\x00" * 32])
    assert a0.hash not in pool
    assert len(pool) == 0 and pool.size_bytes == 0
    assert pool.next_nonce(addr(actors.alice)) == 1


def test_after_everything_is_committed_the_next_nonce_comes_from_committed_state(
    actors: Actors, pool: Mempool, committed: Committed
) -> None:
    alice = addr(actors.alice)
    cs = [checked(actors.alice, n, _pay(actors)) for n in range(3)]
    for c in cs:
        pool.add(c)
    committed.nonces[alice] = 3
    pool.remove_committed([c.hash for c in cs])
    assert len(pool) == 0
    committed.nonces[alice] = 10  # the mempool holds nothing of alice's, so it asks committed state again
    assert pool.next_nonce(alice) == 10


def test_removing_unknown_hashes_changes_nothing(actors: Actors, pool: Mempool) -> None:
    c = checked(actors.alice, 0, _pay(actors))
    pool.add(c)
    pool.remove_committed([b"\x01" * 32, b"\x02" * 32])
    assert c.hash in pool and pool.size_bytes == len(c.raw)
