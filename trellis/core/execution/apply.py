"""Apply a block's transactions to state: a pure function of the prior state, the transactions and the env."""

from __future__ import annotations

import heapq
from bisect import bisect_left, insort
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from trellis.core.codec import decode, encode
from trellis.core.crypto.suite import Suite, address_of
from trellis.core.errors import InvalidBlock
from trellis.core.execution.context import TxContext
from trellis.core.execution.results import ResultCode, TxFailure
from trellis.core.ledger.block import Receipt, ValidatorSet
from trellis.core.ledger.tx import SignedTx, TxBody, tx_hash
from trellis.core.modules.accounts.handlers import (
    amount_not_positive,
    credit_overflow,
    insufficient_funds,
    transfer_event,
)
from trellis.core.modules.accounts.messages import Transfer
from trellis.core.modules.accounts.state import Account, account_key
from trellis.core.modules.contracts.engine import ContractEngine, declared_gas
from trellis.core.modules.contracts.state import CONTRACT_STORE_PREFIX
from trellis.core.modules.membership.state import MEMBERSHIP_KEY
from trellis.core.modules.membership.view import (
    CertificateRefused,
    MembershipRefusal,
    MembershipView,
    genesis_membership,
)
from trellis.core.modules.registry import HANDLERS
from trellis.core.modules.validators.state import ValidatorUpdate, genesis_validator_writes, sets_for_block, update_of
from trellis.core.params import ChainParams
from trellis.core.types import U64_MAX


