"""The ``identity`` module: DIDs of the ``did:trellis`` method (docs/spec/did-method.md).

A DID's metadata is at ``did/<id>`` (``DidRecord``) and each of its versions at ``did/<id>/v/<n>``
(``DidVersion``), so the current document and every past one can be read, and proved, from the authenticated
state. Documents are kept in the compact form of ``DidDocument``; the app layer renders them as W3C JSON-LD.

Authorisation: a change to a DID must be sent by a key that is one of its current document's
``authentication`` methods, or an ``authentication`` method of one of its (active) controller DIDs. A creation
must be sent by such a key of the new document itself (proof of control of what is registered).
"""

from __future__ import annotations

from trellis.core.codec import encode
from trellis.core.execution.context import TxContext
from trellis.core.execution.results import ResultCode, TxFailure
from trellis.core.ledger.block import Event
from trellis.core.modules.identity.did import _did_or_fail, check_document, derived_did_id, format_did
from trellis.core.modules.identity.messages import DidCreate, DidDeactivate, DidDocument, DidUpdate
from trellis.core.modules.identity.state import (
    DidRecord,
    DidVersion,
    current_document,
    did_key,
    did_version_key,
    may_control,
    read_did,
)


def _event(kind: str, did: str, version: int) -> list[Event]:
    return [Event(type=f"identity.{kind}", attributes=[("did", did.encode()), ("version", str(version).encode())])]


def _write_version(ctx: TxContext, did_id: bytes, rec: DidRecord, doc: DidDocument | None) -> None:
    ctx.put(did_key(did_id), encode(rec))
    ctx.put(
        did_version_key(did_id, rec.version_id),
        encode(DidVersion(height=ctx.height, time_ms=ctx.time_ms, document=doc)),
    )


def handle_did_create(ctx: TxContext, msg: DidCreate) -> list[Event]:
    """Register a DID (version 1); its id is chosen by ``msg.id`` or derived from the sender and nonce."""
    chain_id = ctx.params.chain_id
    check_document(ctx.suite, chain_id, msg.document)
    did_id = msg.id if msg.id is not None else derived_did_id(ctx.suite, ctx.sender, ctx.nonce)
    did = format_did(chain_id, did_id)
    if read_did(ctx, did_id) is not None:
        raise TxFailure(ResultCode.DUPLICATE, f"{did} already exists")
    if not may_control(ctx, chain_id, msg.document, ctx.sender_key):
        raise TxFailure(
            ResultCode.UNAUTHORIZED,
            "the sender's key is not an authentication key of the new document or of one of its controllers",
        )
    rec = DidRecord(
        version_id=1,
        created_ms=ctx.time_ms,
        created_height=ctx.height,
        updated_ms=ctx.time_ms,
        updated_height=ctx.height,
    )
    _write_version(ctx, did_id, rec, msg.document)
    ctx.return_data = did_id
    return _event("did_create", did, 1)


def _authorised_record(ctx: TxContext, did_text: str) -> tuple[bytes, DidRecord]:
    did_id = _did_or_fail(did_text, ctx.params.chain_id)
    cur = current_document(ctx, did_id)
    if cur is None:
        raise TxFailure(ResultCode.NOT_FOUND, f"{did_text} does not exist")
    rec, doc = cur
    if rec.deactivated or doc is None:
        raise TxFailure(ResultCode.DID_DEACTIVATED, f"{did_text} is deactivated and cannot change")
    if not may_control(ctx, ctx.params.chain_id, doc, ctx.sender_key):
        raise TxFailure(
            ResultCode.UNAUTHORIZED,
            "the sender's key is not an authentication key of the DID or of one of its controllers",
        )
    return did_id, rec


def _next_version(ctx: TxContext, rec: DidRecord, *, deactivated: bool) -> DidRecord:
    """The record of a DID's next version, written by this transaction."""
    return DidRecord(
        version_id=rec.version_id + 1,
        created_ms=rec.created_ms,
        created_height=rec.created_height,
        updated_ms=ctx.time_ms,
        updated_height=ctx.height,
        deactivated=deactivated,
    )


def handle_did_update(ctx: TxContext, msg: DidUpdate) -> list[Event]:
    """Replace a DID's document (a key rotation replaces its keys); the version goes up by one."""
    check_document(ctx.suite, ctx.params.chain_id, msg.document)
    did_id, rec = _authorised_record(ctx, msg.did)
    new = _next_version(ctx, rec, deactivated=False)
    _write_version(ctx, did_id, new, msg.document)
    return _event("did_update", msg.did, new.version_id)


def handle_did_deactivate(ctx: TxContext, msg: DidDeactivate) -> list[Event]:
    """Deactivate a DID: a last version without a document; no change is possible afterwards."""
    did_id, rec = _authorised_record(ctx, msg.did)
    new = _next_version(ctx, rec, deactivated=True)
    _write_version(ctx, did_id, new, None)
    return _event("did_deactivate", msg.did, new.version_id)
