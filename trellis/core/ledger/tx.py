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
from trellis.core.ledger.credentials_tx import SetIssuer, StatusCreate, StatusSet
from trellis.core.ledger.notary_tx import NotaryAnchor
from trellis.core.ledger.votes import Evidence
from trellis.core.modules.validators.messages import AddValidator, RemoveValidator, SetValidatorPower
from trellis.core.types import U64, Address, ChainId, CoreStruct, PublicKey, Signature

MAX_TX_BYTES = 64 * 1024
"""Hard upper bound on an encoded transaction; genesis may set a lower one."""

# \Z, not $, which would also accept a trailing "\n" (see trellis/core/types.py).
Namespace = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+\Z")]
"""A kv namespace: 1-64 characters of letters, digits, '.', '_' and '-'."""
KvKey = Annotated[bytes, msgspec.Meta(min_length=1, max_length=256)]
"""A kv record key: 1-256 bytes."""
KvValue = Annotated[bytes, msgspec.Meta(max_length=32 * 1024)]
"""A kv record value: up to 32 KiB."""
Memo = Annotated[str, msgspec.Meta(max_length=256)]


class Transfer(CoreStruct, frozen=True, tag="accounts.transfer"):
    """Move ``amount`` units of the settlement currency from the sender to ``to``."""

    to: Address
    """Recipient address."""
    amount: U64
    """Units to move; must be positive."""


class Mint(CoreStruct, frozen=True, tag="accounts.mint"):
    """Create ``amount`` new units for ``to``. Only the mint authority named in genesis may send it."""

    to: Address
    """Recipient address."""
    amount: U64
    """Units to create; must be positive."""


class KvPut(CoreStruct, frozen=True, tag="kv.put"):
    """Write a kv record. The first writer of ``(namespace, key)`` owns it; only the owner may overwrite."""

    namespace: Namespace
    """The record's namespace."""
    key: KvKey
    """The record's key within the namespace."""
    value: KvValue
    """The value to store."""


class KvDelete(CoreStruct, frozen=True, tag="kv.delete"):
    """Delete a kv record; only its owner may."""

    namespace: Namespace
    """The record's namespace."""
    key: KvKey
    """The record's key within the namespace."""


class SubmitEvidence(CoreStruct, frozen=True, tag="evidence.submit"):
    """Report that a validator equivocated; anyone may send it, each offence is recorded once."""

    evidence: Evidence
    """Two conflicting signed votes or proposals."""


MAX_CODE_BYTES = 60 * 1024
"""Hard upper bound on a contract's WebAssembly code; genesis may set a lower one."""
ContractCode = Annotated[bytes, msgspec.Meta(min_length=8, max_length=MAX_CODE_BYTES)]
"""A WebAssembly module's bytes."""
CallArgs = Annotated[bytes, msgspec.Meta(max_length=16 * 1024)]
"""ABI-encoded call arguments (see docs/spec/contracts.md)."""
MethodName = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z][A-Za-z0-9_]*\Z")]
"""A contract method: an exported function's name."""
GasLimit = Annotated[int, msgspec.Meta(ge=0, le=2**53)]
"""Most gas a transaction may use."""


class ContractDeploy(CoreStruct, frozen=True, tag="contracts.deploy"):
    """Deploy a WebAssembly contract; its address derives from the sender and the transaction's nonce.

    If the module exports ``init``, it runs once with ``args`` as part of the deployment.
    """

    code: ContractCode
    """The module's bytes (stored once per code hash)."""
    args: CallArgs = b""
    """Arguments for ``init``."""
    admin: Address | None = None
    """Who may upgrade the contract's code (besides the genesis governance address); None: nobody else."""
    gas_limit: GasLimit = 10_000_000
    """Most gas this deployment may use."""


class ContractCall(CoreStruct, frozen=True, tag="contracts.call"):
    """Call a method of a deployed contract."""

    contract: Address
    """The contract's address."""
    method: MethodName
    """The exported function to run."""
    args: CallArgs = b""
    """ABI-encoded arguments."""
    gas_limit: GasLimit = 1_000_000
    """Most gas this call (with nested calls) may use."""


