"""Messages of the ``hub`` module (docs/spec/hub.md 3; ADR 0016 section 1).

``hub.register`` and ``hub.retire`` are membership changes (members of ``MembershipChange``, applied when enough
organisations' admins approve them, keyed to the interchain governance version); ``hub.connected`` is a plain
message that records, after the handshake, which client, connection and channels join the hub to a sub-chain.

May import: ``msgspec`` and ``trellis.core.types``.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from trellis.core.modules.interchain.messages import ChannelId, ClientId, ConnectionId, PortId
from trellis.core.types import U64, ChainId, CoreStruct, Hash32

MAX_CHANNELS = 8
"""Most channels one ``hub.connected`` records for a sub-chain."""

OrgName = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
"""A member organisation's name."""


class HubRegister(CoreStruct, frozen=True, tag="hub.register"):
    """Membership change: register ``chain_id`` as a sub-chain operated by ``operator_org``; the hub trusts its
    genesis (and checkpoint), as ``interchain.trust_chain`` would."""

    chain_id: ChainId
    """The sub-chain's chain id (unique in the registry, retired ones included)."""
    operator_org: OrgName
    """The member organisation that runs it."""
    genesis_hash: Hash32
    """Its genesis hash."""
    checkpoint_height: U64 = 0
    """A height whose header the hub's client may start from instead of the genesis; 0: none."""
    checkpoint_block_id: Hash32 = b"\x00" * 32
    """That header's block id (zero with no checkpoint)."""


class HubRetire(CoreStruct, frozen=True, tag="hub.retire"):
    """Membership change: retire sub-chain ``chain_id``; the hub stops trusting it and every client of it
    freezes."""

    chain_id: ChainId
    """The sub-chain."""


HubChange = HubRegister | HubRetire
"""The hub members of ``MembershipChange``."""


class PortChannel(CoreStruct, frozen=True):
    """A channel end on the hub: its port and id."""

    port: PortId
    """The port (the module: ``transfer``, ``directory``)."""
    channel: ChannelId
    """The hub's channel id."""


class HubConnected(CoreStruct, frozen=True, tag="hub.connected"):
    """Record that the hub's client ``client_id`` of sub-chain ``chain_id``, connection ``connection_id`` over it and
    ``channels`` over that connection are open (any member; checked against the state)."""

    chain_id: ChainId
    """The registered sub-chain."""
    client_id: ClientId
    """The hub's client of it."""
    connection_id: ConnectionId
    """The hub's connection end over that client (OPEN)."""
    channels: Annotated[list[PortChannel], msgspec.Meta(max_length=MAX_CHANNELS)]
    """The hub's channel ends over that connection (each OPEN)."""
