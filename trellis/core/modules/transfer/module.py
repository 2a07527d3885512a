"""The transfer module's declaration: its messages with their handlers, its prefixes, and its packet app."""

from __future__ import annotations

from trellis.core.execution.module import Module
from trellis.core.modules.transfer.app import TransferApp
from trellis.core.modules.transfer.handlers import handle_expire_forward, handle_move, handle_send, handle_send_via
from trellis.core.modules.transfer.messages import TransferExpireForward, TransferMove, TransferSend, TransferSendVia
from trellis.core.modules.transfer.state import PREFIXES

MODULE = Module(
    name="transfer",
    handlers={
        TransferSend: handle_send,
        TransferMove: handle_move,
        TransferSendVia: handle_send_via,
        TransferExpireForward: handle_expire_forward,
    },
    prefixes=PREFIXES,
    packet_app=TransferApp(),
)
