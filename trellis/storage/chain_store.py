"""The chain store: blocks, commit certificates, receipts, indexes and the authenticated state, on a KVStore.

Each block is written in one atomic batch: block, certificate, receipts, transaction index, account history,
state values, state-tree nodes and the new tip. A crash therefore leaves the store at the previous block or
the new one, never in between.

Key layout (big-endian integers, so keys sort by height):
  meta/tip                   StoredTip
  meta/genesis               genesis hash
  blocks/h8                  Block
  block_ids/id               h8
  commits/h8                 Commit
  receipts/h8 i4             Receipt
  tx_index/tx hash           h8 i4
  account_txs/addr h8 i4     tx hash
  state/key                  latest value
  smt_nodes/hash             tree node
  smt_values/value hash      value
"""

from __future__ import annotations

import struct

from trellis.core.codec import decode, encode
from trellis.core.execution.block import ChainTip, ExecutedBlock
from trellis.core.ledger.block import Block, Commit, Receipt
from trellis.core.ledger.state_tree import TreeUpdate
from trellis.core.types import U64, CoreStruct, Hash32
from trellis.storage.kv import KVStore, StorageError, WriteBatch

_H = struct.Struct(">Q")
_HI = struct.Struct(">QI")


class StoredTip(CoreStruct, frozen=True):
    """The last committed block, as recorded in ``meta/tip``."""

    height: U64
    time_ms: U64
    block_id: Hash32
    state_root: Hash32


def height_key(height: int) -> bytes:
    """Encode a height as an 8-byte big-endian key."""
    return _H.pack(height)


