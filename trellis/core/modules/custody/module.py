"""The custody module's declaration: its messages with their handlers, its prefix, and its ``begin_block`` hook
(challenge rounds and missed challenges)."""

from __future__ import annotations

from trellis.core.execution.module import Module
from trellis.core.modules.custody.handlers import begin_block, handle_register, handle_release, handle_respond
from trellis.core.modules.custody.messages import CustodyRegister, CustodyRelease, CustodyRespond
from trellis.core.modules.custody.state import PREFIXES

MODULE = Module(
    name="custody",
    handlers={CustodyRegister: handle_register, CustodyRespond: handle_respond, CustodyRelease: handle_release},
    prefixes=PREFIXES,
    begin_block=begin_block,
)
