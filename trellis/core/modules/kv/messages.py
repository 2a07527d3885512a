"""Messages of the ``kv`` module; members of the ``Payload`` union (``trellis.core.modules.payload``). See docs/spec/encoding.md."""

from __future__ import annotations

from typing import Annotated

import msgspec

from trellis.core.types import CoreStruct

# \Z, not $, which would also accept a trailing "\n" (see trellis/core/types.py).
Namespace = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+\Z")]
"""A kv namespace: 1-64 characters of letters, digits, '.', '_' and '-'."""


KvKey = Annotated[bytes, msgspec.Meta(min_length=1, max_length=256)]
"""A kv record key: 1-256 bytes."""


KvValue = Annotated[bytes, msgspec.Meta(max_length=32 * 1024)]
"""A kv record value: up to 32 KiB."""


class KvPut(CoreStruct, frozen=True, tag="kv.put"):
    """Write a kv record. The first writer of ``(namespace, key)`` owns it; only the owner may overwrite."""

    namespace: Namespace
    """The record's namespace."""
    key: KvKey
    """The record's key within the namespace."""
    value: KvValue
    """The value to store."""


class KvDelete(CoreStruct, frozen=True, tag="kv.delete"):
    """Delete a kv record; only its owner may."""

    namespace: Namespace
    """The record's namespace."""
    key: KvKey
    """The record's key within the namespace."""
