"""The directory module's packet application (docs/spec/directory.md 6): a sub-chain announces each publish, update
and withdrawal to its hub (``announce``); on the hub, an ``Announce`` received on the ``directory`` port stores the
sub-chain's entry as a mirror, indexed with the hub's own entries.

Which chain is which comes from genesis: a hub has the genesis member ``hub``; a sub-chain names its hub in
``interchain.hub``. A chain with neither takes no directory channels.
"""

from __future__ import annotations

import msgspec

from trellis.core.codec import decode, encode
from trellis.core.errors import DecodeError
from trellis.core.execution.context import TxContext
from trellis.core.execution.results import ResultCode, TxFailure
from trellis.core.ledger.block import Event
from trellis.core.modules.directory.messages import VERSION, Announce
from trellis.core.modules.directory.state import (
    HUB_CHANNEL_KEY,
    Entry,
    Mirror,
    entry_id,
    entry_index_values,
    mirror_key,
    read_mirror,
    reindex,
)
from trellis.core.modules.interchain.messages import UNORDERED, Ack, Packet
from trellis.core.modules.interchain.packets import send_packet
from trellis.core.modules.interchain.state import (
    OPEN,
    ChannelEnd,
    ClientState,
    channel_key,
    read_channel,
    read_client,
    read_connection,
)
from trellis.core.params import DAY_MS, GenesisHubRef

PORT = "directory"
"""The directory application's port (the module's name)."""
ANNOUNCE_TIMEOUT_MS = DAY_MS
"""An announcement times out this long after the block that sends it (block time); a timed-out announcement is
not retried: the entry's next version announces it again."""
MAX_ANNOUNCE = 8192
"""Most bytes of an ``Announce`` a hub decodes (an entry at its largest is under 3 KiB)."""
HUB_CHANNEL_SCAN = 8
"""Most OPEN ``directory`` channel ends a sub-chain follows to their client to find the one that leads to its hub."""
HUB_CHANNEL_KEYS = 1024
"""Most ``directory`` channel ends (of any state) a sub-chain reads in one search for its hub channel."""
_HUB_CHANNEL_PAGE = 64
SUCCESS_RESULT = b"\x01"
"""The result of a success acknowledgement."""


def is_hub(ctx: TxContext) -> bool:
    """Whether this chain is a hub (its genesis has the member ``hub``)."""
    return not isinstance(ctx.params.genesis.hub, msgspec.UnsetType)


def hub_of(ctx: TxContext) -> GenesisHubRef | None:
    """This chain's hub (genesis ``interchain.hub``), or None when it names none."""
    hub = ctx.params.genesis.interchain_rules.hub
    return None if isinstance(hub, msgspec.UnsetType) else hub


def _channel_client(ctx: TxContext, channel: str) -> ClientState | None:
    """The client under ``directory`` channel end ``channel`` when the channel and its connection are OPEN."""
    ch = read_channel(ctx, PORT, channel)
    if ch is None or ch.state != OPEN:
        return None
    conn = read_connection(ctx, ch.connection_id)
    if conn is None or conn.state != OPEN:
        return None
    return read_client(ctx, conn.client_id)


def _leads_to(ctx: TxContext, channel: str, hub: GenesisHubRef) -> bool:
    client = _channel_client(ctx, channel)
    return (
        client is not None
        and client.frozen_height == 0
        and client.chain_id == hub.chain_id
        and client.genesis_hash.hex() == hub.genesis_hash
    )


def hub_channel(ctx: TxContext, hub: GenesisHubRef) -> str | None:
    """The OPEN ``directory`` channel end that leads to ``hub`` (its client is of the hub's chain id and genesis
    hash, not frozen), or None.

    Bounded: the channel recorded at ``directory/hub_channel`` by an earlier announcement is checked first; when it
    is missing or no longer leads to the hub, the directory channel ends are read in key order, at most
    ``HUB_CHANNEL_KEYS`` of them in all: an end that is not OPEN is skipped from the scanned record (no further
    read, not counted: anyone can leave INIT or TRYOPEN ends over the hub's own connection with one transaction
    each), and at most ``HUB_CHANNEL_SCAN`` OPEN ends are followed to their client; the one found is recorded.
    """
    raw = ctx.get(HUB_CHANNEL_KEY)
    if raw is not None and _leads_to(ctx, raw.decode(), hub):
        return raw.decode()
    start = channel_key(PORT, "")
    end = start[:-1] + b"0"
    pos, read, followed = start, 0, 0
    while read < HUB_CHANNEL_KEYS and followed < HUB_CHANNEL_SCAN:
        rows = ctx.scan(pos, end, min(_HUB_CHANNEL_PAGE, HUB_CHANNEL_KEYS - read))
        for key, value in rows:
            read += 1
            if decode(value, ChannelEnd).state != OPEN:
                continue
            channel = key[len(start) :].decode()
            followed += 1
            if _leads_to(ctx, channel, hub):
                if raw != channel.encode():
                    ctx.put(HUB_CHANNEL_KEY, channel.encode())
                return channel
            if followed >= HUB_CHANNEL_SCAN:
                break
        if len(rows) < _HUB_CHANNEL_PAGE:
            break
        pos = rows[-1][0] + b"\x00"
    return None


