"""Transactions: a signed body carrying one module message.

Signing: the signer signs ``SIGN_DOMAIN_TX || chain-independent canonical body bytes`` where the domain is
``tagged`` with the suite's hash (see ``signing_bytes``). The body contains the chain id, so a transaction
signed for one chain is invalid on every other; the per-sender nonce makes each transaction valid once.

The transaction hash is ``tagged_hash("trellis/tx/v1", canonical bytes of the whole SignedTx)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import msgspec

from trellis.core.codec import decode, encode
from trellis.core.crypto.suite import Suite, address_of
from trellis.core.errors import DecodeError, InvalidTransaction
from trellis.core.modules.payload import Payload
from trellis.core.types import U64, ChainId, CoreStruct, PublicKey, Signature

MAX_TX_BYTES = 64 * 1024
"""Hard upper bound on an encoded transaction; genesis may set a lower one."""

Memo = Annotated[str, msgspec.Meta(max_length=256)]


class TxBody(CoreStruct, frozen=True):
    """The signed part of a transaction."""

    chain_id: ChainId
    """The chain this transaction is for; any other chain refuses it."""
    sender: PublicKey
    """The sender's public key in the chain suite's raw form; the sender's address is derived from it."""
    nonce: U64
    """The sender's transaction count before this one: 0 for the first, then 1, 2, ... (replay protection)."""
    payload: Payload
    """The module message."""
    memo: Memo = ""
    """Free text for the sender's own use (at most 256 characters)."""


class SignedTx(CoreStruct, frozen=True):
    """A transaction: body and the sender's signature over ``signing_bytes(body)``."""

    body: TxBody
    """The signed content."""
    signature: Signature
    """The sender's signature."""


_SIGN_DOMAIN = b"trellis/tx-sign/v1"
_TX_DOMAIN = b"trellis/tx/v1"


def signing_bytes(body: TxBody) -> bytes:
    """Return the exact bytes a sender signs: ``len || "trellis/tx-sign/v1" || canonical(body)``."""
    return bytes((len(_SIGN_DOMAIN),)) + _SIGN_DOMAIN + encode(body)


def tx_hash(suite: Suite, tx_bytes: bytes) -> bytes:
    """Return the transaction hash of canonical ``SignedTx`` bytes."""
    return suite.tagged_hash(_TX_DOMAIN, tx_bytes)


def sender_address(suite: Suite, tx: SignedTx) -> bytes:
    """Return the sender's account address."""
    return address_of(suite, tx.body.sender)


def decode_tx(data: bytes, max_size: int = MAX_TX_BYTES) -> SignedTx:
    """Decode canonical ``SignedTx`` bytes.

    Raises:
        InvalidTransaction: ``too_large`` over ``max_size``; ``unknown_module`` for a payload tag this chain
            does not know; ``malformed`` for anything else that is not a canonical transaction.
    """
    if len(data) > max_size:
        raise InvalidTransaction("too_large", f"transaction is {len(data)} bytes; the limit is {max_size}")
    try:
        return decode(data, SignedTx)
    except DecodeError as exc:
        msg = exc.reason
        if "Invalid value" in msg and "$[0][3][0]" in msg:
            raise InvalidTransaction("unknown_module", f"unknown module message type: {msg}") from exc
        raise InvalidTransaction("malformed", f"malformed transaction: {msg}") from exc


def check_tx_stateless(suite: Suite, tx: SignedTx, chain_id: str) -> None:
    """Check what can be checked without state: chain id, key length, positive amounts.

    Raises:
        InvalidTransaction: ``wrong_chain_id`` or ``malformed``.
    """
    body = tx.body
    if body.chain_id != chain_id:
        raise InvalidTransaction("wrong_chain_id", f"transaction is for chain {body.chain_id!r}, this is {chain_id!r}")
    if len(body.sender) != suite.public_key_size:
        raise InvalidTransaction(
            "malformed",
            f"sender key is {len(body.sender)} bytes; suite {suite.name} uses {suite.public_key_size}",
        )


BAD_SIGNATURE = "signature does not verify under the sender's key"


def signature_item(tx: SignedTx) -> tuple[bytes, bytes, bytes]:
    """The (public key, message, signature) triple that verifies ``tx``, as batch verifiers take it."""
    return tx.body.sender, signing_bytes(tx.body), tx.signature


def verify_tx_signature(suite: Suite, tx: SignedTx) -> None:
    """Check the sender's signature.

    Raises:
        InvalidTransaction: ``bad_signature``.
    """
    if not suite.verify(*signature_item(tx)):
        raise InvalidTransaction("bad_signature", BAD_SIGNATURE)


def sign_tx(body: TxBody, sign: Callable[[bytes], bytes]) -> SignedTx:
    """Return ``body`` signed with ``sign`` (bytes -> 64-byte signature)."""
    return SignedTx(body=body, signature=sign(signing_bytes(body)))
