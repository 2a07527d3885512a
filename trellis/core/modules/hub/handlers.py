"""The hub module's handler: ``hub.connected`` (docs/spec/hub.md 4).

Any sender may record a sub-chain's connection: what makes it true is the state it is checked against (the client
is the hub's client of that chain and of the registered genesis, not frozen; the connection is OPEN over that
client; each channel is OPEN over that connection on its port). A later ``hub.connected`` replaces the ids (after a
client is recovered, or a channel is added).
"""

from __future__ import annotations

import msgspec

from trellis.core.codec import encode
from trellis.core.execution.context import TxContext
from trellis.core.execution.results import ResultCode, TxFailure
from trellis.core.ledger.block import Event
from trellis.core.modules.hub.messages import HubConnected
from trellis.core.modules.hub.state import CONNECTED, RETIRED, chain_key, read_subchain
from trellis.core.modules.interchain.state import (
    OPEN,
    STATE_NAMES,
    read_channel,
    read_client,
    read_connection,
)


def _event(type_: str, **attrs: str) -> Event:
    return Event(type=type_, attributes=[(k, v.encode()) for k, v in attrs.items()])


def handle_connected(ctx: TxContext, msg: HubConnected) -> list[Event]:
    """Record the client, connection and channels joining the hub to a registered sub-chain.

    Raises:
        TxFailure: ``NOT_FOUND`` (the chain is not registered; no such connection), ``UNTRUSTED_CHAIN`` (the chain
            is retired; the client is of another chain or genesis), ``CLIENT_NOT_FOUND``, ``CLIENT_FROZEN``,
            ``INVALID_HANDSHAKE`` (the connection is not OPEN or over another client; a channel is over another
            connection), ``CHANNEL_NOT_OPEN`` (a channel is missing or not OPEN), ``DUPLICATE`` (a port named
            twice).
    """
    sub = read_subchain(ctx, msg.chain_id)
    if sub is None:
        raise TxFailure(ResultCode.NOT_FOUND, f"chain {msg.chain_id!r} is not a registered sub-chain")
    if sub.status == RETIRED:
        raise TxFailure(
            ResultCode.UNTRUSTED_CHAIN, f"chain {msg.chain_id!r} was retired at height {sub.retired_height}"
        )
    client = read_client(ctx, msg.client_id)
    if client is None:
        raise TxFailure(ResultCode.CLIENT_NOT_FOUND, f"no client {msg.client_id}")
    if client.chain_id != msg.chain_id:
        raise TxFailure(
            ResultCode.UNTRUSTED_CHAIN, f"client {msg.client_id} is of chain {client.chain_id!r}, not {msg.chain_id!r}"
        )
    if client.genesis_hash != sub.genesis_hash:
        raise TxFailure(
            ResultCode.UNTRUSTED_CHAIN,
            f"client {msg.client_id} follows genesis {client.genesis_hash.hex()}; chain {msg.chain_id!r} is "
            f"registered with genesis {sub.genesis_hash.hex()}",
        )
    if client.frozen_height != 0:
        raise TxFailure(
            ResultCode.CLIENT_FROZEN, f"client {msg.client_id} is frozen (at height {client.frozen_height})"
        )
    conn = read_connection(ctx, msg.connection_id)
    if conn is None:
        raise TxFailure(ResultCode.NOT_FOUND, f"no connection {msg.connection_id}")
    if conn.client_id != msg.client_id:
        raise TxFailure(
            ResultCode.INVALID_HANDSHAKE,
            f"connection {msg.connection_id} is over client {conn.client_id}, not {msg.client_id}",
        )
    if conn.state != OPEN:
        raise TxFailure(
            ResultCode.INVALID_HANDSHAKE,
            f"connection {msg.connection_id} is {STATE_NAMES.get(conn.state, str(conn.state))}, not OPEN",
        )
    ports: set[str] = set()
    for pc in msg.channels:
        if pc.port in ports:
            raise TxFailure(ResultCode.DUPLICATE, f"port {pc.port!r} is named twice: one channel per port")
        ports.add(pc.port)
        end = read_channel(ctx, pc.port, pc.channel)
        if end is None:
            raise TxFailure(ResultCode.CHANNEL_NOT_OPEN, f"no channel {pc.port}/{pc.channel}")
        if end.connection_id != msg.connection_id:
            raise TxFailure(
                ResultCode.INVALID_HANDSHAKE,
                f"channel {pc.port}/{pc.channel} is over connection {end.connection_id}, not {msg.connection_id}",
            )
        if end.state != OPEN:
            raise TxFailure(
                ResultCode.CHANNEL_NOT_OPEN,
                f"channel {pc.port}/{pc.channel} is {STATE_NAMES.get(end.state, str(end.state))}, not OPEN",
            )
    new = msgspec.structs.replace(
        sub,
        status=CONNECTED,
        client_id=msg.client_id,
        connection_id=msg.connection_id,
        channels=list(msg.channels),
    )
    ctx.put(chain_key(msg.chain_id), encode(new))
    return [
        _event(
            "hub.connected",
            chain_id=msg.chain_id,
            client_id=msg.client_id,
            connection_id=msg.connection_id,
            channels=",".join(f"{pc.port}/{pc.channel}" for pc in msg.channels),
        )
    ]
