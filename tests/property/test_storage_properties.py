"""The storage layout (trellis/storage), checked against plain models.

- The KVStore twins: any sequence of ``write_tables`` and ``write`` batches leaves LMDB, the in-memory twin,
  the power-loss twin and a dict model with the same contents, read back with ``get``, ``get_many`` and ``scan``.
- The power-loss twin: across any sequence of writes, syncs, clean closes, kills and power losses, an
  environment reopens with exactly what a model of LMDB's sync semantics says survived (a durable one: every
  returned write; an unsynced one: what was synced, plus the page cache after a kill), and with the operating
  system's flushing drawn at random, each value is its synced one or one written since.
- The chain store's per-block layout: whatever a block's receipts, transaction hashes, history index and
  state writes, every read method (``receipt``, ``receipts``, ``tx_position(s)``, ``account_txs``, ``get``)
  answers what one row per receipt would have answered, and the stored receipts value holds each receipt's
  canonical encoding.
"""

from __future__ import annotations

import random
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trellis.core.codec import decode, encode
from trellis.core.execution.block import ExecutedBlock
from trellis.core.execution.reference import BlockOutput
from trellis.core.ledger.block import Block, Commit, Header, Receipt
from trellis.core.ledger.state_tree import TreeUpdate
from trellis.storage.chain_store import ChainStore, height_key
from trellis.storage.kv import KVStore, LmdbStore, MemoryStore
from trellis.storage.power_loss import PowerLossDisk, SimulatedCrash

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

TABLES = ("state", "meta")
KEY = st.binary(min_size=1, max_size=3)  # few distinct keys, so writes collide and overwrite
VALUE = st.binary(max_size=8)
PUTS = st.dictionaries(st.sampled_from(TABLES), st.dictionaries(KEY, VALUE, max_size=8), max_size=2)
DELETES = st.dictionaries(st.sampled_from(TABLES), st.lists(KEY, max_size=4), max_size=2)
OLD_BATCH = st.lists(st.tuples(st.sampled_from(TABLES), KEY, st.one_of(st.none(), VALUE)), max_size=8)
OPS = st.lists(
    st.one_of(st.tuples(st.just("tables"), PUTS, DELETES), st.tuples(st.just("batch"), OLD_BATCH)), max_size=6
)


@contextmanager
def both_stores() -> Iterator[tuple[KVStore, ...]]:
    with tempfile.TemporaryDirectory() as tmp:
        lmdb_store = LmdbStore(Path(tmp) / "db", map_size=1 << 24)
        try:
            yield lmdb_store, MemoryStore(), PowerLossDisk().open("db", durable=False)
        finally:
            lmdb_store.close()


@SETTINGS
@given(OPS, st.lists(KEY, max_size=10))
def test_lmdb_and_the_memory_twin_agree_with_a_dict_model(ops: list[tuple], probes: list[bytes]) -> None:  # type: ignore[type-arg]
    model: dict[str, dict[bytes, bytes]] = {t: {} for t in TABLES}
    with both_stores() as stores:
        for op in ops:
            if op[0] == "tables":
                _, puts, deletes = op
                for store in stores:
                    store.write_tables(puts, {t: iter(keys) for t, keys in deletes.items()})
                for t, keys in deletes.items():
                    for k in keys:
                        model[t].pop(k, None)
                for t, rows in puts.items():
                    model[t].update(rows)
            else:
                for store in stores:
                    store.write(op[1])
                for t, k, v in op[1]:
                    if v is None:
                        model[t].pop(k, None)
                    else:
                        model[t][k] = v
        for store in stores:
            for t in TABLES:
                assert store.get_many(t, probes) == [model[t].get(k) for k in probes]
                assert [store.get(t, k) for k in probes] == [model[t].get(k) for k in probes]
                assert store.scan(t, b"\x00", b"\xff" * 4, limit=1000) == sorted(model[t].items())


FAULTS = st.lists(
    st.one_of(
        st.tuples(st.just("tables"), PUTS, DELETES),
        st.tuples(st.just("batch"), OLD_BATCH),
        st.tuples(st.sampled_from(["sync", "close", "kill", "power_loss"])),
        st.tuples(st.just("flushed"), st.integers(min_value=0, max_value=2**32)),
        st.tuples(st.just("crash_in_write"), PUTS, st.booleans()),
    ),
    max_size=12,
)


