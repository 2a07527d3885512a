"""The transfer module's rules (stub signatures; being built)."""

from __future__ import annotations

from trellis.core.execution.context import TxContext
from trellis.core.execution.results import ResultCode, TxFailure
from trellis.core.ledger.block import Event
from trellis.core.modules.transfer.messages import TransferMove, TransferSend


def handle_send(ctx: TxContext, msg: TransferSend) -> list[Event]:
    """transfer.send (stub)."""
    raise TxFailure(ResultCode.HANDLER_ERROR, "transfer.send: not built yet")


def handle_move(ctx: TxContext, msg: TransferMove) -> list[Event]:
    """transfer.move (stub)."""
    raise TxFailure(ResultCode.HANDLER_ERROR, "transfer.move: not built yet")
