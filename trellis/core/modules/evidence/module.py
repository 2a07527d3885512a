"""The evidence module's declaration: its messages, each with its handler, and its state-key prefixes."""

from __future__ import annotations

from trellis.core.execution.module import Module
from trellis.core.modules.evidence.handlers import handle_submit_evidence
from trellis.core.modules.evidence.messages import SubmitEvidence
from trellis.core.modules.evidence.state import PREFIXES

MODULE = Module(
    name="evidence",
    handlers={
        SubmitEvidence: handle_submit_evidence,
    },
    prefixes=PREFIXES,
)
