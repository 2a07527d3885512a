"""Join a sub-chain to its hub (ADR 0016 sections 1 and 5; the logic of ``trellis net up --hub``).

A sub-chain is joined once the hub trusts it (``interchain/trusted/<chain_id>``: registered in the hub's genesis or
by ``hub.register`` governance): clients both ways, one connection, a ``transfer`` and a ``directory`` channel over
it (``trellis.relayer.handshake.connect``, the second reusing the clients and the connection), then
``hub.connected{chain_id, client_id, connection_id, channels}`` at the hub, which checks every id against its state
and records them in the sub-chain's registry record (status ``connected``). Every step is a transaction its chain
checks, signed by the relayer's account of that chain.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from trellis.core.codec import decode
from trellis.core.modules.directory.messages import VERSION as DIRECTORY_VERSION
from trellis.core.modules.hub.messages import HubConnected, PortChannel
from trellis.core.modules.hub.state import CONNECTED, SubChain, chain_key
from trellis.core.modules.interchain.state import trusted_key
from trellis.core.modules.transfer.messages import VERSION as TRANSFER_VERSION
from trellis.core.params import Genesis
from trellis.relayer.endpoint import ChainEndpoint, EndpointError
from trellis.relayer.handshake import HandshakeError, connect, net_endpoint, net_key
from trellis.relayer.submit import Submitter, TxSigner
from trellis.relayer.updates import UpdateError

HUB_CHANNELS = (("transfer", TRANSFER_VERSION), ("directory", DIRECTORY_VERSION))
"""The channels that join a sub-chain to its hub (port, application version), opened in this order."""


@dataclass
class HubPath:
    """The fields of ``node.multichain.ChainPath`` for a hub path (a = the hub, b = the sub-chain; the ``transfer``
    channel first, the others in ``channels``); ``vars()`` of it is what ``chains.json`` records."""

    a: str
    b: str
    a_client: str
    b_client: str
    a_connection: str
    b_connection: str
    a_channel: str
    b_channel: str
    port: str = "transfer"
    channels: list[dict[str, str]] = field(default_factory=list)


class NotRegistered(Exception):
    """The hub does not trust the sub-chain (not registered, or retired)."""


async def registered(hub: ChainEndpoint, chain_id: str) -> bool:
    """Whether the hub trusts ``chain_id`` now (its ``interchain/trusted`` record exists)."""
    return (await hub.state(trusted_key(chain_id))).value is not None


async def join(
    hub: ChainEndpoint,
    sub: ChainEndpoint,
    hub_key: TxSigner,
    sub_key: TxSigner,
    chain_id: str,
    channels_to_open: tuple[tuple[str, str], ...] = HUB_CHANNELS,
) -> dict[str, Any]:
    """Join sub-chain ``chain_id`` (endpoint ``sub``) to ``hub`` with a channel of each (port, version) of
    ``channels_to_open`` (the first creates the clients and the connection) and record it with ``hub.connected``.

    Returns ``{hub_client, sub_client, hub_connection, sub_connection, channels: [{port, hub_channel,
    sub_channel}]}``.

    Raises:
        NotRegistered: the hub does not trust the sub-chain.
        HandshakeError: a step failed (its chain's answer in the message), ``hub.connected`` included.
    """
    try:
        if not await registered(hub, chain_id):
            raise NotRegistered(f"{hub.name} does not trust {chain_id}: register it with hub.register governance")
        first: dict[str, str] | None = None
        channels: list[dict[str, str]] = []
        for port, version in channels_to_open:
            ids = await connect(
                hub,
                sub,
                hub_key,
                sub_key,
                port=port,
                version=version,
                clients=None if first is None else (first["a_client"], first["b_client"]),
                connections=None if first is None else (first["a_connection"], first["b_connection"]),
            )
            first = first or ids
            channels.append({"port": port, "hub_channel": ids["a_channel"], "sub_channel": ids["b_channel"]})
        assert first is not None
        msg = HubConnected(
            chain_id=chain_id,
            client_id=first["a_client"],
            connection_id=first["a_connection"],
            channels=[PortChannel(port=c["port"], channel=c["hub_channel"]) for c in channels],
        )
        res = await Submitter(hub, hub_key).submit(msg)
        if not res.ok:
            raise HandshakeError(
                f"hub.connected of {chain_id} on {hub.name} failed: {res.status} code {res.code} {res.message}"
            )
        raw = (await hub.state(chain_key(chain_id))).value
        record = None if raw is None else decode(raw, SubChain)
        if record is None or record.status != CONNECTED or record.client_id != first["a_client"]:
            raise HandshakeError(f"{hub.name} does not show {chain_id} connected after hub.connected: {record}")
    except (EndpointError, UpdateError) as exc:
        raise HandshakeError(str(exc)) from None
    return {
        "hub_client": first["a_client"],
        "sub_client": first["b_client"],
        "hub_connection": first["a_connection"],
        "sub_connection": first["b_connection"],
        "channels": channels,
    }


def names_hub(genesis_file: Path) -> bool:
    """Whether a sub-chain's genesis names its hub (``interchain.hub``): only such a chain takes a ``directory``
    channel (a sub-chain registered in the hub's genesis cannot name the hub, and joins with ``transfer`` only).

    Raises:
        HandshakeError: the file is not a readable genesis.
    """
    try:
        genesis = msgspec.json.decode(genesis_file.read_bytes(), type=Genesis)
    except (OSError, msgspec.DecodeError) as exc:
        raise HandshakeError(f"{genesis_file}: {exc}") from None
    return not isinstance(genesis.interchain_rules.hub, msgspec.UnsetType)


def join_subchain(layout: Any, hub: Any, sub: Any, *, timeout_s: float = 300.0) -> HubPath | None:
    """``join`` a sub-chain of a ``trellis net up --hub`` directory (``node.multichain.Layout`` and ``Chain``
    objects: API URLs, the first node's ``genesis.json``, the relayer's keys ``relayer/keys/chain-<index>.pem``) to
    its hub: a ``transfer`` and, when the sub-chain names the hub in its genesis, a ``directory`` channel.
    Synchronous (runs its own event loop). Returns the path (a = the hub; its ``channels`` hold the further channels
    after the ``transfer`` one), or None when the hub does not trust the sub-chain yet.

    Raises:
        HandshakeError: a step failed.
    """
    root = Path(layout.root)
    endpoint = net_endpoint

    def key(c: Any) -> TxSigner:
        return net_key(root, c)

    ports = HUB_CHANNELS if names_hub(Path(sub.nodes[0].home) / "genesis.json") else HUB_CHANNELS[:1]

    async def run() -> dict[str, Any] | None:
        eh, es = endpoint(hub), endpoint(sub)
        try:
            return await asyncio.wait_for(join(eh, es, key(hub), key(sub), sub.chain_id, ports), timeout_s)
        except NotRegistered:
            return None
        finally:
            await eh.close()
            await es.close()

    ids = asyncio.run(run())
    if ids is None:
        return None
    transfer, *more = ids["channels"]
    return HubPath(
        a=hub.chain_id,
        b=sub.chain_id,
        a_client=ids["hub_client"],
        b_client=ids["sub_client"],
        a_connection=ids["hub_connection"],
        b_connection=ids["sub_connection"],
        a_channel=transfer["hub_channel"],
        b_channel=transfer["sub_channel"],
        port=transfer["port"],
        channels=[{"port": c["port"], "a_channel": c["hub_channel"], "b_channel": c["sub_channel"]} for c in more],
    )
