"""Interchain routes (docs/spec/interchain.md 8): this chain's clients of other chains, its connections, channels
and the packets they hold. Everything is read at the committed tip; a client's status is judged at the tip's
block time. Proofs of any of these records go through the generic ``GET /v1/state/{key}?prove&height=``.

  GET /v1/interchain/clients                                       every client (status active/frozen/expired)
  GET /v1/interchain/clients/{id}                                  one client, latest consensus state, misbehaviour
  GET /v1/interchain/connections/{id}                              a connection end
  GET /v1/interchain/channels                                      every channel end with its next sequences
  GET /v1/interchain/channels/{port}/{channel}                     one channel end with its next sequences
  GET /v1/interchain/channels/{port}/{channel}/packets             pending packets; ``from_seq`` (1), ``limit`` 1..100
  GET /v1/interchain/channels/{port}/{channel}/packets/{seq}       packet if pending, receipt, ack

Refusals: 400 ``bad_id``, ``bad_port``, ``bad_channel``, ``bad_sequence``, ``bad_parameter``; 404 ``not_found``.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import aiohttp
import msgspec
from aiohttp import web

from trellis.api.hexjson import _J, Hex, hx, unhex
from trellis.api.params import ERRORS, ApiError, int_param, json_response, param
from trellis.api.responses import ok
from trellis.app.modules import interchain as reads
from trellis.core.codec import decode, encode
from trellis.core.errors import DecodeError
from trellis.core.ledger.state_tree import StateProof
from trellis.core.modules.interchain.messages import ORDERED, Ack, Packet
from trellis.core.modules.interchain.state import STATE_NAMES, packet_id
from trellis.node.node import Node

__all__ = [
    "MAX_REMOTE_BYTES",
    "OPENAPI_PATHS",
    "REMOTE_DEADLINE_S",
    "SCHEMAS",
    "InterchainApi",
    "prove_remote",
    "routes",
    "run_remote",
]

CLIENT_ID_PATTERN = r"^client-(0|[1-9][0-9]{0,19})$"
"""A client id in a path."""
CONNECTION_ID_PATTERN = r"^connection-(0|[1-9][0-9]{0,19})$"
"""A connection id in a path."""
CHANNEL_ID_PATTERN = r"^channel-(0|[1-9][0-9]{0,19})$"
"""A channel id in a path."""
PORT_PATTERN = r"^[a-z][a-z0-9_]{0,31}$"
"""A port in a path."""
SEQ_PATTERN = r"^[1-9][0-9]{0,19}$"
"""A packet sequence in a path."""
_CLIENT, _CONNECTION, _CHANNEL, _PORT, _SEQ = (
    re.compile(p.removesuffix("$"))
    for p in (CLIENT_ID_PATTERN, CONNECTION_ID_PATTERN, CHANNEL_ID_PATTERN, PORT_PATTERN, SEQ_PATTERN)
)
_U64 = 2**64 - 1
T = TypeVar("T")


class ConsensusStateJson(_J):
    """A client's consensus state: what it keeps of one verified header of the other chain."""

    height: int
    time_ms: int
    state_root: Hex
    """Proofs at ``height`` are checked against this root."""
    block_id: Hex
    validators_hash: Hex
    next_validators_hash: Hex


class MisbehaviourJson(_J):
    """Why a client froze."""

    height: int
    block_id_1: Hex
    block_id_2: Hex
    kind: str
    """``conflict``, ``time`` or ``untrusted``."""
    recorded_at: int


class ClientJson(_J):
    """``GET /v1/interchain/clients/{id}``: a light client of another chain."""

    client_id: str
    chain_id: str
    genesis_hash: Hex
    suite: str
    trusting_period_ms: int
    max_clock_drift_ms: int
    latest_height: int
    frozen_height: int
    status: str
    """``active``, ``frozen`` or ``expired`` at the time of the block the answer is read after."""
    latest_consensus_state: ConsensusStateJson | None
    misbehaviour: MisbehaviourJson | None
    height: int
    """The committed height the answer was read at."""


