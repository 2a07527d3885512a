"""State of the ``accounts`` module: its keys, its records and their encodings, and reads of them."""

from __future__ import annotations

from trellis.core.types import U64, CoreStruct

ACCOUNT_PREFIX = b"acct/"


class Account(CoreStruct, frozen=True):
    """An account record, at ``b"acct/" + address``."""

    balance: U64
    """Units of the settlement currency held."""
    nonce: U64
    """Number of transactions this account has sent (the next transaction's nonce)."""


def account_key(address: bytes) -> bytes:
    """State key of an account record."""
    return ACCOUNT_PREFIX + address


PREFIXES = (ACCOUNT_PREFIX,)
"""The state-key prefixes the accounts module owns."""
