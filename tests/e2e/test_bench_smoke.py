"""``trellis bench`` runs end to end for a few seconds and reports sane figures (no speed is asserted here:
targets live in the benchmark report, not in tests)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from .harness import trellis_cmd

pytestmark = pytest.mark.e2e


def test_bench_completes_and_reports_sane_fields(tmp_path: Path) -> None:
    out = tmp_path / "results"
    res = subprocess.run(
        trellis_cmd(
            "bench",
            "--validators",
            "1",
            "--rates",
            "300",
            "--duration",
            "1.5",
            "--accounts",
            "50",
            "--ceiling-seconds",
            "0.2",
            "--out",
            str(out),
            "--json",
        ),
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    report = json.loads(res.stdout)
    assert report["ceiling_verifies_per_s"] > 0
    assert set(report["verifier_scaling"]["verifies_per_s_by_workers"]) >= {"inline", "1"}
    (run,) = report["runs"]
    (rate,) = run["rates"]
    assert rate["offered_tps"] == 300
    assert 0 < rate["committed_txs"] <= rate["offered_txs"]
    assert rate["committed_tps"] > 0
    assert 0 < rate["latency_ms"]["p50"] <= rate["latency_ms"]["p99"] <= rate["latency_ms"]["max"]
    assert 0 < rate["committed_over_ceiling"] < 10
    assert {"decode", "verify", "execute", "state_commitment", "store"} <= set(run["stages_us_per_tx_node0"])
    assert all(v and v > 0 for v in run["rss_peak_mb"].values())
    assert Path(report["files"]["json"]).is_file()
    assert Path(report["files"]["png"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
