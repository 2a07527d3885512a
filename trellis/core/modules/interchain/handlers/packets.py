"""Interchain handlers: packets, acknowledgements, timeouts and the relayer's batch (docs/spec/interchain.md 5.3-5.5;
ADR 0015 section 3).

**Receive** (destination, block ``h`` at time ``t_h``): the channel end is OPEN and the packet's source is its
counterparty; ``(timeout_height == 0 or h < timeout_height) and (timeout_time_ms == 0 or t_h < timeout_time_ms)``
(else ``PACKET_TIMED_OUT``); not received before (unordered: no receipt, else ``ALREADY_RECEIVED``; ordered:
``sequence == seq_recv``, else ``ALREADY_RECEIVED`` below and ``OUT_OF_ORDER`` above); the packet proven stored at
the source. Then the receipt (or ``seq_recv + 1``), the application's ``on_recv`` in a savepoint (its writes and
events kept for a success ack or a pending one; a ``TxFailure`` becomes an error ack), and the ack under ``interchain/ack/...`` (``write_ack``)
unless the application answered None: then the ack is pending and the application writes it later with
``interchain.packets.write_ack`` (ADR 0016 section 2).

**Acknowledge** and **timeout** (source) both require the stored packet (``PACKET_NOT_PENDING`` when absent,
``COMMITMENT_MISMATCH`` when the relayed one differs) and delete it: at most one of them ever runs, once. A
timeout is due at proof height P with consensus time ``t_P`` iff ``(timeout_height != 0 and P >=
timeout_height) or (timeout_time_ms != 0 and t_P >= timeout_time_ms)`` (else ``TIMEOUT_NOT_DUE``); unordered
channels prove the receipt absent at P, ordered ones prove ``seq_recv(P) <= sequence`` and the channel closes.

**Relay**: an optional client update (its failure fails the transaction), then each item in its own savepoint;
each item's outcome is an ``interchain.item`` event (``index``, ``code``, ``message``); a refused item changes
nothing and the others go on.
"""

from __future__ import annotations

from collections.abc import Mapping

from trellis.core.codec import encode
from trellis.core.execution.context import TxContext
from trellis.core.execution.module import PacketApp
from trellis.core.execution.results import ResultCode, TxFailure
from trellis.core.ledger.block import MAX_EVENTS, Event
from trellis.core.modules.interchain.handlers.channels import bound_app, channel_event
from trellis.core.modules.interchain.handlers.clients import handle_update_client
from trellis.core.modules.interchain.messages import (
    MAX_ACK_REASON,
    MAX_ACK_RESULT,
    ORDERED,
    Ack,
    Acknowledge,
    Packet,
    RecvPacket,
    Relay,
    RelayItem,
    Timeout,
    TimeoutOnClose,
)
from trellis.core.modules.interchain.packets import (
    MAX_ATTR,
    ack_attributes,
    channel_connection,
    channel_end,
    num,
    open_channel,
    packet_attributes,
    state_name,
    write_ack,
)
from trellis.core.modules.interchain.proofs import consensus_at, verify_membership, verify_non_membership
from trellis.core.modules.interchain.state import (
    CLOSED,
    OPEN,
    ChannelEnd,
    ConnectionEnd,
    ack_key,
    channel_key,
    has_receipt,
    packet_key,
    read_packet,
    read_seq,
    receipt_key,
    seq_ack_key,
    seq_bytes,
    seq_recv_key,
)

RECEIPT = b"\x01"
"""The value of a receipt."""
MIN_ITEM_EVENTS = 3
"""Events a successful relay item adds at least (a synchronous receive whose application emits none adds exactly
this many: ``recv_packet``, ``write_ack``, ``interchain.item``): an item is not started when they would not fit
the receipt."""


def _run_on_recv(ctx: TxContext, app: PacketApp, packet: Packet) -> tuple[Ack | None, list[Event]]:
    """``on_recv`` in a savepoint, committed with its events for a success ack and for None (the ack is pending:
    the application writes it later with ``write_ack``); a ``TxFailure`` becomes an error ack, and an ack out of
    bounds an error ack of ``HANDLER_ERROR``. An error ack keeps neither the application's writes nor its events."""
    sp = ctx.savepoint()
    try:
        ack, events = app.on_recv(sp, packet)
    except TxFailure as fail:
        code = int(fail.code) or int(ResultCode.HANDLER_ERROR)
        return Ack(code=code, result=b"", reason=fail.message[:MAX_ACK_REASON]), []
    if ack is None:
        sp.commit()
        return None, events
    if len(ack.result) > MAX_ACK_RESULT or len(ack.reason) > MAX_ACK_REASON:
        bad = Ack(code=int(ResultCode.HANDLER_ERROR), result=b"", reason="the application's ack is out of bounds")
        return bad, []
    if ack.code != 0:
        return ack, []
    sp.commit()
    return ack, events


