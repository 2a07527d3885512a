"""The reference executor: a block's transactions applied to state one at a time, each through its module
handler (``apply_block_reference``), and what every executor shares — the block's environment and output, the
per-transaction run (``BlockRun``: rules, nonce, gas, handler, receipt), the guarded state reader, the write
layers and genesis.

Execution is a pure function of the prior state, the transactions and the env. ``fast_path.apply_block`` runs
plain transfers at block level and is tested equal to this reference (``tests/property/test_apply_fast_path.py``).
"""

from __future__ import annotations

import heapq
from bisect import bisect_left, insort
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from trellis.core.codec import decode, encode
from trellis.core.crypto.suite import Suite, address_of
from trellis.core.execution.context import StateReader, TxContext
from trellis.core.execution.module import BlockContext
from trellis.core.execution.results import ResultCode, TxFailure
from trellis.core.execution.rules import Stage, TxRules
from trellis.core.ledger.block import Receipt, ValidatorSet
from trellis.core.ledger.tx import SignedTx, TxBody, tx_hash
from trellis.core.modules.accounts.state import Account, account_key
from trellis.core.modules.contracts.engine import ContractEngine, declared_gas
from trellis.core.modules.contracts.state import CONTRACT_STORE_PREFIX
from trellis.core.modules.custody.state import SCANNED_PREFIXES as CUSTODY_SCANNED
from trellis.core.modules.hub.state import genesis_hub_writes
from trellis.core.modules.interchain.state import SCANNED_PREFIXES as INTERCHAIN_SCANNED
from trellis.core.modules.membership.state import MEMBERSHIP_KEY
from trellis.core.modules.membership.view import genesis_membership
from trellis.core.modules.registry import BLOCK_HOOKS, HANDLERS
from trellis.core.modules.validators.state import ValidatorUpdate, genesis_validator_writes, sets_for_block, update_of
from trellis.core.params import ChainParams
from trellis.core.types import ZERO_HASH


@dataclass(frozen=True)
class BlockEnv:
    """What a block's execution may depend on besides state and transactions.

    Attributes:
        params: the chain parameters.
        height: the block's height.
        time_ms: the block's time.
        contracts: the engine that runs contract code (None: contract transactions fail).
        validators: the validator set of this block's height, ``set(height)`` (None: read from the state
            before the block with ``sets_for_block``, when needed).
        parent_id: the previous block's id (32 zero bytes before block 1): the modules' ``begin_block`` hooks
            derive on-chain randomness from it (custody's challenge seed).
    """

    params: ChainParams
    height: int
    time_ms: int
    contracts: ContractEngine | None = None
    validators: ValidatorSet | None = None
    parent_id: bytes = ZERO_HASH


@dataclass(frozen=True)
class BlockOutput:
    """Result of executing a block.

    Attributes:
        receipts: one per transaction, in order.
        writes: state key -> new value (None: deleted), the net effect of the block.
        tx_hashes: each transaction's hash, in order.
        senders: each transaction's sender address, in order.
        validator_update: the validator set this block scheduled (its entry ``height + 2``), or None when the
            block changed no validator; the shell acts on it after commit.
    """

    receipts: list[Receipt]
    writes: dict[bytes, bytes | None]
    tx_hashes: list[bytes]
    senders: list[bytes]
    validator_update: ValidatorUpdate | None = None


def senders_of(suite: Suite, txs: Sequence[SignedTx], sender_addresses: Sequence[bytes] | None) -> Sequence[bytes]:
    """The senders' addresses: the caller's, else derived (``address_of`` remembers recent keys)."""
    if sender_addresses is not None:
        return sender_addresses
    return [address_of(suite, tx.body.sender) for tx in txs]


def failure_receipt(h: bytes, fail: TxFailure, gas_used: int) -> Receipt:
    """The receipt of a transaction whose handler failed as it may (``TxFailure``)."""
    return Receipt(tx_hash=h, code=int(fail.code), message=fail.message[:512], events=[], gas_used=gas_used)


