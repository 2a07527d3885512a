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
  them at start), and the proven set changes a light client follows from genesis.
- ``close()``: release what the application holds (its signature verifier's processes) once the node stopped.

What a block did that the shell must act on comes back as data with the executed block, ``executed.effects``
(``BlockEffects``): ``membership_changed`` (the node re-applies ``peer_membership()`` to its peer transport)
and ``validator_update`` (the driver feeds it to its validator schedule; effective two heights later).

Reads: ``query(QueryRequest)`` (path ``"state"``: a state value at a height, with its proof and the header
whose root it proves against), ``reader(height)`` (a ``CommittedView``: the read side of every module reads
committed state through it), ``params``, ``peer_membership()``. ``StageTimes`` is where both sides account the
time spent per pipeline stage; the node's assembly makes one and hands it to the application, the driver and
the API.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Container, Sequence
from typing import Protocol

import msgspec

from trellis.core.errors import InvalidTransaction, TrellisError
from trellis.core.execution.block import ChainTip, ExecutedBlock
from trellis.core.execution.context import StateReader
from trellis.core.ledger.block import Block, Commit, Header, ValidatorSet
from trellis.core.ledger.state_tree import StateProof
from trellis.core.ledger.tx import SignedTx
from trellis.core.lightclient import SetChange
from trellis.core.modules.membership.view import PeerMembership
from trellis.core.modules.validators.state import ValidatorUpdate
from trellis.core.params import ChainParams


class UnknownHeight(TrellisError):
    """A height the validator set is not known for (below 1, or beyond what the committed state decides)."""

    code = "unknown_height"


class NotFound(TrellisError):
    """A queried height, block or value that does not exist."""

    code = "not_found"


class Pruned(NotFound):
    """A queried height whose state or block this node no longer keeps (its retention policy pruned it, ADR 0018);
    the reason names the earliest height kept. The API answers 410."""

    code = "pruned"


class StageTimes:
    """Accumulated wall time and item counts per pipeline stage (thread-safe)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.items: dict[str, int] = {}
        self._lock = threading.Lock()

    def add(self, stage: str, seconds: float, items: int) -> None:
        """Account ``seconds`` spent on ``items`` transactions in ``stage``."""
        with self._lock:
            self.seconds[stage] = self.seconds.get(stage, 0.0) + seconds
            self.items[stage] = self.items.get(stage, 0) + items

    def stopwatch(self) -> Stopwatch:
        """A stopwatch that accounts consecutive stages of one call."""
        return Stopwatch(self)

    def snapshot(self) -> dict[str, dict[str, float]]:
        """Per stage: seconds and items so far."""
        with self._lock:
            return {k: {"seconds": v, "items": self.items.get(k, 0)} for k, v in self.seconds.items()}


class Stopwatch:
    """Times consecutive stages: each ``mark`` ends one stage and starts the next."""

    def __init__(self, times: StageTimes) -> None:
        self.times = times
        self.t = time.perf_counter()

    def mark(self, stage: str, items: int) -> None:
        now = time.perf_counter()
        self.times.add(stage, now - self.t, items)
        self.t = now


class CommittedView:
    """Committed state after block ``height``, and that block's height and time: the read side of every module
    reads through it (a ``StateReader``), and it is what ``trellis.vc.verifier`` reads (a ``ChainView``).

    Args:
        state: the committed state.
        height: the block the state is after (0: genesis).
        time_ms: that block's time (the genesis time at 0).
    """

    __slots__ = ("_state", "height", "time_ms")

    def __init__(self, state: StateReader, height: int, time_ms: int) -> None:
        self._state = state
        self.height = height
        self.time_ms = time_ms

    def get(self, key: bytes) -> bytes | None:
        """Return the committed value at ``key``, or None."""
        return self._state.get(key)

    def scan(self, start: bytes, end: bytes, limit: int) -> list[tuple[bytes, bytes]]:
        """Return up to ``limit`` committed (key, value) pairs with ``start <= key < end``, in key order."""
        return self._state.scan(start, end, limit)


QUERY_OK = 0
"""``QueryResponse.code``: the query was answered."""
QUERY_UNKNOWN_PATH = 1
"""``QueryResponse.code``: the application answers no query at this path (nothing else is set)."""


class QueryRequest(msgspec.Struct, frozen=True):
    """A query of committed state.

    Attributes:
        path: what is asked; ``"state"``: the value of the state key ``key``.
        key: the state key.
        height: the block after which (default: the latest committed block).
        prove: also return a proof of the value (or of its absence) and the header whose ``state_root`` it is
            checked against (``verify_state_proof``).
    """

    path: str
    key: bytes = b""
    height: int | None = None
    prove: bool = False


class QueryResponse(msgspec.Struct, frozen=True):
    """The answer to a ``QueryRequest``.

    Attributes:
        code: ``QUERY_OK`` or ``QUERY_UNKNOWN_PATH``.
        value: the value (None: the key has none).
        height: the block the answer is after.
        proof: with ``prove``: the state proof of ``value`` against ``header.state_root``.
        header: with ``prove``: the header of block ``height``.
    """

    code: int
    value: bytes | None
    height: int
    proof: StateProof | None = None
    header: Header | None = None


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
    """What consensus, and the node's API, may ask of the application."""

    params: ChainParams
    """The chain parameters (from genesis)."""

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

    def account_nonces(self, addresses: Sequence[bytes]) -> list[int]:
        """``account_nonce`` of each address, in order (the mempool reads a batch's senders together)."""
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

    def query(self, req: QueryRequest) -> QueryResponse:
        """Answer a query of committed state (path ``"state"``: ``req.key`` after block ``req.height``).

        Raises:
            NotFound: no block at that height yet (a proof needs one: height 1 or more), or its state is not
                retained.
        """
        ...

    def reader(self, height: int | None = None) -> CommittedView:
        """Return committed state after block ``height`` (default: the latest), with that block's height and time.

        Raises:
            NotFound: the height is not committed, or its state is not retained.
        """
        ...

    def peer_membership(self) -> PeerMembership | None:
        """Return the committed membership as the peer transport applies it (member CAs, revoked serials), or
        None on a chain without member organisations."""
        ...

    def close(self) -> None:
        """Release what the application holds (the node has stopped calling it). Calling it again does nothing."""
        ...
