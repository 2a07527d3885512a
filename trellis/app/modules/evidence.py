"""evidence module: reading the equivocations recorded on chain."""

from __future__ import annotations

from trellis.core.codec import decode
from trellis.core.execution.context import StateReader
from trellis.core.modules.evidence.state import EVIDENCE_PREFIX, EvidenceRecord

__all__ = ["list_evidence"]


def list_evidence(state: StateReader, limit: int) -> list[EvidenceRecord]:
    """The first ``limit`` evidence records in key order (by offender, height, round, kind).

    Raises:
        DecodeError: a stored record does not decode.
    """
    return [decode(raw, EvidenceRecord) for _, raw in state.scan(EVIDENCE_PREFIX, EVIDENCE_PREFIX + b"\xff", limit)]
