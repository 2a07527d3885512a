"""Transaction handlers of the ``accounts`` module: pure functions of a context and a message (docs/spec/encoding.md)."""

from __future__ import annotations

from trellis.core.execution.context import TxContext
from trellis.core.execution.results import ResultCode, TxFailure
from trellis.core.ledger.block import Event
from trellis.core.modules.accounts.messages import Mint, Transfer
from trellis.core.modules.accounts.state import Account
from trellis.core.types import U64_MAX


def amount_not_positive() -> TxFailure:
    """The failure of a transfer or mint of zero units."""
    return TxFailure(ResultCode.INVALID_AMOUNT, "amount must be positive")


def insufficient_funds(balance: int, amount: int) -> TxFailure:
    """The failure of a transfer of ``amount`` from an account holding ``balance`` (less than ``amount``)."""
    return TxFailure(ResultCode.INSUFFICIENT_FUNDS, f"balance {balance} is less than the amount {amount}")


def credit_overflow() -> TxFailure:
    """The failure of a credit that would take the recipient's balance past 2^64-1."""
    return TxFailure(ResultCode.OVERFLOW, "recipient balance would exceed 2^64-1")


def transfer_event(sender: bytes, to: bytes, amount: int) -> Event:
    """The event a successful transfer of ``amount`` from ``sender`` to ``to`` emits (addresses)."""
    return Event(type="transfer", attributes=[("from", sender), ("to", to), ("amount", str(amount).encode())])


def _credit(ctx: TxContext, to: bytes, amount: int) -> None:
    acct = ctx.account(to)
    if acct.balance + amount > U64_MAX:
        raise credit_overflow()
    ctx.set_account(to, Account(balance=acct.balance + amount, nonce=acct.nonce))


def handle_transfer(ctx: TxContext, msg: Transfer) -> list[Event]:
    """Move ``msg.amount`` from the sender to ``msg.to``.

    ``apply_block`` runs plain transfers through its own block-level path with the same semantics; this
    handler is the reference (``apply_block_reference``) and what ``TxContext`` callers use.
    """
    if msg.amount == 0:
        raise amount_not_positive()
    src = ctx.account(ctx.sender)
    if src.balance < msg.amount:
        raise insufficient_funds(src.balance, msg.amount)
    ctx.set_account(ctx.sender, Account(balance=src.balance - msg.amount, nonce=src.nonce))
    _credit(ctx, msg.to, msg.amount)
    return [transfer_event(ctx.sender, msg.to, msg.amount)]


def handle_mint(ctx: TxContext, msg: Mint) -> list[Event]:
    """Create ``msg.amount`` units for ``msg.to``; only the mint authority may."""
    if ctx.sender != ctx.mint_authority:
        raise TxFailure(ResultCode.UNAUTHORIZED, "only the mint authority named in genesis may mint")
    if msg.amount == 0:
        raise amount_not_positive()
    _credit(ctx, msg.to, msg.amount)
    return [Event(type="mint", attributes=[("to", msg.to), ("amount", str(msg.amount).encode())])]
