"""The accounts module's declaration: its messages, each with its handler, and its state-key prefixes."""

from __future__ import annotations

from trellis.core.execution.module import Module
from trellis.core.modules.accounts.handlers import handle_mint, handle_transfer
from trellis.core.modules.accounts.messages import Mint, Transfer
from trellis.core.modules.accounts.state import PREFIXES

MODULE = Module(
    name="accounts",
    handlers={
        Transfer: handle_transfer,
        Mint: handle_mint,
    },
    prefixes=PREFIXES,
)
