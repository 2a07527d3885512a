"""Interchain handlers: connections (stub signatures; being built)."""

from __future__ import annotations

from trellis.core.execution.context import TxContext
from trellis.core.execution.results import ResultCode, TxFailure
from trellis.core.ledger.block import Event
from trellis.core.modules.interchain.messages import ConnOpenAck, ConnOpenConfirm, ConnOpenInit, ConnOpenTry


def handle_conn_open_init(ctx: TxContext, msg: ConnOpenInit) -> list[Event]:
    """ConnOpenInit (stub)."""
    raise TxFailure(ResultCode.HANDLER_ERROR, "handle_conn_open_init: not built yet")


def handle_conn_open_try(ctx: TxContext, msg: ConnOpenTry) -> list[Event]:
    """ConnOpenTry (stub)."""
    raise TxFailure(ResultCode.HANDLER_ERROR, "handle_conn_open_try: not built yet")


def handle_conn_open_ack(ctx: TxContext, msg: ConnOpenAck) -> list[Event]:
    """ConnOpenAck (stub)."""
    raise TxFailure(ResultCode.HANDLER_ERROR, "handle_conn_open_ack: not built yet")


def handle_conn_open_confirm(ctx: TxContext, msg: ConnOpenConfirm) -> list[Event]:
    """ConnOpenConfirm (stub)."""
    raise TxFailure(ResultCode.HANDLER_ERROR, "handle_conn_open_confirm: not built yet")
