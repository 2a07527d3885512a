"""The notary module's queries: first-anchoring records, batches, lookups by owner and reference, receipts.

Reads committed state and blocks only (the handlers are in ``trellis.core.execution.notary``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from trellis.core.crypto.suite import address_of
from trellis.core.execution.notary import (
    OWNER_PREFIX,
    REF_PREFIX,
    NotaryBatch,
    NotaryRecord,
    index_prefix,
    read_batch,
    read_record,
)
from trellis.core.ledger.block import Block, Commit, Receipt
from trellis.core.params import ChainParams
from trellis.notary.receipt import ReceiptV1, build_receipt

__all__ = ["NotaryStore", "RecordView", "batches_by", "receipt_for", "record_of"]


class NotaryStore(Protocol):
    """What these queries read from the chain store."""

    def get(self, key: bytes) -> bytes | None: ...
    def scan(self, start: bytes, end: bytes, limit: int) -> list[tuple[bytes, bytes]]: ...
    def block(self, height: int) -> Block | None: ...
    def receipts(self, height: int) -> list[Receipt]: ...
    def commit(self, height: int) -> Commit | None: ...


@dataclass(frozen=True)
class RecordView:
    """A digest's first anchoring and the batch it was in."""

    digest: bytes
    record: NotaryRecord
    batch: NotaryBatch


def record_of(get: Callable[[bytes], bytes | None], digest: bytes) -> RecordView | None:
    """Return when, where and by whom ``digest`` was first anchored, or None if it never was."""
    rec = read_record(get, digest)
    if rec is None:
        return None
    batch = read_batch(get, rec.sender, rec.nonce)
    assert batch is not None, "a record is written with its batch"
    return RecordView(digest=digest, record=rec, batch=batch)


def batches_by(store: NotaryStore, params: ChainParams, kind: str, value: str, limit: int) -> list[NotaryBatch]:
    """Return up to ``limit`` batches whose ``kind`` (``owner`` or ``ref``) is ``value``, oldest first."""
    prefix = index_prefix(params.suite, OWNER_PREFIX if kind == "owner" else REF_PREFIX, value)
    out: list[NotaryBatch] = []
    for _, pointer in store.scan(prefix, prefix + b"\xff" * 40, limit):
        batch = read_batch(store.get, pointer[:20], int.from_bytes(pointer[20:28], "big"))
        if batch is not None:
            out.append(batch)
    return out


def receipt_for(store: NotaryStore, params: ChainParams, digest: bytes) -> ReceiptV1 | None:
    """Build the receipt of ``digest``'s first anchoring; None if it was never anchored (or its block's commit
    certificate is not stored yet)."""
    view = record_of(store.get, digest)
    if view is None:
        return None
    rec = view.record
    block = store.block(rec.height)
    commit = store.commit(rec.height)
    if block is None or commit is None:
        return None
    suite = params.suite
    for i, tx in enumerate(block.txs):
        if tx.body.nonce == rec.nonce and address_of(suite, tx.body.sender) == rec.sender:
            return build_receipt(params, digest, block, i, store.receipts(rec.height), commit)
    return None
