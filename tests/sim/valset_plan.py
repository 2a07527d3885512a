"""Validator-set changes in the simulation (ADR 0014 section 8): a seed's plan and the governance that carries it out.

Seeds with ``seed % 4 == 1`` draw a plan of 1 to 4 changes, made one after another once the chaos has healed: a
spare node (booted as a follower, its key outside the genesis set) joins, a validator leaves, or a validator's
power changes. Each step changes at most a third of the power of the set before it, and the Byzantine validators
hold less than a third of every set. Every change is a real governance transaction: the admin of ``org0``
proposes it (``membership.propose``, the first approval) and the admin of ``org1`` approves it
(``membership.approve``, the threshold of 2), after both registered their certificates from the orgs'
deterministic CAs. About half of the plans crash the node the change is about between the change's block ``H``
and ``H + 2`` (a power loss) and restart it later.

The plan is drawn from its own random stream, so the seeds without a plan run as before.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from tests.fixtures.governance import fixed_ca
from trellis.core.codec import encode
from trellis.core.crypto.suite import ED25519, address_of
from trellis.core.ledger.block import Validator
from trellis.core.ledger.tx import TxBody, sign_tx, tx_hash
from trellis.core.modules.membership.messages import ApproveMembership, ProposeMembership, RegisterCert
from trellis.core.modules.validators.messages import (
    AddValidator,
    RemoveValidator,
    SetValidatorPower,
    ValidatorChange,
)
from trellis.keys.signer import MemorySigner

from .simnet import ORGS, JoinViolation, Simulation

KINDS = ("add", "remove", "set_power")
JOIN_BOUND_MS = 5_000.0
"""A joining validator lets out a precommit within this much simulated time after the later of its effective
height's start (the first commit of the height before) and its last restart."""


@dataclass(frozen=True)
class Change:
    """One planned change: ``kind`` on node ``node``; ``power`` is the new power (0 for a removal)."""

    kind: str
    node: int
    power: int


@dataclass(frozen=True)
class ValsetPlan:
    """A seed's validator-set changes: ``spares`` follower nodes after the ``n`` genesis validators, the changes in
    order, and the index of the change whose node crashes between ``H`` and ``H + 2`` (or None)."""

    spares: int
    changes: list[Change]
    crash_change: int | None
    crash_ms: float
    """How long that node stays down (simulated ms)."""


