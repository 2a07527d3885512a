"""Apply a block's transactions to state: a pure function of the prior state, the transactions and the env."""

from __future__ import annotations

import heapq
from bisect import bisect_left, insort
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from trellis.core.codec import decode, encode
from trellis.core.crypto.suite import address_of
from trellis.core.errors import InvalidBlock
from trellis.core.execution.contracts import ContractEngine, declared_gas
from trellis.core.execution.membership import CertificateRefused, MembershipRefusal, MembershipView, genesis_membership
from trellis.core.execution.modules import HANDLERS, TxContext
from trellis.core.execution.results import ResultCode, TxFailure
from trellis.core.execution.state_keys import CONTRACT_STORE_PREFIX, MEMBERSHIP_KEY, Account, account_key
from trellis.core.ledger.block import Receipt
from trellis.core.ledger.tx import SignedTx, tx_hash
from trellis.core.params import ChainParams, validator_addresses


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
    """

    params: ChainParams
    height: int
    time_ms: int
    contracts: ContractEngine | None = None


@dataclass(frozen=True)
class BlockOutput:
    """Result of executing a block.

    Attributes:
        receipts: one per transaction, in order.
        writes: state key -> new value (None: deleted), the net effect of the block.
        tx_hashes: each transaction's hash, in order.
        senders: each transaction's sender address, in order.
    """

    receipts: list[Receipt]
    writes: dict[bytes, bytes | None]
    tx_hashes: list[bytes]
    senders: list[bytes]


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

    Under ``membership.enforce`` every sender must hold a certificate valid at the block's time in the state
    before the block (``MembershipView``), except for ``membership.register_cert``.

    Raises:
        InvalidBlock: ``wrong_chain_id`` or ``bad_nonce`` — a block with such a transaction is invalid;
            ``MembershipRefusal`` (an ``InvalidBlock``) when the membership refuses a sender.
    """
    suite = env.params.suite
    chain_id = env.params.chain_id
    state = _GuardedState(state)
    writes: dict[bytes, bytes | None] = {}
    receipts: list[Receipt] = []
    hashes: list[bytes] = []
    senders: list[bytes] = []

    def block_get(key: bytes) -> bytes | None:
        if key in writes:
            return writes[key]
        return state.get(key)

    block_layer = _Layer(writes)
    gas_price = env.params.genesis.contracts.gas_price
    max_block_gas = env.params.genesis.contracts.max_block_gas
    block_gas = 0
    members = None
    if env.params.genesis.membership.enforce:
        members = MembershipView(state.get, env.time_ms, frozenset(validator_addresses(env.params)))
    for i, tx in enumerate(txs):
        body = tx.body
        if body.chain_id != chain_id:
            raise InvalidBlock("wrong_chain_id", f"transaction {i} is for chain {body.chain_id!r}")
        sender = address_of(suite, body.sender) if sender_addresses is None else sender_addresses[i]
        h = tx_hash(suite, tx_bytes[i]) if tx_hashes is None else tx_hashes[i]
        if members is not None:
            try:
                members.check_sender(sender, body.payload)
            except CertificateRefused as exc:
                raise MembershipRefusal(exc.code, exc.reason, i, h) from exc
        akey = account_key(sender)
        raw = block_get(akey)
        acct = Account(balance=0, nonce=0) if raw is None else decode(raw, Account)
        if body.nonce != acct.nonce:
            raise InvalidBlock(
                "bad_nonce",
                f"transaction {i} has nonce {body.nonce}; the sender's next nonce is {acct.nonce}",
            )
        writes[akey] = encode(Account(balance=acct.balance, nonce=acct.nonce + 1))
        hashes.append(h)
        senders.append(sender)
        gas_limit = declared_gas(body.payload)
        if gas_limit:
            block_gas += gas_limit
            if block_gas > max_block_gas:
                raise InvalidBlock("too_much_gas", f"the block's transactions declare more than {max_block_gas} gas")
            if gas_limit * gas_price > acct.balance:
                receipts.append(
                    Receipt(
                        tx_hash=h,
                        code=int(ResultCode.INSUFFICIENT_FUNDS),
                        message=f"balance {acct.balance} cannot pay for {gas_limit} gas at price {gas_price}",
                        events=[],
                    )
                )
                continue

        tx_layer = _Layer()
        tx_writes = tx_layer.values

        def get(key: bytes, _tw: dict[bytes, bytes | None] = tx_writes) -> bytes | None:
            if key in _tw:
                return _tw[key]
            return block_get(key)

        def scan(start: bytes, end: bytes, limit: int, _tl: _Layer = tx_layer) -> tuple[list[tuple[bytes, bytes]], int]:
            return _merged_scan(state, (block_layer, _tl), start, end, limit)

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
            receipt = Receipt(
                tx_hash=h, code=int(fail.code), message=fail.message[:512], events=[], gas_used=ctx.gas_used
            )
        except (StateUnavailable, MemoryError, RecursionError):
            raise  # this node's own trouble, not the transaction's: stop rather than record a receipt
        except Exception as exc:  # a handler bug that input found: see ResultCode.HANDLER_ERROR
            module = type(body.payload).__name__
            receipt = Receipt(
                tx_hash=h,
                code=int(ResultCode.HANDLER_ERROR),
                message=f"the {module} handler failed on this transaction ({type(exc).__name__})",
                events=[],
                gas_used=ctx.gas_used,
            )
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
        receipts.append(receipt)
    return BlockOutput(receipts=receipts, writes=writes, tx_hashes=hashes, senders=senders)


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
    """Return the state writes of genesis: the funded accounts and, when genesis names orgs, the membership."""
    out: dict[bytes, bytes | None] = {}
    for acct in params.genesis.accounts:
        out[account_key(bytes.fromhex(acct.address))] = encode(Account(balance=acct.balance, nonce=0))
    if params.member_cas:
        out[MEMBERSHIP_KEY] = encode(genesis_membership(params.member_cas, params.genesis.membership.admin_threshold))
    return out
