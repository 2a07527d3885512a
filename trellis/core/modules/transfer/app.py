"""The transfer module's packet application and the value moves behind it (docs/spec/transfer.md 4; ADR 0015
section 7): what the interchain module calls when a ``transfer`` channel opens and when one of its packets is
received, acknowledged or times out, and what ``transfer.send`` takes (``handlers.py`` calls ``take``).

Where value sits (transfer.md 3): the native currency in the accounts module's ``acct/`` balances (the nonce is
never touched here) and, while it is away, in the counter ``transfer/escrow/<channel>``; vouchers in
``transfer/balance/`` (an escrowed voucher at its channel's escrow address) with their ``transfer/supply/`` and
the ``DenomTrace`` written when one is first minted. Every amount is checked against 2^64-1 before it is written.
"""

from __future__ import annotations

from trellis.core.codec import decode, encode
from trellis.core.errors import DecodeError
from trellis.core.execution.context import TxContext
from trellis.core.execution.results import ResultCode, TxFailure
from trellis.core.ledger.block import Event
from trellis.core.modules.accounts.state import Account
from trellis.core.modules.interchain.messages import MAX_ACK_REASON, UNORDERED, Ack, Packet
from trellis.core.modules.interchain.packets import expire_packet, send_packet, write_ack
from trellis.core.modules.interchain.state import OPEN, ChannelEnd, read_channel, read_client, read_connection
from trellis.core.modules.transfer.denom import add_hop, has_hop, is_native, is_valid, is_voucher, strip_hop, trace_of
from trellis.core.modules.transfer.messages import VERSION, Forward, ForwardedTransferData, TransferData
from trellis.core.modules.transfer.state import (
    ForwardRecord,
    ForwardRef,
    balance_key,
    denom_hash,
    denom_key,
    escrow_key,
    escrowed,
    forward_address,
    forward_key,
    forward_out_key,
    read_forward,
    read_forward_ref,
    read_trace,
    supply_key,
    u64_value,
    vescrow_key,
    voucher_balance,
    voucher_escrowed,
    voucher_supply,
)
from trellis.core.types import U64_MAX

PORT = "transfer"
"""The module's port (its name)."""
SUCCESS_RESULT = b"\x01"
"""The ``result`` of a successful transfer acknowledgement."""
FORWARD_MARGIN_MS = 60_000
"""How much earlier than the first hop's timeout time the second hop's must be (transfer.md 4.6)."""
FORWARD_MAX_WAIT_MS = 86_400_000
"""The latest a second hop's timeout time may be, past the forwarding chain's block time at the first hop's receive
(a day), whatever the first hop's timeouts: every forward resolves (ack, timeout, or ``transfer.expire_forward``)
within a bounded time."""


# -- failures ----------------------------------------------------------------------------------------------------
def invalid_denom(reason: str) -> TxFailure:
    """``INVALID_DENOM`` with ``reason``."""
    return TxFailure(ResultCode.INVALID_DENOM, reason)


def insufficient(what: str, have: int, amount: int) -> TxFailure:
    """``INSUFFICIENT_FUNDS``: ``what`` holds ``have``, less than ``amount``."""
    return TxFailure(ResultCode.INSUFFICIENT_FUNDS, f"{what} holds {have}, less than the amount {amount}")


def _add(current: int, amount: int, what: str) -> int:
    total = current + amount
    if total > U64_MAX:
        raise TxFailure(ResultCode.OVERFLOW, f"{what} would exceed 2^64-1")
    return total


def positive(amount: int) -> None:
    """Refuse a zero amount (``INVALID_AMOUNT``)."""
    if amount <= 0:
        raise TxFailure(ResultCode.INVALID_AMOUNT, "amount must be positive")


# -- the native currency -----------------------------------------------------------------------------------------
def debit_native(ctx: TxContext, address: bytes, amount: int) -> None:
    """Take ``amount`` from ``address``'s account balance (its nonce unchanged)."""
    acct = ctx.account(address)
    if acct.balance < amount:
        raise insufficient(f"account {address.hex()}", acct.balance, amount)
    ctx.set_account(address, Account(balance=acct.balance - amount, nonce=acct.nonce))


