"""The transaction context every handler runs against: the sender, the chain parameters, the block, and a
read/write view of state (docs/guides/writing-a-module.md)."""

from __future__ import annotations

from collections.abc import Callable

from trellis.core.codec import decode, encode
from trellis.core.modules.accounts.state import Account, account_key
from trellis.core.modules.contracts.engine import ContractEngine, ScanFn
from trellis.core.params import ChainParams


def _no_scan(start: bytes, end: bytes, limit: int) -> tuple[list[tuple[bytes, bytes]], int]:
    return [], 0


class TxContext:
    """What a handler sees: the sender, the chain parameters, the block, and a read/write view of state.

    Handlers of contract messages also set ``gas_used`` and ``return_data``; they are recorded in the receipt
    whether the transaction succeeds or fails.
    """

    def __init__(
        self,
        sender: bytes,
        params: ChainParams,
        height: int,
        get: Callable[[bytes], bytes | None],
        put: Callable[[bytes, bytes | None], None],
        *,
        nonce: int = 0,
        time_ms: int = 0,
        scan: ScanFn = _no_scan,
        engine: ContractEngine | None = None,
        sender_key: bytes = b"",
    ) -> None:
        self.sender = sender
        self.sender_key = sender_key
        """The sender's public key (the identity module matches it against DID documents)."""
        self.params = params
        self.mint_authority = params.mint_authority
        self.height = height
        self.get = get
        self.put = put
        self.nonce = nonce
        self.time_ms = time_ms
        self.scan = scan
        self.engine = engine
        self.suite = params.suite
        self.limits = params.genesis.contracts
        self.governance = params.governance
        self.gas_used = 0
        self.return_data = b""

    def account(self, address: bytes) -> Account:
        """Return the account at ``address`` (a zero account if it was never written)."""
        raw = self.get(account_key(address))
        return Account(balance=0, nonce=0) if raw is None else decode(raw, Account)

    def set_account(self, address: bytes, acct: Account) -> None:
        """Write the account at ``address``."""
        self.put(account_key(address), encode(acct))
