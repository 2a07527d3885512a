"""The consensus driver: the imperative shell around the pure consensus machine.

It turns network frames and timer firings into machine events, and carries out the machine's effects: it
signs through the private validator (which logs to the WAL first), sends to peers, asks the application to
build, check and commit blocks, and schedules timeouts. It also runs block sync (a node that is behind fetches
committed blocks with their certificates from a peer and verifies both before applying) and spreads
transactions between mempools.

Dissemination (ADR 0012): transactions admitted from clients are flushed to peers in batches, which every node
keeps in its ``BatchStore``; proposals are sent compact (batch digests and per-transaction references) and
rebuilt by the receiver from its batches, after fetching any it lacks from the sender. The consensus machine
still sees whole ``SignedProposal``s. A flush reaches only the peers connected at that moment, so a node sends its
own uncommitted transactions again to each peer that connects and, bounded per tick, periodically (ADR 0018
section 4: an observer's transactions reach a proposer by gossip alone).

The driver is synchronous and single-threaded: the real node calls it from its event loop, the deterministic
simulation from its scheduler. Time and the network come in through the ``Timers`` and ``Network`` ports.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

from trellis.abci import Application, CheckedTx, StageTimes
from trellis.core.codec import decode, encode
from trellis.core.consensus.machine import (
    MAX_ROUND_AHEAD,
    BuildProposal,
    CheckProposal,
    ConsensusState,
    Decide,
    Effect,
    EnterHeight,
    Event,
    ProposalBuilt,
    ProposalChecked,
    ProposalHeaderReceived,
    ProposalReceived,
    RelayVote,
    ReportEvidence,
    ScheduleTimeout,
    SignProposal,
    SignVote,
    Step,
    TimeoutFired,
    Timeouts,
    VoteReceived,
    gossip_set,
    new_state,
    proposer_from_order,
    step,
)
from trellis.core.consensus.messages import (
    SignedProposal,
    SignedProposalHeader,
    header_of,
    verify_proposal_signature,
)
from trellis.core.crypto.merkle import merkle_root
from trellis.core.crypto.suite import address_of
from trellis.core.errors import DecodeError, InvalidBlock, InvalidTransaction, TrellisError
from trellis.core.execution.block import ExecutedBlock
from trellis.core.ledger.block import Block, Commit, block_hash, verify_commit
from trellis.core.ledger.tx import SignedTx, TxBody, sign_tx, tx_hash
from trellis.core.ledger.votes import PRECOMMIT
from trellis.core.modules.evidence.messages import SubmitEvidence
from trellis.core.params import ChainParams
from trellis.node.batches import BatchStore, MalformedCompact, batch_digest, compact_refs, resolve_refs, unpack_refs
from trellis.node.consensus_timings import ConsensusTimings
from trellis.node.mempool import Mempool
from trellis.node.privval import PrivValidator
from trellis.node.validator_schedule import ScheduleError, ValidatorSchedule
from trellis.node.wire import (
    MAX_BLOCKS_PER_MSG,
    MAX_TXS_PER_BATCH,
    STATE_SYNC_MSGS,
    BatchMsg,
    BatchRequestMsg,
    BlockRequestMsg,
    BlocksMsg,
    BlocksPrunedMsg,
    CommittedBlock,
    CompactProposalMsg,
    ProposalHeaderMsg,
    ProposalMsg,
    StatusMsg,
    VoteMsg,
    WireMsg,
    decode_msg,
    encode_msg,
)
from trellis.storage.block_store import BlockSource
from trellis.storage.kv import StorageError

log = logging.getLogger("trellis.consensus")

MAX_HELD_PER_HEIGHT = 8
"""Signed proposals (distinct signed headers) held per height while the batches of their compact bodies are
fetched; more are dropped (a re-broadcast or the next round brings them again)."""
MAX_HELD_PER_PROPOSER = 2
"""Of those, most held per (height, proposer): a proposer signing many blocks cannot crowd out the others."""
MAX_BODIES_PER_PROPOSAL = 4
"""Different compact bodies (batch references) held per signed proposal, at most one per sending peer. A relay
can pair a genuine signed header with references to batches that do not exist; the genuine body, sent by
another peer, is held beside it and whichever resolves and matches the header's ``tx_root`` is taken."""
MAX_RELAYED_PER_ROUND = 2
"""Signed headers of different blocks relayed per (height, round, proposer): two prove a double proposal."""
MAX_SERVED_REMEMBERED = 65_536
REGOSSIP_MAX_TXS = 2048
"""Most of this node's own uncommitted transactions re-sent in one gossip tick, or to a peer as it connects."""
REGOSSIP_MAX_BYTES = 1024 * 1024
"""Most bytes of them re-sent in one tick or to one connecting peer (at least one transaction is)."""
REGOSSIP_TICKS_FOLLOWER = 4
"""A node that does not propose (an observer, a follower) re-sends each of its own transactions that is still
uncommitted at most once per this many gossip intervals: nothing but gossip ever carries them to a proposer."""
REGOSSIP_TICKS_VALIDATOR = 20
"""A validator re-sends its own uncommitted transactions at most once per this many gossip intervals (it
proposes them itself in its turn, which may be far off in a large set; peers may have dropped its gossip)."""
"""(peer, batch) pairs remembered for throttling repeated batch requests (oldest forgotten first)."""
_K = TypeVar("_K")
_V = TypeVar("_V")
_ProposalKey = tuple[int, int, bytes, bytes]
"""(height, round, proposer, block hash)."""


MAX_REMEMBERED_BLOCKS = 32
"""Blocks whose transaction hashes (and checked transactions) the driver keeps between rebuilding or building a
proposal and checking, re-sending or committing it."""
BEHIND_LOG_INTERVAL_MS = 60_000
"""At most one error a minute saying every peer ahead has pruned the blocks this node needs next."""


def _remember(cache: dict[_K, _V], key: _K, value: _V, limit: int = MAX_REMEMBERED_BLOCKS) -> None:
    """Set ``cache[key]`` as its newest entry, forgetting the oldest beyond ``limit``."""
    cache.pop(key, None)
    cache[key] = value
    while len(cache) > limit:
        del cache[next(iter(cache))]