class ClientListJson(_J):
    """``GET /v1/interchain/clients``."""

    height: int
    time_ms: int
    """The block time the statuses are judged at."""
    clients: list[ClientJson]


class ConnectionJson(_J):
    """``GET /v1/interchain/connections/{id}``."""

    connection_id: str
    state: str
    """``INIT``, ``TRYOPEN`` or ``OPEN``."""
    client_id: str
    counterparty_client_id: str
    counterparty_connection_id: str
    """``""`` while unknown."""
    version: str
    height: int


class ChannelJson(_J):
    """``GET /v1/interchain/channels/{port}/{channel}``: a channel end and its next sequences."""

    port: str
    channel: str
    state: str
    """``INIT``, ``TRYOPEN``, ``OPEN`` or ``CLOSED``."""
    order: str
    """``UNORDERED`` or ``ORDERED``."""
    connection_id: str
    counterparty_port: str
    counterparty_channel: str
    """``""`` while unknown."""
    version: str
    next_sequence_send: int
    next_sequence_recv: int
    next_sequence_ack: int
    height: int


class ChannelListJson(_J):
    """``GET /v1/interchain/channels``."""

    height: int
    channels: list[ChannelJson]


class PacketJson(_J):
    """A packet as stored: its fields, its canonical bytes (the value under its state key) and its id."""

    sequence: int
    source_port: str
    source_channel: str
    dest_port: str
    dest_channel: str
    data: Hex
    timeout_height: int
    timeout_time_ms: int
    packet_hex: Hex
    """The canonical encoding: what the counterparty proves (``interchain.recv_packet``'s ``packet``)."""
    packet_id: Hex
    """``tagged_hash("trellis/interchain/packet/v1", packet_hex)``."""


class PacketListJson(_J):
    """``GET /v1/interchain/channels/{port}/{channel}/packets``: packets sent and still pending, by sequence."""

    port: str
    channel: str
    height: int
    packets: list[PacketJson]
    next_from_seq: int | None
    """The ``from_seq`` of the next page; null on the last page."""


class AckJson(_J):
    """An acknowledgement as written by the receiving end."""

    code: int
    """0: success."""
    result: Hex
    reason: str
    ack_hex: Hex
    """The canonical encoding (the value under the ack key)."""


class PacketStatusJson(_J):
    """``GET /v1/interchain/channels/{port}/{channel}/packets/{seq}``: what this chain holds of a sequence."""

    port: str
    channel: str
    sequence: int
    height: int
    packet: PacketJson | None
    """The packet while pending (sending end): null once acknowledged or timed out, or never sent here."""
    receipt: bool
    """Whether this end received it (receiving end of an unordered channel)."""
    ack: AckJson | None
    """The acknowledgement this end wrote (receiving end)."""


def client_json(view: reads.ClientView, height: int) -> ClientJson:
    """A client as JSON."""
    cs, latest, mis = view.state, view.latest, view.misbehaviour
    return ClientJson(
        client_id=view.client_id,
        chain_id=cs.chain_id,
        genesis_hash=hx(cs.genesis_hash),
        suite=cs.suite,
        trusting_period_ms=cs.trusting_period_ms,
        max_clock_drift_ms=cs.max_clock_drift_ms,
        latest_height=cs.latest_height,
        frozen_height=cs.frozen_height,
        status=view.status,
        latest_consensus_state=None
        if latest is None
        else ConsensusStateJson(
            height=cs.latest_height,
            time_ms=latest.time_ms,
            state_root=hx(latest.state_root),
            block_id=hx(latest.block_id),
            validators_hash=hx(latest.validators_hash),
            next_validators_hash=hx(latest.next_validators_hash),
        ),
        misbehaviour=None
        if mis is None
        else MisbehaviourJson(
            height=mis.height,
            block_id_1=hx(mis.block_id_1),
            block_id_2=hx(mis.block_id_2),
            kind=mis.kind,
            recorded_at=mis.recorded_at,
        ),
        height=height,
    )


