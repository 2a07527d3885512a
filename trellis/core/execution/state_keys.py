"""Layout of the module records in the state key space, and their encodings."""

from __future__ import annotations

from typing import Annotated

import msgspec

from trellis.core.types import U64, Address, CoreStruct

ACCOUNT_PREFIX = b"acct/"
KV_PREFIX = b"kv/"


class Account(CoreStruct, frozen=True):
    """An account record, at ``b"acct/" + address``."""

    balance: U64
    """Units of the settlement currency held."""
    nonce: U64
    """Number of transactions this account has sent (the next transaction's nonce)."""


class KvRecord(CoreStruct, frozen=True):
    """A kv record, at ``b"kv/" + namespace + b"\\x00" + key``."""

    owner: Address
    """The address that first wrote the record; only it may overwrite or delete."""
    value: Annotated[bytes, msgspec.Meta(max_length=32 * 1024)]
    """The stored value."""


def account_key(address: bytes) -> bytes:
    """State key of an account record."""
    return ACCOUNT_PREFIX + address


def kv_key(namespace: str, key: bytes) -> bytes:
    """State key of a kv record (namespaces cannot contain NUL, so the split is unambiguous)."""
    return KV_PREFIX + namespace.encode() + b"\x00" + key
