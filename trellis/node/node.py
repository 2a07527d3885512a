"""``Node``: one running node — application, mempool, consensus, peers and commit notifications — as the
service the API talks to."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Container
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Generic, TypeVar

from trellis.abci import Application, CheckedTx, StageTimes
from trellis.blobs.store import BlobStore
from trellis.core.errors import InvalidTransaction, TrellisError
from trellis.core.execution.block import ExecutedBlock
from trellis.core.ledger.block import Receipt
from trellis.core.params import ChainParams
from trellis.keys.certs import CertError
from trellis.keys.signer import Signer
from trellis.node.batches import BatchStore
from trellis.node.certwatch import CertWatcher
from trellis.node.clock import Clock
from trellis.node.config import NodeConfig, timeouts_of
from trellis.node.consensus_driver import ConsensusDriver, Network, NoNetwork
from trellis.node.mempool import Mempool
from trellis.node.privval import PrivValidator
from trellis.node.statesync import SnapshotServer
from trellis.notary.tsa import TsaIdentity
from trellis.p2p.transport import Transport
from trellis.storage.block_store import BlockStore
from trellis.storage.pruning import Pruner
from trellis.storage.snapshots import SnapshotStore

log = logging.getLogger("trellis.node")


@dataclass(frozen=True)
class TxStatus:
    """Where a transaction is.

    Attributes:
        state: ``"pending"`` (in the mempool), ``"committed"`` or ``"unknown"``.
        height: block height, when committed.
        index: position in the block, when committed.
        receipt: the receipt, when committed.
    """

    state: str
    height: int | None = None
    index: int | None = None
    receipt: Receipt | None = None


class _LoopTimers:
    """``Timers`` on the running asyncio loop and the node's clock."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.loop = asyncio.get_running_loop()

    def call_later(self, delay_s: float, callback: Callable[[], None]) -> object:
        return self.loop.call_later(delay_s, _guarded, callback)

    def now_ms(self) -> int:
        return self.clock.now_ms()


def _guarded(callback: Callable[[], None]) -> None:
    try:
        callback()
    except Exception:
        log.exception("consensus timer callback failed")


