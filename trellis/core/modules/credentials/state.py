"""State of the ``credentials`` module: its keys, its records and their encodings, and reads of them."""

from __future__ import annotations

from typing import Annotated

import msgspec

from trellis.core.execution.context import StateReader
from trellis.core.modules.credentials.messages import (
    CredentialType,
    IssuerDid,
    StatusListId,
    StatusPurpose,
)
from trellis.core.types import U64, Address, CoreStruct

ISSUER_PREFIX = b"credentials/issuer/"


STATUS_LIST_PREFIX = b"credentials/status/"


STATUS_BITS_PREFIX = b"credentials/bits/"


CHUNK_BYTES = 2048
"""Bytes of a stored chunk of a status list (16384 entries)."""


CHUNK_BITS = CHUNK_BYTES * 8


class IssuerRecord(CoreStruct, frozen=True):
    """An authorised issuer, at ``b"credentials/issuer/" + did``."""

    did: IssuerDid
    """The issuer's DID."""
    types: Annotated[list[CredentialType], msgspec.Meta(max_length=32)]
    """Credential types it may issue, sorted."""
    controller: Address
    """The account that manages the issuer's status lists."""
    updated_height: U64
    """Height of the block that last set the record."""


class StatusListRecord(CoreStruct, frozen=True):
    """A status list's header, at ``b"credentials/status/" + list_id``; bits are in chunks beside it."""

    list_id: StatusListId
    """The list's id."""
    issuer: IssuerDid
    """The issuer that owns it."""
    purpose: StatusPurpose
    """``revocation`` or ``suspension``."""
    size: U64
    """Number of entries."""
    created_height: U64
    """Height of the block that created it."""
    updated_height: U64
    """Height of the block that last changed a bit."""
    version: U64
    """Number of ``status_set`` transactions applied."""


def issuer_key(did: str) -> bytes:
    """State key of an issuer record."""
    return ISSUER_PREFIX + did.encode()


def status_list_key(list_id: str) -> bytes:
    """State key of a status list's header."""
    return STATUS_LIST_PREFIX + list_id.encode()


def status_chunk_key(list_id: str, chunk: int) -> bytes:
    """State key of chunk ``chunk`` of a list's bits (list ids cannot hold NUL, so the split is unambiguous)."""
    return STATUS_BITS_PREFIX + list_id.encode() + b"\x00" + chunk.to_bytes(4, "big")


def read_status_bit(state: StateReader, list_id: str, index: int) -> bool:
    """Return entry ``index`` of a list's bits (bit 0 is the most significant bit of byte 0, as W3C orders it).

    A chunk never written holds zeros. The caller checks the index against the list's size.
    """
    raw = state.get(status_chunk_key(list_id, index // CHUNK_BITS))
    if raw is None:
        return False
    offset = index % CHUNK_BITS
    return bool(raw[offset // 8] & (0x80 >> (offset % 8)))


PREFIXES = (
    ISSUER_PREFIX,
    STATUS_LIST_PREFIX,
    STATUS_BITS_PREFIX,
)
"""The state-key prefixes the credentials module owns."""