@dataclass
class _Held:
    """A compact proposal waiting for batches: one candidate body of a signed proposal."""

    msg: CompactProposalMsg
    pairs: list[tuple[int, int]]
    missing: set[bytes]
    requested_ms: int
    peer: str
    """The peer that sent this body (disconnected if it turns out not to be the signed block's)."""

    def same_body(self, msg: CompactProposalMsg) -> bool:
        """True if ``msg`` carries this candidate's body (the same references and inline transactions)."""
        m = self.msg
        return m.refs == msg.refs and m.batches == msg.batches and m.inline == msg.inline


@dataclass
class DisseminationStats:
    """Counters of the batch dissemination (``/v1/metrics``)."""

    batches_sent: int = 0
    """Batches of this node's own transactions flushed to peers."""
    batches_received: int = 0
    """New batches received from peers (duplicates not counted)."""
    compact_proposals_sent: int = 0
    """Compact proposal messages broadcast (first sends and re-broadcasts)."""
    txs_by_reference: int = 0
    """Transactions those messages referenced in batches instead of carrying them."""
    bytes_by_reference: int = 0
    """Transaction bytes not resent thanks to the references (the saving over whole-block proposals)."""
    txs_inline: int = 0
    """Transactions carried inline (in no batch this node held)."""
    proposals_rebuilt: int = 0
    """Compact proposals rebuilt into blocks."""
    txs_known: int = 0
    """Transactions of rebuilt proposals found checked in the mempool (neither decoded nor checked again)."""
    proposals_waited: int = 0
    """Compact proposals that had to wait for missing batches."""
    batch_requests_sent: int = 0
    """Requests for missing batches sent."""
    batches_fetched: int = 0
    """Missing batches that arrived while a proposal waited for them."""
    batches_served: int = 0
    """Batches sent in answer to peers' requests."""
    batch_requests_throttled: int = 0
    """Requested batches not sent because the same peer had been sent the same batch moments before."""
    txs_regossiped: int = 0
    """This node's own uncommitted transactions sent again (periodically, and to peers as they connect)."""


@dataclass(frozen=True)
class ConsensusStatus:
    """Where consensus is (``ConsensusDriver.status``, ``/v1/status``).

    Attributes:
        height: the height being decided (the last committed one + 1, or the committed one while its commit
            timeout runs).
        round: the round at that height.
        step: ``"propose"``, ``"prevote"``, ``"precommit"`` or ``"commit"``.
    """

    height: int
    round: int
    step: str


class Network(Protocol):
    """Where the driver sends frames."""

    def send(self, peer_id: str, frame: bytes) -> bool:
        """Queue ``frame`` to one peer; False if it is not connected."""
        ...

    def broadcast(self, frame: bytes) -> None:
        """Queue ``frame`` to every connected peer."""
        ...

    def disconnect(self, peer_id: str, reason: str) -> None:
        """Drop a misbehaving peer."""
        ...


class Timers(Protocol):
    """Time for the driver: timers and the wall clock for block timestamps."""

    def call_later(self, delay_s: float, callback: Callable[[], None]) -> object:
        """Run ``callback`` after ``delay_s`` seconds."""
        ...

    def now_ms(self) -> int:
        """Wall-clock milliseconds since the epoch."""
        ...


class NoNetwork:
    """The network of a network of one."""

    def send(self, peer_id: str, frame: bytes) -> bool:
        return False

    def broadcast(self, frame: bytes) -> None:
        pass

    def disconnect(self, peer_id: str, reason: str) -> None:
        pass


