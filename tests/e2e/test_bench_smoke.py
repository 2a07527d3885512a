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
    # Plain transfers between funded accounts all succeed: none fails in a block, none counts twice.
    assert (rate["failed_txs"], rate["failed_codes"]) == (0, {})
    assert rate["committed_txs"] + rate["failed_txs"] <= rate["offered_txs"] - rate["rejected_txs"]
    assert rate["committed_tps"] > 0
    assert 0 < rate["latency_ms"]["p50"] <= rate["latency_ms"]["p99"] <= rate["latency_ms"]["max"]
    assert 0 < rate["committed_over_ceiling"] < 10
    assert run["ratio_baseline"]["kind"] == "verify_ceiling"
    assert rate["committed_over_baseline"] == rate["committed_over_ceiling"]
    assert run["config"]["signature_checks"] is True
    assert {"decode", "verify", "execute", "state_commitment", "store"} <= set(run["stages_us_per_tx_node0"])
    assert all(v and v > 0 for v in run["rss_peak_mb"].values())
    assert Path(report["files"]["json"]).is_file()
    assert Path(report["files"]["png"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bench_without_signature_checks_runs_on_its_bench_network_and_names_no_ceiling(tmp_path: Path) -> None:
    # The nodes start with [bench] skip_signature_checks only because `trellis bench` marks its genesis.
    out = tmp_path / "results"
    res = subprocess.run(
        trellis_cmd(
            "bench",
            "--no-signature-checks",
            "--validators",
            "1",
            "--rates",
            "300",
            "--duration",
            "1",
            "--accounts",
            "50",
            "--ceiling-seconds",
            "0.1",
            "--no-plot",
            "--out",
            str(out),
            "--json",
        ),
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    (run,) = json.loads(res.stdout)["runs"]
    (rate,) = run["rates"]
    assert run["config"]["signature_checks"] is False
    assert run["config"]["verifier"] == "NONE-bench-only-signatures-not-checked"
    assert rate["committed_txs"] > 0 and rate["failed_txs"] == 0
    # No signature-checking run of this configuration in the report: no ratio, and never one to the ceiling.
    assert run["ratio_baseline"]["kind"] == "none"
    assert rate["committed_over_baseline"] is None and rate["committed_over_ceiling"] is None


def test_interchain_bench_relays_transfers_between_two_chains_and_reports_them(tmp_path: Path) -> None:
    # Two chains of one validator, a relayer task in the bench process; 5 s of the single-chain baseline on A and
    # 5 s of transfer.send A -> B.
    out = tmp_path / "results"
    res = subprocess.run(
        trellis_cmd(
            "bench",
            "--workload",
            "interchain",
            "--validators",
            "1",
            "--rates",
            "40",
            "--duration",
            "5",
            "--accounts",
            "20",
            "--ceiling-seconds",
            "0.1",
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
    (run,) = report["runs"]
    assert run["config"]["workload"] == "interchain" and run["config"]["chains"] == 2
    (single,) = run["single_chain_rates"]
    assert single["committed_tps"] > 0 and single["failed_txs"] == 0
    (rate,) = run["rates"]
    assert rate["offered_tps"] == 40 and rate["failed_txs"] == 0 and rate["rejected_txs"] == 0
    # Every transfer sent was received on B (the drain waits for them), each counted once.
    assert rate["committed_txs"] == rate["sends_committed"] == rate["offered_txs"]
    assert 0 < rate["latency_ms"]["p50"] <= rate["latency_ms"]["p99"] <= rate["latency_ms"]["max"]
    assert rate["relay_batch"]["txs"] >= 1 and rate["relay_batch"]["max_items"] >= 1
    assert sum(rate["recv_per_second"]) == rate["committed_txs"]
    ic = run["interchain"]
    assert ic["transfers_per_s"] == rate["committed_tps"] > 0
    assert ic["single_chain_tps"] == single["committed_tps"]
    assert ic["latency_ms_p50"] == rate["latency_ms"]["p50"]
    assert Path(report["files"]["json"]).is_file()
    assert Path(report["files"]["png"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
