"""One randomised simulation run per seed: chaos, then heal, with safety, certificates and liveness checked.

Each seed draws the validators' voting powers (unequal, their total often a multiple of 3 so that a set of exactly
2/3 exists and a ``>=`` quorum shows as a certificate of exactly 2/3), the Byzantine validators (always less than
a third of the power) and their modes. About a third of the seeds with Byzantine validators run the lock attack:
every Byzantine validator in ``split_locks`` mode and a ``LockSplitter`` working the network at one height.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass

from trellis.core.modules.evidence.state import EVIDENCE_PREFIX

from .locks import LockSplitter
from .simnet import LivenessViolation, NetConditions, Simulation
from .valset_plan import Governor, ValsetPlan, draw_plan

BYZANTINE_MODES = ("equivocate", "double_vote", "withhold", "garbage", "silent", "amnesia", "repropose")


@dataclass
class RunStats:
    seed: int
    n: int
    byzantine: dict[int, str]
    heights: list[int]
    events: int
    evidence_on_chain: int
    powers: list[int]
    lock_attack: tuple[int, int, list[int], list[int]] | None
    """(height, P, X, Y) of the lock attack, if one was armed."""
    valset_plan: ValsetPlan | None = None
    """The seed's validator-set changes, if it drew some."""
    changes_at: tuple[int, ...] = ()
    """The block ``H`` of each change (effective at ``H + 2``)."""
    crash_heights: tuple[tuple[int, int], ...] = ()
    """(H, the highest decided height) when the node of a change crashed."""


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


def draw_validators(plan: random.Random) -> tuple[list[int], dict[int, str]]:
    """Draw a seed's validators: their voting powers (1 to 5, the total made a multiple of 3 four times in
    five) and the Byzantine ones with their modes, at most f of them and always less than a third of the power.
    In half the seeds with Byzantine validators all of them run the lock attack (``split_locks``)."""
    n = 7 if plan.random() < 0.2 else 4
    f = (n - 1) // 3
    powers = [plan.randint(1, 5) for _ in range(n)]
    if plan.random() < 0.8 and sum(powers) % 3:
        powers[plan.randrange(n)] += 3 - sum(powers) % 3
    total = sum(powers)
    byzantine: dict[int, str] = {}
    if plan.random() < 0.6:
        lock_attack = plan.random() < 0.5
        want = plan.randint(1, f)
        for i in plan.sample(range(n), n):
            # Safety is promised only while the Byzantine validators hold less than a third of the power.
            if len(byzantine) < want and 3 * (sum(powers[j] for j in byzantine) + powers[i]) < total:
                byzantine[i] = "split_locks" if lock_attack else plan.choice(BYZANTINE_MODES)
    return powers, byzantine


def plan_for(seed: int) -> random.Random:
    """The random source that lays out seed ``seed``'s scenario (the simulation's own draws use ``seed``)."""
    return random.Random(seed ^ 0x5EED)


