"""The transfer module's state records, keys and reads (docs/spec/transfer.md 3).

| key | value |
|---|---|
| ``transfer/escrow/<channel>`` | native units escrowed for that channel (8 bytes, BE) |
| ``transfer/denom/`` + denom_hash (32) | ``DenomTrace`` |
| ``transfer/balance/`` + denom_hash (32) + address (20) | voucher balance (8 bytes, BE; absent = 0) |
| ``transfer/supply/`` + denom_hash (32) | vouchers of that denomination outstanding on this chain (8 bytes, BE) |

| ``transfer/vescrow/<channel>/`` + denom_hash (32) | vouchers of that denomination escrowed on that channel (8 bytes, BE) |
| ``transfer/forward/<in_channel>/`` + seq (8, BE) | ``ForwardRecord``: a forwarded packet whose first-hop ack is pending |
| ``transfer/fwdout/<out_channel>/`` + seq (8, BE) | ``ForwardRef``: the first-hop packet a second-hop packet forwards |

A voucher forwarded onward is escrowed in its own table (``vescrow``), apart from every balance: no account can hold
or be paid what a channel holds in escrow.
"""

from __future__ import annotations

from trellis.core.codec import decode
from trellis.core.crypto.suite import Suite
from trellis.core.execution.context import StateReader
from trellis.core.modules.interchain.messages import Packet
from trellis.core.types import U64, CoreStruct

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
FORWARD_PREFIX = b"transfer/forward/"
"""Prefix of the forwarding records (the forwarding escrow), by first-hop channel and sequence."""
FWDOUT_PREFIX = b"transfer/fwdout/"
"""Prefix of the second-hop packets' links back to their first hop, by second-hop channel and sequence."""
FORWARD_DOMAIN = b"trellis/transfer/forward/v1"
"""Tag of a forwarding escrow's address (the ``sender`` of its second-hop packet)."""

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


# -- forwarding (ADR 0016 section 2; transfer.md 4.6) ------------------------------------------------------------
class ForwardRecord(CoreStruct, frozen=True):
    """A packet this chain forwards: received on its first hop, acknowledgement pending until the second hop ends.

    Its value (``amount`` of ``denom``) came into the forwarding escrow when the first hop was received and left
    it at once for the second hop's packet; it comes back into it if that packet fails, and then goes back where
    the first hop's receive took it from."""

    packet: Packet
    """The first-hop packet as received (its data a ``ForwardedTransferData``)."""
    denom: str
    """The denomination as this chain names what it received (the second hop's denom)."""
    amount: U64
    """How much."""
    out_channel: str
    """The second hop's channel end (port ``transfer``)."""
    out_sequence: U64
    """The second hop's packet sequence."""


class ForwardRef(CoreStruct, frozen=True):
    """Which first-hop packet a second-hop packet forwards."""

    channel: str
    """The first hop's channel end on this chain (its ``dest_channel``)."""
    sequence: U64
    """The first hop's sequence."""


def _seq8(seq: int) -> bytes:
    return seq.to_bytes(8, "big")


def forward_key(in_channel: str, sequence: int) -> bytes:
    """Key of the forwarding record of first-hop packet ``sequence`` received on ``in_channel``."""
    return FORWARD_PREFIX + in_channel.encode() + b"/" + _seq8(sequence)


def forward_out_key(out_channel: str, sequence: int) -> bytes:
    """Key of the link from second-hop packet ``sequence`` sent on ``out_channel`` to its first hop."""
    return FWDOUT_PREFIX + out_channel.encode() + b"/" + _seq8(sequence)


def forward_address(suite: Suite, in_channel: str, sequence: int) -> bytes:
    """The forwarding escrow's address: ``tagged_hash("trellis/transfer/forward/v1", forward_key)[:20]``. It is the
    ``sender`` of the second-hop packet; no account is ever paid at it (a failed second hop comes back to the
    forwarding record, not to an account)."""
    return suite.tagged_hash(FORWARD_DOMAIN, forward_key(in_channel, sequence))[:20]


def read_forward(state: StateReader, in_channel: str, sequence: int) -> ForwardRecord | None:
    """The forwarding record of a first-hop packet, or None."""
    raw = state.get(forward_key(in_channel, sequence))
    return None if raw is None else decode(raw, ForwardRecord)


def read_forward_ref(state: StateReader, out_channel: str, sequence: int) -> ForwardRef | None:
    """The first hop a second-hop packet forwards, or None (an ordinary send)."""
    raw = state.get(forward_out_key(out_channel, sequence))
    return None if raw is None else decode(raw, ForwardRef)


def forwards(state: StateReader, limit: int) -> list[ForwardRecord]:
    """Up to ``limit`` forwarding records (first-hop acks pending), by first-hop channel and sequence."""
    return [decode(v, ForwardRecord) for _, v in state.scan(FORWARD_PREFIX, FORWARD_PREFIX + b"\xff", limit)]
