"""Interchain handlers: clients (stub signatures; being built)."""

from __future__ import annotations

from trellis.core.execution.context import TxContext
from trellis.core.execution.results import ResultCode, TxFailure
from trellis.core.ledger.block import Event
from trellis.core.modules.interchain.messages import CreateClient, SubmitMisbehaviour, UpdateClient


def handle_create_client(ctx: TxContext, msg: CreateClient) -> list[Event]:
    """CreateClient (stub)."""
    raise TxFailure(ResultCode.HANDLER_ERROR, "handle_create_client: not built yet")


def handle_update_client(ctx: TxContext, msg: UpdateClient) -> list[Event]:
    """UpdateClient (stub)."""
    raise TxFailure(ResultCode.HANDLER_ERROR, "handle_update_client: not built yet")


def handle_submit_misbehaviour(ctx: TxContext, msg: SubmitMisbehaviour) -> list[Event]:
    """SubmitMisbehaviour (stub)."""
    raise TxFailure(ResultCode.HANDLER_ERROR, "handle_submit_misbehaviour: not built yet")