def credit_native(ctx: TxContext, address: bytes, amount: int) -> None:
    """Add ``amount`` to ``address``'s account balance (its nonce unchanged)."""
    acct = ctx.account(address)
    balance = _add(acct.balance, amount, f"the balance of account {address.hex()}")
    ctx.set_account(address, Account(balance=balance, nonce=acct.nonce))


def escrow_native(ctx: TxContext, channel: str, amount: int) -> None:
    """``escrow/<channel> += amount``."""
    ctx.put(escrow_key(channel), u64_value(_add(escrowed(ctx, channel), amount, f"the escrow of {channel}")))


def release_native(ctx: TxContext, channel: str, amount: int) -> None:
    """``escrow/<channel> -= amount``."""
    held = escrowed(ctx, channel)
    if held < amount:
        raise insufficient(f"the native escrow of {channel}", held, amount)
    ctx.put(escrow_key(channel), u64_value(held - amount))


# -- vouchers ------------------------------------------------------------------------------------------------------
def known_voucher(ctx: TxContext, denom: str) -> bytes:
    """The hash of voucher ``denom``, which this chain must have minted (its trace is recorded).

    Raises:
        TxFailure: ``INVALID_DENOM``.
    """
    dh = denom_hash(ctx.suite, denom)
    if read_trace(ctx, dh) is None:
        raise invalid_denom(f"no voucher {denom!r} was ever minted on this chain")
    return dh


def debit_voucher(ctx: TxContext, dh: bytes, address: bytes, amount: int) -> None:
    """Take ``amount`` of voucher ``dh`` from ``address`` (the supply unchanged)."""
    held = voucher_balance(ctx, dh, address)
    if held < amount:
        raise insufficient(f"address {address.hex()}'s balance of voucher {dh.hex()}", held, amount)
    ctx.put(balance_key(dh, address), u64_value(held - amount))


def credit_voucher(ctx: TxContext, dh: bytes, address: bytes, amount: int) -> None:
    """Add ``amount`` of voucher ``dh`` to ``address`` (the supply unchanged)."""
    held = voucher_balance(ctx, dh, address)
    ctx.put(balance_key(dh, address), u64_value(_add(held, amount, f"{address.hex()}'s balance of {dh.hex()}")))


def raise_supply(ctx: TxContext, denom: str, amount: int) -> bytes:
    """Create ``amount`` of voucher ``denom`` held by nobody yet (a channel's receive, before it is credited or
    forwarded): its supply, and its trace the first time. Returns the denom hash."""
    dh = denom_hash(ctx.suite, denom)
    supply = _add(voucher_supply(ctx, dh), amount, f"the supply of {denom!r}")
    if ctx.get(denom_key(dh)) is None:
        ctx.put(denom_key(dh), encode(trace_of(denom)))
    ctx.put(supply_key(dh), u64_value(supply))
    return dh


def reduce_supply(ctx: TxContext, dh: bytes, amount: int) -> None:
    """Destroy ``amount`` of voucher ``dh`` held by nobody any more (taken from a holder already): its supply."""
    supply = voucher_supply(ctx, dh)
    if supply < amount:  # the supply is the sum of the balances and escrows: never reached
        raise insufficient(f"the supply of voucher {dh.hex()}", supply, amount)
    ctx.put(supply_key(dh), u64_value(supply - amount))


def mint_voucher(ctx: TxContext, denom: str, address: bytes, amount: int) -> bytes:
    """Create ``amount`` of voucher ``denom`` for ``address``: its trace (first time), supply and balance.
    Returns the denom hash."""
    dh = raise_supply(ctx, denom, amount)
    credit_voucher(ctx, dh, address, amount)
    return dh


def burn_voucher(ctx: TxContext, dh: bytes, address: bytes, amount: int) -> None:
    """Destroy ``amount`` of voucher ``dh`` held by ``address``: balance and supply (the trace stays)."""
    debit_voucher(ctx, dh, address, amount)
    reduce_supply(ctx, dh, amount)


def escrow_voucher(ctx: TxContext, channel: str, dh: bytes, amount: int) -> None:
    """Add ``amount`` of voucher ``dh`` to what ``channel`` holds in escrow."""
    held = voucher_escrowed(ctx, channel, dh)
    ctx.put(vescrow_key(channel, dh), u64_value(_add(held, amount, f"the escrow of {dh.hex()} on {channel}")))


