"""The ``accounts`` and ``kv`` modules' transaction handlers (pure functions of a context and a message)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from trellis.core.codec import decode, encode
from trellis.core.crypto.suite import address_of
from trellis.core.execution.contracts import (
    ContractEngine,
    ScanFn,
    handle_contract_call,
    handle_contract_deploy,
    handle_contract_upgrade,
)
from trellis.core.execution.credentials import handle_set_issuer, handle_status_create, handle_status_set
from trellis.core.execution.identity import handle_did_create, handle_did_deactivate, handle_did_update
from trellis.core.execution.membership import handle_approve, handle_propose, handle_register_cert, handle_revoke
from trellis.core.execution.notary import handle_notary_anchor
from trellis.core.execution.results import ResultCode, TxFailure
from trellis.core.execution.state_keys import Account, EvidenceRecord, KvRecord, account_key, evidence_key, kv_key
from trellis.core.ledger.block import Event
from trellis.core.ledger.credentials_tx import SetIssuer, StatusCreate, StatusSet
from trellis.core.ledger.notary_tx import NotaryAnchor
from trellis.core.ledger.tx import (
    ApproveMembership,
    ContractCall,
    ContractDeploy,
    ContractUpgrade,
    DidCreate,
    DidDeactivate,
    DidUpdate,
    KvDelete,
    KvPut,
    Mint,
    ProposeMembership,
    RegisterCert,
    RevokeCert,
    SubmitEvidence,
    Transfer,
)
from trellis.core.ledger.votes import DuplicateVoteEvidence, check_evidence, evidence_offender
from trellis.core.modules.validators.state import entry_in_force
from trellis.core.params import ChainParams
from trellis.core.types import U64_MAX


def _no_scan(start: bytes, end: bytes, limit: int) -> tuple[list[tuple[bytes, bytes]], int]:
    return [], 0


class TxContext:
    """What a handler sees: the sender, the chain parameters, the block, and a read/write view of state.

    Handlers of contract messages also set ``gas_used`` and ``return_data``; they are recorded in the receipt
    whether the transaction succeeds or fails.
    """

    def __init__(
        self,
        sender: bytes,
        params: ChainParams,
        height: int,
        get: Callable[[bytes], bytes | None],
        put: Callable[[bytes, bytes | None], None],
        *,
        nonce: int = 0,
        time_ms: int = 0,
        scan: ScanFn = _no_scan,
        engine: ContractEngine | None = None,
        sender_key: bytes = b"",
    ) -> None:
        self.sender = sender
        self.sender_key = sender_key
        """The sender's public key (the identity module matches it against DID documents)."""
        self.params = params
        self.mint_authority = params.mint_authority
        self.height = height
        self.get = get
        self.put = put
        self.nonce = nonce
        self.time_ms = time_ms
        self.scan = scan
        self.engine = engine
        self.suite = params.suite
        self.limits = params.genesis.contracts
        self.governance = params.governance
        self.gas_used = 0
        self.return_data = b""

    def account(self, address: bytes) -> Account:
        """Return the account at ``address`` (a zero account if it was never written)."""
        raw = self.get(account_key(address))
        return Account(balance=0, nonce=0) if raw is None else decode(raw, Account)

    def set_account(self, address: bytes, acct: Account) -> None:
        """Write the account at ``address``."""
        self.put(account_key(address), encode(acct))


# The transfer outcomes below are shared with the block-level transfer path in ``apply.py``, which must
# produce exactly the receipts ``handle_transfer`` does.


def amount_not_positive() -> TxFailure:
    """The failure of a transfer or mint of zero units."""
    return TxFailure(ResultCode.INVALID_AMOUNT, "amount must be positive")


def insufficient_funds(balance: int, amount: int) -> TxFailure:
    """The failure of a transfer of ``amount`` from an account holding ``balance`` (less than ``amount``)."""
    return TxFailure(ResultCode.INSUFFICIENT_FUNDS, f"balance {balance} is less than the amount {amount}")


def credit_overflow() -> TxFailure:
    """The failure of a credit that would take the recipient's balance past 2^64-1."""
    return TxFailure(ResultCode.OVERFLOW, "recipient balance would exceed 2^64-1")


def transfer_event(sender: bytes, to: bytes, amount: int) -> Event:
    """The event a successful transfer of ``amount`` from ``sender`` to ``to`` emits (addresses)."""
    return Event(type="transfer", attributes=[("from", sender), ("to", to), ("amount", str(amount).encode())])


def _credit(ctx: TxContext, to: bytes, amount: int) -> None:
    acct = ctx.account(to)
    if acct.balance + amount > U64_MAX:
        raise credit_overflow()
    ctx.set_account(to, Account(balance=acct.balance + amount, nonce=acct.nonce))


def handle_transfer(ctx: TxContext, msg: Transfer) -> list[Event]:
    """Move ``msg.amount`` from the sender to ``msg.to``.

    ``apply_block`` runs plain transfers through its own block-level path with the same semantics; this
    handler is the reference (``_apply_generic``) and what ``TxContext`` callers use.
    """
    if msg.amount == 0:
        raise amount_not_positive()
    src = ctx.account(ctx.sender)
    if src.balance < msg.amount:
        raise insufficient_funds(src.balance, msg.amount)
    ctx.set_account(ctx.sender, Account(balance=src.balance - msg.amount, nonce=src.nonce))
    _credit(ctx, msg.to, msg.amount)
    return [transfer_event(ctx.sender, msg.to, msg.amount)]


