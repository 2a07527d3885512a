"""The identity module's declaration: its messages, each with its handler, and its state-key prefixes."""

from __future__ import annotations

from trellis.core.execution.module import Module
from trellis.core.modules.identity.handlers import handle_did_create, handle_did_deactivate, handle_did_update
from trellis.core.modules.identity.messages import DidCreate, DidDeactivate, DidUpdate
from trellis.core.modules.identity.state import PREFIXES

MODULE = Module(
    name="identity",
    handlers={
        DidCreate: handle_did_create,
        DidUpdate: handle_did_update,
        DidDeactivate: handle_did_deactivate,
    },
    prefixes=PREFIXES,
)
