"""The transfer module's packet application (stub; being built)."""

from __future__ import annotations

from trellis.core.execution.context import TxContext
from trellis.core.ledger.block import Event
from trellis.core.modules.interchain.messages import Ack, Packet
from trellis.core.modules.transfer.messages import VERSION


class TransferApp:
    """The ``transfer`` port's packet application."""

    version = VERSION

    def on_chan_open(self, ctx: TxContext, order: int, counterparty_port: str, version: str) -> None:
        """Stub."""

    def on_recv(self, ctx: TxContext, packet: Packet) -> Ack:
        """Stub."""
        return Ack(code=1, reason="not built yet")

    def on_ack(self, ctx: TxContext, packet: Packet, ack: Ack) -> list[Event]:
        """Stub."""
        return []

    def on_timeout(self, ctx: TxContext, packet: Packet) -> list[Event]:
        """Stub."""
        return []
