"""Deterministic multi-node simulation: n validators wired through an in-memory network with a fake clock.

One seed fixes everything: message delays, losses, duplicates, reordering, partitions, crashes, restarts and
Byzantine behaviour (including the lock-targeting adversaries of ``locks.py``) and the validators' unequal voting
powers. The same seed gives the same run. Invariants are checked as the run goes:
- safety: no two honest nodes ever commit different blocks at the same height (checked on every commit);
- certificates: every block an honest node commits carries a certificate that ``verify_commit`` accepts and that
  an independent check here accepts too (valid signatures by distinct members, more than 2/3 of the power);
- liveness: after the network heals, every honest node commits new blocks within a bounded time;
- durability: a crash is a power loss on the node's ``PowerLossDisk`` (only synced writes survive, plus what the
  OS happened to flush), and the restarted node holds every block it had committed.

A run with ``governance=True`` has two member orgs with deterministic CAs (``tests/fixtures/governance.py``) and
changes its validator set by governance transactions (``valset_plan.py``); ``spares`` extra nodes, whose keys are
outside the genesis set, boot as followers. The simulation computes ``set(h)`` itself from the committed blocks
(the ``validators.changed`` events of the changes it asked for, applied to its own copy of the set) and checks:
- every certificate verifies under ``set(h)`` (``CertificateViolation``) and names no signer outside it
  (``SignerViolation``);
- every header names ``set(h)`` and ``set(h + 1)``, and ``next_validators_hash`` of ``h`` is ``validators_hash``
  of ``h + 1`` (``HeaderChainViolation``);
- each step changes at most a third of the power of the set before it, and the Byzantine validators hold less than
  a third of every set (``StepViolation``);
- every node's validator schedule holds the same sets as the simulation's (``ScheduleViolation``);
- a joining validator precommits within a bounded time of its effective height (``JoinViolation``).
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from tests.fixtures.governance import fixed_ca
from trellis.app.application import TrellisApp
from trellis.core.codec import encode
from trellis.core.consensus.machine import Timeouts
from trellis.core.consensus.messages import SignedProposal
from trellis.core.crypto.suite import ED25519, address_of
from trellis.core.errors import DecodeError, InvalidBlock, InvalidTransaction
from trellis.core.execution.block import ExecutedBlock
from trellis.core.ledger.block import (
    Commit,
    Header,
    Receipt,
    Validator,
    ValidatorSet,
    block_hash,
    make_validator_set,
    validators_hash,
    verify_commit,
)
from trellis.core.ledger.tx import TxBody, sign_tx, tx_hash
from trellis.core.ledger.votes import (
    PRECOMMIT,
    Proposal,
    SignedVote,
    Vote,
    proposal_signing_bytes,
    vote_signing_bytes,
)
from trellis.core.modules.accounts.messages import Transfer
from trellis.core.modules.kv.messages import KvPut
from trellis.core.params import (
    ChainParams,
    Genesis,
    GenesisAccount,
    GenesisMembership,
    GenesisOrg,
    GenesisValidator,
    params_from_genesis,
)
from trellis.keys.signer import MemorySigner
from trellis.node.consensus_driver import ConsensusDriver
from trellis.node.mempool import Mempool
from trellis.node.privval import PrivValidator
from trellis.node.wal import MemoryWal
from trellis.node.wire import CompactProposalMsg, ProposalMsg, VoteMsg, WireMsg, decode_msg, encode_msg
from trellis.storage.chain_store import ChainStore
from trellis.storage.kv import KVStore, SplitStore, StorageError
from trellis.storage.power_loss import PowerLossDisk

from .locks import LOCK_MODES, LockByzantine, LockSplitter

GENESIS_MS = 1_700_000_000_000


class SafetyViolation(AssertionError):
    """Two honest nodes committed different blocks at one height."""


class LivenessViolation(AssertionError):
    """The network healed but some honest node made no progress in time."""


class DurabilityViolation(AssertionError):
    """A node restarted after a power loss without a block it had committed."""


class CertificateViolation(AssertionError):
    """An honest node committed a block whose commit certificate does not prove it final under ``set(h)``."""


class SignerViolation(CertificateViolation):
    """A certificate carries a signature by a key outside the set in force at its height."""


class HeaderChainViolation(AssertionError):
    """A header names another set than ``set(h)`` / ``set(h + 1)``, or ``next_validators_hash`` of ``h`` is not
    ``validators_hash`` of ``h + 1``."""


class StepViolation(AssertionError):
    """A validator-set step changed more than a third of the power, or left the Byzantine power at a third or more."""


class ScheduleViolation(AssertionError):
    """A node's validator schedule disagrees with the sets computed from the committed blocks."""


