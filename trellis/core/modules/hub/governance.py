"""Hub changes inside membership governance (docs/spec/hub.md 3; ADR 0016 section 1).

``membership`` dispatches a ``hub.*`` change here, as it dispatches ``interchain.*`` changes: checked when proposed
(``precheck_change``), applied when the approvals reach the threshold (``apply_change_in_block``), keyed to the
interchain governance version (``interchain/governance_version``), which applying one increments.
"""

from __future__ import annotations

from typing import TypeGuard

from trellis.core.execution.context import TxContext
from trellis.core.execution.results import ResultCode, TxFailure
from trellis.core.ledger.block import Event
from trellis.core.modules.hub.messages import HubChange, HubRegister, HubRetire

HUB_CHANGES = (HubRegister, HubRetire)
"""The hub members of ``MembershipChange``."""


def is_hub_change(change: object) -> TypeGuard[HubChange]:
    """Whether ``change`` (a ``MembershipChange``) is ``hub.register`` or ``hub.retire``."""
    return isinstance(change, HUB_CHANGES)


def precheck_change(ctx: TxContext, change: HubChange) -> None:
    """Check a proposed hub change against the state (reads only)."""
    raise TxFailure(ResultCode.HANDLER_ERROR, "hub changes: not built yet")


def apply_change_in_block(ctx: TxContext, proposal_id: int, change: HubChange) -> list[Event]:
    """Apply an approved hub change in block ``ctx.height``."""
    raise TxFailure(ResultCode.HANDLER_ERROR, "hub changes: not built yet")
