"""The directory module's packet application (docs/spec/directory.md 5): on a hub, an ``Announce`` received on the
``directory`` port stores the sub-chain's entry as a mirror, indexed with the hub's own entries."""

from __future__ import annotations

from trellis.core.execution.context import TxContext
from trellis.core.execution.results import ResultCode, TxFailure
from trellis.core.ledger.block import Event
from trellis.core.modules.directory.messages import VERSION
from trellis.core.modules.interchain.messages import Ack, Packet


class DirectoryApp:
    """The ``directory`` port's packet application."""

    version = VERSION

    def on_chan_open(self, ctx: TxContext, order: int, counterparty_port: str, version: str) -> None:
        """Accept an unordered channel to another chain's ``directory`` port speaking ``VERSION``."""
        raise TxFailure(ResultCode.HANDLER_ERROR, "directory channels: not built yet")

    def on_chan_close(self, ctx: TxContext, channel: str) -> None:
        """A user may close a directory channel (mirroring over it stops)."""

    def on_recv(self, ctx: TxContext, packet: Packet) -> Ack:
        """Store the announced entry as a mirror."""
        raise TxFailure(ResultCode.HANDLER_ERROR, "directory mirroring: not built yet")

    def on_ack(self, ctx: TxContext, packet: Packet, ack: Ack) -> list[Event]:
        """Nothing to undo: an announcement is informational."""
        return []

    def on_timeout(self, ctx: TxContext, packet: Packet) -> list[Event]:
        """Nothing to undo."""
        return []
