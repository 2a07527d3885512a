"""Messages of the ``transfer`` module (docs/spec/transfer.md 2): send over a channel, move vouchers locally; and
the packet data a transfer carries.

May import: ``msgspec`` and ``trellis.core.types``.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from trellis.core.modules.interchain.messages import ChannelId
from trellis.core.types import U64, Address, CoreStruct, Hash32

MAX_DENOM = 512
"""Most characters of a full denomination trace."""
NATIVE = "native"
"""The denomination of the chain's own currency (the accounts module's balances)."""
VERSION = "trellis-transfer-1"
"""The transfer application's channel version."""

Denom = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=MAX_DENOM,
        pattern=r"^([a-z][a-z0-9_]{0,31}/channel-(0|[1-9][0-9]{0,19})/)*[A-Za-z][A-Za-z0-9._-]{0,63}\Z",
    ),
]
"""A full denomination: ``native``, or ``port/channel/`` hops before a base (``transfer/channel-0/native``)."""
Amount = Annotated[int, msgspec.Meta(ge=1)]
"""A positive amount."""


class TransferSend(CoreStruct, frozen=True, tag="transfer.send"):
    """Send ``amount`` of ``denom`` to ``receiver`` on the chain at the other end of ``channel``."""

    channel: ChannelId
    """This chain's channel end (port ``transfer``)."""
    denom: Denom
    """The full denomination to send."""
    amount: Amount
    """How much."""
    receiver: Address
    """The receiver's address on the destination chain."""
    timeout_height: U64 = 0
    """Destination height from which the packet can no longer be received; 0: none."""
    timeout_time_ms: U64 = 0
    """Destination block time from which the packet can no longer be received; 0: none (at least one non-zero)."""


class TransferMove(CoreStruct, frozen=True, tag="transfer.move"):
    """Move vouchers to another address of this chain."""

    to: Address
    """The receiver."""
    denom_hash: Hash32
    """The voucher's denomination hash."""
    amount: Amount
    """How much."""


class TransferData(CoreStruct, frozen=True):
    """A transfer packet's data."""

    denom: Denom
    """The full denomination as the sender's chain names it."""
    amount: Amount
    """How much."""
    sender: Address
    """The sender on the source chain."""
    receiver: Address
    """The receiver on the destination chain."""


class Forward(CoreStruct, frozen=True):
    """The second hop of a routed transfer: what the hub does with the value it receives (ADR 0016 section 2)."""

    channel: ChannelId
    """The hub's ``transfer`` channel to the final destination."""
    timeout_height: U64 = 0
    """Second-hop destination height from which the packet can no longer be received; 0: none."""
    timeout_time_ms: U64 = 0
    """Second-hop destination block time from which it can no longer be received; 0: none (at least one non-zero)."""


class TransferSendVia(CoreStruct, frozen=True, tag="transfer.send_via"):
    """Send ``amount`` of ``denom`` over ``channel`` to the hub at its other end, which forwards it over
    ``forward.channel`` to ``receiver`` on the final destination (one hop through the hub)."""

    channel: ChannelId
    """This chain's channel end to the hub (port ``transfer``)."""
    denom: Denom
    """The full denomination to send."""
    amount: Amount
    """How much."""
    receiver: Address
    """The receiver's address on the final destination chain."""
    forward: Forward
    """The hub's second hop."""
    timeout_height: U64 = 0
    """Hub height from which the first hop can no longer be received; 0: none."""
    timeout_time_ms: U64 = 0
    """Hub block time from which the first hop can no longer be received; 0: none (at least one non-zero)."""


class ForwardedTransferData(CoreStruct, frozen=True):
    """A routed transfer's first-hop packet data: ``TransferData``'s four fields and the second hop (five array
    elements; a ``TransferData`` has four, which is how the receiver tells them apart)."""

    denom: Denom
    """The full denomination as the sender's chain names it."""
    amount: Amount
    """How much."""
    sender: Address
    """The sender on the source chain."""
    receiver: Address
    """The receiver on the final destination chain."""
    forward: Forward
    """What the hub does with it."""


class TransferExpireForward(CoreStruct, frozen=True, tag="transfer.expire_forward"):
    """On the hub: end a forward whose second hop can never be proven (its destination's client on the hub is
    frozen) once the second hop's timeout time has passed by the hub's clock; the first hop gets its error ack and
    the origin refunds its sender (transfer.md 4.6). Anyone may send it."""

    channel: ChannelId
    """The hub's end of the first hop (the forward record's ``in_channel``)."""
    sequence: U64
    """The first hop's sequence."""