class NodeUnavailable(TrellisError):
    """The node takes no transaction now: ``shutting_down`` (a graceful stop began) or ``node_failed`` (it must
    stop: its store failed). Nothing of the refused request was admitted."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code


STOP_ADMISSION_WAIT_S = 10.0
"""How long a stopping node waits for the admissions already under way to finish."""
STOP_SPREAD_GRACE_S = 0.2
"""How long a stopping node leaves its peer links to send the transactions it spread last."""
ADMISSION_PIPELINE = 3
"""Transaction batches checked at once (decoding, signature verification); admission stays in arrival order."""
MAX_GOSSIP_BATCHES = 64
"""Gossiped transaction batches waiting to be checked; more are dropped until the backlog clears."""


AppT = TypeVar("AppT", bound=Application)
"""The application a node runs (``TrellisApp`` in ``trellis.node.assembly``; anything with the ABCI in tests)."""


class Node(Generic[AppT]):
    """A running node: the application, mempool and consensus driver, and the peer network.

    What admission promises (the API's 202): a transaction reported admitted is in this node's mempool, pending,
    and spread to its peers. It is not durable: the mempool lives in memory, so a crash (or a graceful stop before
    the transaction is in a block, on a chain of one validator) can lose it; a client that must know waits for
    the commit and resubmits the same bytes if the status is unknown (resubmitting is idempotent: the same
    transaction is refused as ``duplicate`` while pending and as already committed once in a block). A graceful
    stop first refuses new transactions (``NodeUnavailable``: ``shutting_down``), lets the admissions under way
    finish, and spreads what they admitted before it stops.

    Args:
        params: chain parameters.
        config: node configuration.
        blocks: committed blocks, certificates, receipts and indexes (the block-store port; assembly passes the
            chain store).
        app: the application.
        privval: the validator's signer (with its write-ahead log), or None for a non-validating node. An
            observer (``config.node.role == "observer"``) must have none.
        clock: the clock.
        transport: the peer network, or None for a chain of one validator.
        blobs: the file store served by the API (``/v1/blobs``), or None for none.
        stages: where the time per pipeline stage is accounted, shared with the application (default: a new one).
        snapshots: the state snapshots to write after commits and offer to peers (None: none).
        pruner: prunes old state and blocks on a thread of its own (``[storage] keep_recent``; None: archive).
    """

    def __init__(
        self,
        params: ChainParams,
        config: NodeConfig,
        blocks: BlockStore,
        app: AppT,
        privval: PrivValidator | None,
        clock: Clock,
        transport: Transport | None = None,
        cert_watcher: CertWatcher | None = None,
        blobs: BlobStore | None = None,
        tsa: tuple[TsaIdentity, Signer] | None = None,
        *,
        stages: StageTimes | None = None,
        snapshots: SnapshotStore | None = None,
        pruner: Pruner | None = None,
    ) -> None:
        if config.node.role == "observer" and privval is not None:
            raise ValueError("an observer node has no signer: pass privval=None")
        self.params = params
        self.snapshots = snapshots
        """The state snapshots this node writes and offers (ADR 0018), or None."""
        self.role = config.node.role
        """``validator`` or ``observer`` (ADR 0018 section 4): an observer never holds a signer."""
        self.blobs = blobs
        self.tsa = tsa
        """The time-stamping authority's certificate and key, and the chain account it anchors with (or None)."""
        self.cert_watcher = cert_watcher
        self.config = config
        self.blocks = blocks
        """Committed blocks, certificates, receipts and indexes (the block-store port)."""
        self.stages = stages if stages is not None else StageTimes()
        """Time spent per pipeline stage, by the application, the driver and this node (``/v1/metrics``)."""
        self.app = app
        self.pruner = pruner
        self.privval = privval
        self.clock = clock
        self.transport = transport
        self.validator_address = privval.address if privval is not None else b""
        self.mempool = Mempool(
            app.account_nonce,
            committed_nonces=app.account_nonces,
            max_txs=config.mempool.max_txs,
            max_bytes=config.mempool.max_bytes,
            max_age_ms=config.mempool.max_age_s * 1000 or None,
            now_ms=lambda: int(clock.monotonic() * 1000),
        )
        self.driver: ConsensusDriver | None = None
        self._checking = asyncio.Semaphore(ADMISSION_PIPELINE)
        self._admitted_last: asyncio.Future[None] | None = None
        self._gossip_tasks: set[asyncio.Task[list[CheckedTx | InvalidTransaction]]] = set()
        self.gossip_dropped = 0
        """Gossiped transactions dropped unchecked because ``MAX_GOSSIP_BATCHES`` batches were waiting."""
        self._check_pool = ThreadPoolExecutor(max_workers=ADMISSION_PIPELINE, thread_name_prefix="admission")
        """Threads that check batches; ``stop`` waits for them, so no check reads a store being closed."""
        self.failure: BaseException | None = None
        """Set when the node had to stop on an unrecoverable error (``failed`` is then set too)."""
        self.failed = asyncio.Event()
        self._waiters: dict[bytes, list[asyncio.Future[None]]] = {}
        self._closing = False
        self._block_subscribers: set[asyncio.Queue[ExecutedBlock]] = set()

    def close(self) -> None:
        """Release the application and the block store: after ``stop``, or instead of starting."""
        if self.pruner is not None:
            self.pruner.stop()  # its last transaction ends before the store closes
        if self.snapshots is not None:
            self.snapshots.stop()
        try:
            self.app.close()
        finally:
            self.blocks.close()

    async def start(self) -> None:
        """Start consensus and the peer network."""
        c = self.config.consensus
        network: Network = self.transport if self.transport is not None else NoNetwork()
        server = SnapshotServer(self.snapshots, self.app, self.blocks, network)
        self.driver = ConsensusDriver(
            self.params,
            self.app,
            self.mempool,
            self.privval,
            network,
            _LoopTimers(self.clock),
            timeouts_of(c),
            blocks=self.blocks,
            stages=self.stages,
            empty_block_interval_ms=c.empty_block_interval_ms,
            gossip_interval_ms=c.gossip_interval_ms,
            max_frame_bytes=self.config.p2p.max_frame_bytes,
            on_commit=self._on_commit,
            on_fatal=self._on_fatal,
            check_gossiped_txs=self._on_gossiped_txs,
            batches=BatchStore(
                max_batches=self.config.p2p.batch_store_max_batches, max_bytes=self.config.p2p.batch_store_max_bytes
            ),
            on_state_sync=server.on_msg,
        )
        if self.transport is not None:
            driver = self.driver
            self.transport.on_frame = driver.on_frame
            self.transport.on_peer_connected = driver.on_peer_connected

            def peer_gone(peer_id: str) -> None:
                driver.on_peer_disconnected(peer_id)
                server.peer_gone(peer_id)  # its state-sync rate limits are forgotten

            self.transport.on_peer_disconnected = peer_gone
        self.driver.start()
        if self.pruner is not None:
            self.pruner.start()
        if self.transport is not None:
            await self.transport.start()
        if self.cert_watcher is not None:
            self.cert_watcher.start()
        self._apply_peer_membership()  # governance may have changed it since genesis

    def _on_fatal(self, exc: BaseException) -> None:
        self.failure = exc
        self.failed.set()
        self._wake_waiters()  # nothing commits any more: a client waiting for a commit is answered now

    def _wake_waiters(self) -> None:
        for futs in self._waiters.values():
            for f in futs:
                if not f.done():
                    f.set_result(None)
        self._waiters.clear()

    def close_admission(self) -> None:
        """Refuse every transaction from now on (``NodeUnavailable``: ``shutting_down``): the first step of a
        graceful stop, before the API's in-flight requests are drained."""
        self._closing = True

    def check_open(self) -> None:
        """Raise ``NodeUnavailable`` if the node takes no transaction now (stopping, or failed)."""
        if self.failure is not None:
            raise NodeUnavailable(
                "node_failed", f"the node failed and is stopping ({self.failure}); submit to another node"
            )
        if self._closing:
            raise NodeUnavailable("shutting_down", "the node is shutting down; submit to another node")

    async def stop(self) -> None:
        """Stop consensus and the network; waiters are woken with the status they would see now.

        Admission is closed first; the admissions already under way finish (bounded by
        ``STOP_ADMISSION_WAIT_S``) and what they admitted is spread to peers before the network stops.
        """
        self.close_admission()
        last = self._admitted_last
        if last is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(last), STOP_ADMISSION_WAIT_S)
        if self.driver is not None and self.failure is None and self.transport is not None:
            self.driver.flush_local_txs()
            await asyncio.sleep(STOP_SPREAD_GRACE_S)  # the links' writers take the frames before they close
        if self.cert_watcher is not None:
            self.cert_watcher.stop()
        if self.driver is not None:
            self.driver.stop()
        if self.transport is not None:
            await self.transport.stop()
        for task in list(self._gossip_tasks):
            task.cancel()
        # A cancelled check's thread runs on: wait for every check to finish before the store can be closed.
        await asyncio.to_thread(self._check_pool.shutdown, True, cancel_futures=True)
        if self.snapshots is not None:  # its read view must close before the store does
            await asyncio.to_thread(self.snapshots.stop)
        self._wake_waiters()
        if self.privval is not None:
            self.privval.close()
        self.app.close()

    # -- transactions -------------------------------------------------------------------------------------
    def submit(self, raw: bytes) -> CheckedTx:
        """Check and admit a transaction; return it as admitted.

        Raises:
            InvalidTransaction: with the code of the failed check.
            NodeUnavailable: the node is stopping or failed (nothing was checked).
        """
        self.check_open()
        checked = self.app.check_tx(raw)
        self.mempool.add(checked)
        if self.driver is not None:
            self.driver.on_local_tx(checked)
        return checked

    async def submit_batch(self, raws: list[bytes]) -> list[CheckedTx | InvalidTransaction]:
        """Check a batch of transactions (signatures verified together, off the event loop) and admit those
        that pass; one result per input, in order.

        Batches are pipelined: up to ``ADMISSION_PIPELINE`` are being checked at once (one decoding while the
        verifier processes check another's signatures), but they enter the mempool strictly in the order
        ``submit_batch`` was called, so a client that sends a sender's nonces across consecutive batches never
        sees them admitted out of order. A check that raced a commit is harmless: the mempool judges nonces
        against the committed state when it admits.

        Raises:
            NodeUnavailable: the node is stopping or failed (nothing was checked).
        """
        self.check_open()
        return await self._check_in_order(raws, (), self._admit)

    def _on_gossiped_txs(self, raws: list[bytes], hashes: list[bytes] | None = None) -> None:
        """Transactions a peer gossiped (with their hashes, when the driver computed them already): checked off
        the event loop (signatures in the verifier processes) through the same ordered pipeline as clients'
        batches; those already pending are skipped unverified.
        While ``MAX_GOSSIP_BATCHES`` are waiting, further gossip is dropped (memory stays bounded whatever peers
        send; a dropped transaction still reaches this node in the proposal that carries it)."""
        if len(self._gossip_tasks) >= MAX_GOSSIP_BATCHES:
            self.gossip_dropped += len(raws)
            return
        task = asyncio.get_running_loop().create_task(
            self._check_in_order(raws, self.mempool, self._admit_gossiped, hashes)
        )
        self._gossip_tasks.add(task)
        task.add_done_callback(self._gossip_done)

    def _gossip_done(self, task: asyncio.Task[list[CheckedTx | InvalidTransaction]]) -> None:
        self._gossip_tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("checking gossiped transactions failed: %r", task.exception())

    def _admit_gossiped(self, results: list[CheckedTx | InvalidTransaction]) -> list[CheckedTx | InvalidTransaction]:
        refusals = self.mempool.add_many([r for r in results if isinstance(r, CheckedTx)])
        # Duplicates and stale nonces are normal in gossip: nothing to report.
        if any(r is None for r in refusals) and self.driver is not None:
            self.driver.wake()
        return results

    async def _check_in_order(
        self,
        raws: list[bytes],
        known: Container[bytes],
        admit: Callable[[list[CheckedTx | InvalidTransaction]], list[CheckedTx | InvalidTransaction]],
        hashes: list[bytes] | None = None,
    ) -> list[CheckedTx | InvalidTransaction]:
        loop = asyncio.get_running_loop()
        before = self._admitted_last
        mine: asyncio.Future[None] = loop.create_future()
        self._admitted_last = mine
        try:
            async with self._checking:
                results = await loop.run_in_executor(self._check_pool, self.app.check_txs, raws, known, hashes)
            if before is not None:
                await asyncio.shield(before)
            return admit(results)
        finally:
            mine.set_result(None)
            if self._admitted_last is mine:
                self._admitted_last = None

    def _admit(self, results: list[CheckedTx | InvalidTransaction]) -> list[CheckedTx | InvalidTransaction]:
        sw = self.stages.stopwatch()
        # One batch: the committed nonces of senders with nothing pending are read together.
        refusals = iter(self.mempool.add_many([r for r in results if isinstance(r, CheckedTx)]))
        admitted: list[CheckedTx] = []
        for i, r in enumerate(results):
            if isinstance(r, CheckedTx):
                refused = next(refusals)
                if refused is None:
                    admitted.append(r)
                else:
                    results[i] = refused
        sw.mark("admit", len(results))
        if self.driver is not None and admitted:
            self.driver.on_local_txs(admitted)
            sw.mark("disseminate", len(admitted))
        return results

    def tx_status(self, tx_hash: bytes) -> TxStatus:
        """Return where a transaction is."""
        pos = self.blocks.tx_position(tx_hash)
        if pos is not None:
            return TxStatus(state="committed", height=pos[0], index=pos[1], receipt=self.blocks.receipt(*pos))
        if tx_hash in self.mempool:
            return TxStatus(state="pending")
        return TxStatus(state="unknown")

    async def wait_committed(self, tx_hash: bytes, timeout: float) -> TxStatus:
        """Wait up to ``timeout`` seconds for a transaction to commit; return its status either way."""
        status = self.tx_status(tx_hash)
        if status.state != "pending":
            return status
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(tx_hash, []).append(fut)
        try:
            await asyncio.wait_for(fut, timeout)
        except TimeoutError:
            pass
        finally:
            futs = self._waiters.get(tx_hash)
            if futs is not None and fut in futs:
                futs.remove(fut)
                if not futs:
                    del self._waiters[tx_hash]
        return self.tx_status(tx_hash)

    def subscribe_blocks(self) -> asyncio.Queue[ExecutedBlock]:
        """Return a queue that receives every block committed from now on (drop it with ``unsubscribe``)."""
        q: asyncio.Queue[ExecutedBlock] = asyncio.Queue(maxsize=1024)
        self._block_subscribers.add(q)
        return q

    def is_subscribed(self, q: asyncio.Queue[ExecutedBlock]) -> bool:
        """False once ``q`` was dropped (its consumer fell more than its queue size behind)."""
        return q in self._block_subscribers

    def unsubscribe(self, q: asyncio.Queue[ExecutedBlock]) -> None:
        """Stop delivering blocks to ``q``."""
        self._block_subscribers.discard(q)

    def _on_commit(self, executed: ExecutedBlock) -> None:
        if self.snapshots is not None:  # first: its read view opens before the next block can be written
            header = executed.block.header
            self.snapshots.note_commit(header.height, header.state_root)
        sw = self.stages.stopwatch()
        if self.pruner is not None:
            self.pruner.notify(executed.block.header.height)
        self._notify(executed)
        sw.mark("notify", executed.block.header.tx_count)
        if executed.effects.membership_changed:
            self._apply_peer_membership()

    def _apply_peer_membership(self) -> None:
        """Let peer connections follow the on-chain membership: CA rollovers, removed orgs, revocations."""
        update = getattr(self.transport, "update_membership", None)
        if update is None:
            return
        membership = self.app.peer_membership()
        if membership is None:
            return
        try:
            update(membership.ca_bundle_pem, membership.revoked_serials)
        except CertError as exc:  # e.g. our own CA left the membership: keep talking under the old one
            log.error("the on-chain membership (version %d) cannot be applied to peers: %s", membership.version, exc)

    def _notify(self, executed: ExecutedBlock) -> None:
        if self._waiters:
            for h in executed.output.tx_hashes:
                for fut in self._waiters.pop(h, ()):
                    if not fut.done():
                        fut.set_result(None)
        for q in list(self._block_subscribers):
            if q.full():
                # A consumer that does not keep up loses its subscription rather than growing memory.
                self._block_subscribers.discard(q)
            else:
                q.put_nowait(executed)
