"""Deterministic simulation of the BFT protocol: many seeded runs with message loss, delay, duplication,
reordering, partitions, crashes with restart from the WAL, and up to f Byzantine validators.

``SIM_SEEDS`` (default 1000) sets how many seeds CI runs; ``make sim SEEDS=100000`` runs more. A failing seed
is named in the failure and replays exactly with ``python -m tests.sim.run --seed N -v``.
"""

from __future__ import annotations

import os

import pytest

from trellis.core.execution.state_keys import EVIDENCE_PREFIX
from trellis.node.wire import BatchMsg

from .run import run_many
from .scenario import run_seed
from .simnet import SafetyViolation, Simulation


# 1,000 seeds take ~130 s on two quiet cores; a loaded machine has doubled that, past the default 300 s limit.
@pytest.mark.timeout(900)
def test_seeded_runs_keep_safety_and_liveness() -> None:
    count = int(os.environ.get("SIM_SEEDS", "1000"))
    failures = run_many(0, count, os.cpu_count() or 1)
    assert not failures, "failing seeds (replay with python -m tests.sim.run --seed N -v): " + "; ".join(
        f"{seed}: {err}" for seed, err in failures
    )


def test_the_same_seed_replays_the_same_run() -> None:
    a, b = run_seed(1234), run_seed(1234)
    assert (a.heights, a.events, a.byzantine) == (b.heights, b.events, b.byzantine)


def test_an_equivocating_proposer_is_detected_and_recorded_on_chain() -> None:
    sim = Simulation(7, n=4, byzantine={0: "equivocate"})
    sim.run_for(6000)
    assert min(sim.heights()) >= 5
    assert any(n.driver is not None and n.driver.evidence_seen for n in sim.nodes[1:])
    app = sim.nodes[1].app
    assert app is not None
    assert app.store.kv.scan("state", EVIDENCE_PREFIX, EVIDENCE_PREFIX + b"\xff")


def test_a_double_voting_validator_is_detected_and_recorded_on_chain() -> None:
    sim = Simulation(8, n=4, byzantine={2: "double_vote"})
    sim.run_for(6000)
    assert min(sim.heights()) >= 5
    app = sim.nodes[0].app
    assert app is not None
    assert app.store.kv.scan("state", EVIDENCE_PREFIX, EVIDENCE_PREFIX + b"\xff")


def test_a_validator_restarted_from_its_wal_never_signs_a_conflicting_vote() -> None:
    sim = Simulation(9, n=4)
    for _ in range(30):
        sim.run_for(sim.rng.uniform(5, 120))
        victim = sim.rng.randrange(4)
        sim.crash(victim)
        sim.run_for(sim.rng.uniform(5, 80))
        sim.restart(victim)
    sim.run_for(3000)
    # Every node's WAL holds at most one vote per (height, round, kind): nothing was signed twice.
    for node in sim.nodes:
        seen: dict[tuple[int, int, int], bytes] = {}
        for rec in node.wal.records():
            if rec.vote is not None:
                v = rec.vote.vote
                key = (v.height, v.round, v.kind)
                assert seen.setdefault(key, v.block_hash) == v.block_hash
    assert min(sim.heights()) >= 10


def test_two_of_four_down_commits_nothing_and_one_back_resumes() -> None:
    sim = Simulation(10, n=4)
    sim.run_for(2000)
    sim.crash(1)
    sim.crash(2)
    sim.run_for(500)
    stalled = max(sim.heights()[i] for i in (0, 3))
    sim.run_for(4000)
    assert max(sim.heights()[i] for i in (0, 3)) <= stalled + 1
    sim.restart(1)
    sim.run_for(4000)
    assert min(sim.heights()[i] for i in (0, 1, 3)) >= stalled + 3


def test_the_safety_checker_fails_a_run_where_blocks_differ() -> None:
    sim = Simulation(11, n=4)
    sim.decided[5] = b"\x01" * 32  # pretend another honest node decided a different block at height 5
    with pytest.raises(SafetyViolation):
        sim.run_for(5000)


def test_a_validator_that_never_receives_a_peers_batches_fetches_them_and_keeps_committing() -> None:
    sim = Simulation(12, n=4)
    # Node 3 loses every batch node 0 sends it; clients submit to node 0 only.
    sim.drop = lambda src, dst, msg: src == 0 and dst == 3 and isinstance(msg, BatchMsg)
    for _ in range(40):
        sim.submit_tx_to(0)
        sim.run_for(100)
    sim.run_for(2000)
    follower = sim.nodes[3]
    assert follower.driver is not None and follower.app is not None
    stats = follower.driver.stats
    assert stats.batch_requests_sent > 0 and stats.batches_fetched > 0
    committed = sum(follower.app.store.block(h).header.tx_count for h in range(1, follower.app.info().height + 1))  # type: ignore[union-attr]
    assert committed == 40
    assert min(sim.heights()) >= sim.heights()[0] - 1
    assert sim.disconnects == []


def test_proposals_travel_as_batch_references() -> None:
    sim = Simulation(13, n=4)
    for _ in range(30):
        sim.submit_tx()
        sim.run_for(50)
    sim.run_for(1000)
    sent = [n.driver.stats for n in sim.nodes if n.driver is not None]
    assert sum(s.txs_by_reference for s in sent) >= 30
    assert sum(s.txs_inline for s in sent) == 0
    assert sum(s.proposals_rebuilt for s in sent) > 0
