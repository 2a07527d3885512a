"""The notary module's queries: first-anchoring records, batches, lookups by owner and reference, receipts.

Reads committed state and blocks only (the handlers are in ``trellis.core.modules.notary``).

What the store holds is the node's, not the caller's: a stored value that does not decode, or an anchoring
record whose transaction is not in its block, raises ``StorageError`` (the node's fault, never a refused
request); a record whose block, commit certificate or results are not (yet) stored raises ``ReceiptNotReady``
(the node is behind, ask again later).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from trellis.core.crypto.suite import address_of
from trellis.core.errors import DecodeError, TrellisError
from trellis.core.execution.context import StateReader
from trellis.core.ledger.block import Block, Commit, Receipt
from trellis.core.modules.notary.state import (
    OWNER_PREFIX,
    REF_PREFIX,
    NotaryBatch,
    NotaryRecord,
    index_prefix,
    read_batch,
    read_record,
)
from trellis.core.modules.validators.state import META_KEY
from trellis.core.params import ChainParams
from trellis.notary.receipt import ReceiptV2, build_receipt, set_changes_from_store
from trellis.storage.kv import StorageError

__all__ = ["NotaryStore", "ReceiptNotReady", "RecordView", "batches_by", "receipt_for", "record_of"]

RETRY_AFTER_S = 1
"""Seconds a client is told to wait (``Retry-After``) before asking again for a receipt that is not ready."""


class ReceiptNotReady(TrellisError):
    """The digest's anchoring is recorded but this node does not hold all its receipt is built from yet (the
    block, its commit certificate or its results): a state of the node, not a mistake of the caller."""

    code = "not_ready"

    def __init__(self, reason: str, retry_after_s: int = RETRY_AFTER_S) -> None:
        super().__init__(reason)
        self.retry_after_s = retry_after_s


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


def record_of(state: StateReader, digest: bytes) -> RecordView | None:
    """Return when, where and by whom ``digest`` was first anchored, or None if it never was.

    Raises:
        StorageError: the stored record or batch does not decode, or the record's batch is missing.
    """
    try:
        rec = read_record(state, digest)
        if rec is None:
            return None
        batch = read_batch(state, rec.sender, rec.nonce)
    except DecodeError as exc:
        raise StorageError(f"the stored notary record of {digest.hex()} does not decode: {exc.reason}") from exc
    if batch is None:  # written in the same state update as the record
        raise StorageError(f"the notary batch of stored record {digest.hex()} is missing")
    return RecordView(digest=digest, record=rec, batch=batch)


def batches_by(store: NotaryStore, params: ChainParams, kind: str, value: str, limit: int) -> list[NotaryBatch]:
    """Return up to ``limit`` batches whose ``kind`` (``owner`` or ``ref``) is ``value``, oldest first.

    Raises:
        StorageError: a stored batch does not decode.
    """
    prefix = index_prefix(params.suite, OWNER_PREFIX if kind == "owner" else REF_PREFIX, value)
    out: list[NotaryBatch] = []
    for _, pointer in store.scan(prefix, prefix + b"\xff" * 40, limit):
        try:
            batch = read_batch(store, pointer[:20], int.from_bytes(pointer[20:28], "big"))
        except DecodeError as exc:
            raise StorageError(
                f"a stored notary batch listed for {kind} {value!r} does not decode: {exc.reason}"
            ) from exc
        if batch is not None:
            out.append(batch)
    return out


def receipt_for(store: NotaryStore, params: ChainParams, digest: bytes) -> ReceiptV2 | None:
    """Build the receipt of ``digest``'s first anchoring; None if it was never anchored (on this node's state).

    Raises:
        ReceiptNotReady: the anchoring is recorded but its block, commit certificate or results are not stored
            (yet) on this node.
        StorageError: what is stored does not decode, or does not hold the anchoring the record names.
    """
    view = record_of(store, digest)
    if view is None:
        return None
    rec = view.record
    h = rec.height
    try:
        block = store.block(h)
        commit = store.commit(h)
        results = store.receipts(h) if block is not None else []
        changes = set_changes_from_store(store, h)
        has_validator_state = store.get(META_KEY) is not None
    except DecodeError as exc:
        raise StorageError(
            f"stored block {h} (or its commit, results or set changes) does not decode: {exc.reason}"
        ) from exc
    if block is None or commit is None:
        missing = "block" if block is None else "commit certificate"
        raise ReceiptNotReady(
            f"digest {digest.hex()} is anchored at height {h}, whose {missing} this node does not hold yet"
        )
    if len(results) != len(block.txs):
        raise ReceiptNotReady(f"the results of block {h} are not stored yet ({len(results)} of {len(block.txs)})")
    if changes is None:
        if has_validator_state:
            raise ReceiptNotReady(
                f"a block or certificate of a validator-set change up to height {h} is not stored yet"
            )
        changes = []  # a store without validator state: the genesis set signs every block
    suite = params.suite
    for i, tx in enumerate(block.txs):
        if tx.body.nonce == rec.nonce and address_of(suite, tx.body.sender) == rec.sender:
            try:
                return build_receipt(params, digest, block, i, results, commit, changes)
            except ValueError as exc:
                raise StorageError(f"the transaction block {h} holds for digest {digest.hex()}: {exc}") from exc
    raise StorageError(f"block {h} does not hold the transaction that anchored {digest.hex()} (nonce {rec.nonce})")
