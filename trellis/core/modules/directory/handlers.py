"""The directory module's handlers (docs/spec/directory.md 4): publish, update and withdraw an entry; ask for access
to one and record the owner's decision.

Each handler does bounded work: one entry record, one earlier version, at most ``2 * (3 + 2 * MAX_KEYWORDS)``
index writes, and on a sub-chain one announcement to its hub (``app.announce``).
"""

from __future__ import annotations

import msgspec

from trellis.core.codec import encode
from trellis.core.execution.context import TxContext
from trellis.core.execution.results import ResultCode, TxFailure
from trellis.core.ledger.block import Event
from trellis.core.modules.directory.app import announce
from trellis.core.modules.directory.messages import (
    ACCESS_NAMES,
    CREDENTIAL_REQUIRED,
    PUBLIC,
    DirectoryDecide,
    DirectoryPublish,
    DirectoryRequestAccess,
    DirectoryUpdate,
    DirectoryWithdraw,
    EntryFields,
)
from trellis.core.modules.directory.state import (
    GRANTED,
    PENDING,
    REFUSED,
    REQ_BY_ENTRY_PREFIX,
    REQ_BY_REQUESTER_PREFIX,
    STATUS_NAMES,
    AccessRequest,
    Entry,
    entry_id,
    entry_index_values,
    entry_key,
    read_entry,
    read_request,
    reindex,
    request_id,
    request_key,
    version_key,
)
from trellis.core.modules.identity.view import require_controlled_did

ZERO32 = bytes(32)
"""An all-zero digest: none given."""
INDEX_MARK = b"\x01"
"""The value of a requests-by-entry or requests-by-requester index entry."""


def _num(n: int) -> bytes:
    return str(n).encode()


def check_owner_did(ctx: TxContext, did: str) -> None:
    """The sender's key must control ``did``, an active ``did:trellis`` DID of this chain (the rule for an
    attester DID: ``identity.view.require_controlled_did``)."""
    require_controlled_did(ctx, did, "owner_did")


def check_fields(fields: EntryFields) -> None:
    """Rules on an entry's fields the message types cannot state: keywords without duplicates (their syntax makes
    them lower-case already), and a credential type exactly when access is 3.

    Raises:
        TxFailure: ``INVALID_CHANGE``.
    """
    if len(set(fields.keywords)) != len(fields.keywords):
        raise TxFailure(ResultCode.INVALID_CHANGE, f"keywords repeat one another: {fields.keywords}")
    if fields.access == CREDENTIAL_REQUIRED and not fields.credential_type:
        raise TxFailure(ResultCode.INVALID_CHANGE, "access 3 (credential_required) needs a credential_type")
    if fields.access != CREDENTIAL_REQUIRED and fields.credential_type:
        raise TxFailure(
            ResultCode.INVALID_CHANGE,
            f"credential_type is only for access 3 (credential_required), not {ACCESS_NAMES[fields.access]}",
        )


def _owned_entry(ctx: TxContext, id_: bytes) -> Entry:
    """This chain's entry ``id_``, which the sender owns and which is not withdrawn.

    Raises:
        TxFailure: ``NOT_FOUND``, ``NOT_OWNER``, ``INVALID_CHANGE`` (withdrawn).
    """
    entry = read_entry(ctx, id_)
    if entry is None:
        raise TxFailure(ResultCode.NOT_FOUND, f"no directory entry {id_.hex()}")
    if entry.owner != ctx.sender:
        raise TxFailure(ResultCode.NOT_OWNER, f"directory entry {id_.hex()} is owned by {entry.owner.hex()}")
    if entry.withdrawn:
        raise TxFailure(
            ResultCode.INVALID_CHANGE,
            f"directory entry {id_.hex()} was withdrawn at height {entry.updated_height} (withdrawal is final)",
        )
    return entry


def _entry_event(kind: str, entry: Entry) -> Event:
    return Event(
        type=f"directory.{kind}",
        attributes=[
            ("id", entry.id),
            ("owner", entry.owner),
            ("owner_did", entry.fields.owner_did.encode()),
            ("version", _num(entry.version)),
        ],
    )