class StateReader(Protocol):
    """Read access to the state as of the end of the previous block."""

    def get(self, key: bytes) -> bytes | None:
        """Return the value at ``key``, or None."""
        ...

    def scan(self, start: bytes, end: bytes, limit: int) -> list[tuple[bytes, bytes]]:
        """Return up to ``limit`` (key, value) pairs with ``start <= key < end``, in key order."""
        ...


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
    """

    params: ChainParams
    height: int
    time_ms: int
    contracts: ContractEngine | None = None
    validators: ValidatorSet | None = None


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


def apply_block(
    state: StateReader,
    txs: Sequence[SignedTx],
    tx_bytes: Sequence[bytes],
    env: BlockEnv,
    tx_hashes: Sequence[bytes] | None = None,
    sender_addresses: Sequence[bytes] | None = None,
) -> BlockOutput:
    """Execute ``txs`` in order against ``state``.

    Signatures are not checked here: the caller verifies them in batches before (``signature_item``).
    Each transaction must carry the chain id and its sender's next nonce; a failing handler yields a receipt
    with a non-zero code, discards that transaction's writes and still advances the sender's nonce.

    Args:
        state: the state after the parent block.
        txs: the decoded transactions.
        tx_bytes: their canonical encodings (for hashing), same order.
        env: chain parameters, height and time.
        tx_hashes: the transactions' hashes if the caller already has them (admission computed them); else
            computed here from ``tx_bytes``.
        sender_addresses: the senders' addresses if the caller already has them; else derived here.

    Plain transfers run through a block-level path: each account they touch is decoded once per block, kept
    as integers while the block runs, and encoded once at the end (or before the next transaction of another
    kind, which then sees the state exactly as the per-transaction path would have left it). The result —
    receipts, writes (in the same order), hashes, senders, errors — is the same as running every transaction
    through its module handler one at a time (``_apply_generic``, the reference).

    Under ``membership.enforce`` every sender must hold a certificate valid at the block's time in the state
    before the block (``MembershipView``), except for ``membership.register_cert``.

    Raises:
        InvalidBlock: ``wrong_chain_id`` or ``bad_nonce`` — a block with such a transaction is invalid;
            ``MembershipRefusal`` (an ``InvalidBlock``) when the membership refuses a sender.
    """
    suite = env.params.suite
    run = _BlockRun(_GuardedState(state), env)
    guarded = run.state
    writes = run.writes
    receipts = run.receipts
    hashes = run.hashes
    senders = run.senders
    tx_senders = _senders_of(suite, txs, sender_addresses)
    live: dict[bytes, _LiveAccount] = {}  # address -> account as the block has left it so far

    # The accounts plain transfers touch, as the state holds them before the block: read in one batch (one
    # storage read instead of one per account); what the block itself writes is always looked up first.
    before: dict[bytes, bytes | None] = {}
    transfer_keys: set[bytes] = set()
    for tx, sender in zip(txs, tx_senders, strict=False):
        payload = tx.body.payload
        if type(payload) is Transfer:
            transfer_keys.add(account_key(sender))
            transfer_keys.add(account_key(payload.to))
    if transfer_keys:
        ordered = sorted(transfer_keys)
        before = dict(zip(ordered, guarded.get_many(ordered), strict=True))

    def load(address: bytes) -> _LiveAccount:
        key = account_key(address)
        if key in writes:
            raw = writes[key]
        elif key in before:
            raw = before[key]
        else:
            raw = guarded.get(key)
        acct = _LiveAccount(key, 0, 0) if raw is None else _LiveAccount.of(key, decode(raw, Account))
        live[address] = acct
        return acct

    for i, tx in enumerate(txs):
        body = tx.body
        sender = tx_senders[i]
        h = tx_hash(suite, tx_bytes[i]) if tx_hashes is None else tx_hashes[i]
        run.admit(i, body, sender, h)
        payload = body.payload
        if type(payload) is not Transfer:
            if live:
                _flush(live, writes)  # the generic path reads accounts from ``writes``
            run.run_tx(i, body, sender, h)
            continue
        # A plain transfer: what ``run_tx`` + ``handle_transfer`` do, on integers.
        src = live.get(sender)
        if src is None:
            src = load(sender)
        nonce = src.nonce
        if body.nonce != nonce:
            raise InvalidBlock(
                "bad_nonce", f"transaction {i} has nonce {body.nonce}; the sender's next nonce is {nonce}"
            )
        src.nonce = nonce + 1
        if not src.written:
            src.written = True
            writes[src.key] = None  # holds the key's place in ``writes``' order; ``_flush`` fills it in
        hashes.append(h)
        senders.append(sender)
        amount = payload.amount
        balance = src.balance
        if amount == 0 or balance < amount:
            receipts.append(
                _failure_receipt(h, amount_not_positive() if amount == 0 else insufficient_funds(balance, amount), 0)
            )
            continue
        to = payload.to
        dst = live.get(to)
        if dst is None:
            try:
                dst = load(to)
            except (StateUnavailable, MemoryError, RecursionError):
                raise
            except Exception as exc:  # as ``run_tx`` records a handler that fails reading the recipient
                receipts.append(_handler_error_receipt(h, payload, exc, 0))
                continue
        if dst is src:  # a transfer to oneself: the debit and the credit cancel (and cannot overflow)
            credited = balance
        else:
            credited = dst.balance + amount
            if credited > U64_MAX:
                receipts.append(_failure_receipt(h, credit_overflow(), 0))
                continue
        src.balance = balance - amount
        dst.balance = credited
        if not dst.written:
            dst.written = True
            writes[dst.key] = None
        receipts.append(Receipt(tx_hash=h, code=0, message="", events=[transfer_event(sender, to, amount)]))
    if live:
        _flush(live, writes)
    return BlockOutput(
        receipts=receipts,
        writes=writes,
        tx_hashes=hashes,
        senders=senders,
        validator_update=update_of(writes, env.height),
    )


class _LiveAccount:
    """An account while a block runs: its state key, balance and nonce, and whether it is in the block's writes."""

    __slots__ = ("balance", "key", "nonce", "written")

    def __init__(self, key: bytes, balance: int, nonce: int) -> None:
        self.key = key
        self.balance = balance
        self.nonce = nonce
        self.written = False

    @classmethod
    def of(cls, key: bytes, acct: Account) -> _LiveAccount:
        return cls(key, acct.balance, acct.nonce)


