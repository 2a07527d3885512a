"""Notarization receipts (docs/spec/receipt.md): a self-contained proof that a digest was anchored on chain.

A receipt carries the digest, its Merkle path to the batch root, the anchoring transaction (canonical bytes)
and its inclusion proof in the block's ``tx_root``, the transaction's result and its proof in
``results_root``, the block header, its commit certificate, the validator set that signed it and the chain of
validator-set changes from genesis to the block (docs/spec/light-client.md 6). ``verify_receipt`` checks it
against nothing but the chain's genesis parameters.

Two encodings, both canonical (a verifier refuses any other rendering, so one changed byte never goes unseen):
  * binary: msgpack of ``ReceiptV2`` (array form), starting with the format version;
  * JSON: ``receipt_to_json`` -- an object with lower-case ``0x`` hex for bytes, keys sorted, 2-space indent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Protocol

import msgspec

from trellis.core.codec import decode, encode
from trellis.core.crypto.merkle import MerkleProof, merkle_proof, verify_merkle_proof
from trellis.core.crypto.suite import Suite, address_of
from trellis.core.errors import DecodeError, InvalidBlock, ProofError
from trellis.core.execution.context import StateReader
from trellis.core.ledger.block import Block, Commit, Header, Receipt, ValidatorSet, validators_hash, verify_commit
from trellis.core.ledger.tx import SignedTx, tx_hash
from trellis.core.lightclient import (
    LightClientError,
    SetChange,
    TrustedState,
    follow_set_changes,
    set_change_from_bytes,
)
from trellis.core.modules.notary.messages import NotaryAnchor
from trellis.core.modules.notary.state import LEAF_PREFIX, batch_proof, batch_root
from trellis.core.modules.validators.state import META_KEY, read_entry, read_meta
from trellis.core.params import ChainParams

__all__ = [
    "DIGEST_ALGORITHMS",
    "FORMAT",
    "MAX_RECEIPT_BYTES",
    "MAX_SET_CHANGES",
    "VERSION",
    "ReceiptError",
    "ReceiptV2",
    "SetChangeBytes",
    "VerifiedReceipt",
    "build_receipt",
    "decode_receipt",
    "receipt_from_binary",
    "receipt_from_json",
    "receipt_to_binary",
    "receipt_to_json",
    "set_changes_from_store",
    "verify_receipt",
]

FORMAT = "trellis-notary-receipt"
VERSION = 2
MAX_RECEIPT_BYTES = 16 * 1024 * 1024
"""Largest receipt (either encoding) a verifier reads."""
MAX_SET_CHANGES = 10_000
"""Most validator-set changes a receipt carries."""
DIGEST_ALGORITHMS = {"ed25519": "sha-256", "sm": "sm3"}
"""Chain suite -> the hash its digests use."""

_Bytes = Annotated[bytes, msgspec.Meta(max_length=256 * 1024)]
_Hash = Annotated[bytes, msgspec.Meta(min_length=32, max_length=32)]
_Name = Annotated[str, msgspec.Meta(max_length=64)]


class SetChangeBytes(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, array_like=True):
    """One validator-set change (light-client.md 3), each member as its canonical bytes."""

    header: _Bytes
    """Canonical ``Header`` of height ``e - 1``, the first to name the new set as ``next_validators_hash``."""
    commit: _Bytes
    """Canonical ``Commit`` of that header."""
    next_validators: _Bytes
    """Canonical ``ValidatorSet`` in force from height ``e``."""


class ReceiptV2(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, array_like=True):
    """A version-2 receipt (binary form: this struct as a msgpack array, fields in this order)."""

    version: int
    """Format version: 2."""
    chain_id: _Name
    """The chain's id."""
    genesis_hash: _Hash
    """Hash of the chain's genesis document (tells chains with the same id apart)."""
    digest_alg: _Name
    """``sha-256`` (ed25519 chains) or ``sm3`` (sm chains)."""
    digest: _Hash
    """The record's digest."""
    record_proof: MerkleProof
    """Path of leaf ``"trellis/notary/v1" || digest`` to the batch root."""
    batch_root: _Hash
    """Merkle root of the anchoring batch."""
    tx: _Bytes
    """Canonical bytes of the anchoring ``SignedTx`` (a ``notary.anchor``)."""
    tx_proof: MerkleProof
    """Inclusion proof of ``tx`` in the header's ``tx_root``."""
    result: _Bytes
    """Canonical bytes of the transaction's block ``Receipt`` (code 0)."""
    result_proof: MerkleProof
    """Inclusion proof of ``result`` in the header's ``results_root``."""
    header: _Bytes
    """Canonical bytes of the block ``Header``."""
    commit: _Bytes
    """Canonical bytes of the block's ``Commit`` certificate."""
    validators: _Bytes
    """Canonical bytes of the ``ValidatorSet`` that signed: ``set(height)``, the set the changes lead to."""
    set_changes: Annotated[list[SetChangeBytes], msgspec.Meta(max_length=MAX_SET_CHANGES)]
    """The validator-set changes from genesis up to the block's height, ascending (light-client.md 6)."""


