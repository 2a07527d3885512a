"""Run many simulation seeds: ``python -m tests.sim.run --seeds 100000 [--start 0] [--jobs N]``, or replay
one: ``python -m tests.sim.run --seed 1234 -v``. A failing seed is printed and its run replays exactly."""

from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor

from .scenario import run_seed


def _one(seed: int) -> tuple[int, str | None, int, int]:
    try:
        st = run_seed(seed)
    except AssertionError as exc:
        return seed, f"{type(exc).__name__}: {exc}", 0, 0
    return seed, None, min(st.heights), st.evidence_on_chain


def run_many(start: int, count: int, jobs: int) -> list[tuple[int, str]]:
    """Run seeds [start, start+count); return the failures."""
    failures: list[tuple[int, str]] = []
    done = 0
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        for seed, err, _h, _e in pool.map(_one, range(start, start + count), chunksize=8):
            done += 1
            if err is not None:
                failures.append((seed, err))
                print(f"FAILED seed {seed}: {err}", flush=True)
            if done % 500 == 0:
                print(f"... {done} seeds run (up to {seed}), {len(failures)} failed", flush=True)
    return failures


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--seeds", type=int, default=1000)
    p.add_argument("--start", type=int, default=0)
    p.add_argument("--seed", type=int, help="replay one seed")
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    p.add_argument("-v", action="store_true")
    a = p.parse_args()
    if a.seed is not None:
        if a.v:
            import logging

            logging.basicConfig(level=logging.INFO)
        st = run_seed(a.seed, quiet=not a.v)
        print(st)
        return 0
    t = time.monotonic()
    failures = run_many(a.start, a.seeds, a.jobs)
    print(f"{a.seeds - len(failures)} passed, {len(failures)} failed in {time.monotonic() - t:.1f} s")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
