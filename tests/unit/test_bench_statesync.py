"""``trellis bench --workload statesync`` (trellis/bench/statesync.py) at a few hundred accounts: the snapshot of a
real store is cut into several chunks, verified and restored into a fresh data directory, whose proof-checked
answers and row count agree with what the chain wrote; the replay estimate comes from fully re-executed blocks."""

from __future__ import annotations

import json
from pathlib import Path

from trellis.bench.statesync import StateSyncBenchConfig, run_statesync_bench, summary, write_report


def test_a_small_state_is_snapshotted_verified_restored_and_answers_with_proofs(tmp_path: Path) -> None:
    cfg = StateSyncBenchConfig(
        accounts=400, block_txs=50, replay_samples=3, queries=40, chunk_target=4096, work_dir=tmp_path / "work"
    )
    report = run_statesync_bench(cfg)
    assert report["accounts"] == 400
    assert report["chain"]["blocks"] == 8 and report["chain"]["height"] == 8
    # The accounts, and the few entries the genesis writes (validator set, parameters).
    assert 400 < report["state_entries"] < 410
    p, j, a, r = report["producer"], report["joiner"], report["answer"], report["replay"]
    assert p["height"] == 8
    assert p["chunks"] >= 4  # 4 KiB chunks of ~40-byte entries: the restore spans several chunks
    assert p["snapshot_bytes"] == p["chunk_bytes"] + p["manifest_bytes"]
    assert p["chunk_bytes"] > 400 * 30  # a 25-byte key and a value per account, at least
    assert a["state_rows"] == report["state_entries"] and a["rows_equal_manifest"]
    assert a["proofs_verified"] == 40 and a["absence_proof_verified"]
    assert j["join_s"] >= j["restore_s"] > 0
    assert r["sampled_blocks"] == 3 and [s["height"] for s in r["samples"]] == [1, 5, 8]  # spread over the chain
    assert all(s["reexecute_with_signatures_s"] > 0 and s["txs"] == 50 for s in r["samples"])
    assert r["estimate_s"] > 0
    path = write_report(report, tmp_path / "out")
    assert path.name.startswith("statesync-") and json.loads(path.read_text())["answer"] == a
    assert "400 accounts" in summary(report)