def draw_plan(seed: int, powers: list[int], byzantine: dict[int, str]) -> ValsetPlan | None:
    """Draw seed ``seed``'s validator-set plan, or None for a seed without one (``seed % 4 != 1``).

    Every step is checked as it is drawn: its weight (added power, removed power, or the power difference) at
    most a third of the set before it, the Byzantine power below a third of the set after it.
    """
    if seed % 4 != 1:
        return None
    rng = random.Random(f"valset-{seed}")
    n = len(powers)
    current = dict(enumerate(powers))
    changes: list[Change] = []
    spare_next = n
    removed: set[int] = set()
    for _ in range(rng.randint(1, 4)):
        total = sum(current.values())
        byz = sum(p for i, p in current.items() if i in byzantine)
        options: list[Change] = []
        for kind in rng.sample(KINDS, len(KINDS)):
            if kind == "add" and total // 3 >= 1:
                options.append(Change("add", spare_next, rng.randint(1, min(5, total // 3))))
            elif kind == "remove" and len(current) > 1:
                i = rng.choice(sorted(current))
                left = total - current[i]
                if 3 * current[i] <= total and 3 * (byz - (current[i] if i in byzantine else 0)) < left:
                    options.append(Change("remove", i, 0))
            elif kind == "set_power":
                i = rng.choice(sorted(current))
                q = rng.randint(1, 8)
                new_total = total - current[i] + q
                new_byz = byz - current[i] + q if i in byzantine else byz
                if q != current[i] and 3 * abs(q - current[i]) <= total and 3 * new_byz < new_total:
                    options.append(Change("set_power", i, q))
        if not options:
            continue
        change = options[0]
        changes.append(change)
        if change.kind == "add":
            current[change.node] = change.power
            spare_next += 1
        elif change.kind == "remove":
            del current[change.node]
            removed.add(change.node)
        else:
            current[change.node] = change.power
    if not changes:
        changes.append(Change("add", spare_next, 1))
        spare_next += 1
    crash = rng.randrange(len(changes)) if rng.random() < 0.5 else None
    if crash is not None and changes[crash].node in byzantine:
        crash = None  # the crash is of an honest node (a Byzantine one may already be silent)
    return ValsetPlan(
        spares=max(1, spare_next - n), changes=changes, crash_change=crash, crash_ms=rng.uniform(500.0, 1200.0)
    )


class Governor:
    """Carries out a plan on a simulation, one step per ``tick``: register the admins' certificates, then for each
    change propose it and approve it (the next change is proposed once the approval is decided, so each is judged
    against the set the one before leaves); done once the last is in force; transactions not yet decided are sent again
    each tick (the same bytes, so a lost one is retried and a decided one is refused as a replay)."""

    def __init__(self, sim: Simulation, plan: ValsetPlan) -> None:
        self.sim, self.plan = sim, plan
        self.nonces = [0] * len(sim.admins)
        self.step = "register"
        self.index = 0
        self.pending: list[bytes] = []
        self.proposal_id: int | None = None
        self.decided_at: list[int] = []
        """The block ``H`` of each change."""
        self.crashed: int | None = None
        self.restart_at_ms = 0.0
        self.restarted_ms: dict[int, float] = {}
        self.joiners: dict[bytes, int] = {}
        """A joining validator's address -> its effective height."""
        self.crash_heights: list[tuple[int, int]] = []
        """(H, the highest decided height) when the node of a change crashed: it went down before ``H + 2``."""
        sim.decided_hook = self._on_decided
        self._send(
            *[
                self._tx(k, RegisterCert(cert=fixed_ca(o).issue(a.public_key, "admin", f"admin-{o}")))
                for k, (o, a) in enumerate(zip(ORGS, sim.admins, strict=True))
            ]
        )

    def _on_decided(self, height: int) -> None:
        """Block ``height`` was decided: if it holds the approval of the change whose node the plan crashes, crash
        that node right after this event (between ``H`` and ``H + 2``: decided, not yet in force)."""
        if self.step != "approve" or self.plan.crash_change != self.index or self.crashed is not None:
            return
        found = self.sim.receipts.get(tx_hash(ED25519, self.pending[0]))
        node = self.plan.changes[self.index].node
        if found is None or found[0] != height or not self.sim.nodes[node].alive:
            return

        def crash() -> None:
            if self.sim.nodes[node].alive:
                self.crash_heights.append((height, max(self.sim.decided)))
                self.sim.crash(node)

        self.crashed = node
        self.restart_at_ms = self.sim.now_ms + self.plan.crash_ms
        self.sim.schedule(0, crash)

    @property
    def done(self) -> bool:
        """Every change is in force and any crashed node is back."""
        return (
            self.step == "done" and self.crashed is None and max(self.sim.decided, default=0) >= self.decided_at[-1] + 2
        )

    def _tx(self, k: int, payload: object) -> bytes:
        admin = self.sim.admins[k]
        body = TxBody(chain_id=self.sim.params.chain_id, sender=admin.public_key, nonce=self.nonces[k], payload=payload)  # type: ignore[arg-type]
        self.nonces[k] += 1
        return encode(sign_tx(body, admin.sign))

    def _send(self, *raws: bytes) -> None:
        self.pending = list(raws)
        for raw in raws:
            self.sim.submit_raw(raw)

    def _receipts(self) -> list[tuple[int, int, list[tuple[str, dict[str, bytes]]]]] | None:
        """(height, code, events) of each pending transaction, or None while one is not decided yet."""
        out = []
        for raw in self.pending:
            found = self.sim.receipts.get(tx_hash(ED25519, raw))
            if found is None:
                return None
            h, r = found
            out.append((h, r.code, [(e.type, {k: bytes(v) for k, v in e.attributes}) for e in r.events]))
        return out

    def _signer(self, node: int) -> MemorySigner:
        return self.sim.nodes[node].signer

    def _edit(self, change: Change) -> tuple[ValidatorChange, Callable[[dict[bytes, Validator]], None]]:
        """The governance message of ``change`` and how it edits the simulation's copy of the set."""
        pk = self._signer(change.node).public_key
        addr = address_of(ED25519, pk)
        name = f"v{change.node}"
        if change.kind == "add":
            msg: ValidatorChange = AddValidator(public_key=pk, power=change.power, name=name, org=ORGS[0])

            def edit(s: dict[bytes, Validator]) -> None:
                s[addr] = Validator(public_key=pk, power=change.power, name=name)
        elif change.kind == "remove":
            msg = RemoveValidator(address=addr)

            def edit(s: dict[bytes, Validator]) -> None:
                del s[addr]
        else:
            msg = SetValidatorPower(address=addr, power=change.power)

            def edit(s: dict[bytes, Validator]) -> None:
                s[addr] = Validator(public_key=s[addr].public_key, power=change.power, name=s[addr].name)

        return msg, edit

    def tick(self) -> None:
        """Move the plan on by what the decided blocks allow; send again what is still pending."""
        sim = self.sim
        if self.crashed is not None and sim.now_ms >= self.restart_at_ms:
            sim.restart(self.crashed)
            self.restarted_ms[self.crashed] = sim.now_ms
            self.crashed = None
        receipts = self._receipts()
        if receipts is None:
            for raw in self.pending:
                if tx_hash(ED25519, raw) not in sim.receipts:
                    sim.submit_raw(raw)
            return
        if any(code != 0 for _, code, _ in receipts):
            raise AssertionError(f"seed {sim.seed}: a governance transaction failed at step {self.step}: {receipts}")
        if self.step == "register":
            self._next_change()
        elif self.step == "propose":
            ((_, _, events),) = receipts
            self.proposal_id = int(next(a["proposal"] for t, a in events if t == "membership.proposed"))
            _, edit = self._edit(self.plan.changes[self.index])
            sim.expected_changes[self.proposal_id] = edit
            self.step = "approve"
            self._send(self._tx(1, ApproveMembership(proposal_id=self.proposal_id)))
        elif self.step == "approve":
            ((h, _, events),) = receipts
            if not any(t == "validators.changed" for t, _ in events):
                raise AssertionError(f"seed {sim.seed}: the approval in block {h} did not change the set: {events}")
            self.decided_at.append(h)
            change = self.plan.changes[self.index]
            if change.kind == "add":
                self.joiners[address_of(ED25519, self._signer(change.node).public_key)] = h + 2
            # The next change is proposed now: it is decided in a later block, so it is judged against the set
            # this one leaves.
            self.index += 1
            self._next_change()

    def _next_change(self) -> None:
        if self.index >= len(self.plan.changes):
            self.step = "done"
            self.pending = []
            return
        msg, _ = self._edit(self.plan.changes[self.index])
        self.step = "propose"
        self._send(self._tx(0, ProposeMembership(change=msg)))

    def check_joiners(self) -> None:
        """Each joining validator let out a precommit at or after its effective height within ``JOIN_BOUND_MS`` of
        the later of that height's start and its last restart (one with none yet passes until the bound is over).

        Raises:
            JoinViolation: one did not.
        """
        sim = self.sim
        for addr, effective in self.joiners.items():
            start = sim.first_decided_ms.get(effective - 1)
            if start is None:
                continue
            node = next(i for i, nd in enumerate(sim.nodes) if address_of(ED25519, nd.signer.public_key) == addr)
            if not sim.nodes[node].alive:
                continue
            start = max(start, self.restarted_ms.get(node, 0.0))
            first = min(
                (t for (a, h), t in sim.first_precommit_ms.items() if a == addr and h >= effective), default=None
            )
            if first is not None and first <= start + JOIN_BOUND_MS:
                continue
            if first is not None or sim.now_ms >= start + JOIN_BOUND_MS:
                raise JoinViolation(
                    f"seed {sim.seed}: node {node}, a validator from height {effective}, let out no precommit within "
                    f"{JOIN_BOUND_MS / 1000:.0f} s (first: {first}, height started at {start})"
                )