class _Version(msgspec.Struct, array_like=True):
    version: int


class ReceiptError(Exception):
    """A receipt that does not verify; ``check`` names the check that failed (see docs/spec/receipt.md)."""

    def __init__(self, check: str, message: str) -> None:
        super().__init__(f"{check}: {message}")
        self.check = check
        self.message = message


@dataclass(frozen=True)
class VerifiedReceipt:
    """What a valid receipt proves."""

    digest: bytes
    height: int
    time_ms: int
    chain_id: str
    tx_hash: bytes
    sender: bytes
    batch_index: int
    batch_size: int
    record_type: str
    owner: str
    ref: str


# -- building ------------------------------------------------------------------------------------------------
def build_receipt(
    params: ChainParams,
    digest: bytes,
    block: Block,
    tx_index: int,
    results: Sequence[Receipt],
    commit: Commit,
    set_changes: Sequence[SetChange] = (),
) -> ReceiptV2:
    """Return the receipt of ``digest``, anchored by ``block.txs[tx_index]`` (a ``notary.anchor``), whose
    commit certificate ``commit`` is signed by the set that ``set_changes`` (ascending, every change effective
    at or before the block's height; see ``set_changes_from_store``) lead to from genesis.

    Raises:
        ValueError: that transaction is not a notary batch holding ``digest``.
    """
    suite = params.suite
    tx = block.txs[tx_index]
    payload = tx.body.payload
    if not isinstance(payload, NotaryAnchor) or digest not in payload.digests:
        raise ValueError("the transaction does not anchor this digest")
    signing_set = set_changes[-1].next_validators if set_changes else TrustedState.from_genesis(params).validators
    tx_items = [encode(t) for t in block.txs]
    result_items = [encode(r) for r in results]
    return ReceiptV2(
        version=VERSION,
        chain_id=params.chain_id,
        genesis_hash=params.genesis_hash,
        digest_alg=DIGEST_ALGORITHMS[suite.name],
        digest=digest,
        record_proof=batch_proof(suite, payload.digests, payload.digests.index(digest)),
        batch_root=batch_root(suite, payload.digests),
        tx=tx_items[tx_index],
        tx_proof=merkle_proof(suite, tx_items, tx_index),
        result=result_items[tx_index],
        result_proof=merkle_proof(suite, result_items, tx_index),
        header=encode(block.header),
        commit=encode(commit),
        validators=encode(signing_set),
        set_changes=[
            SetChangeBytes(header=encode(c.header), commit=encode(c.commit), next_validators=encode(c.next_validators))
            for c in set_changes
        ],
    )


class ChainStore(StateReader, Protocol):
    """What ``set_changes_from_store`` reads: the latest state, stored blocks and their certificates."""

    def block(self, height: int) -> Block | None: ...
    def commit(self, height: int) -> Commit | None: ...


def set_changes_from_store(store: ChainStore, to_height: int) -> list[SetChange] | None:
    """Return the validator-set changes effective at or before ``to_height``, ascending: for each state entry
    ``validators/set/<e>`` with ``3 <= e <= to_height``, header ``e - 1``, its commit and the entry's set.
    None when the store lacks one of those blocks or certificates (or has no validator state).
    """
    if store.get(META_KEY) is None:
        return None
    changes: list[SetChange] = []
    entry = read_entry(store, read_meta(store).latest)
    while entry.previous >= 1:
        e = entry.effective_height
        if e <= to_height:
            block, commit = store.block(e - 1), store.commit(e - 1)
            if block is None or commit is None:
                return None
            changes.append(SetChange(header=block.header, commit=commit, next_validators=entry.validators))
        entry = read_entry(store, entry.previous)
    return changes[::-1]