class JoinViolation(AssertionError):
    """A validator added to the set let out no precommit within the bound after its effective height."""


ORGS = ("org0", "org1")
"""The member orgs of a governance run; validator i belongs to ``ORGS[i % 2]``; each org has one admin."""


@dataclass
class NetConditions:
    """Current link behaviour."""

    loss: float = 0.0
    dup: float = 0.0
    min_delay_ms: float = 1.0
    max_delay_ms: float = 30.0
    partition: list[set[int]] | None = None

    def connected(self, a: int, b: int) -> bool:
        if self.partition is None:
            return True
        return any(a in g and b in g for g in self.partition)


@dataclass
class SimNode:
    index: int
    signer: MemorySigner
    disk: PowerLossDisk
    """The node's disk: a crash is a power loss, which keeps only what was synced (its restart recovers from that)."""
    wal: MemoryWal
    byzantine: str | None = None
    alive: bool = True
    generation: int = 0
    driver: ConsensusDriver | None = None
    app: TrellisApp | None = None
    mempool: Mempool | None = None
    commits: dict[int, bytes] = field(default_factory=dict)
    durable_state: bool = False
    """``[node] durable_state``: drawn per node from the seed."""
    store: KVStore | None = None


class _Timers:
    def __init__(self, sim: Simulation, node: SimNode) -> None:
        self.sim, self.node, self.generation = sim, node, node.generation

    def call_later(self, delay_s: float, callback: Callable[[], None]) -> object:
        gen = self.generation
        node = self.node

        def fire() -> None:
            if node.alive and node.generation == gen:
                callback()

        self.sim.schedule(delay_s * 1000, fire)
        return None

    def now_ms(self) -> int:
        return GENESIS_MS + int(self.sim.now_ms)


class _Net:
    def __init__(self, sim: Simulation, node: SimNode) -> None:
        self.sim, self.node = sim, node

    def send(self, peer_id: str, frame: bytes) -> bool:
        if self.node.byzantine is None:
            self.sim.check_sent_votes(self.node, frame)
        self.sim.transmit(self.node.index, int(peer_id), frame)
        return True

    def broadcast(self, frame: bytes) -> None:
        for other in self.sim.nodes:
            if other.index != self.node.index:
                self.send(str(other.index), frame)

    def disconnect(self, peer_id: str, reason: str) -> None:
        self.sim.disconnects.append((self.node.index, int(peer_id), reason))


class _ByzantineNet(_Net):
    """The network as a Byzantine validator uses it: it may equivocate, double-vote, withhold or send garbage."""

    def broadcast(self, frame: bytes) -> None:
        mode = self.node.byzantine
        sim = self.sim
        msg = decode_msg(frame, 1 << 30)
        others = [o.index for o in sim.nodes if o.index != self.node.index]
        if mode in LOCK_MODES:
            for dst, out in sim.lock_byzantine(self.node).outgoing(msg, frame, others):
                sim.transmit(self.node.index, dst, out)
            return
        if mode == "withhold" and isinstance(msg, VoteMsg):
            return
        if mode == "garbage" and sim.rng.random() < 0.5:
            for o in others:
                sim.transmit(self.node.index, o, sim.rng.randbytes(sim.rng.randint(0, 64)))
        if mode == "double_vote" and isinstance(msg, VoteMsg):
            v = msg.vote.vote
            alt = Vote(
                chain_id=v.chain_id, kind=v.kind, height=v.height, round=v.round, block_hash=sim.rng.randbytes(32)
            )
            forged = SignedVote(
                vote=alt, validator=msg.vote.validator, signature=self.node.signer.sign(vote_signing_bytes(alt))
            )
            half = len(others) // 2
            for o in others[:half]:
                sim.transmit(self.node.index, o, frame)
            for o in others[half:]:
                sim.transmit(self.node.index, o, encode_msg(VoteMsg(vote=forged)))
            return
        app = self.node.app
        if (
            mode == "equivocate"
            and isinstance(msg, CompactProposalMsg)
            and app is not None
            and msg.header.proposer == address_of(ED25519, self.node.signer.public_key)
            and msg.block_header.height == app.info().height + 1
        ):
            sp = msg.header
            # A second, different block for the same height and round (later time), signed without the WAL,
            # sent whole (``ProposalMsg``, which nodes still accept).
            alt_exec = app.prepare_proposal([], msg.block_header.time_ms + 1, sp.proposer)
            alt_p = Proposal(
                chain_id=sp.proposal.chain_id,
                height=sp.proposal.height,
                round=sp.proposal.round,
                pol_round=-1,
                block_hash=alt_exec.block_id,
            )
            alt_sp = SignedProposal(
                proposal=alt_p,
                proposer=sp.proposer,
                signature=self.node.signer.sign(proposal_signing_bytes(alt_p)),
                block=alt_exec.block,
            )
            half = len(others) // 2
            for o in others[:half]:
                sim.transmit(self.node.index, o, frame)
            for o in others[half:]:
                sim.transmit(self.node.index, o, encode_msg(ProposalMsg(proposal=alt_sp)))
            return
        super().broadcast(frame)


