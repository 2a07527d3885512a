"""Transaction handlers of the ``kv`` module: pure functions of a context and a message (docs/spec/encoding.md)."""

from __future__ import annotations

from trellis.core.codec import decode, encode
from trellis.core.execution.context import TxContext
from trellis.core.execution.results import ResultCode, TxFailure
from trellis.core.ledger.block import Event
from trellis.core.modules.kv.messages import KvDelete, KvPut
from trellis.core.modules.kv.state import KvRecord, kv_key


def handle_kv_put(ctx: TxContext, msg: KvPut) -> list[Event]:
    """Write a kv record; the first writer owns it."""
    key = kv_key(msg.namespace, msg.key)
    raw = ctx.get(key)
    if raw is not None:
        rec = decode(raw, KvRecord)
        if rec.owner != ctx.sender:
            raise TxFailure(ResultCode.NOT_OWNER, f"record is owned by {rec.owner.hex()}")
    ctx.put(key, encode(KvRecord(owner=ctx.sender, value=msg.value)))
    return [Event(type="kv.put", attributes=[("namespace", msg.namespace.encode()), ("key", msg.key)])]


def handle_kv_delete(ctx: TxContext, msg: KvDelete) -> list[Event]:
    """Delete a kv record; only its owner may."""
    key = kv_key(msg.namespace, msg.key)
    raw = ctx.get(key)
    if raw is None:
        raise TxFailure(ResultCode.NOT_FOUND, "no such record")
    rec = decode(raw, KvRecord)
    if rec.owner != ctx.sender:
        raise TxFailure(ResultCode.NOT_OWNER, f"record is owned by {rec.owner.hex()}")
    ctx.put(key, None)
    return [Event(type="kv.delete", attributes=[("namespace", msg.namespace.encode()), ("key", msg.key)])]