# -- encodings -----------------------------------------------------------------------------------------------
def _hex(b: bytes) -> str:
    return "0x" + b.hex()


def _proof_json(p: MerkleProof) -> dict[str, Any]:
    return {"index": p.index, "siblings": [_hex(s) for s in p.siblings], "size": p.size}


def receipt_to_binary(r: ReceiptV2) -> bytes:
    """The canonical binary form (msgpack)."""
    return msgspec.msgpack.encode(r)


def receipt_to_json(r: ReceiptV2) -> bytes:
    """The canonical JSON form (UTF-8, sorted keys, 2-space indent, final newline)."""
    obj: dict[str, Any] = {
        "format": FORMAT,
        "version": r.version,
        "chain_id": r.chain_id,
        "genesis_hash": _hex(r.genesis_hash),
        "digest_alg": r.digest_alg,
        "digest": _hex(r.digest),
        "record_proof": _proof_json(r.record_proof),
        "batch_root": _hex(r.batch_root),
        "tx": _hex(r.tx),
        "tx_proof": _proof_json(r.tx_proof),
        "result": _hex(r.result),
        "result_proof": _proof_json(r.result_proof),
        "header": _hex(r.header),
        "commit": _hex(r.commit),
        "validators": _hex(r.validators),
        "set_changes": [
            {"commit": _hex(c.commit), "header": _hex(c.header), "next_validators": _hex(c.next_validators)}
            for c in r.set_changes
        ],
    }
    return msgspec.json.format(msgspec.json.encode(obj, order="sorted"), indent=2) + b"\n"


_HexText = Annotated[str, msgspec.Meta(pattern=r"^0x([0-9a-f]{2})*\Z", max_length=2 * 256 * 1024 + 2)]


class _ProofJson(msgspec.Struct, forbid_unknown_fields=True):
    index: int
    size: int
    siblings: Annotated[list[_HexText], msgspec.Meta(max_length=64)]


class _SetChangeJson(msgspec.Struct, forbid_unknown_fields=True):
    commit: _HexText
    header: _HexText
    next_validators: _HexText


class _ReceiptJson(msgspec.Struct, forbid_unknown_fields=True):
    format: str
    version: int
    chain_id: str
    genesis_hash: _HexText
    digest_alg: str
    digest: _HexText
    record_proof: _ProofJson
    batch_root: _HexText
    tx: _HexText
    tx_proof: _ProofJson
    result: _HexText
    result_proof: _ProofJson
    header: _HexText
    commit: _HexText
    validators: _HexText
    set_changes: Annotated[list[_SetChangeJson], msgspec.Meta(max_length=MAX_SET_CHANGES)]


def _unhex(s: str) -> bytes:
    return bytes.fromhex(s[2:])


def _proof(p: _ProofJson) -> list[Any]:
    return [p.index, p.size, [_unhex(s) for s in p.siblings]]


def _check_size(data: bytes) -> None:
    if len(data) > MAX_RECEIPT_BYTES:
        raise ReceiptError("malformed", f"receipt is {len(data)} bytes; the limit is {MAX_RECEIPT_BYTES}")


