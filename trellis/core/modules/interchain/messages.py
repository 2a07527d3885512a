"""Messages of the ``interchain`` module (docs/spec/interchain.md 4; ADR 0015 section 4): light clients of other
Trellis chains, connection and channel handshakes, packets with their acknowledgements and timeouts, and the
relayer's batch.

Headers, commits, validator sets, set changes and state proofs travel as their canonical encodings (``bytes``):
the handlers decode them with the light client's canonical checks (``core/lightclient.py``), and this file stays at
the bottom of the import order (the ledger imports the payload union, which imports this file; the ledger's
``Header`` cannot be imported back here). Every bound is checked at decoding.

May import: ``msgspec`` and ``trellis.core.types``.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from trellis.core.types import U32, U64, ChainId, CoreStruct, Hash32

MAX_PACKET_DATA = 16_384
"""Most bytes of a packet's data (16 KiB)."""
MAX_ACK_RESULT = 4096
"""Most bytes of an acknowledgement's result."""
MAX_ACK_REASON = 256
"""Most characters of an error acknowledgement's reason."""
MAX_ENCODED = 65_536
"""Most bytes of one encoded header, commit, validator set or proof (the transaction limit bounds them first)."""
MAX_GENESIS = 60_000
"""Most bytes of the counterparty genesis a ``create_client`` carries (canonical msgpack)."""
MAX_SET_CHANGES = 64
"""Most set changes one ``create_client`` carries."""
MAX_RELAY_ITEMS = 256
"""Most items of one ``interchain.relay``."""
VERSION = "trellis-1"
"""The one connection version."""

ClientId = Annotated[str, msgspec.Meta(max_length=27, pattern=r"^client-(0|[1-9][0-9]{0,19})\Z")]
"""``client-<n>``, ``n`` decimal without leading zeros."""
ConnectionId = Annotated[str, msgspec.Meta(max_length=31, pattern=r"^connection-(0|[1-9][0-9]{0,19})\Z")]
"""``connection-<n>``."""
ChannelId = Annotated[str, msgspec.Meta(max_length=28, pattern=r"^channel-(0|[1-9][0-9]{0,19})\Z")]
"""``channel-<n>``."""
OptChannelId = Annotated[str, msgspec.Meta(max_length=28, pattern=r"^(channel-(0|[1-9][0-9]{0,19}))?\Z")]
"""A channel id, or ``""`` (not yet known)."""
OptConnectionId = Annotated[str, msgspec.Meta(max_length=31, pattern=r"^(connection-(0|[1-9][0-9]{0,19}))?\Z")]
"""A connection id, or ``""`` (not yet known)."""
PortId = Annotated[str, msgspec.Meta(min_length=1, max_length=32, pattern=r"^[a-z][a-z0-9_]{0,31}\Z")]
"""A port: the name of the module bound to it."""
Version = Annotated[str, msgspec.Meta(max_length=64, pattern=r"^[A-Za-z0-9._-]*\Z")]
"""An application version string, e.g. ``trellis-transfer-1``."""
Encoded = Annotated[bytes, msgspec.Meta(max_length=MAX_ENCODED)]
"""A canonical encoding of a ledger object (header, commit, validator set, state proof, client state)."""

UNORDERED, ORDERED = 1, 2
"""Channel orders."""
Order = Annotated[int, msgspec.Meta(ge=UNORDERED, le=ORDERED)]
"""``1`` unordered, ``2`` ordered."""


class Packet(CoreStruct, frozen=True):
    """A packet: what a channel end commits to in its state and the other end receives with a proof."""

    sequence: U64
    """The sending end's sequence number (from 1)."""
    source_port: PortId
    """The sending module."""
    source_channel: ChannelId
    """The sending channel end."""
    dest_port: PortId
    """The receiving module."""
    dest_channel: ChannelId
    """The receiving channel end."""
    data: Annotated[bytes, msgspec.Meta(min_length=1, max_length=MAX_PACKET_DATA)]
    """The application's message (its own canonical struct)."""
    timeout_height: U64
    """The packet cannot be received at this destination height or later; 0: no height timeout."""
    timeout_time_ms: U64
    """The packet cannot be received in a destination block of this time or later; 0: no time timeout."""


