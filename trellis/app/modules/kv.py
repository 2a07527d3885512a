"""kv module: reading namespaced records."""

from __future__ import annotations

from collections.abc import Callable

from trellis.core.codec import decode
from trellis.core.modules.kv.state import KvRecord, kv_key


def read_record(get: Callable[[bytes], bytes | None], namespace: str, key: bytes) -> KvRecord | None:
    """Return the kv record at ``(namespace, key)``, or None."""
    raw = get(kv_key(namespace, key))
    return None if raw is None else decode(raw, KvRecord)
