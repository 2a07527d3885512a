"""Join two chains: a client of each on the other, a connection and a channel (ADR 0015 sections 4 and 10; the
logic of ``trellis interchain connect`` and ``trellis net up --chains``).

Every step after the clients carries proofs of the counterparty's state at a height P, after updating the
client to P (``updates.plan_update``). Steps, with A the chain that initiates:

  1. ``create_client`` on A of B and on B of A (the counterparty's genesis, its set changes and latest light block);
  2. ``conn_open_init`` on A; ``conn_open_try`` on B (A's connection end and A's client of B, proven);
     ``conn_open_ack`` on A (B's end and B's client of A); ``conn_open_confirm`` on B (A's end, OPEN);
  3. ``chan_open_init`` on A; ``chan_open_try`` on B; ``chan_open_ack`` on A; ``chan_open_confirm`` on B.

Identifiers of created objects are read from the receipt's events (attribute ``client_id`` / ``connection_id``
/ ``channel_id``), else from the chain's ``next_ids`` before the step; either way the created record is read back
and checked.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from trellis.core.codec import decode, encode
from trellis.core.errors import DecodeError, TrellisError
from trellis.core.ledger.tx import MAX_TX_BYTES
from trellis.core.modules.interchain.messages import (
    MAX_GENESIS,
    MAX_SET_CHANGES,
    UNORDERED,
    ChanOpenAck,
    ChanOpenConfirm,
    ChanOpenInit,
    ChanOpenTry,
    Checkpoint,
    ConnOpenAck,
    ConnOpenConfirm,
    ConnOpenInit,
    ConnOpenTry,
    CreateClient,
)
from trellis.core.modules.interchain.state import (
    INIT,
    NEXT_IDS_KEY,
    OPEN,
    STATE_NAMES,
    TRYOPEN,
    ChannelEnd,
    ClientState,
    ConnectionEnd,
    NextIds,
    TrustedChain,
    channel_key,
    client_key,
    connection_key,
    trusted_key,
)
from trellis.core.modules.payload import Payload
from trellis.core.params import Genesis, params_from_genesis
from trellis.relayer.endpoint import ChainEndpoint, EndpointError, HttpEndpoint, StateRead, TxResult
from trellis.relayer.submit import Submitter, TxSigner, load_key, signed_size
from trellis.relayer.updates import UpdateError, plan_update, read_client

DEFAULT_TRUSTING_PERIOD_MS = 7 * 86_400_000
"""Seven days: within every chain's allowed range (1 h .. ``max_trusting_period_ms``, 14 d by default)."""
DEFAULT_MAX_CLOCK_DRIFT_MS = 10_000
"""How far ahead of the host's block time a counterparty header may be."""


class HandshakeError(Exception):
    """A step of the handshake failed; the message names the step and the chain's answer."""


async def _submit(step: str, sub: Submitter, payload: Payload) -> TxResult:
    try:
        res = await sub.submit(payload)
    except EndpointError as exc:
        raise HandshakeError(f"{step} on {sub.endpoint.name}: {exc.message}") from None
    if not res.ok:
        raise HandshakeError(f"{step} on {sub.endpoint.name} failed: {res.status} code {res.code} {res.message}")
    return res


async def _next_ids(chain: ChainEndpoint) -> NextIds:
    raw = (await chain.state(NEXT_IDS_KEY)).value
    return NextIds() if raw is None else decode(raw, NextIds)


def created_id(res: TxResult, kind: str, fallback: int) -> str:
    """The ``<kind>-<n>`` a step created: the receipt's ``<kind>_id`` (or ``<kind>``) attribute, else
    ``<kind>-<fallback>``."""
    pattern = re.compile(rf"{kind}-(0|[1-9][0-9]{{0,19}})")
    for _type, attrs in res.events:
        for name in (f"{kind}_id", kind):  # connection events name ``connection_id``, channel events ``channel``
            v = attrs.get(name, "")
            if pattern.fullmatch(v):
                return v
    return f"{kind}-{fallback}"


async def _read(
    chain: ChainEndpoint, key: bytes, what: str, height: int | None = None, prove: bool = False
) -> StateRead:
    got = await chain.state(key, height, prove)
    if got.value is None:
        raise HandshakeError(f"{chain.name} has no {what}" + (f" at height {height}" if height else ""))
    return got


