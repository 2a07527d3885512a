"""Step functions other modules call to use channels (ADR 0015 section 1): send a packet.

A module may import this file (like ``validators/governance.py``), never the interchain handlers.
"""

from __future__ import annotations

from trellis.core.execution.context import TxContext
from trellis.core.execution.results import ResultCode, TxFailure
from trellis.core.ledger.block import Event
from trellis.core.modules.interchain.messages import Packet


def send_packet(
    ctx: TxContext, port: str, channel: str, data: bytes, timeout_height: int, timeout_time_ms: int
) -> tuple[Packet, list[Event]]:
    """Commit a packet of ``data`` on channel end ``(port, channel)`` and return it with its ``send_packet`` event.

    Raises:
        TxFailure: ``CHANNEL_NOT_OPEN``, ``INVALID_CHANGE`` (no timeout, or one already passed by the
            counterparty's latest known height/time), ``CLIENT_FROZEN`` / ``CLIENT_EXPIRED``.
    """
    raise TxFailure(ResultCode.HANDLER_ERROR, "send_packet: not built yet")
