"""JSON request and response types of the REST API, and their conversions to and from core types.

Byte strings are written as ``0x``-prefixed lower-case hex. Every conversion from JSON into a core type
validates lengths and bounds by building the core struct, so a bad field is refused with its name.
"""

from __future__ import annotations

from typing import Any, Literal

from trellis.api import payload_json
from trellis.api.hexjson import _J, Hex, hx, unhex
from trellis.api.payload_json import PayloadJson
from trellis.core.codec import decode, encode
from trellis.core.crypto.suite import Suite, address_of
from trellis.core.errors import DecodeError
from trellis.core.ledger.block import Block, Commit, CommitSig, Header, Receipt
from trellis.core.ledger.state_tree import ProofLeaf, ProofStep, StateProof
from trellis.core.ledger.tx import SignedTx, TxBody, tx_hash


class TxBodyJson(_J):
    chain_id: str
    sender: Hex
    nonce: int
    payload: PayloadJson
    memo: str = ""


class SignedTxJson(_J):
    body: TxBodyJson
    signature: Hex


class SubmitJson(_J):
    """Body of ``POST /v1/txs`` as JSON: either the transaction as JSON or its canonical bytes as hex."""

    tx: SignedTxJson | None = None
    tx_hex: Hex | None = None


class EventJson(_J):
    type: str
    attributes: dict[str, str]


class ReceiptJson(_J):
    tx_hash: Hex
    code: int
    message: str
    events: list[EventJson]
    gas_used: int = 0
    data: Hex = "0x"


class HeaderJson(_J):
    chain_id: str
    height: int
    time_ms: int
    parent_hash: Hex
    tx_root: Hex
    results_root: Hex
    state_root: Hex
    tx_count: int
    proposer: Hex
    validators_hash: Hex
    next_validators_hash: Hex


class CommitSigJson(_J):
    validator: Hex
    signature: Hex


class CommitJson(_J):
    height: int
    round: int
    block_hash: Hex
    signatures: list[CommitSigJson]


class TxInBlockJson(_J):
    hash: Hex
    tx: SignedTxJson


class BlockJson(_J):
    block_id: Hex
    header: HeaderJson
    txs: list[TxInBlockJson]
    commit: CommitJson | None
    header_hex: Hex


class ProofStepJson(_J):
    bitmap: int
    siblings: list[Hex]


class ProofLeafJson(_J):
    key_path: Hex
    value_hash: Hex


class StateProofJson(_J):
    height: int
    steps: list[ProofStepJson]
    leaf: ProofLeafJson | None


class StateValueJson(_J):
    """``GET /v1/state/{key}``: a state value, optionally with its proof and the header it is proved against."""

    key: Hex
    height: int
    value: Hex | None
    proof: StateProofJson | None = None
    proof_hex: Hex | None = None
    header: HeaderJson | None = None
    header_hex: Hex | None = None


class BatchRejectionJson(_J):
    index: int
    """Position of the refused transaction in the batch."""
    code: str
    detail: str


class BatchResultJson(_J):
    """``POST /v1/txs/batch``: how many were admitted, and why the others were not."""

    accepted: int
    rejected: list[BatchRejectionJson]


class StreamResultJson(_J):
    """``GET /v1/txs/stream``: the answer to batch ``seq`` of the connection."""

    seq: int
    accepted: int
    rejected: list[BatchRejectionJson]


class StreamFaultJson(_J):
    """Why a streamed batch could not be read."""

    status: int
    code: str
    detail: str


class StreamErrorJson(_J):
    """``GET /v1/txs/stream``: batch ``seq`` could not be parsed (nothing of it was admitted)."""

    seq: int
    error: StreamFaultJson


class CommittedBlockJson(_J):
    """One line of ``GET /v1/commits/stream``."""

    height: int
    time_ms: int
    block_id: Hex
    txs: list[Hex]
    """Hashes of the block's transactions, in order."""
    codes: list[int]
    """Their receipt codes (0 = success), in the same order."""


