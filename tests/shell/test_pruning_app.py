"""Pruning a real application's store (ADR 0018 section 1): queries at pruned heights answer ``Pruned`` (HTTP 410)
naming the earliest height kept, proofs at kept heights verify, block pruning removes a pruned block's rows and
keeps the rest readable, and pruning on LMDB while blocks are committed from another thread ends consistent."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

import msgspec
import pytest

from trellis.abci import NotFound, Pruned, QueryRequest
from trellis.api.server import status_of_error
from trellis.app.application import TrellisApp
from trellis.app.modules.accounts import involved_addresses
from trellis.core.codec import encode
from trellis.core.ledger.block import Block, Receipt
from trellis.core.ledger.state_tree import prove, verify_state_proof
from trellis.core.ledger.tx import sender_address
from trellis.core.modules.accounts.messages import Transfer
from trellis.core.modules.accounts.state import account_key
from trellis.core.modules.validators.state import (
    META_KEY,
    ValidatorSetEntry,
    ValidatorsMeta,
    read_entry,
    set_key,
)
from trellis.core.params import ChainParams
from trellis.core.types import ZERO_HASH
from trellis.node.config import StorageSection
from trellis.node.statesync import prepare_store
from trellis.storage.chain_store import ChainStore, height_key
from trellis.storage.kv import KVStore, MemoryStore, SplitStore, StorageError, open_data_store
from trellis.storage.power_loss import PowerLossDisk
from trellis.storage.pruning import Pruner, Retention
from trellis.storage.snapshots import VIEW_TABLES, build_snapshot, check_restored, restore_status

from .conftest import Actors, ApiHarness, AppChain, addr, make_params, node_config, raw_tx


def make_app_chain(params: ChainParams, actors: Actors, kv: KVStore) -> AppChain:
    """A chain whose store records the nodes' lifetimes, as a node with ``[storage] keep_recent > 0`` does."""
    return AppChain(app=TrellisApp(params, ChainStore(kv, track_lifetimes=True)), validator=actors.validator)


def transfers(chain: AppChain, actors: Actors, blocks: int, nonce: int = 0) -> list[bytes]:
    """Commit ``blocks`` blocks of one transfer each (alice's and bob's balances change every block)."""
    hashes: list[bytes] = []
    for i in range(blocks):
        executed = chain.commit_txs([raw_tx(actors.alice, nonce + i, Transfer(to=addr(actors.bob), amount=1 + i))])
        hashes += executed.output.tx_hashes
    return hashes


def test_a_pruned_height_answers_pruned_naming_the_earliest_kept_and_kept_heights_still_prove(actors: Actors) -> None:
    chain = make_app_chain(make_params(actors), actors, MemoryStore())
    transfers(chain, actors, 12)
    app, store = chain.app, chain.app.store
    report = Pruner(store, Retention(keep_recent=3, keep_every=5), app.suite).prune()
    assert report.cutoff == 10 and report.nodes_deleted > 0
    key = account_key(addr(actors.bob))
    with pytest.raises(Pruned, match=r"state at height 7 is pruned \(this node keeps heights >= 10"):
        app.query(QueryRequest(path="state", key=key, height=7, prove=True))
    with pytest.raises(Pruned):
        app.query(QueryRequest(path="state", key=key, height=7))
    with pytest.raises(Pruned):
        app.reader(9).get(key)
    assert status_of_error(Pruned("x")) == 410 and isinstance(Pruned("x"), NotFound)
    for h in (0, 5, 10, 11, 12):  # genesis, a keep_every multiple, the recent window
        if h == 0:
            assert store.state_root_at(0) is not None and app.reader(0).get(key) is None
            continue
        res = app.query(QueryRequest(path="state", key=key, height=h, prove=True))
        assert res.proof is not None and res.header is not None and res.value is not None
        verify_state_proof(app.suite, key, res.value, res.proof, res.header)
        assert app.query(QueryRequest(path="state", key=key, height=h)).value == res.value
    # bob received 1 + 2 + ... + h by height h: the value read at a kept height is that height's
    assert (
        app.query(QueryRequest(path="state", key=key, height=5)).value
        != app.query(QueryRequest(path="state", key=key, height=10)).value
    )