class Ack(CoreStruct, frozen=True):
    """An acknowledgement: the receiving application's answer, written by the destination."""

    code: U32
    """0: success; anything else an error (the receiver undid the application's writes)."""
    result: Annotated[bytes, msgspec.Meta(max_length=MAX_ACK_RESULT)] = b""
    """The application's result."""
    reason: Annotated[str, msgspec.Meta(max_length=MAX_ACK_REASON)] = ""
    """Why it failed (error acks)."""


class EncodedSetChange(CoreStruct, frozen=True):
    """A ``lightclient.SetChange`` as its parts' canonical encodings."""

    header: Encoded
    """Header of height ``e - 1``."""
    commit: Encoded
    """Its commit."""
    next_validators: Encoded
    """The set in force from ``e``."""


class HeaderUpdate(CoreStruct, frozen=True):
    """A light block of the counterparty, and the trusted height (a stored consensus state) it is verified from."""

    trusted_height: U64
    """A height the client holds a consensus state for, below ``header``'s."""
    header: Encoded
    """The new header (canonical encoding)."""
    commit: Encoded
    """Its commit."""
    validators: Encoded
    """The set of the header's height (its hash is the header's ``validators_hash``)."""
    trusted_validators: Encoded
    """The set of ``trusted_height`` (its hash is that consensus state's ``validators_hash``)."""


class Checkpoint(CoreStruct, frozen=True):
    """What a ``create_client`` carries instead of a genesis when it starts from a checkpoint: the counterparty's
    genesis hash and suite (asserted; under the governed policy they must be what governance trusted) and the
    validator set of the checkpoint header."""

    genesis_hash: Hash32
    """The counterparty's genesis hash."""
    suite: Annotated[str, msgspec.Meta(max_length=32)]
    """The counterparty's crypto suite (``ed25519`` or ``sm``)."""
    validators: Encoded
    """``set(header.height)``, canonical: its hash is the header's ``validators_hash`` and it signs the commit."""


class CreateClient(CoreStruct, frozen=True, tag="interchain.create_client"):
    """Create a light client of another chain: from its genesis (verified along its set changes), or from a
    checkpoint header (``checkpoint``; governed chains: the checkpoint governance trusted)."""

    chain_id: ChainId
    """The counterparty's chain id (must be its genesis's)."""
    genesis: Annotated[bytes, msgspec.Meta(max_length=MAX_GENESIS)]
    """The counterparty's genesis document, canonical msgpack (its hash is the genesis hash); empty with a
    ``checkpoint``."""
    set_changes: Annotated[list[EncodedSetChange], msgspec.Meta(max_length=MAX_SET_CHANGES)]
    """Every validator-set change of the counterparty up to ``header``, in order; empty with a ``checkpoint``."""
    header: Encoded
    """The first trusted header."""
    commit: Encoded
    """Its commit."""
    trusting_period_ms: U64
    """How long a consensus state stays trusted."""
    max_clock_drift_ms: U64
    """How far ahead of this chain's block time a header's time may be."""
    checkpoint: Checkpoint | None = None
    """Start from ``header`` as a checkpoint instead of from the genesis (for a chain whose genesis or history does
    not fit one transaction); None: from the genesis."""


class UpdateClient(CoreStruct, frozen=True, tag="interchain.update_client"):
    """Add a newer (or a missing older) consensus state to a client."""

    client_id: ClientId
    """The client."""
    update: HeaderUpdate
    """The light block and the trusted height it is verified from."""


class SubmitMisbehaviour(CoreStruct, frozen=True, tag="interchain.submit_misbehaviour"):
    """Two valid light blocks that cannot both be true (same height, different blocks; or time going backwards):
    the client freezes."""

    client_id: ClientId
    """The client."""
    first: HeaderUpdate
    """One light block."""
    second: HeaderUpdate
    """The other."""


