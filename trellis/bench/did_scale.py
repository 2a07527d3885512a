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
from pathlib import Path
from typing import Any

import lmdb

from trellis.abci import CheckedTx, QueryRequest
from trellis.app.application import TrellisApp
from trellis.app.modules.identity import resolution_result, resolve
from trellis.core.codec import encode
from trellis.core.crypto.suite import ED25519, address_of
from trellis.core.execution.context import PointReader
from trellis.core.ledger.tx import SignedTx, TxBody, tx_hash
from trellis.core.modules.identity.did import format_did
from trellis.core.modules.identity.messages import DidCreate, DidDocument, DidVerificationMethod
from trellis.core.params import Genesis, GenesisLimits, GenesisValidator, params_from_genesis
from trellis.keys.signer import MemorySigner
from trellis.node.privval import solo_commit
from trellis.storage.chain_store import ChainStore
from trellis.storage.kv import LmdbStore

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


def _table_bytes(path: Path) -> dict[str, int]:
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


def run(n: int, registrars: int, block_txs: int, samples: int, data_dir: Path) -> dict[str, Any]:
    """Register ``n`` DIDs into a fresh LMDB store under ``data_dir``; return the report."""
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
    kv = LmdbStore(data_dir)
    app = TrellisApp(params, ChainStore(kv))
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

    file_bytes = sum(f.stat().st_size for f in data_dir.iterdir() if f.name == "data.mdb")
    tables = _table_bytes(data_dir)
    per_did = file_bytes / n
    rate = n / elapsed
    state_per_did = sum(tables.get(t, 0) for t in ("state", "smt_nodes", "smt_values")) / n
    report: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
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
    return report


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its JSON report."""
    ap = argparse.ArgumentParser(prog="python -m trellis.bench.did_scale", description=__doc__.split("\n")[0])
    ap.add_argument("--dids", type=int, default=100_000, help="DIDs to register (default 100,000)")
    ap.add_argument("--registrars", type=int, default=16, help="registrar DIDs (senders)")
    ap.add_argument("--block-txs", type=int, default=10_000, help="registrations per block")
    ap.add_argument("--samples", type=int, default=10_000, help="resolutions timed")
    ap.add_argument("--dir", help="data directory (default: a temporary one, removed afterwards)")
    ap.add_argument("--out", help="also write the report to this file")
    args = ap.parse_args(argv)
    tmp = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="did-scale-"))
    try:
        report = run(args.dids, args.registrars, args.block_txs, args.samples, tmp)
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
