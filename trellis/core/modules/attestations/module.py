"""The attestations module's declaration: its messages, each with its handler, and its state-key prefixes."""

from __future__ import annotations

from trellis.core.execution.module import Module
from trellis.core.modules.attestations.handlers import handle_attest, handle_revoke
from trellis.core.modules.attestations.messages import Attest, RevokeAttestation
from trellis.core.modules.attestations.state import PREFIXES

MODULE = Module(
    name="attestations",
    handlers={
        Attest: handle_attest,
        RevokeAttestation: handle_revoke,
    },
    prefixes=PREFIXES,
)