def _senders_of(suite: Suite, txs: Sequence[SignedTx], sender_addresses: Sequence[bytes] | None) -> Sequence[bytes]:
    """The senders' addresses: the caller's, else derived (``address_of`` remembers recent keys)."""
    if sender_addresses is not None:
        return sender_addresses
    return [address_of(suite, tx.body.sender) for tx in txs]


def _flush(live: dict[bytes, _LiveAccount], writes: dict[bytes, bytes | None]) -> None:
    """Encode the written accounts of ``live`` into ``writes`` (in place: their keys are already there) and
    forget them all, so that what comes next reads ``writes``."""
    for acct in live.values():
        if acct.written:
            writes[acct.key] = encode(Account(balance=acct.balance, nonce=acct.nonce))
    live.clear()


def _failure_receipt(h: bytes, fail: TxFailure, gas_used: int) -> Receipt:
    return Receipt(tx_hash=h, code=int(fail.code), message=fail.message[:512], events=[], gas_used=gas_used)


def _handler_error_receipt(h: bytes, payload: object, exc: Exception, gas_used: int) -> Receipt:
    module = type(payload).__name__
    return Receipt(
        tx_hash=h,
        code=int(ResultCode.HANDLER_ERROR),
        message=f"the {module} handler failed on this transaction ({type(exc).__name__})",
        events=[],
        gas_used=gas_used,
    )


def _apply_generic(
    state: StateReader,
    txs: Sequence[SignedTx],
    tx_bytes: Sequence[bytes],
    env: BlockEnv,
    tx_hashes: Sequence[bytes] | None = None,
    sender_addresses: Sequence[bytes] | None = None,
) -> BlockOutput:
    """``apply_block`` with every transaction through its module handler, one at a time: the reference the
    block-level transfer path is tested against."""
    suite = env.params.suite
    run = _BlockRun(_GuardedState(state), env)
    tx_senders = _senders_of(suite, txs, sender_addresses)
    for i, tx in enumerate(txs):
        sender = tx_senders[i]
        h = tx_hash(suite, tx_bytes[i]) if tx_hashes is None else tx_hashes[i]
        run.admit(i, tx.body, sender, h)
        run.run_tx(i, tx.body, sender, h)
    return BlockOutput(
        receipts=run.receipts,
        writes=run.writes,
        tx_hashes=run.hashes,
        senders=run.senders,
        validator_update=update_of(run.writes, env.height),
    )


