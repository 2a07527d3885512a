"""The mempool: admitted transactions waiting for a block.

A transaction is admitted only after the application's checks (size, encoding, chain id, signature, not
already committed) and the mempool's own: not already pending, and carrying exactly the sender's next nonce
(its committed nonce plus its pending transactions). Lower nonces are replays, higher ones gaps: both are
refused with their own error. The pool is bounded in count and bytes and refuses with ``mempool_full``
rather than growing. Proposals take transactions in arrival order, which is nonce order for each sender.
With an age bound, ``expire`` evicts transactions pending longer than it (with the sender's later ones, which
could no longer be included), so a transaction that never reaches a proposer does not block its sender for good.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence

from trellis.abci import CheckedTx, refusal
from trellis.core.errors import InvalidTransaction


class Mempool:
    """Pending transactions, bounded.

    Args:
        committed_nonce: returns a sender's next nonce in committed state.
        committed_nonces: the same for many senders at once, in order (one storage read); default: one
            ``committed_nonce`` call per sender.
        max_txs: most transactions held.
        max_bytes: most bytes of transactions held.
        max_age_ms: ``expire`` evicts transactions pending longer than this (None: kept until committed or
            made stale).
        now_ms: the clock that stamps arrivals, in milliseconds (needed with ``max_age_ms``).
    """

    def __init__(
        self,
        committed_nonce: Callable[[bytes], int],
        *,
        committed_nonces: Callable[[Sequence[bytes]], list[int]] | None = None,
        max_txs: int,
        max_bytes: int,
        max_age_ms: int | None = None,
        now_ms: Callable[[], int] | None = None,
    ) -> None:
        if max_age_ms is not None and (max_age_ms < 1 or now_ms is None):
            raise ValueError("a mempool age bound must be at least 1 ms and comes with a clock")
        self.max_age_ms = max_age_ms
        self._now_ms = now_ms if max_age_ms is not None else None
        self._added_ms: dict[bytes, int] = {}
        """Arrival time of each pending transaction (only with an age bound)."""
        self._committed_nonce = committed_nonce
        self._committed_nonces = committed_nonces or (lambda senders: [committed_nonce(s) for s in senders])
        self.max_txs = max_txs
        self.max_bytes = max_bytes
        self._by_hash: OrderedDict[bytes, CheckedTx] = OrderedDict()
        self._next_nonce: dict[bytes, int] = {}
        self._by_sender: dict[bytes, dict[bytes, CheckedTx]] = {}
        """Each sender's pending transactions by hash, in nonce order."""
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._by_hash)

    @property
    def size_bytes(self) -> int:
        """Bytes of transactions held."""
        return self._bytes

    def __contains__(self, tx_hash: object) -> bool:
        return tx_hash in self._by_hash

    def get(self, tx_hash: bytes) -> CheckedTx | None:
        """Return the pending transaction with ``tx_hash``, or None."""
        return self._by_hash.get(tx_hash)

    def next_nonce(self, sender: bytes) -> int:
        """Return the nonce ``sender``'s next transaction must carry, counting pending ones."""
        n = self._next_nonce.get(sender)
        return self._committed_nonce(sender) if n is None else n

    def add(self, checked: CheckedTx) -> None:
        """Admit a checked transaction.

        Raises:
            InvalidTransaction: ``duplicate``, ``nonce_replayed``, ``nonce_gap`` or ``mempool_full``.
        """
        self._add(checked, None)

    def add_many(self, checked: Sequence[CheckedTx]) -> list[InvalidTransaction | None]:
        """``add`` each transaction in order, reading the committed nonces of all their senders that have
        nothing pending in one batch; one result per transaction: None if admitted, else why not."""
        fresh = list(dict.fromkeys(c.sender for c in checked if c.sender not in self._next_nonce))
        committed = dict(zip(fresh, self._committed_nonces(fresh), strict=True))
        out: list[InvalidTransaction | None] = []
        for c in checked:
            try:
                self._add(c, committed)
                out.append(None)
            except InvalidTransaction as exc:
                out.append(refusal(exc))  # the caught one's traceback would keep this batch alive in a cycle
        return out

    def _add(self, checked: CheckedTx, committed: dict[bytes, int] | None) -> None:
        if checked.hash in self._by_hash:
            raise InvalidTransaction("duplicate", "transaction is already in the mempool")
        expected = self._next_nonce.get(checked.sender)
        if expected is None:
            known = None if committed is None else committed.get(checked.sender)
            expected = self._committed_nonce(checked.sender) if known is None else known
        nonce = checked.tx.body.nonce
        if nonce < expected:
            raise InvalidTransaction("nonce_replayed", f"nonce {nonce} was already used; the next nonce is {expected}")
        if nonce > expected:
            raise InvalidTransaction("nonce_gap", f"nonce {nonce} leaves a gap; the next nonce is {expected}")
        if len(self._by_hash) >= self.max_txs or self._bytes + len(checked.raw) > self.max_bytes:
            raise InvalidTransaction(
                "mempool_full", f"mempool is full ({len(self._by_hash)} transactions, {self._bytes} bytes); retry later"
            )
        self._by_hash[checked.hash] = checked
        if self._now_ms is not None:
            self._added_ms[checked.hash] = self._now_ms()
        self._next_nonce[checked.sender] = nonce + 1
        self._by_sender.setdefault(checked.sender, {})[checked.hash] = checked
        self._bytes += len(checked.raw)

    def candidates(self, max_txs: int, max_bytes: int) -> list[CheckedTx]:
        """Return up to ``max_txs`` transactions (``max_bytes`` in all) in arrival order."""
        out: list[CheckedTx] = []
        size = 0
        for c in self._by_hash.values():
            if len(out) >= max_txs or size + len(c.raw) > max_bytes:
                break
            out.append(c)
            size += len(c.raw)
        return out

    def remove_committed(self, tx_hashes: list[bytes], senders: Sequence[bytes] | None = None) -> None:
        """Drop transactions that a committed block included, then any that can no longer be valid (a nonce
        below its sender's committed nonce).

        ``senders`` are the block's senders: only their committed nonces changed, so only their pending
        transactions are checked (default: every sender with something pending).
        """
        for h in tx_hashes:
            c = self._by_hash.pop(h, None)
            if c is not None:
                self._forget(c)
        if senders is None:
            check = list(self._by_sender)
        else:
            check = [s for s in dict.fromkeys(senders) if s in self._by_sender]
        if not check:
            return
        for sender, committed in zip(check, self._committed_nonces(check), strict=True):
            for c in list(self._by_sender[sender].values()):
                if c.tx.body.nonce >= committed:
                    break  # nonce order: the rest are later still
                del self._by_hash[c.hash]
                self._forget(c)

    def expire(self) -> list[CheckedTx]:
        """Evict the transactions pending longer than ``max_age_ms``, each with its sender's later pending
        ones (their nonces would leave a gap); return them, oldest first. Without an age bound: nothing."""
        if self._now_ms is None or self.max_age_ms is None:
            return []
        cutoff = self._now_ms() - self.max_age_ms
        out: list[CheckedTx] = []
        while self._by_hash:
            first = next(iter(self._by_hash.values()))
            if self._added_ms[first.hash] > cutoff:
                break
            # Arrival order is each sender's nonce order: ``first`` is its sender's lowest pending nonce.
            for c in list(self._by_sender[first.sender].values()):
                del self._by_hash[c.hash]
                self._forget(c)
                out.append(c)
        return out

    def _forget(self, c: CheckedTx) -> None:
        self._added_ms.pop(c.hash, None)
        self._bytes -= len(c.raw)
        pending = self._by_sender[c.sender]
        del pending[c.hash]
        if not pending:
            del self._by_sender[c.sender]
            del self._next_nonce[c.sender]
