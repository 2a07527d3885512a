"""Messages of the ``evidence`` module; members of the ``Payload`` union (``trellis.core.modules.payload``). See docs/spec/consensus.md."""

from __future__ import annotations

from trellis.core.ledger.votes import Evidence
from trellis.core.types import CoreStruct


class SubmitEvidence(CoreStruct, frozen=True, tag="evidence.submit"):
    """Report that a validator equivocated; anyone may send it, each offence is recorded once."""

    evidence: Evidence
    """Two conflicting signed votes or proposals."""
