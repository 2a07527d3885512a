"""The block-store port: what the shell reads of the committed chain (blocks, certificates, receipts, indexes).

``BlockSource`` is what block sync needs (the consensus driver serves committed blocks to peers that are
behind); ``BlockStore`` adds what the node and its API read (receipts, a transaction's position, an account's
transactions). ``ChainStore`` implements both; a test may pass anything with these methods.

May import: ``trellis.core``.
"""

from __future__ import annotations

from typing import Protocol

from trellis.core.ledger.block import Block, Commit, Receipt


class BlockSource(Protocol):
    """The committed blocks and their commit certificates, by height (block sync)."""

    def block(self, height: int) -> Block | None:
        """Return the block at ``height``, or None if there is none."""
        ...

    def commit(self, height: int) -> Commit | None:
        """Return the commit certificate of the block at ``height``, or None."""
        ...

    def block_bytes(self, height: int) -> bytes | None:
        """Return the stored canonical encoding of the block at ``height``, or None."""
        ...

    def earliest_block_height(self) -> int:
        """The lowest height from which on every block is kept (1: none pruned; ADR 0018)."""
        ...


class BlockStore(BlockSource, Protocol):
    """``BlockSource`` plus the indexes the node and its API read: receipts, transaction positions, account
    histories."""

    def require_block(self, height: int) -> Block:
        """Return the block at ``height``; raise ``StorageError`` if it is missing."""
        ...

    def height_of_block(self, block_id: bytes) -> int | None:
        """Return the height of the block with id ``block_id``, or None."""
        ...

    def receipt(self, height: int, index: int) -> Receipt | None:
        """Return the receipt of transaction ``index`` of block ``height``, or None."""
        ...

    def receipts(self, height: int) -> list[Receipt]:
        """Return every stored receipt of block ``height``, in order (fewer than its transactions if not all
        are stored yet)."""
        ...

    def tx_position(self, tx_hash: bytes) -> tuple[int, int] | None:
        """Return (height, index) of a committed transaction, or None."""
        ...

    def account_txs(
        self,
        address: bytes,
        *,
        limit: int = 100,
        before: tuple[int, int] | None = None,
        reverse: bool = False,
        after: tuple[int, int] | None = None,
    ) -> list[tuple[int, int, bytes]]:
        """Return (height, index, tx hash) of an account's transactions in chain order; ``after``/``before``
        are exclusive cursors for paging forwards or backwards."""
        ...

    def earliest_state_height(self) -> int:
        """The lowest height from which on the state of every height is kept (0: none pruned; ADR 0018)."""
        ...

    def close(self) -> None:
        """Release the store (the node calls it once it has stopped)."""
        ...
