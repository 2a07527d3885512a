"""Step functions other modules call to use channels (ADR 0015 section 1; docs/spec/interchain.md 5): send a
packet, and write the acknowledgement of a received packet whose application left it pending (ADR 0016 section 2;
interchain.md 5.4). Also the small reads and event builders the connection, channel and packet handlers share.

A module may import this file (like ``validators/governance.py``), never the interchain handlers.
"""

from __future__ import annotations

from trellis.core.codec import encode
from trellis.core.execution.context import TxContext
from trellis.core.execution.results import ResultCode, TxFailure
from trellis.core.ledger.block import Event
from trellis.core.modules.interchain.client import FROZEN
from trellis.core.modules.interchain.messages import (
    MAX_ACK_REASON,
    MAX_ACK_RESULT,
    MAX_PACKET_DATA,
    ORDERED,
    Ack,
    Packet,
)
from trellis.core.modules.interchain.proofs import active_client, client_status, consensus_at
from trellis.core.modules.interchain.state import (
    CLOSED,
    OPEN,
    STATE_NAMES,
    ChannelEnd,
    ConnectionEnd,
    ack_key,
    expired_count,
    expired_key,
    has_receipt,
    packet_id,
    packet_key,
    read_channel,
    read_connection,
    read_packet,
    read_seq,
    seq_bytes,
    seq_recv_key,
    seq_send_key,
)

MAX_ATTR = 1024
"""Most bytes of one event attribute value (``core/ledger/block.py`` ``AttrValue``): a packet or ack longer than
this is named by its ``packet_id`` and sequence only (the relayer reads the value from state)."""
U64_MAX = 2**64 - 1
"""The largest ``U64``."""


def num(n: int) -> bytes:
    """An integer as an event attribute value (decimal ASCII, like every module's amounts and heights)."""
    return str(n).encode()


def state_name(state: int) -> str:
    """A handshake state's name for messages (``INIT``, ``OPEN``, ...)."""
    return STATE_NAMES.get(state, str(state))


def channel_end(ctx: TxContext, port: str, channel: str) -> ChannelEnd:
    """The channel end ``(port, channel)``, whatever its state.

    Raises:
        TxFailure: ``CHANNEL_NOT_OPEN`` when there is no such channel end.
    """
    ch = read_channel(ctx, port, channel)
    if ch is None:
        raise TxFailure(ResultCode.CHANNEL_NOT_OPEN, f"no channel {port}/{channel}")
    return ch


def open_channel(ctx: TxContext, port: str, channel: str) -> ChannelEnd:
    """The channel end ``(port, channel)``, which must be OPEN.

    Raises:
        TxFailure: ``CHANNEL_NOT_OPEN``.
    """
    ch = channel_end(ctx, port, channel)
    if ch.state != OPEN:
        raise TxFailure(ResultCode.CHANNEL_NOT_OPEN, f"channel {port}/{channel} is {state_name(ch.state)}, not OPEN")
    return ch


def channel_connection(ctx: TxContext, ch: ChannelEnd) -> ConnectionEnd:
    """The OPEN connection a channel end runs over (a channel end only exists over an OPEN connection).

    Raises:
        TxFailure: ``INVALID_HANDSHAKE`` when it is missing or not OPEN.
    """
    conn = read_connection(ctx, ch.connection_id)
    if conn is None or conn.state != OPEN:
        what = "missing" if conn is None else state_name(conn.state)
        raise TxFailure(ResultCode.INVALID_HANDSHAKE, f"connection {ch.connection_id} is {what}, not OPEN")
    return conn


def packet_attributes(ctx: TxContext, packet: Packet) -> list[tuple[str, bytes]]:
    """The attributes every packet event carries: ``packet_id``, ``sequence``, the four ends, and ``packet`` (the
    canonical bytes) when they fit an attribute (``MAX_ATTR``)."""
    raw = encode(packet)
    attrs: list[tuple[str, bytes]] = [
        ("packet_id", packet_id(ctx.suite, packet)),
        ("sequence", num(packet.sequence)),
        ("source_port", packet.source_port.encode()),
        ("source_channel", packet.source_channel.encode()),
        ("dest_port", packet.dest_port.encode()),
        ("dest_channel", packet.dest_channel.encode()),
    ]
    if len(raw) <= MAX_ATTR:
        attrs.append(("packet", raw))
    return attrs


