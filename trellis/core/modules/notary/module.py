"""The notary module's declaration: its messages, each with its handler, and its state-key prefixes."""

from __future__ import annotations

from trellis.core.execution.module import Module
from trellis.core.modules.notary.handlers import handle_notary_anchor
from trellis.core.modules.notary.messages import NotaryAnchor
from trellis.core.modules.notary.state import PREFIXES

MODULE = Module(
    name="notary",
    handlers={
        NotaryAnchor: handle_notary_anchor,
    },
    prefixes=PREFIXES,
)