def handle_recv_packet(ctx: TxContext, msg: RecvPacket, apps: Mapping[str, PacketApp]) -> list[Event]:
    """Receive a packet proven stored at the source (module docstring).

    Raises:
        TxFailure: ``CHANNEL_NOT_OPEN``, ``INVALID_HANDSHAKE`` (the source is not the channel's counterparty),
            ``PORT_NOT_BOUND``, ``ALREADY_RECEIVED``, ``OUT_OF_ORDER``, ``PACKET_TIMED_OUT``, ``INVALID_PROOF``,
            client and consensus-height codes.
    """
    packet = msg.packet
    port, chan, seq = packet.dest_port, packet.dest_channel, packet.sequence
    ch = open_channel(ctx, port, chan)
    if (packet.source_port, packet.source_channel) != (ch.counterparty_port, ch.counterparty_channel):
        raise TxFailure(
            ResultCode.INVALID_HANDSHAKE,
            f"packet from {packet.source_port}/{packet.source_channel}: channel {port}/{chan} is joined to "
            f"{ch.counterparty_port}/{ch.counterparty_channel}",
        )
    app = bound_app(apps, port)
    conn = channel_connection(ctx, ch)
    ordered = ch.order == ORDERED
    if ordered:
        expected = read_seq(ctx, seq_recv_key(port, chan))
        if seq < expected:
            raise TxFailure(ResultCode.ALREADY_RECEIVED, f"packet {seq} on {port}/{chan}: next expected is {expected}")
        if seq > expected:
            raise TxFailure(ResultCode.OUT_OF_ORDER, f"packet {seq} on {port}/{chan}: next expected is {expected}")
    elif has_receipt(ctx, port, chan, seq):
        raise TxFailure(ResultCode.ALREADY_RECEIVED, f"packet {seq} on {port}/{chan} was received already")
    if packet.timeout_height != 0 and ctx.height >= packet.timeout_height:
        raise TxFailure(
            ResultCode.PACKET_TIMED_OUT,
            f"packet {seq} timed out at height {packet.timeout_height} (this block is {ctx.height})",
        )
    if packet.timeout_time_ms != 0 and ctx.time_ms >= packet.timeout_time_ms:
        raise TxFailure(
            ResultCode.PACKET_TIMED_OUT,
            f"packet {seq} timed out at time {packet.timeout_time_ms} (this block's time is {ctx.time_ms})",
        )
    verify_membership(
        ctx, conn.client_id, packet_key(packet.source_port, packet.source_channel, seq), encode(packet), msg.proof
    )
    if ordered:
        ctx.put(seq_recv_key(port, chan), seq_bytes(seq + 1))
    else:
        ctx.put(receipt_key(port, chan, seq), RECEIPT)
    ack, app_events = _run_on_recv(ctx, app, packet)
    events = [Event(type="interchain.recv_packet", attributes=packet_attributes(ctx, packet)), *app_events]
    if ack is None:  # pending: the application writes it later (write_ack)
        return events
    return events + write_ack(ctx, port, chan, seq, ack, packet=packet)


def _pending(ctx: TxContext, packet: Packet) -> tuple[ChannelEnd, ConnectionEnd]:
    """The source channel end (OPEN or CLOSED) and its connection, with ``packet`` exactly as stored there.

    Raises:
        TxFailure: ``CHANNEL_NOT_OPEN`` (no such channel, or still in its handshake), ``PACKET_NOT_PENDING``,
            ``COMMITMENT_MISMATCH``.
    """
    port, chan, seq = packet.source_port, packet.source_channel, packet.sequence
    ch = channel_end(ctx, port, chan)
    if ch.state not in (OPEN, CLOSED):
        raise TxFailure(ResultCode.CHANNEL_NOT_OPEN, f"channel {port}/{chan} is {state_name(ch.state)}")
    stored = read_packet(ctx, port, chan, seq)
    if stored is None:
        raise TxFailure(
            ResultCode.PACKET_NOT_PENDING,
            f"packet {seq} of {port}/{chan} is not pending (acknowledged, timed out, or never sent)",
        )
    if stored != packet:
        raise TxFailure(ResultCode.COMMITMENT_MISMATCH, f"packet {seq} of {port}/{chan} differs from the stored one")
    return ch, channel_connection(ctx, ch)


