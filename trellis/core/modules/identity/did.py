"""DID syntax and document rules of the ``did:trellis`` method (docs/spec/did-method.md): parse and format a DID,
derive an id, and check a document's keys and fragments against the chain's suite.
"""

from __future__ import annotations

import re

from trellis.core.crypto.suite import Suite
from trellis.core.errors import TrellisError
from trellis.core.execution.results import ResultCode, TxFailure
from trellis.core.modules.identity.messages import DidDocument

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
