"""The ``accounts`` and ``kv`` modules' transaction handlers (pure functions of a context and a message)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from trellis.core.codec import decode, encode
from trellis.core.execution.results import ResultCode, TxFailure
from trellis.core.execution.state_keys import Account, KvRecord, account_key, kv_key
from trellis.core.ledger.block import Event
from trellis.core.ledger.tx import KvDelete, KvPut, Mint, Transfer
from trellis.core.types import U64_MAX


class TxContext:
    """What a handler sees: the sender, the chain parameters and a read/write view of state."""

    def __init__(
        self,
        sender: bytes,
        mint_authority: bytes,
        get: Callable[[bytes], bytes | None],
        put: Callable[[bytes, bytes | None], None],
    ) -> None:
        self.sender = sender
        self.mint_authority = mint_authority
        self.get = get
        self.put = put

    def account(self, address: bytes) -> Account:
        """Return the account at ``address`` (a zero account if it was never written)."""
        raw = self.get(account_key(address))
        return Account(balance=0, nonce=0) if raw is None else decode(raw, Account)

    def set_account(self, address: bytes, acct: Account) -> None:
        """Write the account at ``address``."""
        self.put(account_key(address), encode(acct))


def _credit(ctx: TxContext, to: bytes, amount: int) -> None:
    acct = ctx.account(to)
    if acct.balance + amount > U64_MAX:
        raise TxFailure(ResultCode.OVERFLOW, "recipient balance would exceed 2^64-1")
    ctx.set_account(to, Account(balance=acct.balance + amount, nonce=acct.nonce))


def handle_transfer(ctx: TxContext, msg: Transfer) -> list[Event]:
    """Move ``msg.amount`` from the sender to ``msg.to``."""
    if msg.amount == 0:
        raise TxFailure(ResultCode.INVALID_AMOUNT, "amount must be positive")
    src = ctx.account(ctx.sender)
    if src.balance < msg.amount:
        raise TxFailure(ResultCode.INSUFFICIENT_FUNDS, f"balance {src.balance} is less than the amount {msg.amount}")
    ctx.set_account(ctx.sender, Account(balance=src.balance - msg.amount, nonce=src.nonce))
    _credit(ctx, msg.to, msg.amount)
    return [
        Event(
            type="transfer",
            attributes=[("from", ctx.sender), ("to", msg.to), ("amount", str(msg.amount).encode())],
        )
    ]


def handle_mint(ctx: TxContext, msg: Mint) -> list[Event]:
    """Create ``msg.amount`` units for ``msg.to``; only the mint authority may."""
    if ctx.sender != ctx.mint_authority:
        raise TxFailure(ResultCode.UNAUTHORIZED, "only the mint authority named in genesis may mint")
    if msg.amount == 0:
        raise TxFailure(ResultCode.INVALID_AMOUNT, "amount must be positive")
    _credit(ctx, msg.to, msg.amount)
    return [Event(type="mint", attributes=[("to", msg.to), ("amount", str(msg.amount).encode())])]


def handle_kv_put(ctx: TxContext, msg: KvPut) -> list[Event]:
    """Write a kv record; the first writer owns it."""
    key = kv_key(msg.namespace, msg.key)
    raw = ctx.get(key)
    if raw is not None:
        rec = decode(raw, KvRecord)
        if rec.owner != ctx.sender:
            raise TxFailure(ResultCode.NOT_OWNER, f"record is owned by {rec.owner.hex()}")
    ctx.put(key, encode(KvRecord(owner=ctx.sender, value=msg.value)))
    return [Event(type="kv.put", attributes=[("namespace", msg.namespace.encode()), ("key", msg.key)])]


def handle_kv_delete(ctx: TxContext, msg: KvDelete) -> list[Event]:
    """Delete a kv record; only its owner may."""
    key = kv_key(msg.namespace, msg.key)
    raw = ctx.get(key)
    if raw is None:
        raise TxFailure(ResultCode.NOT_FOUND, "no such record")
    rec = decode(raw, KvRecord)
    if rec.owner != ctx.sender:
        raise TxFailure(ResultCode.NOT_OWNER, f"record is owned by {rec.owner.hex()}")
    ctx.put(key, None)
    return [Event(type="kv.delete", attributes=[("namespace", msg.namespace.encode()), ("key", msg.key)])]


HANDLERS: dict[type, Callable[[TxContext, Any], list[Event]]] = {
    Transfer: handle_transfer,
    Mint: handle_mint,
    KvPut: handle_kv_put,
    KvDelete: handle_kv_delete,
}
"""Message type -> handler. Every member of ``Payload`` has exactly one."""
