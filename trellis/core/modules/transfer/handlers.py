"""The transfer module's message handlers (docs/spec/transfer.md 4): ``transfer.send`` takes the amount (the value
moves live in ``app.py``, beside the packet callbacks that undo or complete them) and commits a packet on the
channel; ``transfer.send_via`` does the same with a second hop for the chain at the other end to forward;
``transfer.move`` moves vouchers on this chain; ``transfer.expire_forward`` ends, on the hub, a forward whose second
hop can never be proven."""

from __future__ import annotations

from trellis.core.codec import encode
from trellis.core.execution.context import TxContext
from trellis.core.execution.results import ResultCode, TxFailure
from trellis.core.ledger.block import Event
from trellis.core.modules.interchain.packets import send_packet
from trellis.core.modules.transfer.app import (
    PORT,
    credit_voucher,
    debit_voucher,
    expire_forward,
    forward_timeout_problem,
    invalid_denom,
    positive,
    take,
)
from trellis.core.modules.transfer.messages import (
    ForwardedTransferData,
    TransferData,
    TransferExpireForward,
    TransferMove,
    TransferSend,
    TransferSendVia,
)
from trellis.core.modules.transfer.state import read_trace


def handle_send(ctx: TxContext, msg: TransferSend) -> list[Event]:
    """transfer.send: take the amount (``take``), then commit the packet on the channel (``send_packet``)."""
    take(ctx, PORT, msg.channel, msg.denom, ctx.sender, msg.amount)
    data = TransferData(denom=msg.denom, amount=msg.amount, sender=ctx.sender, receiver=msg.receiver)
    packet, events = send_packet(ctx, PORT, msg.channel, encode(data), msg.timeout_height, msg.timeout_time_ms)
    return [
        *events,
        Event(
            type="transfer.send",
            attributes=[
                ("channel", msg.channel.encode()),
                ("sequence", str(packet.sequence).encode()),
                ("denom", msg.denom.encode()),
                ("amount", str(msg.amount).encode()),
                ("sender", ctx.sender),
                ("receiver", msg.receiver),
            ],
        ),
    ]


# -- move ----------------------------------------------------------------------------------------------------------
def handle_move(ctx: TxContext, msg: TransferMove) -> list[Event]:
    """transfer.move: move vouchers of ``denom_hash`` from the sender to ``to`` on this chain."""
    positive(msg.amount)
    if read_trace(ctx, msg.denom_hash) is None:
        raise invalid_denom(f"no voucher with hash {msg.denom_hash.hex()} was ever minted on this chain")
    debit_voucher(ctx, msg.denom_hash, ctx.sender, msg.amount)
    credit_voucher(ctx, msg.denom_hash, msg.to, msg.amount)
    return [
        Event(
            type="transfer.move",
            attributes=[
                ("from", ctx.sender),
                ("to", msg.to),
                ("denom_hash", msg.denom_hash),
                ("amount", str(msg.amount).encode()),
            ],
        )
    ]


def handle_send_via(ctx: TxContext, msg: TransferSendVia) -> list[Event]:
    """transfer.send_via: send value to the chain at the other end of ``msg.channel`` (the hub) for it to forward
    over ``msg.forward.channel`` to ``msg.receiver`` (transfer.md 4.6; ADR 0016 section 2). Takes the amount as
    ``transfer.send`` does and commits a ``ForwardedTransferData`` packet. The forward's timeouts are checked here
    as far as this chain can (``forward_timeout_problem``); the hub checks the rest.

    Raises:
        TxFailure: ``INVALID_CHANGE`` (the forward's timeouts), ``take``'s and ``send_packet``'s codes.
    """
    problem = forward_timeout_problem(msg.timeout_time_ms, msg.forward, None)
    if problem is not None:
        raise TxFailure(ResultCode.INVALID_CHANGE, problem)
    take(ctx, PORT, msg.channel, msg.denom, ctx.sender, msg.amount)
    data = ForwardedTransferData(
        denom=msg.denom, amount=msg.amount, sender=ctx.sender, receiver=msg.receiver, forward=msg.forward
    )
    packet, events = send_packet(ctx, PORT, msg.channel, encode(data), msg.timeout_height, msg.timeout_time_ms)
    return [
        *events,
        Event(
            type="transfer.send",
            attributes=[
                ("channel", msg.channel.encode()),
                ("sequence", str(packet.sequence).encode()),
                ("denom", msg.denom.encode()),
                ("amount", str(msg.amount).encode()),
                ("sender", ctx.sender),
                ("receiver", msg.receiver),
                ("forward_channel", msg.forward.channel.encode()),
            ],
        ),
    ]


def handle_expire_forward(ctx: TxContext, msg: TransferExpireForward) -> list[Event]:
    """transfer.expire_forward (anyone, on the hub): ``expire_forward`` — events ``interchain.timeout_packet``
    (``kind`` ``expired``) of the second hop, ``transfer.forward_done`` (``outcome`` ``expired``) and the first
    hop's ``interchain.write_ack`` (an error ack of ``PACKET_TIMED_OUT``)."""
    return expire_forward(ctx, msg.channel, msg.sequence)
