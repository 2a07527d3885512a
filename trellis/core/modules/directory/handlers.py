"""The directory module's handlers (docs/spec/directory.md 4)."""

from __future__ import annotations

from trellis.core.execution.context import TxContext
from trellis.core.execution.results import ResultCode, TxFailure
from trellis.core.ledger.block import Event
from trellis.core.modules.directory.messages import (
    DirectoryDecide,
    DirectoryPublish,
    DirectoryRequestAccess,
    DirectoryUpdate,
    DirectoryWithdraw,
)


def _todo() -> TxFailure:
    return TxFailure(ResultCode.HANDLER_ERROR, "directory: not built yet")


def handle_publish(ctx: TxContext, msg: DirectoryPublish) -> list[Event]:
    """Publish an entry."""
    raise _todo()


def handle_update(ctx: TxContext, msg: DirectoryUpdate) -> list[Event]:
    """Update an entry."""
    raise _todo()


def handle_withdraw(ctx: TxContext, msg: DirectoryWithdraw) -> list[Event]:
    """Withdraw an entry."""
    raise _todo()


def handle_request_access(ctx: TxContext, msg: DirectoryRequestAccess) -> list[Event]:
    """Record an access request."""
    raise _todo()


def handle_decide(ctx: TxContext, msg: DirectoryDecide) -> list[Event]:
    """Record the owner's decision on an access request."""
    raise _todo()