class ContractUpgrade(CoreStruct, frozen=True, tag="contracts.upgrade"):
    """Replace a contract's code, keeping its address and storage; only its admin or governance may."""

    contract: Address
    """The contract's address."""
    code: ContractCode
    """The new module's bytes."""
    gas_limit: GasLimit = 10_000_000
    """Most gas this upgrade may use."""


CertificateDer = Annotated[bytes, msgspec.Meta(min_length=1, max_length=8 * 1024)]
"""An X.509 certificate, DER-encoded (at most 8 KiB)."""
OrgName = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
"""A member organisation's name."""
CertSerial = Annotated[bytes, msgspec.Meta(min_length=1, max_length=20)]
"""An X.509 serial number as unsigned big-endian bytes (RFC 5280: at most 20 octets)."""


class RegisterCert(CoreStruct, frozen=True, tag="membership.register_cert"):
    """Register an identity certificate for the sender's key (docs/spec/membership.md).

    The certificate's subject public key must be the sender's key (the transaction's signature proves
    possession); it must chain to a member CA, be valid at the block's time, not be revoked and carry a role.
    """

    cert: CertificateDer
    """The identity certificate."""


class AddOrg(CoreStruct, frozen=True, tag="add_org"):
    """Membership change: admit an organisation with its CA certificates."""

    name: OrgName
    """The new organisation's name."""
    ca_certs: Annotated[list[CertificateDer], msgspec.Meta(min_length=1, max_length=4)]
    """Its CA certificates (DER)."""


class RemoveOrg(CoreStruct, frozen=True, tag="remove_org"):
    """Membership change: remove an organisation (its certificates stop being valid)."""

    name: OrgName
    """The organisation to remove."""


class AddCa(CoreStruct, frozen=True, tag="add_ca"):
    """Membership change: add a CA certificate to an organisation (a CA rollover's first step)."""

    org: OrgName
    """The organisation."""
    ca_cert: CertificateDer
    """The new CA certificate (DER)."""


class RemoveCa(CoreStruct, frozen=True, tag="remove_ca"):
    """Membership change: remove a CA certificate from an organisation (a rollover's last step)."""

    org: OrgName
    """The organisation."""
    fingerprint: Annotated[bytes, msgspec.Meta(min_length=32, max_length=32)]
    """SHA-256 of the CA certificate's DER."""


class SetThreshold(CoreStruct, frozen=True, tag="set_threshold"):
    """Membership change: how many distinct organisations' admins must approve a change."""

    threshold: Annotated[int, msgspec.Meta(ge=1, le=64)]
    """The new admin threshold."""


MembershipChange = (
    AddOrg | RemoveOrg | AddCa | RemoveCa | SetThreshold | AddValidator | RemoveValidator | SetValidatorPower
)
"""A change to the on-chain membership or (the three ``validators.*`` members, ``core/modules/validators``) to the
validator set, applied when enough organisations' admins approve it."""


class ProposeMembership(CoreStruct, frozen=True, tag="membership.propose"):
    """Propose a membership change; the proposer's organisation counts as its first approval. Admins only."""

    change: MembershipChange
    """The change."""


class ApproveMembership(CoreStruct, frozen=True, tag="membership.approve"):
    """Approve a pending membership change for the sender's organisation. Admins only."""

    proposal_id: U64
    """The proposal's id (from the ``membership.proposed`` event)."""


class RevokeCert(CoreStruct, frozen=True, tag="membership.revoke"):
    """Revoke a certificate of the sender's own organisation, from the next block on. Admins only."""

    serial: CertSerial
    """The certificate's serial number."""


