"""Prometheus metrics of one node (``GET /metrics``; docs/ops/metrics.md lists every metric).

Each node has its own ``CollectorRegistry`` (never the process-wide default: tests and ``trellis net up`` run
several nodes in one process). Almost everything is read from the node's existing counters when Prometheus
scrapes (``NodeCollector``): nothing is added to the transaction path. The API's request counts and latencies
are the exception: the API's middleware observes them per request (``NodeMetrics.observe_request``).

Importing this module turns off prometheus-client's ``<name>_created`` samples (process-wide: the client's switch
is global): they doubled every counter and histogram series and carry nothing a dashboard uses.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest
from prometheus_client.registry import Collector

import trellis
from trellis.node.consensus_driver import DisseminationStats
from trellis.node.node import Node
from trellis.storage.chain_store import ChainStore
from trellis.storage.kv import LmdbStore, SplitStore

disable_created_metrics()  # no `*_created` series: one series per counter/histogram label set, not two

CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
"""The text exposition format, version 0.0.4 (``text/plain; version=0.0.4; charset=utf-8``)."""
API_LATENCY_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
"""Upper bounds (seconds) of the API latency histogram's buckets."""
METHODS = frozenset({"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"})
"""HTTP methods counted by name; any other is counted as ``other`` (the label set stays bounded)."""
OTHER = "other"
"""The route label of a request no route matched (and the method label of an unusual method)."""
MAX_STORAGE_FILES = 64
"""At most this many files of the data directory are reported (``trellis_storage_bytes``)."""


def data_dir_of(node: Node[Any]) -> Path | None:
    """The node's LMDB data directory, or None when its store is not on disk (a memory store in tests)."""
    blocks = node.blocks
    if isinstance(blocks, ChainStore) and isinstance(blocks.kv, LmdbStore | SplitStore):
        return blocks.kv.path
    return None


def storage_files(root: Path) -> list[tuple[str, int]]:
    """(path relative to ``root``, size in bytes) of the files in ``root`` and its direct subdirectories (the
    LMDB ``data.mdb``/``lock.mdb`` of ``chain/`` and ``state/``, the consensus WAL), at most
    ``MAX_STORAGE_FILES``, sorted by path. A file that vanishes meanwhile is skipped."""
    out: list[tuple[str, int]] = []

    def scan(folder: Path, prefix: str, depth: int) -> None:
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            return
        for entry in entries:
            if len(out) >= MAX_STORAGE_FILES:
                return
            try:
                if entry.is_file(follow_symlinks=False):
                    out.append((prefix + entry.name, entry.stat(follow_symlinks=False).st_size))
                elif depth > 0 and entry.is_dir(follow_symlinks=False):
                    scan(Path(entry.path), f"{prefix}{entry.name}/", depth - 1)
            except OSError:
                continue

    scan(root, "", 1)
    return out


