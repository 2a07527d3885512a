"""``Node``: one running node — application, mempool, block production and commit notifications — as the
service the API talks to."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from trellis.abci import CheckedTx
from trellis.app.application import TrellisApp
from trellis.core.execution.block import ExecutedBlock
from trellis.core.ledger.block import Receipt
from trellis.core.params import ChainParams
from trellis.keys.signer import Signer
from trellis.node.clock import Clock
from trellis.node.config import NodeConfig
from trellis.node.mempool import Mempool
from trellis.node.producer import SoloProducer
from trellis.storage.chain_store import ChainStore

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


class Node:
    """A running node.

    Args:
        params: chain parameters.
        config: node configuration.
        store: the chain store.
        app: the application.
        signer: the validator key.
        clock: the clock.
    """

    def __init__(
        self, params: ChainParams, config: NodeConfig, store: ChainStore, app: TrellisApp, signer: Signer, clock: Clock
    ) -> None:
        self.params = params
        self.config = config
        self.store = store
        self.app = app
        self.clock = clock
        self.mempool = Mempool(app.account_nonce, max_txs=config.mempool.max_txs, max_bytes=config.mempool.max_bytes)
        self.producer = SoloProducer(
            params,
            app,
            self.mempool,
            signer,
            clock,
            block_interval_ms=config.producer.block_interval_ms,
            empty_block_interval_ms=config.producer.empty_block_interval_ms,
            on_commit=self._on_commit,
        )
        self._waiters: dict[bytes, list[asyncio.Future[None]]] = {}
        self._block_subscribers: set[asyncio.Queue[ExecutedBlock]] = set()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start producing blocks."""
        self._task = asyncio.create_task(self.producer.run(), name="producer")
        self._task.add_done_callback(self._producer_done)

    def _producer_done(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.critical("block producer stopped on an error", exc_info=task.exception())

    async def stop(self) -> None:
        """Stop after the block in progress; waiters are woken."""
        self.producer.stop()
        if self._task is not None:
            with contextlib.suppress(Exception):
                await self._task
        for futs in self._waiters.values():
            for f in futs:
                if not f.done():
                    f.set_result(None)
        self._waiters.clear()

    # -- transactions -------------------------------------------------------------------------------------
    def submit(self, raw: bytes) -> CheckedTx:
        """Check and admit a transaction; return it as admitted.

        Raises:
            InvalidTransaction: with the code of the failed check.
        """
        checked = self.app.check_tx(raw)
        self.mempool.add(checked)
        self.producer.tx_arrived.set()
        return checked

    def tx_status(self, tx_hash: bytes) -> TxStatus:
        """Return where a transaction is."""
        pos = self.store.tx_position(tx_hash)
        if pos is not None:
            return TxStatus(state="committed", height=pos[0], index=pos[1], receipt=self.store.receipt(*pos))
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

    def unsubscribe(self, q: asyncio.Queue[ExecutedBlock]) -> None:
        """Stop delivering blocks to ``q``."""
        self._block_subscribers.discard(q)

    def _on_commit(self, executed: ExecutedBlock) -> None:
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
