"""One randomised simulation run per seed: chaos, then heal, with safety and liveness checked."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from trellis.core.execution.state_keys import EVIDENCE_PREFIX

from .simnet import LivenessViolation, NetConditions, Simulation

BYZANTINE_MODES = ("equivocate", "double_vote", "withhold", "garbage", "silent")


@dataclass
class RunStats:
    seed: int
    n: int
    byzantine: dict[int, str]
    heights: list[int]
    events: int
    evidence_on_chain: int


def run_seed(seed: int, quiet: bool = True) -> RunStats:
    """Run one seeded scenario; raise SafetyViolation or LivenessViolation on a broken invariant."""
    root = logging.getLogger("trellis")
    level = root.level
    if quiet:
        root.setLevel(logging.CRITICAL)
    try:
        return _run_seed(seed)
    finally:
        root.setLevel(level)  # tests run after this one still see the node's warnings


def _run_seed(seed: int) -> RunStats:
    import random

    plan = random.Random(seed ^ 0x5EED)
    n = 7 if plan.random() < 0.2 else 4
    f = (n - 1) // 3
    byzantine: dict[int, str] = {}
    if plan.random() < 0.6:
        for i in plan.sample(range(n), plan.randint(1, f)):
            byzantine[i] = plan.choice(BYZANTINE_MODES)
    sim = Simulation(seed, n=n, byzantine=byzantine)
    for i, mode in byzantine.items():
        if mode == "silent":
            sim.crash(i)
    honest = [i for i in range(n) if i not in byzantine]

    # Chaos: loss, delay, duplication, partitions, crashes and restarts of honest nodes.
    crashed: set[int] = set()
    for _ in range(plan.randint(4, 10)):
        sim.cond = NetConditions(
            loss=plan.choice([0.0, 0.0, 0.05, 0.2, 0.4]),
            dup=plan.choice([0.0, 0.1, 0.3]),
            min_delay_ms=1.0,
            max_delay_ms=plan.choice([5.0, 30.0, 150.0, 600.0]),
            partition=_random_partition(plan, n) if plan.random() < 0.3 else None,
        )
        r = plan.random()
        if r < 0.25:
            i = plan.choice(honest)
            if i not in crashed:
                sim.crash(i)
                crashed.add(i)
        elif r < 0.45 and crashed:
            i = plan.choice(sorted(crashed))
            sim.restart(i)
            crashed.discard(i)
        for _ in range(plan.randint(0, 5)):
            sim.submit_tx()
        sim.run_for(plan.uniform(200, 900))

    # Heal: every honest node back, a reliable network; new blocks must commit within a bounded time.
    for i in sorted(crashed):
        sim.restart(i)
    sim.cond = NetConditions(loss=0.0, dup=0.0, min_delay_ms=1.0, max_delay_ms=30.0)
    start = max(sim.heights()[i] for i in honest)
    target = start + 3
    limit_ms = 15_000.0
    waited = 0.0
    while waited < limit_ms:
        sim.submit_tx()
        sim.run_for(250)
        waited += 250
        if all(sim.heights()[i] >= target for i in honest):
            break
    else:
        raise LivenessViolation(
            f"seed {seed}: after healing, honest nodes reached {[sim.heights()[i] for i in honest]}, "
            f"not {target}, within {limit_ms / 1000:.0f} s (byzantine={byzantine}, n={n})"
        )
    node = sim.nodes[honest[0]]
    assert node.app is not None
    evidence = len(node.app.store.kv.scan("state", EVIDENCE_PREFIX, EVIDENCE_PREFIX + b"\xff", limit=1000))
    return RunStats(seed, n, byzantine, sim.heights(), sim.events, evidence)


def _random_partition(plan: object, n: int) -> list[set[int]]:
    import random

    assert isinstance(plan, random.Random)
    nodes = list(range(n))
    plan.shuffle(nodes)
    cut = plan.randint(1, n - 1)
    return [set(nodes[:cut]), set(nodes[cut:])]