async def create_client(
    host: Submitter, counterparty: ChainEndpoint, trusting_period_ms: int, max_clock_drift_ms: int
) -> str:
    """Create on ``host``'s chain a client of ``counterparty``: from its genesis through its latest light block when
    that fits one transaction, else from the checkpoint governance trusted on ``host`` (governed policy only)."""
    head = await counterparty.head()
    if head.height < 1:
        raise HandshakeError(f"{counterparty.name} has no committed block yet")
    info = await counterparty.info()
    lb = await counterparty.light_block(head.height)
    changes = await counterparty.set_changes(head.height)
    genesis = await counterparty.genesis()
    msg = CreateClient(
        chain_id=info.chain_id,
        genesis=genesis,
        set_changes=changes,
        header=encode(lb.header),
        commit=encode(lb.commit),
        trusting_period_ms=trusting_period_ms,
        max_clock_drift_ms=max_clock_drift_ms,
    )
    host_info = await host.info()
    size = signed_size(host_info.chain_id, host.signer.public_key, msg)
    if len(changes) > MAX_SET_CHANGES or len(genesis) > MAX_GENESIS or size > MAX_TX_BYTES:
        msg = await _checkpoint_message(host, counterparty, info.chain_id, msg)
    before = await _next_ids(host.endpoint)
    res = await _submit(f"create_client of {info.chain_id}", host, msg)
    cid = created_id(res, "client", before.client)
    got = decode((await _read(host.endpoint, client_key(cid), f"client {cid}")).value or b"", ClientState)
    if got.chain_id != info.chain_id:
        raise HandshakeError(f"{host.endpoint.name}: {cid} is a client of {got.chain_id}, not {info.chain_id}")
    return cid


async def _checkpoint_message(
    host: Submitter, counterparty: ChainEndpoint, chain_id: str, from_genesis: CreateClient
) -> CreateClient:
    """``from_genesis`` turned into a checkpoint ``create_client`` at the height governance trusted on ``host``.

    Raises:
        HandshakeError: ``host`` trusts no checkpoint of the chain.
    """
    raw = (await host.endpoint.state(trusted_key(chain_id))).value
    trusted = None if raw is None else decode(raw, TrustedChain)
    if trusted is None or not trusted.checkpoint_height:
        raise HandshakeError(
            f"{chain_id}'s genesis ({len(from_genesis.genesis)} bytes, {len(from_genesis.set_changes)} set changes) "
            f"does not fit one create_client on {host.endpoint.name}; its governance must trust a checkpoint of "
            f"{chain_id} (interchain.trust_chain with checkpoint_height and checkpoint_block_id) and the chain use "
            "the governed client policy"
        )
    lb = await counterparty.light_block(trusted.checkpoint_height)
    try:  # the genesis file this relayer was given: its hash, not what the counterparty's node says
        params = params_from_genesis(decode(from_genesis.genesis, Genesis))
    except (TrellisError, ValueError) as exc:
        raise HandshakeError(f"{counterparty.name}'s genesis does not load: {exc}") from None
    return msgspec.structs.replace(
        from_genesis,
        genesis=b"",
        set_changes=[],
        header=encode(lb.header),
        commit=encode(lb.commit),
        checkpoint=Checkpoint(
            genesis_hash=params.genesis_hash, suite=params.suite.name, validators=encode(lb.validators)
        ),
    )


async def update_client(host: Submitter, client_id: str, counterparty: ChainEndpoint) -> int:
    """Bring ``host``'s client of ``counterparty`` to the counterparty's latest height (or keep it, if already
    there or past); return the height proofs are to be taken at."""
    head = await counterparty.head()
    view = await read_client(host.endpoint, client_id)
    target = max(head.height, view.state.latest_height)
    now = (await host.endpoint.head()).time_ms
    for u in await plan_update(counterparty, view, target, now):
        await _submit(f"update_client {client_id}", host, u)
    return target


def _check_state(what: str, raw: bytes | None, type_: Any, state: int) -> Any:
    try:
        obj = decode(raw or b"", type_)
    except DecodeError as exc:
        raise HandshakeError(f"{what} does not decode: {exc}") from None
    if obj.state != state:
        raise HandshakeError(f"{what} is {STATE_NAMES.get(obj.state, obj.state)}, expected {STATE_NAMES[state]}")
    return obj


