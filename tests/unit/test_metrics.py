"""The pieces of ``/metrics`` that need no node: consensus step and block-interval accounting, the storage file
listing, the API request labels, and the exposition parsed back by ``prometheus_client.parser``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from trellis.node.consensus_timings import INTERVAL_BUCKETS_S, ConsensusTimings
from trellis.node.metrics import MAX_STORAGE_FILES, NodeMetrics, storage_files


class FakeClock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def test_step_time_is_accounted_to_the_step_consensus_was_in(clock: FakeClock) -> None:
    t = ConsensusTimings(clock)
    t.observe(1, 0, "PROPOSE")
    clock.t += 0.5
    t.observe(1, 0, "PROPOSE")  # no change: nothing closes
    clock.t += 0.25
    t.observe(1, 0, "PREVOTE")
    clock.t += 1.0
    t.observe(1, 1, "PREVOTE")  # a new round closes the step too
    clock.t += 2.0
    steps = t.steps()
    assert steps["PROPOSE"] == (0.75, 1)
    assert steps["PREVOTE"] == (3.0, 2)  # 1.0 closed + 2.0 so far in the current one


def test_block_intervals_fill_the_histogram_from_the_second_commit(clock: FakeClock) -> None:
    t = ConsensusTimings(clock)
    t.committed()  # the first commit has no interval
    assert t.interval_count == 0
    for dt in (0.004, 0.1, 0.1, 7.0, 1000.0):
        clock.t += dt
        t.committed()
    assert t.interval_count == 5
    assert t.interval_sum == pytest.approx(1007.204)
    buckets = dict(t.interval_buckets())
    assert list(buckets) == [*(repr(b) for b in INTERVAL_BUCKETS_S), "+Inf"]
    assert buckets["0.005"] == 1
    assert buckets["0.1"] == 3  # le: an interval equal to a bound falls in that bucket
    assert buckets["5.0"] == 3
    assert buckets["10.0"] == 4
    assert buckets["60.0"] == 4
    assert buckets["+Inf"] == 5


def test_storage_files_lists_two_levels_bounded(tmp_path: Path) -> None:
    (tmp_path / "chain").mkdir()
    (tmp_path / "chain" / "data.mdb").write_bytes(b"x" * 100)
    (tmp_path / "consensus.wal").write_bytes(b"")
    (tmp_path / "chain" / "deep").mkdir()
    (tmp_path / "chain" / "deep" / "hidden").write_bytes(b"y")
    assert storage_files(tmp_path) == [("chain/data.mdb", 100), ("consensus.wal", 0)]
    many = tmp_path / "many"
    many.mkdir()
    for i in range(MAX_STORAGE_FILES + 10):
        (many / f"f{i:03d}").write_bytes(b"")
    assert len(storage_files(tmp_path)) == MAX_STORAGE_FILES
    assert storage_files(tmp_path / "absent") == []


class _NoNode:
    """NodeMetrics needs a node only when scraped through its collector; these tests read the API metrics."""


def _api_only(metrics: NodeMetrics) -> str:
    from prometheus_client import generate_latest

    body: bytes = generate_latest(_Only(metrics))
    return body.decode()


class _Only:
    def __init__(self, metrics: NodeMetrics) -> None:
        self.metrics = metrics

    def collect(self) -> Any:
        yield from self.metrics.api_requests.collect()
        yield from self.metrics.api_seconds.collect()


def test_request_labels_are_bounded_and_status_classes_named() -> None:
    m = NodeMetrics(_NoNode())  # type: ignore[arg-type]
    m.observe_request("/v1/txs/{hash}", "GET", 200, 0.002)
    m.observe_request("/v1/txs/{hash}", "GET", 404, 0.001)
    m.observe_request("other", "BREW", 405, 0.001)
    m.observe_request("/v1/status", "GET", 503, 0.3)
    m.observe_request("/v1/status", "GET", 999, 0.3)  # out of range: counted as 5xx, not a new class
    samples = [s for f in text_string_to_metric_families(_api_only(m)) for s in f.samples]
    counts = {
        (s.labels["route"], s.labels["method"], s.labels["status_class"]): s.value
        for s in samples
        if s.name == "trellis_api_requests_total"
    }
    assert counts == {
        ("/v1/txs/{hash}", "GET", "2xx"): 1,
        ("/v1/txs/{hash}", "GET", "4xx"): 1,
        ("other", "other", "4xx"): 1,
        ("/v1/status", "GET", "5xx"): 2,
    }
    slow = [
        s
        for s in samples
        if s.name == "trellis_api_request_seconds_bucket"
        and s.labels["route"] == "/v1/status"
        and s.labels["le"] == "0.25"
    ]
    assert [s.value for s in slow] == [0]


def test_two_registries_do_not_share_series() -> None:
    a, b = NodeMetrics(_NoNode()), NodeMetrics(_NoNode())  # type: ignore[arg-type]
    a.observe_request("/v1/status", "GET", 200, 0.001)
    assert "trellis_api_requests_total{" in _api_only(a)
    assert "trellis_api_requests_total{" not in _api_only(b)


def test_no_created_series_are_exposed() -> None:
    """prometheus-client's ``*_created`` samples would double every counter and histogram series."""
    m = NodeMetrics(_NoNode())  # type: ignore[arg-type]
    m.observe_request("/v1/status", "GET", 200, 0.001)
    text = _api_only(m)
    names = {s.name for f in text_string_to_metric_families(text) for s in f.samples}
    assert "trellis_api_requests_total" in names and "trellis_api_request_seconds_count" in names
    assert not [n for n in names if n.endswith("_created")], names
    assert "_created" not in text
