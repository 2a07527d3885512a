"""Layout of the module records in the state key space, and their encodings."""

from __future__ import annotations

from typing import Annotated

import msgspec

from trellis.core.ledger.votes import Evidence
from trellis.core.types import U32, U64, Address, CoreStruct

ACCOUNT_PREFIX = b"acct/"
KV_PREFIX = b"kv/"
EVIDENCE_PREFIX = b"evidence/"


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


class EvidenceRecord(CoreStruct, frozen=True):
    """Recorded equivocation, at ``b"evidence/" + offender + height(8) + round(4) + kind``."""

    offender: Address
    """The validator that equivocated."""
    height: U64
    """Height of the conflicting messages."""
    round: U32
    """Round of the conflicting messages."""
    kind: Annotated[str, msgspec.Meta(max_length=32)]
    """``duplicate_vote`` or ``duplicate_proposal``."""
    recorded_at: U64
    """Height of the block that recorded it."""
    evidence: Evidence
    """The two signed messages."""


def evidence_key(offender: bytes, height: int, round_: int, kind: str) -> bytes:
    """State key of an evidence record."""
    return EVIDENCE_PREFIX + offender + height.to_bytes(8, "big") + round_.to_bytes(4, "big") + kind.encode()


CONTRACT_PREFIX = b"contract/"
CODE_PREFIX = b"code/"
CONTRACT_STORE_PREFIX = b"cstore/"


class ContractMeta(CoreStruct, frozen=True):
    """A deployed contract, at ``b"contract/" + address``."""

    code_hash: Annotated[bytes, msgspec.Meta(min_length=32, max_length=32)]
    """Hash of its current code (the code itself is at ``b"code/" + code_hash``)."""
    deployer: Address
    """Who deployed it."""
    admin: Address | None
    """Who may upgrade it besides the genesis governance address (None: nobody else)."""
    created_height: U64
    """Height of the block that deployed it."""
    updated_height: U64
    """Height of the block that last set its code."""


def contract_key(address: bytes) -> bytes:
    """State key of a contract's record."""
    return CONTRACT_PREFIX + address


def code_key(code_hash: bytes) -> bytes:
    """State key of a module's code, stored once per code hash."""
    return CODE_PREFIX + code_hash


def contract_storage_key(address: bytes, key: bytes) -> bytes:
    """State key of one entry of a contract's own storage (20-byte address, then the contract's key)."""
    return CONTRACT_STORE_PREFIX + address + key
