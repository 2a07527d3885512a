"""``trellis bench --workload custody`` (trellis/bench/custody.py) on a small chain: every challenge of a round is
answered through the real execution path, the figures are consistent, and the 1 PB model follows from them."""

from __future__ import annotations

import json
import math
from pathlib import Path

from trellis.bench.custody import PB, CustodyBenchConfig, cost_model, run_custody_bench, summary, write_report


def test_a_small_run_measures_registration_rounds_and_responses(tmp_path: Path) -> None:
    cfg = CustodyBenchConfig(files=40, register_batch=25, sample_bytes=64 * 4096, rounds=2, challenges_per_round=4)
    report = run_custody_bench(cfg)
    m = report["measured"]
    assert m["registration"]["files"] == 40
    # A FileRecord and a FileRef per file: at least their keys and the two hashes of the record.
    assert 2 * 32 + len(b"custody/file/") + len(b"custody/ix/") < m["registration"]["state_bytes_per_file"] < 1000
    assert m["response"]["responses_in_block"] == 4  # every challenge of the round answered (the run asserts code 0)
    assert m["response"]["path_hashes"] == 6  # 64 segments
    assert m["response"]["respond_tx_bytes"] > 4096 + 6 * 32
    # A round writes each challenge's record, due and open entries and its file's record, and the meta.
    assert m["round"]["custody_writes"] >= 3 * 4 + 1
    path = write_report(report, tmp_path)
    assert json.loads(path.read_text())["model_1pb"] == report["model_1pb"]
    assert "1 PB of" in summary(report)


def test_the_1pb_model_follows_from_the_measured_figures() -> None:
    cfg = CustodyBenchConfig(
        challenge_interval=10, challenges_per_round=16, block_time_s=2.0, model_file_sizes=(2**30,)
    )
    measured = {
        "registration": {"register_tx_bytes": 200.0, "register_receipt_bytes": 100, "state_bytes_per_file": 250.0},
        "response": {
            "respond_tx_bytes": 4500.0,
            "respond_receipt_bytes": 150.0,
            "path_hashes": 10,
            "check_segment_us": 20.0,
        },
    }
    (row,) = cost_model(cfg, measured)
    files = math.ceil(PB / 2**30)
    per_day = 16 * 86_400 / 2.0 / 10
    assert row["files"] == files
    assert row["register_chain_bytes"] == files * 300
    assert row["registered_state_bytes"] == files * 250
    assert row["path_hashes"] == 18  # 2^18 segments of 4 KiB in 1 GiB
    assert row["challenges_per_day"] == per_day
    assert row["response_chain_bytes"] == 4500 + 8 * 32 + 150
    assert row["chain_bytes_per_day"] == round(per_day * (4500 + 8 * 32 + 150))
    assert row["days_to_challenge_every_file_once"] == round(files / per_day, 1)
    assert row["check_cpu_s_per_day"] == round(per_day * 20e-6, 2)
