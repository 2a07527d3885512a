"""The single-validator block producer: the consensus driver used while a chain has one validator.

It waits for transactions (or for the empty-block interval), asks the application to build and execute a
block, signs the commit certificate with the validator key, has the application commit it atomically, and
tells the node what was committed. With one validator holding all the power, its own signature is a valid
commit certificate (``verify_commit`` accepts it), so blocks are final as soon as they are written.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence

from trellis.abci import Application, CheckedTx
from trellis.core.crypto.suite import Suite, address_of
from trellis.core.execution.block import ExecutedBlock
from trellis.core.ledger.block import Commit, CommitSig
from trellis.core.ledger.votes import PRECOMMIT, Vote, vote_signing_bytes
from trellis.core.params import ChainParams
from trellis.keys.signer import Signer
from trellis.node.clock import Clock
from trellis.node.mempool import Mempool

log = logging.getLogger("trellis.producer")


def sign_commit(suite: Suite, chain_id: str, signer: Signer, executed: ExecutedBlock) -> Commit:
    """Return a commit certificate for ``executed`` carrying ``signer``'s vote."""
    height = executed.block.header.height
    vote = Vote(chain_id=chain_id, kind=PRECOMMIT, height=height, round=0, block_hash=executed.block_id)
    sig = signer.sign(vote_signing_bytes(vote))
    return Commit(
        height=height,
        round=0,
        block_hash=executed.block_id,
        signatures=[CommitSig(validator=address_of(suite, signer.public_key), signature=sig)],
    )


class SoloProducer:
    """Produces and commits blocks alone.

    Args:
        params: chain parameters; the validator set must consist of ``signer`` alone.
        app: the application.
        mempool: where transactions wait.
        signer: the validator key.
        clock: time source.
        block_interval_ms: least time between blocks.
        empty_block_interval_ms: longest time without a block.
        on_commit: called (in the event loop) with each committed block.
    """

    def __init__(
        self,
        params: ChainParams,
        app: Application,
        mempool: Mempool,
        signer: Signer,
        clock: Clock,
        *,
        block_interval_ms: int,
        empty_block_interval_ms: int,
        on_commit: Callable[[ExecutedBlock], None],
    ) -> None:
        vals = params.validators.validators
        if len(vals) != 1 or vals[0].public_key != signer.public_key:
            raise ValueError("the single-validator producer needs a genesis whose only validator is this node's key")
        self.params = params
        self.app = app
        self.mempool = mempool
        self.signer = signer
        self.clock = clock
        self.block_interval = block_interval_ms / 1000
        self.empty_interval = empty_block_interval_ms / 1000
        self.on_commit = on_commit
        self.proposer = address_of(params.suite, signer.public_key)
        self.tx_arrived = asyncio.Event()
        self._stop_requested = asyncio.Event()
        self._stopping = False

    def stop(self) -> None:
        """Finish the block in progress, then return from ``run``."""
        self._stopping = True
        self._stop_requested.set()
        self.tx_arrived.set()

    async def run(self) -> None:
        """Produce blocks until ``stop``."""
        last = self.clock.monotonic()
        while not self._stopping:
            deadline = last + self.empty_interval
            while not len(self.mempool) and not self._stopping:
                remaining = deadline - self.clock.monotonic()
                if remaining <= 0:
                    break
                self.tx_arrived.clear()
                try:
                    await asyncio.wait_for(self.tx_arrived.wait(), timeout=remaining)
                except TimeoutError:
                    break
            if self._stopping:
                break
            gap = last + self.block_interval - self.clock.monotonic()
            if gap > 0:
                # Wait out the block interval, but not past a stop: nothing is in progress yet.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop_requested.wait(), timeout=gap)
                if self._stopping:
                    break
            last = self.clock.monotonic()
            limits = self.params.limits
            # Read the mempool here, in the event loop that mutates it; execution runs in a worker thread.
            candidates = self.mempool.candidates(limits.max_block_txs, limits.max_block_bytes)
            executed = await asyncio.to_thread(self.produce_one, candidates)
            self.mempool.remove_committed(executed.output.tx_hashes)
            self.on_commit(executed)

    def produce_one(self, candidates: Sequence[CheckedTx]) -> ExecutedBlock:
        """Build, execute, sign and commit one block from ``candidates`` (runs in a worker thread)."""
        tip = self.app.info()
        time_ms = max(self.clock.now_ms(), tip.time_ms + 1)
        executed = self.app.prepare_proposal(candidates, time_ms, self.proposer)
        commit = sign_commit(self.params.suite, self.params.chain_id, self.signer, executed)
        self.app.commit(executed, commit)
        header = executed.block.header
        log.info(
            "committed block height=%d txs=%d state_root=%s",
            header.height,
            header.tx_count,
            header.state_root.hex()[:16],
        )
        return executed