def handler_error_receipt(h: bytes, payload: object, exc: Exception, gas_used: int) -> Receipt:
    """The receipt of a transaction whose handler raised what it should not (``ResultCode.HANDLER_ERROR``)."""
    module = type(payload).__name__
    return Receipt(
        tx_hash=h,
        code=int(ResultCode.HANDLER_ERROR),
        message=f"the {module} handler failed on this transaction ({type(exc).__name__})",
        events=[],
        gas_used=gas_used,
    )


def apply_block_reference(
    state: StateReader,
    txs: Sequence[SignedTx],
    tx_bytes: Sequence[bytes],
    env: BlockEnv,
    tx_hashes: Sequence[bytes] | None = None,
    sender_addresses: Sequence[bytes] | None = None,
) -> BlockOutput:
    """``apply_block`` with every transaction through its module handler, one at a time: the reference the
    block-level transfer path (``fast_path.apply_block``) is tested against. Same arguments, result and errors.

    Raises:
        InvalidBlock: a transaction breaks a rule of ``TxRules`` (``wrong_chain_id``, ``bad_nonce``,
            ``too_much_gas``; ``MembershipRefusal`` when the membership refuses its sender).
        StateUnavailable: reading the state failed.
    """
    suite = env.params.suite
    run = BlockRun(GuardedState(state), env)
    run.begin_block()
    tx_senders = senders_of(suite, txs, sender_addresses)
    for i, tx in enumerate(txs):
        sender = tx_senders[i]
        h = tx_hash(suite, tx_bytes[i]) if tx_hashes is None else tx_hashes[i]
        run.run_tx(i, tx.body, sender, h)
    return BlockOutput(
        receipts=run.receipts,
        writes=run.writes,
        tx_hashes=run.hashes,
        senders=run.senders,
        validator_update=update_of(run.writes, env.height),
    )


