"""kv module: reading namespaced records."""

from __future__ import annotations

from trellis.core.codec import decode
from trellis.core.execution.context import StateReader
from trellis.core.modules.kv.state import KvRecord, kv_key


def read_record(state: StateReader, namespace: str, key: bytes) -> KvRecord | None:
    """Return the kv record at ``(namespace, key)``, or None."""
    raw = state.get(kv_key(namespace, key))
    return None if raw is None else decode(raw, KvRecord)