def channel_json(view: reads.ChannelView, height: int) -> ChannelJson:
    """A channel end as JSON."""
    end = view.end
    return ChannelJson(
        port=view.port,
        channel=view.channel,
        state=STATE_NAMES.get(end.state, str(end.state)),
        order="ORDERED" if end.order == ORDERED else "UNORDERED",
        connection_id=end.connection_id,
        counterparty_port=end.counterparty_port,
        counterparty_channel=end.counterparty_channel,
        version=end.version,
        next_sequence_send=view.next_send,
        next_sequence_recv=view.next_recv,
        next_sequence_ack=view.next_ack,
        height=height,
    )


def ack_json(ack: Ack) -> AckJson:
    """An acknowledgement as JSON."""
    return AckJson(code=ack.code, result=hx(ack.result), reason=ack.reason, ack_hex=hx(encode(ack)))


class InterchainApi:
    """The interchain handlers, bound to one node."""

    def __init__(self, node: Node) -> None:
        self.node = node

    def packet_json(self, p: Packet) -> PacketJson:
        """A packet as JSON, with its canonical bytes and id."""
        return PacketJson(
            sequence=p.sequence,
            source_port=p.source_port,
            source_channel=p.source_channel,
            dest_port=p.dest_port,
            dest_channel=p.dest_channel,
            data=hx(p.data),
            timeout_height=p.timeout_height,
            timeout_time_ms=p.timeout_time_ms,
            packet_hex=hx(encode(p)),
            packet_id=hx(packet_id(self.node.params.suite, p)),
        )

    async def clients(self, request: web.Request) -> web.Response:
        """GET /v1/interchain/clients."""
        view = self.node.app.reader()
        rows = reads.clients(view, view.time_ms, reads.MAX_PAGE)
        return ok(
            ClientListJson(
                height=view.height, time_ms=view.time_ms, clients=[client_json(c, view.height) for c in rows]
            )
        )

    async def client(self, request: web.Request) -> web.Response:
        """GET /v1/interchain/clients/{id}."""
        ident = _match(request.match_info["id"], _CLIENT, "bad_id", "a client id (client-<n>)")
        view = self.node.app.reader()
        found = reads.client(view, ident, view.time_ms)
        if found is None:
            raise ApiError(404, "not_found", f"no client {ident} on this chain")
        return ok(client_json(found, view.height))

    async def connection(self, request: web.Request) -> web.Response:
        """GET /v1/interchain/connections/{id}."""
        ident = _match(request.match_info["id"], _CONNECTION, "bad_id", "a connection id (connection-<n>)")
        view = self.node.app.reader()
        end = reads.connection(view, ident)
        if end is None:
            raise ApiError(404, "not_found", f"no connection {ident} on this chain")
        return ok(
            ConnectionJson(
                connection_id=ident,
                state=STATE_NAMES.get(end.state, str(end.state)),
                client_id=end.client_id,
                counterparty_client_id=end.counterparty_client_id,
                counterparty_connection_id=end.counterparty_connection_id,
                version=end.version,
                height=view.height,
            )
        )

    async def channels(self, request: web.Request) -> web.Response:
        """GET /v1/interchain/channels."""
        view = self.node.app.reader()
        rows = reads.channels(view, reads.MAX_PAGE)
        return ok(ChannelListJson(height=view.height, channels=[channel_json(c, view.height) for c in rows]))

    async def channel(self, request: web.Request) -> web.Response:
        """GET /v1/interchain/channels/{port}/{channel}."""
        port, chan = _port_channel(request)
        view = self.node.app.reader()
        found = reads.channel(view, port, chan)
        if found is None:
            raise ApiError(404, "not_found", f"no channel {port}/{chan} on this chain")
        return ok(channel_json(found, view.height))

    async def packets(self, request: web.Request) -> web.Response:
        """GET /v1/interchain/channels/{port}/{channel}/packets."""
        port, chan = _port_channel(request)
        from_seq = int_param(request, "from_seq", 1, 1, _U64) or 1
        limit = int_param(request, "limit", reads.MAX_PAGE, 1, reads.MAX_PAGE) or reads.MAX_PAGE
        view = self.node.app.reader()
        if reads.channel(view, port, chan) is None:
            raise ApiError(404, "not_found", f"no channel {port}/{chan} on this chain")
        rows = reads.packets(view, port, chan, from_seq, limit)
        last = rows[-1].sequence if rows else 0
        nxt = last + 1 if len(rows) == limit and last < _U64 else None
        return ok(
            PacketListJson(
                port=port,
                channel=chan,
                height=view.height,
                packets=[self.packet_json(p) for p in rows],
                next_from_seq=nxt,
            )
        )

    async def packet(self, request: web.Request) -> web.Response:
        """GET /v1/interchain/channels/{port}/{channel}/packets/{seq}."""
        port, chan = _port_channel(request)
        seq_text = request.match_info["seq"]
        if not _SEQ.fullmatch(seq_text) or int(seq_text) > _U64:
            raise ApiError(400, "bad_sequence", f"{seq_text[:40]!r} is not a packet sequence (1 to 2^64-1)")
        seq = int(seq_text)
        view = self.node.app.reader()
        if reads.channel(view, port, chan) is None:
            raise ApiError(404, "not_found", f"no channel {port}/{chan} on this chain")
        found = reads.packet(view, port, chan, seq)
        return ok(
            PacketStatusJson(
                port=port,
                channel=chan,
                sequence=seq,
                height=view.height,
                packet=None if found.packet is None else self.packet_json(found.packet),
                receipt=found.receipt,
                ack=None if found.ack is None else ack_json(found.ack),
            )
        )