class BlockRun:
    """A block's execution state for the per-transaction path: the writes so far, the results, the gas, and the
    rules every transaction is checked against (``TxRules`` at ``Stage.EXECUTION``)."""

    def __init__(self, state: GuardedState, env: BlockEnv) -> None:
        self.state = state
        self.env = env
        self.writes: dict[bytes, bytes | None] = {}
        self.receipts: list[Receipt] = []
        self.hashes: list[bytes] = []
        self.senders: list[bytes] = []
        self.block_layer = Layer(self.writes)
        self.gas_price = env.params.genesis.contracts.gas_price
        self.block_gas = 0
        """The gas the transactions run so far declare."""
        validators: frozenset[bytes] = frozenset()
        if env.params.genesis.membership.enforce:
            # The validators of this block's height may report equivocation without a certificate.
            valset = env.validators if env.validators is not None else sets_for_block(state, env.height)[0]
            suite = env.params.suite
            validators = frozenset(address_of(suite, v.public_key) for v in valset.validators)
        self.rules = TxRules(env.params, state, env.time_ms, validators)

    def begin_block(self) -> None:
        """Run the modules' ``begin_block`` hooks (``BLOCK_HOOKS``) on the block's state, before any transaction."""
        if not BLOCK_HOOKS:
            return
        env = self.env
        ctx = BlockContext(env.params, env.height, env.time_ms, env.parent_id, _BlockView(self), self.block_layer.put)
        for hook in BLOCK_HOOKS:
            hook(ctx)

    def check(self, i: int, body: TxBody, sender: bytes, h: bytes, nonce: int) -> None:
        """Check transaction ``i`` (hash ``h``) against the rules before it runs, ``nonce`` being its sender's
        next nonce as the block has left it so far.

        Raises:
            InvalidBlock: the refusal (``Refusal.invalid_block``): ``wrong_chain_id``, ``bad_nonce``,
                ``too_much_gas``, or a ``MembershipRefusal``.
        """
        refusal = self.rules.check(Stage.EXECUTION, body, sender, expected_nonce=nonce, block_gas=self.block_gas)
        if refusal is not None:
            raise refusal.invalid_block(i, h)

    def block_get(self, key: bytes) -> bytes | None:
        """The value at ``key`` as the block's transactions so far have left it."""
        writes = self.writes
        if key in writes:
            return writes[key]
        return self.state.get(key)

    def run_tx(self, i: int, body: TxBody, sender: bytes, h: bytes) -> None:
        """Run transaction ``i`` (hash ``h``) through its module handler: rules (``check``), nonce, gas reservation,
        handler, receipt, fee.

        Raises:
            InvalidBlock: see ``check``.
        """
        env = self.env
        state = self.state
        writes = self.writes
        block_layer = self.block_layer
        block_get = self.block_get
        gas_price = self.gas_price
        akey = account_key(sender)
        raw = block_get(akey)
        acct = Account(balance=0, nonce=0) if raw is None else decode(raw, Account)
        self.check(i, body, sender, h, acct.nonce)
        writes[akey] = encode(Account(balance=acct.balance, nonce=acct.nonce + 1))
        self.hashes.append(h)
        self.senders.append(sender)
        gas_limit = declared_gas(body.payload)
        if gas_limit:
            self.block_gas += gas_limit
            if gas_limit * gas_price > acct.balance:
                self.receipts.append(
                    Receipt(
                        tx_hash=h,
                        code=int(ResultCode.INSUFFICIENT_FUNDS),
                        message=f"balance {acct.balance} cannot pay for {gas_limit} gas at price {gas_price}",
                        events=[],
                    )
                )
                return

        tx_layer = Layer()
        tx_writes = tx_layer.values

        def get(key: bytes) -> bytes | None:
            if key in tx_writes:
                return tx_writes[key]
            return block_get(key)

        def scan(start: bytes, end: bytes, limit: int) -> tuple[list[tuple[bytes, bytes]], int]:
            return merged_scan(state, (block_layer, tx_layer), start, end, limit)

        ctx = TxContext(
            sender,
            env.params,
            env.height,
            get,
            tx_layer.put,
            nonce=body.nonce,
            time_ms=env.time_ms,
            scan=scan,
            engine=env.contracts,
            sender_key=body.sender,
        )
        try:
            events = HANDLERS[type(body.payload)](ctx, body.payload)
        except TxFailure as fail:
            receipt = failure_receipt(h, fail, ctx.gas_used)
        except (StateUnavailable, MemoryError, RecursionError):
            raise  # this node's own trouble, not the transaction's: stop rather than record a receipt
        except Exception as exc:  # a handler bug that input found: see ResultCode.HANDLER_ERROR
            receipt = handler_error_receipt(h, body.payload, exc, ctx.gas_used)
        else:
            block_layer.merge(tx_layer)
            receipt = Receipt(
                tx_hash=h,
                code=int(ResultCode.OK),
                message="",
                events=events,
                gas_used=ctx.gas_used,
                data=ctx.return_data,
            )
        if gas_limit and gas_price:
            # The reservation check above guarantees the balance covers the fee: contracts cannot spend it.
            paying = decode(writes[akey] or b"", Account)
            fee = min(ctx.gas_used * gas_price, paying.balance)
            writes[akey] = encode(Account(balance=paying.balance - fee, nonce=paying.nonce))
        self.receipts.append(receipt)


class _BlockView:
    """The state as a block's run has left it so far (a ``StateReader``): what ``begin_block`` hooks read."""

    __slots__ = ("_run",)

    def __init__(self, run: BlockRun) -> None:
        self._run = run

    def get(self, key: bytes) -> bytes | None:
        return self._run.block_get(key)

    def scan(self, start: bytes, end: bytes, limit: int) -> list[tuple[bytes, bytes]]:
        return merged_scan(self._run.state, (self._run.block_layer,), start, end, limit)[0]


class StateUnavailable(Exception):
    """Reading the state failed (a storage error of this node). Never turned into a receipt."""


class GuardedState:
    """The state reader, with its failures marked as ``StateUnavailable`` so they are told apart from handler
    bugs (which fail only the transaction)."""

    __slots__ = ("_state",)

    def __init__(self, state: StateReader) -> None:
        self._state = state

    def get(self, key: bytes) -> bytes | None:
        try:
            return self._state.get(key)
        except Exception as exc:
            raise StateUnavailable(f"reading state key {key[:40]!r} failed: {exc}") from exc

    def get_many(self, keys: Sequence[bytes]) -> list[bytes | None]:
        """``get`` of each key, in order: in one call when the reader has ``get_many`` (a store reads them in
        one storage transaction), else one by one."""
        many: Callable[[Sequence[bytes]], list[bytes | None]] | None = getattr(self._state, "get_many", None)
        if many is None:
            return [self.get(k) for k in keys]
        try:
            return many(keys)
        except Exception as exc:
            raise StateUnavailable(f"reading {len(keys)} state keys failed: {exc}") from exc

    def scan(self, start: bytes, end: bytes, limit: int) -> list[tuple[bytes, bytes]]:
        try:
            return self._state.scan(start, end, limit)
        except Exception as exc:
            raise StateUnavailable(f"scanning state from {start[:40]!r} failed: {exc}") from exc


