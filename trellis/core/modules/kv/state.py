"""State of the ``kv`` module: its keys, its records and their encodings, and reads of them."""

from __future__ import annotations

from typing import Annotated

import msgspec

from trellis.core.types import Address, CoreStruct

KV_PREFIX = b"kv/"


class KvRecord(CoreStruct, frozen=True):
    """A kv record, at ``b"kv/" + namespace + b"\\x00" + key``."""

    owner: Address
    """The address that first wrote the record; only it may overwrite or delete."""
    value: Annotated[bytes, msgspec.Meta(max_length=32 * 1024)]
    """The stored value."""


def kv_key(namespace: str, key: bytes) -> bytes:
    """State key of a kv record (namespaces cannot contain NUL, so the split is unambiguous)."""
    return KV_PREFIX + namespace.encode() + b"\x00" + key


PREFIXES = (KV_PREFIX,)
"""The state-key prefixes the kv module owns."""
