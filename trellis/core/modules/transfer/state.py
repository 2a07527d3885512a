"""The transfer module's state records, keys and reads (docs/spec/transfer.md 3).

| key | value |
|---|---|
| ``transfer/escrow/<channel>`` | native units escrowed for that channel (8 bytes, BE) |
| ``transfer/denom/`` + denom_hash (32) | ``DenomTrace`` |
| ``transfer/balance/`` + denom_hash (32) + address (20) | voucher balance (8 bytes, BE; absent = 0) |
| ``transfer/supply/`` + denom_hash (32) | vouchers of that denomination outstanding on this chain (8 bytes, BE) |

| ``transfer/vescrow/<channel>/`` + denom_hash (32) | vouchers of that denomination escrowed on that channel (8 bytes, BE) |

A voucher forwarded onward is escrowed in its own table (``vescrow``), apart from every balance: no account can hold
or be paid what a channel holds in escrow.
"""

from __future__ import annotations

from trellis.core.codec import decode
from trellis.core.crypto.suite import Suite
from trellis.core.execution.context import StateReader
from trellis.core.types import CoreStruct

PREFIX = b"transfer/"
"""Every key of the module starts with this."""
PREFIXES = (PREFIX,)
"""The state-key prefixes this module writes under."""
ESCROW_PREFIX = b"transfer/escrow/"
"""Prefix of the native escrow counters."""
DENOM_PREFIX = b"transfer/denom/"
"""Prefix of the denomination traces."""
BALANCE_PREFIX = b"transfer/balance/"
"""Prefix of the voucher balances."""
VESCROW_PREFIX = b"transfer/vescrow/"
"""Prefix of the vouchers escrowed per channel."""
SUPPLY_PREFIX = b"transfer/supply/"
"""Prefix of the voucher supplies."""

DENOM_DOMAIN = b"trellis/transfer/denom/v1"
"""Tag of a denomination hash."""


class DenomTrace(CoreStruct, frozen=True):
    """A voucher denomination: the hops it came over and its base."""

    path: str
    """``port/channel`` hops joined by ``/`` (``transfer/channel-0``)."""
    base: str
    """The denomination at its origin (``native``)."""


def denom_hash(suite: Suite, denom: str) -> bytes:
    """``tagged_hash("trellis/transfer/denom/v1", UTF-8(denom))`` of a full denomination ``path/base``."""
    return suite.tagged_hash(DENOM_DOMAIN, denom.encode())


def vescrow_prefix(channel: str) -> bytes:
    """Prefix of the vouchers escrowed on ``channel``."""
    return VESCROW_PREFIX + channel.encode() + b"/"


def vescrow_key(channel: str, dhash: bytes) -> bytes:
    """Key of the vouchers ``dhash`` escrowed on ``channel``."""
    return vescrow_prefix(channel) + dhash


def voucher_escrowed(state: StateReader, channel: str, dhash: bytes) -> int:
    """Vouchers ``dhash`` escrowed on ``channel`` (forwarded onward over it)."""
    return read_u64(state, vescrow_key(channel, dhash))


def vouchers_escrowed(
    state: StateReader, channel: str, limit: int, start: bytes | None = None
) -> list[tuple[bytes, int]]:
    """Up to ``limit`` (denom hash, amount) of the vouchers escrowed on ``channel``, by hash from ``start`` up."""
    prefix = vescrow_prefix(channel)
    rows = state.scan(prefix + (start or b""), prefix + b"\xff" * 33, limit)
    return [(k[len(prefix) :], int.from_bytes(v, "big")) for k, v in rows]


def escrow_key(channel: str) -> bytes:
    """Key of the native escrow of ``channel``."""
    return ESCROW_PREFIX + channel.encode()


def denom_key(dhash: bytes) -> bytes:
    """Key of the ``DenomTrace`` of ``dhash``."""
    return DENOM_PREFIX + dhash


def balance_key(dhash: bytes, address: bytes) -> bytes:
    """Key of ``address``'s balance of voucher ``dhash``."""
    return BALANCE_PREFIX + dhash + address


def supply_key(dhash: bytes) -> bytes:
    """Key of the supply of voucher ``dhash``."""
    return SUPPLY_PREFIX + dhash


def read_u64(state: StateReader, key: bytes) -> int:
    """An 8-byte counter (absent = 0)."""
    raw = state.get(key)
    return 0 if raw is None else int.from_bytes(raw, "big")


def u64_value(n: int) -> bytes | None:
    """The stored form of a counter: 8 bytes big-endian, or None (delete) for 0."""
    return None if n == 0 else n.to_bytes(8, "big")


def read_trace(state: StateReader, dhash: bytes) -> DenomTrace | None:
    """The trace of voucher ``dhash``, or None."""
    raw = state.get(denom_key(dhash))
    return None if raw is None else decode(raw, DenomTrace)


def voucher_balance(state: StateReader, dhash: bytes, address: bytes) -> int:
    """``address``'s balance of voucher ``dhash``."""
    return read_u64(state, balance_key(dhash, address))


def voucher_supply(state: StateReader, dhash: bytes) -> int:
    """Vouchers ``dhash`` outstanding on this chain."""
    return read_u64(state, supply_key(dhash))


def escrowed(state: StateReader, channel: str) -> int:
    """Native units escrowed on ``channel``."""
    return read_u64(state, escrow_key(channel))


def balances_of(state: StateReader, address: bytes, denoms: list[bytes]) -> dict[bytes, int]:
    """``address``'s balance of each voucher in ``denoms`` (hashes)."""
    return {d: voucher_balance(state, d, address) for d in denoms}


def all_traces(state: StateReader, limit: int) -> list[tuple[bytes, DenomTrace]]:
    """Up to ``limit`` (hash, trace) pairs of the vouchers this chain has minted."""
    rows = state.scan(DENOM_PREFIX, DENOM_PREFIX + b"\xff" * 33, limit)
    return [(k[len(DENOM_PREFIX) :], decode(v, DenomTrace)) for k, v in rows]