@SETTINGS
@given(st.booleans(), FAULTS)
def test_the_power_loss_twin_keeps_exactly_what_lmdb_s_sync_semantics_keep(durable: bool, ops: list[tuple]) -> None:  # type: ignore[type-arg]
    disk = PowerLossDisk()
    env = disk.open("db", durable=durable)
    seen: dict[str, dict[bytes, bytes]] = {t: {} for t in TABLES}  # what this process reads
    synced: dict[str, dict[bytes, bytes]] = {t: {} for t in TABLES}  # what is on the disk
    since: dict[tuple[str, bytes], set[bytes | None]] = {}  # values written to a key since it was synced
    for op in ops:
        if op[0] in ("tables", "batch", "crash_in_write"):
            if op[0] == "tables":
                _, puts, deletes = op
                env.write_tables(puts, deletes)
                rows = [(t, k, None) for t, keys in deletes.items() for k in keys]
                rows += [(t, k, v) for t, r in puts.items() for k, v in r.items()]
            elif op[0] == "batch":
                env.write(op[1])
                rows = op[1]
            else:  # the process dies in this write, before or after it took effect
                _, puts, done = op
                disk.crash_after(0, done=done)
                with pytest.raises(SimulatedCrash):
                    env.write_tables(puts)
                with pytest.raises(SimulatedCrash):  # and nothing runs after it
                    env.write_tables(puts)
                rows = [(t, k, v) for t, r in puts.items() for k, v in r.items()] if done else []
                disk.kill()
                env = disk.open("db", durable=durable)
            for t, k, v in rows:
                if v is None:
                    seen[t].pop(k, None)
                else:
                    seen[t][k] = v
                since.setdefault((t, k), set()).add(v)
            if durable:
                synced = {t: dict(r) for t, r in seen.items()}
                since.clear()
            continue
        if op[0] in ("sync", "close"):
            if op[0] == "sync":
                env.sync()
            else:
                env.close()
                env = disk.open("db", durable=durable)
                assert not env.was_interrupted_by_reboot
            synced = {t: dict(r) for t, r in seen.items()}
            since.clear()
        elif op[0] == "kill":
            disk.kill()
            env = disk.open("db", durable=durable)
            assert not env.was_interrupted_by_reboot  # the same boot
        else:
            disk.power_loss(None if op[0] == "power_loss" else random.Random(op[1]))
            env = disk.open("db", durable=durable)
            # An unsynced environment was open (its marker says so); a durable one keeps no marker.
            assert env.was_interrupted_by_reboot == (not durable)
            if op[0] == "power_loss" or durable:
                seen = {t: dict(r) for t, r in synced.items()}
            else:
                seen = {t: dict(r) for t, r in _rows(env).items()}
                for t in TABLES:
                    for k in seen[t].keys() | synced[t].keys():
                        assert seen[t].get(k) == synced[t].get(k) or seen[t].get(k) in since.get((t, k), ()), k
            synced = {t: dict(r) for t, r in seen.items()}
            since.clear()
        assert _rows(env) == seen
    assert _rows(env) == seen


def _rows(kv: KVStore) -> dict[str, dict[bytes, bytes]]:
    return {t: dict(kv.scan(t, b"\x00", b"\xff" * 4, limit=1000)) for t in TABLES}


ADDRESS = st.binary(min_size=20, max_size=20)


@st.composite
def blocks(draw: st.DrawFn) -> tuple[int, list[Receipt], list[bytes], list[list[bytes]]]:
    height = draw(st.integers(min_value=1, max_value=2**40))
    receipts = draw(st.lists(st.from_type(Receipt), max_size=12))
    hashes = draw(
        st.lists(st.binary(min_size=32, max_size=32), min_size=len(receipts), max_size=len(receipts), unique=True)
    )
    index = [
        draw(st.lists(st.sampled_from([b"a" * 20, b"b" * 20, b"c" * 20]), min_size=1, max_size=2, unique=True))
        for _ in receipts
    ]
    return height, receipts, hashes, index


def _executed(
    height: int, receipts: list[Receipt], hashes: list[bytes], writes: dict[bytes, bytes | None]
) -> ExecutedBlock:
    header = Header(
        chain_id="prop",
        height=height,
        time_ms=height,
        parent_hash=bytes(32),
        tx_root=bytes(32),
        results_root=bytes(32),
        state_root=b"\x07" * 32,
        tx_count=len(receipts),
        proposer=bytes(20),
        validators_hash=bytes(32),
        next_validators_hash=bytes(32),
    )
    return ExecutedBlock(
        block=Block(header=header, txs=[]),
        block_id=height.to_bytes(32, "big"),
        tx_bytes=[],
        output=BlockOutput(receipts=receipts, writes=writes, tx_hashes=hashes, senders=[bytes(20)] * len(hashes)),
        tree=TreeUpdate(root=b"\x07" * 32, nodes={b"n" * 32: b"node"}, values={b"v" * 32: b"value"}),
    )


@SETTINGS
@given(blocks(), st.dictionaries(st.binary(min_size=1, max_size=4), st.one_of(st.none(), VALUE), max_size=6))
def test_a_committed_block_reads_back_as_one_row_per_receipt_would(
    block: tuple[int, list[Receipt], list[bytes], list[list[bytes]]], writes: dict[bytes, bytes | None]
) -> None:
    height, receipts, hashes, index = block
    with both_stores() as stores:
        for kv in stores:
            kv.write([("state", k, b"before") for k in writes])
            store = ChainStore(kv, track_lifetimes=True)  # the born rows of a pruning node (ADR 0018)
            commit = Commit(height=height, round=0, block_hash=height.to_bytes(32, "big"), signatures=[])
            tip = store.commit_block(_executed(height, receipts, hashes, writes), commit, index)
            assert tip.height == height and store.tip() == tip
            value = kv.get("receipts", height_key(height))
            assert value is not None
            assert [bytes(r) for r in decode(value, list[msgspec.Raw])] == [encode(r) for r in receipts]
            assert store.receipts(height) == receipts
            assert [store.receipt(height, i) for i in range(len(receipts) + 1)] == [*receipts, None]
            assert store.tx_positions(hashes) == [(height, i) for i in range(len(hashes))]
            assert [store.tx_position(h) for h in hashes] == [(height, i) for i in range(len(hashes))]
            for addr in (b"a" * 20, b"b" * 20, b"c" * 20):
                expected = [
                    (height, i, h) for i, (h, addrs) in enumerate(zip(hashes, index, strict=True)) if addr in addrs
                ]
                assert store.account_txs(addr, limit=100) == expected
            assert store.get_many(list(writes)) == list(writes.values())
            assert store.get_node(b"n" * 32) == b"node" and store.value_by_hash(b"v" * 32) is None  # ADR 0018
            assert kv.get("smt_born", b"n" * 32 + height_key(height)) == b""
            assert store.state_root_at(height) == b"\x07" * 32
            assert store.commit(height) == commit
