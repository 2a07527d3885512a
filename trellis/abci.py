"""The boundary between consensus and the application (ABCI-like).

Consensus (``trellis.node``) never imports application modules: it drives the application only through
``Application``. The calls, in the order a height uses them:

- ``check_tx(raw)`` / ``check_txs(raws)``: admission checks for the mempool (decode, chain id, size,
  signature; batches verify their signatures together).
- ``prepare_proposal(txs, time_ms, proposer)``: the proposer builds a block from mempool candidates and
  executes it (the header carries the state root *after* the block, so execution precedes the proposal).
- ``process_proposal(block)``: a validator re-executes a proposed block and refuses it if any root differs.
- ``finalize_block(block)``: the decided block's execution result (cached from the two calls above).
- ``commit(executed, certificate)``: persist block, certificate, state and indexes in one atomic write.
- ``info()``: the last committed tip, for a restarting node.
- ``validator_set(height)``, ``validator_entries()``, ``validator_changes(to_height)``: the validator set in state
  (ADR 0014): what a height's commit is signed by, every entry since genesis (the shell's schedule is built from
  them at start), and the proven set changes a light client follows from genesis. A block's own set change comes
  back as data, ``executed.output.validator_update`` of ``finalize_block``, effective two heights later.
Queries go through the application's typed read methods (``account``, ``state_value``, ``prove``...).
"""

from __future__ import annotations

from collections.abc import Container, Sequence
from typing import Protocol

import msgspec

from trellis.core.errors import InvalidTransaction, TrellisError
from trellis.core.execution.block import ChainTip, ExecutedBlock
from trellis.core.ledger.block import Block, Commit, ValidatorSet
from trellis.core.ledger.tx import SignedTx
from trellis.core.lightclient import SetChange
from trellis.core.modules.validators.state import ValidatorUpdate


class UnknownHeight(TrellisError):
    """A height the validator set is not known for (below 1, or beyond what the committed state decides)."""

    code = "unknown_height"


class CheckedTx(msgspec.Struct, frozen=True, gc=False):
    """A transaction that passed admission checks.

    Not tracked by the cyclic garbage collector (``gc=False``: its fields are bytes and a core struct, so it
    can never be part of a cycle): a full mempool holds hundreds of thousands of these, and the collector
    would otherwise walk every one of them on each full collection.

    Attributes:
        tx: the decoded transaction.
        raw: its canonical bytes.
        hash: its transaction hash.
        sender: the sender's address.
    """

    tx: SignedTx
    raw: bytes
    hash: bytes
    sender: bytes


def refusal(exc: InvalidTransaction) -> InvalidTransaction:
    """``exc`` as a result value: a new ``InvalidTransaction`` with the same code and reason, never raised, so
    with no traceback, cause or context.

    Batch admission returns refusals as values (one per input), and a whole batch of them can be held for a
    while (an API answer, a stream's pipeline). A *caught* exception keeps its traceback, whose frames keep the
    function's locals: the whole batch and the list of results that holds the exception, a reference cycle
    that only the cyclic collector frees, and a long-running node runs that collector rarely
    (``trellis.node.gc_tuning``). Measured before this: about 27 MB kept per junk 3.9 MB batch request until a
    full collection. Every refusal stored in a list must go through this.
    """
    return InvalidTransaction(exc.code, exc.reason)


class Application(Protocol):
    """What consensus may ask of the application."""

    def info(self) -> ChainTip:
        """Return the last committed tip."""
        ...

    def check_tx(self, raw: bytes) -> CheckedTx:
        """Decode and check a transaction for the mempool; raise ``InvalidTransaction`` if it can never be
        valid (size, encoding, chain id, signature) or is already committed."""
        ...

    def check_txs(
        self, raws: Sequence[bytes], known: Container[bytes] = (), hashes: Sequence[bytes] | None = None
    ) -> list[CheckedTx | InvalidTransaction]:
        """``check_tx`` for a batch, with every signature verified in one batch; transactions whose hash is in
        ``known`` are refused as duplicates unverified; ``hashes``, if given, are the inputs' transaction hashes
        (not computed again). One result per input."""
        ...

    def account_nonce(self, address: bytes) -> int:
        """Return the next nonce of ``address`` in committed state."""
        ...

    def prepare_proposal(self, candidates: Sequence[CheckedTx], time_ms: int, proposer: bytes) -> ExecutedBlock:
        """Build and execute the next block from ``candidates`` (in mempool order), dropping any that would
        make the block invalid."""
        ...

    def process_proposal(
        self,
        block: Block,
        verified: Container[bytes] = (),
        known: Sequence[CheckedTx | None] | None = None,
        *,
        tx_root_checked: bool = False,
    ) -> ExecutedBlock:
        """Check a proposed block by re-executing it; raise ``InvalidBlock`` if it is not valid. Signatures
        of transactions whose hashes are in ``verified`` (checked at admission) are not checked again.
        ``known``: per transaction, the admitted ``CheckedTx`` whose ``tx`` is that very object (a block
        rebuilt from batches), or None; for those the raw bytes and hash are reused and admission's checks not
        repeated. ``tx_root_checked``: the caller already checked the header's ``tx_root`` against the bytes
        the block was rebuilt from."""
        ...

    def finalize_block(self, block: Block) -> ExecutedBlock:
        """Return the execution result of a decided block."""
        ...

    def commit(self, executed: ExecutedBlock, certificate: Commit) -> ChainTip:
        """Persist the decided block and its results atomically; return the new tip."""
        ...

    def validator_set(self, height: int) -> ValidatorSet:
        """Return ``set(height)``, the set that signs the commit of block ``height``, read from committed state.

        Raises:
            UnknownHeight: ``height`` is not in ``1 .. tip + 2``.
        """
        ...

    def validator_entries(self) -> list[ValidatorUpdate]:
        """Return every validator-set entry in committed state, genesis (effective height 1) first, ascending."""
        ...

    def validator_changes(self, to_height: int) -> list[SetChange]:
        """Return the proven set changes a client follows from genesis to verify a header of ``to_height``: one
        ``SetChange`` per entry effective at ``3 <= e <= to_height``, ascending.

        Raises:
            UnknownHeight: ``to_height`` is not in ``1 .. tip + 1`` (the header of ``e - 1`` must be committed).
        """
        ...
