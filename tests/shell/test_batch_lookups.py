"""Admission reads in batches: a batch's "already committed?" lookups and the committed nonces the mempool and
the proposer need are read in one storage read each, with the same answers as one read per key."""

from __future__ import annotations

from collections.abc import Sequence

from trellis.abci import CheckedTx
from trellis.app.application import TrellisApp
from trellis.core.errors import InvalidTransaction
from trellis.core.modules.accounts.messages import Transfer
from trellis.node.mempool import Mempool
from trellis.storage.chain_store import ChainStore
from trellis.storage.kv import MemoryStore

from .conftest import Actors, AppChain, addr, checked, make_params, raw_tx


class CountingStore(MemoryStore):
    """A ``MemoryStore`` that counts point reads and batch reads per table."""

    def __init__(self) -> None:
        super().__init__()
        self.gets: dict[str, int] = {}
        self.batch_gets: dict[str, int] = {}

    def get(self, table: str, key: bytes) -> bytes | None:
        self.gets[table] = self.gets.get(table, 0) + 1
        return super().get(table, key)

    def get_many(self, table: str, keys: Sequence[bytes]) -> list[bytes | None]:
        self.batch_gets[table] = self.batch_gets.get(table, 0) + 1
        return super().get_many(table, keys)

    def reset(self) -> None:
        self.gets.clear()
        self.batch_gets.clear()


def _counting_chain(actors: Actors) -> tuple[AppChain, CountingStore]:
    kv = CountingStore()
    return AppChain(app=TrellisApp(make_params(actors), ChainStore(kv)), validator=actors.validator), kv


def _pay(actors: Actors, amount: int = 1) -> Transfer:
    return Transfer(to=addr(actors.bob), amount=amount)


# -- check_txs ------------------------------------------------------------------------------------------------------
def test_check_txs_refuses_an_already_committed_transaction_as_duplicate_naming_its_height(actors: Actors) -> None:
    chain, _ = _counting_chain(actors)
    committed = raw_tx(actors.alice, 0, _pay(actors))
    chain.commit_txs([committed])
    fresh = raw_tx(actors.alice, 1, _pay(actors))
    res = chain.app.check_txs([fresh, committed, b"\x00garbage", fresh])
    assert isinstance(res[0], CheckedTx) and isinstance(res[3], CheckedTx)
    assert isinstance(res[1], InvalidTransaction) and res[1].code == "duplicate"
    assert "already committed at height 1" in res[1].reason
    assert isinstance(res[2], InvalidTransaction) and res[2].code == "malformed"


def test_check_txs_reports_committed_before_pending(actors: Actors) -> None:
    chain, _ = _counting_chain(actors)
    raw = raw_tx(actors.alice, 0, _pay(actors))
    executed = chain.commit_txs([raw])
    res = chain.app.check_txs([raw], known={executed.output.tx_hashes[0]})
    assert isinstance(res[0], InvalidTransaction) and "already committed" in res[0].reason


def test_check_txs_looks_a_whole_batch_up_in_one_read(actors: Actors) -> None:
    chain, kv = _counting_chain(actors)
    chain.commit_txs([raw_tx(actors.alice, 0, _pay(actors))])
    kv.reset()
    chain.app.check_txs([raw_tx(actors.alice, n, _pay(actors)) for n in range(1, 20)])
    assert kv.batch_gets == {"tx_index": 1}
    assert kv.gets == {}


def test_check_tx_of_one_transaction_still_refuses_a_committed_one(actors: Actors) -> None:
    chain, _ = _counting_chain(actors)
    raw = raw_tx(actors.alice, 0, _pay(actors))
    chain.commit_txs([raw])
    res = chain.app.check_txs([raw])
    try:
        chain.app.check_tx(raw)
    except InvalidTransaction as exc:
        assert isinstance(res[0], InvalidTransaction)
        assert (exc.code, exc.reason) == (res[0].code, res[0].reason)
    else:
        raise AssertionError("check_tx admitted a committed transaction")


# -- committed nonces -----------------------------------------------------------------------------------------------
def test_account_nonces_equal_account_nonce_of_each_address(actors: Actors) -> None:
    chain, kv = _counting_chain(actors)
    chain.commit_txs([raw_tx(actors.alice, n, _pay(actors)) for n in range(3)])
    who = [addr(actors.carol), addr(actors.alice), addr(actors.bob), addr(actors.alice)]
    kv.reset()
    assert chain.app.account_nonces(who) == [0, 3, 0, 3]
    assert kv.batch_gets == {"state": 1} and kv.gets == {}
    assert [chain.app.account_nonce(a) for a in who] == [0, 3, 0, 3]
    assert chain.app.account_nonces([]) == []


def test_prepare_proposal_reads_the_candidates_committed_nonces_in_one_read(actors: Actors) -> None:
    chain, kv = _counting_chain(actors)
    chain.commit_txs([raw_tx(actors.alice, 0, _pay(actors))])
    cands = [chain.app.check_tx(raw_tx(actors.alice, n, _pay(actors))) for n in (1, 2, 3)]
    cands.append(chain.app.check_tx(raw_tx(actors.bob, 0, Transfer(to=addr(actors.carol), amount=0))))
    kv.reset()
    chain.app.prepare_proposal([], chain.time_ms + 1000, chain.proposer)
    per_block = kv.gets.get("state", 0)  # the block's own reads (the validator sets of ADR 0014), whatever it holds
    kv.reset()
    executed = chain.app.prepare_proposal(cands, chain.time_ms + 1000, chain.proposer)
    assert [tx.body.nonce for tx in executed.block.txs] == [1, 2, 3, 0]
    # One batch read for the candidates' nonces, one for the accounts the chosen transfers touch (execution);
    # no point read of state for any candidate: only the empty block's own reads.
    assert kv.batch_gets.get("state") == 2
    assert kv.gets.get("state", 0) == per_block
    assert per_block <= 5  # validators/meta, the entries in force for h and h+1, custody's round (ADR 0018)


