"""Accounts module: reading account records and choosing which histories a transaction belongs to."""

from __future__ import annotations

from trellis.core.codec import decode
from trellis.core.execution.context import StateReader
from trellis.core.ledger.block import Receipt
from trellis.core.ledger.tx import SignedTx
from trellis.core.modules.accounts.messages import Mint, Transfer
from trellis.core.modules.accounts.state import Account, account_key
from trellis.core.modules.contracts.messages import ContractCall, ContractUpgrade


def read_account(state: StateReader, address: bytes) -> Account:
    """Return the account at ``address`` (a zero account if never written)."""
    raw = state.get(account_key(address))
    return Account(balance=0, nonce=0) if raw is None else decode(raw, Account)


def involved_addresses(tx: SignedTx, sender: bytes, receipt: Receipt | None = None) -> list[bytes]:
    """Return the addresses whose transaction history lists ``tx``: the sender, any recipient, and every
    contract that emitted an event in ``receipt`` (so a contract's history is its events' transactions)."""
    payload = tx.body.payload
    if type(payload) is Transfer:
        # The common case, without the event walk: a transfer's only event names no contract.
        return [sender] if payload.to == sender else [sender, payload.to]
    out = [sender]
    if isinstance(payload, Transfer | Mint) and payload.to != sender:
        out.append(payload.to)
    if isinstance(payload, ContractCall | ContractUpgrade):
        out.append(payload.contract)  # failed calls too: they have no events
    if receipt is not None:
        for event in receipt.events:
            for name, value in event.attributes:
                if name == "contract" and value not in out:
                    out.append(value)
    return out
