"""The block-level fast path: ``apply_block``, the executor blocks run through.

Plain transfers run on integers kept per account for the whole block; every other transaction goes through the
reference's per-transaction run (``reference.BlockRun.run_tx``). Every transaction, transfers included, is
checked by the same rules (``BlockRun.check``: ``TxRules`` at ``Stage.EXECUTION``). The result is the reference's
(``reference.apply_block_reference``), which ``tests/property/test_apply_fast_path.py`` checks.
"""

from __future__ import annotations

from collections.abc import Sequence

from trellis.core.codec import decode, encode
from trellis.core.execution.context import StateReader
from trellis.core.execution.reference import (
    BlockEnv,
    BlockOutput,
    BlockRun,
    GuardedState,
    StateUnavailable,
    failure_receipt,
    handler_error_receipt,
    senders_of,
)
from trellis.core.ledger.block import Receipt
from trellis.core.ledger.tx import SignedTx, tx_hash
from trellis.core.modules.accounts.handlers import (
    amount_not_positive,
    credit_overflow,
    insufficient_funds,
    transfer_event,
)
from trellis.core.modules.accounts.messages import Transfer
from trellis.core.modules.accounts.state import Account, account_key
from trellis.core.modules.validators.state import update_of
from trellis.core.types import U64_MAX


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
    through its module handler one at a time (``apply_block_reference``).

    Every transaction is checked against ``TxRules`` at ``Stage.EXECUTION`` (chain id; under
    ``membership.enforce`` the sender's certificate at the block's time in the state before the block; nonce;
    the block's gas) before it runs.

    Raises:
        InvalidBlock: ``wrong_chain_id``, ``bad_nonce`` or ``too_much_gas`` — a block with such a transaction is
            invalid; ``MembershipRefusal`` (an ``InvalidBlock``) when the membership refuses a sender.
        StateUnavailable: reading the state failed.
    """
    suite = env.params.suite
    run = BlockRun(GuardedState(state), env)
    run.begin_block()
    guarded = run.state
    writes = run.writes
    receipts = run.receipts
    hashes = run.hashes
    senders = run.senders
    tx_senders = senders_of(suite, txs, sender_addresses)
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
        run.check(i, body, sender, h, nonce)
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
                failure_receipt(h, amount_not_positive() if amount == 0 else insufficient_funds(balance, amount), 0)
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
                receipts.append(handler_error_receipt(h, payload, exc, 0))
                continue
        if dst is src:  # a transfer to oneself: the debit and the credit cancel (and cannot overflow)
            credited = balance
        else:
            credited = dst.balance + amount
            if credited > U64_MAX:
                receipts.append(failure_receipt(h, credit_overflow(), 0))
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


def _flush(live: dict[bytes, _LiveAccount], writes: dict[bytes, bytes | None]) -> None:
    """Encode the written accounts of ``live`` into ``writes`` (in place: their keys are already there) and
    forget them all, so that what comes next reads ``writes``."""
    for acct in live.values():
        if acct.written:
            writes[acct.key] = encode(Account(balance=acct.balance, nonce=acct.nonce))
    live.clear()