def handle_mint(ctx: TxContext, msg: Mint) -> list[Event]:
    """Create ``msg.amount`` units for ``msg.to``; only the mint authority may."""
    if ctx.sender != ctx.mint_authority:
        raise TxFailure(ResultCode.UNAUTHORIZED, "only the mint authority named in genesis may mint")
    if msg.amount == 0:
        raise amount_not_positive()
    _credit(ctx, msg.to, msg.amount)
    return [Event(type="mint", attributes=[("to", msg.to), ("amount", str(msg.amount).encode())])]


def handle_kv_put(ctx: TxContext, msg: KvPut) -> list[Event]:
    """Write a kv record; the first writer owns it."""
    key = kv_key(msg.namespace, msg.key)
    raw = ctx.get(key)
    if raw is not None:
        rec = decode(raw, KvRecord)
        if rec.owner != ctx.sender:
            raise TxFailure(ResultCode.NOT_OWNER, f"record is owned by {rec.owner.hex()}")
    ctx.put(key, encode(KvRecord(owner=ctx.sender, value=msg.value)))
    return [Event(type="kv.put", attributes=[("namespace", msg.namespace.encode()), ("key", msg.key)])]


def handle_kv_delete(ctx: TxContext, msg: KvDelete) -> list[Event]:
    """Delete a kv record; only its owner may."""
    key = kv_key(msg.namespace, msg.key)
    raw = ctx.get(key)
    if raw is None:
        raise TxFailure(ResultCode.NOT_FOUND, "no such record")
    rec = decode(raw, KvRecord)
    if rec.owner != ctx.sender:
        raise TxFailure(ResultCode.NOT_OWNER, f"record is owned by {rec.owner.hex()}")
    ctx.put(key, None)
    return [Event(type="kv.delete", attributes=[("namespace", msg.namespace.encode()), ("key", msg.key)])]


def handle_submit_evidence(ctx: TxContext, msg: SubmitEvidence) -> list[Event]:
    """Record proof that a validator equivocated (two conflicting votes or proposals), once.

    The signer is looked up in ``set(h)`` of the evidence's height h, read from the state (ADR 0014): evidence
    against a validator removed since still counts, evidence for a height above this block's does not.
    """
    params = ctx.params
    ev = msg.evidence
    height = ev.a.vote.height if isinstance(ev, DuplicateVoteEvidence) else ev.a.proposal.height
    # The signer must be a validator of the set in force at the evidence's height (ADR 0014 section 5).
    if not 1 <= height <= ctx.height:
        raise TxFailure(
            ResultCode.INVALID_EVIDENCE,
            f"not evidence of equivocation: height {height} is not between 1 and this block's {ctx.height}",
        )
    valset = entry_in_force(ctx.get, height).validators
    keys = {address_of(params.suite, v.public_key): v.public_key for v in valset.validators}
    why = check_evidence(params.suite, params.chain_id, keys, ev)
    if why is not None:
        raise TxFailure(ResultCode.INVALID_EVIDENCE, f"not evidence of equivocation: {why}")
    offender = evidence_offender(ev)
    rnd = ev.a.vote.round if isinstance(ev, DuplicateVoteEvidence) else ev.a.proposal.round
    kind = "duplicate_vote" if isinstance(ev, DuplicateVoteEvidence) else "duplicate_proposal"
    # One record per offence (offender, height, round, kind), whichever pair of messages proves it.
    key = evidence_key(offender, height, rnd, kind)
    if ctx.get(key) is not None:
        raise TxFailure(ResultCode.DUPLICATE, "this equivocation is already recorded")
    record = EvidenceRecord(offender=offender, height=height, round=rnd, kind=kind, recorded_at=ctx.height, evidence=ev)
    ctx.put(key, encode(record))
    return [
        Event(
            type="evidence",
            attributes=[("offender", offender), ("kind", kind.encode()), ("height", str(height).encode())],
        )
    ]


HANDLERS: dict[type, Callable[[TxContext, Any], list[Event]]] = {
    Transfer: handle_transfer,
    Mint: handle_mint,
    KvPut: handle_kv_put,
    KvDelete: handle_kv_delete,
    SubmitEvidence: handle_submit_evidence,
    ContractDeploy: handle_contract_deploy,
    ContractCall: handle_contract_call,
    ContractUpgrade: handle_contract_upgrade,
    RegisterCert: handle_register_cert,
    ProposeMembership: handle_propose,
    ApproveMembership: handle_approve,
    RevokeCert: handle_revoke,
    DidCreate: handle_did_create,
    DidUpdate: handle_did_update,
    DidDeactivate: handle_did_deactivate,
    SetIssuer: handle_set_issuer,
    StatusCreate: handle_status_create,
    StatusSet: handle_status_set,
    NotaryAnchor: handle_notary_anchor,
}
"""Message type -> handler. Every member of ``Payload`` has exactly one."""