def release_voucher(ctx: TxContext, channel: str, dh: bytes, amount: int) -> None:
    """Take ``amount`` of voucher ``dh`` out of ``channel``'s escrow.

    Raises:
        TxFailure: ``INSUFFICIENT_FUNDS`` (the escrow holds less).
    """
    held = voucher_escrowed(ctx, channel, dh)
    if held < amount:
        raise insufficient(f"the escrow of voucher {dh.hex()} on {channel}", held, amount)
    ctx.put(vescrow_key(channel, dh), u64_value(held - amount))


# -- send ----------------------------------------------------------------------------------------------------------
def send_out(ctx: TxContext, port: str, channel: str, denom: str, amount: int) -> None:
    """The channel's side of a send of ``amount`` of ``denom`` (a valid denom), once its holder gave it up: the
    native currency is escrowed in ``escrow/<channel>``, a voucher coming home over ``(port, channel)`` leaves the
    supply, any other voucher is escrowed in ``vescrow/<channel>``."""
    if is_native(denom):
        escrow_native(ctx, channel, amount)
        return
    dh = denom_hash(ctx.suite, denom)
    if has_hop(denom, port, channel):
        reduce_supply(ctx, dh, amount)
    else:
        escrow_voucher(ctx, channel, dh, amount)


def send_back(ctx: TxContext, port: str, channel: str, denom: str, amount: int) -> None:
    """Undo ``send_out`` for a packet the counterparty did not take: the value leaves the channel's escrow (or
    re-enters the supply), held by nobody until the caller credits it.

    Raises:
        TxFailure: ``INSUFFICIENT_FUNDS`` (an escrow short: never reached), ``OVERFLOW``.
    """
    if is_native(denom):
        release_native(ctx, channel, amount)
        return
    dh = denom_hash(ctx.suite, denom)
    if has_hop(denom, port, channel):
        raise_supply(ctx, denom, amount)
    else:
        release_voucher(ctx, channel, dh, amount)


def credit(ctx: TxContext, denom: str, address: bytes, amount: int) -> None:
    """Pay ``amount`` of ``denom`` (held by nobody) to ``address``: its account balance or its voucher balance."""
    if is_native(denom):
        credit_native(ctx, address, amount)
    else:
        credit_voucher(ctx, denom_hash(ctx.suite, denom), address, amount)


def take(ctx: TxContext, port: str, channel: str, denom: str, sender: bytes, amount: int) -> None:
    """What sending ``amount`` of ``denom`` over ``(port, channel)`` takes from ``sender`` (transfer.md 4.1):
    a voucher coming home over this channel is burned, the native currency escrowed in ``escrow/<channel>``,
    any other voucher escrowed at the channel's escrow address.

    Raises:
        TxFailure: ``INVALID_AMOUNT``, ``INVALID_DENOM``, ``INSUFFICIENT_FUNDS``, ``OVERFLOW``.
    """
    positive(amount)
    if not is_valid(denom):
        raise invalid_denom(f"{denom!r} is not a denomination")
    if is_native(denom):
        debit_native(ctx, sender, amount)
    elif not is_voucher(denom):
        raise invalid_denom(f"{denom!r} is neither {'native'!r} nor a voucher")
    else:
        debit_voucher(ctx, known_voucher(ctx, denom), sender, amount)
    send_out(ctx, port, channel, denom, amount)


def give_back(ctx: TxContext, packet: Packet, data: TransferData) -> None:
    """Undo ``take`` for a packet the counterparty did not take (error ack or timeout): exactly what was taken,
    back to its sender (transfer.md 4.3).

    Raises:
        TxFailure: ``OVERFLOW`` (the sender's balance or a supply would pass 2^64-1; the packet stays pending).
    """
    send_back(ctx, packet.source_port, packet.source_channel, data.denom, data.amount)
    credit(ctx, data.denom, data.sender, data.amount)


