"""The consensus driver: the imperative shell around the pure consensus machine.

It turns network frames and timer firings into machine events, and carries out the machine's effects: it
signs through the private validator (which logs to the WAL first), sends to peers, asks the application to
build, check and commit blocks, and schedules timeouts. It also runs block sync (a node that is behind fetches
committed blocks with their certificates from a peer and verifies both before applying) and spreads
transactions between mempools.

The driver is synchronous and single-threaded: the real node calls it from its event loop, the deterministic
simulation from its scheduler. Time and the network come in through the ``Timers`` and ``Network`` ports.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Protocol

from trellis.abci import CheckedTx
from trellis.app.application import TrellisApp
from trellis.core.codec import encode
from trellis.core.consensus.machine import (
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
    step,
)
from trellis.core.consensus.messages import header_of
from trellis.core.crypto.suite import address_of
from trellis.core.errors import DecodeError, InvalidBlock, InvalidTransaction, TrellisError
from trellis.core.execution.block import ExecutedBlock
from trellis.core.ledger.block import Commit, block_hash, verify_commit
from trellis.core.ledger.tx import SubmitEvidence, TxBody, sign_tx
from trellis.core.ledger.votes import PRECOMMIT
from trellis.core.params import ChainParams
from trellis.node.mempool import Mempool
from trellis.node.privval import PrivValidator
from trellis.node.wire import (
    MAX_BLOCKS_PER_MSG,
    MAX_TXS_PER_MSG,
    BlockRequestMsg,
    BlocksMsg,
    CommittedBlock,
    ProposalHeaderMsg,
    ProposalMsg,
    StatusMsg,
    TxsMsg,
    VoteMsg,
    WireMsg,
    decode_msg,
    encode_msg,
)
from trellis.storage.kv import StorageError

log = logging.getLogger("trellis.consensus")


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
        check_gossiped_txs: where transactions gossiped by peers go to be checked and admitted (the node checks
            them off the event loop, in arrival order, and calls ``wake`` after admitting any). None: checked
            and admitted here, synchronously (simulations).
    """

    def __init__(
        self,
        params: ChainParams,
        app: TrellisApp,
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
        check_gossiped_txs: Callable[[list[bytes]], None] | None = None,
    ) -> None:
        self.params = params
        self.suite = params.suite
        self.app = app
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
        me = privval.address if privval is not None else None
        self.state: ConsensusState = new_state(self.suite, params.chain_id, params.validators, me, timeouts)
        self._events: deque[Event] = deque()
        self._running_events = False
        self._pending_build: tuple[int, int] | None = None
        self._last_commit_ms = timers.now_ms()
        self._peer_heights: dict[str, int] = {}
        self._sync_requested_at: dict[str, int] = {}
        self._tx_outbox: list[bytes] = []
        self._tx_flush_scheduled = False
        self._stopped = False
        self._relayed: set[tuple[int, int, bytes, bytes]] = set()
        self._order_s = 0.0
        self.evidence_seen: list[object] = []

    # -- lifecycle ------------------------------------------------------------------------------------------
    def start(self) -> None:
        """Enter the next height, restoring what the WAL says this validator signed there."""
        height = self.app.info().height + 1
        if self.privval is None:
            self._feed(EnterHeight(height=height))
        else:
            props, votes = self.privval.signed_at(height)
            round_ = max([p.proposal.round for p in props] + [v.vote.round for v in votes], default=0)
            locked_round, locked_block = self.privval.lock_at(height)
            if props or votes:
                log.info("resuming height %d at round %d (lock round %d) from the WAL", height, round_, locked_round)
            self._feed(EnterHeight(height=height, round=round_, locked_round=locked_round, locked_block=locked_block))
            for sp in props:
                self._feed(ProposalReceived(sp))
            for sv in votes:
                self._feed(VoteReceived(sv))
        self.timers.call_later(self.gossip_interval_ms / 1000, self._gossip_tick)

    def stop(self) -> None:
        """Stop reacting to timers (frames should no longer be delivered either)."""
        self._stopped = True

    # -- inputs ---------------------------------------------------------------------------------------------
    def on_peer_connected(self, peer_id: str) -> None:
        """Tell a new peer where we are."""
        self.network.send(peer_id, encode_msg(StatusMsg(height=self.app.info().height)))

    def on_peer_disconnected(self, peer_id: str) -> None:
        """Forget a peer's sync state."""
        self._peer_heights.pop(peer_id, None)
        self._sync_requested_at.pop(peer_id, None)

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
        self._tx_outbox.extend(c.raw for c in batch)
        if not self._tx_flush_scheduled:
            self._tx_flush_scheduled = True
            self.timers.call_later(self.tx_gossip_delay_ms / 1000, self._flush_txs)
        self._maybe_build()

    def wake(self) -> None:
        """Transactions entered the mempool (e.g. gossiped ones, admitted by the node): a waiting proposer may
        build now."""
        if not self._stopped:
            self._maybe_build()

    # -- message handling -------------------------------------------------------------------------------------
    def _on_msg(self, peer_id: str, msg: WireMsg) -> None:
        if isinstance(msg, VoteMsg):
            self._note_height(peer_id, msg.vote.vote.height - 1)
            self._feed(VoteReceived(msg.vote))
        elif isinstance(msg, ProposalMsg):
            p = msg.proposal.proposal
            self._note_height(peer_id, p.height - 1)
            key = (p.height, p.round, msg.proposal.proposer, p.block_hash)
            if p.height == self.state.height and key not in self._relayed:
                # Relay the signed header (not the block) once, so a double proposal is seen by everyone.
                self._relayed.add(key)
                self.network.broadcast(encode_msg(ProposalHeaderMsg(header=header_of(msg.proposal))))
            self._feed(ProposalReceived(msg.proposal))
        elif isinstance(msg, ProposalHeaderMsg):
            self._feed(ProposalHeaderReceived(msg.header))
        elif isinstance(msg, StatusMsg):
            self._note_height(peer_id, msg.height)
        elif isinstance(msg, BlockRequestMsg):
            self._serve_blocks(peer_id, msg)
        elif isinstance(msg, BlocksMsg):
            self._apply_synced(peer_id, msg)
        elif isinstance(msg, TxsMsg):
            if self.check_gossiped_txs is not None:
                self.check_gossiped_txs(list(msg.txs))
                return
            added = False
            for r in self.app.check_txs(msg.txs, self.mempool):
                if isinstance(r, InvalidTransaction):
                    continue  # duplicates and stale nonces are normal in gossip
                try:
                    self.mempool.add(r)
                    added = True
                except InvalidTransaction:
                    continue
            if added:
                self._maybe_build()

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
            block = self.app.store.block(h)
            commit = self.app.store.commit(h)
            if block is None or commit is None:
                break
            raw = self.app.store.block_bytes(h) or b""
            if out and size + len(raw) > self.max_frame_bytes // 2:
                break
            out.append(CommittedBlock(block=block, commit=commit))
            size += len(raw)
            h += 1
        if out:
            self.network.send(peer_id, encode_msg(BlocksMsg(blocks=out)))

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
                verify_commit(self.suite, self.params.chain_id, self.params.validators, header, cb.commit)
                executed = self.app.process_proposal(cb.block, self.mempool)
            except InvalidBlock as exc:
                self.network.disconnect(peer_id, f"sent an invalid committed block {header.height}: {exc.reason}")
                return
            self._commit(executed, cb.commit)
            applied = True
        if applied:
            log.info("synced to height %d from %s", self.app.info().height, peer_id)
            self._sync_requested_at.pop(peer_id, None)
            self._feed(EnterHeight(height=self.app.info().height + 1))
            self._note_height(peer_id, self._peer_heights.get(peer_id, 0))

    # -- the machine --------------------------------------------------------------------------------------------
    def _feed(self, event: Event) -> None:
        """Run ``event`` and every event its effects produce, in order (no recursion)."""
        self._events.append(event)
        if self._running_events:
            return
        self._running_events = True
        try:
            while self._events:
                ev = self._events.popleft()
                t0 = time.perf_counter()
                _, effects = step(self.state, ev)
                self._order_s += time.perf_counter() - t0
                for eff in effects:
                    self._do(eff)
        finally:
            self._running_events = False

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
            if self.privval is None:
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
            sv = self.privval.sign_vote(eff.vote, locked)
            if sv is not None:
                self.network.broadcast(encode_msg(VoteMsg(vote=sv)))
                self._events.append(VoteReceived(sv))
        elif isinstance(eff, SignProposal):
            if self.privval is None:
                return
            sp = self.privval.sign_proposal(eff.proposal, eff.block)
            if sp is not None:
                self.network.broadcast(encode_msg(ProposalMsg(proposal=sp)))
                self._events.append(ProposalReceived(sp))
        else:
            self.network.broadcast(encode_msg(VoteMsg(vote=eff.vote)))

    def _do_other(self, eff: Effect) -> None:
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
        if not self._stopped:
            self._feed(ev)

    def _check(self, eff: CheckProposal) -> bool:
        if eff.height != self.app.info().height + 1:
            return False
        try:
            self.app.process_proposal(eff.block, self.mempool)
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
        tip = self.app.info()
        limits = self.params.limits
        candidates = self.mempool.candidates(limits.max_block_txs, limits.max_block_bytes)
        time_ms = max(self.timers.now_ms(), tip.time_ms + 1)
        assert self.privval is not None
        executed = self.app.prepare_proposal(candidates, time_ms, self.privval.address)
        self._feed(ProposalBuilt(height=h, round=r, block=executed.block))

    def _commit(self, executed: ExecutedBlock, commit: Commit) -> None:
        try:
            tip = self.app.commit(executed, commit)
        except StorageError as exc:
            log.critical("cannot commit block %d: %s; stopping", executed.block.header.height, exc.reason)
            self._stopped = True
            self.on_fatal(exc)
            raise
        self._last_commit_ms = self.timers.now_ms()
        t0 = time.perf_counter()
        self.mempool.remove_committed(executed.output.tx_hashes, executed.output.senders)
        if self.privval is not None:
            self.privval.prune(tip.height + 1)
        # The "order" stage: consensus steps, signing with its WAL writes, vote checks and broadcasts since the
        # last commit, and the mempool's clean-up after this one, per transaction of the block.
        self.app.stages.add("order", self._order_s + time.perf_counter() - t0, executed.block.header.tx_count)
        self._order_s = 0.0
        self._relayed = {k for k in self._relayed if k[0] > tip.height}
        log.info(
            "committed block height=%d txs=%d round=%d id=%s",
            tip.height,
            executed.block.header.tx_count,
            commit.round,
            executed.block_id.hex()[:12],
        )
        self.network.broadcast(encode_msg(StatusMsg(height=tip.height)))
        self.on_commit(executed)

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
        self._tx_flush_scheduled = False
        out, self._tx_outbox = self._tx_outbox, []
        for i in range(0, len(out), MAX_TXS_PER_MSG):
            self.network.broadcast(encode_msg(TxsMsg(txs=out[i : i + MAX_TXS_PER_MSG])))

    def _gossip_tick(self) -> None:
        if self._stopped:
            return
        props, votes = gossip_set(self.state)
        for sp in props:
            self.network.broadcast(encode_msg(ProposalMsg(proposal=sp)))
        for sv in votes:
            self.network.broadcast(encode_msg(VoteMsg(vote=sv)))
        self.network.broadcast(encode_msg(StatusMsg(height=self.app.info().height)))
        self.timers.call_later(self.gossip_interval_ms / 1000, self._gossip_tick)
