"""State of the ``identity`` module: its keys, its records and their encodings, and reads of them."""

from __future__ import annotations

from typing import Annotated

import msgspec

from trellis.core.codec import decode
from trellis.core.execution.context import StateReader
from trellis.core.modules.identity.did import parse_did
from trellis.core.modules.identity.messages import DidDocument
from trellis.core.types import U64, CoreStruct

_Hash32 = Annotated[bytes, msgspec.Meta(min_length=32, max_length=32)]


DID_PREFIX = b"did/"
"""Identity module: ``did/<id16>`` -> ``DidRecord``; ``did/<id16>/v/<n:8>`` -> ``DidVersion``."""


class DidRecord(CoreStruct, frozen=True):
    """A DID's metadata, at ``b"did/" + id(16)``; its documents are in its versions."""

    version_id: U64
    """The current version: 1 at creation, +1 per update or deactivation."""
    created_ms: U64
    """Block time of the creation."""
    created_height: U64
    """Height of the creating block."""
    updated_ms: U64
    """Block time of the latest version."""
    updated_height: U64
    """Height of the block that wrote the latest version."""
    deactivated: bool = False
    """Whether the DID is deactivated (then no further change is possible)."""


class DidVersion(CoreStruct, frozen=True):
    """One version of a DID, at ``b"did/" + id(16) + b"/v/" + version(8, big-endian)``."""

    height: U64
    """Height of the block that wrote it."""
    time_ms: U64
    """That block's time."""
    document: DidDocument | None
    """The document of this version; None: the version that deactivated the DID."""


def did_key(did_id: bytes) -> bytes:
    """State key of a DID's record."""
    return DID_PREFIX + did_id


def did_version_key(did_id: bytes, version: int) -> bytes:
    """State key of one version of a DID (versions sort in order under the DID's prefix)."""
    return DID_PREFIX + did_id + b"/v/" + version.to_bytes(8, "big")


def read_did(state: StateReader, did_id: bytes) -> DidRecord | None:
    """The record of ``did_id``, or None if it was never created."""
    raw = state.get(did_key(did_id))
    return None if raw is None else decode(raw, DidRecord)


def read_version(state: StateReader, did_id: bytes, version: int) -> DidVersion | None:
    """Version ``version`` of ``did_id``, or None."""
    raw = state.get(did_version_key(did_id, version))
    return None if raw is None else decode(raw, DidVersion)


def current_document(state: StateReader, did_id: bytes) -> tuple[DidRecord, DidDocument | None] | None:
    """The record and current document of ``did_id`` (document None once deactivated), or None."""
    rec = read_did(state, did_id)
    if rec is None:
        return None
    ver = read_version(state, did_id, rec.version_id)
    assert ver is not None, "every version of a DID up to its version_id is written with it"
    return rec, ver.document


def _auth_keys(doc: DidDocument) -> list[bytes]:
    by_id = {vm.id: vm.public_key for vm in doc.verification_methods}
    return [by_id[ref] for ref in doc.authentication if ref in by_id]


def may_control(state: StateReader, chain_id: str, doc: DidDocument, public_key: bytes) -> bool:
    """Whether ``public_key`` is an authentication key of ``doc`` or of one of its active controller DIDs.

    Controllers are followed one level only (bounded work; a controller's controllers do not count).
    """
    if public_key in _auth_keys(doc):
        return True
    for c in doc.controllers:
        cur = current_document(state, parse_did(c, chain_id))
        if cur is not None and cur[1] is not None and public_key in _auth_keys(cur[1]):
            return True
    return False


PREFIXES = (DID_PREFIX,)
"""The state-key prefixes the identity module owns."""
