"""Fixed-width integers, hashes, addresses and other bounded primitive types.

Every integer in a consensus object is bounded; every byte string and list has a maximum length. These
aliases carry the bounds as ``msgspec.Meta`` so decoding enforces them.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

U8 = Annotated[int, msgspec.Meta(ge=0, le=2**8 - 1)]
U16 = Annotated[int, msgspec.Meta(ge=0, le=2**16 - 1)]
U32 = Annotated[int, msgspec.Meta(ge=0, le=2**32 - 1)]
U64 = Annotated[int, msgspec.Meta(ge=0)]
"""An unsigned 64-bit integer: msgpack cannot carry more; execution checks arithmetic against ``U64_MAX``."""
U64_MAX = 2**64 - 1

Hash32 = Annotated[bytes, msgspec.Meta(min_length=32, max_length=32)]
"""A 32-byte digest of the chain's hash function."""

Address = Annotated[bytes, msgspec.Meta(min_length=20, max_length=20)]
"""An account address: the first 20 bytes of ``H("trellis/address", public_key)``."""

PublicKey = Annotated[bytes, msgspec.Meta(min_length=32, max_length=65)]
"""A public key in its suite's raw form (32 bytes for Ed25519; up to 65 for SM2 uncompressed)."""

Signature = Annotated[bytes, msgspec.Meta(min_length=64, max_length=64)]
"""A raw 64-byte signature (Ed25519 R||S; SM2 r||s)."""

# Patterns end in \Z, not $: msgspec matches with re.search, and $ also matches before a final "\n".
ChainId = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9._-]*\Z")]
"""A chain identifier: lower-case letters, digits, '.', '_' and '-', 1 to 64 characters."""

ZERO_HASH = b"\x00" * 32
"""The hash used for 'nothing': the parent of the first block, the root of an empty tree."""


class CoreStruct(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, array_like=True, gc=False):
    """Base of every consensus object: immutable, positional (array) encoding, no unknown fields.

    ``gc=False``: the cyclic garbage collector does not track these objects. They are immutable trees of bytes,
    ints and lists and can never form a reference cycle; with hundreds of thousands of transactions alive in
    the mempool, tracking them made full collections take most of a second (docs/adr/0006).
    """
