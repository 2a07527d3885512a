"""transfer module: reading voucher balances, denomination traces and escrows (docs/spec/transfer.md).

Reads committed state through a ``StateReader``; the rules that write it are in ``trellis.core.modules.transfer``.
Balances are keyed by denomination first (``transfer/balance/<hash><address>``), so an address's vouchers are
found by walking the traces this chain has recorded, at most ``MAX_DENOMS`` per page (a listing says where
the next page starts: ``next_from``). A stored value that does not decode
is the node's fault: it raises ``StorageError``.
"""

from __future__ import annotations

from dataclasses import dataclass

from trellis.app.modules.accounts import read_account
from trellis.core.codec import decode
from trellis.core.crypto.suite import Suite
from trellis.core.errors import DecodeError
from trellis.core.execution.context import StateReader
from trellis.core.modules.transfer.messages import NATIVE
from trellis.core.modules.transfer.state import (
    DENOM_PREFIX,
    DenomTrace,
    escrowed,
    read_trace,
    voucher_balance,
    voucher_supply,
    vouchers_escrowed,
)
from trellis.storage.kv import StorageError

__all__ = [
    "MAX_DENOMS",
    "DenomView",
    "Escrow",
    "Holding",
    "Holdings",
    "balances",
    "denom",
    "escrow",
    "full_denom",
]

MAX_DENOMS = 1000
"""Most voucher denominations one page of a balance or escrow listing walks."""
_DENOM_END = DENOM_PREFIX + b"\xff" * 33


def full_denom(trace: DenomTrace) -> str:
    """The full denomination of a trace: ``path/base`` (``base`` alone for an empty path)."""
    return f"{trace.path}/{trace.base}" if trace.path else trace.base


@dataclass(frozen=True)
class Holding:
    """An amount of one denomination: ``native`` (hash empty) or a voucher with its trace."""

    denom: str
    denom_hash: bytes
    trace: DenomTrace | None
    amount: int


@dataclass(frozen=True)
class Holdings:
    """One page of a listing: the holdings, and the denomination hash the next page starts from (None: the walk
    reached the last denomination this chain has minted)."""

    holdings: list[Holding]
    next_from: bytes | None


@dataclass(frozen=True)
class DenomView:
    """A voucher denomination: its trace and the supply outstanding on this chain."""

    denom_hash: bytes
    trace: DenomTrace
    supply: int


@dataclass(frozen=True)
class Escrow:
    """What a channel holds in escrow: native units, and vouchers forwarded onward over it."""

    channel: str
    native: int
    vouchers: list[Holding]
    next_from: bytes | None
    """Where the next page of ``vouchers`` starts (None: last page)."""


def _vouchers(state: StateReader, address: bytes, start: bytes) -> Holdings:
    """The vouchers ``address`` holds among up to ``MAX_DENOMS`` denominations from hash ``start`` up."""
    rows = state.scan(DENOM_PREFIX + start, _DENOM_END, MAX_DENOMS + 1)
    out: list[Holding] = []
    for key, raw in rows[:MAX_DENOMS]:
        dhash = key[len(DENOM_PREFIX) :]
        try:
            trace = decode(raw, DenomTrace)
        except DecodeError as exc:
            raise StorageError(f"the stored trace 0x{dhash.hex()} does not decode: {exc.reason}") from exc
        amount = voucher_balance(state, dhash, address)
        if amount:
            out.append(Holding(full_denom(trace), dhash, trace, amount))
    nxt = rows[MAX_DENOMS][0][len(DENOM_PREFIX) :] if len(rows) > MAX_DENOMS else None
    return Holdings(out, nxt)


def balances(state: StateReader, address: bytes, start: bytes | None = None) -> Holdings:
    """``address``'s native balance (first, even when 0; on the first page only, ``start`` None) and the vouchers
    it holds (non-zero), by hash, among ``MAX_DENOMS`` denominations from hash ``start`` up."""
    page = _vouchers(state, address, start or b"")
    if start is not None:
        return page
    native = Holding(NATIVE, b"", None, read_account(state, address).balance)
    return Holdings([native, *page.holdings], page.next_from)


def denom(state: StateReader, dhash: bytes) -> DenomView | None:
    """The voucher denomination ``dhash`` with its supply, or None if this chain never minted it."""
    try:
        trace = read_trace(state, dhash)
    except DecodeError as exc:
        raise StorageError(f"the stored trace 0x{dhash.hex()} does not decode: {exc.reason}") from exc
    return None if trace is None else DenomView(dhash, trace, voucher_supply(state, dhash))


def escrow(state: StateReader, suite: Suite, channel: str, start: bytes | None = None) -> Escrow:
    """What ``channel`` holds in escrow (zeros for a channel that never sent); its vouchers a page at a time
    from denomination hash ``start``."""
    rows = vouchers_escrowed(state, channel, MAX_DENOMS + 1, start)
    out: list[Holding] = []
    for dhash, amount in rows[:MAX_DENOMS]:
        try:
            trace = read_trace(state, dhash)
        except DecodeError as exc:
            raise StorageError(f"the stored trace 0x{dhash.hex()} does not decode: {exc.reason}") from exc
        out.append(Holding("" if trace is None else full_denom(trace), dhash, trace, amount))
    nxt = rows[MAX_DENOMS][0] if len(rows) > MAX_DENOMS else None
    return Escrow(channel, escrowed(state, channel), out, nxt)