class ConnOpenInit(CoreStruct, frozen=True, tag="interchain.conn_open_init"):
    """Start a connection over ``client_id`` to the counterparty's ``counterparty_client_id``."""

    client_id: ClientId
    """This chain's client of the counterparty."""
    counterparty_client_id: ClientId
    """The counterparty's client of this chain."""


class ConnOpenTry(CoreStruct, frozen=True, tag="interchain.conn_open_try"):
    """Answer a counterparty's ``conn_open_init`` (proven)."""

    client_id: ClientId
    """This chain's client of the counterparty."""
    counterparty_client_id: ClientId
    """The counterparty's client of this chain."""
    counterparty_connection_id: ConnectionId
    """The counterparty's connection (state INIT there)."""
    counterparty_client_state: Encoded
    """The counterparty's ``ClientState`` of this chain (canonical): it must name this chain and genesis."""
    proof_init: Encoded
    """Proof of the counterparty's connection end."""
    proof_client: Encoded
    """Proof of ``counterparty_client_state`` at the same height."""


class ConnOpenAck(CoreStruct, frozen=True, tag="interchain.conn_open_ack"):
    """Open a connection in INIT after the counterparty's TRYOPEN (proven)."""

    connection_id: ConnectionId
    """This chain's connection (INIT)."""
    counterparty_connection_id: ConnectionId
    """The counterparty's connection (TRYOPEN)."""
    counterparty_client_state: Encoded
    """The counterparty's ``ClientState`` of this chain."""
    proof_try: Encoded
    """Proof of the counterparty's connection end."""
    proof_client: Encoded
    """Proof of ``counterparty_client_state``."""


class ConnOpenConfirm(CoreStruct, frozen=True, tag="interchain.conn_open_confirm"):
    """Open a connection in TRYOPEN after the counterparty's OPEN (proven)."""

    connection_id: ConnectionId
    """This chain's connection (TRYOPEN)."""
    proof_ack: Encoded
    """Proof of the counterparty's connection end (OPEN)."""


class ChanOpenInit(CoreStruct, frozen=True, tag="interchain.chan_open_init"):
    """Start a channel of ``port`` over an open connection."""

    port: PortId
    """This chain's port (a module with a packet app)."""
    connection_id: ConnectionId
    """An OPEN connection."""
    counterparty_port: PortId
    """The counterparty's port."""
    order: Order
    """``1`` unordered, ``2`` ordered."""
    version: Version
    """The application version."""


class ChanOpenTry(CoreStruct, frozen=True, tag="interchain.chan_open_try"):
    """Answer a counterparty's ``chan_open_init`` (proven)."""

    port: PortId
    """This chain's port."""
    connection_id: ConnectionId
    """An OPEN connection."""
    counterparty_port: PortId
    """The counterparty's port."""
    counterparty_channel: ChannelId
    """The counterparty's channel (INIT there)."""
    order: Order
    """Must equal the counterparty's."""
    version: Version
    """Must equal the counterparty's."""
    proof_init: Encoded
    """Proof of the counterparty's channel end."""


class ChanOpenAck(CoreStruct, frozen=True, tag="interchain.chan_open_ack"):
    """Open a channel in INIT after the counterparty's TRYOPEN (proven)."""

    port: PortId
    """This chain's port."""
    channel: ChannelId
    """This chain's channel (INIT)."""
    counterparty_channel: ChannelId
    """The counterparty's channel (TRYOPEN)."""
    proof_try: Encoded
    """Proof of the counterparty's channel end."""


class ChanOpenConfirm(CoreStruct, frozen=True, tag="interchain.chan_open_confirm"):
    """Open a channel in TRYOPEN after the counterparty's OPEN (proven)."""

    port: PortId
    """This chain's port."""
    channel: ChannelId
    """This chain's channel (TRYOPEN)."""
    proof_ack: Encoded
    """Proof of the counterparty's channel end (OPEN)."""


