"""The attestations module's rules (docs/spec/attestations.md 2): one handler per message.

A handler reads and writes state through the transaction's context and either returns the events of its success
or raises ``TxFailure`` (the transaction fails with that receipt code; its writes are dropped, the sender's nonce
still advances).
"""

from __future__ import annotations

import msgspec

from trellis.core.codec import encode
from trellis.core.execution.context import TxContext
from trellis.core.execution.results import ResultCode, TxFailure
from trellis.core.ledger.block import Event
from trellis.core.modules.attestations.messages import Attest, RevokeAttestation
from trellis.core.modules.attestations.state import (
    Attestation,
    attestation_id,
    attester_prefix,
    index_key,
    read_attestation,
    record_key,
    subject_prefix,
)
from trellis.core.modules.identity.view import require_controlled_did


def handle_attest(ctx: TxContext, msg: Attest) -> list[Event]:
    """Record the sender's attestation about ``msg.subject`` and index it by subject and by attester.

    Fails with ``INVALID_CHANGE`` (an expiry not after this block's time), ``INVALID_DID`` / ``NOT_FOUND`` /
    ``DID_DEACTIVATED`` / ``UNAUTHORIZED`` (an attester DID the sender does not control), ``DUPLICATE`` (an id
    already taken: only a hash collision can do that).
    """
    if msg.expires_at_ms != 0 and msg.expires_at_ms <= ctx.time_ms:
        raise TxFailure(
            ResultCode.INVALID_CHANGE,
            f"expires_at_ms {msg.expires_at_ms} is not after this block's time {ctx.time_ms}",
        )
    if msg.attester_did:
        require_controlled_did(ctx, msg.attester_did, "attester_did")
    ident = attestation_id(ctx.suite, ctx.sender, ctx.nonce, msg.subject, msg.claim_type)
    key = record_key(ident)
    if ctx.get(key) is not None:
        raise TxFailure(ResultCode.DUPLICATE, f"attestation {ident.hex()} already exists")
    record = Attestation(
        id=ident,
        attester=ctx.sender,
        attester_did=msg.attester_did,
        subject=msg.subject,
        claim_type=msg.claim_type,
        statement=msg.statement,
        expires_at_ms=msg.expires_at_ms,
        height=ctx.height,
        time_ms=ctx.time_ms,
        nonce=ctx.nonce,
        revoked_height=0,
        revoked_ms=0,
    )
    ctx.put(key, encode(record))
    ctx.put(index_key(subject_prefix(ctx.suite, msg.subject), ctx.height, ident), ident)
    ctx.put(index_key(attester_prefix(ctx.sender), ctx.height, ident), ident)
    return [
        Event(
            type="attestations.attest",
            attributes=[
                ("id", ident),
                ("attester", ctx.sender),
                ("subject", msg.subject.encode()),
                ("claim_type", msg.claim_type.encode()),
            ],
        )
    ]


def handle_revoke(ctx: TxContext, msg: RevokeAttestation) -> list[Event]:
    """Mark an attestation revoked at this block; only its attester may, and only once.

    Fails with ``NOT_FOUND`` (no such attestation), ``NOT_OWNER`` (the sender is not its attester) or
    ``DUPLICATE`` (already revoked).
    """
    record = read_attestation(ctx, msg.id)
    if record is None:
        raise TxFailure(ResultCode.NOT_FOUND, f"no attestation {msg.id.hex()}")
    if record.attester != ctx.sender:
        raise TxFailure(ResultCode.NOT_OWNER, f"attestation {msg.id.hex()} was made by {record.attester.hex()}")
    if record.revoked_height != 0:
        raise TxFailure(
            ResultCode.DUPLICATE, f"attestation {msg.id.hex()} was revoked at height {record.revoked_height}"
        )
    revoked = msgspec.structs.replace(record, revoked_height=ctx.height, revoked_ms=ctx.time_ms)
    ctx.put(record_key(msg.id), encode(revoked))
    return [Event(type="attestations.revoke", attributes=[("id", msg.id), ("attester", ctx.sender)])]
