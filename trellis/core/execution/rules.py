"""The rules a transaction must pass to enter a block, written once (ADR 0013 section 4).

Three places judge a transaction against the state: admission (``Application.check_tx``: may it wait in the
mempool?), the proposer (``prepare_proposal``: may it go into the block being built?) and execution (``apply_block``:
is a block holding it valid?). Each builds a ``TxRules`` over the state it judges against and calls ``check``;
only what each does with a ``Refusal`` differs:

- ``ADMISSION`` checks chain id and membership; a refusal becomes ``InvalidTransaction``
  (``Refusal.invalid_transaction``).
- ``PROPOSAL`` checks chain id, membership, nonce and gas; a refused candidate is skipped.
- ``EXECUTION`` checks the same four; a refusal makes the block invalid (``Refusal.invalid_block``).

The rules run in this order, the order execution has always used (so a block breaking two of them is refused
with the same code as before):

1. ``CHAIN_ID``: the transaction names this chain (``wrong_chain_id``). Admission checks it first without state
   (``check_tx_stateless``), with the same code and text.
2. ``MEMBERSHIP``: under ``membership.enforce``, the sender holds a certificate valid at ``time_ms`` whose role
   permits the message (``MembershipView.check_sender``; the code is the certificate's). A
   ``membership.register_cert`` needs none, nor an ``evidence.submit`` from one of ``validators``.
3. ``NONCE``: the transaction carries ``expected_nonce``, its sender's next nonce (``bad_nonce``). Admission
   passes None: the mempool judges gaps and replays itself, from ``Application.account_nonce``.
4. ``GAS``: the gas the block's transactions declare, this one's included, stays within ``max_block_gas``
   (``too_much_gas``). Not at admission, which has never judged gas.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from trellis.core.errors import InvalidBlock, InvalidTransaction
from trellis.core.execution.context import StateReader
from trellis.core.ledger.tx import TxBody
from trellis.core.modules.contracts.engine import declared_gas
from trellis.core.modules.membership.view import CertificateRefused, MembershipRefusal, MembershipView
from trellis.core.params import ChainParams


class Stage(Enum):
    """Where a transaction is judged."""

    ADMISSION = 1
    """``check_tx``: against the committed state at the latest block's time."""
    PROPOSAL = 2
    """``prepare_proposal``: against the committed state at the new block's time, in the order chosen."""
    EXECUTION = 3
    """``apply_block``: against the state before the block at the block's time, as the block runs."""


class Rule(Enum):
    """A rule a transaction must pass, in the order they are checked."""

    CHAIN_ID = 1
    MEMBERSHIP = 2
    NONCE = 3
    GAS = 4


@dataclass(frozen=True)
class Refusal:
    """Why a transaction may not enter (or be in) a block.

    Attributes:
        rule: the rule it breaks.
        code: the error code (``wrong_chain_id``, ``bad_nonce``, ``too_much_gas``, or a ``CertificateRefused``
            code for ``MEMBERSHIP``).
        reason: what is wrong. For ``CHAIN_ID`` and ``NONCE`` a predicate of the transaction ("has nonce 4;
            ...", completed with the transaction's position by ``invalid_block``); otherwise a sentence.
    """

    rule: Rule
    code: str
    reason: str

    def invalid_transaction(self) -> InvalidTransaction:
        """The refusal as admission reports it."""
        if self.rule is Rule.CHAIN_ID or self.rule is Rule.NONCE:
            return InvalidTransaction(self.code, f"transaction {self.reason}")
        return InvalidTransaction(self.code, self.reason)

    def invalid_block(self, index: int, tx_hash: bytes) -> InvalidBlock:
        """The refusal as execution reports it, for the transaction at ``index`` (hash ``tx_hash``) of a block:
        a ``MembershipRefusal`` (which names the transaction) for ``MEMBERSHIP``."""
        if self.rule is Rule.MEMBERSHIP:
            return MembershipRefusal(self.code, self.reason, index, tx_hash)
        if self.rule is Rule.GAS:
            return InvalidBlock(self.code, self.reason)
        return InvalidBlock(self.code, f"transaction {index} {self.reason}")


class TxRules:
    """The rules of one stage's judgement: one state, one time, one validator set.

    Args:
        params: the chain parameters (chain id, ``membership.enforce``, ``max_block_gas``).
        state: the state the transactions are judged against (the committed state, or the state before the
            block being executed). Read only under ``membership.enforce``.
        time_ms: the time certificates must be valid at (the block's; at admission, the latest block's).
        validators: the addresses of the validators of the block being judged: they may send
            ``evidence.submit`` without a certificate. Used only under ``membership.enforce``.
    """

    __slots__ = ("_chain_id", "_max_block_gas", "_members")

    def __init__(self, params: ChainParams, state: StateReader, time_ms: int, validators: frozenset[bytes]) -> None:
        self._chain_id = params.chain_id
        self._max_block_gas = params.genesis.contracts.max_block_gas
        self._members = MembershipView(state, time_ms, validators) if params.genesis.membership.enforce else None

    def check(
        self, stage: Stage, body: TxBody, sender: bytes, *, expected_nonce: int | None, block_gas: int
    ) -> Refusal | None:
        """Judge the transaction ``body`` from ``sender`` (its address) at ``stage``; None if it passes.

        Args:
            stage: who is judging.
            body: the transaction.
            sender: the sender's address.
            expected_nonce: the sender's next nonce as the judge sees it (after the block's earlier
                transactions); None at admission (the nonce is not judged then).
            block_gas: the gas the transactions before this one in the block declare (0 at admission).
        """
        if body.chain_id != self._chain_id:
            if stage is Stage.EXECUTION:
                return Refusal(Rule.CHAIN_ID, "wrong_chain_id", f"is for chain {body.chain_id!r}")
            return Refusal(
                Rule.CHAIN_ID, "wrong_chain_id", f"is for chain {body.chain_id!r}, this is {self._chain_id!r}"
            )
        members = self._members
        if members is not None:
            try:
                members.check_sender(sender, body.payload)
            except CertificateRefused as exc:
                return Refusal(Rule.MEMBERSHIP, exc.code, exc.reason)
        if expected_nonce is not None and body.nonce != expected_nonce:
            return Refusal(
                Rule.NONCE, "bad_nonce", f"has nonce {body.nonce}; the sender's next nonce is {expected_nonce}"
            )
        if stage is not Stage.ADMISSION:
            gas = declared_gas(body.payload)
            if gas and block_gas + gas > self._max_block_gas:
                return Refusal(
                    Rule.GAS, "too_much_gas", f"the block's transactions declare more than {self._max_block_gas} gas"
                )
        return None