class ChanCloseInit(CoreStruct, frozen=True, tag="interchain.chan_close_init"):
    """Close an open channel (the port's module may refuse)."""

    port: PortId
    """This chain's port."""
    channel: ChannelId
    """The channel."""


class ChanCloseConfirm(CoreStruct, frozen=True, tag="interchain.chan_close_confirm"):
    """Close a channel whose counterparty end is CLOSED (proven)."""

    port: PortId
    """This chain's port."""
    channel: ChannelId
    """The channel."""
    proof_init: Encoded
    """Proof of the counterparty's channel end (CLOSED)."""


class RecvPacket(CoreStruct, frozen=True, tag="interchain.recv_packet"):
    """Deliver a packet committed on the counterparty (proven)."""

    packet: Packet
    """The packet, as stored at the source."""
    proof: Encoded
    """Proof of the packet at the source (``StateProof``; its height is the proof height)."""


class Acknowledge(CoreStruct, frozen=True, tag="interchain.acknowledge"):
    """Bring back the destination's acknowledgement of a packet this chain sent (proven)."""

    packet: Packet
    """The packet, as stored here."""
    ack: Ack
    """The acknowledgement the destination wrote."""
    proof: Encoded
    """Proof of the ack at the destination."""


class Timeout(CoreStruct, frozen=True, tag="interchain.timeout"):
    """End a packet the destination did not receive before its timeout (proven at a height past it)."""

    packet: Packet
    """The packet, as stored here."""
    next_seq_recv: U64
    """Ordered channels: the destination's next receive sequence at the proof height (proven); else 0."""
    proof: Encoded
    """Unordered: proof of the receipt's absence; ordered: proof of ``next_seq_recv``."""


class TimeoutOnClose(CoreStruct, frozen=True, tag="interchain.timeout_on_close"):
    """End a packet whose destination channel closed without receiving it (proven)."""

    packet: Packet
    """The packet, as stored here."""
    next_seq_recv: U64
    """As for ``Timeout``."""
    proof: Encoded
    """As for ``Timeout``."""
    proof_close: Encoded
    """Proof that the destination channel end is CLOSED (same height)."""


RelayItem = RecvPacket | Acknowledge | Timeout
"""What one ``interchain.relay`` carries."""


class Relay(CoreStruct, frozen=True, tag="interchain.relay"):
    """A relayer's batch: an optional client update, then up to 256 items, each all-or-nothing on its own."""

    update: UpdateClient | None
    """Applied first; its failure fails the transaction."""
    items: Annotated[list[RelayItem], msgspec.Meta(min_length=1, max_length=MAX_RELAY_ITEMS)]
    """Packets, acks and timeouts; a refused item changes nothing and does not fail the others."""


class TrustChain(CoreStruct, frozen=True, tag="interchain.trust_chain"):
    """Membership change: clients of ``chain_id`` may be created from the genesis with this hash, or from the
    checkpoint named here."""

    chain_id: ChainId
    """The counterparty's chain id."""
    genesis_hash: Hash32
    """Its genesis hash."""
    checkpoint_height: U64 = 0
    """A height whose header clients may start from instead of the genesis; 0: none."""
    checkpoint_block_id: Hash32 = b"\x00" * 32
    """That header's block id (zero with no checkpoint)."""


class UntrustChain(CoreStruct, frozen=True, tag="interchain.untrust_chain"):
    """Membership change: stop trusting ``chain_id``; every client of it freezes."""

    chain_id: ChainId
    """The counterparty's chain id."""


class RecoverClient(CoreStruct, frozen=True, tag="interchain.recover_client"):
    """Membership change: an expired or frozen client takes the latest consensus state of an active substitute for
    the same chain and genesis (its connections, channels and voucher denoms survive)."""

    subject: ClientId
    """The client to recover."""
    substitute: ClientId
    """An active client of the same chain."""


InterchainChange = TrustChain | UntrustChain | RecoverClient
"""The interchain members of the ``MembershipChange`` union."""
