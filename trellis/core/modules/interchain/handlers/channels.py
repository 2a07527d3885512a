"""Interchain handlers: channels (stub signatures; being built)."""

from __future__ import annotations

from collections.abc import Mapping

from trellis.core.execution.context import TxContext
from trellis.core.execution.module import PacketApp
from trellis.core.execution.results import ResultCode, TxFailure
from trellis.core.ledger.block import Event
from trellis.core.modules.interchain.messages import (
    ChanCloseConfirm,
    ChanCloseInit,
    ChanOpenAck,
    ChanOpenConfirm,
    ChanOpenInit,
    ChanOpenTry,
)


def handle_chan_open_init(ctx: TxContext, msg: ChanOpenInit, apps: Mapping[str, PacketApp]) -> list[Event]:
    """ChanOpenInit (stub)."""
    raise TxFailure(ResultCode.HANDLER_ERROR, "handle_chan_open_init: not built yet")


def handle_chan_open_try(ctx: TxContext, msg: ChanOpenTry, apps: Mapping[str, PacketApp]) -> list[Event]:
    """ChanOpenTry (stub)."""
    raise TxFailure(ResultCode.HANDLER_ERROR, "handle_chan_open_try: not built yet")


def handle_chan_open_ack(ctx: TxContext, msg: ChanOpenAck, apps: Mapping[str, PacketApp]) -> list[Event]:
    """ChanOpenAck (stub)."""
    raise TxFailure(ResultCode.HANDLER_ERROR, "handle_chan_open_ack: not built yet")


def handle_chan_open_confirm(ctx: TxContext, msg: ChanOpenConfirm, apps: Mapping[str, PacketApp]) -> list[Event]:
    """ChanOpenConfirm (stub)."""
    raise TxFailure(ResultCode.HANDLER_ERROR, "handle_chan_open_confirm: not built yet")


def handle_chan_close_init(ctx: TxContext, msg: ChanCloseInit, apps: Mapping[str, PacketApp]) -> list[Event]:
    """ChanCloseInit (stub)."""
    raise TxFailure(ResultCode.HANDLER_ERROR, "handle_chan_close_init: not built yet")


def handle_chan_close_confirm(ctx: TxContext, msg: ChanCloseConfirm, apps: Mapping[str, PacketApp]) -> list[Event]:
    """ChanCloseConfirm (stub)."""
    raise TxFailure(ResultCode.HANDLER_ERROR, "handle_chan_close_confirm: not built yet")
