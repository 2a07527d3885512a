"""Interchain handlers: the channel handshake and closing (docs/spec/interchain.md 5.2; ADR 0015 section 4, ICS-04).

A channel joins a port (a module with a packet application, from the ``apps`` table ``module.build`` closes over)
on this chain to a port on the counterparty, over an OPEN connection. Opening takes four steps, each proven by
the other side's state: ``chan_open_init`` (A: INIT) -> ``chan_open_try`` (B: TRYOPEN, proving A's INIT end) ->
``chan_open_ack`` (A: OPEN, proving B's TRYOPEN end) -> ``chan_open_confirm`` (B: OPEN, proving A's OPEN end).
``init`` and ``try`` ask the port's application (``on_chan_open``), which may refuse; the version must be the
application's. Closing: ``chan_close_init`` (an OPEN end becomes CLOSED) and ``chan_close_confirm`` (an end whose
counterparty is proven CLOSED). Both ends keep the same order (unordered or ordered) and version.
"""

from __future__ import annotations

from collections.abc import Mapping

from trellis.core.codec import encode
from trellis.core.execution.context import TxContext
from trellis.core.execution.module import PacketApp
from trellis.core.execution.results import ResultCode, TxFailure
from trellis.core.ledger.block import Event
from trellis.core.modules.interchain.messages import (
    ChanCloseConfirm,
    ChanCloseInit,
    ChanOpenAck,
    ChanOpenConfirm,
    ChanOpenInit,
    ChanOpenTry,
)
from trellis.core.modules.interchain.packets import channel_connection, state_name
from trellis.core.modules.interchain.proofs import verify_membership
from trellis.core.modules.interchain.state import (
    CLOSED,
    INIT,
    NEXT_IDS_KEY,
    OPEN,
    TRYOPEN,
    ChannelEnd,
    ConnectionEnd,
    NextIds,
    channel_id,
    channel_key,
    read_channel,
    read_connection,
    read_next_ids,
    seq_ack_key,
    seq_bytes,
    seq_recv_key,
    seq_send_key,
)


def bound_app(apps: Mapping[str, PacketApp], port: str) -> PacketApp:
    """The packet application bound to ``port``.

    Raises:
        TxFailure: ``PORT_NOT_BOUND``.
    """
    app = apps.get(port)
    if app is None:
        raise TxFailure(ResultCode.PORT_NOT_BOUND, f"no module takes packets on port {port!r}")
    return app


def _open_connection(ctx: TxContext, conn_id: str) -> ConnectionEnd:
    conn = read_connection(ctx, conn_id)
    if conn is None:
        raise TxFailure(ResultCode.INVALID_HANDSHAKE, f"no connection {conn_id}")
    if conn.state != OPEN:
        raise TxFailure(ResultCode.INVALID_HANDSHAKE, f"connection {conn_id} is {state_name(conn.state)}, not OPEN")
    return conn


def _channel_in(ctx: TxContext, port: str, channel: str, state: int) -> ChannelEnd:
    ch = read_channel(ctx, port, channel)
    if ch is None:
        raise TxFailure(ResultCode.INVALID_HANDSHAKE, f"no channel {port}/{channel}")
    if ch.state != state:
        raise TxFailure(
            ResultCode.INVALID_HANDSHAKE,
            f"channel {port}/{channel} is {state_name(ch.state)}, not {state_name(state)}",
        )
    return ch


def _check_version(app: PacketApp, port: str, version: str) -> None:
    if version != app.version:
        raise TxFailure(ResultCode.INVALID_HANDSHAKE, f"version {version!r}: port {port!r} speaks {app.version!r}")


def _new_channel(ctx: TxContext, port: str, ch: ChannelEnd) -> str:
    """Store a new channel end under the next ``channel-<n>``, with its three sequences at 1 (the counterparty
    proves ``seq_recv`` in ordered timeouts, so it exists from the start)."""
    ids = read_next_ids(ctx)
    ctx.put(NEXT_IDS_KEY, encode(NextIds(client=ids.client, connection=ids.connection, channel=ids.channel + 1)))
    chan = channel_id(ids.channel)
    ctx.put(channel_key(port, chan), encode(ch))
    for key in (seq_send_key(port, chan), seq_recv_key(port, chan), seq_ack_key(port, chan)):
        ctx.put(key, seq_bytes(1))
    return chan


