"""Messages of the ``attestations`` module (docs/spec/attestations.md 1): attest and revoke.

Every bound is checked at decoding: a subject, claim type or attester DID of the wrong shape, or a statement over
4 KiB, makes the whole transaction ``malformed`` at admission. The rules that need state (the attester DID's
control, the expiry against block time, who may revoke) are in ``handlers.py``.

May import: ``msgspec`` and ``trellis.core.types`` (``trellis.core.modules.payload`` builds the union from these
classes, and ``trellis.core.ledger.tx`` imports that).
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from trellis.core.types import U64, CoreStruct, Hash32

MAX_SUBJECT = 256
"""Most characters of a subject."""
MAX_CLAIM_TYPE = 64
"""Most characters of a claim type."""
MAX_STATEMENT = 4096
"""Most bytes of a statement (4 KiB)."""
MAX_ATTESTER_DID = 160
"""Most characters of an attester DID (as every DID text field of the chain)."""

DID_SYNTAX = r"did:[a-z0-9]+:[A-Za-z0-9._:%-]+"
"""A DID of any method, as the chain's DID text fields accept it (``credentials.md``'s issuer DIDs)."""
DIGEST_SYNTAX = r"0x[0-9a-f]{64}"
"""A 32-byte digest (SHA-256 or SM3, the chain suite's hash) in lowercase hex with ``0x``."""
SUBJECT_SYNTAX = f"({DID_SYNTAX}|{DIGEST_SYNTAX})"
"""What a subject is: a DID, or the digest of something that is not one."""
CLAIM_TYPE_SYNTAX = r"[A-Za-z][A-Za-z0-9_.-]*"
"""A claim type: a token such as ``kyc.verified``."""

Subject = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_SUBJECT, pattern=f"^{SUBJECT_SYNTAX}\\Z")]
"""The subject of an attestation: a DID (``did:method:id``) or a ``0x``-hex 32-byte digest."""
ClaimType = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_CLAIM_TYPE, pattern=f"^{CLAIM_TYPE_SYNTAX}\\Z")]
"""The kind of statement, 1 to 64 characters."""
Statement = Annotated[bytes, msgspec.Meta(max_length=MAX_STATEMENT)]
"""The statement itself (or its digest), at most 4 KiB."""
AttesterDid = Annotated[str, msgspec.Meta(max_length=MAX_ATTESTER_DID, pattern=f"^({DID_SYNTAX})?\\Z")]
"""A DID the sender controls, or ``""``."""


class Attest(CoreStruct, frozen=True, tag="attestations.attest"):
    """Attest ``statement`` of kind ``claim_type`` about ``subject``; the sender is the attester."""

    subject: Subject
    """Who or what the statement is about."""
    claim_type: ClaimType
    """What kind of statement it is."""
    statement: Statement = b""
    """The statement (opaque bytes), or its digest when it must stay off chain."""
    expires_at_ms: U64 = 0
    """Block time from which the attestation no longer holds; 0: it never expires."""
    attester_did: AttesterDid = ""
    """A ``did:trellis`` DID of this chain that the sender's key controls, or ``""``."""


class RevokeAttestation(CoreStruct, frozen=True, tag="attestations.revoke"):
    """Revoke an attestation; only its attester may."""

    id: Hash32
    """The attestation's id."""