class KvRecordJson(_J):
    namespace: str
    key: Hex
    owner: Hex | None
    value: Hex | None
    height: int
    proof: StateProofJson | None = None
    header: HeaderJson | None = None


class TxStatusJson(_J):
    hash: Hex
    status: str
    height: int | None = None
    index: int | None = None
    receipt: ReceiptJson | None = None
    tx: SignedTxJson | None = None


class BannedPeerJson(_J):
    """A peer that this node's transport refuses for a while (``[statesync] ban_s``)."""

    node_id: str
    reason: str
    seconds_left: int
    """Seconds until the ban ends (rounded up)."""


class StatusJson(_J):
    chain_id: str
    suite: str
    """The chain's crypto suite from genesis: ``ed25519`` or ``sm``; clients sign and derive addresses with it."""
    genesis_hash: Hex
    moniker: str
    validator_address: Hex
    height: int
    block_id: Hex
    state_root: Hex
    time_ms: int
    consensus_round: int
    """Round of the height being decided."""
    consensus_step: str
    """propose, prevote, precommit or commit."""
    peers: list[str]
    """Ids of the connected peers."""
    mempool_txs: int
    mempool_bytes: int
    version: str
    bench_network: bool = False
    """The chain's genesis carries the bench-network marker (a throwaway network made by ``trellis bench``)."""
    signature_checks: bool = True
    """False only on a bench network whose node runs with ``[bench] skip_signature_checks``: this node then
    accepts transactions and blocks without checking their signatures."""
    role: Literal["validator", "observer"] = "validator"
    """``validator`` or ``observer`` (``[node] role``, ADR 0018 section 4): an observer follows the chain, serves
    the API and forwards the transactions it accepts to the validators; it never signs (``validator_address`` is
    empty)."""
    earliest_state_height: int = 0
    """The lowest height from which on this node keeps the state of every height (``[storage] keep_recent``, ADR
    0018): older heights answer 410 except those its retention keeps (``keep_every`` multiples, snapshots). 0:
    nothing pruned."""
    earliest_block_height: int = 1
    """The lowest height from which on this node keeps every block (``[storage] prune_blocks``): older blocks
    answer 410 except the blocks of validator-set changes. 1: nothing pruned."""
    banned_peers: list[BannedPeerJson] = []
    """The peers this node refuses now (banned for misbehaving, e.g. a bad state-sync chunk), sorted by node id."""


class ProblemJson(_J):
    """RFC 9457 problem details."""

    type: str
    title: str
    status: int
    detail: str
    code: str


# -- core -> JSON --------------------------------------------------------------------------------------------
def _attr_text(v: bytes) -> str:
    try:
        t = v.decode()
    except UnicodeDecodeError:
        return hx(v)
    return t if t.isprintable() else hx(v)


def tx_json(tx: SignedTx) -> SignedTxJson:
    b = tx.body
    return SignedTxJson(
        body=TxBodyJson(
            chain_id=b.chain_id,
            sender=hx(b.sender),
            nonce=b.nonce,
            payload=payload_json.to_json(b.payload),
            memo=b.memo,
        ),
        signature=hx(tx.signature),
    )


def receipt_json(r: Receipt) -> ReceiptJson:
    return ReceiptJson(
        tx_hash=hx(r.tx_hash),
        code=r.code,
        message=r.message,
        events=[EventJson(type=e.type, attributes={k: _attr_text(v) for k, v in e.attributes}) for e in r.events],
        gas_used=r.gas_used,
        data=hx(r.data),
    )


def header_json(h: Header) -> HeaderJson:
    return HeaderJson(
        chain_id=h.chain_id,
        height=h.height,
        time_ms=h.time_ms,
        parent_hash=hx(h.parent_hash),
        tx_root=hx(h.tx_root),
        results_root=hx(h.results_root),
        state_root=hx(h.state_root),
        tx_count=h.tx_count,
        proposer=hx(h.proposer),
        validators_hash=hx(h.validators_hash),
        next_validators_hash=hx(h.next_validators_hash),
    )


