"""Interchain handlers: packets (stub signatures; being built)."""

from __future__ import annotations

from collections.abc import Mapping

from trellis.core.execution.context import TxContext
from trellis.core.execution.module import PacketApp
from trellis.core.execution.results import ResultCode, TxFailure
from trellis.core.ledger.block import Event
from trellis.core.modules.interchain.messages import Acknowledge, RecvPacket, Relay, Timeout, TimeoutOnClose


def handle_recv_packet(ctx: TxContext, msg: RecvPacket, apps: Mapping[str, PacketApp]) -> list[Event]:
    """RecvPacket (stub)."""
    raise TxFailure(ResultCode.HANDLER_ERROR, "handle_recv_packet: not built yet")


def handle_acknowledge(ctx: TxContext, msg: Acknowledge, apps: Mapping[str, PacketApp]) -> list[Event]:
    """Acknowledge (stub)."""
    raise TxFailure(ResultCode.HANDLER_ERROR, "handle_acknowledge: not built yet")


def handle_timeout(ctx: TxContext, msg: Timeout, apps: Mapping[str, PacketApp]) -> list[Event]:
    """Timeout (stub)."""
    raise TxFailure(ResultCode.HANDLER_ERROR, "handle_timeout: not built yet")


def handle_timeout_on_close(ctx: TxContext, msg: TimeoutOnClose, apps: Mapping[str, PacketApp]) -> list[Event]:
    """TimeoutOnClose (stub)."""
    raise TxFailure(ResultCode.HANDLER_ERROR, "handle_timeout_on_close: not built yet")


def handle_relay(ctx: TxContext, msg: Relay, apps: Mapping[str, PacketApp]) -> list[Event]:
    """Relay (stub)."""
    raise TxFailure(ResultCode.HANDLER_ERROR, "handle_relay: not built yet")