# -- receive -------------------------------------------------------------------------------------------------------
def bring_in(ctx: TxContext, packet: Packet, denom: str, amount: int) -> str:
    """The channel's side of receiving ``amount`` of ``denom`` (as the sender's chain names it) in ``packet``
    (transfer.md 4.2), held by nobody until the caller credits or forwards it: a denom coming home (first hop =
    the packet's source end) loses that hop and leaves this end's escrow; any other becomes the voucher
    ``dest_port/dest_channel/denom`` (its supply grows). Returns the denom as this chain names it.

    Raises:
        TxFailure: ``INVALID_AMOUNT``, ``INVALID_DENOM``, ``INSUFFICIENT_FUNDS`` (escrow short), ``OVERFLOW``.
    """
    positive(amount)
    if not is_valid(denom):
        raise invalid_denom(f"{denom!r} is not a denomination")
    if has_hop(denom, packet.source_port, packet.source_channel):
        local = strip_hop(denom, packet.source_port, packet.source_channel)
        if is_native(local):
            release_native(ctx, packet.dest_channel, amount)
            return local
        if not is_voucher(local):
            raise invalid_denom(f"{local!r} is neither {'native'!r} nor a voucher of this chain")
        release_voucher(ctx, packet.dest_channel, known_voucher(ctx, local), amount)
        return local
    voucher = add_hop(denom, packet.dest_port, packet.dest_channel)
    if not is_valid(voucher):
        raise invalid_denom(f"the voucher of {denom!r} would be longer than a denomination may be")
    raise_supply(ctx, voucher, amount)
    return voucher


def put_back(ctx: TxContext, packet: Packet, denom: str, local: str, amount: int) -> None:
    """Undo ``bring_in(packet, denom, amount)`` that returned ``local``, the value held by nobody again: a denom
    that came home goes back into this end's escrow, a minted voucher leaves the supply."""
    if has_hop(denom, packet.source_port, packet.source_channel):
        if is_native(local):
            escrow_native(ctx, packet.dest_channel, amount)
        else:
            escrow_voucher(ctx, packet.dest_channel, denom_hash(ctx.suite, local), amount)
        return
    reduce_supply(ctx, denom_hash(ctx.suite, local), amount)


def pay(ctx: TxContext, packet: Packet, data: TransferData) -> str:
    """What receiving ``packet`` pays ``data.receiver`` (transfer.md 4.2): ``bring_in``, then credited to the
    receiver. Returns the denom paid.

    Raises:
        TxFailure: ``INVALID_AMOUNT``, ``INVALID_DENOM``, ``INSUFFICIENT_FUNDS`` (escrow short),
            ``OVERFLOW``.
    """
    local = bring_in(ctx, packet, data.denom, data.amount)
    credit(ctx, local, data.receiver, data.amount)
    return local


def decode_data(packet: Packet) -> TransferData | ForwardedTransferData:
    """The packet's data: a ``TransferData`` (4 array elements) or, for a routed first hop, a
    ``ForwardedTransferData`` (5).

    Raises:
        TxFailure: ``INVALID_DENOM`` — the data is neither (its denom, amount or addresses break their bounds).
    """
    try:
        return decode(packet.data, TransferData)
    except DecodeError as exc:
        try:
            return decode(packet.data, ForwardedTransferData)
        except DecodeError:
            raise TxFailure(ResultCode.INVALID_DENOM, f"the packet data is not a transfer: {exc}") from None


def packet_data(packet: Packet) -> TransferData:
    """The packet's value and ends as a ``TransferData`` (a routed first hop's receiver is the final one).

    Raises:
        TxFailure: ``INVALID_DENOM`` — the data is not a canonical ``TransferData`` or ``ForwardedTransferData``.
    """
    data = decode_data(packet)
    if isinstance(data, TransferData):
        return data
    return TransferData(denom=data.denom, amount=data.amount, sender=data.sender, receiver=data.receiver)


def _event(kind: str, packet: Packet, *extra: tuple[str, bytes]) -> Event:
    return Event(
        type=kind,
        attributes=[
            ("channel", packet.source_channel.encode()),
            ("sequence", str(packet.sequence).encode()),
            *extra,
        ],
    )


