"""The relayer's metrics (Prometheus text exposition, written by hand: no client library is needed) and the
listener that serves them with ``/status`` (JSON per path: heights, pending packets, clients, last error).

  trellis_relayer_packets_pending{chain,channel}     packets stored at ``chain`` on ``port/channel`` (last scan)
  trellis_relayer_relay_latency_seconds              histogram: packet first seen pending after a source commit ->
                                                     its receive committed on the destination
  trellis_relayer_items_total{outcome}               ok | duplicate | timed_out | refused | tx_failed
  trellis_relayer_client_age_seconds{client}         destination time - the client's latest consensus time
                                                     (``client`` = ``<chain>/<client_id>``)
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

LATENCY_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
"""Upper bounds (seconds) of the latency histogram's buckets (``+Inf`` added)."""


def _label(v: str) -> str:
    return v.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _num(v: float) -> str:
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return repr(float(v))


class Metrics:
    """The relayer's counters, gauges and histogram."""

    def __init__(self) -> None:
        self.pending: dict[tuple[str, str], int] = {}
        self.items: dict[str, int] = {}
        self.client_age: dict[str, float] = {}
        self.latency_counts = [0] * (len(LATENCY_BUCKETS) + 1)
        self.latency_sum = 0.0
        self.latency_count = 0

    def set_pending(self, chain: str, channel: str, n: int) -> None:
        """Packets stored at ``chain`` on ``channel`` (``port/channel``)."""
        self.pending[(chain, channel)] = n

    def count_item(self, outcome: str, n: int = 1) -> None:
        """``n`` items ended with ``outcome``."""
        self.items[outcome] = self.items.get(outcome, 0) + n

    def set_client_age(self, client: str, seconds: float) -> None:
        """Age of a client's latest consensus state."""
        self.client_age[client] = seconds

    def observe_latency(self, seconds: float) -> None:
        """One packet's relay latency."""
        for i, bound in enumerate(LATENCY_BUCKETS):
            if seconds <= bound:
                self.latency_counts[i] += 1
                break
        else:
            self.latency_counts[-1] += 1
        self.latency_sum += seconds
        self.latency_count += 1

    def render(self) -> str:
        """The Prometheus text exposition (format 0.0.4)."""
        out = [
            "# HELP trellis_relayer_packets_pending Packets stored (sent, not yet acknowledged or timed out).",
            "# TYPE trellis_relayer_packets_pending gauge",
        ]
        for (chain, channel), n in sorted(self.pending.items()):
            out.append(f'trellis_relayer_packets_pending{{chain="{_label(chain)}",channel="{_label(channel)}"}} {n}')
        out += [
            "# HELP trellis_relayer_relay_latency_seconds Source commit seen to destination commit seen, per packet.",
            "# TYPE trellis_relayer_relay_latency_seconds histogram",
        ]
        cum = 0
        for bound, c in zip((*LATENCY_BUCKETS, math.inf), self.latency_counts, strict=True):
            cum += c
            out.append(f'trellis_relayer_relay_latency_seconds_bucket{{le="{_num(bound)}"}} {cum}')
        out.append(f"trellis_relayer_relay_latency_seconds_sum {_num(self.latency_sum)}")
        out.append(f"trellis_relayer_relay_latency_seconds_count {self.latency_count}")
        out += [
            "# HELP trellis_relayer_items_total Relay items by outcome.",
            "# TYPE trellis_relayer_items_total counter",
        ]
        for outcome, n in sorted(self.items.items()):
            out.append(f'trellis_relayer_items_total{{outcome="{_label(outcome)}"}} {n}')
        out += [
            "# HELP trellis_relayer_client_age_seconds Age of a client's latest consensus state.",
            "# TYPE trellis_relayer_client_age_seconds gauge",
        ]
        for client, age in sorted(self.client_age.items()):
            out.append(f'trellis_relayer_client_age_seconds{{client="{_label(client)}"}} {_num(age)}')
        return "\n".join(out) + "\n"


def status_app(metrics: Metrics, status: Callable[[], dict[str, Any]]) -> web.Application:
    """The listener's routes: ``GET /metrics`` (Prometheus text) and ``GET /status`` (JSON)."""

    async def get_metrics(_request: web.Request) -> web.Response:
        return web.Response(text=metrics.render(), content_type="text/plain", charset="utf-8")

    async def get_status(_request: web.Request) -> web.Response:
        return web.Response(text=json.dumps(status(), indent=1), content_type="application/json")

    app = web.Application()
    app.add_routes([web.get("/metrics", get_metrics), web.get("/status", get_status)])
    return app


async def start_listener(metrics: Metrics, status: Callable[[], dict[str, Any]], host: str, port: int) -> web.AppRunner:
    """Serve ``status_app`` on ``host:port``; returns the runner (``await runner.cleanup()`` stops it)."""
    runner = web.AppRunner(status_app(metrics, status), access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except BaseException:  # the port is taken (OSError): leave nothing half started
        await runner.cleanup()
        raise
    return runner


def now_s() -> float:
    """Wall-clock seconds (status timestamps)."""
    return time.time()