def _replace(ctx: TxContext, old: Entry, new: Entry) -> None:
    """Write ``new`` over ``old`` (same id): keep ``old`` as an earlier version and move the indexes."""
    ctx.put(version_key(old.id, old.version), encode(old))
    ctx.put(entry_key(new.id), encode(new))
    reindex(ctx, new.id, entry_index_values(old), entry_index_values(new), b"")


def handle_publish(ctx: TxContext, msg: DirectoryPublish) -> list[Event]:
    """Publish an entry with id ``entry_id(chain_id, sender, nonce)``, version 1, indexed by owner DID, type, home
    chain and words; on a sub-chain, announce it to the hub.

    Raises:
        TxFailure: ``INVALID_CHANGE`` (fields), the owner-DID codes of ``check_owner_did``, ``DUPLICATE`` (the id
            is taken: only a hash collision can do that).
    """
    check_fields(msg.entry)
    check_owner_did(ctx, msg.entry.owner_did)
    chain_id = ctx.params.chain_id
    ident = entry_id(ctx.suite, chain_id, ctx.sender, ctx.nonce)
    if ctx.get(entry_key(ident)) is not None:
        raise TxFailure(ResultCode.DUPLICATE, f"directory entry {ident.hex()} already exists")
    entry = Entry(
        id=ident,
        chain_id=chain_id,
        owner=ctx.sender,
        nonce=ctx.nonce,
        fields=msg.entry,
        version=1,
        withdrawn=False,
        withdraw_reason="",
        created_height=ctx.height,
        updated_height=ctx.height,
    )
    ctx.put(entry_key(ident), encode(entry))
    reindex(ctx, ident, [], entry_index_values(entry), b"")
    return [_entry_event("published", entry), *announce(ctx, entry)]


def handle_update(ctx: TxContext, msg: DirectoryUpdate) -> list[Event]:
    """Replace an entry's fields: its owner only, not withdrawn, the owner DID unchanged (and still controlled by
    the sender); the previous version is kept under ``directory/version/``, the version goes up by one.

    Raises:
        TxFailure: ``NOT_FOUND``, ``NOT_OWNER``, ``INVALID_CHANGE`` (withdrawn, owner DID changed, fields), the
            owner-DID codes.
    """
    old = _owned_entry(ctx, msg.id)
    if msg.entry.owner_did != old.fields.owner_did:
        raise TxFailure(
            ResultCode.INVALID_CHANGE,
            f"owner_did cannot change (it is {old.fields.owner_did}; publish a new entry instead)",
        )
    check_fields(msg.entry)
    check_owner_did(ctx, msg.entry.owner_did)
    new = msgspec.structs.replace(old, fields=msg.entry, version=old.version + 1, updated_height=ctx.height)
    _replace(ctx, old, new)
    return [_entry_event("updated", new), *announce(ctx, new)]


def handle_withdraw(ctx: TxContext, msg: DirectoryWithdraw) -> list[Event]:
    """Withdraw an entry (its owner only; final): a new version marked withdrawn, out of every index; the record
    and the earlier versions stay.

    Raises:
        TxFailure: ``NOT_FOUND``, ``NOT_OWNER``, ``INVALID_CHANGE`` (withdrawn already).
    """
    old = _owned_entry(ctx, msg.id)
    new = msgspec.structs.replace(
        old, version=old.version + 1, withdrawn=True, withdraw_reason=msg.reason, updated_height=ctx.height
    )
    _replace(ctx, old, new)
    return [_entry_event("withdrawn", new), *announce(ctx, new)]