def send_packet(
    ctx: TxContext, port: str, channel: str, data: bytes, timeout_height: int, timeout_time_ms: int
) -> tuple[Packet, list[Event]]:
    """Commit a packet of ``data`` on channel end ``(port, channel)`` and return it with its ``send_packet`` event.

    The channel must be OPEN and its connection's client of the counterparty active; at least one timeout must be
    set, and neither may be passed already by the client's latest consensus state (height ``>= timeout_height``
    or time ``>= timeout_time_ms``: the packet could never be received). The packet takes the channel's next
    send sequence and is stored under ``interchain/packet/<port>/<channel>/<seq>`` until its ack or timeout.

    Raises:
        TxFailure: ``CHANNEL_NOT_OPEN``; ``INVALID_CHANGE`` (no timeout, a timeout or data out of bounds);
            ``PACKET_TIMED_OUT`` (a timeout already passed); ``CLIENT_NOT_FOUND`` / ``CLIENT_FROZEN`` /
            ``CLIENT_EXPIRED``.
    """
    ch = open_channel(ctx, port, channel)
    conn = channel_connection(ctx, ch)
    if not 1 <= len(data) <= MAX_PACKET_DATA:
        raise TxFailure(ResultCode.INVALID_CHANGE, f"packet data of {len(data)} bytes (1..{MAX_PACKET_DATA})")
    if not (0 <= timeout_height <= U64_MAX and 0 <= timeout_time_ms <= U64_MAX):
        raise TxFailure(ResultCode.INVALID_CHANGE, "a timeout out of the U64 range")
    if timeout_height == 0 and timeout_time_ms == 0:
        raise TxFailure(ResultCode.INVALID_CHANGE, "a packet needs a timeout height or a timeout time (both are 0)")
    client = active_client(ctx, conn.client_id)
    latest = consensus_at(ctx, conn.client_id, client.latest_height)
    if timeout_height != 0 and client.latest_height >= timeout_height:
        raise TxFailure(
            ResultCode.PACKET_TIMED_OUT,
            f"timeout height {timeout_height} already reached: client {conn.client_id} knows the counterparty at "
            f"height {client.latest_height}",
        )
    if timeout_time_ms != 0 and latest.time_ms >= timeout_time_ms:
        raise TxFailure(
            ResultCode.PACKET_TIMED_OUT,
            f"timeout time {timeout_time_ms} already reached: client {conn.client_id} knows the counterparty at "
            f"time {latest.time_ms}",
        )
    seq_key = seq_send_key(port, channel)
    seq = read_seq(ctx, seq_key)
    packet = Packet(
        sequence=seq,
        source_port=port,
        source_channel=channel,
        dest_port=ch.counterparty_port,
        dest_channel=ch.counterparty_channel,
        data=data,
        timeout_height=timeout_height,
        timeout_time_ms=timeout_time_ms,
    )
    ctx.put(seq_key, seq_bytes(seq + 1))
    ctx.put(packet_key(port, channel, seq), encode(packet))
    attrs = packet_attributes(ctx, packet)
    attrs += [("timeout_height", num(timeout_height)), ("timeout_time_ms", num(timeout_time_ms))]
    return packet, [Event(type="interchain.send_packet", attributes=attrs)]


def ack_attributes(ctx: TxContext, packet: Packet, ack: Ack) -> list[tuple[str, bytes]]:
    """The attributes of an ``interchain.write_ack`` or ``interchain.ack_packet`` event: the packet's ids and ends
    (``packet_attributes`` but the packet bytes), the ack's ``code``, and ``ack`` (its bytes) when they fit."""
    attrs = packet_attributes(ctx, packet)[:6]
    attrs.append(("code", num(ack.code)))
    raw = encode(ack)
    if len(raw) <= MAX_ATTR:
        attrs.append(("ack", raw))
    return attrs


def write_ack(
    ctx: TxContext, port: str, channel: str, sequence: int, ack: Ack, *, packet: Packet | None = None
) -> list[Event]:
    """Write the acknowledgement of packet ``sequence`` received on this chain's end ``(port, channel)`` and return
    its ``interchain.write_ack`` event (interchain.md 5.4): the synchronous ack of a receive, or later the ack an
    application left pending (its ``on_recv`` answered None). Relayers carry it back like any ack.

    The channel end must exist, OPEN or CLOSED (a pending ack still completes the source's packet after a close);
    the packet must have been received (unordered: its receipt; ordered: ``sequence < seq_recv``), and no ack may
    be written for it yet: a packet is acknowledged exactly once. ``packet``, when the caller has it, must be the
    received packet (its destination is ``(port, channel, sequence)``); it gives the event its ``packet_id``.
    Without it the event names the packet by its ends and sequence only.

    Raises:
        TxFailure: ``CHANNEL_NOT_OPEN`` (no such channel end, or still in its handshake); ``NOT_FOUND`` (the packet
            was never received); ``DUPLICATE`` (its ack is written already); ``INVALID_CHANGE`` (``packet`` is not
            that packet, or the ack is out of bounds).
    """
    ch = channel_end(ctx, port, channel)
    if ch.state not in (OPEN, CLOSED):
        raise TxFailure(ResultCode.CHANNEL_NOT_OPEN, f"channel {port}/{channel} is {state_name(ch.state)}")
    if packet is not None and (packet.dest_port, packet.dest_channel, packet.sequence) != (port, channel, sequence):
        raise TxFailure(
            ResultCode.INVALID_CHANGE,
            f"packet {packet.sequence} to {packet.dest_port}/{packet.dest_channel} is not packet {sequence} of "
            f"{port}/{channel}",
        )
    if len(ack.result) > MAX_ACK_RESULT or len(ack.reason) > MAX_ACK_REASON:
        raise TxFailure(ResultCode.INVALID_CHANGE, "the ack's result or reason is out of bounds")
    if ch.order == ORDERED:
        received = sequence < read_seq(ctx, seq_recv_key(port, channel))
    else:
        received = has_receipt(ctx, port, channel, sequence)
    if not received:
        raise TxFailure(ResultCode.NOT_FOUND, f"packet {sequence} on {port}/{channel} was never received")
    key = ack_key(port, channel, sequence)
    if ctx.get(key) is not None:
        raise TxFailure(ResultCode.DUPLICATE, f"packet {sequence} on {port}/{channel} is acknowledged already")
    ctx.put(key, encode(ack))
    if packet is not None:
        attrs = ack_attributes(ctx, packet, ack)
    else:
        attrs = [
            ("sequence", num(sequence)),
            ("source_port", ch.counterparty_port.encode()),
            ("source_channel", ch.counterparty_channel.encode()),
            ("dest_port", port.encode()),
            ("dest_channel", channel.encode()),
            ("code", num(ack.code)),
        ]
        raw = encode(ack)
        if len(raw) <= MAX_ATTR:
            attrs.append(("ack", raw))
    return [Event(type="interchain.write_ack", attributes=attrs)]


