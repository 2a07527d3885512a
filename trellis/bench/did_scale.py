"""DID registration at scale: ``python -m trellis.bench.did_scale --dids 100000``.

Registers N DIDs through the real execution and storage path — ``TrellisApp.prepare_proposal`` (execution of
``identity.did_create``, state-tree update, block building) and ``TrellisApp.commit`` (one LMDB write per block,
fsync'd) — on a one-validator chain, without a network. Signatures are not checked (``prepare_proposal`` takes
already-admitted ``CheckedTx`` objects, and admission is what verifies them; its cost is measured by
``trellis bench``), so the set-up runs at the speed of execution and storage.

The model is institutions registering people: ``--registrars`` registrar DIDs are created first; each further
DID has its own Ed25519 key (authentication and assertion) and its registrar's DID as controller, and is sent by
the registrar's key (authorised as the controller).

Reports (JSON on stdout, and into ``--out``): bytes of storage per DID (LMDB file size / N, and per table),
registration rate, resolve latency p50/p99 at that size (the app-layer resolver on the LMDB store, plus the
same with state proofs), and a cost model for 10^8 and 10^9 DIDs.

With ``--keep-recent K`` (and ``--keep-every E``, ``--prune-blocks``: ADR 0018 section 1) the store is then
pruned by ``trellis.storage.pruning.Pruner`` as a node with that ``[storage]`` retention would prune it, and the
report adds a ``pruning`` section: bytes per DID per table before and after (LMDB used pages per named database:
(branch + leaf + overflow pages) * page size), the size of a compacted copy of the pruned store, the pass's
time and longest write transaction, state proofs of sampled DIDs verified at retained heights (present and
absent), the error a pruned height answers, and the 10^8 extrapolation of the pruned figure. With pruning the
store writes the lifetime rows a pruning node writes (``ChainStore.track_lifetimes``).

``--layout lmdb`` (the default) writes one LMDB environment fsynced every transaction; ``--layout split`` a node's
data directory (``SplitStore``: chain tables fsynced, derived ones not, as with ``[node] durable_state = false``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lmdb

from trellis.abci import CheckedTx, NotFound, QueryRequest
from trellis.app.application import TrellisApp
from trellis.app.modules.accounts import involved_addresses
from trellis.app.modules.identity import resolution_result, resolve
from trellis.core.codec import encode
from trellis.core.crypto.suite import ED25519, address_of
from trellis.core.execution.context import PointReader
from trellis.core.ledger.block import Block, Receipt
from trellis.core.ledger.state_tree import verify_state_proof
from trellis.core.ledger.tx import SignedTx, TxBody, sender_address, tx_hash
from trellis.core.modules.identity.did import format_did
from trellis.core.modules.identity.messages import DidCreate, DidDocument, DidVerificationMethod
from trellis.core.modules.identity.state import did_key
from trellis.core.params import ChainParams, Genesis, GenesisLimits, GenesisValidator, params_from_genesis
from trellis.keys.signer import MemorySigner
from trellis.node.privval import solo_commit
from trellis.storage.chain_store import ChainStore
from trellis.storage.kv import KVStore, LmdbStore, SplitStore, open_data_store
from trellis.storage.pruning import Pruner, Retention

CHAIN_ID = "did-scale"
_DUMMY_SIG = bytes(64)


def _pct(xs: list[float], p: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(p / 100 * len(s)))]


def _checked(sender: MemorySigner, sender_addr: bytes, nonce: int, payload: DidCreate) -> CheckedTx:
    body = TxBody(chain_id=CHAIN_ID, sender=sender.public_key, nonce=nonce, payload=payload)
    tx = SignedTx(body=body, signature=_DUMMY_SIG)
    raw = encode(tx)
    return CheckedTx(tx=tx, raw=raw, hash=tx_hash(ED25519, raw), sender=sender_addr)


def _envs(path: Path) -> list[Path]:
    """The LMDB environments of a data directory: itself (one ``LmdbStore``) or ``chain/`` and ``state/`` (a
    node's ``SplitStore``)."""
    return [path] if (path / "data.mdb").exists() else [path / "chain", path / "state"]


def _table_bytes(path: Path) -> dict[str, int]:
    """Used bytes per table, over every environment of the data directory ``path``."""
    out: dict[str, int] = {}
    for env_path in _envs(path):
        for name, used in _env_table_bytes(env_path).items():
            out[name] = out.get(name, 0) + used
    return out


def _env_table_bytes(path: Path) -> dict[str, int]:
    env = lmdb.open(str(path), readonly=True, max_dbs=32, lock=False)
    try:
        out = {}
        with env.begin() as txn:
            names = [name for name, _ in txn.cursor()]
        for name in names:
            db = env.open_db(name, create=False)
            with env.begin() as txn:
                st = txn.stat(db)
            out[name.decode()] = st["psize"] * (st["branch_pages"] + st["leaf_pages"] + st["overflow_pages"])
        return out
    finally:
        env.close()


def _compacted_bytes(path: Path) -> int:
    """The size of a compacted copy of the data directory ``path`` (free pages dropped), made and removed."""
    return sum(_env_compacted_bytes(env_path) for env_path in _envs(path))


def _env_compacted_bytes(path: Path) -> int:
    dest = Path(tempfile.mkdtemp(prefix="did-scale-compact-", dir=path.parent))
    try:
        env = lmdb.open(str(path), readonly=True, max_dbs=32, lock=False)
        try:
            env.copy(str(dest), compact=True)
        finally:
            env.close()
        return sum(f.stat().st_size for f in dest.iterdir())
    finally:
        shutil.rmtree(dest, ignore_errors=True)


def _repacked(path: Path) -> tuple[dict[str, int], dict[str, int]]:
    """``_env_repacked`` summed over the environments of the data directory ``path``."""
    used: dict[str, int] = {}
    entries: dict[str, int] = {}
    for env_path in _envs(path):
        u, e = _env_repacked(env_path)
        for name, v in u.items():
            used[name] = used.get(name, 0) + v
        for name, v in e.items():
            entries[name] = entries.get(name, 0) + v
    return used, entries


def _env_repacked(path: Path) -> tuple[dict[str, int], dict[str, int]]:
    """Copy every table of the LMDB environment at ``path`` into a fresh one, rows appended in key order (full
    pages), and return (used bytes, entries) per table of the copy, which is then removed. Pruning frees rows but
    LMDB keeps a page until it is under a quarter full, so used pages right after a pass overstate what the pruned
    data needs: the repacked copy is what it needs (and what new writes reuse the freed space towards)."""
    dest = Path(tempfile.mkdtemp(prefix="did-scale-repack-", dir=path.parent))
    src = lmdb.open(str(path), readonly=True, max_dbs=32, lock=False)
    dst = lmdb.open(str(dest), max_dbs=32, map_size=64 << 30, sync=False, metasync=False)
    try:
        with src.begin() as txn:
            names = [bytes(name) for name, _ in txn.cursor()]
        entries: dict[str, int] = {}
        for name in names:
            sdb = src.open_db(name, create=False)
            ddb = dst.open_db(name)
            count = 0
            with src.begin(db=sdb, buffers=False) as rtxn:
                cur = rtxn.cursor()
                more = cur.first()
                while more:
                    chunk: list[tuple[bytes, bytes]] = []
                    while more and len(chunk) < 200_000:
                        chunk.append((cur.key(), cur.value()))
                        more = cur.next()
                    with dst.begin(write=True, db=ddb) as wtxn:
                        wtxn.cursor().putmulti(chunk, append=True)
                    count += len(chunk)
            entries[name.decode()] = count
        dst.sync(True)
    finally:
        src.close()
        dst.close()
    try:
        return _env_table_bytes(dest), entries
    finally:
        shutil.rmtree(dest, ignore_errors=True)


def _open(data_dir: Path, layout: str) -> KVStore:
    """``lmdb``: one environment, fsynced every transaction (``LmdbStore``); ``split``: a node's data directory
    (``SplitStore``: the chain tables fsynced, the derived ones not, ``durable_state = false``, the default)."""
    if layout == "split":
        return SplitStore(data_dir, durable_state=False)
    return LmdbStore(data_dir)


def _per_did(tables: dict[str, int], n: int) -> dict[str, float]:
    return {k: round(v / n, 1) for k, v in sorted(tables.items()) if v}


def run(
    n: int,
    registrars: int,
    block_txs: int,
    samples: int,
    data_dir: Path,
    retention: Retention | None = None,
    layout: str = "lmdb",
) -> dict[str, Any]:
    """Register ``n`` DIDs into a fresh LMDB store under ``data_dir`` (then prune it by ``retention``, if given);
    return the report."""
    validator = MemorySigner(b"\x01" * 32)
    genesis = Genesis(
        chain_id=CHAIN_ID,
        genesis_time_ms=1_700_000_000_000,
        validators=[GenesisValidator(name="v0", public_key=validator.public_key.hex(), power=1)],
        mint_authority=address_of(ED25519, validator.public_key).hex(),
        accounts=[],
        limits=GenesisLimits(max_block_txs=max(block_txs, registrars)),
    )
    params = params_from_genesis(genesis)
    kv = _open(data_dir, layout)
    pruning_on = retention is not None and retention.keep_recent > 0
    app = TrellisApp(params, ChainStore(kv, track_lifetimes=pruning_on))
    proposer = address_of(ED25519, validator.public_key)
    rng = random.Random(7)
    regs = [MemorySigner(bytes([2, i % 256, i // 256]) + bytes(29)) for i in range(registrars)]
    reg_addrs = [address_of(ED25519, r.public_key) for r in regs]
    nonces = [0] * registrars
    time_ms = genesis.genesis_time_ms

    def commit_block(batch: list[CheckedTx]) -> None:
        nonlocal time_ms
        time_ms += 1000
        executed = app.prepare_proposal(batch, time_ms, proposer)
        assert executed.block.header.tx_count == len(batch), "every transaction fits the block"
        bad = [r for r in executed.output.receipts if r.code != 0]
        if bad:
            raise RuntimeError(f"{len(bad)} registrations failed, e.g. code {bad[0].code}: {bad[0].message}")
        app.commit(executed, solo_commit(params.suite, CHAIN_ID, validator, executed))

    # The registrars' own DIDs (each authenticated by its own key).
    reg_dids = []
    first: list[CheckedTx] = []
    for i, r in enumerate(regs):
        doc = DidDocument(
            verification_methods=[DidVerificationMethod(id="key-1", type="Multikey", public_key=r.public_key)],
            authentication=["key-1"],
            assertion_method=["key-1"],
        )
        did_id = bytes([0xAA]) + i.to_bytes(15, "big")
        reg_dids.append(format_did(CHAIN_ID, did_id))
        first.append(_checked(r, reg_addrs[i], 0, DidCreate(document=doc, id=did_id)))
        nonces[i] = 1
    commit_block(first)

    dids: list[str] = []
    did_ids: list[bytes] = []
    registered_at: list[int] = []
    t0 = time.perf_counter()
    block_times: list[float] = []
    done = 0
    while done < n:
        batch = []
        for _ in range(min(block_txs, n - done)):
            i = done % registrars
            doc = DidDocument(
                verification_methods=[
                    DidVerificationMethod(id="key-1", type="Ed25519VerificationKey2020", public_key=rng.randbytes(32))
                ],
                authentication=["key-1"],
                assertion_method=["key-1"],
                controllers=[reg_dids[i]],
            )
            did_id = rng.randbytes(16)
            dids.append(format_did(CHAIN_ID, did_id))
            did_ids.append(did_id)
            registered_at.append(app.info().height + 1)
            batch.append(_checked(regs[i], reg_addrs[i], nonces[i], DidCreate(document=doc, id=did_id)))
            nonces[i] += 1
            done += 1
        tb = time.perf_counter()
        commit_block(batch)
        block_times.append(time.perf_counter() - tb)
    elapsed = time.perf_counter() - t0
    height = app.info().height

    # Resolution latency at this size: the app-layer resolver and renderer on the LMDB store.
    picks = [dids[rng.randrange(len(dids))] for _ in range(samples)]
    lat = []
    for did in picks:
        ts = time.perf_counter()
        res = resolve(app.reader(), CHAIN_ID, did)
        resolution_result(CHAIN_ID, res)
        lat.append((time.perf_counter() - ts) * 1e6)
    proof_lat = []
    for did in picks[: max(1, samples // 10)]:
        ts = time.perf_counter()

        def proved(key: bytes) -> bytes | None:
            return app.query(QueryRequest(path="state", key=key, height=height, prove=True)).value

        resolution_result(CHAIN_ID, resolve(PointReader(proved), CHAIN_ID, did))
        proof_lat.append((time.perf_counter() - ts) * 1e6)
    kv.close()

    file_bytes = sum((e / "data.mdb").stat().st_size for e in _envs(data_dir))
    tables = _table_bytes(data_dir)
    pruning = None  # measured after the figures above, which are of the unpruned store
    if retention is not None and retention.keep_recent:
        pruning = _prune(params, data_dir, retention, n, did_ids, registered_at, rng)
    per_did = file_bytes / n
    rate = n / elapsed
    state_tables = ("state", "smt_nodes", "smt_values", "smt_born", "smt_stale", "smt_hist")
    state_per_did = sum(tables.get(t, 0) for t in state_tables) / n
    report: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "layout": layout,
        "dids": n,
        "registrars": registrars,
        "block_txs": block_txs,
        "blocks": height,
        "register_seconds": round(elapsed, 2),
        "register_dids_per_s": round(rate, 1),
        "block_ms_p50": round(statistics.median(block_times) * 1000, 1),
        "lmdb_file_bytes": file_bytes,
        "bytes_per_did": round(per_did, 1),
        "table_bytes_per_did": {k: round(v / n, 1) for k, v in sorted(tables.items())},
        "resolve_us": {"p50": round(_pct(lat, 50), 1), "p99": round(_pct(lat, 99), 1), "samples": len(lat)},
        "resolve_with_proof_us": {
            "p50": round(_pct(proof_lat, 50), 1),
            "p99": round(_pct(proof_lat, 99), 1),
            "samples": len(proof_lat),
        },
        "cost_model": {
            f"1e{e}": {
                "storage_gib": round(per_did * 10**e / 2**30, 1),
                "state_only_gib": round(state_per_did * 10**e / 2**30, 1),
                "register_hours_at_this_rate": round(10**e / rate / 3600, 1),
            }
            for e in (7, 8, 9)
        },
    }
    if pruning is not None:
        report["pruning"] = pruning
    return report


def _prune(
    params: ChainParams,
    data_dir: Path,
    retention: Retention,
    n: int,
    did_ids: list[bytes],
    registered_at: list[int],
    rng: random.Random,
) -> dict[str, Any]:
    """Prune the store as a node with ``retention`` would; measure it and check proofs at retained heights."""
    before = _table_bytes(data_dir)
    kv = open_data_store(data_dir)
    try:
        store = ChainStore(kv, track_lifetimes=True)
        out = _prune_open(TrellisApp(params, store), store, retention, n, did_ids, registered_at, rng)
    finally:
        kv.close()
    after = _table_bytes(data_dir)
    compacted = _compacted_bytes(data_dir)
    repacked, entries = _repacked(data_dir)
    before_total = sum(before.values())
    after_total = sum(after.values())
    repacked_total = sum(repacked.values())
    out.update(
        {
            "used_bytes_per_did_before": round(before_total / n, 1),
            "used_bytes_per_did_after": round(after_total / n, 1),
            "table_bytes_per_did_before": _per_did(before, n),
            "table_bytes_per_did_after": _per_did(after, n),
            "compacted_copy_bytes": compacted,
            "compacted_bytes_per_did": round(compacted / n, 1),
            "repacked_bytes_per_did": round(repacked_total / n, 1),
            "table_bytes_per_did_repacked": _per_did(repacked, n),
            "entries_after": entries,
            "extrapolated_1e8_gib": {
                "used_after": round(after_total / n * 1e8 / 2**30, 1),
                "compacted": round(compacted / n * 1e8 / 2**30, 1),
                "repacked": round(repacked_total / n * 1e8 / 2**30, 1),
            },
        }
    )
    return out


def _prune_open(
    app: TrellisApp,
    store: ChainStore,
    retention: Retention,
    n: int,
    did_ids: list[bytes],
    registered_at: list[int],
    rng: random.Random,
) -> dict[str, Any]:
    suite = app.suite
    height = app.info().height

    def addresses_of(block: Block, receipts: Sequence[Receipt]) -> list[list[bytes]]:
        full = len(receipts) == len(block.txs)
        return [
            involved_addresses(tx, sender_address(suite, tx), receipts[i] if full else None)
            for i, tx in enumerate(block.txs)
        ]

    pruner = Pruner(store, retention, suite, addresses_of=addresses_of if app.index_accounts else None)
    report = pruner.prune()
    cutoff = report.cutoff
    retained = [h for h in range(1, height + 1) if h >= cutoff or retention.permanent(h)]
    checked_heights = sorted({retained[0], retained[len(retained) // 2], height})
    proofs = 0
    for h in checked_heights:
        for i in (rng.randrange(len(did_ids)) for _ in range(50)):
            key = did_key(did_ids[i])
            res = app.query(QueryRequest(path="state", key=key, height=h, prove=True))
            assert res.proof is not None and res.header is not None
            verify_state_proof(suite, key, res.value, res.proof, res.header)
            if (res.value is not None) != (registered_at[i] <= h):
                raise AssertionError(f"DID {i} (registered at {registered_at[i]}) read wrongly at height {h}")
            proofs += 1
    pruned_heights = [h for h in range(1, cutoff) if not retention.permanent(h)]
    pruned_error: dict[str, Any] | None = None
    if pruned_heights:
        h = pruned_heights[len(pruned_heights) // 2]
        try:
            app.query(QueryRequest(path="state", key=did_key(did_ids[0]), height=h, prove=True))
            raise AssertionError(f"a query at pruned height {h} was answered")
        except NotFound as exc:
            pruned_error = {"height": h, "code": exc.code, "reason": exc.reason}
    return {
        "keep_recent": retention.keep_recent,
        "keep_every": retention.keep_every,
        "prune_blocks": retention.prune_blocks,
        "tip": height,
        "cutoff": cutoff,
        "pass_seconds": round(report.seconds, 2),
        "transactions": report.transactions,
        "longest_write_txn_ms": round(report.longest_txn_s * 1000, 1),
        "longest_write_txn_ms_by_phase": {k: round(v * 1000, 1) for k, v in report.longest_txn_s_by_phase.items()},
        "nodes_deleted": report.nodes_deleted,
        "heights_pruned": report.roots_deleted,
        "blocks_deleted": report.blocks_deleted,
        "proofs_verified": {"count": proofs, "heights": checked_heights},
        "pruned_height_answer": pruned_error,
        "earliest_state_height": store.earliest_state_height(),
        "earliest_block_height": store.earliest_block_height(),
    }


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its JSON report."""
    ap = argparse.ArgumentParser(prog="python -m trellis.bench.did_scale", description=__doc__.split("\n")[0])
    ap.add_argument("--dids", type=int, default=100_000, help="DIDs to register (default 100,000)")
    ap.add_argument("--registrars", type=int, default=16, help="registrar DIDs (senders)")
    ap.add_argument("--block-txs", type=int, default=10_000, help="registrations per block")
    ap.add_argument("--samples", type=int, default=10_000, help="resolutions timed")
    ap.add_argument("--dir", help="data directory (default: a temporary one, removed afterwards)")
    ap.add_argument("--out", help="also write the report to this file")
    ap.add_argument("--keep-recent", type=int, default=0, help="then prune, keeping the newest K heights (>= 2)")
    ap.add_argument("--keep-every", type=int, default=0, help="and the multiples of E")
    ap.add_argument("--prune-blocks", action="store_true", help="and prune blocks, receipts and indexes too")
    ap.add_argument(
        "--layout",
        choices=("lmdb", "split"),
        default="lmdb",
        help="lmdb: one environment fsynced every transaction; split: a node's data directory (SplitStore, "
        "state not fsynced: durable_state = false)",
    )
    args = ap.parse_args(argv)
    try:
        retention = Retention(keep_recent=args.keep_recent, keep_every=args.keep_every, prune_blocks=args.prune_blocks)
    except ValueError as exc:
        ap.error(str(exc))
    tmp = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="did-scale-"))
    try:
        report = run(args.dids, args.registrars, args.block_txs, args.samples, tmp, retention, args.layout)
    finally:
        if not args.dir:
            shutil.rmtree(tmp, ignore_errors=True)
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