def handle_request_access(ctx: TxContext, msg: DirectoryRequestAccess) -> list[Event]:
    """Record a pending access request for one of this chain's entries, indexed by entry and by requester.

    Raises:
        TxFailure: ``NOT_FOUND`` (no such entry here), ``INVALID_CHANGE`` (withdrawn; public: nothing to ask;
            access 3 without a presentation digest), ``DUPLICATE`` (the id is taken).
    """
    entry = read_entry(ctx, msg.entry_id)
    if entry is None:
        raise TxFailure(ResultCode.NOT_FOUND, f"no directory entry {msg.entry_id.hex()} on this chain")
    if entry.withdrawn:
        raise TxFailure(ResultCode.INVALID_CHANGE, f"directory entry {msg.entry_id.hex()} was withdrawn")
    if entry.fields.access == PUBLIC:
        raise TxFailure(
            ResultCode.INVALID_CHANGE,
            f"directory entry {msg.entry_id.hex()} is public: anyone may use it, there is no access to request",
        )
    if entry.fields.access == CREDENTIAL_REQUIRED and msg.presentation_digest == ZERO32:
        raise TxFailure(
            ResultCode.INVALID_CHANGE,
            f"directory entry {msg.entry_id.hex()} requires a credential of type {entry.fields.credential_type!r}: "
            "give the digest of the presentation (presentation_digest is zero)",
        )
    ident = request_id(ctx.suite, msg.entry_id, ctx.sender, ctx.nonce)
    if ctx.get(request_key(ident)) is not None:
        raise TxFailure(ResultCode.DUPLICATE, f"access request {ident.hex()} already exists")
    req = AccessRequest(
        id=ident,
        entry_id=msg.entry_id,
        requester=ctx.sender,
        presentation_digest=msg.presentation_digest,
        purpose=msg.purpose,
        status=PENDING,
        expires_at_ms=0,
        reason="",
        requested_height=ctx.height,
        decided_height=0,
    )
    ctx.put(request_key(ident), encode(req))
    ctx.put(REQ_BY_ENTRY_PREFIX + msg.entry_id + ident, INDEX_MARK)
    ctx.put(REQ_BY_REQUESTER_PREFIX + ctx.sender + ident, INDEX_MARK)
    return [
        Event(
            type="directory.access_requested",
            attributes=[
                ("id", ident),
                ("entry_id", msg.entry_id),
                ("requester", ctx.sender),
                ("owner", entry.owner),
            ],
        )
    ]


def handle_decide(ctx: TxContext, msg: DirectoryDecide) -> list[Event]:
    """Record the entry owner's decision on a pending request: granted (until ``expires_at_ms``, 0: no end) or
    refused (``expires_at_ms`` 0).

    Raises:
        TxFailure: ``NOT_FOUND`` (no such request), ``NOT_OWNER`` (the sender does not own the entry),
            ``INVALID_CHANGE`` (decided already; a refusal with an expiry; a grant expiring at or before this
            block's time; a grant for a withdrawn entry).
    """
    req = read_request(ctx, msg.request_id)
    if req is None:
        raise TxFailure(ResultCode.NOT_FOUND, f"no access request {msg.request_id.hex()}")
    entry = read_entry(ctx, req.entry_id)
    if entry is None:  # a request is only recorded for an existing entry, and entries are never deleted
        raise TxFailure(ResultCode.NOT_FOUND, f"no directory entry {req.entry_id.hex()}")
    if entry.owner != ctx.sender:
        raise TxFailure(
            ResultCode.NOT_OWNER,
            f"access request {msg.request_id.hex()} is for entry {entry.id.hex()}, owned by {entry.owner.hex()}",
        )
    if req.status != PENDING:
        raise TxFailure(
            ResultCode.INVALID_CHANGE,
            f"access request {msg.request_id.hex()} was {STATUS_NAMES[req.status]} at height {req.decided_height}",
        )
    if not msg.grant and msg.expires_at_ms != 0:
        raise TxFailure(ResultCode.INVALID_CHANGE, "a refusal has no expiry (expires_at_ms must be 0)")
    if msg.grant and msg.expires_at_ms != 0 and msg.expires_at_ms <= ctx.time_ms:
        raise TxFailure(
            ResultCode.INVALID_CHANGE,
            f"expires_at_ms {msg.expires_at_ms} is not after this block's time {ctx.time_ms}",
        )
    if msg.grant and entry.withdrawn:
        raise TxFailure(ResultCode.INVALID_CHANGE, f"directory entry {entry.id.hex()} was withdrawn: nothing to grant")
    status = GRANTED if msg.grant else REFUSED
    decided = msgspec.structs.replace(
        req, status=status, expires_at_ms=msg.expires_at_ms, reason=msg.reason, decided_height=ctx.height
    )
    ctx.put(request_key(req.id), encode(decided))
    return [
        Event(
            type="directory.access_decided",
            attributes=[
                ("id", req.id),
                ("entry_id", req.entry_id),
                ("requester", req.requester),
                ("status", STATUS_NAMES[status].encode()),
                ("expires_at_ms", _num(msg.expires_at_ms)),
            ],
        )
    ]
