"""Accounts module: reading account records and choosing which histories a transaction belongs to."""

from __future__ import annotations

from collections.abc import Callable

from trellis.core.codec import decode
from trellis.core.execution.state_keys import Account, account_key
from trellis.core.ledger.tx import Mint, SignedTx, Transfer


def read_account(get: Callable[[bytes], bytes | None], address: bytes) -> Account:
    """Return the account at ``address`` (a zero account if never written)."""
    raw = get(account_key(address))
    return Account(balance=0, nonce=0) if raw is None else decode(raw, Account)


def involved_addresses(tx: SignedTx, sender: bytes) -> list[bytes]:
    """Return the addresses whose transaction history lists ``tx``: the sender and any recipient."""
    payload = tx.body.payload
    if isinstance(payload, Transfer | Mint) and payload.to != sender:
        return [sender, payload.to]
    return [sender]
