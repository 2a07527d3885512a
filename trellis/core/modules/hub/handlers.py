"""The hub module's handler: ``hub.connected`` (docs/spec/hub.md 4)."""

from __future__ import annotations

from trellis.core.execution.context import TxContext
from trellis.core.execution.results import ResultCode, TxFailure
from trellis.core.ledger.block import Event
from trellis.core.modules.hub.messages import HubConnected


def handle_connected(ctx: TxContext, msg: HubConnected) -> list[Event]:
    """Record the client, connection and channels joining the hub to a registered sub-chain."""
    raise TxFailure(ResultCode.HANDLER_ERROR, "hub.connected: not built yet")
