"""The committed test vectors (tests/vectors/*.json) still hold: every expected output is recomputed here from
the file's inputs with the library, so any change to an encoding, a hash domain or a rule breaks this test.

Where the spec gives a formula (tagged_hash, address, signing bytes), it is also checked written out by hand.
To change the vectors on purpose: ``python -m tests.vectors.generate`` and review the diff.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

from trellis.core.codec import decode, encode
from trellis.core.crypto.merkle import MerkleProof, merkle_proof, merkle_root, verify_merkle_proof
from trellis.core.crypto.suite import ED25519, address_of, ed25519_keypair_from_seed, ed25519_sign
from trellis.core.execution.block import build_block, check_block, genesis_tip
from trellis.core.execution.reference import genesis_writes
from trellis.core.ledger.block import (
    Block,
    Commit,
    CommitSig,
    Header,
    Receipt,
    Validator,
    ValidatorSet,
    block_hash,
    make_validator_set,
    validators_hash,
    verify_commit,
)
from trellis.core.ledger.state_tree import StateProof, apply_updates, key_path, prove, value_hash, verify_state_proof
from trellis.core.ledger.tx import SignedTx, TxBody, decode_tx, signing_bytes, tx_hash, verify_tx_signature
from trellis.core.ledger.votes import PRECOMMIT, Vote, vote_signing_bytes
from trellis.core.modules.accounts.messages import Mint, Transfer
from trellis.core.modules.kv.messages import KvDelete, KvPut
from trellis.core.modules.payload import Payload
from trellis.core.params import load_genesis
from trellis.core.types import ZERO_HASH

VECTORS = Path(__file__).resolve().parents[1] / "vectors"
FILES = [
    "tagged_hash.json",
    "transactions.json",
    "block.json",
    "commit.json",
    "merkle.json",
    "state_tree.json",
    "payloads.json",
    "genesis_hash.json",
    "block_receipts.json",
    "sm_suite.json",
    "tsa_serial.json",
    "light_client.json",
    "attestations.json",
    "custody.json",
    "snapshot.json",
    "interchain.json",
    "transfer.json",
    "directory.json",
    "hub.json",
]


def load(name: str) -> dict[str, Any]:
    return json.loads((VECTORS / name).read_text())


def h(s: str) -> bytes:
    return bytes.fromhex(s)


def sha256_tagged(domain: bytes, data: bytes) -> bytes:
    """tagged_hash as the spec writes it."""
    return hashlib.sha256(bytes([len(domain)]) + domain + data).digest()


class Memory:
    """State and tree nodes in dicts (a StateReader and a NodeReader)."""

    def __init__(self) -> None:
        self.state: dict[bytes, bytes] = {}
        self.nodes: dict[bytes, bytes] = {}

    def get(self, key: bytes) -> bytes | None:
        return self.state.get(key)

    def get_node(self, node_hash: bytes) -> bytes | None:
        return self.nodes.get(node_hash)


def payload_from_json(p: dict[str, Any]) -> Payload:
    tag = p["tag"]
    if tag == "accounts.transfer":
        return Transfer(to=h(p["to"]), amount=p["amount"])
    if tag == "accounts.mint":
        return Mint(to=h(p["to"]), amount=p["amount"])
    if tag == "kv.put":
        return KvPut(namespace=p["namespace"], key=h(p["key"]), value=h(p["value"]))
    if tag == "kv.delete":
        return KvDelete(namespace=p["namespace"], key=h(p["key"]))
    raise AssertionError(f"unknown payload tag {tag}")


def header_from_json(d: dict[str, Any]) -> Header:
    fields = {k: (v if isinstance(v, int) or k == "chain_id" else h(v)) for k, v in d.items()}
    return Header(**fields)


# --- Files -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", FILES)
def test_generator_reproduces_the_committed_vector_file(name: str) -> None:
    spec = importlib.util.spec_from_file_location("_trellis_vector_generator", VECTORS / "generate.py")
    assert spec is not None and spec.loader is not None
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    assert generator.render(name) == (VECTORS / name).read_text()


# --- tagged_hash.json --------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", load("tagged_hash.json")["cases"], ids=lambda c: c["domain"] or "empty")
def test_tagged_hash_vector(case: dict[str, Any]) -> None:
    domain, data = case["domain"].encode(), h(case["data"])
    assert ED25519.tagged_hash(domain, data).hex() == case["digest"]
    assert sha256_tagged(domain, data).hex() == case["digest"]


# --- transactions.json -------------------------------------------------------------------------------------

TX_CASES = load("transactions.json")["cases"]


def _body(case: dict[str, Any]) -> TxBody:
    b = case["body"]
    return TxBody(
        chain_id=b["chain_id"],
        sender=h(case["public_key"]),
        nonce=b["nonce"],
        payload=payload_from_json(b["payload"]),
        memo=b["memo"],
    )


@pytest.mark.parametrize("case", TX_CASES, ids=lambda c: c["name"])
def test_transaction_vector_key_and_address(case: dict[str, Any]) -> None:
    _, public = ed25519_keypair_from_seed(h(case["seed"]))
    assert public.hex() == case["public_key"]
    assert address_of(ED25519, public).hex() == case["address"]
    assert sha256_tagged(b"trellis/address", public)[:20].hex() == case["address"]


@pytest.mark.parametrize("case", TX_CASES, ids=lambda c: c["name"])
def test_transaction_vector_body_and_signing_bytes(case: dict[str, Any]) -> None:
    body = _body(case)
    assert encode(body).hex() == case["body_bytes"]
    assert signing_bytes(body).hex() == case["signing_bytes"]
    assert (b"\x12trellis/tx-sign/v1" + h(case["body_bytes"])).hex() == case["signing_bytes"]


@pytest.mark.parametrize("case", TX_CASES, ids=lambda c: c["name"])
def test_transaction_vector_signature(case: dict[str, Any]) -> None:
    secret, public = ed25519_keypair_from_seed(h(case["seed"]))
    assert ed25519_sign(secret, h(case["signing_bytes"])).hex() == case["signature"]
    assert ED25519.verify(public, h(case["signing_bytes"]), h(case["signature"]))


@pytest.mark.parametrize("case", TX_CASES, ids=lambda c: c["name"])
def test_transaction_vector_encoding_and_hash(case: dict[str, Any]) -> None:
    tx = SignedTx(body=_body(case), signature=h(case["signature"]))
    raw = h(case["tx_bytes"])
    assert encode(tx) == raw
    assert decode_tx(raw) == tx
    verify_tx_signature(ED25519, tx)
    assert tx_hash(ED25519, raw).hex() == case["tx_hash"]
    assert sha256_tagged(b"trellis/tx/v1", raw).hex() == case["tx_hash"]


# --- block.json --------------------------------------------------------------------------------------------

BLOCK = load("block.json")


@pytest.fixture(scope="module")
def executed_vector_block() -> Any:
    params = load_genesis(BLOCK["genesis_json"].encode())
    mem = Memory()
    tip, tree = genesis_tip(params, mem)
    mem.nodes.update(tree.nodes)
    mem.state.update({k: v for k, v in genesis_writes(params).items() if v is not None})
    raw = [h(t) for t in BLOCK["tx_bytes"]]
    header = header_from_json(BLOCK["header"])
    txs = [decode_tx(t) for t in raw]
    executed = build_block(params, mem, mem, tip, txs, raw, header.time_ms, header.proposer)
    return params, tip, mem, executed


def test_block_vector_genesis_hash_and_state_root(executed_vector_block: Any) -> None:
    params, tip, _, _ = executed_vector_block
    assert params.genesis_hash.hex() == BLOCK["genesis_hash"]
    assert tip.state_root.hex() == BLOCK["genesis_state_root"]


def test_block_vector_transactions_are_those_of_transactions_json() -> None:
    assert BLOCK["tx_bytes"] == [c["tx_bytes"] for c in TX_CASES]


def test_block_vector_receipts_come_from_executing_the_transactions(executed_vector_block: Any) -> None:
    executed = executed_vector_block[3]
    assert [encode(r).hex() for r in executed.output.receipts] == BLOCK["receipts"]
    assert [decode(h(r), Receipt).code for r in BLOCK["receipts"]] == BLOCK["receipt_codes"]


def test_block_vector_header_roots(executed_vector_block: Any) -> None:
    header = header_from_json(BLOCK["header"])
    assert header.tx_root == merkle_root(ED25519, [h(t) for t in BLOCK["tx_bytes"]])
    assert header.results_root == merkle_root(ED25519, [h(r) for r in BLOCK["receipts"]])
    assert header.state_root == executed_vector_block[3].tree.root
    assert header.tx_count == len(BLOCK["tx_bytes"])


def test_block_vector_header_is_what_build_block_makes(executed_vector_block: Any) -> None:
    assert executed_vector_block[3].block.header == header_from_json(BLOCK["header"])


def test_block_vector_header_encoding_and_block_id() -> None:
    header = header_from_json(BLOCK["header"])
    assert encode(header).hex() == BLOCK["header_bytes"]
    assert block_hash(ED25519, header).hex() == BLOCK["block_id"]
    assert sha256_tagged(b"trellis/header/v1", encode(header)).hex() == BLOCK["block_id"]


def test_block_vector_block_encoding() -> None:
    block = Block(header=header_from_json(BLOCK["header"]), txs=[decode_tx(h(t)) for t in BLOCK["tx_bytes"]])
    assert encode(block).hex() == BLOCK["block_bytes"]
    assert decode(h(BLOCK["block_bytes"]), Block) == block


def test_block_vector_passes_check_block(executed_vector_block: Any) -> None:
    params, tip, mem, _ = executed_vector_block
    block = decode(h(BLOCK["block_bytes"]), Block)
    checked = check_block(params, mem, mem, tip, block, [encode(t) for t in block.txs])
    assert checked.block_id.hex() == BLOCK["block_id"]


# --- commit.json -------------------------------------------------------------------------------------------

COMMIT = load("commit.json")


def _valset() -> ValidatorSet:
    return make_validator_set(
        ED25519,
        [Validator(public_key=h(v["public_key"]), power=v["power"], name=v["name"]) for v in COMMIT["validators"]],
    )


@pytest.mark.parametrize("v", COMMIT["validators"], ids=lambda v: v["name"])
def test_commit_vector_validator_key_and_address(v: dict[str, Any]) -> None:
    _, public = ed25519_keypair_from_seed(h(v["seed"]))
    assert public.hex() == v["public_key"]
    assert address_of(ED25519, public).hex() == v["address"]


def test_commit_vector_validator_set_encoding_and_hash() -> None:
    valset = _valset()
    assert encode(valset).hex() == COMMIT["validator_set_bytes"]
    assert validators_hash(ED25519, valset).hex() == COMMIT["validators_hash"]
    assert sha256_tagged(b"trellis/validators/v1", encode(valset)).hex() == COMMIT["validators_hash"]
    assert COMMIT["validators_hash"] == BLOCK["header"]["validators_hash"]


def test_commit_vector_validator_set_is_sorted_by_address() -> None:
    addresses = [
        address_of(ED25519, v.public_key) for v in decode(h(COMMIT["validator_set_bytes"]), ValidatorSet).validators
    ]
    assert addresses == sorted(addresses)


def test_commit_vector_vote_encoding_and_signing_bytes() -> None:
    v = COMMIT["vote"]
    vote = Vote(
        chain_id=v["chain_id"], kind=v["kind"], height=v["height"], round=v["round"], block_hash=h(v["block_hash"])
    )
    assert vote.kind == PRECOMMIT
    assert v["block_hash"] == BLOCK["block_id"]
    assert encode(vote).hex() == COMMIT["vote_bytes"]
    assert vote_signing_bytes(vote).hex() == COMMIT["vote_signing_bytes"]
    assert (b"\x0ftrellis/vote/v1" + encode(vote)).hex() == COMMIT["vote_signing_bytes"]


def test_commit_vector_signatures_are_the_validators_signatures_of_the_vote() -> None:
    seeds = {v["address"]: h(v["seed"]) for v in COMMIT["validators"]}
    for s in COMMIT["commit"]["signatures"]:
        secret, _ = ed25519_keypair_from_seed(seeds[s["validator"]])
        assert ed25519_sign(secret, h(COMMIT["vote_signing_bytes"])).hex() == s["signature"]


def test_commit_vector_encoding_and_verification() -> None:
    c = COMMIT["commit"]
    commit = Commit(
        height=c["height"],
        round=c["round"],
        block_hash=h(c["block_hash"]),
        signatures=[CommitSig(validator=h(s["validator"]), signature=h(s["signature"])) for s in c["signatures"]],
    )
    assert encode(commit).hex() == COMMIT["commit_bytes"]
    assert decode(h(COMMIT["commit_bytes"]), Commit) == commit
    verify_commit(ED25519, COMMIT["vote"]["chain_id"], _valset(), header_from_json(BLOCK["header"]), commit)


# --- merkle.json -------------------------------------------------------------------------------------------

MERKLE_TREES = load("merkle.json")["trees"]


@pytest.mark.parametrize("tree", MERKLE_TREES, ids=lambda t: f"{len(t['items'])}-items")
def test_merkle_vector_root(tree: dict[str, Any]) -> None:
    assert merkle_root(ED25519, [h(x) for x in tree["items"]]).hex() == tree["root"]


@pytest.mark.parametrize("tree", MERKLE_TREES, ids=lambda t: f"{len(t['items'])}-items")
def test_merkle_vector_proofs(tree: dict[str, Any]) -> None:
    items = [h(x) for x in tree["items"]]
    assert len(tree["proofs"]) == len(items)
    for i, p in enumerate(tree["proofs"]):
        expected = MerkleProof(index=p["index"], size=p["size"], siblings=[h(s) for s in p["siblings"]])
        assert merkle_proof(ED25519, items, i) == expected
        assert encode(expected).hex() == p["proof_bytes"]
        verify_merkle_proof(
            ED25519, items[i], decode(h(p["proof_bytes"]), MerkleProof), h(tree["root"]), size=len(items)
        )


# --- state_tree.json ---------------------------------------------------------------------------------------

STATE = load("state_tree.json")


def _state_tree() -> tuple[Memory, bytes, bytes]:
    mem = Memory()
    first = apply_updates(ED25519, mem, ZERO_HASH, {h(e["key"]): h(e["value"]) for e in STATE["entries"]})
    mem.nodes.update(first.nodes)
    updates = {h(u["key"]): None if u["value"] is None else h(u["value"]) for u in STATE["update"]}
    second = apply_updates(ED25519, mem, first.root, updates)
    mem.nodes.update(second.nodes)
    return mem, first.root, second.root


def test_state_vector_key_paths_and_value_hashes() -> None:
    for e in STATE["entries"]:
        assert key_path(ED25519, h(e["key"])).hex() == e["key_path"]
        assert sha256_tagged(b"trellis/state/key", h(e["key"])).hex() == e["key_path"]
        assert value_hash(ED25519, h(e["value"])).hex() == e["value_hash"]
        assert sha256_tagged(b"trellis/state/value", h(e["value"])).hex() == e["value_hash"]


def test_state_vector_roots() -> None:
    _, root, after = _state_tree()
    assert root.hex() == STATE["root"]
    assert after.hex() == STATE["root_after_update"]
    assert STATE["empty_tree_root"] == ZERO_HASH.hex()


def _state_header() -> Header:
    return Header(
        chain_id="vectors",
        height=STATE["height"],
        time_ms=0,
        parent_hash=ZERO_HASH,
        tx_root=ZERO_HASH,
        results_root=ZERO_HASH,
        state_root=h(STATE["root_after_update"]),
        tx_count=0,
        proposer=bytes(20),
        validators_hash=ZERO_HASH,
        next_validators_hash=ZERO_HASH,
    )


PROOF_CASES = [("inclusion", c) for c in STATE["inclusion_proofs"]] + [
    ("non-inclusion", c) for c in STATE["non_inclusion_proofs"]
]


@pytest.mark.parametrize(("kind", "case"), PROOF_CASES, ids=lambda x: x if isinstance(x, str) else x["key"])
def test_state_vector_proof_is_what_prove_returns(kind: str, case: dict[str, Any]) -> None:
    mem, _, after = _state_tree()
    proof = prove(ED25519, mem, after, h(case["key"]), STATE["height"])
    assert encode(proof).hex() == case["proof_bytes"]
    assert (proof.leaf is not None and proof.leaf.key_path == key_path(ED25519, h(case["key"]))) == (
        kind == "inclusion"
    )


@pytest.mark.parametrize(("kind", "case"), PROOF_CASES, ids=lambda x: x if isinstance(x, str) else x["key"])
def test_state_vector_proof_verifies(kind: str, case: dict[str, Any]) -> None:
    value = None if case["value"] is None else h(case["value"])
    assert (value is not None) == (kind == "inclusion")
    proof = decode(h(case["proof_bytes"]), StateProof)
    verify_state_proof(ED25519, h(case["key"]), value, proof, _state_header())


# --- payloads.json, genesis_hash.json, block_receipts.json, sm_suite.json (the library's side) ----------------
# tests/unit/test_vectors_independent.py checks the same files without the library.


@pytest.mark.parametrize("case", load("payloads.json")["cases"], ids=lambda c: c["name"])
def test_payload_vector_decodes_and_verifies_with_the_library(case: dict[str, Any]) -> None:
    raw = h(case["tx_bytes"])
    tx = decode_tx(raw)
    assert encode(tx.body.payload).hex() == case["payload_bytes"]
    verify_tx_signature(ED25519, tx)
    assert tx_hash(ED25519, raw).hex() == case["tx_hash"]


@pytest.mark.parametrize("case", load("genesis_hash.json")["cases"], ids=lambda c: c["name"])
def test_genesis_vector_hash_is_load_genesis_hash(case: dict[str, Any]) -> None:
    params = load_genesis(case["genesis_json"].encode())
    assert encode(params.genesis).hex() == case["canonical_bytes"]
    assert params.genesis_hash.hex() == case["genesis_hash"]
    assert encode(params.validators).hex() == case["validator_set_bytes"]


@pytest.mark.parametrize("case", load("block_receipts.json")["cases"], ids=lambda c: c["name"])
def test_block_receipt_vector_decodes_with_the_library(case: dict[str, Any]) -> None:
    receipt = decode(h(case["receipt_bytes"]), Receipt)
    assert receipt.gas_used == case["receipt"]["gas_used"]
    assert receipt.data.hex() == case["receipt"]["data"]


def test_sm_vectors_verify_with_the_library() -> None:
    from trellis.core.crypto.sm import sm2_keypair_from_secret, sm2_verify, sm2_za
    from trellis.core.crypto.suite import SM

    sm = load("sm_suite.json")
    ex = sm["standard_example"]
    assert sm2_keypair_from_secret(h(ex["secret"]))[1].hex() == ex["public_key"]
    assert sm2_za(h(ex["public_key"])).hex() == ex["za"]
    assert sm2_verify(h(ex["public_key"]), h(ex["message"]), h(ex["signature"]))
    case = sm["transaction"]
    tx = decode_tx(h(case["tx_bytes"]))
    verify_tx_signature(SM, tx)
    assert tx_hash(SM, h(case["tx_bytes"])).hex() == case["tx_hash"]
    assert load_genesis(sm["genesis"]["genesis_json"].encode()).genesis_hash.hex() == sm["genesis"]["genesis_hash"]