async def open_connection(a: Submitter, b: Submitter, a_client: str, b_client: str) -> tuple[str, str]:
    """The four connection steps; returns (A's connection id, B's)."""
    ea, eb = a.endpoint, b.endpoint
    before = await _next_ids(ea)
    res = await _submit("conn_open_init", a, ConnOpenInit(client_id=a_client, counterparty_client_id=b_client))
    a_conn = created_id(res, "connection", before.connection)
    _check_state(f"{ea.name} {a_conn}", (await _read(ea, connection_key(a_conn), a_conn)).value, ConnectionEnd, INIT)

    p = await update_client(b, b_client, ea)
    conn = await _read(ea, connection_key(a_conn), a_conn, p, True)
    cl = await _read(ea, client_key(a_client), a_client, p, True)
    before = await _next_ids(eb)
    res = await _submit(
        "conn_open_try",
        b,
        ConnOpenTry(
            client_id=b_client,
            counterparty_client_id=a_client,
            counterparty_connection_id=a_conn,
            counterparty_client_state=cl.value or b"",
            proof_init=conn.proof,
            proof_client=cl.proof,
        ),
    )
    b_conn = created_id(res, "connection", before.connection)
    _check_state(f"{eb.name} {b_conn}", (await _read(eb, connection_key(b_conn), b_conn)).value, ConnectionEnd, TRYOPEN)

    p = await update_client(a, a_client, eb)
    conn = await _read(eb, connection_key(b_conn), b_conn, p, True)
    cl = await _read(eb, client_key(b_client), b_client, p, True)
    await _submit(
        "conn_open_ack",
        a,
        ConnOpenAck(
            connection_id=a_conn,
            counterparty_connection_id=b_conn,
            counterparty_client_state=cl.value or b"",
            proof_try=conn.proof,
            proof_client=cl.proof,
        ),
    )
    p = await update_client(b, b_client, ea)
    conn = await _read(ea, connection_key(a_conn), a_conn, p, True)
    _check_state(f"{ea.name} {a_conn}", conn.value, ConnectionEnd, OPEN)
    await _submit("conn_open_confirm", b, ConnOpenConfirm(connection_id=b_conn, proof_ack=conn.proof))
    return a_conn, b_conn


async def open_channel(
    a: Submitter,
    b: Submitter,
    a_conn: str,
    b_conn: str,
    *,
    port: str,
    counterparty_port: str,
    order: int,
    version: str,
    a_client: str,
    b_client: str,
) -> tuple[str, str]:
    """The four channel steps; returns (A's channel id, B's)."""
    ea, eb = a.endpoint, b.endpoint
    before = await _next_ids(ea)
    res = await _submit(
        "chan_open_init",
        a,
        ChanOpenInit(
            port=port, connection_id=a_conn, counterparty_port=counterparty_port, order=order, version=version
        ),
    )
    a_chan = created_id(res, "channel", before.channel)
    _check_state(
        f"{ea.name} {port}/{a_chan}", (await _read(ea, channel_key(port, a_chan), a_chan)).value, ChannelEnd, INIT
    )

    p = await update_client(b, b_client, ea)
    ch = await _read(ea, channel_key(port, a_chan), a_chan, p, True)
    before = await _next_ids(eb)
    res = await _submit(
        "chan_open_try",
        b,
        ChanOpenTry(
            port=counterparty_port,
            connection_id=b_conn,
            counterparty_port=port,
            counterparty_channel=a_chan,
            order=order,
            version=version,
            proof_init=ch.proof,
        ),
    )
    b_chan = created_id(res, "channel", before.channel)
    bkey = channel_key(counterparty_port, b_chan)
    _check_state(f"{eb.name} {counterparty_port}/{b_chan}", (await _read(eb, bkey, b_chan)).value, ChannelEnd, TRYOPEN)

    p = await update_client(a, a_client, eb)
    ch = await _read(eb, bkey, b_chan, p, True)
    await _submit(
        "chan_open_ack", a, ChanOpenAck(port=port, channel=a_chan, counterparty_channel=b_chan, proof_try=ch.proof)
    )
    p = await update_client(b, b_client, ea)
    ch = await _read(ea, channel_key(port, a_chan), a_chan, p, True)
    _check_state(f"{ea.name} {port}/{a_chan}", ch.value, ChannelEnd, OPEN)
    await _submit("chan_open_confirm", b, ChanOpenConfirm(port=counterparty_port, channel=b_chan, proof_ack=ch.proof))
    return a_chan, b_chan