# -- another chain's state, fetched and proven ---------------------------------------------------------------------
MAX_REMOTE_BYTES = 1 << 20
"""Most bytes of one answer of another chain's endpoint."""
REMOTE_TIMEOUT_S = 10.0
"""Most seconds one proven read of another chain may take."""
REMOTE_DEADLINE_S = 10.0
"""Most seconds one whole cross-chain read (a DID resolution, a credential's verification) may spend fetching:
a key still needed after that fails ``endpoint_unavailable`` without a request."""
_CHUNK = 64 * 1024


class _Unavailable(Exception):
    """The endpoint's answer could not be used (as ``endpoint_unavailable``)."""


async def _read_body(resp: aiohttp.ClientResponse) -> bytes:
    """The whole body (until EOF), refused past ``MAX_REMOTE_BYTES`` (announced or sent)."""
    if resp.content_length is not None and resp.content_length > MAX_REMOTE_BYTES:
        raise _Unavailable(f"its answer of {resp.content_length} bytes is over {MAX_REMOTE_BYTES}")
    body = bytearray()
    async for chunk in resp.content.iter_chunked(_CHUNK):
        body += chunk
        if len(body) > MAX_REMOTE_BYTES:
            raise _Unavailable(f"its answer is over {MAX_REMOTE_BYTES} bytes")
    return bytes(body)


