"""The node's data directory (ADR 0011): blocks and certificates in an fsynced LMDB environment, derived tables
(state, tree, receipts, indexes) in one written without fsync. A crash between the two writes, or a reboot with
the derived environment open, is repaired on opening by re-executing the stored blocks, to the same state."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from trellis.app.application import GenesisMismatch, TrellisApp
from trellis.core.codec import encode
from trellis.core.ledger.tx import tx_hash
from trellis.core.modules.accounts.messages import Transfer
from trellis.core.modules.kv.messages import KvPut
from trellis.storage.chain_store import ChainStore, height_key
from trellis.storage.kv import CHAIN_TABLES, TABLES, LmdbStore, MemoryStore, SplitStore, StorageError, open_data_store

from .conftest import Actors, AppChain, addr, make_params, raw_tx


def _app(kv: object, actors: Actors, **kw: int) -> AppChain:
    return AppChain(app=TrellisApp(make_params(actors, **kw), ChainStore(kv)), validator=actors.validator)  # type: ignore[arg-type]


def _drive(chain: AppChain, actors: Actors, blocks: int, start_nonce: int = 0) -> list[str]:
    """Commit ``blocks`` blocks of transfers and kv writes; return the hashes of their transactions."""
    hashes = []
    nonce = start_nonce
    for _ in range(blocks):
        raws = []
        for i in range(6):
            payload = (
                Transfer(to=addr(actors.bob), amount=1 + i)
                if i % 2
                else KvPut(namespace="split", key=b"k%d" % i, value=b"n%d" % nonce)
            )
            raws.append(raw_tx(actors.alice, nonce, payload))
            nonce += 1
        chain.commit_txs(raws)
        hashes += [tx_hash(chain.app.suite, r).hex() for r in raws]
    return hashes


def _power_loss(kv: SplitStore, marker: str) -> None:
    """The machine goes down with the store open: nothing is closed cleanly, the unsynced environment's marker
    stays, and it now names a boot that is not the next one."""
    kv.state._env.close()
    kv.chain.close()
    (kv.path / "state" / LmdbStore.MARKER).write_text(marker)


def _fingerprint(app: TrellisApp, actors: Actors, hashes: list[str]) -> tuple[object, ...]:
    """Everything a reader sees: tip, state root, balances, receipts, positions and history of every tx."""
    store = app.store
    tip = app.info()
    positions = [store.tx_position(bytes.fromhex(h)) for h in hashes]
    receipts = [store.receipt(*p) for p in positions if p is not None]
    history = store.account_txs(addr(actors.alice), limit=10_000)
    return (
        tip,
        store.state_root_at(tip.height),
        app.account(addr(actors.alice)),
        app.account(addr(actors.bob)),
        positions,
        receipts,
        history,
        store.kv.scan("state", b"", b"\xff" * 64, limit=100_000),
    )


def test_the_chain_tables_go_to_the_durable_environment_and_the_rest_to_the_unsynced_one(tmp_path: Path) -> None:
    kv = SplitStore(tmp_path / "data")
    try:
        kv.write_tables({t: {b"k-" + t.encode(): b"v"} for t in TABLES})
        for table in TABLES:
            home, other = (kv.chain, kv.state) if table in CHAIN_TABLES else (kv.state, kv.chain)
            assert home.get(table, b"k-" + table.encode()) == b"v", table
            assert other.get(table, b"k-" + table.encode()) is None, table
            assert kv.get(table, b"k-" + table.encode()) == b"v"
        chain, state = kv.chain.flags(), kv.state.flags()  # type: ignore[attr-defined]  # LMDB's own flags
        assert chain["sync"] and chain["metasync"] and not state["sync"] and not state["metasync"]
        assert (tmp_path / "data" / "chain" / "data.mdb").exists()
        assert (tmp_path / "data" / "state" / "data.mdb").exists()
        with pytest.raises(StorageError, match="unknown table"):
            kv.write_tables({"nope": {b"k": b"v"}})
    finally:
        kv.close()


def test_a_clean_close_syncs_and_removes_the_open_marker(tmp_path: Path) -> None:
    kv = SplitStore(tmp_path / "data")
    marker = tmp_path / "data" / "state" / LmdbStore.MARKER
    assert marker.exists()
    kv.close()
    assert not marker.exists()
    again = SplitStore(tmp_path / "data")
    assert not again.rebuilt
    again.close()


def test_durable_state_fsyncs_both_environments_and_keeps_no_marker(tmp_path: Path) -> None:
    kv = SplitStore(tmp_path / "data", durable_state=True)
    try:
        assert all(f["sync"] and f["metasync"] for f in (kv.chain.flags(), kv.state.flags()))  # type: ignore[attr-defined]
        assert not (tmp_path / "data" / "state" / LmdbStore.MARKER).exists()
    finally:
        kv.close()


def test_a_crash_between_the_chain_write_and_the_state_write_is_re_executed_on_opening(
    tmp_path: Path, actors: Actors
) -> None:
    reference = _app(MemoryStore(), actors)
    ref_hashes = _drive(reference, actors, 4)

    kv = SplitStore(tmp_path / "data")
    chain = _app(kv, actors)
    hashes = _drive(chain, actors, 3)

    def dies(*args: object, **kw: object) -> None:
        raise KeyboardInterrupt("killed after the chain write")

    kv.state.write_tables = dies  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        _drive(chain, actors, 1, start_nonce=18)  # the reference's 4th block: same transactions, same time
    assert hashes == ref_hashes[:18]
    top, tip = ChainStore(kv).top(), ChainStore(kv).tip()
    assert top is not None and tip is not None and (top.height, tip.height) == (4, 3)
    del kv.state.write_tables
    kv.close()

    reopened = open_data_store(tmp_path / "data")
    try:
        app = TrellisApp(make_params(actors), ChainStore(reopened))
        assert app.replayed == 1
        assert app.info().height == 4
        assert _fingerprint(app, actors, ref_hashes) == _fingerprint(reference.app, actors, ref_hashes)
    finally:
        reopened.close()


def test_a_reboot_with_the_state_open_rebuilds_it_from_the_blocks(tmp_path: Path, actors: Actors) -> None:
    kv = SplitStore(tmp_path / "data")
    chain = _app(kv, actors)
    hashes = _drive(chain, actors, 5)
    before = _fingerprint(chain.app, actors, hashes)
    # The machine goes down with the store open: the marker stays, and the next boot has another id.
    _power_loss(kv, "a-boot-before-the-power-loss\n")

    reopened = SplitStore(tmp_path / "data")
    try:
        assert reopened.rebuilt
        assert ChainStore(reopened).tip() is None  # the derived tables are gone; the blocks are not
        app = TrellisApp(make_params(actors), ChainStore(reopened))
        assert app.replayed == 5
        assert _fingerprint(app, actors, hashes) == before
    finally:
        reopened.close()


def test_a_rebuilt_state_still_refuses_another_genesis(tmp_path: Path, actors: Actors) -> None:
    kv = SplitStore(tmp_path / "data")
    _drive(_app(kv, actors), actors, 1)
    _power_loss(kv, "another-boot\n")
    reopened = SplitStore(tmp_path / "data")
    try:
        with pytest.raises(GenesisMismatch):
            TrellisApp(make_params(actors, chain_id="another-chain"), ChainStore(reopened))
    finally:
        reopened.close()


def test_a_stored_block_that_does_not_re_execute_is_reported_not_silently_accepted(
    tmp_path: Path, actors: Actors
) -> None:
    kv = SplitStore(tmp_path / "data")
    _drive(_app(kv, actors), actors, 2)
    block = ChainStore(kv).require_block(2)
    tampered = msgspec.structs.replace(block.header, state_root=b"\x11" * 32)
    kv.chain.write_tables({"blocks": {height_key(2): encode(msgspec.structs.replace(block, header=tampered))}})
    _power_loss(kv, "another-boot\n")
    reopened = SplitStore(tmp_path / "data")
    try:
        with pytest.raises(StorageError, match="stored block 2 does not re-execute"):
            TrellisApp(make_params(actors), ChainStore(reopened))
    finally:
        reopened.close()


def test_a_data_directory_of_the_single_environment_layout_still_opens_as_it_is(tmp_path: Path, actors: Actors) -> None:
    legacy = LmdbStore(tmp_path / "data")
    chain = _app(legacy, actors)
    hashes = _drive(chain, actors, 2)
    before = _fingerprint(chain.app, actors, hashes)
    legacy.close()
    kv = open_data_store(tmp_path / "data")
    try:
        assert isinstance(kv, LmdbStore)
        assert not (tmp_path / "data" / "chain").exists()
        app = TrellisApp(make_params(actors), ChainStore(kv))
        assert app.replayed == 0
        assert _fingerprint(app, actors, hashes) == before
    finally:
        kv.close()