class NodeCollector(Collector):
    """Reads the node's counters when scraped: chain position, consensus, mempool, pipeline stages,
    dissemination, peers, storage sizes."""

    def __init__(self, node: Node[Any]) -> None:
        self.node = node

    def collect(self) -> Iterator[Metric]:
        node = self.node
        tip = node.app.info()
        yield _gauge("trellis_height", "Height of the last committed block.", tip.height)
        info = GaugeMetricFamily(
            "trellis_node_info", "Constant 1, labelled with the node's chain and software.", labels=_INFO_LABELS
        )
        info.add_metric(
            [
                node.params.chain_id,
                node.params.suite.name,
                node.config.node.moniker,
                trellis.__version__,
                node.app.verifier.name,
            ],
            1,
        )
        yield info
        yield from self._consensus()
        yield _gauge("trellis_mempool_txs", "Transactions pending in the mempool.", len(node.mempool))
        yield _gauge(
            "trellis_mempool_bytes", "Bytes of the transactions pending in the mempool.", node.mempool.size_bytes
        )
        yield _counter(
            "trellis_gossip_dropped_txs",
            "Gossiped transactions dropped unchecked because too many gossiped batches were waiting.",
            node.gossip_dropped,
        )
        stages = node.stages.snapshot()
        seconds = CounterMetricFamily(
            "trellis_stage_seconds", "Wall time spent per pipeline stage (seconds).", labels=["stage"]
        )
        items = CounterMetricFamily(
            "trellis_stage_items", "Transactions processed per pipeline stage.", labels=["stage"]
        )
        for stage, v in sorted(stages.items()):
            seconds.add_metric([stage], v["seconds"])
            items.add_metric([stage], v["items"])
        yield seconds
        yield items
        peers = len(node.transport.connected_peers()) if node.transport is not None else 0
        yield _gauge("trellis_peers", "Peers connected now.", peers)
        root = data_dir_of(node)
        storage = GaugeMetricFamily(
            "trellis_storage_bytes", "Size of each file of the node's data directory (bytes).", labels=["file"]
        )
        if root is not None:
            for name, size in storage_files(root):
                storage.add_metric([name], size)
        yield storage

    def _consensus(self) -> Iterator[Metric]:
        driver = self.node.driver
        status = driver.status() if driver is not None else None
        yield _gauge("trellis_consensus_height", "Height consensus is deciding.", status.height if status else 0)
        yield _gauge("trellis_consensus_round", "Round at the height being decided.", status.round if status else 0)
        step_seconds = CounterMetricFamily(
            "trellis_consensus_step_seconds",
            "Wall time spent in each consensus step (propose, prevote, precommit, commit), seconds.",
            labels=["step"],
        )
        step_entries = CounterMetricFamily(
            "trellis_consensus_step_entries", "Times each consensus step was entered.", labels=["step"]
        )
        interval = HistogramMetricFamily(
            "trellis_block_interval_seconds", "Wall time between consecutive commits on this node (seconds)."
        )
        if driver is not None:
            t = driver.timings
            for step, (secs, n) in sorted(t.steps().items()):
                step_seconds.add_metric([step.lower()], secs)
                step_entries.add_metric([step.lower()], n)
            interval.add_metric([], t.interval_buckets(), t.interval_sum)
            stats = dataclasses.asdict(driver.stats)
        else:
            interval.add_metric([], [("+Inf", 0)], 0.0)
            stats = {}
        yield step_seconds
        yield step_entries
        yield interval
        for name, doc in _DISSEMINATION.items():
            yield _counter(f"trellis_dissemination_{name}", doc, stats.get(name, 0))


_INFO_LABELS = ["chain_id", "suite", "moniker", "version", "verifier"]
_DISSEMINATION = {
    f.name: f"Batch dissemination: {f.name.replace('_', ' ')} (ConsensusDriver.stats)."
    for f in dataclasses.fields(DisseminationStats)
}


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, value=value)


def _counter(name: str, doc: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, doc, value=value)


class NodeMetrics:
    """One node's registry: the scrape-time ``NodeCollector`` and the API's request metrics."""

    def __init__(self, node: Node[Any]) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(NodeCollector(node))
        self.api_requests = Counter(
            "trellis_api_requests",
            "API requests answered, by route template, method and status class.",
            ["route", "method", "status_class"],
            registry=self.registry,
        )
        self.api_seconds = Histogram(
            "trellis_api_request_seconds",
            "Time to answer an API request (to the end of a stream, for streams), by route template and method.",
            ["route", "method"],
            registry=self.registry,
            buckets=API_LATENCY_BUCKETS_S,
        )

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        """Count one answered request (``route``: the route's template, or ``other``)."""
        m = method if method in METHODS else OTHER
        self.api_requests.labels(route, m, f"{min(max(status // 100, 1), 5)}xx").inc()
        self.api_seconds.labels(route, m).observe(seconds)

    def exposition(self) -> bytes:
        """Every metric in the text format (``CONTENT_TYPE``)."""
        return generate_latest(self.registry)


__all__ = ["CONTENT_TYPE", "NodeCollector", "NodeMetrics", "data_dir_of", "storage_files"]