# -- forwarding (ADR 0016 section 2; transfer.md 4.6) ------------------------------------------------------------
def forward_timeout_problem(first_time_ms: int, forward: Forward, now_ms: int | None) -> str | None:
    """Why a second hop's timeouts do not fit the first hop's (None when they do): the second hop needs a timeout
    time (the forwarding chain cannot compare the destination's heights with anything), at least
    ``FORWARD_MARGIN_MS`` before the first hop's timeout time when it has one, and at most ``FORWARD_MAX_WAIT_MS``
    past ``now_ms``, the forwarding chain's block time at the receive (the sender's chain does not know it:
    ``None`` skips that rule)."""
    if forward.timeout_time_ms == 0:
        return "a forward needs a timeout time (forward.timeout_time_ms is 0)"
    if first_time_ms != 0 and forward.timeout_time_ms + FORWARD_MARGIN_MS > first_time_ms:
        return (
            f"the forward's timeout time {forward.timeout_time_ms} is not {FORWARD_MARGIN_MS} ms before the "
            f"first hop's {first_time_ms}"
        )
    if now_ms is not None and forward.timeout_time_ms > now_ms + FORWARD_MAX_WAIT_MS:
        return (
            f"the forward's timeout time {forward.timeout_time_ms} is more than {FORWARD_MAX_WAIT_MS} ms past this "
            f"chain's block time {now_ms}"
        )
    return None


def _chain_of(ctx: TxContext, ch: ChannelEnd) -> tuple[str, bytes] | None:
    """(chain id, genesis hash) of the chain at the other end of a channel end, from its connection's client."""
    conn = read_connection(ctx, ch.connection_id)
    client = None if conn is None else read_client(ctx, conn.client_id)
    return None if client is None else (client.chain_id, client.genesis_hash)


def check_forward(ctx: TxContext, packet: Packet, forward: Forward) -> None:
    """What a forward must satisfy before this chain takes it (transfer.md 4.6): ``forward.channel`` an OPEN
    transfer channel, not leading back to the chain the packet came from, and the timeouts of
    ``forward_timeout_problem`` (with this block's time).

    Raises:
        TxFailure: ``CHANNEL_NOT_OPEN``, ``INVALID_CHANGE`` (a loop, the timeouts).
    """
    out = read_channel(ctx, PORT, forward.channel)
    if out is None or out.state != OPEN or out.version != VERSION:
        raise TxFailure(
            ResultCode.CHANNEL_NOT_OPEN, f"forward channel {forward.channel} is not an OPEN transfer channel"
        )
    came = read_channel(ctx, packet.dest_port, packet.dest_channel)
    origin = None if came is None else _chain_of(ctx, came)
    if forward.channel == packet.dest_channel or (origin is not None and _chain_of(ctx, out) == origin):
        name = "?" if origin is None else origin[0]
        raise TxFailure(
            ResultCode.INVALID_CHANGE,
            f"forward channel {forward.channel} leads back to chain {name}, where the packet came from",
        )
    problem = forward_timeout_problem(packet.timeout_time_ms, forward, ctx.time_ms)
    if problem is not None:
        raise TxFailure(ResultCode.INVALID_CHANGE, problem)


def forward_recv(ctx: TxContext, packet: Packet, data: ForwardedTransferData) -> list[Event]:
    """Receive a routed first hop and send its second (transfer.md 4.6): check the forward; bring the value in
    (``bring_in``) to the forwarding escrow; send it from there over ``forward.channel`` (``send_out``, then a
    ``TransferData`` of the denom as this chain names it, from the escrow's address to the final receiver); keep
    the ``ForwardRecord`` and the second hop's link back. The first hop's ack stays pending. Returns the second
    hop's ``interchain.send_packet`` event and ``transfer.forwarded`` (``in_channel``, ``in_sequence``,
    ``out_channel``, ``out_sequence``, ``denom`` as this chain names it, ``amount``, ``receiver``).

    Raises:
        TxFailure: ``check_forward``'s and ``bring_in``'s codes, ``send_packet``'s (a timeout passed already).
    """
    fwd = data.forward
    check_forward(ctx, packet, fwd)
    local = bring_in(ctx, packet, data.denom, data.amount)
    send_out(ctx, PORT, fwd.channel, local, data.amount)
    escrow = forward_address(ctx.suite, packet.dest_channel, packet.sequence)
    out_data = TransferData(denom=local, amount=data.amount, sender=escrow, receiver=data.receiver)
    out, events = send_packet(ctx, PORT, fwd.channel, encode(out_data), fwd.timeout_height, fwd.timeout_time_ms)
    record = ForwardRecord(
        packet=packet, denom=local, amount=data.amount, out_channel=fwd.channel, out_sequence=out.sequence
    )
    ctx.put(forward_key(packet.dest_channel, packet.sequence), encode(record))
    ref = ForwardRef(channel=packet.dest_channel, sequence=packet.sequence)
    ctx.put(forward_out_key(fwd.channel, out.sequence), encode(ref))
    forwarded = Event(
        type="transfer.forwarded",
        attributes=[
            ("in_channel", packet.dest_channel.encode()),
            ("in_sequence", str(packet.sequence).encode()),
            ("out_channel", fwd.channel.encode()),
            ("out_sequence", str(out.sequence).encode()),
            ("denom", local.encode()),
            ("amount", str(data.amount).encode()),
            ("receiver", data.receiver),
        ],
    )
    return [*events, forwarded]


