"""Transaction handlers of the ``notary`` module: pure functions of a context and a message (docs/spec/receipt.md)."""

from __future__ import annotations

from trellis.core.codec import encode
from trellis.core.execution.context import TxContext
from trellis.core.execution.results import ResultCode, TxFailure
from trellis.core.ledger.block import Event
from trellis.core.modules.notary.messages import MAX_ANCHOR_DIGESTS, NotaryAnchor
from trellis.core.modules.notary.state import (
    OWNER_PREFIX,
    REF_PREFIX,
    NotaryBatch,
    NotaryRecord,
    batch_key,
    batch_root,
    index_key,
    record_key,
)


def handle_notary_anchor(ctx: TxContext, msg: NotaryAnchor) -> list[Event]:
    """Anchor ``msg.digests``: store the batch (root and metadata) and a record for each new digest.

    Fails with ``EMPTY_BATCH``, ``TOO_MANY_DIGESTS``, ``DUPLICATE_DIGEST`` (a digest twice in the batch) or
    ``INVALID_DID`` (an owner that is not a DID). A digest anchored before keeps its first record.
    """
    n = len(msg.digests)
    if n == 0:
        raise TxFailure(ResultCode.EMPTY_BATCH, "a notary batch needs at least one digest")
    if n > MAX_ANCHOR_DIGESTS:
        raise TxFailure(ResultCode.TOO_MANY_DIGESTS, f"batch has {n} digests; at most {MAX_ANCHOR_DIGESTS}")
    first: dict[bytes, int] = {}
    for i, d in enumerate(msg.digests):
        j = first.setdefault(d, i)
        if j != i:
            raise TxFailure(ResultCode.DUPLICATE_DIGEST, f"digest {d.hex()} is at indexes {j} and {i} of the batch")
    if msg.owner and not msg.owner.startswith("did:"):
        raise TxFailure(ResultCode.INVALID_DID, f"owner {msg.owner[:40]!r} is not a DID (did:method:id)")
    suite = ctx.suite
    root = batch_root(suite, msg.digests)
    batch = NotaryBatch(
        root=root,
        size=n,
        record_type=msg.record_type,
        owner=msg.owner,
        ref=msg.ref,
        sender=ctx.sender,
        nonce=ctx.nonce,
        height=ctx.height,
        time_ms=ctx.time_ms,
    )
    ctx.put(batch_key(ctx.sender, ctx.nonce), encode(batch))
    fresh = 0
    for i, d in enumerate(msg.digests):
        key = record_key(d)
        if ctx.get(key) is None:
            rec = NotaryRecord(height=ctx.height, time_ms=ctx.time_ms, sender=ctx.sender, nonce=ctx.nonce, index=i)
            ctx.put(key, encode(rec))
            fresh += 1
    pointer = ctx.sender + ctx.nonce.to_bytes(8, "big")
    if msg.owner:
        ctx.put(index_key(suite, OWNER_PREFIX, msg.owner, ctx.height, ctx.sender, ctx.nonce), pointer)
    if msg.ref:
        ctx.put(index_key(suite, REF_PREFIX, msg.ref, ctx.height, ctx.sender, ctx.nonce), pointer)
    return [
        Event(
            type="notary.anchor",
            attributes=[("root", root), ("size", str(n).encode()), ("new", str(fresh).encode())],
        )
    ]
