"""``GET /metrics`` on a real node: Prometheus text format, parsed by ``prometheus_client``'s own parser, with sane
values; one registry per node; the ops dashboard and scrape config refer only to metrics a node exposes."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from trellis.core.modules.accounts.messages import Transfer
from trellis.node.home import init_home
from trellis.node.network import free_port_range

from .conftest import ApiHarness, addr, make_signer, node_config

OPS = Path(__file__).resolve().parents[2] / "docs" / "ops"


def scrape(api: ApiHarness) -> list[Sample]:
    resp = api.get("/metrics")
    assert resp.status == 200, resp.body
    assert resp.content_type == "text/plain"
    return [s for fam in text_string_to_metric_families(resp.body.decode()) for s in fam.samples]


def value(samples: list[Sample], name: str, **labels: str) -> float:
    found = [s.value for s in samples if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())]
    assert len(found) == 1, (name, labels, found)
    return found[0]


def test_metrics_content_type_is_the_0_0_4_text_format(api: ApiHarness) -> None:
    async def headers() -> str:
        assert api.client is not None
        async with api.client.get("/metrics") as resp:
            return resp.headers["Content-Type"]

    assert api.runner.run(headers()) == "text/plain; version=0.0.4; charset=utf-8"


def test_metrics_after_a_committed_transaction(api: ApiHarness) -> None:
    before = scrape(api)
    posts_before = sum(
        s.value
        for s in before
        if s.name == "trellis_api_requests_total" and s.labels["route"] == "/v1/txs" and s.labels["method"] == "POST"
    )
    api.commit(api.alice, Transfer(to=addr(make_signer("metrics-payee")), amount=5))
    committed = api.commit(
        api.alice, Transfer(to=addr(make_signer("metrics-payee")), amount=5)
    )  # two commits: an interval
    after = scrape(api)

    assert value(after, "trellis_height") >= 1
    assert value(after, "trellis_height") >= committed["height"]
    assert value(after, "trellis_consensus_height") >= value(after, "trellis_height")
    assert value(after, "trellis_consensus_round") >= 0
    assert value(after, "trellis_mempool_txs") >= 0
    assert value(after, "trellis_mempool_bytes") >= 0
    assert value(after, "trellis_peers") == 0  # a lone validator
    info = [s for s in after if s.name == "trellis_node_info"]
    assert info and info[0].labels["chain_id"] == api.chain_id and info[0].value == 1
    # The per-stage counters the pipeline keeps: executing the block took time and counted the transaction.
    assert value(after, "trellis_stage_items_total", stage="execute") >= 1
    assert value(after, "trellis_stage_seconds_total", stage="execute") > 0
    # Consensus went through its steps; commits fill the block-interval histogram (+Inf bucket = count).
    assert value(after, "trellis_consensus_step_entries_total", step="propose") >= 1
    assert value(after, "trellis_consensus_step_seconds_total", step="propose") >= 0
    count = value(after, "trellis_block_interval_seconds_count")
    assert count >= 1
    assert value(after, "trellis_block_interval_seconds_bucket", le="+Inf") == count
    assert value(after, "trellis_block_interval_seconds_sum") >= 0
    # The LMDB files of the node's data directory.
    assert value(after, "trellis_storage_bytes", file="chain/data.mdb") > 0
    # The submission was counted under its route template, method and status class, and timed.
    assert value(after, "trellis_api_requests_total", route="/v1/txs", method="POST", status_class="2xx") >= 1
    assert value(after, "trellis_api_requests_total", route="/v1/txs", method="POST", status_class="2xx") > (
        posts_before
    )
    assert value(after, "trellis_api_request_seconds_count", route="/v1/txs", method="POST") >= 1
    # One series per label set: no prometheus-client `*_created` samples beside the counters and histograms.
    assert not [s.name for s in after if s.name.endswith("_created")]


def test_api_requests_are_labelled_by_route_template_and_status_class(api: ApiHarness) -> None:
    def count(**labels: str) -> float:
        found = [
            s.value
            for s in scrape(api)
            if s.name == "trellis_api_requests_total" and all(s.labels.get(k) == v for k, v in labels.items())
        ]
        return sum(found)

    tx_404 = count(route="/v1/txs/{hash}", method="GET", status_class="4xx")
    other = count(route="other")
    assert api.get("/v1/txs/" + "ab" * 32).status == 404
    assert api.get("/v1/txs/" + "cd" * 32).status == 404
    for i in range(3):
        assert api.get(f"/no/such/path/{i}").status == 404
    assert count(route="/v1/txs/{hash}", method="GET", status_class="4xx") == tx_404 + 2
    assert count(route="other") == other + 3
    routes = {s.labels["route"] for s in scrape(api) if s.name == "trellis_api_requests_total"}
    assert not any("no/such" in r or "abab" in r for r in routes), routes  # bounded: templates only


@pytest.fixture
def second_node(tmp_path: Path) -> Iterator[ApiHarness]:
    harness = ApiHarness(tmp_path / "second", node_config())
    try:
        yield harness
    finally:
        harness.close()


def test_each_node_has_its_own_registry(api: ApiHarness, second_node: ApiHarness) -> None:
    for _ in range(3):
        assert second_node.get("/v1/status").status == 200
    mine = value(
        scrape(second_node), "trellis_api_requests_total", route="/v1/status", method="GET", status_class="2xx"
    )
    assert mine == 3  # the first node's requests are not counted here (nor in a process-wide registry)
    api.get("/v1/status")
    again = value(
        scrape(second_node), "trellis_api_requests_total", route="/v1/status", method="GET", status_class="2xx"
    )
    assert again == 3


def _dashboard_exprs() -> list[str]:
    dash = json.loads((OPS / "grafana-dashboard.json").read_text())
    assert dash["title"] and dash["uid"] and isinstance(dash["schemaVersion"], int)
    exprs = []
    for panel in dash["panels"]:
        assert panel["type"] and panel["title"] and panel["gridPos"]
        for target in panel["targets"]:
            assert target["refId"] and target["expr"]
            exprs.append(target["expr"])
    return exprs


def test_the_dashboard_uses_only_metrics_a_node_exposes(api: ApiHarness) -> None:
    api.commit(api.alice, Transfer(to=addr(make_signer("metrics-dash")), amount=1))
    exposed = {s.name for s in scrape(api)}
    referenced = {name for expr in _dashboard_exprs() for name in re.findall(r"\btrellis_[a-z0-9_]+", expr)}
    assert len(referenced) >= 10
    missing = referenced - exposed
    assert not missing, f"the dashboard refers to metrics no node exposes: {sorted(missing)}"
    wanted = {
        "trellis_height",
        "trellis_block_interval_seconds_bucket",
        "trellis_mempool_txs",
        "trellis_stage_seconds_total",
        "trellis_api_request_seconds_bucket",
        "trellis_peers",
    }
    assert wanted <= referenced


def test_the_scrape_config_scrapes_make_runs_nodes() -> None:
    cfg = yaml.safe_load((OPS / "prometheus.yml").read_text())
    (job,) = cfg["scrape_configs"]
    assert job["metrics_path"] == "/metrics"
    targets = [t for sc in job["static_configs"] for t in sc["targets"]]
    # `make run`: VALIDATORS=4 nodes, node i's API on 8680 + i (trellis.node.network.init_network).
    assert targets == [f"127.0.0.1:{8680 + i}" for i in range(4)]


def test_node_start_with_json_logs_and_metrics_on_its_port(tmp_path: Path) -> None:
    """``trellis node start`` as a user runs it, with ``[log] format = "json"``: every stderr line is a JSON object
    with the documented fields; ``/metrics`` answers on the node's real port."""
    home = tmp_path / "solo"
    init_home(home, api_port=free_port_range(1))
    with (home / "config.toml").open("a") as f:
        f.write('\n[log]\nformat = "json"\nlevel = "info"\nlevels = { "trellis.consensus" = "debug" }\n')
    proc = subprocess.Popen(
        [sys.executable, "-m", "trellis.cli.main", "node", "start", "--home", str(home)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = ""
        for line in proc.stdout:
            m = re.search(r"API listening on (http://\S+)", line)
            if m:
                url = m.group(1)
                break
        assert url, "the node did not start"
        with urllib.request.urlopen(url + "/metrics", timeout=20) as resp:
            assert resp.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
            names = {s.name for f in text_string_to_metric_families(resp.read().decode()) for s in f.samples}
        assert {"trellis_height", "trellis_consensus_round", "trellis_storage_bytes"} <= names
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    records = [json.loads(line) for line in err.splitlines() if line.strip()]
    assert records, err
    for r in records:
        assert {"ts", "level", "logger", "msg"} <= set(r), r
        assert r["ts"].endswith("Z")
    assert any(r["logger"] == "trellis.consensus" for r in records), records