class Simulation:
    """A seeded run of n validators (f of them possibly Byzantine), plus ``spares`` nodes outside the genesis set
    that follow (and may join by governance, ``governance=True``)."""

    def __init__(
        self,
        seed: int,
        n: int = 4,
        byzantine: dict[int, str] | None = None,
        timeouts: Timeouts | None = None,
        powers: list[int] | None = None,
        spares: int = 0,
        governance: bool = False,
    ) -> None:
        if powers is not None and (len(powers) != n or min(powers) < 1):
            raise ValueError(f"powers must be {n} positive voting powers, got {powers}")
        self.seed = seed
        self.rng = random.Random(seed)
        self.now_ms = 0.0
        self._queue: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = 0
        self.cond = NetConditions()
        self.timeouts = timeouts or Timeouts(
            propose_ms=300,
            propose_delta_ms=100,
            prevote_ms=150,
            prevote_delta_ms=50,
            precommit_ms=150,
            precommit_delta_ms=50,
            commit_ms=20,
        )
        self.disconnects: list[tuple[int, int, str]] = []
        self.drop: Callable[[int, int, WireMsg], bool] | None = None
        """A test's filter: frames from ``src`` to ``dst`` whose message it returns True for are lost."""
        self.decided: dict[int, bytes] = {}
        self.sent_votes: dict[tuple[bytes, int, int, int], bytes] = {}
        """Every vote an honest validator let out, by (validator, height, round, kind): never two blocks."""
        self._last_checked: bytes | None = None
        self.splitter: LockSplitter | None = None
        """The network adversary of a ``split_locks`` run, while it is at work."""
        self._lock_byzantine: dict[int, LockByzantine] = {}
        self.events = 0
        signers = [MemorySigner(bytes([i + 1]) * 32) for i in range(n + spares)]
        self.client = MemorySigner(b"\xcc" * 32)
        self.client_addr = address_of(ED25519, self.client.public_key)
        self.client_nonce = 0
        self.admins = [MemorySigner(bytes([0xA0 + k]) * 32) for k in range(len(ORGS))] if governance else []
        """One admin per org of ``ORGS`` (a governance run): admin k's certificate is issued by ``ORGS[k]``'s CA."""
        self.powers = [powers[i] if powers else 10 for i in range(n)]
        genesis = Genesis(
            chain_id="sim",
            genesis_time_ms=GENESIS_MS - 1000,
            validators=[
                GenesisValidator(
                    name=f"v{i}",
                    public_key=signers[i].public_key.hex(),
                    power=self.powers[i],
                    **({"org": ORGS[i % len(ORGS)]} if governance else {}),
                )
                for i in range(n)
            ],
            mint_authority=self.client_addr.hex(),
            accounts=[GenesisAccount(address=self.client_addr.hex(), balance=10**12)],
            orgs=[GenesisOrg(name=o, ca_cert=fixed_ca(o).pem) for o in ORGS] if governance else [],
            membership=GenesisMembership(enforce=False, admin_threshold=len(ORGS) if governance else None),
        )
        self.params: ChainParams = params_from_genesis(genesis)
        self._sets: list[tuple[int, dict[bytes, Validator]]] = [
            (1, {address_of(ED25519, v.public_key): v for v in self.params.validators.validators})
        ]
        """(effective height, address -> validator), ascending: the simulation's own ``set(h)``, computed from the
        committed blocks (genesis, then each ``validators.changed`` of a change this simulation asked for)."""
        self.expected_changes: dict[int, Callable[[dict[bytes, Validator]], None]] = {}
        """Proposal id -> how the change edits a set: what the simulation applies when the change is decided."""
        self.receipts: dict[bytes, tuple[int, Receipt]] = {}
        """Transaction hash -> (height, receipt) of every transaction in a decided block (governance runs)."""
        self.headers: dict[int, Header] = {}
        self.first_decided_ms: dict[int, float] = {}
        """Height -> simulated time at which an honest node first committed it."""
        self.first_precommit_ms: dict[tuple[bytes, int], float] = {}
        """(validator, height) -> simulated time of its first precommit at that height (honest validators)."""
        self._signers = {address_of(ED25519, sg.public_key): sg for sg in signers}
        self.retired: dict[bytes, int] = {}
        """A removed validator's address -> the height from which it is out of the set. Its key is the adversary's
        from then on: every vote an honest validator lets out at such a height is echoed signed with that key (a
        machine that still counts it puts it into a certificate)."""
        self._echoed: set[tuple[bytes, int, int, int]] = set()
        self.decided_hook: Callable[[int], None] | None = None
        """Called with each newly decided height, after its block is noted (a governance run's plan)."""
        self.byzantine_addrs = {address_of(ED25519, signers[i].public_key) for i in (byzantine or {})}
        byz = byzantine or {}
        self.nodes = [SimNode(i, s, PowerLossDisk(), MemoryWal(), byzantine=byz.get(i)) for i, s in enumerate(signers)]
        self._disk_rng = random.Random(f"disk-{seed}")  # its own stream: storage faults leave the others as they were
        for node in self.nodes:
            node.durable_state = self._disk_rng.random() < 0.5
        for node in self.nodes:
            self._boot(node)

    # -- scheduling -------------------------------------------------------------------------------------------
    def schedule(self, delay_ms: float, fn: Callable[[], None]) -> None:
        self._seq += 1
        heapq.heappush(self._queue, (self.now_ms + delay_ms, self._seq, fn))

    def transmit(self, src: int, dst: int, frame: bytes) -> None:
        c = self.cond
        if not c.connected(src, dst) or self.rng.random() < c.loss:
            return
        if (self.drop is not None or self.splitter is not None) and self._dropped(src, dst, frame):
            return
        copies = 2 if self.rng.random() < c.dup else 1
        for _ in range(copies):
            delay = self.rng.uniform(c.min_delay_ms, c.max_delay_ms)
            target = self.nodes[dst]

            def deliver(target: SimNode = target, frame: bytes = frame) -> None:
                if target.alive and target.driver is not None:
                    target.driver.on_frame(str(src), frame)

            self.schedule(delay, deliver)

    def _dropped(self, src: int, dst: int, frame: bytes) -> bool:
        try:
            msg = decode_msg(frame, 1 << 30)
        except DecodeError:
            return False
        if self.splitter is not None and self.splitter.drops(src, dst, msg):
            return True
        return self.drop is not None and self.drop(src, dst, msg)

    def lock_byzantine(self, node: SimNode) -> LockByzantine:
        """The lock-targeting behaviour of Byzantine ``node`` (kept across its restarts)."""
        lb = self._lock_byzantine.get(node.index)
        if lb is None:
            lb = self._lock_byzantine[node.index] = LockByzantine(self, node)
        return lb

    def run_for(self, ms: float) -> None:
        end = self.now_ms + ms
        while self._queue and self._queue[0][0] <= end:
            t, _, fn = heapq.heappop(self._queue)
            self.now_ms = t
            fn()
            self.events += 1
        self.now_ms = end

    # -- nodes ----------------------------------------------------------------------------------------------------
    def _boot(self, node: SimNode) -> None:
        node.generation += 1
        node.alive = True
        node.store = SplitStore(Path(f"sim-{node.index}"), durable_state=node.durable_state, environments=node.disk)
        try:
            app = TrellisApp(self.params, ChainStore(node.store))
        except StorageError as exc:
            raise DurabilityViolation(f"seed {self.seed}: node {node.index} cannot reopen its store: {exc}") from exc
        if app.info().height < max(node.commits, default=0):
            raise DurabilityViolation(f"seed {self.seed}: node {node.index} restarted below a block it committed")
        mempool = Mempool(app.account_nonce, max_txs=10_000, max_bytes=10_000_000)
        net = _ByzantineNet(self, node) if node.byzantine else _Net(self, node)
        driver = ConsensusDriver(
            self.params,
            app,
            mempool,
            PrivValidator(ED25519, node.signer, node.wal),
            net,
            _Timers(self, node),
            self.timeouts,
            empty_block_interval_ms=100,
            gossip_interval_ms=200,
            on_commit=lambda ex, node=node: self._on_commit(node, ex),
            blocks=app.store,
        )
        node.app, node.mempool, node.driver = app, mempool, driver
        driver.start()

    def check_sent_votes(self, node: SimNode, frame: bytes) -> None:
        """An honest validator never lets out two different votes for one (height, round, kind), even across a
        crash that lost its unsynced writes (a vote must be durable in its WAL before it leaves)."""
        if frame is self._last_checked:
            return
        self._last_checked = frame
        try:
            msg = decode_msg(frame, 1 << 30)
        except DecodeError:
            return
        if not isinstance(msg, VoteMsg):
            return
        sv = msg.vote
        if sv.validator != address_of(ED25519, node.signer.public_key):
            return  # a relayed vote of another validator
        key = (bytes(sv.validator), sv.vote.height, sv.vote.round, sv.vote.kind)
        if sv.vote.kind == PRECOMMIT:
            self.first_precommit_ms.setdefault((key[0], key[1]), self.now_ms)
        if self.retired:
            self._echo_retired(node.index, sv.vote)
        prior = self.sent_votes.setdefault(key, bytes(sv.vote.block_hash))
        if prior != sv.vote.block_hash:
            raise SafetyViolation(
                f"seed {self.seed}: honest node {node.index} let out conflicting votes at height {key[1]} "
                f"round {key[2]} kind {key[3]}"
            )

    def _echo_retired(self, src: int, vote: Vote) -> None:
        """Each retired key signs ``vote`` too (once per height, round and kind), sent to every node from ``src``."""
        for addr, since in self.retired.items():
            if vote.height < since or addr in self.members_at(vote.height):
                continue
            key = (addr, vote.height, vote.round, vote.kind)
            if key in self._echoed:
                continue
            self._echoed.add(key)
            signer = self._signers[addr]
            frame = encode_msg(
                VoteMsg(vote=SignedVote(vote=vote, validator=addr, signature=signer.sign(vote_signing_bytes(vote))))
            )
            for other in self.nodes:
                if other.index != src:
                    self.transmit(src, other.index, frame)

    def crash(self, i: int) -> None:
        node = self.nodes[i]
        node.alive = False
        node.driver = None
        node.disk.power_loss(self._disk_rng)
        node.wal.power_loss()

    def restart(self, i: int) -> None:
        self._boot(self.nodes[i])

    def honest(self) -> list[SimNode]:
        return [n for n in self.nodes if n.byzantine is None]

    def _on_commit(self, node: SimNode, executed: ExecutedBlock) -> None:
        h = executed.block.header.height
        node.commits[h] = executed.block_id
        if node.byzantine is not None:
            return
        prior = self.decided.get(h)
        if prior is None:
            self.decided[h] = executed.block_id
            self.first_decided_ms[h] = self.now_ms
            self._note_decided(executed)
        elif prior != executed.block_id:
            raise SafetyViolation(f"seed {self.seed}: node {node.index} committed a different block at height {h}")
        # Certificates are checkable by anyone holding the validator set.
        assert block_hash(ED25519, executed.block.header) == executed.block_id
        assert node.app is not None
        commit = node.app.store.commit(h)
        if commit is None:
            raise CertificateViolation(f"seed {self.seed}: node {node.index} stored no certificate at height {h}")
        self.check_header_sets(node.index, executed.block.header)
        self.check_certificate(node.index, executed.block.header, commit)
        if self.splitter is not None:
            self.splitter.on_commit(node, h, commit.round, executed.block_id)

    # -- the validator set by height, computed here ---------------------------------------------------------------
    def members_at(self, height: int) -> dict[bytes, Validator]:
        """The simulation's own ``set(height)``: address -> validator."""
        found = self._sets[0][1]
        for effective, members in self._sets:
            if effective > height:
                break
            found = members
        return found

    def set_at(self, height: int) -> ValidatorSet:
        """The simulation's own ``set(height)`` as a ``ValidatorSet``."""
        return make_validator_set(ED25519, list(self.members_at(height).values()))

    def set_entries(self) -> list[tuple[int, bytes]]:
        """(effective height, validators hash) of every set computed so far, genesis first."""
        return [(e, validators_hash(ED25519, make_validator_set(ED25519, list(m.values())))) for e, m in self._sets]

    def _note_decided(self, executed: ExecutedBlock) -> None:
        """Record a newly decided block: its header, its receipts and the set changes among them (``set(h + 2)``)."""
        header = executed.block.header
        h = header.height
        self.headers[h] = header
        before = self.headers.get(h - 1)
        if before is not None and before.next_validators_hash != header.validators_hash:
            raise HeaderChainViolation(
                f"seed {self.seed}: next_validators_hash of block {h - 1} is not validators_hash of block {h}"
            )
        if not self.expected_changes and not self.admins:
            return
        for tx, receipt in zip(executed.block.txs, executed.output.receipts, strict=True):
            self.receipts[tx_hash(ED25519, encode(tx))] = (h, receipt)
            for event in receipt.events if receipt.code == 0 else []:
                if event.type != "validators.changed":
                    continue
                attrs = dict(event.attributes)
                proposal = int(bytes(attrs["proposal"]))
                edit = self.expected_changes.pop(proposal, None)
                if edit is None:
                    raise StepViolation(
                        f"seed {self.seed}: block {h} applied validator change {proposal}, not asked for"
                    )
                if int(bytes(attrs["effective_height"])) != h + 2:
                    raise StepViolation(f"seed {self.seed}: a change decided in block {h} takes effect at {attrs}")
                base = self.members_at(h + 1)
                new = dict(self._sets[-1][1]) if self._sets[-1][0] == h + 2 else dict(base)
                edit(new)
                self._check_step(h, base, new)
                for gone in base.keys() - new.keys():
                    self.retired.setdefault(gone, h + 2)
                if self._sets[-1][0] == h + 2:
                    self._sets[-1] = (h + 2, new)
                else:
                    self._sets.append((h + 2, new))
        if self.decided_hook is not None:
            self.decided_hook(h)

    def _check_step(self, h: int, base: dict[bytes, Validator], new: dict[bytes, Validator]) -> None:
        where = f"seed {self.seed}: the step decided in block {h}"
        weight = sum(
            abs((new[a].power if a in new else 0) - (base[a].power if a in base else 0))
            for a in base.keys() | new.keys()
        )
        total = sum(v.power for v in base.values())
        if 3 * weight > total:
            raise StepViolation(f"{where} changes {weight} of {total} power, more than a third")
        byz = sum(v.power for a, v in new.items() if a in self.byzantine_addrs)
        if not new or 3 * byz >= sum(v.power for v in new.values()):
            raise StepViolation(f"{where} leaves the Byzantine validators {byz} of the power, a third or more")

    def check_header_sets(self, index: int, header: Header) -> None:
        """The header names ``set(h)`` and ``set(h + 1)`` as this simulation computed them.

        Raises:
            HeaderChainViolation: it names another set.
        """
        h = header.height
        if header.validators_hash != validators_hash(ED25519, self.set_at(h)):
            raise HeaderChainViolation(f"seed {self.seed}: node {index}'s block {h} names another set than set({h})")
        if header.next_validators_hash != validators_hash(ED25519, self.set_at(h + 1)):
            raise HeaderChainViolation(
                f"seed {self.seed}: node {index}'s block {h} names another next set than set({h + 1})"
            )

    def check_schedules(self) -> None:
        """Every live honest node's validator schedule holds the sets computed here, up to what it knows.

        Raises:
            ScheduleViolation: a schedule disagrees.
        """
        mine = self.set_entries()
        for node in self.honest():
            if not node.alive or node.driver is None:
                continue
            schedule = node.driver.schedule
            theirs = [(e.effective_height, validators_hash(ED25519, e.validators)) for e in schedule.entries()]
            expected = [(e, vh) for e, vh in mine if e <= schedule.known_until]
            if theirs != expected:
                raise ScheduleViolation(
                    f"seed {self.seed}: node {node.index}'s schedule (known until {schedule.known_until}) holds "
                    f"sets effective at {[e for e, _ in theirs]}, the chain's are at {[e for e, _ in expected]}"
                )

    def check_certificate(self, index: int, header: Header, commit: Commit) -> None:
        """Check ``commit`` for the block of ``header`` twice: with the project's ``verify_commit`` and independently here
        (signatures checked with ``cryptography``, members and powers from ``set(h)`` as this simulation computed
        it, no duplicate signer, strictly more than 2/3 of the total power).

        Raises:
            CertificateViolation: either check refused it (``SignerViolation``: a signer outside ``set(h)``).
        """
        where = f"seed {self.seed}: node {index}'s certificate at height {header.height}"
        members = self.members_at(header.height)
        for cs in commit.signatures:
            if bytes(cs.validator) not in members:
                raise SignerViolation(f"{where}: signer {bytes(cs.validator).hex()} is not in set({header.height})")
        try:
            verify_commit(ED25519, self.params.chain_id, self.set_at(header.height), header, commit)
        except InvalidBlock as exc:
            raise CertificateViolation(f"{where}: verify_commit refused it: {exc.reason}") from exc
        if commit.block_hash != block_hash(ED25519, header) or commit.height != header.height:
            raise CertificateViolation(f"{where} names another block")
        message = vote_signing_bytes(
            Vote(
                chain_id=self.params.chain_id,
                kind=PRECOMMIT,
                height=commit.height,
                round=commit.round,
                block_hash=commit.block_hash,
            )
        )
        signers: set[bytes] = set()
        signed = 0
        for cs in commit.signatures:
            member = members.get(bytes(cs.validator))
            if member is None:
                raise SignerViolation(f"{where}: signer {bytes(cs.validator).hex()} is not in set({header.height})")
            if cs.validator in signers:
                raise CertificateViolation(f"{where}: {bytes(cs.validator).hex()} signed twice")
            signers.add(cs.validator)
            try:
                Ed25519PublicKey.from_public_bytes(bytes(member.public_key)).verify(bytes(cs.signature), message)
            except InvalidSignature as exc:
                raise CertificateViolation(f"{where}: a bad signature by {bytes(cs.validator).hex()}") from exc
            signed += member.power
        total = sum(v.power for v in members.values())
        if 3 * signed <= 2 * total:
            raise CertificateViolation(f"{where}: signers hold {signed} of {total} voting power, not more than 2/3")

    def submit_raw(self, raw: bytes) -> None:
        """Hand the signed transaction ``raw`` to a random live honest node (refusals ignored: it is sent again)."""
        alive = [n for n in self.honest() if n.alive and n.driver is not None]
        if not alive:
            return
        node = self.rng.choice(alive)
        assert node.app is not None and node.mempool is not None and node.driver is not None
        try:
            checked = node.app.check_tx(raw)
            node.mempool.add(checked)
        except InvalidTransaction:
            return
        node.driver.on_local_tx(checked)

    def submit_tx(self) -> None:
        """A client sends one transaction to a random live node."""
        alive = [n for n in self.nodes if n.alive and n.driver is not None]
        if not alive:
            return
        self._submit(self.rng.choice(alive))

    def submit_tx_to(self, i: int) -> None:
        """A client sends one transaction to node ``i``."""
        self._submit(self.nodes[i])

    def _submit(self, node: SimNode) -> None:
        assert node.app is not None and node.mempool is not None and node.driver is not None
        nonce = node.mempool.next_nonce(self.client_addr)
        payload = (
            Transfer(to=b"\x01" * 20, amount=1)
            if self.rng.random() < 0.5
            else KvPut(namespace="sim", key=b"k%d" % self.rng.randint(0, 20), value=self.rng.randbytes(8))
        )
        tx = sign_tx(
            TxBody(chain_id="sim", sender=self.client.public_key, nonce=nonce, payload=payload), self.client.sign
        )
        try:
            checked = node.app.check_tx(encode(tx))
            node.mempool.add(checked)
        except InvalidTransaction:
            return
        node.driver.on_local_tx(checked)

    def heights(self) -> list[int]:
        return [n.app.info().height if n.app is not None else -1 for n in self.nodes]
