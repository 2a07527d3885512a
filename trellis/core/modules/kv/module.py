"""The kv module's declaration: its messages, each with its handler, and its state-key prefixes."""

from __future__ import annotations

from trellis.core.execution.module import Module
from trellis.core.modules.kv.handlers import handle_kv_delete, handle_kv_put
from trellis.core.modules.kv.messages import KvDelete, KvPut
from trellis.core.modules.kv.state import PREFIXES

MODULE = Module(
    name="kv",
    handlers={
        KvPut: handle_kv_put,
        KvDelete: handle_kv_delete,
    },
    prefixes=PREFIXES,
)
