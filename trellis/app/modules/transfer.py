"""transfer module: reading voucher balances, denomination traces and escrows (docs/spec/transfer.md).

Reads committed state through a ``StateReader``; the rules that write it are in ``trellis.core.modules.transfer``.
Balances are keyed by denomination first (``transfer/balance/<hash><address>``), so an address's vouchers are
found by walking the traces this chain has recorded (at most ``MAX_DENOMS``). A stored value that does not decode
is the node's fault: it raises ``StorageError``.
"""

from __future__ import annotations

from dataclasses import dataclass

from trellis.app.modules.accounts import read_account
from trellis.core.crypto.suite import Suite
from trellis.core.errors import DecodeError
from trellis.core.execution.context import StateReader
from trellis.core.modules.transfer.messages import NATIVE
from trellis.core.modules.transfer.state import (
    DenomTrace,
    all_traces,
    escrow_address,
    escrowed,
    read_trace,
    voucher_balance,
    voucher_supply,
)
from trellis.storage.kv import StorageError

__all__ = ["MAX_DENOMS", "DenomView", "Escrow", "Holding", "balances", "denom", "escrow", "full_denom"]

MAX_DENOMS = 1000
"""Most voucher denominations a balance or escrow listing walks."""


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
class DenomView:
    """A voucher denomination: its trace and the supply outstanding on this chain."""

    denom_hash: bytes
    trace: DenomTrace
    supply: int


@dataclass(frozen=True)
class Escrow:
    """What a channel holds in escrow: native units, and vouchers at the channel's escrow address."""

    channel: str
    native: int
    address: bytes
    vouchers: list[Holding]


def _traces(state: StateReader) -> list[tuple[bytes, DenomTrace]]:
    try:
        return all_traces(state, MAX_DENOMS)
    except DecodeError as exc:
        raise StorageError(f"a stored denomination trace does not decode: {exc.reason}") from exc


def _vouchers(state: StateReader, address: bytes) -> list[Holding]:
    out: list[Holding] = []
    for dhash, trace in _traces(state):
        amount = voucher_balance(state, dhash, address)
        if amount:
            out.append(Holding(full_denom(trace), dhash, trace, amount))
    return out


def balances(state: StateReader, address: bytes) -> list[Holding]:
    """``address``'s native balance (first, even when 0) and every voucher it holds (non-zero), by hash."""
    native = Holding(NATIVE, b"", None, read_account(state, address).balance)
    return [native, *_vouchers(state, address)]


def denom(state: StateReader, dhash: bytes) -> DenomView | None:
    """The voucher denomination ``dhash`` with its supply, or None if this chain never minted it."""
    try:
        trace = read_trace(state, dhash)
    except DecodeError as exc:
        raise StorageError(f"the stored trace 0x{dhash.hex()} does not decode: {exc.reason}") from exc
    return None if trace is None else DenomView(dhash, trace, voucher_supply(state, dhash))


def escrow(state: StateReader, suite: Suite, channel: str) -> Escrow:
    """What ``channel`` holds in escrow (zeros for a channel that never sent)."""
    address = escrow_address(suite, channel)
    return Escrow(channel, escrowed(state, channel), address, _vouchers(state, address))