def expire_packet(ctx: TxContext, port: str, channel: str, sequence: int) -> tuple[Packet, list[Event]]:
    """End pending packet ``sequence`` of this chain's end ``(port, channel)`` whose counterparty can never be heard
    from again (interchain.md 5.5, *expiry*): the channel's connection's client is FROZEN (a frozen client proves
    nothing: no ack and no timeout of the packet can ever be proven), and this block's time is at or past the
    packet's ``timeout_time_ms``. The packet is deleted like a timeout deletes it, so no later ack or timeout of
    it is accepted; the event is ``interchain.timeout_packet`` with ``kind`` = ``expired``. The caller undoes what
    the send did (the application's ``on_timeout`` is *not* run: the application decides, e.g.
    ``transfer.expire_forward``). Unordered channels only. The client is marked (``interchain/expired/<client_id>``,
    a count) so that ``interchain.recover_client`` refuses it: the counterparty may have received the packet.

    Raises:
        TxFailure: ``CHANNEL_NOT_OPEN`` (no such end, or in its handshake); ``INVALID_CHANGE`` (an ordered
            channel; a client that is active or expired, not frozen: the packet can still be acknowledged or timed
            out through it, after a recovery if expired); ``PACKET_NOT_PENDING``; ``INVALID_HANDSHAKE`` (the
            connection is missing); ``CLIENT_NOT_FOUND``; ``TIMEOUT_NOT_DUE`` (no timeout time, or not reached by
            this block's time).
    """
    ch = channel_end(ctx, port, channel)
    if ch.state not in (OPEN, CLOSED):
        raise TxFailure(ResultCode.CHANNEL_NOT_OPEN, f"channel {port}/{channel} is {state_name(ch.state)}")
    if ch.order == ORDERED:
        raise TxFailure(ResultCode.INVALID_CHANGE, f"channel {port}/{channel} is ordered: its packets do not expire")
    packet = read_packet(ctx, port, channel, sequence)
    if packet is None:
        raise TxFailure(
            ResultCode.PACKET_NOT_PENDING,
            f"packet {sequence} of {port}/{channel} is not pending (acknowledged, timed out, or never sent)",
        )
    conn = read_connection(ctx, ch.connection_id)
    if conn is None:
        raise TxFailure(ResultCode.INVALID_HANDSHAKE, f"connection {ch.connection_id} is missing")
    st = client_status(ctx, conn.client_id, ctx.time_ms)
    if st is None:
        raise TxFailure(ResultCode.CLIENT_NOT_FOUND, f"no client {conn.client_id}")
    if st != FROZEN:
        raise TxFailure(
            ResultCode.INVALID_CHANGE,
            f"client {conn.client_id} of channel {port}/{channel} is {st}, not frozen: packet {sequence} can still "
            "be acknowledged or timed out through it",
        )
    if packet.timeout_time_ms == 0 or ctx.time_ms < packet.timeout_time_ms:
        raise TxFailure(
            ResultCode.TIMEOUT_NOT_DUE,
            f"packet {sequence} of {port}/{channel} (timeout time {packet.timeout_time_ms}) has not expired at this "
            f"block's time {ctx.time_ms}",
        )
    ctx.put(packet_key(port, channel, sequence), None)
    # The counterparty may have received the packet before the freeze: the caller's undo and the counterparty's
    # credit now both stand. Recovering the client would let that credit come back and be paid a second time, so
    # the client is marked and interchain.recover_client refuses it (interchain.md 5.5, 2.6).
    ctx.put(expired_key(conn.client_id), (expired_count(ctx, conn.client_id) + 1).to_bytes(8, "big"))
    attrs = [*packet_attributes(ctx, packet)[:6], ("kind", b"expired")]
    return packet, [Event(type="interchain.timeout_packet", attributes=attrs)]