def commit_json(c: Commit) -> CommitJson:
    return CommitJson(
        height=c.height,
        round=c.round,
        block_hash=hx(c.block_hash),
        signatures=[CommitSigJson(validator=hx(s.validator), signature=hx(s.signature)) for s in c.signatures],
    )


def block_json(suite: Suite, block_id: bytes, block: Block, commit: Commit | None) -> BlockJson:
    return BlockJson(
        block_id=hx(block_id),
        header=header_json(block.header),
        txs=[TxInBlockJson(hash=hx(tx_hash(suite, encode(tx))), tx=tx_json(tx)) for tx in block.txs],
        commit=None if commit is None else commit_json(commit),
        header_hex=hx(encode(block.header)),
    )


def proof_json(p: StateProof) -> StateProofJson:
    return StateProofJson(
        height=p.height,
        steps=[ProofStepJson(bitmap=s.bitmap, siblings=[hx(x) for x in s.siblings]) for s in p.steps],
        leaf=None if p.leaf is None else ProofLeafJson(key_path=hx(p.leaf.key_path), value_hash=hx(p.leaf.value_hash)),
    )


# -- JSON -> core (validated by the core structs' bounds) -----------------------------------------------------
def _checked(obj: Any, type_: Any, what: str) -> Any:
    # Round-trip through the canonical decoder so the core's bounds (lengths, ranges) are enforced.
    try:
        data = encode(obj)
    except (OverflowError, TypeError) as exc:
        raise DecodeError(f"invalid {what}: {exc}") from exc
    try:
        return decode(data, type_)
    except DecodeError as exc:
        raise DecodeError(f"invalid {what}: {exc.reason}") from exc


def tx_from_json(j: SignedTxJson) -> SignedTx:
    """Build the core transaction from its JSON form (bounds checked)."""
    b = j.body
    tx = SignedTx(
        body=TxBody(
            chain_id=b.chain_id,
            sender=unhex(b.sender, "body.sender"),
            nonce=b.nonce,
            payload=payload_json.from_json(b.payload),
            memo=b.memo,
        ),
        signature=unhex(j.signature, "signature"),
    )
    result: SignedTx = _checked(tx, SignedTx, "transaction")
    return result


def header_from_json(j: HeaderJson) -> Header:
    """Build a core header from its JSON form (bounds checked)."""
    h = Header(
        chain_id=j.chain_id,
        height=j.height,
        time_ms=j.time_ms,
        parent_hash=unhex(j.parent_hash),
        tx_root=unhex(j.tx_root),
        results_root=unhex(j.results_root),
        state_root=unhex(j.state_root),
        tx_count=j.tx_count,
        proposer=unhex(j.proposer),
        validators_hash=unhex(j.validators_hash),
        next_validators_hash=unhex(j.next_validators_hash),
    )
    result: Header = _checked(h, Header, "header")
    return result


def proof_from_json(j: StateProofJson) -> StateProof:
    """Build a core state proof from its JSON form (bounds checked)."""
    p = StateProof(
        height=j.height,
        steps=[ProofStep(bitmap=s.bitmap, siblings=[unhex(x) for x in s.siblings]) for s in j.steps],
        leaf=None
        if j.leaf is None
        else ProofLeaf(key_path=unhex(j.leaf.key_path), value_hash=unhex(j.leaf.value_hash)),
    )
    result: StateProof = _checked(p, StateProof, "state proof")
    return result


def commit_from_json(j: CommitJson) -> Commit:
    """Build a core commit certificate from its JSON form (bounds checked)."""
    c = Commit(
        height=j.height,
        round=j.round,
        block_hash=unhex(j.block_hash),
        signatures=[CommitSig(validator=unhex(s.validator), signature=unhex(s.signature)) for s in j.signatures],
    )
    result: Commit = _checked(c, Commit, "commit")
    return result


def sender_address_hex(suite: Suite, tx: SignedTx) -> str:
    return hx(address_of(suite, tx.body.sender))