def receipt_from_json(data: bytes) -> ReceiptV2:
    """Parse the canonical JSON form.

    Raises:
        ReceiptError: ``malformed`` (not a receipt, or not in canonical form) or ``unsupported_version``.
    """
    _check_size(data)
    try:
        head = msgspec.json.decode(data)
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise ReceiptError("malformed", f"not JSON: {exc}") from None
    if isinstance(head, dict) and head.get("format") == FORMAT and head.get("version") != VERSION:
        raise ReceiptError(
            "unsupported_version", f"receipt version {head.get('version')!r}; this verifier reads {VERSION}"
        )
    try:
        j = msgspec.json.decode(data, type=_ReceiptJson)
        if j.format != FORMAT:
            raise ReceiptError("malformed", f"format is {j.format!r}, not {FORMAT!r}")
        r = msgspec.convert(
            [
                j.version,
                j.chain_id,
                _unhex(j.genesis_hash),
                j.digest_alg,
                _unhex(j.digest),
                _proof(j.record_proof),
                _unhex(j.batch_root),
                _unhex(j.tx),
                _proof(j.tx_proof),
                _unhex(j.result),
                _proof(j.result_proof),
                _unhex(j.header),
                _unhex(j.commit),
                _unhex(j.validators),
                [[_unhex(c.header), _unhex(c.commit), _unhex(c.next_validators)] for c in j.set_changes],
            ],
            ReceiptV2,
        )
    except (msgspec.ValidationError, msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise ReceiptError("malformed", f"not a version-{VERSION} receipt: {exc}") from None
    if receipt_to_json(r) != data:
        raise ReceiptError("malformed", "receipt JSON is not in canonical form (was it edited?)")
    return r


def receipt_from_binary(data: bytes) -> ReceiptV2:
    """Parse the canonical binary form.

    Raises:
        ReceiptError: ``malformed`` or ``unsupported_version``.
    """
    _check_size(data)
    try:
        v = msgspec.msgpack.decode(data, type=_Version)
    except (msgspec.ValidationError, msgspec.DecodeError, UnicodeDecodeError):
        v = None
    if v is not None and v.version != VERSION:
        raise ReceiptError("unsupported_version", f"receipt version {v.version}; this verifier reads {VERSION}")
    try:
        r = msgspec.msgpack.decode(data, type=ReceiptV2)
    except (msgspec.ValidationError, msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise ReceiptError("malformed", f"not a version-{VERSION} receipt: {exc}") from None
    if receipt_to_binary(r) != data:
        raise ReceiptError("malformed", "receipt bytes are not in canonical form")
    return r


def decode_receipt(data: bytes) -> ReceiptV2:
    """Parse either form: JSON if it starts with ``{`` (after whitespace), binary otherwise."""
    return receipt_from_json(data) if data.lstrip()[:1] == b"{" else receipt_from_binary(data)


# -- verifying -----------------------------------------------------------------------------------------------
def _decode(data: bytes, type_: Any, check: str, what: str) -> Any:
    try:
        obj = decode(data, type_)
    except DecodeError as exc:
        raise ReceiptError(check, f"{what} is not canonical: {exc}") from None
    if encode(obj) != data:
        raise ReceiptError(check, f"{what} is not in canonical form")
    return obj


def verify_receipt(r: ReceiptV2, params: ChainParams, file_digest: bytes | None = None) -> VerifiedReceipt:
    """Verify ``r`` against the chain whose genesis gave ``params``, and optionally a file's digest.

    Checks, in the order of docs/spec/receipt.md 4.3 (the failure names the first that fails):
    ``unsupported_version``, ``unsupported_digest_algorithm``, ``wrong_chain`` (chain id, genesis hash, digest
    algorithm), ``validator_set`` (not canonical), ``file_digest``, ``merkle_path`` (digest to batch root, root
    of the anchoring batch), ``commit_certificate`` (header not canonical), ``validator_changes`` (the set
    changes from genesis to the header's height do not hold), ``validator_set`` (not the set they lead to),
    ``wrong_chain``, ``tx_inclusion`` (transaction in ``tx_root``), ``tx_result`` (the transaction succeeded,
    proven in ``results_root``), ``commit_certificate`` (more than 2/3 of the set reached signed the header).

    Raises:
        ReceiptError: with the failed check's name.
    """
    suite: Suite = params.suite
    if r.version != VERSION:
        raise ReceiptError("unsupported_version", f"receipt version {r.version}; this verifier reads {VERSION}")
    if r.digest_alg not in DIGEST_ALGORITHMS.values():
        raise ReceiptError("unsupported_digest_algorithm", f"digest algorithm {r.digest_alg!r} is not known")
    if r.chain_id != params.chain_id or r.genesis_hash != params.genesis_hash:
        raise ReceiptError(
            "wrong_chain",
            f"receipt is for chain {r.chain_id!r} (genesis {r.genesis_hash.hex()[:16]}...); "
            f"this genesis is chain {params.chain_id!r} ({params.genesis_hash.hex()[:16]}...)",
        )
    want_alg = DIGEST_ALGORITHMS[suite.name]
    if r.digest_alg != want_alg:
        raise ReceiptError("wrong_chain", f"receipt digests use {r.digest_alg}; this chain uses {want_alg}")
    valset: ValidatorSet = _decode(r.validators, ValidatorSet, "validator_set", "validator set")
    if file_digest is not None and file_digest != r.digest:
        raise ReceiptError(
            "file_digest", f"the file's {want_alg} digest is {file_digest.hex()}; the receipt is for {r.digest.hex()}"
        )
    tx: SignedTx = _decode(r.tx, SignedTx, "tx_inclusion", "the anchoring transaction")
    payload = tx.body.payload
    if not isinstance(payload, NotaryAnchor):
        raise ReceiptError("merkle_path", "the receipt's transaction is not a notary.anchor")
    try:
        verify_merkle_proof(suite, LEAF_PREFIX + r.digest, r.record_proof, r.batch_root)
    except ProofError as exc:
        raise ReceiptError("merkle_path", f"the digest's path does not lead to the batch root: {exc}") from None
    idx = r.record_proof.index
    if r.record_proof.size != len(payload.digests) or payload.digests[idx] != r.digest:
        raise ReceiptError("merkle_path", f"the transaction's batch does not hold the digest at index {idx}")
    if batch_root(suite, payload.digests) != r.batch_root:
        raise ReceiptError("merkle_path", "the batch root is not the root of the transaction's batch")
    header: Header = _decode(r.header, Header, "commit_certificate", "the block header")
    genesis = TrustedState.from_genesis(params)
    try:
        changes = [set_change_from_bytes(c.header, c.commit, c.next_validators) for c in r.set_changes]
        signing_set, first_height = follow_set_changes(genesis, changes, header.height)
    except LightClientError as exc:
        raise ReceiptError("validator_changes", exc.reason) from None
    if validators_hash(suite, valset) != validators_hash(suite, signing_set):
        raise ReceiptError(
            "validator_set", f"the receipt's validator set is not the one its set changes lead to at {header.height}"
        )
    if header.chain_id != params.chain_id or tx.body.chain_id != params.chain_id:
        raise ReceiptError("wrong_chain", f"the block or transaction is for chain {header.chain_id!r}")
    try:
        verify_merkle_proof(suite, r.tx, r.tx_proof, header.tx_root, size=header.tx_count)
    except ProofError as exc:
        raise ReceiptError("tx_inclusion", f"the transaction is not in block {header.height}: {exc}") from None
    result: Receipt = _decode(r.result, Receipt, "tx_result", "the transaction result")
    try:
        verify_merkle_proof(suite, r.result, r.result_proof, header.results_root, size=header.tx_count)
    except ProofError as exc:
        raise ReceiptError("tx_result", f"the result is not in block {header.height}: {exc}") from None
    if r.result_proof.index != r.tx_proof.index or result.tx_hash != tx_hash(suite, r.tx):
        raise ReceiptError("tx_result", "the result is not the anchoring transaction's")
    if result.code != 0:
        raise ReceiptError("tx_result", f"the anchoring transaction failed (code {result.code}: {result.message})")
    commit: Commit = _decode(r.commit, Commit, "commit_certificate", "the commit certificate")
    if header.height < first_height:
        raise ReceiptError("commit_certificate", f"block {header.height} is before the last set change's header")
    try:
        verify_commit(suite, params.chain_id, signing_set, header, commit)
    except InvalidBlock as exc:
        raise ReceiptError("commit_certificate", str(exc)) from None
    return VerifiedReceipt(
        digest=r.digest,
        height=header.height,
        time_ms=header.time_ms,
        chain_id=header.chain_id,
        tx_hash=tx_hash(suite, r.tx),
        sender=address_of(suite, tx.body.sender),
        batch_index=idx,
        batch_size=len(payload.digests),
        record_type=payload.record_type,
        owner=payload.owner,
        ref=payload.ref,
    )
