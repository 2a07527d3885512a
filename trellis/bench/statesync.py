"""State sync at scale (ADR 0018 section 2, issue 18): ``trellis bench --workload statesync`` (one million accounts)
or ``python -m trellis.bench.statesync --accounts N``.

What it measures, on real LMDB stores (``SplitStore`` data directories, as a node opens them):

1. *the chain*: ``N`` account records written by the accounts module, by committing blocks of ``accounts.mint``
   transactions (one new account each) through ``TrellisApp.prepare_proposal`` (the real executor, state tree
   and block building) and ``TrellisApp.commit`` (``ChainStore.commit_block``: one LMDB write per block) on a
   one-validator chain, each block under a real commit certificate. The proposer path takes admitted
   transactions, so their signatures are not checked here (dummy signatures), except in the replay sample (5);
   the state root is the real root of the real store;
2. *the producer*: ``build_snapshot`` (what the node's snapshot thread runs) from one ``read_view`` of the
   store: seconds, chunks, bytes;
3. *the joiner*: the header verified from genesis (``verify_from_genesis``), the manifest against the header's
   state root (``verify_manifest``), every chunk (``verify_chunk``, after decoding it) and the total
   (``verify_total``), the chunks staged (copied: the network transfer itself is not measured), and
   ``restore`` (the real restore writer, which checks each chunk again) into a fresh data directory: seconds
   of each;
4. *the answer*: the restored store, reopened by ``TrellisApp``, answers proof-checked queries of random
   accounts (and of an absent one); each proof is verified against the header the joiner verified, each value
   is the account the chain wrote; the restored ``state`` rows are counted against the manifest;
5. *the contrast*: what a replay of the chain from genesis would take, ESTIMATED: a few blocks spread over the
   chain are signed for real and re-executed by a second ``TrellisApp`` on the same store just before they
   are committed (``process_proposal`` with nothing pre-verified: every signature checked, every transaction
   executed, the header checked), plus the commit certificate's check and the block's store write; their mean
   per account, times ``N``. The time to build the chain (execution and writes, no signature checks) is
   reported beside it as a lower bound a replay cannot beat.

The report (JSON) goes to ``bench/results/statesync-<timestamp>.json`` and stdout.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import random
import shutil
import statistics
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from trellis.abci import CheckedTx, QueryRequest
from trellis.app.application import TrellisApp
from trellis.core.codec import decode, encode
from trellis.core.crypto.suite import ED25519, address_of
from trellis.core.ledger.block import block_hash, verify_commit
from trellis.core.ledger.snapshot import (
    MAX_CHUNK_BYTES,
    Chunk,
    ManifestIndex,
    verify_chunk,
    verify_manifest,
    verify_total,
)
from trellis.core.ledger.state_tree import verify_state_proof
from trellis.core.ledger.tx import SignedTx, TxBody, sign_tx, tx_hash
from trellis.core.lightclient import verify_from_genesis
from trellis.core.modules.accounts.messages import Mint
from trellis.core.modules.accounts.state import Account, account_key
from trellis.core.params import ChainParams, Genesis, GenesisLimits, GenesisValidator, params_from_genesis
from trellis.keys.signer import MemorySigner
from trellis.node.privval import solo_commit
from trellis.node.statesync import prepare_store
from trellis.storage.chain_store import ChainStore
from trellis.storage.kv import KVStore, open_data_store
from trellis.storage.snapshots import (
    VIEW_TABLES,
    RestoredChain,
    build_snapshot,
    check_restored,
    decode_manifest,
    restore,
    stage_verified_chunk,
)

CHAIN_ID = "statesync-bench"
_DUMMY_SIG = bytes(64)
GENESIS_TIME_MS = 1_700_000_000_000


@dataclass(frozen=True)
class StateSyncBenchConfig:
    """Knobs of the state-sync benchmark.

    Attributes:
        accounts: account records in the state (one ``accounts.mint`` each).
        block_txs: transactions per block while the chain is built.
        replay_samples: blocks, spread over the chain, re-executed in full (signatures included) for the replay
            estimate.
        queries: proof-checked queries of random accounts on the restored store.
        chunk_target: the producer's chunk size target (None: the spec's ``CHUNK_TARGET_BYTES``; tests only).
        work_dir: where the data directories go (None: a temporary directory, removed afterwards).
        seed: the random choice of queried accounts.
    """

    accounts: int = 1_000_000
    block_txs: int = 10_000
    replay_samples: int = 5
    queries: int = 200
    chunk_target: int | None = None
    work_dir: Path | None = None
    seed: int = 18


def _address(i: int) -> bytes:
    return hashlib.blake2b(b"statesync-account-%d" % i, digest_size=20).digest()


def _amount(i: int) -> int:
    return 1000 + i % 997


def _dir_bytes(path: Path) -> int:
    """Bytes on disk under ``path`` (allocated blocks: LMDB files are sparse up to their map size)."""
    return sum(p.stat().st_blocks * 512 for p in path.rglob("*") if p.is_file())


def _machine() -> dict[str, Any]:
    mem = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1]) * 1024
    except OSError:
        pass
    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "memory_bytes": mem,
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def _rate(n: float, seconds: float) -> float:
    return round(n / seconds, 1) if seconds > 0 else 0.0


def run_statesync_bench(cfg: StateSyncBenchConfig) -> dict[str, Any]:
    """Build the chain, snapshot it, join from the snapshot, query the joined store; return the report."""
    if cfg.accounts < 1 or cfg.block_txs < 1:
        raise ValueError("accounts and block_txs must be at least 1")
    tmp = None
    if cfg.work_dir is None:
        tmp = tempfile.mkdtemp(prefix="trellis-statesync-bench-")
        work = Path(tmp)
    else:
        work = cfg.work_dir
        work.mkdir(parents=True, exist_ok=True)
    try:
        return _run(cfg, work)
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


def _run(cfg: StateSyncBenchConfig, work: Path) -> dict[str, Any]:
    machine = _machine()
    t_all = time.perf_counter()
    validator = MemorySigner(b"\x18" * 32)
    authority = address_of(ED25519, validator.public_key)
    genesis = Genesis(
        chain_id=CHAIN_ID,
        genesis_time_ms=GENESIS_TIME_MS,
        validators=[GenesisValidator(name="v0", public_key=validator.public_key.hex(), power=1)],
        mint_authority=authority.hex(),
        accounts=[],
        limits=GenesisLimits(max_block_txs=cfg.block_txs),
    )
    params = params_from_genesis(genesis)
    suite = params.suite

    # 1. The chain: N accounts, by blocks of mints through the real executor and store.
    producer_dir = work / "producer"
    kv = open_data_store(producer_dir)
    try:
        chain, replay = _build_chain(cfg, params, kv, validator, authority)
        height = chain["height"]
        store = ChainStore(kv)
        block = store.require_block(height)
        commit = store.commit(height)
        assert commit is not None
        header = block.header
        # 2. The producer: the snapshot from one read view of the store.
        snap_dir = work / "snapshot"
        shutil.rmtree(snap_dir, ignore_errors=True)
        snap_dir.mkdir()
        t = time.perf_counter()
        with kv.read_view(VIEW_TABLES) as view:
            if cfg.chunk_target is None:
                mid, chunk_count = build_snapshot(suite, CHAIN_ID, view, height, header.state_root, snap_dir)
            else:
                mid, chunk_count = build_snapshot(
                    suite, CHAIN_ID, view, height, header.state_root, snap_dir, chunk_target=cfg.chunk_target
                )
        snapshot_s = time.perf_counter() - t
    finally:
        kv.close()
    producer_bytes = _dir_bytes(producer_dir)
    chunk_sizes = [(snap_dir / f"chunk-{i}").stat().st_size for i in range(chunk_count)]
    manifest_bytes = (snap_dir / "manifest").stat().st_size
    snapshot_bytes = sum(chunk_sizes) + manifest_bytes

    # 3. The joiner: header, manifest, chunks, staging, restore.
    joiner_dir = work / "joiner"
    shutil.rmtree(joiner_dir, ignore_errors=True)
    t = time.perf_counter()
    verify_from_genesis(params, header, commit, [])
    header_s = time.perf_counter() - t
    t = time.perf_counter()
    enc = (snap_dir / "manifest").read_bytes()
    manifest = decode_manifest(enc)
    upper = verify_manifest(suite, manifest, CHAIN_ID, height, header.state_root)
    manifest_s = time.perf_counter() - t
    staging = joiner_dir / "data" / "statesync"
    staging.mkdir(parents=True)
    # As the fetcher does: each chunk verified as it arrives, then staged with its proof of verification.
    chunks_s = staging_s = 0.0
    index = ManifestIndex(manifest)
    entries = 0
    files = []
    verified: dict[int, bytes] = {}
    for i in range(chunk_count):
        t = time.perf_counter()
        raw = (snap_dir / f"chunk-{i}").read_bytes()
        chunk = decode(raw, Chunk, max_size=MAX_CHUNK_BYTES)
        nodes = verify_chunk(suite, index, chunk, i)
        entries += len(chunk.entries)
        t2 = time.perf_counter()
        chunks_s += t2 - t
        dst = staging / f"chunk-{i}"
        verified[i] = stage_verified_chunk(dst, raw, nodes)
        files.append(dst)
        staging_s += time.perf_counter() - t2
    t = time.perf_counter()
    verify_total(manifest, entries)
    chunks_s += time.perf_counter() - t
    t = time.perf_counter()
    jkv = prepare_store(joiner_dir / "data", durable_state=False)
    assert jkv is not None, "a fresh data directory is empty"
    try:
        chain_part = RestoredChain(block=block, block_id=block_hash(suite, header), commit=commit, set_change_blocks=[])
        restore(jkv, suite, params.genesis_hash, manifest, upper, files, chain_part, verified=verified)
    finally:
        jkv.close()
    restore_s = time.perf_counter() - t
    shutil.rmtree(staging)
    joiner_bytes = _dir_bytes(joiner_dir / "data")

    # 4. The answer: the restored store, reopened, answers proof-checked queries.
    answer = _query_restored(cfg, params, joiner_dir / "data", header, manifest.total_entries)

    n = cfg.accounts
    join_s = header_s + manifest_s + chunks_s + staging_s + restore_s
    replay_estimate = replay["seconds_per_tx"] * n
    report: dict[str, Any] = {
        "workload": "statesync",
        "machine": machine,
        "accounts": n,
        "state_entries": manifest.total_entries,
        "chain": chain,
        "producer": {
            "snapshot_s": round(snapshot_s, 3),
            "height": height,
            "manifest_id": mid.hex(),
            "chunks": chunk_count,
            "chunk_bytes": sum(chunk_sizes),
            "largest_chunk_bytes": max(chunk_sizes, default=0),
            "manifest_bytes": manifest_bytes,
            "manifest_items": len(manifest.items),
            "frontier_depth": manifest.depth,
            "snapshot_bytes": snapshot_bytes,
            "bytes_per_account": round(snapshot_bytes / n, 1),
            "entries_per_s": _rate(manifest.total_entries, snapshot_s),
            "store_bytes_on_disk": producer_bytes,
        },
        "joiner": {
            "verify_header_s": round(header_s, 4),
            "verify_manifest_s": round(manifest_s, 3),
            "verify_chunks_s": round(chunks_s, 3),
            "verify_chunks_entries_per_s": _rate(entries, chunks_s),
            "stage_chunks_s": round(staging_s, 3),
            "restore_s": round(restore_s, 3),
            "restore_entries_per_s": _rate(manifest.total_entries, restore_s),
            "join_s": round(join_s, 3),
            "join_s_excludes": "the network transfer of the snapshot (snapshot_bytes) and peer discovery",
            "transfer_s_at_1_gbit": round(snapshot_bytes * 8 / 1e9, 2),
            "store_bytes_on_disk": joiner_bytes,
        },
        "answer": answer,
        "replay": {
            **replay,
            "estimate_s": round(replay_estimate, 3),
            "estimate_is": "an ESTIMATE: the sampled blocks' full re-execution (signatures, execution, commit "
            "certificate, store write) per transaction, times the N transactions that created the accounts: the "
            "shortest history that holds N accounts; a replay grows with every transaction of the history "
            "(s_per_million_txs), a state sync with the state alone",
            "lower_bound_s": chain["build_s"],
            "lower_bound_is": "the measured build of the whole chain: execution and writes, no signature checks",
            "estimate_over_join": round(replay_estimate / join_s, 1) if join_s > 0 else None,
        },
        "total_wall_s": round(time.perf_counter() - t_all, 1),
    }
    report["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    report["config"] = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(cfg).items()}
    return report


def _build_chain(
    cfg: StateSyncBenchConfig, params: ChainParams, kv: KVStore, validator: MemorySigner, authority: bytes
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Commit ``cfg.accounts`` mints in blocks of ``cfg.block_txs``; re-execute the sampled blocks in full first.
    Returns (the chain's figures, the replay sample's)."""
    app = TrellisApp(params, ChainStore(kv), index_accounts=False)
    blocks = (cfg.accounts + cfg.block_txs - 1) // cfg.block_txs
    k = max(1, min(cfg.replay_samples, blocks))
    sampled = {round(j * (blocks - 1) / (k - 1)) if k > 1 else blocks - 1 for j in range(k)}
    time_ms = GENESIS_TIME_MS
    nonce = 0
    done = 0
    build_s = 0.0
    exec_s = 0.0
    store_s = 0.0
    samples: list[dict[str, Any]] = []
    for b in range(blocks):
        real = b in sampled
        batch: list[CheckedTx] = []
        for i in range(done, min(done + cfg.block_txs, cfg.accounts)):
            body = TxBody(
                chain_id=CHAIN_ID,
                sender=validator.public_key,
                nonce=nonce,
                payload=Mint(to=_address(i), amount=_amount(i)),
            )
            tx = sign_tx(body, validator.sign) if real else SignedTx(body=body, signature=_DUMMY_SIG)
            raw = encode(tx)
            batch.append(CheckedTx(tx=tx, raw=raw, hash=tx_hash(ED25519, raw), sender=authority))
            nonce += 1
        time_ms += 1000
        t0 = time.perf_counter()
        executed = app.prepare_proposal(batch, time_ms, authority)
        t1 = time.perf_counter()
        if executed.block.header.tx_count != len(batch):
            raise RuntimeError(f"block {b + 1}: {executed.block.header.tx_count} of {len(batch)} transactions fit")
        bad = [r for r in executed.output.receipts if r.code != 0]
        if bad:
            raise RuntimeError(f"{len(bad)} mints failed, e.g. code {bad[0].code}: {bad[0].message}")
        certificate = solo_commit(params.suite, CHAIN_ID, validator, executed)
        replay_exec = 0.0
        replay_cert = 0.0
        if real:
            # A replaying node's work on this block: a fresh application (no cached execution, nothing
            # pre-verified) checks every signature and re-executes it; then the commit certificate.
            other = TrellisApp(params, ChainStore(kv), index_accounts=False)
            r0 = time.perf_counter()
            again = other.process_proposal(executed.block)
            replay_exec = time.perf_counter() - r0
            if again.block_id != executed.block_id:
                raise RuntimeError(f"block {b + 1} re-executed to another block")
            r0 = time.perf_counter()
            verify_commit(
                params.suite,
                CHAIN_ID,
                other.validator_set(executed.block.header.height),
                executed.block.header,
                certificate,
            )
            replay_cert = time.perf_counter() - r0
        t2 = time.perf_counter()
        app.commit(executed, certificate)
        t3 = time.perf_counter()
        exec_s += t1 - t0
        store_s += t3 - t2
        build_s += (t1 - t0) + (t3 - t2)
        if real:
            txs = len(batch)
            samples.append(
                {
                    "height": executed.block.header.height,
                    "txs": txs,
                    "accounts_before": done,
                    "reexecute_with_signatures_s": round(replay_exec, 4),
                    "verify_commit_s": round(replay_cert, 5),
                    "store_write_s": round(t3 - t2, 4),
                    "seconds_per_tx": (replay_exec + replay_cert + (t3 - t2)) / txs,
                }
            )
        done += len(batch)
    per = statistics.mean(s["seconds_per_tx"] for s in samples)
    for s in samples:
        s["seconds_per_tx"] = round(s["seconds_per_tx"], 8)
    chain = {
        "height": app.info().height,
        "blocks": blocks,
        "block_txs": cfg.block_txs,
        "how": "blocks of accounts.mint transactions (one new account each) through TrellisApp.prepare_proposal "
        "and TrellisApp.commit on a SplitStore data directory (signatures of admitted transactions not checked)",
        "build_s": round(build_s, 2),
        "execute_s": round(exec_s, 2),
        "store_write_s": round(store_s, 2),
        "accounts_per_s": _rate(cfg.accounts, build_s),
        "state_root": app.info().state_root.hex(),
    }
    replay = {
        "sampled_blocks": len(samples),
        "seconds_per_tx": per,
        "s_per_million_txs": round(per * 1e6, 1),
        "samples": samples,
    }
    return chain, replay


