"""The hub module's declaration: its message with its handler and its prefixes (its two membership changes are
dispatched by ``membership``; ``governance.py``)."""

from __future__ import annotations

from trellis.core.execution.module import Module
from trellis.core.modules.hub.handlers import handle_connected
from trellis.core.modules.hub.messages import HubConnected
from trellis.core.modules.hub.state import PREFIXES

MODULE = Module(
    name="hub",
    handlers={HubConnected: handle_connected},
    prefixes=PREFIXES,
)