def test_prepare_proposal_skips_candidates_whose_nonce_is_not_the_next_one(actors: Actors) -> None:
    chain, _ = _counting_chain(actors)
    chain.commit_txs([raw_tx(actors.alice, 0, _pay(actors))])
    cands = [chain.app.check_tx(raw_tx(actors.alice, n, _pay(actors, 7))) for n in (0, 2, 1)]
    executed = chain.app.prepare_proposal(cands, chain.time_ms + 1000, chain.proposer)
    assert [tx.body.nonce for tx in executed.block.txs] == [1]


# -- the mempool ----------------------------------------------------------------------------------------------------
class Committed:
    """Committed nonces, answering one sender or many and counting the calls."""

    def __init__(self) -> None:
        self.nonces: dict[bytes, int] = {}
        self.single_calls = 0
        self.batches: list[list[bytes]] = []

    def one(self, address: bytes) -> int:
        self.single_calls += 1
        return self.nonces.get(address, 0)

    def many(self, addresses: Sequence[bytes]) -> list[int]:
        self.batches.append(list(addresses))
        return [self.nonces.get(a, 0) for a in addresses]


def _pool(c: Committed, **kw: int) -> Mempool:
    return Mempool(
        c.one, committed_nonces=c.many, max_txs=kw.get("max_txs", 100), max_bytes=kw.get("max_bytes", 1 << 20)
    )


def test_add_many_gives_the_results_add_gives_one_by_one(actors: Actors) -> None:
    c = Committed()
    c.nonces[addr(actors.bob)] = 2
    batch = [
        checked(actors.alice, 0, _pay(actors)),
        checked(actors.alice, 0, _pay(actors, 2)),  # nonce already pending
        checked(actors.bob, 1, _pay(actors)),  # below bob's committed nonce
        checked(actors.bob, 3, _pay(actors)),  # gap
        checked(actors.bob, 2, _pay(actors)),
        checked(actors.alice, 1, _pay(actors)),
        checked(actors.alice, 1, _pay(actors)),  # the same transaction again
        checked(actors.carol, 0, _pay(actors)),  # over max_txs
    ]
    one_by_one: list[str | None] = []
    single = Mempool(c.one, max_txs=3, max_bytes=1 << 20)
    for tx in batch:
        try:
            single.add(tx)
            one_by_one.append(None)
        except InvalidTransaction as exc:
            one_by_one.append(exc.code)
    many = _pool(c, max_txs=3)
    results = [None if r is None else r.code for r in many.add_many(batch)]
    assert results == one_by_one
    assert results == [None, "nonce_replayed", "nonce_replayed", "nonce_gap", None, None, "duplicate", "mempool_full"]
    assert list(many.candidates(10, 1 << 20)) == list(single.candidates(10, 1 << 20))


def test_add_many_reads_the_nonces_of_senders_with_nothing_pending_once_in_one_batch(actors: Actors) -> None:
    c = Committed()
    pool = _pool(c)
    pool.add_many([checked(actors.alice, 0, _pay(actors))])
    c.batches.clear()
    c.single_calls = 0
    pool.add_many([checked(actors.bob, n, _pay(actors)) for n in range(3)] + [checked(actors.alice, 1, _pay(actors))])
    assert c.batches == [[addr(actors.bob)]]
    assert c.single_calls == 0
    assert len(pool) == 5


def test_remove_committed_reads_each_pending_senders_nonce_once_in_one_batch(actors: Actors) -> None:
    c = Committed()
    pool = _pool(c)
    pool.add_many([checked(actors.alice, n, _pay(actors)) for n in range(3)] + [checked(actors.bob, 0, _pay(actors))])
    stale = checked(actors.carol, 0, _pay(actors))
    pool.add(stale)
    c.batches.clear()
    c.single_calls = 0
    c.nonces[addr(actors.carol)] = 1  # carol's nonce 0 was committed elsewhere: her pending one is stale
    pool.remove_committed([])
    assert len(c.batches) == 1 and sorted(c.batches[0]) == sorted(
        {addr(actors.alice), addr(actors.bob), addr(actors.carol)}
    )
    assert stale.hash not in pool and len(pool) == 4
    assert c.single_calls == 0


def test_a_mempool_without_a_batch_reader_answers_the_same(actors: Actors) -> None:
    c = Committed()
    c.nonces[addr(actors.alice)] = 1
    pool = Mempool(c.one, max_txs=100, max_bytes=1 << 20)
    results = pool.add_many([checked(actors.alice, 0, _pay(actors)), checked(actors.alice, 1, _pay(actors))])
    assert [None if r is None else r.code for r in results] == ["nonce_replayed", None]
    c.nonces[addr(actors.alice)] = 2
    pool.remove_committed([])
    assert len(pool) == 0


def test_remove_committed_with_the_blocks_senders_checks_only_their_pending_transactions(actors: Actors) -> None:
    c = Committed()
    pool = _pool(c)
    pool.add_many([checked(actors.alice, n, _pay(actors)) for n in range(3)] + [checked(actors.bob, 0, _pay(actors))])
    c.batches.clear()
    c.nonces[addr(actors.alice)] = 2  # a block by alice (another node's transactions) moved her nonce to 2
    pool.remove_committed([], senders=[addr(actors.alice), addr(actors.carol)])
    assert c.batches == [[addr(actors.alice)]]  # carol has nothing pending; bob was not in the block
    assert len(pool) == 2 and pool.next_nonce(addr(actors.alice)) == 3