DidText = Annotated[str, msgspec.Meta(max_length=160)]
"""A DID as text (``did:trellis:<chain-id>:<32 hex digits>``); parsed by the identity handler, so a malformed one
fails with a precise receipt code rather than at decoding."""
DidFragment = Annotated[str, msgspec.Meta(min_length=1, max_length=32)]
"""A fragment naming a verification method or service within its document (``key-1`` in ``did:...#key-1``)."""
MAX_DID_KEYS = 8
MAX_DID_SERVICES = 8
MAX_DID_CONTROLLERS = 4


class DidVerificationMethod(CoreStruct, frozen=True):
    """A verification method of a DID document, in compact form (rendered as W3C JSON-LD by the app layer)."""

    id: DidFragment
    """Its fragment within the document (``key-1``)."""
    type: Annotated[str, msgspec.Meta(max_length=40)]
    """``Ed25519VerificationKey2020``, ``Multikey`` or (on an ``sm`` chain) ``SM2VerificationKey2022``."""
    public_key: Annotated[bytes, msgspec.Meta(max_length=65)]
    """The raw public key: 32 bytes for Ed25519, 65 (uncompressed) for SM2."""
    controller: DidText | None = None
    """The DID controlling this key; None: the document's own DID."""


class DidService(CoreStruct, frozen=True):
    """A service endpoint of a DID document."""

    id: DidFragment
    """Its fragment within the document."""
    type: Annotated[str, msgspec.Meta(max_length=64)]
    """The service type (``LinkedDomains``, ``DIDCommMessaging``, ...)."""
    endpoint: Annotated[str, msgspec.Meta(max_length=256)]
    """The endpoint URI."""


class DidDocument(CoreStruct, frozen=True):
    """A DID document in compact canonical form (docs/spec/did-method.md section 3)."""

    verification_methods: Annotated[list[DidVerificationMethod], msgspec.Meta(max_length=MAX_DID_KEYS)] = []
    """The document's keys."""
    authentication: Annotated[list[DidFragment], msgspec.Meta(max_length=MAX_DID_KEYS)] = []
    """Fragments of the verification methods that may authenticate as (and so update) the DID."""
    assertion_method: Annotated[list[DidFragment], msgspec.Meta(max_length=MAX_DID_KEYS)] = []
    """Fragments of the verification methods that may issue credentials as the DID."""
    services: Annotated[list[DidService], msgspec.Meta(max_length=MAX_DID_SERVICES)] = []
    """Service endpoints."""
    controllers: Annotated[list[DidText], msgspec.Meta(max_length=MAX_DID_CONTROLLERS)] = []
    """Other DIDs whose authentication keys may also update or deactivate this DID."""


class DidCreate(CoreStruct, frozen=True, tag="identity.did_create"):
    """Register a DID with its first document (version 1).

    The id is ``tagged_hash("trellis/did-id/v1", sender || nonce)[:16]`` unless ``id`` chooses one. The sender's
    key must be an authentication key of the new document or of one of its controllers.
    """

    document: DidDocument
    """The first document."""
    id: Annotated[bytes, msgspec.Meta(min_length=16, max_length=16)] | None = None
    """A chosen 16-byte id (e.g. a UUID's bytes); None: derived from the sender and nonce."""


class DidUpdate(CoreStruct, frozen=True, tag="identity.did_update"):
    """Replace a DID's document (key rotation is an update that replaces the keys); the version goes up by one."""

    did: DidText
    """The DID."""
    document: DidDocument
    """The new document."""


class DidDeactivate(CoreStruct, frozen=True, tag="identity.did_deactivate"):
    """Deactivate a DID for good: it still resolves (with ``deactivated``) but can never be updated again."""

    did: DidText
    """The DID."""


Payload = (
    Transfer
    | Mint
    | KvPut
    | KvDelete
    | SubmitEvidence
    | ContractDeploy
    | ContractCall
    | ContractUpgrade
    | RegisterCert
    | ProposeMembership
    | ApproveMembership
    | RevokeCert
    | DidCreate
    | DidUpdate
    | DidDeactivate
    | SetIssuer
    | StatusCreate
    | StatusSet
    | NotaryAnchor
)
"""The tagged union of every module message. The tag (``"module.action"``) is encoded first."""


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