def _replace(ch: ChannelEnd, state: int, counterparty_channel: str | None = None) -> ChannelEnd:
    return ChannelEnd(
        state=state,
        order=ch.order,
        connection_id=ch.connection_id,
        counterparty_port=ch.counterparty_port,
        counterparty_channel=ch.counterparty_channel if counterparty_channel is None else counterparty_channel,
        version=ch.version,
    )


def channel_event(kind: str, port: str, channel: str, ch: ChannelEnd) -> Event:
    """The ``interchain.channel_<kind>`` event of a channel end."""
    return Event(
        type=f"interchain.channel_{kind}",
        attributes=[
            ("port", port.encode()),
            ("channel", channel.encode()),
            ("connection_id", ch.connection_id.encode()),
            ("counterparty_port", ch.counterparty_port.encode()),
            ("counterparty_channel", ch.counterparty_channel.encode()),
            ("order", str(ch.order).encode()),
            ("version", ch.version.encode()),
        ],
    )


def _counterparty_view(ch: ChannelEnd, state: int, conn: ConnectionEnd, port: str, channel: str) -> ChannelEnd:
    """The counterparty's channel end as it must read when this end is ``(port, channel)``."""
    return ChannelEnd(
        state=state,
        order=ch.order,
        connection_id=conn.counterparty_connection_id,
        counterparty_port=port,
        counterparty_channel=channel,
        version=ch.version,
    )


def handle_chan_open_init(ctx: TxContext, msg: ChanOpenInit, apps: Mapping[str, PacketApp]) -> list[Event]:
    """Start a channel of ``port`` over an OPEN connection: a new ``channel-<n>`` in INIT.

    Raises:
        TxFailure: ``PORT_NOT_BOUND``, ``INVALID_HANDSHAKE`` (connection not OPEN, version not the app's), or the
            application's refusal.
    """
    app = bound_app(apps, msg.port)
    _open_connection(ctx, msg.connection_id)
    _check_version(app, msg.port, msg.version)
    app.on_chan_open(ctx, msg.order, msg.counterparty_port, msg.version)
    ch = ChannelEnd(
        state=INIT,
        order=msg.order,
        connection_id=msg.connection_id,
        counterparty_port=msg.counterparty_port,
        counterparty_channel="",
        version=msg.version,
    )
    chan = _new_channel(ctx, msg.port, ch)
    return [channel_event("open_init", msg.port, chan, ch)]


def handle_chan_open_try(ctx: TxContext, msg: ChanOpenTry, apps: Mapping[str, PacketApp]) -> list[Event]:
    """Answer the counterparty's INIT end (proven): a new channel in TRYOPEN with the same order and version.

    Raises:
        TxFailure: ``PORT_NOT_BOUND``, ``INVALID_HANDSHAKE``, ``INVALID_PROOF`` (the counterparty has no INIT end
            with this order, version, port and connection), client codes, or the application's refusal.
    """
    app = bound_app(apps, msg.port)
    conn = _open_connection(ctx, msg.connection_id)
    _check_version(app, msg.port, msg.version)
    app.on_chan_open(ctx, msg.order, msg.counterparty_port, msg.version)
    expected = ChannelEnd(
        state=INIT,
        order=msg.order,
        connection_id=conn.counterparty_connection_id,
        counterparty_port=msg.port,
        counterparty_channel="",
        version=msg.version,
    )
    verify_membership(
        ctx,
        conn.client_id,
        channel_key(msg.counterparty_port, msg.counterparty_channel),
        encode(expected),
        msg.proof_init,
    )
    ch = ChannelEnd(
        state=TRYOPEN,
        order=msg.order,
        connection_id=msg.connection_id,
        counterparty_port=msg.counterparty_port,
        counterparty_channel=msg.counterparty_channel,
        version=msg.version,
    )
    chan = _new_channel(ctx, msg.port, ch)
    return [channel_event("open_try", msg.port, chan, ch)]