class ConsensusDriver:
    """Runs consensus for one node.

    Args:
        params: chain parameters.
        app: the application.
        mempool: the node's mempool.
        privval: the validator's signer, or None for a node that follows without voting.
        network: the peers.
        timers: timers and wall clock.
        timeouts: consensus timeouts.
        empty_block_interval_ms: a proposer with an empty mempool waits this long for transactions before
            proposing an empty block.
        gossip_interval_ms: how often to resend this node's own messages of the current height and its status
            (recovers from lost messages).
        max_frame_bytes: largest frame accepted from a peer.
        on_commit: called after each block is committed (by consensus or by sync).
        on_fatal: called when the node cannot go on safely (the store failed to commit a decided block); the
            driver stops itself first. The node should exit: on restart it resumes at its last committed block.
        check_gossiped_txs: where transactions gossiped by peers go, with their hashes, to be checked and
            admitted (the node checks them off the event loop, in arrival order, and calls ``wake`` after
            admitting any). None: checked and admitted here, synchronously (simulations).
        batches: the store of transaction batches (default: a ``BatchStore`` with its default bounds).
        schedule: the validator sets by height (default: built from ``app.validator_entries()`` at the
            application's tip). The driver feeds it every committed block's ``effects.validator_update``.
        blocks: the committed blocks this node serves to peers that are behind (block sync).
        stages: where the "order" stage's time is accounted (default: a new one).
        on_state_sync: where state-sync messages go (``SnapshotServer.on_msg``; None: ignored).

    The machine runs each height ``h`` with ``set(h)`` and checks messages for ``h + 1`` against ``set(h + 1)``,
    both from the schedule; a node whose key is not in ``set(h)`` follows at ``h`` without proposing or voting.
    """

    def __init__(
        self,
        params: ChainParams,
        app: Application,
        mempool: Mempool,
        privval: PrivValidator | None,
        network: Network,
        timers: Timers,
        timeouts: Timeouts,
        *,
        empty_block_interval_ms: int = 1000,
        gossip_interval_ms: int = 500,
        tx_gossip_delay_ms: int = 5,
        max_frame_bytes: int = 64 * 1024 * 1024,
        on_commit: Callable[[ExecutedBlock], None] = lambda _e: None,
        on_fatal: Callable[[BaseException], None] = lambda _e: None,
        check_gossiped_txs: Callable[[list[bytes], list[bytes]], None] | None = None,
        batches: BatchStore | None = None,
        schedule: ValidatorSchedule | None = None,
        blocks: BlockSource,
        stages: StageTimes | None = None,
        on_state_sync: Callable[[str, WireMsg], None] | None = None,
    ) -> None:
        self.params = params
        self.suite = params.suite
        self.app = app
        self.blocks = blocks
        self.stages = stages if stages is not None else StageTimes()
        self.mempool = mempool
        self.privval = privval
        self.network = network
        self.timers = timers
        self.empty_block_interval_ms = empty_block_interval_ms
        self.gossip_interval_ms = gossip_interval_ms
        self.tx_gossip_delay_ms = tx_gossip_delay_ms
        self.max_frame_bytes = max_frame_bytes
        self.on_commit = on_commit
        self.on_fatal = on_fatal
        self.check_gossiped_txs = check_gossiped_txs
        self.on_state_sync = on_state_sync
        me = privval.address if privval is not None else None
        tip = app.info().height
        if schedule is None:
            schedule = ValidatorSchedule(self.suite, app.validator_entries(), tip)
        self.schedule = schedule
        self.state: ConsensusState = new_state(self.suite, params.chain_id, schedule.set_at(tip + 1), me, timeouts)
        self._voting_at: int | None = None
        """The last height whose membership was logged for this node (None: not yet)."""
        self._events: deque[Event] = deque()
        self._running_events = False
        self._pending_build: tuple[int, int] | None = None
        self._last_commit_ms = timers.now_ms()
        self._peer_heights: dict[str, int] = {}
        self._peer_earliest: dict[str, int] = {}
        """Peer -> the earliest block it keeps, when it answered a block request with ``BlocksPrunedMsg``."""
        self._behind_logged_ms: int | None = None
        self._sync_requested_at: dict[str, int] = {}
        self._tx_outbox: list[CheckedTx] = []
        self._local: OrderedDict[bytes, int] = OrderedDict()
        """This node's own transactions spread and not yet seen committed, in arrival order (so each sender's in
        nonce order) -> when they were last sent. Entries leave on commit, or when found gone from the mempool."""
        self._regossip_queue: deque[bytes] = deque()
        """The current round of re-sends: hashes taken from ``_local`` (those not sent for a re-send interval),
        sent a bounded slice per gossip tick, oldest first."""
        self.batches = batches if batches is not None else BatchStore()
        self.stats = DisseminationStats()
        self.timings = ConsensusTimings()
        """Seconds per consensus step and the interval between commits (``/metrics``)."""
        self._held: dict[_ProposalKey, list[_Held]] = {}
        """Signed proposal -> candidate compact bodies waiting for batches (``MAX_BODIES_PER_PROPOSAL``)."""
        self._known: dict[bytes, tuple[int, list[CheckedTx | None]]] = {}
        """Block id -> (height, the mempool's checked transactions of the block) for a rebuilt proposal."""
        self._tx_info: dict[bytes, tuple[int, Sequence[bytes], Sequence[bytes]]] = {}
        """Block id -> (height, tx hashes, raw txs) of proposals built or rebuilt here (for compact sends)."""
        self._tx_flush_scheduled = False
        self._stopped = False
        self._relayed: set[tuple[int, int, bytes, bytes]] = set()
        self._order_s = 0.0
        self.evidence_seen: list[object] = []
        self._solo = isinstance(network, NoNetwork)
        """No peers can ever connect (a single validator without a p2p transport): nothing is spread, so no
        batches are formed and no compact proposals are built."""
        self._served: dict[tuple[str, bytes], int] = {}
        self._readmitted: dict[bytes, int] = {}
        """Batch digest -> when a duplicate of it last had its missing transactions admitted again."""
        """(peer, batch digest) -> when that batch was last sent to that peer in answer to a request."""
        self._outgoing: list[Callable[[], None]] = []
        """Sends of messages signed during the current run of events, held until the WAL records of their
        signatures are made durable by one fsync (group commit)."""

    def status(self) -> ConsensusStatus:
        """Where consensus is now: height, round and step."""
        st = self.state
        return ConsensusStatus(height=st.height, round=st.round, step=st.step.name.lower())

    # -- lifecycle ------------------------------------------------------------------------------------------
    def start(self) -> None:
        """Enter the next height, restoring what the WAL says this validator signed there."""
        height = self.app.info().height + 1
        if self.privval is None:
            self._feed(self._enter_height(height))
        else:
            props, votes = self.privval.signed_at(height)
            round_ = max([p.proposal.round for p in props] + [v.vote.round for v in votes], default=0)
            locked_round, locked_block = self.privval.lock_at(height)
            if props or votes:
                log.info("resuming height %d at round %d (lock round %d) from the WAL", height, round_, locked_round)
            self._feed(self._enter_height(height, round_, locked_round, locked_block))
            for sp in props:
                self._feed(ProposalReceived(sp))
            for sv in votes:
                self._feed(VoteReceived(sv))
        self.timers.call_later(self.gossip_interval_ms / 1000, self._gossip_tick)

    def _enter_height(
        self, height: int, round_: int = 0, locked_round: int = -1, locked_block: Block | None = None
    ) -> EnterHeight:
        """The event entering ``height`` with ``set(height)`` and ``set(height + 1)`` from the schedule (logging
        when this node becomes, or stops being, a validator)."""
        me = self.privval.address if self.privval is not None else None
        if me is not None:
            member = self.schedule.is_member(me, height)
            was = self._voting_at is not None and self.schedule.is_member(me, self._voting_at)
            if self._voting_at is None or member != was:
                if member:
                    log.info("this node is a validator at height %d", height)
                else:
                    log.info("this node is not a validator at height %d; following", height)
            self._voting_at = height
        return EnterHeight(
            height=height,
            round=round_,
            locked_round=locked_round,
            locked_block=locked_block,
            validators=self.schedule.set_at(height),
            next_validators=self.schedule.set_at(height + 1),
        )

    def stop(self) -> None:
        """Stop reacting to timers (frames should no longer be delivered either)."""
        self._stopped = True

    # -- inputs ---------------------------------------------------------------------------------------------
    def on_peer_connected(self, peer_id: str) -> None:
        """Tell a new peer where we are, and send it this node's own uncommitted transactions (bounded, oldest
        first): they may have been spread while no peer was connected."""
        self.network.send(peer_id, encode_msg(StatusMsg(height=self.app.info().height)))
        raws: list[bytes] = []
        gone: list[bytes] = []
        size = 0
        for h in self._local:
            c = self.mempool.get(h)
            if c is None:
                gone.append(h)
                continue
            if raws and (len(raws) >= REGOSSIP_MAX_TXS or size + len(c.raw) > REGOSSIP_MAX_BYTES):
                break
            raws.append(c.raw)
            size += len(c.raw)
        for h in gone:
            del self._local[h]
        if raws and self.network.send(peer_id, encode_msg(BatchMsg(txs=raws))):
            self.stats.txs_regossiped += len(raws)

    def on_peer_disconnected(self, peer_id: str) -> None:
        """Forget a peer's sync state."""
        self._peer_heights.pop(peer_id, None)
        self._sync_requested_at.pop(peer_id, None)
        self._peer_earliest.pop(peer_id, None)

    def on_frame(self, peer_id: str, frame: bytes) -> None:
        """Handle one frame from a peer; a peer that sends garbage is disconnected."""
        if self._stopped:
            return
        try:
            msg = decode_msg(frame, self.max_frame_bytes)
        except DecodeError as exc:
            self.network.disconnect(peer_id, f"undecodable frame: {exc.reason}")
            return
        try:
            self._on_msg(peer_id, msg)
        except TrellisError as exc:
            self.network.disconnect(peer_id, f"invalid message: {exc.reason}")

    def on_local_tx(self, checked: CheckedTx) -> None:
        """A transaction entered this node's mempool from a client: spread it and wake a waiting proposer."""
        self.on_local_txs([checked])

    def on_local_txs(self, batch: list[CheckedTx]) -> None:
        """Transactions entered this node's mempool from clients: spread them in batches, wake the proposer."""
        if self._solo:
            self._maybe_build()
            return
        self._tx_outbox.extend(batch)
        if not self._tx_flush_scheduled:
            self._tx_flush_scheduled = True
            self.timers.call_later(self.tx_gossip_delay_ms / 1000, self._flush_txs)
        self._maybe_build()

    def wake(self) -> None:
        """Transactions entered the mempool (e.g. gossiped ones, admitted by the node): a waiting proposer may
        build now."""
        if not self._stopped:
            self._maybe_build()

    def flush_local_txs(self) -> None:
        """Spread now the client transactions waiting for the next batch flush (a stopping node calls this, so
        that no transaction it acknowledged is dropped unspread)."""
        if self._tx_outbox:
            self._flush_txs()

    # -- message handling -------------------------------------------------------------------------------------
    def _on_msg(self, peer_id: str, msg: WireMsg) -> None:
        if isinstance(msg, VoteMsg):
            self._note_height(peer_id, msg.vote.vote.height - 1)
            self._feed(VoteReceived(msg.vote))
        elif isinstance(msg, ProposalMsg):
            p = msg.proposal.proposal
            block = msg.proposal.block
            raws = [encode(tx) for tx in block.txs]
            self._check_block_bytes(raws)
            if merkle_root(self.suite, raws) != block.header.tx_root:
                raise InvalidBlock("bad_tx_root", "the proposal's transactions do not match its header's tx_root")
            self._note_height(peer_id, p.height - 1)
            self._relay_header(header_of(msg.proposal))
            self._feed(ProposalReceived(msg.proposal))
        elif isinstance(msg, CompactProposalMsg):
            self._on_compact(peer_id, msg)
        elif isinstance(msg, ProposalHeaderMsg):
            self._feed(ProposalHeaderReceived(msg.header))
        elif isinstance(msg, StatusMsg):
            self._note_height(peer_id, msg.height)
        elif isinstance(msg, BlockRequestMsg):
            self._serve_blocks(peer_id, msg)
        elif isinstance(msg, BlocksMsg):
            self._apply_synced(peer_id, msg)
        elif isinstance(msg, BlocksPrunedMsg):
            self._on_blocks_pruned(peer_id, msg)
        elif isinstance(msg, BatchMsg):
            self._on_batch(peer_id, msg)
        elif isinstance(msg, BatchRequestMsg):
            self._serve_batches(peer_id, msg)
        elif isinstance(msg, STATE_SYNC_MSGS):
            if self.on_state_sync is not None:
                self.on_state_sync(peer_id, msg)

    # -- dissemination ----------------------------------------------------------------------------------------
    def _on_batch(self, peer_id: str, msg: BatchMsg) -> None:
        txs = list(msg.txs)
        if not txs:
            return
        digest = batch_digest(self.suite, txs)
        held = self.batches.get(digest)
        if held is not None:
            # A duplicate (an answer to a request already answered, or a peer re-sending its transactions):
            # already stored. Its transactions that are neither committed nor pending were dropped or refused
            # when it first came (gossip backlog, a nonce gap since filled): admit those again, at most once
            # per digest per half gossip interval.
            now = self.timers.now_ms()
            last = self._readmitted.get(digest)
            if last is not None and now - last < self.gossip_interval_ms // 2:
                return
            fresh = [i for i, h in enumerate(held.hashes) if i not in held.committed and h not in self.mempool]
            if fresh:
                _remember(self._readmitted, digest, now, MAX_SERVED_REMEMBERED)
                self._admit_gossiped([held.txs[i] for i in fresh], [held.hashes[i] for i in fresh])
            return
        suite = self.suite
        hashes = [tx_hash(suite, raw) for raw in txs]
        self.batches.add(digest, txs, hashes, source=peer_id)
        self.stats.batches_received += 1
        self._admit_gossiped(txs, hashes)
        if self._held:
            self._batch_arrived(digest)

    def _admit_gossiped(self, txs: list[bytes], hashes: list[bytes]) -> None:
        if self.check_gossiped_txs is not None:
            self.check_gossiped_txs(txs, hashes)
            return
        added = False
        for r in self.app.check_txs(txs, self.mempool, hashes):
            if isinstance(r, InvalidTransaction):
                continue  # duplicates and stale nonces are normal in gossip
            try:
                self.mempool.add(r)
                added = True
            except InvalidTransaction:
                continue
        if added:
            self._maybe_build()

    def _serve_batches(self, peer_id: str, req: BatchRequestMsg) -> None:
        """Answer a request from the store; digests not held get nothing. A batch sent to a peer is not sent to
        it again for half a gossip interval (an honest peer asks again no sooner), so repeated requests cannot
        make this node send the same megabytes over and over."""
        now = self.timers.now_ms()
        window = self.gossip_interval_ms // 2
        for d in dict.fromkeys(req.digests):
            b = self.batches.get(d)
            if b is None:
                continue
            last = self._served.get((peer_id, d))
            if last is not None and now - last < window:
                self.stats.batch_requests_throttled += 1
                continue
            _remember(self._served, (peer_id, d), now, MAX_SERVED_REMEMBERED)
            self.network.send(peer_id, encode_msg(BatchMsg(txs=b.txs)))
            self.stats.batches_served += 1

    def _on_compact(self, peer_id: str, msg: CompactProposalMsg) -> None:
        p = msg.header.proposal
        self._note_height(peer_id, p.height - 1)
        key = (p.height, p.round, msg.header.proposer, p.block_hash)
        height = self.state.height
        self._relay_header(msg.header)
        if p.height == height:
            existing = self.state.proposals.get(p.round)
            if existing is not None and header_of(existing) == msg.header:
                return  # a re-broadcast of a proposal the machine holds: nothing to rebuild
        if p.height not in (height, height + 1):
            return
        if block_hash(self.suite, msg.block_header) != p.block_hash:
            raise MalformedCompact("the block header is not the one the proposal signs")
        bodies = self._held.get(key, [])
        held = next((b for b in bodies if b.same_body(msg)), None)
        if held is not None:
            now = self.timers.now_ms()
            if now - held.requested_ms >= self.gossip_interval_ms // 2:
                # Ask again, this time whoever re-sent it (it holds the batches: it rebuilt the block).
                held.requested_ms = now
                self._request(peer_id, held.missing)
            return
        pairs = unpack_refs(msg.batches, msg.refs, len(msg.inline), msg.block_header.tx_count)
        missing = {d for d in msg.batches if d not in self.batches}
        if not missing:
            self._rebuild(msg, pairs)
            self._held.pop(key, None)  # the machine has the proposal: other bodies of it are moot
            return
        if not self._room_to_hold(key, bodies, peer_id) or not self._worth_holding(msg):
            return
        # A peer has one body per signed proposal: a new one from it replaces its old one.
        bodies = [b for b in bodies if b.peer != peer_id]
        bodies.append(_Held(msg, pairs, missing, self.timers.now_ms(), peer_id))
        self._held[key] = bodies
        self.stats.proposals_waited += 1
        self._request(peer_id, missing)

    def _room_to_hold(self, key: _ProposalKey, bodies: list[_Held], peer_id: str) -> bool:
        """Whether a body from ``peer_id`` for the signed proposal ``key`` fits the bounds on held proposals."""
        if bodies:
            return any(b.peer == peer_id for b in bodies) or len(bodies) < MAX_BODIES_PER_PROPOSAL
        height, _, proposer, _ = key
        same_height = [k for k in self._held if k[0] == height]
        if len(same_height) >= MAX_HELD_PER_HEIGHT:
            return False
        return sum(1 for k in same_height if k[2] == proposer) < MAX_HELD_PER_PROPOSER

    def _relay_header(self, header: SignedProposalHeader) -> None:
        """Relay the signed header (not the block) of a proposal for the current height once, so a double
        proposal is seen by everyone. Only a header the machine could accept is relayed, and at most
        ``MAX_RELAYED_PER_ROUND`` per (round, proposer), two being proof enough of a double proposal: junk from
        a peer is neither remembered nor re-broadcast to every other peer."""
        p = header.proposal
        key = (p.height, p.round, header.proposer, p.block_hash)
        if p.height != self.state.height or key in self._relayed:
            return
        if sum(1 for k in self._relayed if k[:3] == key[:3]) >= MAX_RELAYED_PER_ROUND:
            return
        if not self._signed_by_proposer(header):
            return
        self._relayed.add(key)
        self.network.broadcast(encode_msg(ProposalHeaderMsg(header=header)))

    def _worth_holding(self, msg: CompactProposalMsg) -> bool:
        """Only a proposal the machine could accept takes one of the few places: signed by the proposer of its
        round, for a round not too far ahead (so no peer can crowd out the real proposal with forged ones)."""
        return self._signed_by_proposer(msg.header)

    def _signed_by_proposer(self, h: SignedProposalHeader) -> bool:
        """Whether ``h`` is signed by the proposer of its (height, round) in ``set(height)``, for a round not too
        far ahead."""
        st = self.state
        p = h.proposal
        if p.chain_id != st.chain_id or p.round > st.round + MAX_ROUND_AHEAD:
            return False
        if not 1 <= p.height <= self.schedule.known_until:
            return False
        if h.proposer != proposer_from_order(self.schedule.order_at(p.height), p.height, p.round):
            return False
        return verify_proposal_signature(self.suite, self.schedule.keys_at(p.height)[h.proposer], h)

    def _request(self, peer_id: str, digests: set[bytes]) -> None:
        self.network.send(peer_id, encode_msg(BatchRequestMsg(digests=sorted(digests))))
        self.stats.batch_requests_sent += 1

    def _batch_arrived(self, digest: bytes) -> None:
        ready: list[tuple[_ProposalKey, _Held]] = []
        for key, bodies in self._held.items():
            for held in bodies:
                if digest in held.missing:
                    held.missing.discard(digest)
                    self.stats.batches_fetched += 1
                    if not held.missing:
                        ready.append((key, held))
        for key, held in ready:
            waiting = self._held.get(key)
            if waiting is None or not any(b is held for b in waiting):
                continue  # dropped by a commit, or another body of the proposal was taken meanwhile
            # A batch fetched earlier may have been evicted since (a full store): wait for it again.
            held.missing = {d for d in held.msg.batches if d not in self.batches}
            if held.missing:
                continue
            waiting.remove(held)
            try:
                self._rebuild(held.msg, held.pairs)
            except TrellisError as exc:
                # Not the signed block's body: its sender is faulty. The proposal's other bodies stay held.
                log.warning("dropping a compact proposal body at height %d: %s", key[0], exc.reason)
                self.network.disconnect(held.peer, f"invalid compact proposal body: {exc.reason}")
                if not waiting:
                    self._held.pop(key, None)
                continue
            self._held.pop(key, None)

    def _rebuild(self, msg: CompactProposalMsg, pairs: list[tuple[int, int]]) -> None:
        """Rebuild the block of a compact proposal whose batches are all held and feed the proposal."""
        raws, hashes = resolve_refs(self.suite, self.batches, msg.batches, pairs, msg.inline)
        known: list[CheckedTx | None] = []
        txs: list[SignedTx] = []
        pending = self.mempool.get
        for raw, h in zip(raws, hashes, strict=True):
            c = pending(h)
            if c is None:
                try:
                    txs.append(decode(raw, SignedTx))
                except DecodeError as exc:
                    raise MalformedCompact(f"a referenced transaction does not decode: {exc.reason}") from exc
            else:
                txs.append(c.tx)
            known.append(c)
        self._check_block_bytes(raws)
        if merkle_root(self.suite, raws) != msg.block_header.tx_root:
            # The signed header is genuine but the body is not its block: a faulty relay, not a faulty proposer.
            # Refused here, it cannot take the round's proposal slot in the machine and turn it into a nil vote.
            raise MalformedCompact("the referenced transactions do not match the header's tx_root")
        sh = msg.header
        sp = SignedProposal(
            proposal=sh.proposal,
            proposer=sh.proposer,
            signature=sh.signature,
            block=Block(header=msg.block_header, txs=txs),
        )
        height = sh.proposal.height
        bid = sh.proposal.block_hash
        _remember(self._known, bid, (height, known))
        _remember(self._tx_info, bid, (height, hashes, raws))
        self.stats.proposals_rebuilt += 1
        self.stats.txs_known += sum(c is not None for c in known)
        self._feed(ProposalReceived(sp))

    def _check_block_bytes(self, raws: Sequence[bytes]) -> None:
        """Refuse a proposal body over ``max_block_bytes`` before the machine sees (or buffers) it: no valid
        block is that large, and the machine's bound on buffered proposals per proposer counts blocks."""
        if sum(map(len, raws)) > self.params.limits.max_block_bytes:
            raise InvalidBlock("too_large", "the proposal's transactions exceed max_block_bytes")

    def _send_compact(self, sp: SignedProposal) -> None:
        if self._solo:
            return
        bid = sp.proposal.block_hash
        info = self._tx_info.get(bid)
        if info is None or info[0] != sp.proposal.height:
            # A proposal restored from the WAL or a re-proposed valid block: hash its transactions here.
            raws = [encode(tx) for tx in sp.block.txs]
            info = (sp.proposal.height, [tx_hash(self.suite, r) for r in raws], raws)
            _remember(self._tx_info, bid, info)
        c = compact_refs(self.batches, info[1], info[2])
        msg = CompactProposalMsg(
            header=header_of(sp), block_header=sp.block.header, batches=c.batches, refs=c.refs, inline=c.inline
        )
        self.network.broadcast(encode_msg(msg))
        st = self.stats
        st.compact_proposals_sent += 1
        st.txs_by_reference += len(info[1]) - len(c.inline)
        st.bytes_by_reference += c.referenced_bytes
        st.txs_inline += len(c.inline)

    def _note_height(self, peer_id: str, height: int) -> None:
        if height > self._peer_heights.get(peer_id, -1):
            self._peer_heights[peer_id] = height
        tip = self.app.info().height
        if self._peer_heights.get(peer_id, 0) > tip:
            now = self.timers.now_ms()
            last = self._sync_requested_at.get(peer_id)
            if last is None or now - last > 1000:
                self._sync_requested_at[peer_id] = now
                self.network.send(
                    peer_id, encode_msg(BlockRequestMsg(from_height=tip + 1, max_blocks=MAX_BLOCKS_PER_MSG))
                )

    def _serve_blocks(self, peer_id: str, req: BlockRequestMsg) -> None:
        tip = self.app.info().height
        out: list[CommittedBlock] = []
        size = 0
        h = req.from_height
        while h <= tip and len(out) < min(req.max_blocks, MAX_BLOCKS_PER_MSG):
            block = self.blocks.block(h)
            commit = self.blocks.commit(h)
            if block is None or commit is None:
                break
            raw = self.blocks.block_bytes(h) or b""
            if out and size + len(raw) > self.max_frame_bytes // 2:
                break
            out.append(CommittedBlock(block=block, commit=commit))
            size += len(raw)
            h += 1
        if out:
            self.network.send(peer_id, encode_msg(BlocksMsg(blocks=out)))
        elif req.from_height <= tip:
            earliest = self.blocks.earliest_block_height()
            if req.from_height < earliest:  # pruned here: say from where on, rather than leave the peer waiting
                self.network.send(peer_id, encode_msg(BlocksPrunedMsg(earliest_height=earliest)))

    def _on_blocks_pruned(self, peer_id: str, msg: BlocksPrunedMsg) -> None:
        """A peer keeps blocks from ``msg.earliest_height`` on only. When every peer ahead of this node has pruned
        the next block, block sync cannot go on: say so (an error, at most once a minute) naming state sync."""
        self._peer_earliest[peer_id] = msg.earliest_height
        nxt = self.app.info().height + 1
        ahead = [p for p, h in self._peer_heights.items() if h >= nxt]
        if not ahead or any(self._peer_earliest.get(p, 0) <= nxt for p in ahead):
            return
        now = self.timers.now_ms()
        if self._behind_logged_ms is not None and now - self._behind_logged_ms < BEHIND_LOG_INTERVAL_MS:
            return
        self._behind_logged_ms = now
        lowest = min(self._peer_earliest[p] for p in ahead)
        log.error(
            "peers keep blocks from height %d only: this node is behind their history (its next block is %d); "
            "restart it with --state-sync",
            lowest,
            nxt,
        )

    def _apply_synced(self, peer_id: str, msg: BlocksMsg) -> None:
        applied = False
        for cb in msg.blocks:
            tip = self.app.info()
            header = cb.block.header
            if header.height <= tip.height:
                continue
            if header.height != tip.height + 1:
                break
            try:
                # The set in force at this height: the blocks before it were executed here, so it is known.
                valset = self.schedule.set_at(header.height)
                verify_commit(self.suite, self.params.chain_id, valset, header, cb.commit)
                executed = self.app.process_proposal(cb.block, self.mempool)
            except InvalidBlock as exc:
                self.network.disconnect(peer_id, f"sent an invalid committed block {header.height}: {exc.reason}")
                return
            self._commit(executed, cb.commit)
            applied = True
        if applied:
            self._peer_earliest.pop(peer_id, None)
            log.info("synced to height %d from %s", self.app.info().height, peer_id)
            self._sync_requested_at.pop(peer_id, None)
            self._feed(self._enter_height(self.app.info().height + 1))
            self._note_height(peer_id, self._peer_heights.get(peer_id, 0))

    # -- the machine --------------------------------------------------------------------------------------------
    def _feed(self, event: Event) -> None:
        """Run ``event`` and every event its effects produce, in order (no recursion).

        Signatures given meanwhile are written to the WAL without fsync and their messages held; when the run
        is over (or, with peers, before building, checking or committing a block, which peers would otherwise
        wait for), one fsync makes them all durable and then they are sent. Nothing signed leaves the process
        before it is durable; a single validator's proposal, prevote and precommit cost one fsync, not three.
        """
        self._events.append(event)
        if self._running_events:
            return
        self._running_events = True
        try:
            while self._events:
                while self._events:
                    ev = self._events.popleft()
                    t0 = time.perf_counter()
                    _, effects = step(self.state, ev)
                    self._order_s += time.perf_counter() - t0
                    st = self.state
                    self.timings.observe(st.height, st.round, st.step.name)
                    for eff in effects:
                        self._do(eff)
                if self._outgoing:
                    self._release_signed()
        finally:
            self._running_events = False

    def _release_signed(self) -> None:
        """Make the signatures of this run durable (one WAL fsync), then send what they signed."""
        t0 = time.perf_counter()
        if self.privval is not None:
            self.privval.sync()
        sends, self._outgoing = self._outgoing, []
        for send in sends:
            send()
        self._order_s += time.perf_counter() - t0

    def _do(self, eff: Effect) -> None:
        if isinstance(eff, (SignVote, SignProposal, RelayVote)):
            t0 = time.perf_counter()
            self._do_consensus(eff)
            self._order_s += time.perf_counter() - t0
        else:
            self._do_other(eff)

    def _do_consensus(self, eff: SignVote | SignProposal | RelayVote) -> None:
        """The ordering work proper: sign (WAL write first) and broadcast votes and proposals, relay votes."""
        if isinstance(eff, SignVote):
            if self.privval is None or not self._may_sign(eff.vote.height):
                return
            # Only a precommit for a block records a lock (the machine locks exactly when it precommits a block);
            # a nil precommit recording the old lock would make a restart restore it at the wrong round.
            locked = self.state.locked_block
            if (
                eff.vote.kind != PRECOMMIT
                or locked is None
                or block_hash(self.suite, locked.header) != eff.vote.block_hash
            ):
                locked = None
            sv = self.privval.sign_vote(eff.vote, locked, sync=False)
            if sv is not None:
                self._outgoing.append(lambda: self.network.broadcast(encode_msg(VoteMsg(vote=sv))))
                self._events.append(VoteReceived(sv))
        elif isinstance(eff, SignProposal):
            if self.privval is None or not self._may_sign(eff.proposal.height):
                return
            sp = self.privval.sign_proposal(eff.proposal, eff.block, sync=False)
            if sp is not None:
                self._outgoing.append(lambda: self._send_compact(sp))
                self._events.append(ProposalReceived(sp))
        else:
            self.network.broadcast(encode_msg(VoteMsg(vote=eff.vote)))

    def _may_sign(self, height: int) -> bool:
        """Whether the signer may be asked to sign at ``height``: only if this node is in ``set(height)`` (the
        machine never asks otherwise; this guard keeps a bug there from reaching the key)."""
        assert self.privval is not None
        if self.schedule.is_member(self.privval.address, height):
            return True
        log.error("refusing to sign at height %d: this node is not in the validator set of that height", height)
        return False

    def _do_other(self, eff: Effect) -> None:
        if self._outgoing and not self._solo and isinstance(eff, (BuildProposal, CheckProposal, Decide)):
            # Peers wait for what was signed: send it before work that can take tens of milliseconds.
            self._release_signed()
        if isinstance(eff, BuildProposal):
            self._pending_build = (eff.height, eff.round)
            self._maybe_build()
            if self._pending_build is not None:
                wait = self.empty_block_interval_ms - (self.timers.now_ms() - self._last_commit_ms)
                self.timers.call_later(max(wait, 0) / 1000, lambda: self._maybe_build(force=True))
        elif isinstance(eff, CheckProposal):
            valid = self._check(eff)
            self._events.append(ProposalChecked(height=eff.height, block_hash=eff.block_hash, valid=valid))
        elif isinstance(eff, ScheduleTimeout):
            ev = TimeoutFired(height=eff.height, round=eff.round, step=eff.step)
            self.timers.call_later(eff.delay_ms / 1000, lambda: self._timer(ev))
        elif isinstance(eff, Decide):
            executed = self.app.finalize_block(eff.block)
            self._commit(executed, eff.commit)
        elif isinstance(eff, ReportEvidence):
            self._report(eff)

    def _timer(self, ev: TimeoutFired) -> None:
        if self._stopped:
            return
        st = self.state
        if ev.step == Step.COMMIT and st.decided and ev.height == st.height == self.app.info().height:
            # The decided block is committed: enter the next height with the sets the schedule now knows.
            self._feed(self._enter_height(ev.height + 1))
        else:
            self._feed(ev)

    def _check(self, eff: CheckProposal) -> bool:
        if eff.height != self.app.info().height + 1:
            return False
        entry = self._known.pop(eff.block_hash, None)
        try:
            if entry is None:
                self.app.process_proposal(eff.block, self.mempool)
            else:  # rebuilt here from batches, its body checked against the header's tx_root (``_rebuild``)
                self.app.process_proposal(eff.block, self.mempool, entry[1], tx_root_checked=True)
        except InvalidBlock as exc:
            log.warning("proposal at height %d is invalid: %s", eff.height, exc.reason)
            return False
        return True

    def _maybe_build(self, force: bool = False) -> None:
        if self._pending_build is None or self._stopped:
            return
        h, r = self._pending_build
        st = self.state
        if (h, r) != (st.height, st.round) or st.step != Step.PROPOSE:
            self._pending_build = None
            return
        waited = self.timers.now_ms() - self._last_commit_ms
        if waited < st.timeouts.commit_ms:
            # At least the block interval between two blocks, including the first after a (re)start.
            self.timers.call_later((st.timeouts.commit_ms - waited) / 1000, lambda: self._maybe_build(force))
            return
        if not force and not len(self.mempool) and waited < self.empty_block_interval_ms:
            return
        self._pending_build = None
        if self._tx_outbox:
            self._flush_txs()  # every transaction of this node's gets a batch digest before the proposal
        tip = self.app.info()
        limits = self.params.limits
        candidates = self.mempool.candidates(limits.max_block_txs, limits.max_block_bytes)
        time_ms = max(self.timers.now_ms(), tip.time_ms + 1)
        assert self.privval is not None
        executed = self.app.prepare_proposal(candidates, time_ms, self.privval.address)
        _remember(self._tx_info, executed.block_id, (h, executed.output.tx_hashes, executed.tx_bytes))
        self._feed(ProposalBuilt(height=h, round=r, block=executed.block))

    def _commit(self, executed: ExecutedBlock, commit: Commit) -> None:
        try:
            tip = self.app.commit(executed, commit)
        except StorageError as exc:
            log.critical("cannot commit block %d: %s; stopping", executed.block.header.height, exc.reason)
            self._stopped = True
            self.on_fatal(exc)
            raise
        self._note_validator_update(tip.height, executed)
        self._last_commit_ms = self.timers.now_ms()
        self.timings.committed()
        t0 = time.perf_counter()
        self.mempool.remove_committed(executed.output.tx_hashes, executed.output.senders)
        if self._local:
            for h in executed.output.tx_hashes:
                self._local.pop(h, None)
        if self.privval is not None:
            self.privval.prune(tip.height + 1)
        # The "order" stage: consensus steps, signing with its WAL writes, vote checks and broadcasts since the
        # last commit, and the mempool's clean-up after this one, per transaction of the block.
        self.stages.add("order", self._order_s + time.perf_counter() - t0, executed.block.header.tx_count)
        self._order_s = 0.0
        self._relayed = {k for k in self._relayed if k[0] > tip.height}
        self.batches.note_committed(tip.height, executed.output.tx_hashes)
        self._held = {k: v for k, v in self._held.items() if k[0] > tip.height}
        self._known = {k: v for k, v in self._known.items() if v[0] > tip.height}
        self._tx_info = {k: v for k, v in self._tx_info.items() if v[0] > tip.height}
        log.info(
            "committed block height=%d txs=%d round=%d id=%s",
            tip.height,
            executed.block.header.tx_count,
            commit.round,
            executed.block_id.hex()[:12],
        )
        self.network.broadcast(encode_msg(StatusMsg(height=tip.height)))
        self.on_commit(executed)

    def _note_validator_update(self, height: int, executed: ExecutedBlock) -> None:
        """Feed the committed block's validator update (if any) to the schedule."""
        update = executed.effects.validator_update
        try:
            self.schedule.note_committed(height, update)
        except ScheduleError as exc:
            # State is the source of truth: rebuild the cache from it.
            log.error("validator schedule out of step at height %d (%s); rebuilding it from state", height, exc.reason)
            self.schedule = ValidatorSchedule(self.suite, self.app.validator_entries(), height)
        if update is not None:
            log.info(
                "validator set changes at height %d: %d validators, total power %d",
                update.effective_height,
                len(update.validators.validators),
                sum(v.power for v in update.validators.validators),
            )

    def _report(self, eff: ReportEvidence) -> None:
        self.evidence_seen.append(eff.evidence)
        log.warning("equivocation detected: %s", type(eff.evidence).__name__)
        if self.privval is None:
            return
        signer = self.privval.signer
        sender = address_of(self.suite, signer.public_key)
        body = TxBody(
            chain_id=self.params.chain_id,
            sender=signer.public_key,
            nonce=self.mempool.next_nonce(sender),
            payload=SubmitEvidence(evidence=eff.evidence),
            memo="equivocation evidence",
        )
        tx = sign_tx(body, signer.sign)
        try:
            checked = self.app.check_tx(encode(tx))
            self.mempool.add(checked)
        except InvalidTransaction as exc:
            log.warning("could not submit evidence: %s", exc.reason)
            return
        self.on_local_tx(checked)

    # -- periodic ---------------------------------------------------------------------------------------------
    def _flush_txs(self) -> None:
        """Spread this node's new transactions as batches, each kept in the store under its digest."""
        self._tx_flush_scheduled = False
        out, self._tx_outbox = self._tx_outbox, []
        for i in range(0, len(out), MAX_TXS_PER_BATCH):
            chunk = out[i : i + MAX_TXS_PER_BATCH]
            raws = [c.raw for c in chunk]
            self.batches.add(batch_digest(self.suite, raws), raws, [c.hash for c in chunk])
            self.network.broadcast(encode_msg(BatchMsg(txs=raws)))
            self.stats.batches_sent += 1
        now = self.timers.now_ms()
        local = self._local
        for c in out:
            local[c.hash] = now
        if len(local) > 2 * self.mempool.max_txs:  # stale-nonce drops not yet noticed: forget what left the pool
            self._local = OrderedDict((h, t) for h, t in local.items() if h in self.mempool)

    def _regossip(self) -> None:
        """Re-send this node's own transactions still uncommitted a re-send interval after they were last sent
        (``REGOSSIP_TICKS_*``): a flush reaches only the peers connected at that moment, and a busy peer drops
        gossip. A round takes, in arrival order, those due; each tick sends the next ``REGOSSIP_MAX_TXS`` /
        ``REGOSSIP_MAX_BYTES`` of it as one batch, skipping what has left the mempool (committed, or made stale)."""
        now = self.timers.now_ms()
        me = self.privval.address if self.privval is not None else None
        proposes = me is not None and self.schedule.is_member(me, self.state.height)
        ticks = REGOSSIP_TICKS_VALIDATOR if proposes else REGOSSIP_TICKS_FOLLOWER
        interval = ticks * self.gossip_interval_ms
        queue = self._regossip_queue
        if not queue:
            # A new round (one pass over ``_local``, bounded by the mempool's size).
            gone = [h for h in self._local if h not in self.mempool]
            for h in gone:
                del self._local[h]
            queue.extend(h for h, sent in self._local.items() if now - sent >= interval)
        raws: list[bytes] = []
        size = 0
        while queue:
            c = self.mempool.get(queue[0])
            if c is None or c.hash not in self._local:
                queue.popleft()
                continue
            if raws and (len(raws) >= REGOSSIP_MAX_TXS or size + len(c.raw) > REGOSSIP_MAX_BYTES):
                break
            queue.popleft()
            raws.append(c.raw)
            size += len(c.raw)
            self._local[c.hash] = now
        if raws:
            self.network.broadcast(encode_msg(BatchMsg(txs=raws)))
            self.stats.txs_regossiped += len(raws)

    def _gossip_tick(self) -> None:
        if self._stopped:
            return
        if self.privval is not None:
            self.privval.sync()  # a no-op unless a run of events failed before it could release its messages
        props, votes = gossip_set(self.state)
        for sp in props:
            self._send_compact(sp)
        for sv in votes:
            self.network.broadcast(encode_msg(VoteMsg(vote=sv)))
        self.network.broadcast(encode_msg(StatusMsg(height=self.app.info().height)))
        expired = self.mempool.expire()
        if expired:
            log.warning(
                "evicted %d transactions pending longer than %d ms (oldest %s, from %s)",
                len(expired),
                self.mempool.max_age_ms,
                expired[0].hash.hex()[:12],
                expired[0].sender.hex()[:12],
            )
        if self._local:
            self._regossip()
        else:
            self._regossip_queue.clear()
        self.timers.call_later(self.gossip_interval_ms / 1000, self._gossip_tick)
