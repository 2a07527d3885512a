"""The ``identity`` module: DIDs of the ``did:trellis`` method (docs/spec/did-method.md).

A DID's metadata is at ``did/<id>`` (``DidRecord``) and each of its versions at ``did/<id>/v/<n>``
(``DidVersion``), so the current document and every past one can be read, and proved, from the authenticated
state. Documents are kept in the compact form of ``DidDocument``; the app layer renders them as W3C JSON-LD.

Authorisation: a change to a DID must be sent by a key that is one of its current document's
``authentication`` methods, or an ``authentication`` method of one of its (active) controller DIDs. A creation
must be sent by such a key of the new document itself (proof of control of what is registered).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Protocol

from trellis.core.codec import decode, encode
from trellis.core.crypto.suite import Suite
from trellis.core.errors import TrellisError
from trellis.core.execution.results import ResultCode, TxFailure
from trellis.core.execution.state_keys import DidRecord, DidVersion, did_key, did_version_key
from trellis.core.ledger.block import Event
from trellis.core.ledger.tx import DidCreate, DidDeactivate, DidDocument, DidUpdate
from trellis.core.params import ChainParams

DID_METHOD = "trellis"
"""The method name in ``did:trellis:<chain-id>:<id>``."""
ID_BYTES = 16
"""Length of a method-specific id (rendered as 32 lowercase hex digits)."""
ED25519_TYPES = ("Ed25519VerificationKey2020", "Multikey")
"""Verification method types that carry an Ed25519 key (32 bytes)."""
SM2_TYPES = ("SM2VerificationKey2022", "Multikey")
"""Verification method types that carry an SM2 key (65 bytes, uncompressed) on an ``sm`` chain."""

_DID = re.compile(r"did:([a-z0-9]+):(.*)\Z", re.DOTALL)
_CHAIN = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}\Z")
_ID = re.compile(r"[0-9a-f]{32}\Z")
_FRAGMENT = re.compile(r"[A-Za-z0-9._-]{1,32}\Z")
_TYPE = re.compile(r"[A-Za-z][A-Za-z0-9]{0,63}\Z")
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:[\x21-\x7e]+\Z")
_ID_DOMAIN = b"trellis/did-id/v1"

GetFn = Callable[[bytes], bytes | None]


class DidError(TrellisError):
    """A DID string that cannot be resolved here.

    Codes (those of W3C DID Resolution): ``invalidDid`` (not DID syntax, or not this method's id syntax),
    ``methodNotSupported`` (another method, or another chain's ``did:trellis``).
    """

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code


def parse_did(text: str, chain_id: str) -> bytes:
    """Return the 16-byte id of ``did:trellis:<chain_id>:<32 hex digits>``.

    Raises:
        DidError: ``invalidDid`` for a malformed DID; ``methodNotSupported`` for another method or chain.
    """
    m = _DID.match(text)
    if m is None:
        raise DidError("invalidDid", f"{text[:80]!r} is not a DID (did:<method>:<id>)")
    if m.group(1) != DID_METHOD:
        raise DidError("methodNotSupported", f"method {m.group(1)!r} is not supported; this is did:{DID_METHOD}")
    chain, sep, ident = m.group(2).partition(":")
    if not sep or not _CHAIN.match(chain):
        raise DidError("invalidDid", "a did:trellis DID is did:trellis:<chain-id>:<32 hex digits>")
    if chain != chain_id:
        raise DidError("methodNotSupported", f"the DID belongs to chain {chain!r}, not {chain_id!r}")
    if not _ID.match(ident):
        raise DidError("invalidDid", "the method-specific id must be 32 lowercase hex digits")
    return bytes.fromhex(ident)


def format_did(chain_id: str, did_id: bytes) -> str:
    """Return the DID text of ``did_id`` on ``chain_id``."""
    return f"did:{DID_METHOD}:{chain_id}:{did_id.hex()}"


def derived_did_id(suite: Suite, sender: bytes, nonce: int) -> bytes:
    """The id a ``DidCreate`` without a chosen id gets: ``tagged_hash("trellis/did-id/v1", sender || nonce)[:16]``."""
    return suite.tagged_hash(_ID_DOMAIN, sender + nonce.to_bytes(8, "big"))[:ID_BYTES]


def _key_fits(suite: Suite, vm_type: str, key: bytes) -> bool:
    if len(key) == 32 and vm_type in ED25519_TYPES:
        return True
    return suite.name == "sm" and len(key) == 65 and key[0] == 4 and vm_type in SM2_TYPES


def check_document(suite: Suite, chain_id: str, doc: DidDocument) -> None:
    """Check ``doc`` against the method's rules (docs/spec/did-method.md section 3).

    Raises:
        TxFailure: ``INVALID_DID_DOCUMENT`` naming the first broken rule, or ``INVALID_DID`` for a malformed
            controller DID.
    """

    def bad(reason: str) -> TxFailure:
        return TxFailure(ResultCode.INVALID_DID_DOCUMENT, reason)

    seen: set[str] = set()
    for vm in doc.verification_methods:
        if not _FRAGMENT.match(vm.id):
            raise bad(f"verification method id {vm.id!r} is not 1-32 letters, digits, '.', '_' or '-'")
        if vm.id in seen:
            raise bad(f"duplicate id {vm.id!r}")
        seen.add(vm.id)
        if not _key_fits(suite, vm.type, vm.public_key):
            allowed = ED25519_TYPES + (SM2_TYPES if suite.name == "sm" else ())
            raise bad(
                f"verification method {vm.id!r}: a {vm.type[:40]!r} key of {len(vm.public_key)} bytes is not allowed "
                f"(types {sorted(set(allowed))}; Ed25519 keys are 32 bytes, SM2 keys 65)"
            )
        if vm.controller is not None:
            _did_or_fail(vm.controller, chain_id)
    for ref_list, name in ((doc.authentication, "authentication"), (doc.assertion_method, "assertionMethod")):
        if len(set(ref_list)) != len(ref_list):
            raise bad(f"{name} lists a method twice")
        for ref in ref_list:
            if ref not in seen:
                raise bad(f"{name} refers to {ref!r}, which is not a verification method of the document")
    for svc in doc.services:
        if not _FRAGMENT.match(svc.id):
            raise bad(f"service id {svc.id!r} is not 1-32 letters, digits, '.', '_' or '-'")
        if svc.id in seen:
            raise bad(f"duplicate id {svc.id!r}")
        seen.add(svc.id)
        if not _TYPE.match(svc.type):
            raise bad(f"service {svc.id!r}: type must be letters and digits, starting with a letter")
        if not _URI.match(svc.endpoint):
            raise bad(f"service {svc.id!r}: the endpoint is not an absolute URI")
    if len(set(doc.controllers)) != len(doc.controllers):
        raise bad("a controller is listed twice")
    for c in doc.controllers:
        _did_or_fail(c, chain_id)
    if not doc.authentication and not doc.controllers:
        raise bad("a document needs an authentication method or a controller, or nobody could ever change it")


def _did_or_fail(text: str, chain_id: str) -> bytes:
    try:
        return parse_did(text, chain_id)
    except DidError as exc:
        raise TxFailure(ResultCode.INVALID_DID, f"{exc.code}: {exc.reason}") from exc


def read_did(get: GetFn, did_id: bytes) -> DidRecord | None:
    """The record of ``did_id``, or None if it was never created."""
    raw = get(did_key(did_id))
    return None if raw is None else decode(raw, DidRecord)


def read_version(get: GetFn, did_id: bytes, version: int) -> DidVersion | None:
    """Version ``version`` of ``did_id``, or None."""
    raw = get(did_version_key(did_id, version))
    return None if raw is None else decode(raw, DidVersion)


def current_document(get: GetFn, did_id: bytes) -> tuple[DidRecord, DidDocument | None] | None:
    """The record and current document of ``did_id`` (document None once deactivated), or None."""
    rec = read_did(get, did_id)
    if rec is None:
        return None
    ver = read_version(get, did_id, rec.version_id)
    assert ver is not None, "every version of a DID up to its version_id is written with it"
    return rec, ver.document


def _auth_keys(doc: DidDocument) -> list[bytes]:
    by_id = {vm.id: vm.public_key for vm in doc.verification_methods}
    return [by_id[ref] for ref in doc.authentication if ref in by_id]


def may_control(get: GetFn, chain_id: str, doc: DidDocument, public_key: bytes) -> bool:
    """Whether ``public_key`` is an authentication key of ``doc`` or of one of its active controller DIDs.

    Controllers are followed one level only (bounded work; a controller's controllers do not count).
    """
    if public_key in _auth_keys(doc):
        return True
    for c in doc.controllers:
        cur = current_document(get, parse_did(c, chain_id))
        if cur is not None and cur[1] is not None and public_key in _auth_keys(cur[1]):
            return True
    return False


class _Ctx(Protocol):
    sender: bytes
    sender_key: bytes
    suite: Suite
    height: int
    time_ms: int
    nonce: int
    get: GetFn
    put: Callable[[bytes, bytes | None], None]
    return_data: bytes
    params: ChainParams


def _event(kind: str, did: str, version: int) -> list[Event]:
    return [Event(type=f"identity.{kind}", attributes=[("did", did.encode()), ("version", str(version).encode())])]


def _write_version(ctx: _Ctx, did_id: bytes, rec: DidRecord, doc: DidDocument | None) -> None:
    ctx.put(did_key(did_id), encode(rec))
    ctx.put(
        did_version_key(did_id, rec.version_id),
        encode(DidVersion(height=ctx.height, time_ms=ctx.time_ms, document=doc)),
    )


def handle_did_create(ctx: _Ctx, msg: DidCreate) -> list[Event]:
    """Register a DID (version 1); its id is chosen by ``msg.id`` or derived from the sender and nonce."""
    chain_id = ctx.params.chain_id
    check_document(ctx.suite, chain_id, msg.document)
    did_id = msg.id if msg.id is not None else derived_did_id(ctx.suite, ctx.sender, ctx.nonce)
    did = format_did(chain_id, did_id)
    if read_did(ctx.get, did_id) is not None:
        raise TxFailure(ResultCode.DUPLICATE, f"{did} already exists")
    if not may_control(ctx.get, chain_id, msg.document, ctx.sender_key):
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


def _authorised_record(ctx: _Ctx, did_text: str) -> tuple[bytes, DidRecord]:
    did_id = _did_or_fail(did_text, ctx.params.chain_id)
    cur = current_document(ctx.get, did_id)
    if cur is None:
        raise TxFailure(ResultCode.NOT_FOUND, f"{did_text} does not exist")
    rec, doc = cur
    if rec.deactivated or doc is None:
        raise TxFailure(ResultCode.DID_DEACTIVATED, f"{did_text} is deactivated and cannot change")
    if not may_control(ctx.get, ctx.params.chain_id, doc, ctx.sender_key):
        raise TxFailure(
            ResultCode.UNAUTHORIZED,
            "the sender's key is not an authentication key of the DID or of one of its controllers",
        )
    return did_id, rec


def _next_version(ctx: _Ctx, rec: DidRecord, *, deactivated: bool) -> DidRecord:
    """The record of a DID's next version, written by this transaction."""
    return DidRecord(
        version_id=rec.version_id + 1,
        created_ms=rec.created_ms,
        created_height=rec.created_height,
        updated_ms=ctx.time_ms,
        updated_height=ctx.height,
        deactivated=deactivated,
    )


def handle_did_update(ctx: _Ctx, msg: DidUpdate) -> list[Event]:
    """Replace a DID's document (a key rotation replaces its keys); the version goes up by one."""
    check_document(ctx.suite, ctx.params.chain_id, msg.document)
    did_id, rec = _authorised_record(ctx, msg.did)
    new = _next_version(ctx, rec, deactivated=False)
    _write_version(ctx, did_id, new, msg.document)
    return _event("did_update", msg.did, new.version_id)


def handle_did_deactivate(ctx: _Ctx, msg: DidDeactivate) -> list[Event]:
    """Deactivate a DID: a last version without a document; no change is possible afterwards."""
    did_id, rec = _authorised_record(ctx, msg.did)
    new = _next_version(ctx, rec, deactivated=True)
    _write_version(ctx, did_id, new, None)
    return _event("did_deactivate", msg.did, new.version_id)