def test_block_pruning_removes_the_rows_of_pruned_blocks_and_keeps_the_rest(actors: Actors) -> None:
    params = make_params(actors)
    chain = make_app_chain(params, actors, MemoryStore())
    hashes = transfers(chain, actors, 10)
    app, store = chain.app, chain.app.store

    def addresses(block: Block, receipts: Sequence[Receipt]) -> list[list[bytes]]:
        return [involved_addresses(tx, sender_address(params.suite, tx), None) for tx in block.txs]

    # A validator-set change effective at 6 (written into the state as the validators module writes it): block 5
    # and its commit prove it, and stay.
    genesis_set = read_entry(store, 1)
    change = ValidatorSetEntry(effective_height=6, previous=1, validators=genesis_set.validators, orgs=genesis_set.orgs)
    store.kv.write_tables(
        {"state": {set_key(6): encode(change), META_KEY: encode(ValidatorsMeta(version=1, latest=6))}}
    )
    report = Pruner(
        store,
        Retention(keep_recent=4, keep_every=4, prune_blocks=True),
        params.suite,
        addresses_of=addresses,
        block_rows=2,  # several transactions per block group, one height's rows split between two
    ).prune()
    assert report.cutoff == 7 and report.blocks_deleted == 4  # 1, 2, 3, 6; 4 is a keep_every multiple, 5 a change
    assert [c.header.height for c in app.validator_changes(10)] == [5]
    assert store.earliest_block_height() == 7
    with pytest.raises(Pruned, match="block 3 is pruned"):
        app.header(3)
    assert app.header(4).height == 4 and app.header(7).height == 7
    assert [store.tx_position(h) for h in hashes] == [
        None,
        None,
        None,
        (4, 0),
        (5, 0),
        None,
        (7, 0),
        (8, 0),
        (9, 0),
        (10, 0),
    ]
    assert [h for h, _, _ in store.account_txs(addr(actors.bob))] == [4, 5, 7, 8, 9, 10]
    assert store.receipts(3) == [] and len(store.receipts(7)) == 1
    assert store.commit(3) is None and store.commit(4) is not None
    assert store.height_of_block(app.info().block_id) == 10


def test_pruning_on_lmdb_while_blocks_commit_from_another_thread_ends_consistent(
    actors: Actors, tmp_path: Path
) -> None:
    kv = SplitStore(tmp_path / "data", map_size=1 << 30)
    try:
        chain = make_app_chain(make_params(actors), actors, kv)
        store: ChainStore = chain.app.store
        retention = Retention(keep_recent=3, keep_every=10)
        pruner = Pruner(store, retention, chain.app.suite)
        done = threading.Event()
        failures: list[BaseException] = []

        def prune_forever() -> None:
            try:
                while not done.is_set():
                    pruner.prune()
            except BaseException as exc:
                failures.append(exc)

        thread = threading.Thread(target=prune_forever)
        thread.start()
        try:
            transfers(chain, actors, 40)
        finally:
            done.set()
            thread.join(30)
        assert not failures
        pruner.prune()
        tip = chain.app.info().height
        cutoff = retention.cutoff(tip)
        live: set[bytes] = set()
        for h in range(tip + 1):
            root = store.state_root_at(h)
            if not (h >= cutoff or retention.permanent(h)):
                assert root is None
                continue
            assert root is not None
            todo = [] if root == ZERO_HASH else [root]
            while todo:
                n = todo.pop()
                live.add(n)
                enc = store.get_node(n)
                assert enc is not None
                if enc[0] == 2:
                    todo += [enc[3 + 32 * j : 35 + 32 * j] for j in range(int.from_bytes(enc[1:3], "big").bit_count())]
            key = account_key(addr(actors.bob))
            proof = prove(chain.app.suite, store, root, key, h)
            if h:
                verify_state_proof(chain.app.suite, key, chain.app.reader(h).get(key), proof, chain.app.header(h))
        stored = {k for k, _ in kv.scan("smt_nodes", b"\x00", b"\xff" * 33, limit=10**6)}
        assert stored == live
        assert pruner.last is not None and pruner.last.longest_txn_s < 1.0
    finally:
        kv.close()


def test_the_pruning_thread_runs_a_pass_every_interval_blocks_and_stops(actors: Actors) -> None:
    chain = make_app_chain(make_params(actors), actors, MemoryStore())
    store = chain.app.store
    pruner = Pruner(store, Retention(keep_recent=2), chain.app.suite, interval=4)
    pruner.start()
    try:
        transfers(chain, actors, 3)
        pruner.notify(3)  # the first notice runs a pass
        assert pruner.passed.wait(10) and pruner.last is not None and pruner.last.cutoff == 2
        pruner.passed.clear()
        transfers(chain, actors, 3, nonce=3)
        pruner.notify(6)  # 3 blocks since: not yet
        assert not pruner.passed.wait(0.2)
        transfers(chain, actors, 1, nonce=6)
        pruner.notify(7)
        assert pruner.passed.wait(10) and pruner.last.cutoff == 6 and store.earliest_state_height() == 6
    finally:
        pruner.stop()
    assert pruner._thread is None


