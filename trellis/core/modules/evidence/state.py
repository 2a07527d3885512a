"""State of the ``evidence`` module: its keys, its records and their encodings, and reads of them."""

from __future__ import annotations

from typing import Annotated

import msgspec

from trellis.core.ledger.votes import Evidence
from trellis.core.types import U32, U64, Address, CoreStruct

EVIDENCE_PREFIX = b"evidence/"


class EvidenceRecord(CoreStruct, frozen=True):
    """Recorded equivocation, at ``b"evidence/" + offender + height(8) + round(4) + kind``."""

    offender: Address
    """The validator that equivocated."""
    height: U64
    """Height of the conflicting messages."""
    round: U32
    """Round of the conflicting messages."""
    kind: Annotated[str, msgspec.Meta(max_length=32)]
    """``duplicate_vote`` or ``duplicate_proposal``."""
    recorded_at: U64
    """Height of the block that recorded it."""
    evidence: Evidence
    """The two signed messages."""


def evidence_key(offender: bytes, height: int, round_: int, kind: str) -> bytes:
    """State key of an evidence record."""
    return EVIDENCE_PREFIX + offender + height.to_bytes(8, "big") + round_.to_bytes(4, "big") + kind.encode()


PREFIXES = (EVIDENCE_PREFIX,)
"""The state-key prefixes the evidence module owns."""
