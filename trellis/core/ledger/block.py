"""Blocks, headers, receipts, validator sets and commit certificates.

Hashes (all ``suite.tagged_hash`` over canonical bytes):
  block id        = tagged_hash("trellis/header/v1", header)
  validators hash = tagged_hash("trellis/validators/v1", validator set)
  receipt leaf    = canonical receipt bytes, in the receipts Merkle tree (``results_root``)
  tx leaf         = canonical SignedTx bytes, in the transactions Merkle tree (``tx_root``)
A commit certificate holds PRECOMMIT votes (``trellis.core.ledger.votes``).
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from trellis.core.codec import encode
from trellis.core.crypto.suite import Suite, address_of
from trellis.core.errors import InvalidBlock
from trellis.core.ledger.tx import SignedTx
from trellis.core.ledger.votes import PRECOMMIT as PRECOMMIT  # re-exported (explicitly, for mypy --strict)
from trellis.core.ledger.votes import PREVOTE as PREVOTE
from trellis.core.ledger.votes import Vote as Vote
from trellis.core.ledger.votes import vote_signing_bytes as vote_signing_bytes
from trellis.core.types import U32, U64, Address, ChainId, CoreStruct, Hash32, PublicKey, Signature

MAX_BLOCK_TXS = 100_000
MAX_VALIDATORS = 1_000
MAX_EVENTS = 64

Text = Annotated[str, msgspec.Meta(max_length=512)]
Short = Annotated[str, msgspec.Meta(max_length=64)]
AttrValue = Annotated[bytes, msgspec.Meta(max_length=1024)]
ReturnData = Annotated[bytes, msgspec.Meta(max_length=16 * 1024)]


class Header(CoreStruct, frozen=True):
    """A block header: everything a light client needs to check state and transactions against."""

    chain_id: ChainId
    """The chain's identifier."""
    height: U64
    """Block number; the first block is 1."""
    time_ms: U64
    """Block time in ms since the Unix epoch, set by the proposer, strictly greater than the parent's."""
    parent_hash: Hash32
    """Block id of the previous block (32 zero bytes for block 1)."""
    tx_root: Hash32
    """Merkle root of the block's transactions (canonical bytes, in order)."""
    results_root: Hash32
    """Merkle root of the block's receipts (canonical bytes, in order)."""
    state_root: Hash32
    """Root of the authenticated state after executing this block."""
    tx_count: U32
    """Number of transactions in the block."""
    proposer: Address
    """Address of the validator that proposed the block."""
    validators_hash: Hash32
    """Hash of the validator set that signs this block's commit (``set(height)``)."""
    next_validators_hash: Hash32
    """Hash of the validator set that signs the next block's commit (``set(height + 1)``), read like
    ``validators_hash`` from the parent's state; always equal to the next header's ``validators_hash`` (a light
    client follows set changes by it, ADR 0014)."""


class Block(CoreStruct, frozen=True):
    """A header and its transactions."""

    header: Header
    """The header."""
    txs: Annotated[list[SignedTx], msgspec.Meta(max_length=MAX_BLOCK_TXS)]
    """The transactions, in execution order."""


class Event(CoreStruct, frozen=True):
    """A typed record a transaction emits, for indexers and clients."""

    type: Short
    """Event type, such as ``"transfer"``."""
    attributes: Annotated[list[tuple[Short, AttrValue]], msgspec.Meta(max_length=16)]
    """Key/value pairs."""


class Receipt(CoreStruct, frozen=True):
    """The result of one transaction in a block. Code 0 is success; anything else is a failure whose
    state changes were discarded (except the sender's nonce, which always advances)."""

    tx_hash: Hash32
    """The transaction's hash."""
    code: U32
    """0 on success; otherwise a module-defined failure code (see ``ResultCode``)."""
    message: Text
    """Empty on success; otherwise why it failed."""
    events: Annotated[list[Event], msgspec.Meta(max_length=MAX_EVENTS)]
    """Events emitted (none when the transaction failed)."""
    gas_used: U64 = 0
    """Gas the transaction used (contract transactions; 0 for the others)."""
    data: ReturnData = b""
    """What the transaction returned (a contract call's return data, a deployment's address)."""