def handle_acknowledge(ctx: TxContext, msg: Acknowledge, apps: Mapping[str, PacketApp]) -> list[Event]:
    """Bring back the destination's ack of a pending packet (proven): the packet is deleted, ``on_ack`` runs.

    Raises:
        TxFailure: ``CHANNEL_NOT_OPEN``, ``PACKET_NOT_PENDING``, ``COMMITMENT_MISMATCH``, ``OUT_OF_ORDER``
            (ordered: not the next ack), ``PORT_NOT_BOUND``, ``INVALID_PROOF``, client codes, the app's refusal.
    """
    packet = msg.packet
    port, chan, seq = packet.source_port, packet.source_channel, packet.sequence
    ch, conn = _pending(ctx, packet)
    app = bound_app(apps, port)
    if ch.order == ORDERED:
        expected = read_seq(ctx, seq_ack_key(port, chan))
        if seq != expected:
            raise TxFailure(ResultCode.OUT_OF_ORDER, f"ack of packet {seq} on {port}/{chan}: next ack is {expected}")
        ctx.put(seq_ack_key(port, chan), seq_bytes(seq + 1))
    verify_membership(
        ctx, conn.client_id, ack_key(packet.dest_port, packet.dest_channel, seq), encode(msg.ack), msg.proof
    )
    ctx.put(packet_key(port, chan, seq), None)
    events = [Event(type="interchain.ack_packet", attributes=ack_attributes(ctx, packet, msg.ack))]
    return events + app.on_ack(ctx, packet, msg.ack)


def _prove_not_received(
    ctx: TxContext, ch: ChannelEnd, conn: ConnectionEnd, packet: Packet, next_seq_recv: int, proof: bytes
) -> int:
    """Check the destination had not received ``packet`` after block P; return P.

    Unordered: the receipt is absent at P. Ordered: ``seq_recv`` at P is ``next_seq_recv`` (proven) and at most
    the packet's sequence.

    Raises:
        TxFailure: ``ALREADY_RECEIVED`` (ordered: ``next_seq_recv`` past the packet), ``INVALID_PROOF``, client
            and consensus-height codes.
    """
    if ch.order == ORDERED:
        if next_seq_recv > packet.sequence:
            raise TxFailure(
                ResultCode.ALREADY_RECEIVED,
                f"the destination's next receive sequence {next_seq_recv} is past packet {packet.sequence}",
            )
        key = seq_recv_key(packet.dest_port, packet.dest_channel)
        return verify_membership(ctx, conn.client_id, key, seq_bytes(next_seq_recv), proof)
    key = receipt_key(packet.dest_port, packet.dest_channel, packet.sequence)
    return verify_non_membership(ctx, conn.client_id, key, proof)


def _end_by_timeout(ctx: TxContext, ch: ChannelEnd, packet: Packet, app: PacketApp, kind: str) -> list[Event]:
    """Delete the packet, close an ordered channel, run ``on_timeout``."""
    port, chan = packet.source_port, packet.source_channel
    ctx.put(packet_key(port, chan, packet.sequence), None)
    attrs = [*packet_attributes(ctx, packet)[:6], ("kind", kind.encode())]
    events = [Event(type="interchain.timeout_packet", attributes=attrs)]
    if ch.order == ORDERED and ch.state != CLOSED:
        closed = ChannelEnd(
            state=CLOSED,
            order=ch.order,
            connection_id=ch.connection_id,
            counterparty_port=ch.counterparty_port,
            counterparty_channel=ch.counterparty_channel,
            version=ch.version,
        )
        ctx.put(channel_key(port, chan), encode(closed))
        events.append(channel_event("close", port, chan, closed))
    return events + app.on_timeout(ctx, packet)


