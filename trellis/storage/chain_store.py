"""The chain store: blocks, commit certificates, receipts, indexes and the authenticated state, on a KVStore.

Each block is written in one atomic batch: block, certificate, receipts, transaction index, account history,
state values, state-tree nodes and the new tip. A crash therefore leaves the store at the previous block or
the new one, never in between. The batch is built per table with comprehensions (no Python object per row
beyond its key and value) and LMDB takes each table's rows in one ``putmulti`` call; a block's receipts are
one value, so a block costs one row per transaction in ``tx_index`` and one per listed address in
``account_txs`` and nothing more per transaction.

On a ``SplitStore`` (a node's data directory, ADR 0011) the chain tables (``chain_meta``, ``blocks``,
``block_ids``, ``commits``) are written first and fsynced, the derived ones after them without fsync; the
derived side may then be behind the chain after a crash (``tip`` < ``top``), never ahead, and ``TrellisApp``
re-executes the blocks in between when it opens the store.

Key layout (big-endian integers, so keys sort by height):
  chain_meta/top             StoredTip of the last block written (absent in stores written before it: ``tip``)
  chain_meta/genesis         genesis hash
  meta/tip                   StoredTip the derived tables (state, receipts, indexes) reflect
  meta/genesis               genesis hash
  blocks/h8                  Block
  block_ids/id               h8
  commits/h8                 Commit
  receipts/h8                list[Receipt] of the block, in order (one msgpack array: element i is receipt i's
                             canonical encoding). Stores written before this layout hold receipts/h8 i4 ->
                             Receipt instead; the readers below fall back to those rows.
  tx_index/tx hash           h8 i4
  account_txs/addr h8 i4     tx hash
  state/key                  latest value
  smt_nodes/hash             tree node
  smt_born/hash h8           "" : the node was created by block h8 (genesis 0) — ADR 0018; written only with
                             ``track_lifetimes`` (a node that can prune), like the stale rows
  smt_stale/h8 hash          "" : the node went out of use in block h8 (it is in the trees of heights < h8)
  meta/lifetimes             h8 (F): every block from F on was committed with its born and stale rows (written by
                             the first block committed with them after one without, by genesis as 0 and by a
                             snapshot restore as 0; deleted by a block committed without them)
  smt_hist/leaf hash         the value a leaf held, written when the key's value changed or went (ADR 0018)
  smt_values/value hash      value (written by stores before ADR 0018; read as the last fallback)
  meta/pruned_below          h8: state of heights below it is pruned, except kept heights (``Pruner``)
  chain_meta/blocks_pruned_below  h8: blocks below it are pruned, except the set-change blocks

A value at an old height is read by walking to its leaf (kp, vh): the latest value if it hashes to vh, else
``smt_hist/leaf hash``, else ``smt_values/vh`` (``leaf_value``). See trellis/storage/pruning.py for what the
born and stale rows are for. A node written without lifetime rows is never deleted by the pruner:

- a node held with no born row keeps none (the pruner keeps a node whose stale row has no born row before it);
  one created again while rows are written on a store with F > 0 (some earlier block was committed without
  them) is looked up: if it is held with no born row (it lived before, unrecorded) it also gets a born row at 0,
  which pins it for good (``_pins``);
- a life born before F may have been followed by unrecorded ones: the pruner keeps its born row (``Pruner``).
"""

from __future__ import annotations

import struct
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import cast

import msgspec

from trellis.core.codec import decode, encode, encode_array
from trellis.core.crypto.suite import Suite
from trellis.core.execution.block import ChainTip, ExecutedBlock
from trellis.core.ledger.block import Block, Commit, Receipt
from trellis.core.ledger.state_tree import ProofLeaf, TreeUpdate, leaf_hash, value_hash
from trellis.core.types import U64, CoreStruct, Hash32
from trellis.storage.kv import KVStore, StorageError, TableKeys

_H = struct.Struct(">Q")
_HI = struct.Struct(">QI")
_RAW_LIST = msgspec.msgpack.Decoder(list[msgspec.Raw])
_RECEIPT_CACHE_BLOCKS = 8
"""Blocks whose receipts stay split (one ``Raw`` per receipt) for repeated ``receipt`` lookups."""

LIFETIMES_KEY = b"lifetimes"
"""``meta/lifetimes``: h8 of F, the first height of the blocks committed with lifetime rows since the last one
without them (see the module's docstring)."""
_UNREAD = -1
_H0 = b"\x00" * 8

_I4: tuple[bytes, ...] = ()
"""``i.to_bytes(4, "big")`` for i = 0, 1, ...: grown on demand (rebinding is atomic, so no lock)."""