class _BlockRun:
    """A block's execution state for the per-transaction path: the writes so far, the results, the gas."""

    def __init__(self, state: _GuardedState, env: BlockEnv) -> None:
        self.state = state
        self.env = env
        self.writes: dict[bytes, bytes | None] = {}
        self.receipts: list[Receipt] = []
        self.hashes: list[bytes] = []
        self.senders: list[bytes] = []
        self.block_layer = _Layer(self.writes)
        self.gas_price = env.params.genesis.contracts.gas_price
        self.max_block_gas = env.params.genesis.contracts.max_block_gas
        self.block_gas = 0
        self.members: MembershipView | None = None
        if env.params.genesis.membership.enforce:
            # The validators of this block's height may report equivocation without a certificate.
            valset = env.validators if env.validators is not None else sets_for_block(state.get, env.height)[0]
            suite = env.params.suite
            validators = frozenset(address_of(suite, v.public_key) for v in valset.validators)
            self.members = MembershipView(state.get, env.time_ms, validators)

    def admit(self, i: int, body: TxBody, sender: bytes, h: bytes) -> None:
        """The checks transaction ``i`` passes before it runs, whatever its kind: the chain id and, under
        ``membership.enforce``, the sender's certificate.

        Raises:
            InvalidBlock: ``wrong_chain_id``; ``MembershipRefusal`` when the membership refuses the sender.
        """
        if body.chain_id != self.env.params.chain_id:
            raise InvalidBlock("wrong_chain_id", f"transaction {i} is for chain {body.chain_id!r}")
        if self.members is not None:
            try:
                self.members.check_sender(sender, body.payload)
            except CertificateRefused as exc:
                raise MembershipRefusal(exc.code, exc.reason, i, h) from exc

    def block_get(self, key: bytes) -> bytes | None:
        """The value at ``key`` as the block's transactions so far have left it."""
        writes = self.writes
        if key in writes:
            return writes[key]
        return self.state.get(key)

    def run_tx(self, i: int, body: TxBody, sender: bytes, h: bytes) -> None:
        """Run transaction ``i`` (hash ``h``) through its module handler: nonce, gas, handler, receipt.

        Raises:
            InvalidBlock: ``bad_nonce`` or ``too_much_gas``.
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
        if body.nonce != acct.nonce:
            raise InvalidBlock(
                "bad_nonce",
                f"transaction {i} has nonce {body.nonce}; the sender's next nonce is {acct.nonce}",
            )
        writes[akey] = encode(Account(balance=acct.balance, nonce=acct.nonce + 1))
        self.hashes.append(h)
        self.senders.append(sender)
        gas_limit = declared_gas(body.payload)
        if gas_limit:
            self.block_gas += gas_limit
            if self.block_gas > self.max_block_gas:
                raise InvalidBlock(
                    "too_much_gas", f"the block's transactions declare more than {self.max_block_gas} gas"
                )
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

        tx_layer = _Layer()
        tx_writes = tx_layer.values

        def get(key: bytes) -> bytes | None:
            if key in tx_writes:
                return tx_writes[key]
            return block_get(key)

        def scan(start: bytes, end: bytes, limit: int) -> tuple[list[tuple[bytes, bytes]], int]:
            return _merged_scan(state, (block_layer, tx_layer), start, end, limit)

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
            receipt = _failure_receipt(h, fail, ctx.gas_used)
        except (StateUnavailable, MemoryError, RecursionError):
            raise  # this node's own trouble, not the transaction's: stop rather than record a receipt
        except Exception as exc:  # a handler bug that input found: see ResultCode.HANDLER_ERROR
            receipt = _handler_error_receipt(h, body.payload, exc, ctx.gas_used)
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


class StateUnavailable(Exception):
    """Reading the state failed (a storage error of this node). Never turned into a receipt."""


class _GuardedState:
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


class _Layer:
    """Writes over the state (a block's, or one transaction's), with the scannable keys kept sorted.

    Only contract-storage keys can be scanned, so only they are indexed; the index makes a scan cost
    O(log n + what it returns + the deletions it passes over), never a walk over every write.
    """

    __slots__ = ("keys", "values")

    def __init__(self, values: dict[bytes, bytes | None] | None = None) -> None:
        self.values: dict[bytes, bytes | None] = {} if values is None else values
        self.keys: list[bytes] = sorted(k for k in self.values if k.startswith(CONTRACT_STORE_PREFIX))

    def put(self, key: bytes, value: bytes | None) -> None:
        """Write (None: delete) ``key``."""
        if key not in self.values and key.startswith(CONTRACT_STORE_PREFIX):
            insort(self.keys, key)
        self.values[key] = value

    def merge(self, other: _Layer) -> None:
        """Apply ``other``'s writes on top of these."""
        for key in other.keys:
            if key not in self.values:
                insort(self.keys, key)
        self.values.update(other.values)

    def keys_in(self, start: bytes, end: bytes) -> list[bytes]:
        """The indexed keys with ``start <= key < end``, in order."""
        return self.keys[bisect_left(self.keys, start) : bisect_left(self.keys, end)]


def _merged_scan(
    state: StateReader, layers: tuple[_Layer, ...], start: bytes, end: bytes, limit: int
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
    """Return the state writes of genesis: the funded accounts, the validator set (entry 1 and its meta) and,
    when genesis names orgs, the membership."""
    out: dict[bytes, bytes | None] = {}
    out.update(genesis_validator_writes(params))
    for acct in params.genesis.accounts:
        out[account_key(bytes.fromhex(acct.address))] = encode(Account(balance=acct.balance, nonce=0))
    if params.member_cas:
        out[MEMBERSHIP_KEY] = encode(genesis_membership(params.member_cas, params.genesis.membership.admin_threshold))
    return out