class Validator(CoreStruct, frozen=True):
    """A member of the validator set."""

    public_key: PublicKey
    """The validator's consensus public key."""
    power: U64
    """Voting power (positive)."""
    name: Short
    """Human-readable name."""


class ValidatorSet(CoreStruct, frozen=True):
    """The validators, sorted by address; commit certificates need more than 2/3 of the total power."""

    validators: Annotated[list[Validator], msgspec.Meta(min_length=1, max_length=MAX_VALIDATORS)]
    """The validators, in ascending order of address."""


class CommitSig(CoreStruct, frozen=True):
    """One validator's signature in a commit certificate."""

    validator: Address
    """The validator's address."""
    signature: Signature
    """Signature over the ``Vote`` for the certificate's height, round and block."""


class Commit(CoreStruct, frozen=True):
    """A commit certificate: signatures of more than 2/3 of the voting power over one block id."""

    height: U64
    """The block height."""
    round: U32
    """The consensus round."""
    block_hash: Hash32
    """The committed block's id."""
    signatures: Annotated[list[CommitSig], msgspec.Meta(max_length=MAX_VALIDATORS)]
    """Signatures, in ascending order of validator address, at most one per validator."""


_HEADER_DOMAIN = b"trellis/header/v1"
_VALSET_DOMAIN = b"trellis/validators/v1"


def block_hash(suite: Suite, header: Header) -> bytes:
    """Return the block id: the tagged hash of the canonical header."""
    return suite.tagged_hash(_HEADER_DOMAIN, encode(header))


def validators_hash(suite: Suite, valset: ValidatorSet) -> bytes:
    """Return the hash of a validator set."""
    return suite.tagged_hash(_VALSET_DOMAIN, encode(valset))


def make_validator_set(suite: Suite, validators: list[Validator]) -> ValidatorSet:
    """Return a validator set with ``validators`` sorted by address (the canonical order)."""
    return ValidatorSet(validators=sorted(validators, key=lambda v: address_of(suite, v.public_key)))


def verify_commit(suite: Suite, chain_id: str, valset: ValidatorSet, header: Header, commit: Commit) -> None:
    """Check that ``commit`` proves ``header`` final under ``valset``.

    Checks: the certificate names this header's height and block id, the header names this validator set,
    signatures are by distinct members in ascending address order, each verifies, and their power exceeds
    2/3 of the total.

    Raises:
        InvalidBlock: ``bad_commit`` with the failed check.
    """
    bid = block_hash(suite, header)
    if commit.height != header.height or commit.block_hash != bid:
        raise InvalidBlock("bad_commit", "commit certificate is for a different block")
    if header.validators_hash != validators_hash(suite, valset):
        raise InvalidBlock("bad_commit", "header names a different validator set")
    power = {address_of(suite, v.public_key): v for v in valset.validators}
    total = sum(v.power for v in valset.validators)
    msg = vote_signing_bytes(
        Vote(chain_id=chain_id, kind=PRECOMMIT, height=commit.height, round=commit.round, block_hash=bid)
    )
    signed = 0
    last = b""
    for cs in commit.signatures:
        if cs.validator <= last:
            raise InvalidBlock("bad_commit", "commit signatures not in strictly ascending validator order")
        last = cs.validator
        val = power.get(cs.validator)
        if val is None:
            raise InvalidBlock("bad_commit", f"signer {cs.validator.hex()} is not in the validator set")
        if not suite.verify(val.public_key, msg, cs.signature):
            raise InvalidBlock("bad_commit", f"signature of validator {cs.validator.hex()} does not verify")
        signed += val.power
    if signed * 3 <= total * 2:
        raise InvalidBlock("bad_commit", f"commit carries {signed} of {total} voting power; needs more than 2/3")
