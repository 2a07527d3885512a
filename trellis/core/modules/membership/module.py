"""The membership module's declaration: its messages, each with its handler, and its state-key prefixes."""

from __future__ import annotations

from trellis.core.execution.module import Module
from trellis.core.modules.membership.handlers import handle_approve, handle_propose, handle_register_cert, handle_revoke
from trellis.core.modules.membership.messages import ApproveMembership, ProposeMembership, RegisterCert, RevokeCert
from trellis.core.modules.membership.state import PREFIXES

MODULE = Module(
    name="membership",
    handlers={
        RegisterCert: handle_register_cert,
        ProposeMembership: handle_propose,
        ApproveMembership: handle_approve,
        RevokeCert: handle_revoke,
    },
    prefixes=PREFIXES,
)
