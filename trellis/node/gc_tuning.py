"""Garbage-collector settings for a long-running node process.

CPython's cyclic collector runs a full collection whenever the number of long-lived container objects has
grown by a quarter. A node under load keeps growing its heap (mempool, caches, in-flight batches) and each full
collection walks every tracked object while holding the GIL: measured on the 2-core bench VM (one validator,
16,000 offered tx/s for 20 s), 24 full collections took 1.4-2.2 s and all collections 2-3 s of the run, time
the event loop could not run. Objects that live as long as the process (modules, the application, caches
built at start) never become garbage, so they are frozen out of the collector, and the collector runs less
often: young cycles are still collected, and a full collection still happens, just rarely.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 10_000
"""Net container allocations between two collections of the youngest generation (CPython's default: 700)."""
MIDDLE_THRESHOLD = 50
"""Young collections between two collections of the middle generation (default: 10)."""
OLD_THRESHOLD = 100
"""Middle collections between two full collections (default: 10; CPython also waits for 25% growth)."""


def tune_for_node() -> None:
    """Collect once, freeze what survives (it lives as long as the process) and raise the thresholds.

    Call after the node is assembled, before it starts serving.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, MIDDLE_THRESHOLD, OLD_THRESHOLD)
