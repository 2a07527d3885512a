"""Apply a block's transactions to state: a pure function of the prior state, the transactions and the env."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from trellis.core.codec import decode, encode
from trellis.core.crypto.suite import address_of
from trellis.core.errors import InvalidBlock
from trellis.core.execution.modules import HANDLERS, TxContext
from trellis.core.execution.results import ResultCode, TxFailure
from trellis.core.execution.state_keys import Account, account_key
from trellis.core.ledger.block import Receipt
from trellis.core.ledger.tx import SignedTx, tx_hash
from trellis.core.params import ChainParams


class StateReader(Protocol):
    """Read access to the state as of the end of the previous block."""

    def get(self, key: bytes) -> bytes | None:
        """Return the value at ``key``, or None."""
        ...


@dataclass(frozen=True)
class BlockEnv:
    """What a block's execution may depend on besides state and transactions.

    Attributes:
        params: the chain parameters.
        height: the block's height.
        time_ms: the block's time.
    """

    params: ChainParams
    height: int
    time_ms: int


@dataclass(frozen=True)
class BlockOutput:
    """Result of executing a block.

    Attributes:
        receipts: one per transaction, in order.
        writes: state key -> new value (None: deleted), the net effect of the block.
        tx_hashes: each transaction's hash, in order.
        senders: each transaction's sender address, in order.
    """

    receipts: list[Receipt]
    writes: dict[bytes, bytes | None]
    tx_hashes: list[bytes]
    senders: list[bytes]


def apply_block(
    state: StateReader,
    txs: Sequence[SignedTx],
    tx_bytes: Sequence[bytes],
    env: BlockEnv,
    tx_hashes: Sequence[bytes] | None = None,
    sender_addresses: Sequence[bytes] | None = None,
) -> BlockOutput:
    """Execute ``txs`` in order against ``state``.

    Signatures are not checked here: the caller verifies them in batches before (``signature_item``).
    Each transaction must carry the chain id and its sender's next nonce; a failing handler yields a receipt
    with a non-zero code, discards that transaction's writes and still advances the sender's nonce.

    Args:
        state: the state after the parent block.
        txs: the decoded transactions.
        tx_bytes: their canonical encodings (for hashing), same order.
        env: chain parameters, height and time.
        tx_hashes: the transactions' hashes if the caller already has them (admission computed them); else
            computed here from ``tx_bytes``.
        sender_addresses: the senders' addresses if the caller already has them; else derived here.

    Raises:
        InvalidBlock: ``wrong_chain_id`` or ``bad_nonce`` — a block with such a transaction is invalid.
    """
    suite = env.params.suite
    chain_id = env.params.chain_id
    writes: dict[bytes, bytes | None] = {}
    receipts: list[Receipt] = []
    hashes: list[bytes] = []
    senders: list[bytes] = []

    def block_get(key: bytes) -> bytes | None:
        if key in writes:
            return writes[key]
        return state.get(key)

    for i, tx in enumerate(txs):
        body = tx.body
        if body.chain_id != chain_id:
            raise InvalidBlock("wrong_chain_id", f"transaction {i} is for chain {body.chain_id!r}")
        sender = address_of(suite, body.sender) if sender_addresses is None else sender_addresses[i]
        h = tx_hash(suite, tx_bytes[i]) if tx_hashes is None else tx_hashes[i]
        akey = account_key(sender)
        raw = block_get(akey)
        acct = Account(balance=0, nonce=0) if raw is None else decode(raw, Account)
        if body.nonce != acct.nonce:
            raise InvalidBlock(
                "bad_nonce",
                f"transaction {i} has nonce {body.nonce}; the sender's next nonce is {acct.nonce}",
            )
        writes[akey] = encode(Account(balance=acct.balance, nonce=acct.nonce + 1))

        tx_writes: dict[bytes, bytes | None] = {}

        def get(key: bytes, _tw: dict[bytes, bytes | None] = tx_writes) -> bytes | None:
            if key in _tw:
                return _tw[key]
            return block_get(key)

        ctx = TxContext(sender, env.params, env.height, get, tx_writes.__setitem__)
        try:
            events = HANDLERS[type(body.payload)](ctx, body.payload)
        except TxFailure as fail:
            receipts.append(Receipt(tx_hash=h, code=int(fail.code), message=fail.message[:512], events=[]))
        else:
            writes.update(tx_writes)
            receipts.append(Receipt(tx_hash=h, code=int(ResultCode.OK), message="", events=events))
        hashes.append(h)
        senders.append(sender)
    return BlockOutput(receipts=receipts, writes=writes, tx_hashes=hashes, senders=senders)


def genesis_writes(params: ChainParams) -> dict[bytes, bytes | None]:
    """Return the state writes of genesis: the funded accounts."""
    out: dict[bytes, bytes | None] = {}
    for acct in params.genesis.accounts:
        out[account_key(bytes.fromhex(acct.address))] = encode(Account(balance=acct.balance, nonce=0))
    return out
