"""Interchain handlers: the connection handshake (docs/spec/interchain.md 5.1; ADR 0015 section 4, ICS-03).

Four steps between chains A and B, each proven by the other side's state through this chain's client of it:
``conn_open_init`` (A: INIT) -> ``conn_open_try`` (B: TRYOPEN, proving A's INIT end) -> ``conn_open_ack`` (A:
OPEN, proving B's TRYOPEN end) -> ``conn_open_confirm`` (B: OPEN, proving A's OPEN end). ``try`` and ``ack`` also
prove the counterparty's client of *this* chain and check it names this chain (self-client check: chain id and
genesis hash). One version, ``trellis-1``; no delay period.
"""

from __future__ import annotations

from trellis.core.codec import decode, encode
from trellis.core.errors import DecodeError
from trellis.core.execution.context import TxContext
from trellis.core.execution.results import ResultCode, TxFailure
from trellis.core.ledger.block import Event
from trellis.core.modules.interchain.messages import VERSION, ConnOpenAck, ConnOpenConfirm, ConnOpenInit, ConnOpenTry
from trellis.core.modules.interchain.packets import state_name
from trellis.core.modules.interchain.proofs import active_client, verify_membership
from trellis.core.modules.interchain.state import (
    INIT,
    NEXT_IDS_KEY,
    OPEN,
    TRYOPEN,
    ClientState,
    ConnectionEnd,
    NextIds,
    client_key,
    connection_id,
    connection_key,
    read_connection,
    read_next_ids,
)


def _new_connection_id(ctx: TxContext) -> str:
    ids = read_next_ids(ctx)
    ctx.put(NEXT_IDS_KEY, encode(NextIds(client=ids.client, connection=ids.connection + 1, channel=ids.channel)))
    return connection_id(ids.connection)


def _connection_in(ctx: TxContext, conn_id: str, state: int) -> ConnectionEnd:
    conn = read_connection(ctx, conn_id)
    if conn is None:
        raise TxFailure(ResultCode.INVALID_HANDSHAKE, f"no connection {conn_id}")
    if conn.state != state:
        raise TxFailure(
            ResultCode.INVALID_HANDSHAKE,
            f"connection {conn_id} is {state_name(conn.state)}, not {state_name(state)}",
        )
    return conn


def _self_client(ctx: TxContext, encoded: bytes) -> None:
    """The counterparty's client of this chain must name this chain: its chain id and genesis hash, not frozen.

    Raises:
        TxFailure: ``INVALID_HANDSHAKE``.
    """
    try:
        cs = decode(encoded, ClientState)
    except DecodeError as exc:
        raise TxFailure(ResultCode.INVALID_HANDSHAKE, f"counterparty client state does not decode: {exc}") from None
    if cs.chain_id != ctx.params.chain_id:
        raise TxFailure(
            ResultCode.INVALID_HANDSHAKE,
            f"self-client: the counterparty's client is of chain {cs.chain_id!r}, not {ctx.params.chain_id!r}",
        )
    if cs.genesis_hash != ctx.params.genesis_hash:
        raise TxFailure(
            ResultCode.INVALID_HANDSHAKE,
            f"self-client: the counterparty's client names genesis {cs.genesis_hash.hex()}, not this chain's "
            f"{ctx.params.genesis_hash.hex()}",
        )
    if cs.frozen_height != 0:
        raise TxFailure(ResultCode.INVALID_HANDSHAKE, "self-client: the counterparty's client of this chain is frozen")


def _prove_both(
    ctx: TxContext,
    client: str,
    conn_key: bytes,
    conn_value: ConnectionEnd,
    conn_proof: bytes,
    counterparty_client: str,
    client_state: bytes,
    client_proof: bytes,
) -> None:
    p_conn = verify_membership(ctx, client, conn_key, encode(conn_value), conn_proof)
    p_client = verify_membership(ctx, client, client_key(counterparty_client), client_state, client_proof)
    if p_conn != p_client:
        raise TxFailure(
            ResultCode.INVALID_PROOF,
            f"the connection is proven at height {p_conn} and the client state at {p_client}: one height expected",
        )


def _event(kind: str, conn_id: str, conn: ConnectionEnd) -> list[Event]:
    return [
        Event(
            type=f"interchain.connection_open_{kind}",
            attributes=[
                ("connection_id", conn_id.encode()),
                ("client_id", conn.client_id.encode()),
                ("counterparty_client_id", conn.counterparty_client_id.encode()),
                ("counterparty_connection_id", conn.counterparty_connection_id.encode()),
            ],
        )
    ]


