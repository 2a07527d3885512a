"""How ``trellis bench`` counts and labels: only transactions committed with receipt code 0 are throughput
(failures in blocks are reported apart, by code), and each run's ratios name the baseline they are against —
a run without signature checks is never compared with the signature-verification ceiling."""

from __future__ import annotations

from typing import Any

import pytest

from trellis.bench.runner import CommitTally, label_ratios, summary


def _h(i: int) -> bytes:
    return bytes([i]) * 32


def _line(*pairs: tuple[int, int]) -> dict[str, Any]:
    return {"txs": ["0x" + _h(i).hex() for i, _ in pairs], "codes": [code for _, code in pairs]}


def test_only_successful_transactions_count_as_committed() -> None:
    tally = CommitTally({_h(1): 1.0, _h(2): 1.0, _h(3): 2.0})
    tally.block(_line((1, 0), (2, 1), (3, 0)), now=3.0)
    assert tally.succeeded == 2
    assert tally.latencies == [2.0, 1.0]
    assert tally.commit_times == [3.0, 3.0]


def test_failed_transactions_are_counted_apart_by_receipt_code() -> None:
    tally = CommitTally({_h(i): 0.0 for i in range(1, 5)})
    tally.block(_line((1, 1), (2, 7), (3, 1), (4, 0)), now=1.0)
    assert tally.failed == {1: 2, 7: 1}
    assert (tally.failed_total, tally.succeeded, tally.seen) == (3, 1, 4)


def test_transactions_not_sent_by_this_rate_or_seen_twice_are_ignored() -> None:
    tally = CommitTally({_h(1): 0.0})
    tally.block(_line((9, 0), (8, 5)), now=1.0)
    tally.block(_line((1, 0)), now=2.0)
    tally.block(_line((1, 0)), now=3.0)
    assert (tally.succeeded, tally.failed_total) == (1, 0)


def test_a_commit_line_whose_codes_do_not_match_its_transactions_is_refused() -> None:
    tally = CommitTally({_h(1): 0.0})
    with pytest.raises(ValueError, match="1 transactions but 0 receipt codes"):
        tally.block({"txs": ["0x" + _h(1).hex()], "codes": []}, now=1.0)


# -- ratios and their baselines ------------------------------------------------------------------------------


def _run(label: str, *, signatures: bool, tps: list[float], validators: int = 1, workload: str = "transfer") -> dict:
    return {
        "label": label,
        "config": {
            "validators": validators,
            "workload": workload,
            "suite": "ed25519",
            "verifier_workers": -1,
            "signature_checks": signatures,
        },
        "rates": [{"offered_tps": int(t), "committed_tps": t} for t in tps],
        "peak_committed_tps": max(tps, default=0.0),
    }


def test_a_signature_checking_run_is_compared_with_the_verification_ceiling() -> None:
    run = _run("1v transfer", signatures=True, tps=[1000.0, 2000.0])
    label_ratios([run], ceiling=4000.0)
    assert run["ratio_baseline"]["kind"] == "verify_ceiling"
    assert run["ratio_baseline"]["value"] == 4000.0
    assert [r["committed_over_ceiling"] for r in run["rates"]] == [0.25, 0.5]
    assert [r["committed_over_baseline"] for r in run["rates"]] == [0.25, 0.5]
    assert (run["peak_over_ceiling"], run["peak_over_baseline"]) == (0.5, 0.5)


def test_a_run_without_signature_checks_is_compared_with_its_signed_twin_not_the_ceiling() -> None:
    other = _run("4v transfer", signatures=True, tps=[500.0], validators=4)
    signed = _run("1v transfer", signatures=True, tps=[1000.0, 2000.0])
    nosig = _run("1v transfer NO-SIG", signatures=False, tps=[3000.0, 5000.0])
    label_ratios([other, signed, nosig], ceiling=4000.0)
    base = nosig["ratio_baseline"]
    assert (base["kind"], base["label"], base["value"]) == ("signed_run", "1v transfer", 2000.0)
    assert "signature-checking run '1v transfer'" in base["what"]
    assert [r["committed_over_baseline"] for r in nosig["rates"]] == [1.5, 2.5]
    assert nosig["peak_over_baseline"] == 2.5
    assert [r["committed_over_ceiling"] for r in nosig["rates"]] == [None, None]
    assert nosig["peak_over_ceiling"] is None


def test_a_run_without_signature_checks_and_no_signed_twin_has_no_ratio() -> None:
    nosig = _run("1v kv NO-SIG", signatures=False, tps=[3000.0], workload="kv")
    label_ratios([_run("1v transfer", signatures=True, tps=[1000.0]), nosig], ceiling=4000.0)
    assert nosig["ratio_baseline"]["kind"] == "none"
    assert nosig["rates"][0]["committed_over_baseline"] is None
    assert nosig["rates"][0]["committed_over_ceiling"] is None


def test_the_summary_names_each_runs_baseline_and_shows_failures() -> None:
    signed = _run("1v transfer", signatures=True, tps=[2000.0])
    nosig = _run("1v transfer NO-SIG", signatures=False, tps=[5000.0])
    label_ratios([signed, nosig], ceiling=4000.0)
    for run in (signed, nosig):
        for r in run["rates"]:
            r.update(latency_ms={"p50": 1, "p95": 2, "p99": 3}, failed_txs=0, failed_codes={})
        run.update(stages_us_per_tx_node0={}, rss_peak_mb={}, mempool_flood=None)
        run["config"]["verifier"] = "x"
    nosig["rates"][0].update(failed_txs=4, failed_codes={"1": 4})
    report = {
        "time_utc": "t",
        "commit": "c",
        "machine": {"cpu": "cpu", "cores": 2, "python": "3.11"},
        "ceiling_verifies_per_s": 4000.0,
        "verifier_scaling": {"verifies_per_s_by_workers": {}},
        "runs": [signed, nosig],
    }
    text = summary(report)
    assert "/base is against the machine's signature-verification ceiling" in text
    assert "/base is against peak committed tx/s of the signature-checking run '1v transfer' = 2,000" in text
    assert "failed in blocks by receipt code: {'1': 4} (not counted as committed)" in text