def _proven_step(
    ctx: TxContext,
    apps: Mapping[str, PacketApp],
    port: str,
    channel: str,
    state: int,
    counterparty_state: int,
    proof: bytes,
    new_state: int,
    event: str,
    counterparty_channel: str = "",
) -> list[Event]:
    """A handshake step proven from the counterparty: this end in ``state``, the counterparty end proven in
    ``counterparty_state`` (named ``counterparty_channel`` when this end does not know it yet, on ack); this end
    then takes ``new_state`` (and learns the counterparty channel).

    Raises:
        TxFailure: ``PORT_NOT_BOUND``, ``INVALID_HANDSHAKE`` (no such channel, wrong state), ``INVALID_PROOF``,
            client codes.
    """
    bound_app(apps, port)
    ch = _channel_in(ctx, port, channel, state)
    conn = channel_connection(ctx, ch)
    expected = _counterparty_view(ch, counterparty_state, conn, port, channel)
    other = counterparty_channel or ch.counterparty_channel
    verify_membership(ctx, conn.client_id, channel_key(ch.counterparty_port, other), encode(expected), proof)
    moved = _replace(ch, new_state, counterparty_channel or None)
    ctx.put(channel_key(port, channel), encode(moved))
    return [channel_event(event, port, channel, moved)]


def handle_chan_open_ack(ctx: TxContext, msg: ChanOpenAck, apps: Mapping[str, PacketApp]) -> list[Event]:
    """Open an INIT channel end after the counterparty's TRYOPEN end (proven).

    Raises:
        TxFailure: ``PORT_NOT_BOUND``, ``INVALID_HANDSHAKE`` (no such channel, not INIT), ``INVALID_PROOF``,
            client codes.
    """
    return _proven_step(
        ctx, apps, msg.port, msg.channel, INIT, TRYOPEN, msg.proof_try, OPEN, "open_ack", msg.counterparty_channel
    )


def handle_chan_open_confirm(ctx: TxContext, msg: ChanOpenConfirm, apps: Mapping[str, PacketApp]) -> list[Event]:
    """Open a TRYOPEN channel end after the counterparty's OPEN end (proven).

    Raises:
        TxFailure: ``PORT_NOT_BOUND``, ``INVALID_HANDSHAKE`` (no such channel, not TRYOPEN), ``INVALID_PROOF``,
            client codes.
    """
    return _proven_step(ctx, apps, msg.port, msg.channel, TRYOPEN, OPEN, msg.proof_ack, OPEN, "open_confirm")


def handle_chan_close_init(ctx: TxContext, msg: ChanCloseInit, apps: Mapping[str, PacketApp]) -> list[Event]:
    """Close an OPEN channel end, if the port's application agrees (``on_chan_close``). Its pending packets can then
    end by ``timeout_on_close`` on the other side's proof; acks already written still come back.

    Raises:
        TxFailure: ``PORT_NOT_BOUND``, ``INVALID_HANDSHAKE`` (no such channel, not OPEN), the application's refusal
            (transfer: ``INVALID_HANDSHAKE``).
    """
    app = bound_app(apps, msg.port)
    ch = _channel_in(ctx, msg.port, msg.channel, OPEN)
    channel_connection(ctx, ch)
    app.on_chan_close(ctx, msg.channel)
    closed = _replace(ch, CLOSED)
    ctx.put(channel_key(msg.port, msg.channel), encode(closed))
    return [channel_event("close", msg.port, msg.channel, closed)]


def handle_chan_close_confirm(ctx: TxContext, msg: ChanCloseConfirm, apps: Mapping[str, PacketApp]) -> list[Event]:
    """Close an OPEN channel end whose counterparty end is proven CLOSED.

    Raises:
        TxFailure: ``PORT_NOT_BOUND``, ``INVALID_HANDSHAKE`` (no such channel, not OPEN), ``INVALID_PROOF``,
            client codes.
    """
    return _proven_step(ctx, apps, msg.port, msg.channel, OPEN, CLOSED, msg.proof_init, CLOSED, "close")