def handle_conn_open_init(ctx: TxContext, msg: ConnOpenInit) -> list[Event]:
    """Start a connection over an active client: a new ``connection-<n>`` in INIT.

    Raises:
        TxFailure: ``CLIENT_NOT_FOUND`` / ``CLIENT_FROZEN`` / ``CLIENT_EXPIRED``.
    """
    active_client(ctx, msg.client_id)
    conn = ConnectionEnd(
        state=INIT,
        client_id=msg.client_id,
        counterparty_client_id=msg.counterparty_client_id,
        counterparty_connection_id="",
        version=VERSION,
    )
    conn_id = _new_connection_id(ctx)
    ctx.put(connection_key(conn_id), encode(conn))
    return _event("init", conn_id, conn)


def handle_conn_open_try(ctx: TxContext, msg: ConnOpenTry) -> list[Event]:
    """Answer the counterparty's INIT end (proven, with its client of this chain): a new connection in TRYOPEN.

    Raises:
        TxFailure: ``INVALID_HANDSHAKE`` (self-client), ``INVALID_PROOF`` (the counterparty has no INIT end naming
            these clients, or proofs at two heights), client and consensus-height codes.
    """
    active_client(ctx, msg.client_id)
    _self_client(ctx, msg.counterparty_client_state)
    expected = ConnectionEnd(
        state=INIT,
        client_id=msg.counterparty_client_id,
        counterparty_client_id=msg.client_id,
        counterparty_connection_id="",
        version=VERSION,
    )
    _prove_both(
        ctx,
        msg.client_id,
        connection_key(msg.counterparty_connection_id),
        expected,
        msg.proof_init,
        msg.counterparty_client_id,
        msg.counterparty_client_state,
        msg.proof_client,
    )
    conn = ConnectionEnd(
        state=TRYOPEN,
        client_id=msg.client_id,
        counterparty_client_id=msg.counterparty_client_id,
        counterparty_connection_id=msg.counterparty_connection_id,
        version=VERSION,
    )
    conn_id = _new_connection_id(ctx)
    ctx.put(connection_key(conn_id), encode(conn))
    return _event("try", conn_id, conn)


def handle_conn_open_ack(ctx: TxContext, msg: ConnOpenAck) -> list[Event]:
    """Open an INIT connection after the counterparty's TRYOPEN end (proven, with its client of this chain).

    Raises:
        TxFailure: ``INVALID_HANDSHAKE`` (no such connection, not INIT, self-client), ``INVALID_PROOF``, client and
            consensus-height codes.
    """
    conn = _connection_in(ctx, msg.connection_id, INIT)
    _self_client(ctx, msg.counterparty_client_state)
    expected = ConnectionEnd(
        state=TRYOPEN,
        client_id=conn.counterparty_client_id,
        counterparty_client_id=conn.client_id,
        counterparty_connection_id=msg.connection_id,
        version=VERSION,
    )
    _prove_both(
        ctx,
        conn.client_id,
        connection_key(msg.counterparty_connection_id),
        expected,
        msg.proof_try,
        conn.counterparty_client_id,
        msg.counterparty_client_state,
        msg.proof_client,
    )
    opened = ConnectionEnd(
        state=OPEN,
        client_id=conn.client_id,
        counterparty_client_id=conn.counterparty_client_id,
        counterparty_connection_id=msg.counterparty_connection_id,
        version=VERSION,
    )
    ctx.put(connection_key(msg.connection_id), encode(opened))
    return _event("ack", msg.connection_id, opened)


def handle_conn_open_confirm(ctx: TxContext, msg: ConnOpenConfirm) -> list[Event]:
    """Open a TRYOPEN connection after the counterparty's OPEN end (proven).

    Raises:
        TxFailure: ``INVALID_HANDSHAKE`` (no such connection, not TRYOPEN), ``INVALID_PROOF``, client and
            consensus-height codes.
    """
    conn = _connection_in(ctx, msg.connection_id, TRYOPEN)
    expected = ConnectionEnd(
        state=OPEN,
        client_id=conn.counterparty_client_id,
        counterparty_client_id=conn.client_id,
        counterparty_connection_id=msg.connection_id,
        version=VERSION,
    )
    verify_membership(
        ctx, conn.client_id, connection_key(conn.counterparty_connection_id), encode(expected), msg.proof_ack
    )
    opened = ConnectionEnd(
        state=OPEN,
        client_id=conn.client_id,
        counterparty_client_id=conn.counterparty_client_id,
        counterparty_connection_id=conn.counterparty_connection_id,
        version=VERSION,
    )
    ctx.put(connection_key(msg.connection_id), encode(opened))
    return _event("confirm", msg.connection_id, opened)
