"""The interchain module's state records, keys and reads (docs/spec/interchain.md 3; ADR 0015 section 2).

| key | value |
|---|---|
| ``interchain/next_ids`` | ``NextIds`` |
| ``interchain/governance_version`` | interchain governance changes applied (8 bytes, BE) |
| ``interchain/trusted/<chain_id>`` | ``TrustedChain`` (governed policy) |
| ``interchain/client/<client_id>`` | ``ClientState`` |
| ``interchain/consensus/<client_id>/`` + height (8, BE) | ``ConsensusState`` |
| ``interchain/misbehaviour/<client_id>`` | ``MisbehaviourRecord`` |
| ``interchain/connection/<connection_id>`` | ``ConnectionEnd`` |
| ``interchain/channel/<port>/<channel>`` | ``ChannelEnd`` |
| ``interchain/seq_send/<port>/<channel>`` (and ``seq_recv``, ``seq_ack``) | ``U64`` next sequence, 8 bytes BE |
| ``interchain/packet/<port>/<channel>/`` + seq (8, BE) | ``Packet`` (deleted by its ack or timeout) |
| ``interchain/receipt/<port>/<channel>/`` + seq (8, BE) | ``b"\\x01"`` (unordered channels) |
| ``interchain/ack/<port>/<channel>/`` + seq (8, BE) | ``Ack`` |
| ``interchain/expired/<client_id>`` | packets expired under that frozen client (8 bytes, BE); absent until one is |

Keys are the same on every Trellis chain: a counterparty proves its records under these keys, so a proof needs no
negotiated prefix. No identifier contains ``/``, so every key splits uniquely.
"""

from __future__ import annotations

from trellis.core.codec import decode, encode
from trellis.core.crypto.suite import Suite
from trellis.core.execution.context import StateReader
from trellis.core.modules.interchain.messages import (
    Ack,
    ClientId,
    ConnectionId,
    Order,
    Packet,
    PortId,
    Version,
)
from trellis.core.types import U8, U64, ChainId, CoreStruct, Hash32

PREFIX = b"interchain/"
"""Every key of the module starts with this."""
PREFIXES = (PREFIX,)
"""The state-key prefixes this module writes under."""
NEXT_IDS_KEY = b"interchain/next_ids"
"""Key of the ``NextIds`` counters."""
GOVERNANCE_VERSION_KEY = b"interchain/governance_version"
"""Key of the number of interchain governance changes applied (8 bytes, BE): the version an interchain proposal is
keyed to, so a proposal made before another interchain change applied can no longer be completed."""
CONSENSUS_PREFIX = b"interchain/consensus/"
"""Prefix of the consensus states (scanned in height order)."""
CLIENT_PREFIX = b"interchain/client/"
"""Prefix of the client states (scanned by ``untrust_chain``)."""
SCANNED_PREFIXES = (CONSENSUS_PREFIX, CLIENT_PREFIX)
"""The interchain prefixes handlers scan inside a transaction (the executor indexes writes under them)."""

PACKET_DOMAIN = b"trellis/interchain/packet/v1"
"""Tag of ``packet_id``."""

# Connection states; channel states (CLOSED only for channels).
INIT, TRYOPEN, OPEN, CLOSED = 1, 2, 3, 4
"""Handshake states of connections (1-3) and channels (1-4)."""
STATE_NAMES = {INIT: "INIT", TRYOPEN: "TRYOPEN", OPEN: "OPEN", CLOSED: "CLOSED"}
"""State numbers to names (API and errors)."""


class NextIds(CoreStruct, frozen=True):
    """The next number of each kind of identifier."""

    client: U64 = 0
    """Next ``client-<n>``."""
    connection: U64 = 0
    """Next ``connection-<n>``."""
    channel: U64 = 0
    """Next ``channel-<n>``."""


class TrustedChain(CoreStruct, frozen=True):
    """Governance trusts the chain with this genesis, and optionally a checkpoint (``interchain.trust_chain``)."""

    genesis_hash: Hash32
    """The genesis hash a ``create_client`` of that chain must carry."""
    added_height: U64
    """Height of the block that applied the change."""
    checkpoint_height: U64 = 0
    """The height of the header a ``create_client`` may start from instead of the genesis; 0: none."""
    checkpoint_block_id: Hash32 = b"\x00" * 32
    """That header's block id."""


class ClientState(CoreStruct, frozen=True):
    """A light client of another Trellis chain."""

    chain_id: ChainId
    """The counterparty's chain id."""
    genesis_hash: Hash32
    """The counterparty's genesis hash."""
    suite: str
    """The counterparty's crypto suite (``ed25519`` or ``sm``)."""
    trusting_period_ms: U64
    """How long a consensus state stays trusted (block time)."""
    max_clock_drift_ms: U64
    """How far a header's time may be ahead of this chain's block time."""
    latest_height: U64
    """The highest height with a consensus state."""
    frozen_height: U64
    """0 while not frozen; else the height of the misbehaviour that froze it."""