async def connect(
    a: ChainEndpoint,
    b: ChainEndpoint,
    signer_a: TxSigner,
    signer_b: TxSigner,
    *,
    port: str = "transfer",
    counterparty_port: str | None = None,
    order: int = UNORDERED,
    version: str = "trellis-transfer-1",
    trusting_period_ms: int = DEFAULT_TRUSTING_PERIOD_MS,
    max_clock_drift_ms: int = DEFAULT_MAX_CLOCK_DRIFT_MS,
    clients: tuple[str, str] | None = None,
    connections: tuple[str, str] | None = None,
) -> dict[str, str]:
    """Join ``a`` and ``b``: clients both ways (or the given ``clients``: A's of B, B's of A), a connection (or the
    given open ``connections``) and a channel of ``port`` (on B ``counterparty_port``, default the same).

    Returns ``{a_client, b_client, a_connection, b_connection, a_channel, b_channel, port, counterparty_port}``.

    Raises:
        HandshakeError: a step failed (its chain's answer in the message).
    """
    sa, sb = Submitter(a, signer_a), Submitter(b, signer_b)
    cport = counterparty_port or port
    try:
        if clients is None:
            a_client = await create_client(sa, b, trusting_period_ms, max_clock_drift_ms)
            b_client = await create_client(sb, a, trusting_period_ms, max_clock_drift_ms)
        else:
            a_client, b_client = clients
        if connections is None:
            a_conn, b_conn = await open_connection(sa, sb, a_client, b_client)
        else:
            a_conn, b_conn = connections
        a_chan, b_chan = await open_channel(
            sa,
            sb,
            a_conn,
            b_conn,
            port=port,
            counterparty_port=cport,
            order=order,
            version=version,
            a_client=a_client,
            b_client=b_client,
        )
    except (EndpointError, UpdateError) as exc:
        raise HandshakeError(str(exc)) from None
    return {
        "a_client": a_client,
        "b_client": b_client,
        "a_connection": a_conn,
        "b_connection": b_conn,
        "a_channel": a_chan,
        "b_channel": b_chan,
        "port": port,
        "counterparty_port": cport,
    }


# -- trellis net up --chains (node/multichain.py passes its Layout and Chain objects) ---------------------------
@dataclass
class JoinedPath:
    """The fields of ``node.multichain.ChainPath`` (a ``[[path]]`` of ``relayer.toml``); ``vars()`` of it is what
    ``chains.json`` records."""

    a: str
    b: str
    a_client: str
    b_client: str
    a_connection: str
    b_connection: str
    a_channel: str
    b_channel: str
    port: str = "transfer"


def net_endpoint(chain: Any) -> HttpEndpoint:
    """The endpoint of a chain of a ``trellis net up`` directory (``node.multichain.Chain``): its API URLs and the
    first node's ``genesis.json``."""
    return HttpEndpoint(chain.chain_id, list(chain.api_urls), genesis_file=Path(chain.nodes[0].home) / "genesis.json")


def net_key(root: Path, chain: Any) -> TxSigner:
    """The relayer's key on a chain of a ``trellis net up`` directory (``relayer/keys/chain-<index>.pem``)."""
    return load_key(root / "relayer" / "keys" / f"chain-{chain.index}.pem")


def connect_chains(layout: Any, a: Any, b: Any, *, timeout_s: float = 300.0) -> JoinedPath:
    """``connect`` two chains of a ``trellis net up --chains`` directory: their API URLs (``Chain.api_urls``), genesis
    (the first node's ``genesis.json``) and the relayer's keys ``relayer/keys/chain-<index>.pem``. Synchronous (runs
    its own event loop).

    Raises:
        HandshakeError: a step failed.
    """
    root = Path(layout.root)

    async def run() -> dict[str, str]:
        ea, eb = net_endpoint(a), net_endpoint(b)
        try:
            return await asyncio.wait_for(connect(ea, eb, net_key(root, a), net_key(root, b)), timeout_s)
        finally:
            await ea.close()
            await eb.close()

    ids = asyncio.run(run())
    return JoinedPath(
        a=a.chain_id,
        b=b.chain_id,
        a_client=ids["a_client"],
        b_client=ids["b_client"],
        a_connection=ids["a_connection"],
        b_connection=ids["b_connection"],
        a_channel=ids["a_channel"],
        b_channel=ids["b_channel"],
        port=ids["port"],
    )
