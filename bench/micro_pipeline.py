"""Micro-benchmark of the per-transaction storage, state-tree and admission-lookup costs (issue 4, ADR 0006).

Runs in one process on a temporary LMDB store, with a workload shaped like ``trellis bench``'s transfers
(2,000 funded accounts, sender i pays i+1, blocks of 10,000 transfers). Signatures are dummies: nothing here
verifies them. Prints one JSON object: µs per transaction for each stage (median of ``--blocks`` blocks or
repeats), and same-run baselines — plain LMDB and hashing work of the same size — so that ratios stay
meaningful on a noisy shared machine. Each timed section starts after ``gc.collect()``, so that a full
collection of the (large) benchmark heap does not land in one section by chance.

Stages:
  store          ``TrellisApp.commit`` (history index rows + ``ChainStore.commit_block``: building the write
                 batch and the one LMDB write transaction, fsync included); split into ``store_kv_write``
                 (time inside the KVStore's write calls) and ``store_build`` (the rest)
  state_tree     ``apply_updates`` for one block's state writes
  state_tree_big ``apply_updates`` of 2,000 writes to a tree of ``--tree-keys`` keys in LMDB, per write (not
                 per transaction): deeper trees, more node reads
  admit_lookups  the "already committed?" tx-index lookups of a 10,000-transaction batch and the committed
                 nonces of its distinct senders, as admission does them
  check_txs      ``TrellisApp.check_txs`` on that batch with a verifier that accepts everything
  mempool_admit  admitting the checked batch into an empty mempool (committed-nonce reads included)
  mempool_remove ``Mempool.remove_committed`` after a block, with two blocks' worth of transactions pending

Baselines:
  lmdb_putmulti       one LMDB write transaction (sync) putting 4 rows per transaction with ``putmulti``
  lmdb_getmulti       one LMDB read transaction fetching the batch's tx-index keys with ``getmulti``
  hash_floor          ``suite.tagged_hash`` once per node the state-tree update writes plus twice per state write

``--prefill N`` first loads the history tables as a chain of N transactions would have them (N tx-index rows,
2N account-history rows, 0.27N tree nodes, random keys as real hashes are): LMDB's copy-on-write B-tree pays
for random-key inserts in proportion to the pages they land on, so the store figure grows with the chain.

Usage: .venv/bin/python bench/micro_pipeline.py [--txs 10000] [--accounts 2000] [--blocks 5] [--prefill 0] [--tree-keys 100000]
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import os
import random
import statistics
import struct
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import lmdb

from trellis.abci import CheckedTx
from trellis.app.application import TrellisApp
from trellis.core.codec import encode
from trellis.core.crypto.suite import ED25519, address_of
from trellis.core.execution.block import ExecutedBlock
from trellis.core.ledger.state_tree import apply_updates
from trellis.core.ledger.tx import TxBody, sign_tx, tx_hash
from trellis.core.modules.accounts.messages import Transfer
from trellis.core.params import Genesis, GenesisAccount, GenesisLimits, GenesisValidator, params_from_genesis
from trellis.core.types import ZERO_HASH
from trellis.keys.signer import MemorySigner
from trellis.node.mempool import Mempool
from trellis.node.privval import solo_commit
from trellis.storage.chain_store import ChainStore
from trellis.storage.kv import LmdbStore

CHAIN_ID = "micro"
GENESIS_MS = 1_700_000_000_000


class AcceptAll:
    """A ``BatchVerifier`` that accepts every signature (signature cost is not what this measures)."""

    name = "accept-all"
    checks_signatures = True  # the signing bytes are built as a real verifier needs them; only the check is skipped

    def verify_batch(self, items: Sequence[tuple[bytes, bytes, bytes]]) -> list[bool]:
        return [True] * len(items)


class TimedKV:
    """Wraps a KVStore and accumulates the time spent inside its write calls."""

    def __init__(self, inner: LmdbStore) -> None:
        self.inner = inner
        self.write_s = 0.0

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)
        if name.startswith("write"):

            def timed(*a: Any, **kw: Any) -> Any:
                t = time.perf_counter()
                try:
                    return attr(*a, **kw)
                finally:
                    self.write_s += time.perf_counter() - t

            return timed
        return attr


def _pub(i: int) -> bytes:
    return MemorySigner(hashlib.sha256(b"micro-%d" % i).digest()).public_key


def _dummy_sign(_: bytes) -> bytes:
    return b"\x01" * 64


def _checked(params: Any, pubs: list[bytes], addrs: list[bytes], sender: int, nonce: int) -> CheckedTx:
    to = addrs[(sender + 1) % len(addrs)]
    body = TxBody(chain_id=CHAIN_ID, sender=pubs[sender], nonce=nonce, payload=Transfer(to=to, amount=1))
    tx = sign_tx(body, _dummy_sign)
    raw = encode(tx)
    return CheckedTx(tx=tx, raw=raw, hash=tx_hash(ED25519, raw), sender=addrs[sender])


def _median_us(samples: list[float], n: int) -> float:
    return round(statistics.median(samples) / n * 1e6, 3)


def _best(fn: Callable[[], Any], repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        gc.collect()
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def _prefill(kv: LmdbStore, n: int, addrs: list[bytes]) -> None:
    """History rows of an ``n``-transaction chain at heights far above the benchmark's own blocks."""
    hi = struct.Struct(">QI")
    rng = random.Random(4)
    chunk = 100_000
    for start in range(0, n, chunk):
        m = min(chunk, n - start)
        pos = [hi.pack(10**9 + (start + i) // 10_000, (start + i) % 10_000) for i in range(m)]
        hashes = [rng.randbytes(32) for _ in range(m)]
        batch: list[tuple[str, bytes, bytes | None]] = [("tx_index", h, p) for h, p in zip(hashes, pos, strict=True)]
        for k in (0, 1):
            batch += [
                ("account_txs", addrs[(start + i + k) % len(addrs)] + p, h)
                for i, (h, p) in enumerate(zip(hashes, pos, strict=True))
            ]
        batch += [("smt_nodes", rng.randbytes(32), rng.randbytes(200)) for _ in range(m * 27 // 100)]
        batch.sort(key=lambda row: (row[0], row[1]))
        kv.write(batch)


def _big_tree(path: Path, n_keys: int, writes: int = 2_000) -> list[float]:
    """Seconds per ``apply_updates`` of ``writes`` random account writes to an ``n_keys``-key tree in LMDB."""
    rng = random.Random(5)
    kv = LmdbStore(path, map_size=4 << 30)
    store = ChainStore(kv)
    keys = [b"acct/" + rng.randbytes(20) for _ in range(n_keys)]
    root = ZERO_HASH
    for start in range(0, n_keys, 20_000):
        tree = apply_updates(ED25519, store, root, {k: rng.randbytes(40) for k in keys[start : start + 20_000]})
        kv.write([("smt_nodes", h, node) for h, node in tree.nodes.items()])
        root = tree.root
    out = []
    for _ in range(5):
        updates = {k: rng.randbytes(40) for k in rng.sample(keys, writes)}
        gc.collect()
        t = time.perf_counter()
        apply_updates(ED25519, store, root, updates)
        out.append((time.perf_counter() - t) / writes)
    kv.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--txs", type=int, default=10_000)
    ap.add_argument("--accounts", type=int, default=2_000)
    ap.add_argument("--blocks", type=int, default=5)
    ap.add_argument("--prefill", type=int, default=0, help="history rows of a chain this many txs long")
    ap.add_argument("--tree-keys", type=int, default=100_000, help="keys in the big state tree (0: skip)")
    ap.add_argument(
        "--track-lifetimes",
        action="store_true",
        help="write the smt_born/smt_stale rows of a pruning node ([storage] keep_recent > 0, ADR 0018)",
    )
    args = ap.parse_args()
    n_tx, n_acc, n_blocks = args.txs, args.accounts, args.blocks

    validator = MemorySigner(hashlib.sha256(b"micro-validator").digest())
    pubs = [_pub(i) for i in range(n_acc)]
    addrs = [address_of(ED25519, p) for p in pubs]
    genesis = Genesis(
        chain_id=CHAIN_ID,
        genesis_time_ms=GENESIS_MS,
        validators=[GenesisValidator(name="v0", public_key=validator.public_key.hex(), power=1)],
        mint_authority=addrs[0].hex(),
        accounts=[GenesisAccount(address=a.hex(), balance=10**12) for a in addrs],
        limits=GenesisLimits(max_block_txs=max(n_tx, 1)),
    )
    params = params_from_genesis(genesis)

    with tempfile.TemporaryDirectory(prefix="micro-pipeline-") as tmp:
        kv = TimedKV(LmdbStore(Path(tmp) / "chain", map_size=8 << 30))
        store = ChainStore(kv, track_lifetimes=args.track_lifetimes)
        app = TrellisApp(params, store, verifier=AcceptAll())
        _prefill(kv.inner, args.prefill, addrs)
        nonces = [0] * n_acc
        time_ms = GENESIS_MS

        def next_batch() -> list[CheckedTx]:
            out = []
            for i in range(n_tx):
                s = i % n_acc
                out.append(_checked(params, pubs, addrs, s, nonces[s]))
                nonces[s] += 1
            return out

        store_s: list[float] = []
        write_s: list[float] = []
        tree_s: list[float] = []
        tree_hash_calls = 0
        executed: ExecutedBlock | None = None
        for b in range(n_blocks + 1):  # block 0 warms up caches and the file
            batch = next_batch()
            time_ms += 1000
            executed = app.prepare_proposal(batch, time_ms, address_of(ED25519, validator.public_key))
            assert executed.block.header.tx_count == n_tx, "every transfer must make it into the block"
            cert = solo_commit(ED25519, CHAIN_ID, validator, executed)
            parent_root = app.info().state_root
            # The state-tree update, re-run on the committed parent (it only reads the store).
            gc.collect()
            t = time.perf_counter()
            apply_updates(ED25519, store, parent_root, executed.output.writes)
            tree_t = time.perf_counter() - t
            kv.write_s = 0.0
            gc.collect()
            t = time.perf_counter()
            app.commit(executed, cert)
            total = time.perf_counter() - t
            if b:
                store_s.append(total)
                write_s.append(kv.write_s)
                tree_s.append(tree_t)
                tree_hash_calls = len(executed.tree.nodes) + 2 * len(executed.output.writes)

        # Admission: the next batch, not yet committed.
        pending = next_batch()
        raws = [c.raw for c in pending]
        hashes = [c.hash for c in pending]
        senders = sorted(set(c.sender for c in pending))
        tx_positions = getattr(store, "tx_positions", None)
        account_nonces = getattr(app, "account_nonces", None)

        def lookups() -> None:
            # What admission does per batch; the per-key loop is what the code did before get_many.
            if tx_positions is not None:
                tx_positions(hashes)
            else:
                for h in hashes:
                    store.tx_position(h)
            if account_nonces is not None:
                account_nonces(senders)
            else:
                for a in senders:
                    app.account_nonce(a)

        lookup_s = _best(lookups, 5)
        check_s = _best(lambda: app.check_txs(raws), 5)
        checked = [c for c in app.check_txs(raws) if isinstance(c, CheckedTx)]
        assert len(checked) == n_tx

        def new_pool() -> Mempool:
            many = getattr(app, "account_nonces", None)
            if many is not None:
                try:
                    return Mempool(app.account_nonce, committed_nonces=many, max_txs=10**6, max_bytes=1 << 32)
                except TypeError:  # a tree from before committed_nonces existed
                    pass
            return Mempool(app.account_nonce, max_txs=10**6, max_bytes=1 << 32)

        def admit(pool: Mempool, cs: list[CheckedTx]) -> None:
            add_many = getattr(pool, "add_many", None)
            if add_many is not None:
                add_many(cs)
            else:
                for c in cs:
                    pool.add(c)

        admit_s = _best(lambda: admit(new_pool(), checked), 5)

        # remove_committed: two blocks pending (this batch and the next), the first one commits.
        later = next_batch()
        remove_s: list[float] = []
        pool = new_pool()
        admit(pool, checked)
        admit(pool, later)
        time_ms += 1000
        executed = app.prepare_proposal(
            pool.candidates(n_tx, 1 << 32), time_ms, address_of(ED25519, validator.public_key)
        )
        app.commit(executed, solo_commit(ED25519, CHAIN_ID, validator, executed))
        gc.collect()
        t = time.perf_counter()
        pool.remove_committed(executed.output.tx_hashes)
        remove_s.append(time.perf_counter() - t)
        assert len(pool) == len(later)

        big_tree_s = _big_tree(Path(tmp) / "tree", args.tree_keys) if args.tree_keys else [0.0]

        # -- baselines ------------------------------------------------------------------------------------------
        env = lmdb.open(str(Path(tmp) / "base"), map_size=8 << 30, max_dbs=4, sync=True, metasync=True, readahead=False)
        db = env.open_db(b"t")
        hi = struct.Struct(">QI")
        put_s: list[float] = []
        for b in range(1, n_blocks + 1):
            rows = [(hi.pack(b, i) + bytes(20) + bytes(4 * j), hi.pack(b, i)) for i in range(n_tx) for j in range(4)]
            gc.collect()
            t = time.perf_counter()
            with env.begin(write=True) as txn:
                txn.cursor(db=db).putmulti(rows)
            put_s.append(time.perf_counter() - t)
        with env.begin(write=True) as txn:
            txn.cursor(db=db).putmulti([(h, b"x" * 12) for h in hashes])

        def getmulti() -> None:
            with env.begin(db=db, buffers=False) as txn:
                txn.cursor().getmulti(hashes)

        getmulti_s = _best(getmulti, 5)
        env.close()
        inputs = [os.urandom(64) for _ in range(tree_hash_calls)]
        hash_s = _best(lambda: [ED25519.tagged_hash(b"trellis/smt/node", x) for x in inputs], 5)
        kv.inner.close()

    n = n_tx
    store_med = _median_us(store_s, n)
    report = {
        "txs_per_block": n,
        "accounts": n_acc,
        "blocks": n_blocks,
        "prefill_txs": args.prefill,
        "tree_keys": args.tree_keys,
        "track_lifetimes": args.track_lifetimes,
        "python": sys.version.split()[0],
        "us_per_tx": {
            "store": store_med,
            "store_kv_write": _median_us(write_s, n),
            "store_build": round(store_med - _median_us(write_s, n), 3),
            "state_tree": _median_us(tree_s, n),
            "state_tree_big_per_write": _median_us(big_tree_s, 1),
            "admit_lookups": _median_us(lookup_s, n),
            "check_txs": _median_us(check_s, n),
            "mempool_admit": _median_us(admit_s, n),
            "mempool_remove": _median_us(remove_s, n),
        },
        "baseline_us_per_tx": {
            "lmdb_putmulti_4_rows": _median_us(put_s, n),
            "lmdb_getmulti": _median_us(getmulti_s, n),
            "hash_floor": _median_us(hash_s, n),
        },
        "state_tree_nodes_written": len(executed.tree.nodes) if executed else 0,
        "state_writes": len(executed.output.writes) if executed else 0,
    }
    base = report["baseline_us_per_tx"]
    us = report["us_per_tx"]
    report["ratios"] = {
        "store / lmdb_putmulti_4_rows": round(us["store"] / base["lmdb_putmulti_4_rows"], 2),
        "admit_lookups / lmdb_getmulti": round(us["admit_lookups"] / base["lmdb_getmulti"], 2),
        "state_tree / hash_floor": round(us["state_tree"] / base["hash_floor"], 2),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
