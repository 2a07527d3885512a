"""State of the ``contracts`` module: its keys, its records and their encodings, and reads of them."""

from __future__ import annotations

from typing import Annotated

import msgspec

from trellis.core.types import U64, Address, CoreStruct

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


PREFIXES = (
    CONTRACT_PREFIX,
    CODE_PREFIX,
    CONTRACT_STORE_PREFIX,
)
"""The state-key prefixes the contracts module owns."""
