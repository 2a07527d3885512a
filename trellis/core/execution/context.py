"""The transaction context every handler runs against: the sender, the chain parameters, the block, and a
read/write view of state (docs/guides/writing-a-module.md)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from trellis.core.codec import decode, encode
from trellis.core.modules.accounts.state import Account, account_key
from trellis.core.params import ChainParams

if TYPE_CHECKING:
    from trellis.core.modules.contracts.engine import ContractEngine

ScanFn = Callable[[bytes, bytes, int], list[tuple[bytes, bytes]]]
"""``scan(start, end, limit) -> entries``: up to ``limit`` (key, value) pairs with ``start <= key < end``, in key order."""

CountedScanFn = Callable[[bytes, bytes, int], tuple[list[tuple[bytes, bytes]], int]]
"""``scan(start, end, limit) -> (entries, deletions passed over)`` over a transaction's view of state (the count
prices a contract's range reads)."""


class StateReader(Protocol):
    """Read access to state: a ``TxContext``, the chain store's committed state, a ``CommittedView``."""

    def get(self, key: bytes) -> bytes | None:
        """Return the value at ``key``, or None."""
        ...

    def scan(self, start: bytes, end: bytes, limit: int) -> list[tuple[bytes, bytes]]:
        """Return up to ``limit`` (key, value) pairs with ``start <= key < end``, in key order."""
        ...


class PointReader:
    """A ``StateReader`` over a lookup function alone, for reads of single keys: values that come with state
    proofs (the API and the CLI prove every key a resolution reads), or one value already fetched. It has no
    ranges: ``scan`` raises ``LookupError``, so a read helper that scans cannot silently answer from nothing."""

    def __init__(self, lookup: Callable[[bytes], bytes | None]) -> None:
        self._lookup = lookup

    def get(self, key: bytes) -> bytes | None:
        """The value ``lookup`` gives for ``key``."""
        return self._lookup(key)

    def scan(self, start: bytes, end: bytes, limit: int) -> list[tuple[bytes, bytes]]:
        """Refused: a point reader cannot list a range."""
        raise LookupError(f"a point reader cannot scan [0x{start.hex()}, 0x{end.hex()})")


def _no_scan(start: bytes, end: bytes, limit: int) -> tuple[list[tuple[bytes, bytes]], int]:
    return [], 0


class TxContext:
    """What a handler sees: the sender, the chain parameters, the block, and a read/write view of state.

    It is a ``StateReader`` (``get``, ``scan``), so the modules' read helpers take it as they take committed state.
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
        scan: CountedScanFn = _no_scan,
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
        self.scan_counted: CountedScanFn = scan
        """``scan`` that also counts the deletions it passed over (the contracts engine charges gas for them)."""
        self.engine = engine
        self.suite = params.suite
        self.limits = params.genesis.contracts
        self.governance = params.governance
        self.gas_used = 0
        self.return_data = b""
        self._savepoint: tuple[dict[bytes, bytes | None], Callable[[bytes, bytes | None], None]] | None = None

    def scan(self, start: bytes, end: bytes, limit: int) -> list[tuple[bytes, bytes]]:
        """Up to ``limit`` (key, value) pairs with ``start <= key < end`` in this transaction's view, in key order."""
        return self.scan_counted(start, end, limit)[0]

    def savepoint(self) -> TxContext:
        """A context over this one whose writes stay apart until its ``commit()``; dropping it undoes them.

        The interchain module runs each packet callback and each item of a relayer's batch in one, so a refused
        item or an application's error acknowledgement leaves nothing behind while the transaction goes on.
        Savepoints nest. The child reads (``get``, ``scan``) its own writes over this context's.
        """
        overlay: dict[bytes, bytes | None] = {}
        parent_get = self.get
        parent_scan = self.scan_counted

        def get(key: bytes) -> bytes | None:
            if key in overlay:
                return overlay[key]
            return parent_get(key)

        def put(key: bytes, value: bytes | None) -> None:
            overlay[key] = value

        def scan(start: bytes, end: bytes, limit: int) -> tuple[list[tuple[bytes, bytes]], int]:
            if limit <= 0 or start >= end:
                return [], 0
            changed = {k: v for k, v in overlay.items() if start <= k < end}
            # Each changed key hides or replaces at most one row of the parent: this many rows always suffice.
            rows, passed = parent_scan(start, end, limit + len(changed))
            merged: dict[bytes, bytes | None] = dict(rows)
            merged.update(changed)
            deleted = sum(1 for v in changed.values() if v is None)
            return [(k, v) for k, v in sorted(merged.items()) if v is not None][:limit], passed + deleted

        child = TxContext(
            self.sender,
            self.params,
            self.height,
            get,
            put,
            nonce=self.nonce,
            time_ms=self.time_ms,
            scan=scan,
            engine=self.engine,
            sender_key=self.sender_key,
        )
        child._savepoint = (overlay, self.put)
        return child

    def commit(self) -> None:
        """Write a savepoint's writes into the context it was made from (``savepoint``), in order.

        Raises:
            RuntimeError: this context is not a savepoint.
        """
        if self._savepoint is None:
            raise RuntimeError("commit() of a context that is not a savepoint")
        overlay, parent_put = self._savepoint
        for key, value in overlay.items():
            parent_put(key, value)
        overlay.clear()

    def account(self, address: bytes) -> Account:
        """Return the account at ``address`` (a zero account if it was never written)."""
        raw = self.get(account_key(address))
        return Account(balance=0, nonce=0) if raw is None else decode(raw, Account)

    def set_account(self, address: bytes, acct: Account) -> None:
        """Write the account at ``address``."""
        self.put(account_key(address), encode(acct))