class ConsensusState(CoreStruct, frozen=True):
    """What a client keeps of one verified header of the counterparty."""

    time_ms: U64
    """The header's time."""
    state_root: Hash32
    """The state root after that block: proofs at this height are checked against it."""
    block_id: Hash32
    """The header's block id."""
    validators_hash: Hash32
    """The header's validator set hash."""
    next_validators_hash: Hash32
    """The header's next validator set hash."""


class MisbehaviourRecord(CoreStruct, frozen=True):
    """Why a client froze."""

    height: U64
    """The (lower) height of the conflict."""
    block_id_1: Hash32
    """One block id."""
    block_id_2: Hash32
    """The other."""
    kind: str
    """``conflict`` (two blocks at one height), ``time`` (time not increasing with height), ``untrusted``
    (governance untrusted the chain)."""
    recorded_at: U64
    """Height of the block that froze the client."""


class ConnectionEnd(CoreStruct, frozen=True):
    """One end of a connection between two clients."""

    state: U8
    """``INIT``, ``TRYOPEN`` or ``OPEN``."""
    client_id: ClientId
    """This chain's client of the counterparty."""
    counterparty_client_id: ClientId
    """The counterparty's client of this chain."""
    counterparty_connection_id: str
    """The counterparty's connection id; ``""`` while unknown (INIT)."""
    version: str
    """``trellis-1``."""


class ChannelEnd(CoreStruct, frozen=True):
    """One end of a channel between two ports over a connection."""

    state: U8
    """``INIT``, ``TRYOPEN``, ``OPEN`` or ``CLOSED``."""
    order: Order
    """``1`` unordered, ``2`` ordered."""
    connection_id: ConnectionId
    """The connection it runs over."""
    counterparty_port: PortId
    """The counterparty's port."""
    counterparty_channel: str
    """The counterparty's channel id; ``""`` while unknown (INIT)."""
    version: Version
    """The application version both ends agreed."""


# -- keys ------------------------------------------------------------------------------------------------------
def seq_bytes(seq: int) -> bytes:
    """A sequence or height as 8 bytes, big-endian."""
    return seq.to_bytes(8, "big")


def trusted_key(chain_id: str) -> bytes:
    """Key of the ``TrustedChain`` of ``chain_id``."""
    return b"interchain/trusted/" + chain_id.encode()


def client_key(client_id: str) -> bytes:
    """Key of a ``ClientState``."""
    return CLIENT_PREFIX + client_id.encode()


def consensus_prefix(client_id: str) -> bytes:
    """Prefix of a client's consensus states."""
    return CONSENSUS_PREFIX + client_id.encode() + b"/"


def consensus_key(client_id: str, height: int) -> bytes:
    """Key of a client's consensus state at ``height``."""
    return consensus_prefix(client_id) + seq_bytes(height)


def misbehaviour_key(client_id: str) -> bytes:
    """Key of a client's ``MisbehaviourRecord``."""
    return b"interchain/misbehaviour/" + client_id.encode()


def connection_key(connection_id: str) -> bytes:
    """Key of a ``ConnectionEnd``."""
    return b"interchain/connection/" + connection_id.encode()


def channel_key(port: str, channel: str) -> bytes:
    """Key of a ``ChannelEnd``."""
    return b"interchain/channel/" + port.encode() + b"/" + channel.encode()


def seq_send_key(port: str, channel: str) -> bytes:
    """Key of a channel end's next send sequence."""
    return b"interchain/seq_send/" + port.encode() + b"/" + channel.encode()


def seq_recv_key(port: str, channel: str) -> bytes:
    """Key of a channel end's next receive sequence (enforced on ordered channels)."""
    return b"interchain/seq_recv/" + port.encode() + b"/" + channel.encode()


def seq_ack_key(port: str, channel: str) -> bytes:
    """Key of a channel end's next acknowledgement sequence (enforced on ordered channels)."""
    return b"interchain/seq_ack/" + port.encode() + b"/" + channel.encode()


def packet_prefix(port: str, channel: str) -> bytes:
    """Prefix of the packets a channel end has sent and not yet seen acknowledged or timed out."""
    return b"interchain/packet/" + port.encode() + b"/" + channel.encode() + b"/"


def packet_key(port: str, channel: str, seq: int) -> bytes:
    """Key of a sent packet (its commitment)."""
    return packet_prefix(port, channel) + seq_bytes(seq)


def receipt_key(port: str, channel: str, seq: int) -> bytes:
    """Key of a receipt (unordered channels)."""
    return b"interchain/receipt/" + port.encode() + b"/" + channel.encode() + b"/" + seq_bytes(seq)


def ack_key(port: str, channel: str, seq: int) -> bytes:
    """Key of an acknowledgement written by the receiving end."""
    return b"interchain/ack/" + port.encode() + b"/" + channel.encode() + b"/" + seq_bytes(seq)