def forward_done(ctx: TxContext, out: Packet, ref: ForwardRef, failure: Ack | None, why: str) -> list[Event]:
    """The second hop ``out`` of the forward ``ref`` ended: success (``failure`` None) writes the first hop's
    success ack; a failure (its error ack, or a timeout) sends the value back into the forwarding escrow
    (``send_back``), from there back where the first hop's receive took it (``put_back``), and writes the first
    hop's error ack, so the origin refunds its sender. The record and the link are deleted: once.

    Raises:
        TxFailure: ``NOT_FOUND`` (no record for the link: never reached), ``write_ack``'s codes.
    """
    record = read_forward(ctx, ref.channel, ref.sequence)
    if record is None or (record.out_channel, record.out_sequence) != (out.source_channel, out.sequence):
        raise TxFailure(ResultCode.NOT_FOUND, f"no forward of packet {ref.sequence} on {ref.channel} waits for this")
    first = record.packet
    ctx.put(forward_key(ref.channel, ref.sequence), None)
    ctx.put(forward_out_key(out.source_channel, out.sequence), None)
    attrs = [
        ("in_channel", ref.channel.encode()),
        ("in_sequence", str(ref.sequence).encode()),
        ("out_channel", out.source_channel.encode()),
        ("out_sequence", str(out.sequence).encode()),
        ("denom", record.denom.encode()),
        ("amount", str(record.amount).encode()),
    ]
    if failure is None:
        ack = Ack(code=0, result=SUCCESS_RESULT, reason="")
        attrs.append(("outcome", b"success"))
    else:
        send_back(ctx, PORT, out.source_channel, record.denom, record.amount)
        put_back(ctx, first, packet_data(first).denom, record.denom, record.amount)
        reason = f"forward over {out.source_channel} failed ({why}): {failure.reason}"
        ack = Ack(code=failure.code, result=b"", reason=reason[:MAX_ACK_REASON])
        attrs.append(("outcome", why.encode()))
    events = [Event(type="transfer.forward_done", attributes=attrs)]
    return events + write_ack(ctx, first.dest_port, first.dest_channel, first.sequence, ack, packet=first)


def expire_forward(ctx: TxContext, channel: str, sequence: int) -> list[Event]:
    """``transfer.expire_forward`` (transfer.md 4.6, *expiry*): the forward of first-hop packet ``sequence``
    received on ``channel`` ends as if its second hop had timed out, when that hop can never be proven either way:
    its channel's client is frozen and this block's time is at or past its timeout time (``expire_packet``, which
    deletes the second-hop packet so no later ack or timeout of it is accepted). Then ``forward_done`` with a
    ``PACKET_TIMED_OUT`` failure, outcome ``expired``: the value goes back where the first hop's receive took it
    and the first hop's error ack is written, so the origin refunds its sender. Once: the record is deleted.

    Raises:
        TxFailure: ``NOT_FOUND`` (no forward of that packet is pending), ``expire_packet``'s codes
            (``INVALID_CHANGE`` for a client that is not frozen, ``TIMEOUT_NOT_DUE``), ``forward_done``'s.
    """
    record = read_forward(ctx, channel, sequence)
    if record is None:
        raise TxFailure(
            ResultCode.NOT_FOUND,
            f"no forward of packet {sequence} received on {channel} is pending (never forwarded, or completed)",
        )
    out, events = expire_packet(ctx, PORT, record.out_channel, record.out_sequence)
    failure = Ack(
        code=int(ResultCode.PACKET_TIMED_OUT),
        result=b"",
        reason="the second hop expired: its destination's client is frozen and its timeout time passed",
    )
    ref = ForwardRef(channel=channel, sequence=sequence)
    return events + forward_done(ctx, out, ref, failure, "expired")


