"""The KVStore port (LMDB and its in-memory twin behave identically) and the chain store on top of it."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest

from trellis.abci import QueryRequest
from trellis.app.application import GenesisMismatch, NotFound, TrellisApp
from trellis.core.codec import decode, encode
from trellis.core.errors import ProofError
from trellis.core.ledger.block import Commit, Header, Receipt, block_hash
from trellis.core.ledger.state_tree import StateProof, verify_state_proof
from trellis.core.modules.accounts.messages import Transfer
from trellis.core.modules.accounts.state import Account, account_key
from trellis.core.modules.kv.messages import KvDelete, KvPut
from trellis.core.modules.kv.state import KvRecord, kv_key
from trellis.node.privval import solo_commit as sign_commit
from trellis.storage.chain_store import ChainStore, height_key
from trellis.storage.kv import KVStore, LmdbStore, MemoryStore, StorageError

from .conftest import Actors, AppChain, addr, make_app_chain, make_params, raw_tx

MAP_SIZE = 1 << 26


@pytest.fixture(params=["lmdb", "memory"])
def kv(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[KVStore]:
    store: KVStore = LmdbStore(tmp_path / "db", map_size=MAP_SIZE) if request.param == "lmdb" else MemoryStore()
    try:
        yield store
    finally:
        store.close()


def _fill(kv: KVStore) -> None:
    kv.write([("state", bytes([i]), b"v%d" % i) for i in (5, 1, 9, 3, 7)])


# -- KVStore ------------------------------------------------------------------------------------------------------
def test_get_returns_the_written_value_or_none(kv: KVStore) -> None:
    kv.write([("state", b"a", b"1")])
    assert kv.get("state", b"a") == b"1"
    assert kv.get("state", b"b") is None
    assert kv.get("meta", b"a") is None


def test_tables_are_separate_namespaces(kv: KVStore) -> None:
    kv.write([("state", b"k", b"state"), ("meta", b"k", b"meta")])
    assert kv.get("state", b"k") == b"state"
    assert kv.get("meta", b"k") == b"meta"


def test_a_none_value_deletes_and_deleting_a_missing_key_is_harmless(kv: KVStore) -> None:
    kv.write([("state", b"a", b"1")])
    kv.write([("state", b"a", None), ("state", b"never-written", None)])
    assert kv.get("state", b"a") is None


def test_empty_values_are_stored_as_empty_not_as_absent(kv: KVStore) -> None:
    kv.write([("state", b"a", b"")])
    assert kv.get("state", b"a") == b""


def test_scan_returns_keys_in_ascending_order_with_start_inclusive_end_exclusive(kv: KVStore) -> None:
    _fill(kv)
    rows = kv.scan("state", bytes([3]), bytes([9]))
    assert rows == [(bytes([3]), b"v3"), (bytes([5]), b"v5"), (bytes([7]), b"v7")]


def test_scan_start_between_keys_starts_at_the_next_key(kv: KVStore) -> None:
    _fill(kv)
    assert [k for k, _ in kv.scan("state", bytes([2]), bytes([6]))] == [bytes([3]), bytes([5])]


def test_scan_reverse_returns_the_same_range_in_descending_order(kv: KVStore) -> None:
    _fill(kv)
    assert [k for k, _ in kv.scan("state", bytes([3]), bytes([9]), reverse=True)] == [
        bytes([7]),
        bytes([5]),
        bytes([3]),
    ]


def test_scan_reverse_with_end_past_the_last_key_starts_at_the_last_key(kv: KVStore) -> None:
    _fill(kv)
    assert [k for k, _ in kv.scan("state", bytes([0]), b"\xff", reverse=True)] == [bytes([i]) for i in (9, 7, 5, 3, 1)]


def test_scan_reverse_with_end_between_keys_excludes_the_key_above_end(kv: KVStore) -> None:
    _fill(kv)
    assert [k for k, _ in kv.scan("state", bytes([0]), bytes([6]), reverse=True)] == [
        bytes([5]),
        bytes([3]),
        bytes([1]),
    ]


def test_scan_limit_takes_the_first_keys_in_scan_direction(kv: KVStore) -> None:
    _fill(kv)
    assert [k for k, _ in kv.scan("state", bytes([0]), b"\xff", limit=2)] == [bytes([1]), bytes([3])]
    assert [k for k, _ in kv.scan("state", bytes([0]), b"\xff", limit=2, reverse=True)] == [bytes([9]), bytes([7])]


def test_scan_of_an_empty_range_or_empty_table_is_empty(kv: KVStore) -> None:
    assert kv.scan("state", b"a", b"z") == []
    assert kv.scan("state", b"a", b"z", reverse=True) == []
    _fill(kv)
    assert kv.scan("state", bytes([20]), bytes([30])) == []
    assert kv.scan("state", bytes([20]), bytes([30]), reverse=True) == []
    assert kv.scan("state", bytes([3]), bytes([3])) == []


def test_scan_does_not_cross_into_other_tables(kv: KVStore) -> None:
    kv.write([("meta", b"m", b"1"), ("state", b"s", b"2"), ("blocks", b"b", b"3")])
    assert kv.scan("state", b"", b"\xff" * 8) == [(b"s", b"2")]
    assert kv.scan("state", b"", b"\xff" * 8, reverse=True) == [(b"s", b"2")]


def test_a_batch_naming_an_unknown_table_raises_storage_error_and_writes_nothing(kv: KVStore) -> None:
    kv.write([("state", b"kept", b"old")])
    with pytest.raises(StorageError, match="no_such_table"):
        kv.write([("state", b"kept", b"new"), ("state", b"added", b"x"), ("no_such_table", b"k", b"v")])
    assert kv.get("state", b"kept") == b"old"
    assert kv.get("state", b"added") is None


def test_a_batch_with_an_unstorable_key_raises_storage_error_and_writes_nothing(kv: KVStore) -> None:
    with pytest.raises(StorageError):
        kv.write([("state", b"first", b"x"), ("state", b"", b"empty keys cannot be stored")])
    assert kv.get("state", b"first") is None
    with pytest.raises(StorageError):
        kv.write([("state", b"first", b"x"), ("state", b"k" * 512, b"keys over 511 bytes cannot be stored")])
    assert kv.get("state", b"first") is None


def test_get_of_an_unstorable_key_is_absent_rather_than_an_error(kv: KVStore) -> None:
    assert kv.get("state", b"") is None
    assert kv.get("state", b"k" * 2000) is None


def test_later_writes_in_a_batch_win(kv: KVStore) -> None:
    kv.write([("state", b"a", b"1"), ("state", b"a", b"2"), ("state", b"b", b"1"), ("state", b"b", None)])
    assert kv.get("state", b"a") == b"2"
    assert kv.get("state", b"b") is None


def test_lmdb_data_persists_across_close_and_reopen(tmp_path: Path) -> None:
    store = LmdbStore(tmp_path / "db", map_size=MAP_SIZE)
    store.write([("state", b"a", b"1"), ("meta", b"tip", b"t")])
    store.close()
    reopened = LmdbStore(tmp_path / "db", map_size=MAP_SIZE)
    try:
        assert reopened.get("state", b"a") == b"1"
        assert reopened.scan("meta", b"", b"\xff") == [(b"tip", b"t")]
    finally:
        reopened.close()


def test_lmdb_refuses_a_path_that_is_not_a_directory_with_storage_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a database")
    with pytest.raises(StorageError):
        LmdbStore(tmp_path / "file" / "db", map_size=MAP_SIZE)


# -- ChainStore and TrellisApp -------------------------------------------------------------------------------------
@pytest.fixture(params=["lmdb", "memory"])
def store_kv(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[KVStore]:
    store: KVStore = LmdbStore(tmp_path / "chain", map_size=MAP_SIZE) if request.param == "lmdb" else MemoryStore()
    try:
        yield store
    finally:
        store.close()


def test_a_new_store_is_initialised_with_the_genesis_state_at_height_zero(actors: Actors, store_kv: KVStore) -> None:
    params = make_params(actors)
    app = TrellisApp(params, ChainStore(store_kv))
    tip = app.info()
    assert tip.height == 0
    assert app.store.genesis_hash() == params.genesis_hash
    assert app.store.state_root_at(0) == tip.state_root
    assert app.account(addr(actors.alice)).balance == params.genesis.accounts[0].balance


def test_reopening_a_store_with_the_same_genesis_keeps_its_tip(actors: Actors, tmp_path: Path) -> None:
    params = make_params(actors)
    kv = LmdbStore(tmp_path / "chain", map_size=MAP_SIZE)
    chain = make_app_chain(params, actors, kv)
    chain.commit_txs([raw_tx(actors.alice, 0, Transfer(to=addr(actors.bob), amount=5))])
    tip = chain.app.info()
    kv.close()
    kv = LmdbStore(tmp_path / "chain", map_size=MAP_SIZE)
    try:
        assert TrellisApp(params, ChainStore(kv)).info() == tip
    finally:
        kv.close()


def test_reopening_a_store_with_a_different_genesis_raises_genesis_mismatch(actors: Actors, store_kv: KVStore) -> None:
    TrellisApp(make_params(actors), ChainStore(store_kv))
    with pytest.raises(GenesisMismatch):
        TrellisApp(make_params(actors, chain_id="another-chain"), ChainStore(store_kv))


def test_commit_block_writes_block_commit_receipts_and_tip(actors: Actors, store_kv: KVStore) -> None:
    chain = make_app_chain(make_params(actors), actors, store_kv)
    store = chain.app.store
    executed = chain.commit_txs([raw_tx(actors.alice, 0, Transfer(to=addr(actors.bob), amount=5))])
    h = executed.block.header.height
    assert h == 1
    assert store.block(1) == executed.block
    assert store.block_bytes(1) == encode(executed.block)
    assert store.height_of_block(executed.block_id) == 1
    commit = store.commit(1)
    assert commit is not None and commit.block_hash == executed.block_id
    assert store.receipts(1) == executed.output.receipts
    assert store.receipt(1, 0) == executed.output.receipts[0]
    assert store.state_root_at(1) == executed.block.header.state_root
    tip = store.tip()
    assert tip is not None and tip.height == 1 and tip.block_id == executed.block_id
    assert chain.app.info() == tip


def test_commit_block_indexes_the_transaction_by_hash(actors: Actors, store_kv: KVStore) -> None:
    chain = make_app_chain(make_params(actors), actors, store_kv)
    chain.commit_txs([raw_tx(actors.alice, 0, Transfer(to=addr(actors.bob), amount=5))])
    executed = chain.commit_txs(
        [
            raw_tx(actors.alice, 1, Transfer(to=addr(actors.bob), amount=5)),
            raw_tx(actors.alice, 2, KvPut(namespace="ns", key=b"k", value=b"v")),
        ]
    )
    for i, h in enumerate(executed.output.tx_hashes):
        assert chain.app.store.tx_position(h) == (2, i)
    assert chain.app.store.tx_position(b"\x00" * 32) is None


def test_commit_block_writes_state_values_and_tree_nodes(actors: Actors, store_kv: KVStore) -> None:
    chain = make_app_chain(make_params(actors), actors, store_kv)
    chain.app.store.track_lifetimes = True  # the born and stale rows of a pruning node (ADR 0018)
    executed = chain.commit_txs([raw_tx(actors.alice, 0, KvPut(namespace="ns", key=b"k", value=b"hello"))])
    store = chain.app.store
    for key, value in executed.output.writes.items():
        assert store.get(key) == value
    h8 = executed.block.header.height.to_bytes(8, "big")
    for node_hash, node in executed.tree.nodes.items():
        assert store.get_node(node_hash) == node
        assert store.kv.get("smt_born", node_hash + h8) == b""  # ADR 0018: its birth row
    for node_hash in executed.tree.stale:
        assert store.kv.get("smt_stale", h8 + node_hash) == b""
    assert not store.kv.scan("smt_values", b"\x00", b"\xff" * 33)  # values are no longer stored twice


def test_account_history_lists_sender_and_recipient_in_chain_order(actors: Actors, store_kv: KVStore) -> None:
    chain = make_app_chain(make_params(actors), actors, store_kv)
    alice, bob, carol = addr(actors.alice), addr(actors.bob), addr(actors.carol)
    b1 = chain.commit_txs([raw_tx(actors.alice, 0, Transfer(to=bob, amount=5))])
    b2 = chain.commit_txs(
        [
            raw_tx(actors.alice, 1, KvPut(namespace="ns", key=b"k", value=b"v")),
            raw_tx(actors.alice, 2, Transfer(to=carol, amount=5)),
        ]
    )
    store = chain.app.store
    assert store.account_txs(alice) == [
        (1, 0, b1.output.tx_hashes[0]),
        (2, 0, b2.output.tx_hashes[0]),
        (2, 1, b2.output.tx_hashes[1]),
    ]
    assert store.account_txs(bob) == [(1, 0, b1.output.tx_hashes[0])]
    assert store.account_txs(carol) == [(2, 1, b2.output.tx_hashes[1])]


def test_a_transfer_to_oneself_is_listed_once_in_the_senders_history(actors: Actors, store_kv: KVStore) -> None:
    chain = make_app_chain(make_params(actors), actors, store_kv)
    alice = addr(actors.alice)
    b1 = chain.commit_txs([raw_tx(actors.alice, 0, Transfer(to=alice, amount=5))])
    assert chain.app.store.account_txs(alice) == [(1, 0, b1.output.tx_hashes[0])]


def test_account_history_pages_with_an_exclusive_after_cursor_and_limit(actors: Actors, store_kv: KVStore) -> None:
    chain = make_app_chain(make_params(actors), actors, store_kv)
    bob = addr(actors.bob)
    for n in range(0, 6, 2):
        chain.commit_txs([raw_tx(actors.alice, n + i, Transfer(to=bob, amount=1)) for i in range(2)])
    store = chain.app.store
    everything = store.account_txs(bob)
    assert [(h, i) for h, i, _ in everything] == [(1, 0), (1, 1), (2, 0), (2, 1), (3, 0), (3, 1)]
    pages = []
    after = None
    while True:
        page = store.account_txs(bob, limit=4, after=after)
        pages.append(page)
        if len(page) < 4:
            break
        after = (page[-1][0], page[-1][1])
    assert [len(p) for p in pages] == [4, 2]
    assert [row for p in pages for row in p] == everything


def test_account_history_pages_backwards_with_before_and_reverse(actors: Actors, store_kv: KVStore) -> None:
    chain = make_app_chain(make_params(actors), actors, store_kv)
    bob = addr(actors.bob)
    for n in range(3):
        chain.commit_txs([raw_tx(actors.alice, n, Transfer(to=bob, amount=1))])
    store = chain.app.store
    assert [h for h, _, _ in store.account_txs(bob, reverse=True)] == [3, 2, 1]
    assert [h for h, _, _ in store.account_txs(bob, reverse=True, before=(3, 0))] == [2, 1]


def test_account_history_is_not_kept_when_indexing_is_off(actors: Actors) -> None:
    params = make_params(actors)
    chain = AppChain(
        app=TrellisApp(params, ChainStore(MemoryStore()), index_accounts=False), validator=actors.validator
    )
    chain.commit_txs([raw_tx(actors.alice, 0, Transfer(to=addr(actors.bob), amount=1))])
    assert chain.app.store.account_txs(addr(actors.alice)) == []


def _value(app: TrellisApp, key: bytes, height: int | None = None) -> bytes | None:
    """The value of ``key`` after block ``height``, asked through the ABCI query."""
    return app.query(QueryRequest(path="state", key=key, height=height)).value


def _proved(app: TrellisApp, key: bytes, height: int | None = None) -> tuple[bytes | None, StateProof, Header]:
    """(value, proof, header) of ``key`` after block ``height``, asked through the ABCI query."""
    res = app.query(QueryRequest(path="state", key=key, height=height, prove=True))
    assert res.proof is not None and res.header is not None
    return res.value, res.proof, res.header


def test_state_value_at_an_older_height_returns_the_value_then(actors: Actors, store_kv: KVStore) -> None:
    chain = make_app_chain(make_params(actors), actors, store_kv)
    key = kv_key("ns", b"k")
    chain.commit_txs([raw_tx(actors.alice, 0, KvPut(namespace="ns", key=b"k", value=b"first"))])
    chain.commit_txs([raw_tx(actors.alice, 1, KvPut(namespace="ns", key=b"k", value=b"second"))])
    app = chain.app
    first, second, latest = _value(app, key, 1), _value(app, key, 2), _value(app, key)
    assert first is not None and decode(first, KvRecord).value == b"first"
    assert second is not None and decode(second, KvRecord).value == b"second"
    assert latest == second
    assert _value(app, key, 0) is None


def test_state_value_at_a_future_or_negative_height_is_not_found(chain: AppChain) -> None:
    with pytest.raises(NotFound):
        _value(chain.app, b"acct/x", 5)
    with pytest.raises(NotFound):
        _value(chain.app, b"acct/x", -1)


def test_account_balance_at_genesis_height_is_the_genesis_balance(actors: Actors, chain: AppChain) -> None:
    chain.commit_txs([raw_tx(actors.alice, 0, Transfer(to=addr(actors.bob), amount=10))])
    raw = _value(chain.app, account_key(addr(actors.alice)), 0)
    assert raw is not None
    assert decode(raw, Account) == Account(balance=chain.app.params.genesis.accounts[0].balance, nonce=0)


def test_prove_at_the_latest_height_verifies_against_the_latest_header(actors: Actors, store_kv: KVStore) -> None:
    chain = make_app_chain(make_params(actors), actors, store_kv)
    chain.commit_txs([raw_tx(actors.alice, 0, KvPut(namespace="ns", key=b"k", value=b"v"))])
    key = kv_key("ns", b"k")
    value, proof, header = _proved(chain.app, key)
    assert header.height == 1 and value is not None
    verify_state_proof(chain.app.suite, key, value, proof, header)


def test_prove_at_an_older_height_verifies_the_older_value(actors: Actors, store_kv: KVStore) -> None:
    chain = make_app_chain(make_params(actors), actors, store_kv)
    key = kv_key("ns", b"k")
    chain.commit_txs([raw_tx(actors.alice, 0, KvPut(namespace="ns", key=b"k", value=b"old"))])
    chain.commit_txs([raw_tx(actors.alice, 1, KvPut(namespace="ns", key=b"k", value=b"new"))])
    value, proof, header = _proved(chain.app, key, 1)
    assert header.height == 1
    assert value == _value(chain.app, key, 1)
    verify_state_proof(chain.app.suite, key, value, proof, header)
    latest_value, _, _ = _proved(chain.app, key)
    with pytest.raises(ProofError):
        verify_state_proof(chain.app.suite, key, latest_value, proof, header)


def test_prove_of_an_absent_key_verifies_non_inclusion(actors: Actors, chain: AppChain) -> None:
    chain.commit_txs([raw_tx(actors.alice, 0, Transfer(to=addr(actors.bob), amount=1))])
    value, proof, header = _proved(chain.app, b"no/such/key")
    assert value is None
    verify_state_proof(chain.app.suite, b"no/such/key", None, proof, header)


def test_prove_before_any_block_is_not_found(chain: AppChain) -> None:
    with pytest.raises(NotFound):
        _proved(chain.app, b"acct/x")


def test_require_block_of_a_missing_height_raises_storage_error(chain: AppChain) -> None:
    with pytest.raises(StorageError):
        chain.app.store.require_block(7)


def test_stored_commit_certificate_names_the_stored_block(actors: Actors, chain: AppChain) -> None:
    chain.commit_txs([])
    block = chain.app.store.block(1)
    commit = chain.app.store.commit(1)
    assert block is not None and isinstance(commit, Commit)
    assert commit.block_hash == block_hash(chain.app.suite, block.header)
    assert all(isinstance(r, Receipt) for r in chain.app.store.receipts(1))


# -- get_many and write_tables ------------------------------------------------------------------------------------
def test_get_many_returns_each_value_in_key_order_with_none_for_absent_keys(kv: KVStore) -> None:
    _fill(kv)
    keys = [bytes([9]), b"absent", bytes([1]), bytes([9])]
    assert kv.get_many("state", keys) == [b"v9", None, b"v1", b"v9"]
    assert kv.get_many("state", []) == []


def test_get_many_reads_only_its_own_table(kv: KVStore) -> None:
    kv.write([("meta", b"k", b"meta")])
    assert kv.get_many("state", [b"k"]) == [None]
    assert kv.get_many("meta", [b"k"]) == [b"meta"]


def test_get_many_of_unstorable_keys_is_absent_rather_than_an_error(kv: KVStore) -> None:
    kv.write([("state", b"a", b"1")])
    assert kv.get_many("state", [b"", b"a", b"k" * 512]) == [None, b"1", None]


def test_get_many_returns_bytes_like_get(kv: KVStore) -> None:
    kv.write([("state", b"a", b"1"), ("state", b"e", b"")])
    values = kv.get_many("state", [b"a", b"e"])
    assert values == [kv.get("state", b"a"), kv.get("state", b"e")]
    assert all(type(v) is bytes for v in values)


def test_write_tables_puts_rows_of_several_tables(kv: KVStore) -> None:
    kv.write_tables({"state": {b"b": b"2", b"a": b"1"}, "meta": {b"tip": b"t"}, "blocks": {}})
    assert kv.get_many("state", [b"a", b"b"]) == [b"1", b"2"]
    assert kv.get("meta", b"tip") == b"t"
    assert kv.scan("blocks", b"\x00", b"\xff") == []


def test_write_tables_applies_deletes_before_puts(kv: KVStore) -> None:
    kv.write([("state", b"gone", b"1"), ("state", b"back", b"old")])
    kv.write_tables({"state": {b"back": b"new"}}, {"state": [b"gone", b"back", b"never-written"]})
    assert kv.get("state", b"gone") is None
    assert kv.get("state", b"back") == b"new"


def test_write_tables_overwrites_existing_values(kv: KVStore) -> None:
    kv.write_tables({"state": {b"a": b"1"}})
    kv.write_tables({"state": {b"a": b"2"}})
    assert kv.get("state", b"a") == b"2"


def test_write_tables_naming_an_unknown_table_raises_storage_error_and_writes_nothing(kv: KVStore) -> None:
    with pytest.raises(StorageError, match="no_such_table"):
        kv.write_tables({"state": {b"a": b"1"}, "no_such_table": {b"k": b"v"}})
    with pytest.raises(StorageError, match="no_such_table"):
        kv.write_tables({"state": {b"a": b"1"}}, {"no_such_table": [b"k"]})
    assert kv.get("state", b"a") is None


@pytest.mark.parametrize("bad_key", [b"", b"k" * 512])
def test_write_tables_with_an_unstorable_key_raises_storage_error_and_writes_nothing(
    kv: KVStore, bad_key: bytes
) -> None:
    kv.write([("state", b"kept", b"old")])
    with pytest.raises(StorageError):
        kv.write_tables({"state": {b"kept": b"new", b"first": b"x"}, "meta": {bad_key: b"v"}})
    assert kv.get("state", b"kept") == b"old"
    assert kv.get("state", b"first") is None


# -- the per-block layout: receipts as one value, index rows ------------------------------------------------------
def test_a_blocks_receipts_are_one_value_holding_each_canonical_receipt(actors: Actors, store_kv: KVStore) -> None:
    chain = make_app_chain(make_params(actors), actors, store_kv)
    executed = chain.commit_txs(
        [
            raw_tx(actors.alice, 0, Transfer(to=addr(actors.bob), amount=5)),
            raw_tx(actors.alice, 1, Transfer(to=addr(actors.bob), amount=10**12)),  # fails: a receipt code
            raw_tx(actors.alice, 2, KvPut(namespace="ns", key=b"k", value=b"v")),
        ]
    )
    value = store_kv.get("receipts", height_key(1))
    assert value is not None
    assert [bytes(r) for r in decode(value, list[msgspec.Raw])] == [encode(r) for r in executed.output.receipts]
    assert store_kv.scan("receipts", b"", b"\xff" * 12) == [(height_key(1), value)]
    assert executed.output.receipts[1].code != 0


def test_receipt_returns_each_receipt_of_a_block_by_index(actors: Actors, store_kv: KVStore) -> None:
    chain = make_app_chain(make_params(actors), actors, store_kv)
    executed = chain.commit_txs([raw_tx(actors.alice, n, Transfer(to=addr(actors.bob), amount=1)) for n in range(4)])
    store = chain.app.store
    for i, r in enumerate(executed.output.receipts):
        assert store.receipt(1, i) == r
    assert store.receipts(1) == executed.output.receipts


def test_receipt_out_of_range_or_of_a_missing_block_is_none(actors: Actors, store_kv: KVStore) -> None:
    chain = make_app_chain(make_params(actors), actors, store_kv)
    chain.commit_txs([raw_tx(actors.alice, 0, Transfer(to=addr(actors.bob), amount=1))])
    store = chain.app.store
    assert store.receipt(1, 1) is None
    assert store.receipt(1, -1) is None
    assert store.receipt(1, 2**40) is None
    assert store.receipt(2, 0) is None
    assert store.receipt(-1, 0) is None
    assert store.receipts(2) == []
    assert store.receipts(-1) == []


def test_an_empty_block_has_an_empty_receipt_list(actors: Actors, store_kv: KVStore) -> None:
    chain = make_app_chain(make_params(actors), actors, store_kv)
    chain.commit_txs([])
    assert chain.app.store.receipts(1) == []
    assert chain.app.store.receipt(1, 0) is None


def test_receipts_written_one_row_per_transaction_by_older_stores_are_still_read(
    actors: Actors, store_kv: KVStore
) -> None:
    store = ChainStore(store_kv)
    old = [Receipt(tx_hash=bytes([i]) * 32, code=i, message=f"m{i}", events=[]) for i in range(3)]
    store_kv.write([("receipts", struct.pack(">QI", 7, i), encode(r)) for i, r in enumerate(old)])
    assert store.receipts(7) == old
    assert store.receipt(7, 2) == old[2]
    assert store.receipt(7, 3) is None


def test_tx_positions_answers_like_tx_position_for_a_whole_batch(actors: Actors, store_kv: KVStore) -> None:
    chain = make_app_chain(make_params(actors), actors, store_kv)
    b1 = chain.commit_txs([raw_tx(actors.alice, 0, Transfer(to=addr(actors.bob), amount=1))])
    b2 = chain.commit_txs([raw_tx(actors.alice, n, Transfer(to=addr(actors.bob), amount=1)) for n in (1, 2)])
    hashes = [b2.output.tx_hashes[1], b"\x00" * 32, b1.output.tx_hashes[0], b2.output.tx_hashes[0]]
    store = chain.app.store
    assert store.tx_positions(hashes) == [store.tx_position(h) for h in hashes] == [(2, 1), None, (1, 0), (2, 0)]


def test_a_block_with_a_state_deletion_removes_the_state_key(actors: Actors, store_kv: KVStore) -> None:
    chain = make_app_chain(make_params(actors), actors, store_kv)
    chain.commit_txs([raw_tx(actors.alice, 0, KvPut(namespace="ns", key=b"k", value=b"v"))])
    assert chain.app.store.get(kv_key("ns", b"k")) is not None
    executed = chain.commit_txs([raw_tx(actors.alice, 1, KvDelete(namespace="ns", key=b"k"))])
    assert executed.output.writes[kv_key("ns", b"k")] is None
    assert chain.app.store.get(kv_key("ns", b"k")) is None
    assert chain.app.store.get_many([kv_key("ns", b"k"), account_key(addr(actors.alice))])[0] is None


def test_commit_block_refuses_an_account_index_of_the_wrong_length_and_writes_nothing(
    actors: Actors, store_kv: KVStore
) -> None:
    chain = make_app_chain(make_params(actors), actors, store_kv)
    executed = chain.build([raw_tx(actors.alice, 0, Transfer(to=addr(actors.bob), amount=1))])
    p = chain.app.params
    cert = sign_commit(p.suite, p.chain_id, chain.validator, executed)
    with pytest.raises(ValueError):
        chain.app.store.commit_block(executed, cert, [])
    assert chain.app.store.block(1) is None
    tip = chain.app.store.tip()
    assert tip is not None and tip.height == 0
