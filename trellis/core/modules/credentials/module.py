"""The credentials module's declaration: its messages, each with its handler, and its state-key prefixes."""

from __future__ import annotations

from trellis.core.execution.module import Module
from trellis.core.modules.credentials.handlers import handle_set_issuer, handle_status_create, handle_status_set
from trellis.core.modules.credentials.messages import SetIssuer, StatusCreate, StatusSet
from trellis.core.modules.credentials.state import PREFIXES

MODULE = Module(
    name="credentials",
    handlers={
        SetIssuer: handle_set_issuer,
        StatusCreate: handle_status_create,
        StatusSet: handle_status_set,
    },
    prefixes=PREFIXES,
)