class TransferApp:
    """The ``transfer`` port's packet application."""

    version = VERSION

    def on_chan_open(self, ctx: TxContext, order: int, counterparty_port: str, version: str) -> None:
        """A transfer channel is unordered and speaks ``trellis-transfer-1``.

        Raises:
            TxFailure: ``INVALID_HANDSHAKE``.
        """
        if order != UNORDERED:
            raise TxFailure(ResultCode.INVALID_HANDSHAKE, f"transfer channels are unordered (order 1), not {order}")
        if version != VERSION:
            raise TxFailure(ResultCode.INVALID_HANDSHAKE, f"transfer speaks version {VERSION!r}, not {version!r}")

    def on_chan_close(self, ctx: TxContext, channel: str) -> None:
        """Refuse: a transfer channel is never closed by a user (ICS-20), since its escrow backs vouchers on the
        other chain that can only come home over it."""
        raise TxFailure(
            ResultCode.INVALID_HANDSHAKE,
            f"transfer channel {channel} cannot be closed: its escrow backs vouchers that come home over it",
        )

    def on_recv(self, ctx: TxContext, packet: Packet) -> tuple[Ack | None, list[Event]]:
        """Pay the receiver (``pay``; no events), or for a routed first hop (a ``ForwardedTransferData``) forward it
        (``forward_recv``, with its events) and answer None: its ack is pending until the second hop ends. On any
        failure an error ack with the failure's code and message, and nothing written (the work runs in its own
        savepoint, committed only when it succeeds)."""
        sp = ctx.savepoint()
        try:
            data = decode_data(packet)
            if isinstance(data, ForwardedTransferData):
                events = forward_recv(sp, packet, data)
                sp.commit()
                return None, events
            pay(sp, packet, data)
        except TxFailure as fail:
            return Ack(code=int(fail.code), result=b"", reason=fail.message[:MAX_ACK_REASON]), []
        sp.commit()
        return Ack(code=0, result=SUCCESS_RESULT, reason=""), []

    def on_ack(self, ctx: TxContext, packet: Packet, ack: Ack) -> list[Event]:
        """A success ack changes nothing; an error ack refunds the sender exactly what the send took. A forward's
        second hop completes its first (``forward_done``) instead."""
        success = b"\x01" if ack.code == 0 else b"\x00"
        events = [_event("transfer.ack", packet, ("success", success))]
        ref = read_forward_ref(ctx, packet.source_channel, packet.sequence)
        if ref is not None:
            return events + forward_done(ctx, packet, ref, None if ack.code == 0 else ack, "error_ack")
        if ack.code == 0:
            return events
        return [*events, self._refund(ctx, packet, "error_ack")]

    def on_timeout(self, ctx: TxContext, packet: Packet) -> list[Event]:
        """The packet was never received: refund the sender exactly what the send took (a forward's second hop:
        ``forward_done`` with a timeout)."""
        ref = read_forward_ref(ctx, packet.source_channel, packet.sequence)
        if ref is not None:
            failure = Ack(code=int(ResultCode.PACKET_TIMED_OUT), result=b"", reason="the second hop timed out")
            return forward_done(ctx, packet, ref, failure, "timeout")
        return [self._refund(ctx, packet, "timeout")]

    @staticmethod
    def _refund(ctx: TxContext, packet: Packet, why: str) -> Event:
        data = packet_data(packet)
        give_back(ctx, packet, data)
        return _event(
            "transfer.refund",
            packet,
            ("denom", data.denom.encode()),
            ("amount", str(data.amount).encode()),
            ("to", data.sender),
            ("reason", why.encode()),
        )