SCANNED_PREFIXES: tuple[bytes, ...] = (CONTRACT_STORE_PREFIX, *INTERCHAIN_SCANNED, *CUSTODY_SCANNED)
"""The key prefixes handlers scan inside a block: contract storage, the interchain module's client and
consensus states, and the custody hook's due and gc indexes. Writes under them are indexed in each ``Layer`` so a
scan sees them."""


class Layer:
    """Writes over the state (a block's, or one transaction's), with the scannable keys kept sorted.

    Only keys under ``SCANNED_PREFIXES`` can be scanned, so only they are indexed; the index makes a scan cost
    O(log n + what it returns + the deletions it passes over), never a walk over every write.
    """

    __slots__ = ("keys", "values")

    def __init__(self, values: dict[bytes, bytes | None] | None = None) -> None:
        self.values: dict[bytes, bytes | None] = {} if values is None else values
        self.keys: list[bytes] = sorted(k for k in self.values if k.startswith(SCANNED_PREFIXES))

    def put(self, key: bytes, value: bytes | None) -> None:
        """Write (None: delete) ``key``."""
        if key not in self.values and key.startswith(SCANNED_PREFIXES):
            insort(self.keys, key)
        self.values[key] = value

    def merge(self, other: Layer) -> None:
        """Apply ``other``'s writes on top of these."""
        for key in other.keys:
            if key not in self.values:
                insort(self.keys, key)
        self.values.update(other.values)

    def keys_in(self, start: bytes, end: bytes) -> list[bytes]:
        """The indexed keys with ``start <= key < end``, in order."""
        return self.keys[bisect_left(self.keys, start) : bisect_left(self.keys, end)]


def merged_scan(
    state: StateReader, layers: tuple[Layer, ...], start: bytes, end: bytes, limit: int
) -> tuple[list[tuple[bytes, bytes]], int]:
    """Scan ``[start, end)`` of ``state`` as changed by ``layers`` (later ones win; None deletes).

    Returns the first ``limit`` entries and the number of deletions passed over (work the caller charges for).
    """
    if limit <= 0 or start >= end:
        return [], 0
    changed: dict[bytes, bytes | None] = {}
    found = deleted = 0
    for key in heapq.merge(*(layer.keys_in(start, end) for layer in layers)):
        if key in changed:
            continue
        value = next(layer.values[key] for layer in reversed(layers) if key in layer.values)
        changed[key] = value
        if value is None:
            deleted += 1
        else:
            found += 1
            if found == limit:
                break  # the first `limit` results are all at or below this key
    # Each deletion can hide at most one stored row, so this many stored rows always suffice.
    rows: dict[bytes, bytes | None] = dict(state.scan(start, end, limit + deleted))
    rows.update(changed)
    return [(k, v) for k, v in sorted(rows.items()) if v is not None][:limit], deleted


def genesis_writes(params: ChainParams) -> dict[bytes, bytes | None]:
    """Return the state writes of genesis: the funded accounts, the validator set (entry 1 and its meta), when
    genesis names orgs the membership, and the hub's registered sub-chains or a sub-chain's trusted hub."""
    out: dict[bytes, bytes | None] = {}
    out.update(genesis_validator_writes(params))
    for acct in params.genesis.accounts:
        out[account_key(bytes.fromhex(acct.address))] = encode(Account(balance=acct.balance, nonce=0))
    if params.member_cas:
        out[MEMBERSHIP_KEY] = encode(genesis_membership(params.member_cas, params.genesis.membership.admin_threshold))
    out.update(genesis_hub_writes(params))
    return out