async def prove_remote(
    session: aiohttp.ClientSession,
    endpoints: Mapping[str, str],
    reader: reads.ProvenReader,
    key: bytes,
    timeout_s: float = REMOTE_TIMEOUT_S,
) -> bool:
    """Fetch ``key`` with its state proof at the reader's anchor height from the other chain's configured endpoint
    (``GET /v1/state/{key}?prove=true&height=H``, at most ``timeout_s`` seconds) and give it to ``reader.accept``;
    a missing endpoint, a failed request or a malformed answer is recorded with ``reader.fail`` as
    ``endpoint_unavailable``, an answer that fails its proof as ``invalid_proof`` (the endpoint is untrusted: only
    the proof against the client's consensus state counts). Returns False when the endpoint was unavailable."""
    chain, height = reader.anchor.chain_id, reader.anchor.height
    base = endpoints.get(chain)
    if not base:
        reader.fail(key, reads.EndpointUnavailable(f"no endpoint of chain {chain!r} is configured ([interchain])"))
        return False
    url = f"{base.rstrip('/')}/v1/state/{key.hex()}?prove=true&height={height}"
    try:
        async with asyncio.timeout(timeout_s), session.get(url) as resp:
            if resp.status != 200:
                raise _Unavailable(f"it answered {resp.status}")
            body = await _read_body(resp)
    except (aiohttp.ClientError, TimeoutError, _Unavailable) as exc:
        why = str(exc) or f"{type(exc).__name__} (after at most {timeout_s:.1f} s)"
        reader.fail(key, reads.EndpointUnavailable(f"chain {chain!r} endpoint {base}, 0x{key.hex()}: {why}"))
        return False
    try:
        data = msgspec.json.decode(body)
        value = None if data["value"] is None else unhex(data["value"], "value")
        proof_bytes = unhex(data["proof_hex"], "proof_hex")
    except (msgspec.DecodeError, DecodeError, KeyError, TypeError, AttributeError) as exc:
        reader.fail(
            key,
            reads.EndpointUnavailable(f"chain {chain!r} endpoint {base} sent malformed JSON for 0x{key.hex()}: {exc}"),
        )
        return False
    try:
        proof = decode(proof_bytes, StateProof)
    except DecodeError as exc:
        reader.fail(key, reads.InvalidProof(f"chain {chain!r} endpoint sent no state proof for 0x{key.hex()}: {exc}"))
        return True
    try:
        reader.accept(key, value, proof)
    except reads.InvalidProof as exc:
        reader.fail(key, exc)
    return True


async def run_remote(fn: Callable[[], T], endpoints: Mapping[str, str], deadline_s: float | None = None) -> T:
    """Run the synchronous read ``fn`` to the end: each key of another chain it needs (``KeyNeeded``) is fetched
    and proven (``prove_remote``), then ``fn`` runs again. No request is made when it needs none. The fetching
    has ``deadline_s`` (default ``REMOTE_DEADLINE_S``) seconds in all: past it every key still needed fails
    ``endpoint_unavailable`` without a request, and so does every further key of a chain whose endpoint failed."""
    deadline_s = REMOTE_DEADLINE_S if deadline_s is None else deadline_s
    loop = asyncio.get_running_loop()
    deadline = loop.time() + deadline_s
    dead: dict[str, str] = {}
    session: aiohttp.ClientSession | None = None
    try:
        for _ in range(reads.MAX_PROVEN_KEYS):
            try:
                return fn()
            except reads.KeyNeeded as need:
                chain = need.reader.anchor.chain_id
                left = deadline - loop.time()
                if chain in dead:
                    need.reader.fail(need.key, reads.EndpointUnavailable(dead[chain]))
                    continue
                if left <= 0:
                    need.reader.fail(
                        need.key,
                        reads.EndpointUnavailable(
                            f"the cross-chain read ran past its {deadline_s:.1f} s deadline before 0x{need.key.hex()} "
                            f"of chain {chain!r} was fetched"
                        ),
                    )
                    continue
                if session is None:
                    session = aiohttp.ClientSession()
                if not await prove_remote(session, endpoints, need.reader, need.key, min(REMOTE_TIMEOUT_S, left)):
                    dead[chain] = f"chain {chain!r}'s endpoint failed earlier in this read (not asked again)"
        raise reads.InvalidProof(f"the read needed more than {reads.MAX_PROVEN_KEYS} proven keys")
    finally:
        if session is not None:
            await session.close()


def _match(text: str, pattern: re.Pattern[str], code: str, what: str) -> str:
    if not pattern.fullmatch(text):
        raise ApiError(400, code, f"{text[:80]!r} is not {what}")
    return text


def _port_channel(request: web.Request) -> tuple[str, str]:
    port = _match(request.match_info["port"], _PORT, "bad_port", "a port ([a-z][a-z0-9_]{0,31})")
    chan = _match(request.match_info["channel"], _CHANNEL, "bad_channel", "a channel id (channel-<n>)")
    return port, chan