def handle_timeout(ctx: TxContext, msg: Timeout, apps: Mapping[str, PacketApp]) -> list[Event]:
    """End a pending packet the destination did not receive before its timeout (proven at a height P where the
    timeout is due): the packet is deleted, an ordered channel closes, ``on_timeout`` runs.

    Raises:
        TxFailure: ``CHANNEL_NOT_OPEN``, ``PACKET_NOT_PENDING``, ``COMMITMENT_MISMATCH``, ``PORT_NOT_BOUND``,
            ``ALREADY_RECEIVED``, ``INVALID_PROOF``, ``TIMEOUT_NOT_DUE``, client and consensus-height codes.
    """
    packet = msg.packet
    ch, conn = _pending(ctx, packet)
    app = bound_app(apps, packet.source_port)
    proof_height = _prove_not_received(ctx, ch, conn, packet, msg.next_seq_recv, msg.proof)
    proof_time = consensus_at(ctx, conn.client_id, proof_height).time_ms
    due_height = packet.timeout_height != 0 and proof_height >= packet.timeout_height
    due_time = packet.timeout_time_ms != 0 and proof_time >= packet.timeout_time_ms
    if not (due_height or due_time):
        raise TxFailure(
            ResultCode.TIMEOUT_NOT_DUE,
            f"packet {packet.sequence} (timeout height {packet.timeout_height}, time {packet.timeout_time_ms}) is "
            f"not timed out at the proof's height {proof_height} (time {proof_time})",
        )
    return _end_by_timeout(ctx, ch, packet, app, "timeout")


def handle_timeout_on_close(ctx: TxContext, msg: TimeoutOnClose, apps: Mapping[str, PacketApp]) -> list[Event]:
    """End a pending packet whose destination channel end is proven CLOSED and that it had not received, both at
    one height P.

    Raises:
        TxFailure: as ``handle_timeout`` but ``TIMEOUT_NOT_DUE``; ``INVALID_PROOF`` also when the two proofs are
            at different heights.
    """
    packet = msg.packet
    ch, conn = _pending(ctx, packet)
    app = bound_app(apps, packet.source_port)
    proof_height = _prove_not_received(ctx, ch, conn, packet, msg.next_seq_recv, msg.proof)
    closed = ChannelEnd(
        state=CLOSED,
        order=ch.order,
        connection_id=conn.counterparty_connection_id,
        counterparty_port=packet.source_port,
        counterparty_channel=packet.source_channel,
        version=ch.version,
    )
    close_height = verify_membership(
        ctx, conn.client_id, channel_key(packet.dest_port, packet.dest_channel), encode(closed), msg.proof_close
    )
    if close_height != proof_height:
        raise TxFailure(
            ResultCode.INVALID_PROOF,
            f"non-receipt proven at height {proof_height} but the closed channel at {close_height}: one height expected",
        )
    return _end_by_timeout(ctx, ch, packet, app, "on_close")


def _run_item(ctx: TxContext, item: RelayItem, apps: Mapping[str, PacketApp]) -> list[Event]:
    if isinstance(item, RecvPacket):
        return handle_recv_packet(ctx, item, apps)
    if isinstance(item, Acknowledge):
        return handle_acknowledge(ctx, item, apps)
    return handle_timeout(ctx, item, apps)


def handle_relay(ctx: TxContext, msg: Relay, apps: Mapping[str, PacketApp]) -> list[Event]:
    """A relayer's batch: the optional client update, then each item in its own savepoint.

    Each item ends with an ``interchain.item`` event (``index``, ``code``: 0 or the refusal's ``ResultCode``;
    ``message``), after its own events when it succeeded. A refused item changes nothing and the others go on.
    A receipt holds at most ``MAX_EVENTS`` events: an item is not started when ``MIN_ITEM_EVENTS`` more would pass
    ``MAX_EVENTS - 1``, and one whose events (an application's included) do not fit is undone; it and the items
    after it are deferred, and one last event ``interchain.relay_deferred`` (``from_index``) says where a relayer
    resumes. A deferred item changes nothing.

    Raises:
        TxFailure: whatever the update refuses (the only way the transaction fails).
    """
    events: list[Event] = []
    if msg.update is not None:
        events += handle_update_client(ctx, msg.update)
    budget = MAX_EVENTS - 1
    for index, item in enumerate(msg.items):
        if len(events) + MIN_ITEM_EVENTS > budget:
            events.append(Event(type="interchain.relay_deferred", attributes=[("from_index", num(index))]))
            break
        sp = ctx.savepoint()
        try:
            item_events = _run_item(sp, item, apps)
        except TxFailure as fail:
            code, message, item_events = int(fail.code), fail.message, []
        else:
            code, message = int(ResultCode.OK), ""
        outcome = Event(
            type="interchain.item",
            attributes=[("index", num(index)), ("code", num(code)), ("message", message.encode()[:MAX_ATTR])],
        )
        if len(events) + len(item_events) + 1 > budget:
            events.append(Event(type="interchain.relay_deferred", attributes=[("from_index", num(index))]))
            break
        if code == 0:
            sp.commit()
        events += item_events
        events.append(outcome)
    return events
