"""``ConsensusTimings``: how long consensus spends in each step and between commits, kept by the consensus driver
and read by the node's Prometheus collector (``trellis.node.metrics``) at scrape time.

The driver calls ``observe`` after every event it runs (a compare of three fields; a clock read only when the
step changed) and ``committed`` after every block it commits. Everything is bounded: one entry per step name and
a fixed set of histogram buckets.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Callable

INTERVAL_BUCKETS_S: tuple[float, ...] = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
"""Upper bounds (seconds) of the block-interval histogram's buckets (``+Inf`` is implicit)."""


class ConsensusTimings:
    """Seconds spent per consensus step (``propose``, ``prevote``, ``precommit``, ``commit``), how often each was
    entered, and a histogram of the wall time between consecutive commits.

    Only the event loop that runs the driver writes it; a scrape reads it on the same loop (``snapshot`` copies).
    """

    def __init__(self, now: Callable[[], float] = time.perf_counter) -> None:
        self._now = now
        self._at: tuple[int, int, str] | None = None
        self._since = 0.0
        self.step_seconds: dict[str, float] = {}
        self.step_entries: dict[str, int] = {}
        self._last_commit: float | None = None
        self.interval_counts = [0] * (len(INTERVAL_BUCKETS_S) + 1)
        """Per bucket (not cumulative), the last one for intervals above every bound."""
        self.interval_sum = 0.0
        self.interval_count = 0

    def observe(self, height: int, round_: int, step: str) -> None:
        """Note where consensus is after an event; a change of height, round or step closes the previous step."""
        at = self._at
        if at is not None and at[0] == height and at[1] == round_ and at[2] == step:
            return
        now = self._now()
        if at is not None:
            self.step_seconds[at[2]] = self.step_seconds.get(at[2], 0.0) + (now - self._since)
        self.step_entries[step] = self.step_entries.get(step, 0) + 1
        self._at = (height, round_, step)
        self._since = now

    def committed(self) -> None:
        """Note a commit: the time since the previous one (none for the first) goes into the histogram."""
        now = self._now()
        last, self._last_commit = self._last_commit, now
        if last is None:
            return
        interval = now - last
        self.interval_counts[bisect.bisect_left(INTERVAL_BUCKETS_S, interval)] += 1
        self.interval_sum += interval
        self.interval_count += 1

    def steps(self) -> dict[str, tuple[float, int]]:
        """Per step: seconds spent (the current step's time so far included) and times entered."""
        out = {s: (self.step_seconds.get(s, 0.0), n) for s, n in self.step_entries.items()}
        if self._at is not None:
            s = self._at[2]
            out[s] = (out[s][0] + self._now() - self._since, out[s][1])
        return out

    def interval_buckets(self) -> list[tuple[str, int]]:
        """The block-interval histogram as Prometheus buckets: (upper bound, cumulative count), ``+Inf`` last."""
        out: list[tuple[str, int]] = []
        total = 0
        for bound, n in zip((*(repr(b) for b in INTERVAL_BUCKETS_S), "+Inf"), self.interval_counts, strict=True):
            total += n
            out.append((bound, total))
        return out


__all__ = ["INTERVAL_BUCKETS_S", "ConsensusTimings"]