def test_a_pruning_node_answers_410_for_pruned_heights_and_says_its_earliest_in_status(tmp_path: Path) -> None:
    config = msgspec.structs.replace(
        node_config(),
        storage=StorageSection(keep_recent=2, prune_blocks=True, prune_interval_blocks=1),
    )
    api = ApiHarness(tmp_path / "home", config)
    try:
        pruner = api.node.pruner
        assert pruner is not None
        deleted = 0
        for i in range(4):
            pruner.passed.clear()
            api.commit(api.alice, Transfer(to=addr(api.bob), amount=1 + i))
            assert pruner.passed.wait(10) and pruner.last is not None
            deleted += pruner.last.nodes_deleted
        assert deleted > 0  # the node writes the lifetime rows its pruner needs
        status = api.get("/v1/status").json()
        tip = status["height"]
        assert status["earliest_state_height"] == tip - 1 and status["earliest_block_height"] == tip - 1
        gone = api.get("/v1/blocks/1")
        assert gone.status == 410 and gone.json()["code"] == "pruned"
        assert f"keeps blocks {tip - 1} to {tip}" in gone.json()["detail"]
        key = account_key(addr(api.bob)).hex()
        old = api.get(f"/v1/state/{key}?height=1&prove=true")
        assert old.status == 410 and f"keeps heights >= {tip - 1}" in old.json()["detail"]
        assert api.get(f"/v1/state/{key}?height={tip - 1}&prove=true").status == 200
        assert api.get(f"/v1/blocks/{tip - 1}").status == 200
    finally:
        api.close()


def test_an_archive_node_writes_no_lifetime_rows(tmp_path: Path) -> None:
    api = ApiHarness(tmp_path / "home", node_config())  # keep_recent = 0, the default
    try:
        assert api.node.pruner is None
        api.commit(api.alice, Transfer(to=addr(api.bob), amount=1))
        kv = api.node.app.store.kv
        assert kv.scan("smt_nodes", b"\x00", b"\xff" * 33, limit=1)
        assert not kv.scan("smt_born", b"\x00", b"\xff" * 41, limit=1)
        assert not kv.scan("smt_stale", b"\x00", b"\xff" * 41, limit=1)
    finally:
        api.close()


def test_a_snapshot_read_view_opened_before_pruning_still_builds_its_height(actors: Actors, tmp_path: Path) -> None:
    """Why ``keep_recent`` need not cover ``snapshot_interval``: the producer reads one LMDB MVCC view, and the
    pruner's deletes (write transactions) do not reach it, even those of the view's own height."""
    kv = SplitStore(tmp_path / "data", map_size=1 << 30)
    try:
        chain = make_app_chain(make_params(actors), actors, kv)
        store, suite = chain.app.store, chain.app.suite
        transfers(chain, actors, 3)
        root3 = store.state_root_at(3)
        assert root3 is not None
        (tmp_path / "ref").mkdir()
        with kv.read_view(VIEW_TABLES) as view:
            reference, _ = build_snapshot(suite, "c", view, 3, root3, tmp_path / "ref")
        opened, pruned, built = threading.Event(), threading.Event(), []

        def producer() -> None:  # LMDB read transactions stay on the thread that opened them
            with kv.read_view(VIEW_TABLES) as view:
                opened.set()
                assert pruned.wait(30)
                work = tmp_path / "late"
                work.mkdir()
                built.append(build_snapshot(suite, "c", view, 3, root3, work)[0])

        thread = threading.Thread(target=producer)
        thread.start()
        try:
            assert opened.wait(30)
            transfers(chain, actors, 3, nonce=3)
            report = Pruner(store, Retention(keep_recent=2), suite).prune()
            assert report.cutoff == 5 and store.get_node(root3) is None  # height 3's tree is gone from the store
        finally:
            pruned.set()
            thread.join(60)
        assert built == [reference]
    finally:
        kv.close()


def test_a_pruned_store_whose_state_was_lost_is_refused_naming_state_sync_and_wiped_by_it(
    actors: Actors, tmp_path: Path
) -> None:
    """ADR 0018 review: with prune_blocks and durable_state = false, a power loss discards the derived environment
    and the blocks to rebuild it from are pruned. The node refuses to start naming ``trellis node start
    --state-sync`` (not "block 1 is missing"), and the --state-sync start wipes the store."""
    disk = PowerLossDisk()
    params = make_params(actors)
    kv = SplitStore(Path("twin"), durable_state=False, environments=disk)
    chain = make_app_chain(params, actors, kv)
    transfers(chain, actors, 10)
    Pruner(chain.app.store, Retention(keep_recent=3, keep_every=0, prune_blocks=True), params.suite).prune()
    assert chain.app.store.earliest_block_height() > 1 and restore_status(kv) == "held"
    check_restored(kv)
    disk.power_loss()  # the unsynced derived environment was open: it is discarded on opening
    kv = SplitStore(Path("twin"), durable_state=False, environments=disk)
    assert kv.rebuilt and restore_status(kv) == "state_lost"
    with pytest.raises(StorageError, match=r"^[^\n]*trellis node start --state-sync[^\n]*durable_state = true"):
        check_restored(kv)
    with pytest.raises(StorageError, match="block 1 is missing"):  # what the node met without the check
        make_app_chain(params, actors, kv)
    kv.close()
    data = tmp_path / "data"
    lm = open_data_store(data)
    lm.write_tables({"chain_meta": {b"genesis": b"g", b"blocks_pruned_below": height_key(8)}})
    lm.close()
    fresh = prepare_store(data, durable_state=False)
    assert fresh is not None and restore_status(fresh) == "empty"
    fresh.close()