def _query_restored(
    cfg: StateSyncBenchConfig, params: ChainParams, data: Path, header: Any, total_entries: int
) -> dict[str, Any]:
    """Reopen the restored data directory as a node would, count its state rows, and check proof-carrying
    answers for random accounts (and one absent account) against the joiner's verified ``header``."""
    kv = open_data_store(data)
    try:
        check_restored(kv)
        t = time.perf_counter()
        rows = 0
        with kv.read_view(("state",)) as view:
            for _ in view.iterate("state"):
                rows += 1
        count_s = time.perf_counter() - t
        app = TrellisApp(params, ChainStore(kv), index_accounts=False)
        tip = app.info()
        if tip.height != header.height or tip.state_root != header.state_root:
            raise RuntimeError("the restored store's tip is not the snapshot's header")
        rng = random.Random(cfg.seed)
        picks = [rng.randrange(cfg.accounts) for _ in range(cfg.queries)]
        lat: list[float] = []
        verified = 0
        for i in picks:
            key = account_key(_address(i))
            t = time.perf_counter()
            res = app.query(QueryRequest(path="state", key=key, prove=True))
            assert res.proof is not None and res.header is not None
            verify_state_proof(params.suite, key, res.value, res.proof, header)
            lat.append(time.perf_counter() - t)
            if res.header != header:
                raise RuntimeError("the restored store answered with another header")
            if res.value is None or decode(res.value, Account) != Account(balance=_amount(i), nonce=0):
                raise RuntimeError(f"account {i} is not what the chain wrote")
            verified += 1
        absent = account_key(_address(cfg.accounts))
        res = app.query(QueryRequest(path="state", key=absent, prove=True))
        assert res.proof is not None
        if res.value is not None:
            raise RuntimeError("an account the chain never wrote has a value")
        verify_state_proof(params.suite, absent, None, res.proof, header)
        app.close()
    finally:
        kv.close()
    lat.sort()
    if rows != total_entries:
        raise RuntimeError(f"the restored store holds {rows} state rows, the manifest {total_entries}")
    return {
        "state_rows": rows,
        "rows_equal_manifest": rows == total_entries,
        "count_rows_s": round(count_s, 3),
        "proofs_verified": verified,
        "absence_proof_verified": True,
        "query_with_proof_ms": {
            "p50": round(lat[len(lat) // 2] * 1000, 3) if lat else None,
            "p99": round(lat[min(len(lat) - 1, int(0.99 * len(lat)))] * 1000, 3) if lat else None,
        },
    }


def summary(report: dict[str, Any]) -> str:
    """A few lines for the terminal."""
    p, j, a, r = report["producer"], report["joiner"], report["answer"], report["replay"]
    load = report["machine"]["load_average_at_start"]
    return "\n".join(
        [
            f"state sync of {report['accounts']:,} accounts ({report['state_entries']:,} state entries; "
            f"{report['machine']['cpus']} CPUs, load {load[0]})",
            f"  chain built:  {report['chain']['blocks']} blocks in {report['chain']['build_s']} s "
            f"({report['chain']['accounts_per_s']:,} accounts/s)",
            f"  producer:     snapshot in {p['snapshot_s']} s: {p['chunks']} chunks, {p['snapshot_bytes']:,} bytes "
            f"({p['bytes_per_account']} B/account)",
            f"  joiner:       header {j['verify_header_s']} s, manifest {j['verify_manifest_s']} s, chunks "
            f"{j['verify_chunks_s']} s, staging {j['stage_chunks_s']} s, restore {j['restore_s']} s: "
            f"{j['join_s']} s in all (+ transfer: {j['transfer_s_at_1_gbit']} s at 1 Gbit/s)",
            f"  restored:     {a['state_rows']:,} rows = manifest; {a['proofs_verified']} proofs verified "
            f"(p50 {a['query_with_proof_ms']['p50']} ms)",
            f"  replay (estimate from {r['sampled_blocks']} blocks): {r['estimate_s']} s "
            f"({r['estimate_over_join']}x the join); lower bound {r['lower_bound_s']} s",
        ]
    )


def write_report(report: dict[str, Any], out: Path) -> Path:
    """Write the report to ``out/statesync-<UTC timestamp>.json``; return the path."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"statesync-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m trellis.bench.statesync", description=__doc__.split("\n")[0])
    ap.add_argument("--accounts", type=int, default=StateSyncBenchConfig.accounts)
    ap.add_argument("--block-txs", type=int, default=StateSyncBenchConfig.block_txs)
    ap.add_argument("--replay-samples", type=int, default=StateSyncBenchConfig.replay_samples)
    ap.add_argument("--queries", type=int, default=StateSyncBenchConfig.queries)
    ap.add_argument("--work-dir", type=Path, default=None, help="keep the data directories here (default: a temp dir)")
    ap.add_argument("--out", type=Path, default=Path("bench/results"))
    args = ap.parse_args(argv)
    if args.accounts < 1 or not 1 <= args.block_txs <= 20_000:
        ap.error("--accounts must be at least 1 and --block-txs between 1 and 20000")
    cfg = StateSyncBenchConfig(
        accounts=args.accounts,
        block_txs=args.block_txs,
        replay_samples=args.replay_samples,
        queries=args.queries,
        work_dir=args.work_dir,
    )
    report = run_statesync_bench(cfg)
    path = write_report(report, args.out)
    print(json.dumps(report, indent=2))
    print(summary(report) + f"\n  report: {path}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