def announce(ctx: TxContext, entry: Entry) -> list[Event]:
    """On a sub-chain, send ``Announce(entry, ctx.height)`` to the hub over the channel that leads there, and return
    the ``send_packet`` event; nothing (no event, no write) on a chain that names no hub, when no such channel is
    open yet, or when the send is refused (the hub's client expired, say): announcements are not queued, the
    entry's next version announces it again. The entry's own write never depends on it."""
    hub = hub_of(ctx)
    if hub is None:
        return []
    sp = ctx.savepoint()
    channel = hub_channel(sp, hub)
    if channel is None:
        return []
    data = encode(Announce(entry=encode(entry), home_height=ctx.height))
    try:
        _, events = send_packet(sp, PORT, channel, data, 0, ctx.time_ms + ANNOUNCE_TIMEOUT_MS)
    except TxFailure:
        return []
    sp.commit()
    return events


class DirectoryApp:
    """The ``directory`` port's packet application."""

    version = VERSION

    def on_chan_open(self, ctx: TxContext, order: int, counterparty_port: str, version: str) -> None:
        """Accept an unordered channel to another chain's ``directory`` port speaking ``VERSION``, on a hub or on a
        sub-chain (a chain naming a hub). A sub-chain cannot tell here which chain the channel leads to; it only
        ever announces over a channel leading to its hub (``hub_channel``) and receives no announcements.

        Raises:
            TxFailure: ``INVALID_HANDSHAKE``.
        """
        if not is_hub(ctx) and hub_of(ctx) is None:
            raise TxFailure(
                ResultCode.INVALID_HANDSHAKE,
                "this chain is neither a hub nor a sub-chain naming one: it takes no directory channels",
            )
        if order != UNORDERED:
            raise TxFailure(ResultCode.INVALID_HANDSHAKE, f"directory channels are unordered (order 1), not {order}")
        if version != VERSION:
            raise TxFailure(ResultCode.INVALID_HANDSHAKE, f"directory speaks version {VERSION!r}, not {version!r}")
        if counterparty_port != PORT:
            raise TxFailure(
                ResultCode.INVALID_HANDSHAKE, f"a directory channel joins the {PORT!r} port, not {counterparty_port!r}"
            )

    def on_chan_close(self, ctx: TxContext, channel: str) -> None:
        """A user may close a directory channel (mirroring over it stops)."""

    def on_recv(self, ctx: TxContext, packet: Packet) -> tuple[Ack, list[Event]]:
        """On a hub, store the announced entry as a mirror (``store_mirror``); any refusal is an error ack. No
        events."""
        store_mirror(ctx, packet)
        return Ack(code=0, result=SUCCESS_RESULT, reason=""), []

    def on_ack(self, ctx: TxContext, packet: Packet, ack: Ack) -> list[Event]:
        """Nothing to undo: an announcement is informational."""
        return []

    def on_timeout(self, ctx: TxContext, packet: Packet) -> list[Event]:
        """Nothing to undo, nothing retried (the entry's next version is announced again)."""
        return []


def _home_chain(ctx: TxContext, channel: str) -> str:
    """The chain id of the client under the hub's ``directory`` channel end ``channel``."""
    client = _channel_client(ctx, channel)
    if client is None:  # the interchain module delivers packets only on OPEN channels over OPEN connections
        raise TxFailure(ResultCode.CHANNEL_NOT_OPEN, f"channel {PORT}/{channel} does not lead to a known client")
    return client.chain_id


def store_mirror(ctx: TxContext, packet: Packet) -> None:
    """Store (or replace with a newer version) the mirror of the entry ``packet`` announces, and move its index
    entries (value: the home chain id). An older or equal version than the stored one changes nothing; a withdrawn
    version leaves every index, its ``Mirror`` stays.

    Raises:
        TxFailure: ``UNAUTHORIZED`` (this chain is not a hub; the entry's chain is not the chain the packet came
            from), ``INVALID_CHANGE`` (data out of bounds or not a canonical ``Announce`` / ``Entry``; an id that
            is not the entry's ``entry_id``).
    """
    if not is_hub(ctx):
        raise TxFailure(ResultCode.UNAUTHORIZED, "this chain is not a hub: it keeps no directory mirrors")
    if len(packet.data) > MAX_ANNOUNCE:
        raise TxFailure(
            ResultCode.INVALID_CHANGE, f"an announcement of {len(packet.data)} bytes (at most {MAX_ANNOUNCE})"
        )
    try:
        ann = decode(packet.data, Announce)
        entry = decode(ann.entry, Entry)
    except DecodeError as exc:
        raise TxFailure(ResultCode.INVALID_CHANGE, f"not a directory announcement: {exc}") from exc
    home = _home_chain(ctx, packet.dest_channel)
    if entry.chain_id != home:
        raise TxFailure(
            ResultCode.UNAUTHORIZED,
            f"entry {entry.id.hex()} says it is of chain {entry.chain_id!r}, but came from chain {home!r}",
        )
    if entry.id != entry_id(ctx.suite, entry.chain_id, entry.owner, entry.nonce):
        raise TxFailure(
            ResultCode.INVALID_CHANGE, f"entry {entry.id.hex()} is not the id of its chain, owner and nonce"
        )
    old = read_mirror(ctx, entry.id)
    old_pairs: list[tuple[bytes, str]] = []
    if old is not None:
        old_entry = decode(old.entry, Entry)
        if old_entry.version >= entry.version:
            return  # an announcement that arrived late: the mirror already holds this version or a newer one
        old_pairs = entry_index_values(old_entry)
    mirror = Mirror(
        chain_id=home,
        home_height=ann.home_height,
        entry=ann.entry,
        channel=packet.dest_channel,
        received_height=ctx.height,
    )
    ctx.put(mirror_key(entry.id), encode(mirror))
    reindex(ctx, entry.id, old_pairs, entry_index_values(entry), home.encode())