def routes(node: Node) -> list[web.RouteDef]:
    """The interchain routes of ``node``."""
    api = InterchainApi(node)
    return [
        web.get("/v1/interchain/clients", api.clients),
        web.get("/v1/interchain/clients/{id}", api.client),
        web.get("/v1/interchain/connections/{id}", api.connection),
        web.get("/v1/interchain/channels", api.channels),
        web.get("/v1/interchain/channels/{port}/{channel}", api.channel),
        web.get("/v1/interchain/channels/{port}/{channel}/packets", api.packets),
        web.get("/v1/interchain/channels/{port}/{channel}/packets/{seq}", api.packet),
    ]


_PORT_PARAM = param("port", "path", {"type": "string", "pattern": PORT_PATTERN}, "The port (a module name)")
_CHANNEL_PARAM = param("channel", "path", {"type": "string", "pattern": CHANNEL_ID_PATTERN}, "The channel id")

OPENAPI_PATHS: dict[str, Any] = {
    "/v1/interchain/clients": {
        "get": {
            "summary": "This chain's light clients of other chains, with their status at the tip's block time",
            "responses": {"200": json_response("ClientListJson", "The clients")},
        }
    },
    "/v1/interchain/clients/{id}": {
        "get": {
            "summary": "A client: its state, latest consensus state, status and misbehaviour record",
            "parameters": [param("id", "path", {"type": "string", "pattern": CLIENT_ID_PATTERN}, "The client id")],
            "responses": {"200": json_response("ClientJson", "The client"), **ERRORS},
        }
    },
    "/v1/interchain/connections/{id}": {
        "get": {
            "summary": "A connection end",
            "parameters": [
                param("id", "path", {"type": "string", "pattern": CONNECTION_ID_PATTERN}, "The connection id")
            ],
            "responses": {"200": json_response("ConnectionJson", "The connection end"), **ERRORS},
        }
    },
    "/v1/interchain/channels": {
        "get": {
            "summary": "Every channel end with its next sequences",
            "responses": {"200": json_response("ChannelListJson", "The channel ends")},
        }
    },
    "/v1/interchain/channels/{port}/{channel}": {
        "get": {
            "summary": "A channel end with its next sequences (send, receive, acknowledge)",
            "parameters": [_PORT_PARAM, _CHANNEL_PARAM],
            "responses": {"200": json_response("ChannelJson", "The channel end"), **ERRORS},
        }
    },
    "/v1/interchain/channels/{port}/{channel}/packets": {
        "get": {
            "summary": "Packets the channel end sent that are still pending, by sequence (the relayer's recovery scan)",
            "parameters": [
                _PORT_PARAM,
                _CHANNEL_PARAM,
                param("from_seq", "query", {"type": "integer", "minimum": 1}, "First sequence (default 1)"),
                param(
                    "limit",
                    "query",
                    {"type": "integer", "minimum": 1, "maximum": reads.MAX_PAGE},
                    f"Page size (default {reads.MAX_PAGE})",
                ),
            ],
            "responses": {"200": json_response("PacketListJson", "The pending packets"), **ERRORS},
        }
    },
    "/v1/interchain/channels/{port}/{channel}/packets/{seq}": {
        "get": {
            "summary": "One sequence of a channel end: the packet while pending, the receipt, the acknowledgement",
            "parameters": [
                _PORT_PARAM,
                _CHANNEL_PARAM,
                param("seq", "path", {"type": "string", "pattern": SEQ_PATTERN}, "The packet sequence"),
            ],
            "responses": {"200": json_response("PacketStatusJson", "What this chain holds of it"), **ERRORS},
        }
    },
}
"""The OpenAPI path items of the interchain routes."""

SCHEMAS: tuple[type, ...] = (
    ClientListJson,
    ClientJson,
    ConnectionJson,
    ChannelListJson,
    ChannelJson,
    PacketListJson,
    PacketStatusJson,
)
"""The response types whose JSON schemas the OpenAPI document's components hold."""