class ChainStore:
    """Typed access to everything a node persists."""

    def __init__(self, kv: KVStore) -> None:
        self.kv = kv

    # -- tip and genesis --------------------------------------------------------------------------------
    def tip(self) -> ChainTip | None:
        """Return the last committed tip, or None if the store was never initialised."""
        raw = self.kv.get("meta", b"tip")
        if raw is None:
            return None
        t = decode(raw, StoredTip)
        return ChainTip(height=t.height, time_ms=t.time_ms, block_id=t.block_id, state_root=t.state_root)

    def genesis_hash(self) -> bytes | None:
        """Return the genesis hash the store was initialised with."""
        return self.kv.get("meta", b"genesis")

    def init_genesis(
        self, genesis_hash: bytes, tip: ChainTip, tree: TreeUpdate, writes: dict[bytes, bytes | None]
    ) -> None:
        """Write the genesis state and tip (height 0) in one batch."""
        batch: WriteBatch = [("meta", b"genesis", genesis_hash)]
        self._state_writes(batch, writes, tree)
        batch.append(("meta", b"root/" + height_key(0), tip.state_root))
        batch.append(("meta", b"tip", encode(_stored(tip))))
        self.kv.write(batch)

    # -- committing -------------------------------------------------------------------------------------
    @staticmethod
    def _state_writes(batch: WriteBatch, writes: dict[bytes, bytes | None], tree: TreeUpdate) -> None:
        for key, value in writes.items():
            batch.append(("state", key, value))
        for h, node in tree.nodes.items():
            batch.append(("smt_nodes", h, node))
        for vh, value in tree.values.items():
            batch.append(("smt_values", vh, value))

    def commit_block(
        self, executed: ExecutedBlock, commit: Commit, account_index: list[list[bytes]] | None = None
    ) -> ChainTip:
        """Persist a block and everything it produced in one atomic write; return the new tip.

        Args:
            executed: the executed block.
            commit: its commit certificate.
            account_index: for each transaction, the addresses whose history lists it (None: no index).
        """
        header = executed.block.header
        h8 = height_key(header.height)
        batch: WriteBatch = [
            ("blocks", h8, encode(executed.block)),
            ("block_ids", executed.block_id, h8),
            ("commits", h8, encode(commit)),
        ]
        for i, (receipt, txh) in enumerate(zip(executed.output.receipts, executed.output.tx_hashes, strict=True)):
            pos = _HI.pack(header.height, i)
            batch.append(("receipts", pos, encode(receipt)))
            batch.append(("tx_index", txh, pos))
            if account_index is not None:
                for addr in account_index[i]:
                    batch.append(("account_txs", addr + pos, txh))
        self._state_writes(batch, executed.output.writes, executed.tree)
        batch.append(("meta", b"root/" + h8, header.state_root))
        tip = ChainTip(
            height=header.height, time_ms=header.time_ms, block_id=executed.block_id, state_root=header.state_root
        )
        batch.append(("meta", b"tip", encode(_stored(tip))))
        self.kv.write(batch)
        return tip

    # -- reads --------------------------------------------------------------------------------------------
    def block(self, height: int) -> Block | None:
        """Return the block at ``height``."""
        raw = self.kv.get("blocks", height_key(height))
        return None if raw is None else decode(raw, Block)

    def block_bytes(self, height: int) -> bytes | None:
        """Return the stored encoding of the block at ``height``."""
        return self.kv.get("blocks", height_key(height))

    def height_of_block(self, block_id: bytes) -> int | None:
        """Return the height of the block with id ``block_id``."""
        raw = self.kv.get("block_ids", block_id)
        return None if raw is None else int(_H.unpack(raw)[0])

    def commit(self, height: int) -> Commit | None:
        """Return the commit certificate of the block at ``height``."""
        raw = self.kv.get("commits", height_key(height))
        return None if raw is None else decode(raw, Commit)

    def tx_position(self, tx_hash: bytes) -> tuple[int, int] | None:
        """Return (height, index) of a committed transaction."""
        raw = self.kv.get("tx_index", tx_hash)
        if raw is None:
            return None
        h, i = _HI.unpack(raw)
        return int(h), int(i)

    def receipt(self, height: int, index: int) -> Receipt | None:
        """Return the receipt of transaction ``index`` in block ``height``."""
        raw = self.kv.get("receipts", _HI.pack(height, index))
        return None if raw is None else decode(raw, Receipt)

    def receipts(self, height: int) -> list[Receipt]:
        """Return all receipts of block ``height`` in order."""
        rows = self.kv.scan("receipts", _HI.pack(height, 0), _HI.pack(height + 1, 0), limit=10**7)
        return [decode(v, Receipt) for _, v in rows]

    def account_txs(
        self,
        address: bytes,
        *,
        limit: int = 100,
        before: tuple[int, int] | None = None,
        reverse: bool = False,
        after: tuple[int, int] | None = None,
    ) -> list[tuple[int, int, bytes]]:
        """Return (height, index, tx hash) of an account's transactions in chain order.

        ``after``/``before`` are exclusive cursors for paging forwards or backwards.
        """
        start = address + (_HI.pack(*after) + b"\x00" if after else b"")
        end = address + _HI.pack(*before) if before else address + b"\xff" * 12 + b"\x00"
        rows = self.kv.scan("account_txs", start, end, limit=limit, reverse=reverse)
        out = []
        for k, v in rows:
            h, i = _HI.unpack(k[len(address) :])
            out.append((int(h), int(i), v))
        return out

    def get(self, key: bytes) -> bytes | None:
        """``StateReader``: the latest committed value of a state key."""
        return self.kv.get("state", key)

    def scan(self, start: bytes, end: bytes, limit: int) -> list[tuple[bytes, bytes]]:
        """``StateReader``: latest committed state entries with ``start <= key < end``, in key order."""
        return self.kv.scan("state", start, end, limit=limit)

    def get_node(self, node_hash: bytes) -> bytes | None:
        """Return a state-tree node (``NodeReader``)."""
        return self.kv.get("smt_nodes", node_hash)

    def value_by_hash(self, value_hash: bytes) -> bytes | None:
        """Return a state value by its commitment."""
        return self.kv.get("smt_values", value_hash)

    def state_root_at(self, height: int) -> bytes | None:
        """Return the state root after block ``height`` (0: genesis)."""
        return self.kv.get("meta", b"root/" + height_key(height))

    def require_block(self, height: int) -> Block:
        """Return the block at ``height`` or raise StorageError."""
        b = self.block(height)
        if b is None:
            raise StorageError(f"block {height} is missing from the store")
        return b


def _stored(tip: ChainTip) -> StoredTip:
    return StoredTip(height=tip.height, time_ms=tip.time_ms, block_id=tip.block_id, state_root=tip.state_root)