def _run_seed(seed: int) -> RunStats:
    plan = plan_for(seed)
    powers, byzantine = draw_validators(plan)
    n = len(powers)
    lock_attack = "split_locks" in byzantine.values()
    valset = draw_plan(seed, powers, byzantine)
    spares = valset.spares if valset is not None else 0
    sim = Simulation(seed, n=n, byzantine=byzantine, powers=powers, spares=spares, governance=valset is not None)
    for i, mode in byzantine.items():
        if mode == "silent":
            sim.crash(i)
    validators = [i for i in range(n) if i not in byzantine]
    honest = validators + list(range(n, n + spares))  # the spares follow until a change adds them
    roles = LockSplitter.roles(plan, powers, validators, sorted(byzantine)) if lock_attack else None
    arm_at = plan.randint(0, 2)
    armed: tuple[int, int, list[int], list[int]] | None = None

    # Chaos: loss, delay, duplication, partitions, crashes and restarts of honest nodes.
    crashed: set[int] = set()
    # A lock attack needs rounds to play out at its height: its chaos lasts longer and crashes no node.
    phases = plan.randint(8, 12) if roles is not None else plan.randint(4, 10)
    if valset is not None:
        phases = min(phases, 3)  # the changes run after the chaos: CI's time stays about the same
    for phase in range(phases):
        if roles is not None and phase == arm_at:
            height = max(sim.heights()[i] for i in honest) + 2
            sim.splitter = LockSplitter(sim, height, *roles, sorted(byzantine), hide_polka=plan.random() < 0.6)
            armed = (height, *roles)
        sim.cond = NetConditions(
            loss=plan.choice([0.0, 0.0, 0.05, 0.2, 0.4]),
            dup=plan.choice([0.0, 0.1, 0.3]),
            min_delay_ms=1.0,
            max_delay_ms=plan.choice([5.0, 30.0, 150.0, 600.0]),
            partition=_random_partition(plan, n) if plan.random() < 0.3 else None,
        )
        if sim.splitter is not None:
            # The lock attack's adversary runs the network: it delivers what it does not withhold, and quickly,
            # so that rounds go by at the attacked height while P is cut off.
            sim.cond = NetConditions(dup=sim.cond.dup, max_delay_ms=min(sim.cond.max_delay_ms, 30.0))
        r = plan.random()
        if r < 0.25:
            i = plan.choice(honest)
            if i not in crashed and sim.splitter is None:
                sim.crash(i)
                crashed.add(i)
        elif r < 0.45 and crashed:
            i = plan.choice(sorted(crashed))
            sim.restart(i)
            crashed.discard(i)
        for _ in range(plan.randint(0, 5)):
            sim.submit_tx()
        sim.run_for(plan.uniform(200, 900))

    # Heal: every honest node back, a reliable network, the adversary gone; new blocks must commit in bounded time.
    sim.splitter = None
    for i in sorted(crashed):
        sim.restart(i)
    sim.cond = NetConditions(loss=0.0, dup=0.0, min_delay_ms=1.0, max_delay_ms=30.0)
    governor = _change_validators(sim, valset, plan) if valset is not None else None
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
    sim.check_schedules()
    if governor is not None:
        governor.check_joiners()
    node = sim.nodes[honest[0]]
    assert node.app is not None
    evidence = len(node.app.store.kv.scan("state", EVIDENCE_PREFIX, EVIDENCE_PREFIX + b"\xff", limit=1000))
    return RunStats(
        seed,
        n,
        byzantine,
        sim.heights(),
        sim.events,
        evidence,
        powers,
        armed,
        valset,
        tuple(governor.decided_at) if governor else (),
        tuple(governor.crash_heights) if governor else (),
    )


CHANGE_LIMIT_MS = 10_000.0
"""Each step of the plan (a registration, a proposal, an approval, the last change in force) is decided within
this much simulated time."""


def _change_validators(sim: Simulation, valset: ValsetPlan, plan: random.Random) -> Governor:
    """Carry out ``valset`` by governance on a mildly unreliable network; check the schedules as it goes.

    Raises:
        LivenessViolation: a step of the plan took longer than ``CHANGE_LIMIT_MS``.
    """
    sim.cond = NetConditions(
        loss=plan.choice([0.0, 0.05]), dup=plan.choice([0.0, 0.1]), min_delay_ms=1.0, max_delay_ms=60.0
    )
    governor = Governor(sim, valset)
    progress = (governor.step, governor.index, governor.crashed)
    waited = 0.0
    while not governor.done:
        sim.run_for(100)
        waited += 100
        governor.tick()
        sim.check_schedules()
        if (governor.step, governor.index, governor.crashed) != progress:
            progress = (governor.step, governor.index, governor.crashed)
            waited = 0.0
        if waited > CHANGE_LIMIT_MS:
            raise LivenessViolation(
                f"seed {sim.seed}: the validator-set plan stalled at {governor.step} of change {governor.index} "
                f"(heights {sim.heights()}, plan {valset})"
            )
    sim.cond = NetConditions(loss=0.0, dup=0.0, min_delay_ms=1.0, max_delay_ms=30.0)
    return governor


def _random_partition(plan: random.Random, n: int) -> list[set[int]]:
    nodes = list(range(n))
    plan.shuffle(nodes)
    cut = plan.randint(1, n - 1)
    return [set(nodes[:cut]), set(nodes[cut:])]