def expired_key(client_id: str) -> bytes:
    """Key of the number of packets ``expire_packet`` ended over channels of a frozen client (written only when one
    is: a client that never had a packet expired has no such key). ``recover_client`` refuses such a client."""
    return b"interchain/expired/" + client_id.encode()


def client_id(n: int) -> str:
    """The ``n``-th client id."""
    return f"client-{n}"


def connection_id(n: int) -> str:
    """The ``n``-th connection id."""
    return f"connection-{n}"


def channel_id(n: int) -> str:
    """The ``n``-th channel id."""
    return f"channel-{n}"


# -- reads -----------------------------------------------------------------------------------------------------
def read_next_ids(state: StateReader) -> NextIds:
    """The identifier counters (all 0 before the first identifier)."""
    raw = state.get(NEXT_IDS_KEY)
    return NextIds() if raw is None else decode(raw, NextIds)


def governance_version(state: StateReader) -> int:
    """The number of interchain governance changes applied so far (0 before the first)."""
    raw = state.get(GOVERNANCE_VERSION_KEY)
    return 0 if raw is None else int.from_bytes(raw, "big")


def expired_count(state: StateReader, client: str) -> int:
    """How many packets expired while ``client`` was frozen (0 when none did)."""
    raw = state.get(expired_key(client))
    return 0 if raw is None else int.from_bytes(raw, "big")


def read_trusted(state: StateReader, chain_id: str) -> TrustedChain | None:
    """The governed trust record of ``chain_id``, or None."""
    raw = state.get(trusted_key(chain_id))
    return None if raw is None else decode(raw, TrustedChain)


def read_client(state: StateReader, client: str) -> ClientState | None:
    """A client's state, or None."""
    raw = state.get(client_key(client))
    return None if raw is None else decode(raw, ClientState)


def read_consensus(state: StateReader, client: str, height: int) -> ConsensusState | None:
    """A client's consensus state at ``height``, or None."""
    raw = state.get(consensus_key(client, height))
    return None if raw is None else decode(raw, ConsensusState)


def consensus_heights(state: StateReader, client: str, limit: int, start_height: int = 0) -> list[int]:
    """Up to ``limit`` heights of a client's consensus states from ``start_height`` up, ascending."""
    prefix = consensus_prefix(client)
    rows = state.scan(prefix + seq_bytes(start_height), prefix + b"\xff" * 8 + b"\xff", limit)
    return [int.from_bytes(k[len(prefix) :], "big") for k, _ in rows]


def read_misbehaviour(state: StateReader, client: str) -> MisbehaviourRecord | None:
    """Why a client froze, or None."""
    raw = state.get(misbehaviour_key(client))
    return None if raw is None else decode(raw, MisbehaviourRecord)


def read_connection(state: StateReader, connection: str) -> ConnectionEnd | None:
    """A connection end, or None."""
    raw = state.get(connection_key(connection))
    return None if raw is None else decode(raw, ConnectionEnd)


def read_channel(state: StateReader, port: str, channel: str) -> ChannelEnd | None:
    """A channel end, or None."""
    raw = state.get(channel_key(port, channel))
    return None if raw is None else decode(raw, ChannelEnd)


def read_seq(state: StateReader, key: bytes) -> int:
    """A next-sequence counter (1 before the first packet)."""
    raw = state.get(key)
    return 1 if raw is None else int.from_bytes(raw, "big")


def read_packet(state: StateReader, port: str, channel: str, seq: int) -> Packet | None:
    """A sent packet still pending (not acknowledged nor timed out), or None."""
    raw = state.get(packet_key(port, channel, seq))
    return None if raw is None else decode(raw, Packet)


def read_ack(state: StateReader, port: str, channel: str, seq: int) -> Ack | None:
    """The acknowledgement this chain wrote for a received packet, or None."""
    raw = state.get(ack_key(port, channel, seq))
    return None if raw is None else decode(raw, Ack)


def has_receipt(state: StateReader, port: str, channel: str, seq: int) -> bool:
    """Whether this chain received packet ``seq`` on an unordered channel end."""
    return state.get(receipt_key(port, channel, seq)) is not None


def pending_packets(state: StateReader, port: str, channel: str, from_seq: int, limit: int) -> list[Packet]:
    """Up to ``limit`` pending packets of a channel end from sequence ``from_seq`` up, in sequence order."""
    prefix = packet_prefix(port, channel)
    rows = state.scan(prefix + seq_bytes(from_seq), prefix + b"\xff" * 9, limit)
    return [decode(v, Packet) for _, v in rows]


def encoded_packet(packet: Packet) -> bytes:
    """The canonical bytes stored under the packet key (what the counterparty proves)."""
    return encode(packet)


def packet_id(suite: Suite, packet: Packet) -> bytes:
    """A packet's off-chain identity (events, relayer, metrics): ``tagged_hash(PACKET_DOMAIN, canonical(packet))``."""
    return suite.tagged_hash(PACKET_DOMAIN, encode(packet))