def _indexes(n: int) -> tuple[bytes, ...]:
    """Return the 4-byte big-endian encodings of 0 .. n-1."""
    global _I4
    table = _I4
    if len(table) < n:
        table = _I4 = table + tuple(i.to_bytes(4, "big") for i in range(len(table), max(n, 2 * len(table))))
    return table[:n]


def tx_positions_of_block(height: int, n: int) -> list[bytes]:
    """Return the 12-byte positions (h8 i4) of a block's ``n`` transactions, as ``tx_index`` stores them."""
    h8 = _H.pack(height)
    return [h8 + i4 for i4 in _indexes(n)]


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

    def __init__(self, kv: KVStore, *, track_lifetimes: bool = False) -> None:
        """Args:
        kv: the store beneath.
        track_lifetimes: write the ``smt_born``/``smt_stale`` rows the pruner needs (ADR 0018); a node whose
            retention can prune (``[storage] keep_recent > 0``) sets it, an archive node need not pay for them.
        """
        self.kv = kv
        self.track_lifetimes = track_lifetimes
        self._lifetimes_from: int | None = _UNREAD  # meta/lifetimes (None: absent), read once
        self._receipt_raws: OrderedDict[int, list[msgspec.Raw]] = OrderedDict()
        self._receipt_lock = threading.Lock()

    # -- tip and genesis --------------------------------------------------------------------------------
    def tip(self) -> ChainTip | None:
        """Return the last committed tip, or None if the store was never initialised."""
        return self._stored_tip("meta", b"tip")

    def top(self) -> ChainTip | None:
        """Return the last block written to the chain tables: ``tip`` or, after a crash between the chain
        write and the derived one (or a rebuild of the derived tables), a later block that is yet to be
        re-executed."""
        top = self._stored_tip("chain_meta", b"top")
        return top if top is not None else self.tip()

    def _stored_tip(self, table: str, key: bytes) -> ChainTip | None:
        raw = self.kv.get(table, key)
        if raw is None:
            return None
        t = decode(raw, StoredTip)
        return ChainTip(height=t.height, time_ms=t.time_ms, block_id=t.block_id, state_root=t.state_root)

    def genesis_hash(self) -> bytes | None:
        """Return the genesis hash the derived tables were initialised with (None: never, or rebuilt)."""
        return self.kv.get("meta", b"genesis")

    def chain_genesis_hash(self) -> bytes | None:
        """Return the genesis hash the chain tables were started with (None in stores written before it)."""
        return self.kv.get("chain_meta", b"genesis")

    def init_genesis(
        self, genesis_hash: bytes, tip: ChainTip, tree: TreeUpdate, writes: dict[bytes, bytes | None]
    ) -> None:
        """Write the genesis state and tip (height 0) in one batch."""
        puts, deletes = self._state_rows(writes, tree, height_key(0), genesis=True)
        puts["meta"] = {
            **puts.get("meta", {}),
            b"genesis": genesis_hash,
            b"root/" + height_key(0): tip.state_root,
            b"tip": encode(_stored(tip)),
        }
        puts["chain_meta"] = {b"genesis": genesis_hash}
        self.kv.write_tables(puts, deletes)

    # -- committing -------------------------------------------------------------------------------------
    def commit_block(
        self,
        executed: ExecutedBlock,
        commit: Commit,
        account_index: list[list[bytes]] | None = None,
        *,
        replay: bool = False,
    ) -> ChainTip:
        """Persist a block and everything it produced; return the new tip. One atomic write on one
        environment; on a ``SplitStore`` the chain rows first (fsynced), then the derived rows.

        Args:
            executed: the executed block.
            commit: its commit certificate.
            account_index: for each transaction, the addresses whose history lists it (None: no index).
            replay: the block is already in the chain tables (it is being re-executed after a crash): write
                only the derived rows.
        """
        header = executed.block.header
        h8 = height_key(header.height)
        out = executed.output
        hashes = out.tx_hashes
        if len(hashes) != len(out.receipts) or (account_index is not None and len(account_index) != len(hashes)):
            raise ValueError("one receipt, hash and index entry per transaction")
        positions = tx_positions_of_block(header.height, len(hashes))
        puts, deletes = self._state_rows(out.writes, executed.tree, h8)
        tip = ChainTip(
            height=header.height, time_ms=header.time_ms, block_id=executed.block_id, state_root=header.state_root
        )
        stored_tip = encode(_stored(tip))
        if not replay:
            puts["blocks"] = {h8: encode(executed.block)}
            puts["block_ids"] = {executed.block_id: h8}
            puts["commits"] = {h8: encode(commit)}
            puts["chain_meta"] = {b"top": stored_tip}
        encoded = executed.receipt_bytes
        puts["receipts"] = {h8: encode(out.receipts) if encoded is None else encode_array(encoded)}
        puts["tx_index"] = dict(zip(hashes, positions, strict=True))
        if account_index is not None:
            keys = [addr + pos for addrs, pos in zip(account_index, positions, strict=True) for addr in addrs]
            txs = [txh for addrs, txh in zip(account_index, hashes, strict=True) for _ in addrs]
            puts["account_txs"] = dict(zip(keys, txs, strict=True))
        puts["meta"] = {**puts.get("meta", {}), b"root/" + h8: header.state_root, b"tip": stored_tip}
        self.kv.write_tables(puts, deletes)
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

    def tx_positions(self, tx_hashes: Sequence[bytes]) -> list[tuple[int, int] | None]:
        """``tx_position`` of each hash, in order, read in one storage read (admission's batch lookup)."""
        unpack = _HI.unpack
        return [None if raw is None else unpack(raw) for raw in self.kv.get_many("tx_index", tx_hashes)]

    def receipt(self, height: int, index: int) -> Receipt | None:
        """Return the receipt of transaction ``index`` in block ``height``."""
        if index < 0 or height < 0:
            return None
        raws = self._receipts_split(height)
        if raws is None:  # a store written before receipts were kept per block
            raw = self.kv.get("receipts", _HI.pack(height, index)) if index < 2**32 else None
            return None if raw is None else decode(raw, Receipt)
        return decode(raws[index], Receipt) if index < len(raws) else None

    def receipts(self, height: int) -> list[Receipt]:
        """Return all receipts of block ``height`` in order."""
        if height < 0:
            return []
        value = self.kv.get("receipts", height_key(height))
        if value is None:  # a store written before receipts were kept per block
            rows = self.kv.scan("receipts", _HI.pack(height, 0), _HI.pack(height + 1, 0), limit=10**7)
            # (the next block's one-row value, h8 alone, sorts inside this range: only 12-byte keys are receipts)
            return [decode(v, Receipt) for k, v in rows if len(k) == 12]
        return decode(value, list[Receipt])

    def _receipts_split(self, height: int) -> list[msgspec.Raw] | None:
        """The block's receipts value split into one ``Raw`` per receipt (cached for a few blocks: the API
        asks for several receipts of the same block in a row), or None if there is no such value."""
        with self._receipt_lock:
            raws = self._receipt_raws.get(height)
            if raws is not None:
                self._receipt_raws.move_to_end(height)
                return raws
        value = self.kv.get("receipts", height_key(height))
        if value is None:
            return None
        try:
            raws = _RAW_LIST.decode(value)
        except msgspec.DecodeError as exc:
            raise StorageError(f"the receipts of block {height} are corrupt: {exc}") from exc
        with self._receipt_lock:
            self._receipt_raws[height] = raws
            while len(self._receipt_raws) > _RECEIPT_CACHE_BLOCKS:
                self._receipt_raws.popitem(last=False)
        return raws

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

    def get_many(self, keys: Sequence[bytes]) -> list[bytes | None]:
        """The latest committed value of each state key (None where absent), in order, in one storage read."""
        return self.kv.get_many("state", keys)

    def scan(self, start: bytes, end: bytes, limit: int) -> list[tuple[bytes, bytes]]:
        """``StateReader``: latest committed state entries with ``start <= key < end``, in key order."""
        return self.kv.scan("state", start, end, limit=limit)

    def get_node(self, node_hash: bytes) -> bytes | None:
        """Return a state-tree node (``NodeReader``)."""
        return self.kv.get("smt_nodes", node_hash)

    def get_nodes(self, node_hashes: Sequence[bytes]) -> list[bytes | None]:
        """Return state-tree nodes by hash, in order, in one storage read (``BatchNodeReader``)."""
        return self.kv.get_many("smt_nodes", node_hashes)

    def value_by_hash(self, value_hash: bytes) -> bytes | None:
        """Return a state value by its commitment from ``smt_values`` (stores written before ADR 0018 only)."""
        return self.kv.get("smt_values", value_hash)

    def leaf_value(self, suite: Suite, key: bytes, leaf: ProofLeaf) -> bytes | None:
        """Return the value of ``key`` that ``leaf`` (its leaf in the tree of some retained height) commits to:
        the latest value if it is that one, else the value kept when it went out of use (``smt_hist``), else
        ``smt_values`` (stores written before ADR 0018). None: the store no longer has it (pruned)."""
        latest = self.kv.get("state", key)
        if latest is not None and value_hash(suite, latest) == leaf.value_hash:
            return latest
        old = self.kv.get("smt_hist", leaf_hash(suite, leaf))
        if old is not None:
            return old
        return self.kv.get("smt_values", leaf.value_hash)

    def earliest_state_height(self) -> int:
        """The lowest height whose state this node keeps with every height above it (0: nothing pruned); heights
        below it are kept only where the retention policy says (``keep_every`` multiples, snapshots, genesis)."""
        raw = self.kv.get("meta", b"pruned_below")
        return 0 if raw is None else int(_H.unpack(raw)[0])

    def earliest_block_height(self) -> int:
        """The lowest height from which on this node keeps every block (1: nothing pruned); below it only the
        blocks and commits that validator-set changes are proven by."""
        raw = self.kv.get("chain_meta", b"blocks_pruned_below")
        return 1 if raw is None else max(1, int(_H.unpack(raw)[0]))

    def state_root_at(self, height: int) -> bytes | None:
        """Return the state root after block ``height`` (0: genesis)."""
        return self.kv.get("meta", b"root/" + height_key(height))

    def close(self) -> None:
        """Release the store beneath (``BlockStore.close``)."""
        self.kv.close()

    def require_block(self, height: int) -> Block:
        """Return the block at ``height`` or raise StorageError."""
        b = self.block(height)
        if b is None:
            raise StorageError(f"block {height} is missing from the store")
        return b

    def _state_rows(
        self, writes: dict[bytes, bytes | None], tree: TreeUpdate, h8: bytes, *, genesis: bool = False
    ) -> tuple[dict[str, Mapping[bytes, bytes]], TableKeys]:
        """The rows of a state update: latest values (None deletes), new tree nodes (with their birth rows and the
        stale rows when lifetimes are tracked) and the old values of the replaced leaves (one ``get_many`` of the
        previous values)."""
        nodes = tree.nodes
        puts: dict[str, Mapping[bytes, bytes]] = {"smt_nodes": nodes}
        deletes: dict[str, list[bytes]] = {}
        if self.track_lifetimes:
            born = dict.fromkeys([h + h8 for h in nodes], b"")
            first = 0 if genesis else self.lifetimes_from()
            if first is None:  # the first block with the rows after blocks without them
                first = int(_H.unpack(h8)[0])
            if first != self._lifetimes_from:
                puts["meta"] = {LIFETIMES_KEY: height_key(first)}
                self._lifetimes_from = first
            if first > 0:
                born.update(self._pins(list(nodes)))
            puts["smt_born"] = born
            puts["smt_stale"] = dict.fromkeys([h8 + h for h in tree.stale], b"")
        elif self.lifetimes_from() is not None:
            deletes["meta"] = [LIFETIMES_KEY]  # nodes now go in and out of use unrecorded
            self._lifetimes_from = None
        replaced = tree.replaced
        if replaced:
            leaves = list(replaced)
            olds = self.kv.get_many("state", [replaced[leaf] for leaf in leaves])
            puts["smt_hist"] = {leaf: v for leaf, v in zip(leaves, olds, strict=True) if v is not None}
        if None in writes.values():
            puts["state"] = {k: v for k, v in writes.items() if v is not None}
            deletes["state"] = [k for k, v in writes.items() if v is None]
            return puts, deletes
        puts["state"] = cast("dict[bytes, bytes]", writes)  # no None among the values
        return puts, deletes

    def lifetimes_from(self) -> int | None:
        """F: every block from this height on was committed with lifetime rows (None: the last one was not)."""
        if self._lifetimes_from == _UNREAD:
            raw = self.kv.get("meta", LIFETIMES_KEY)
            self._lifetimes_from = None if raw is None else int(_H.unpack(raw)[0])
        return self._lifetimes_from

    def _pins(self, nodes: list[bytes]) -> dict[bytes, bytes]:
        """Born rows at height 0 for the nodes among ``nodes`` that are held with no born row: they were written
        while lifetimes were not tracked, so heights the pruner may keep can need them (a born row at 0 keeps a
        node for good)."""
        held = [h for h, enc in zip(nodes, self.kv.get_many("smt_nodes", nodes), strict=True) if enc is not None]
        return {h + _H0: b"" for h in held if not self.kv.scan("smt_born", h, h + b"\xff" * 9, limit=1)}


def _stored(tip: ChainTip) -> StoredTip:
    return StoredTip(height=tip.height, time_ms=tip.time_ms, block_id=tip.block_id, state_root=tip.state_root)
