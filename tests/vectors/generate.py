"""Write the Trellis test vectors (tests/vectors/*.json) from fixed seeds.

Run from the repository root with either of:

    python -m tests.vectors.generate
    python tests/vectors/generate.py

The output is deterministic (fixed seeds, RFC 8032 deterministic signatures, canonical encodings), so running it
again rewrites identical files; tests/unit/test_vectors.py checks that the committed files still match what the
library computes. docs/spec/encoding.md ("Test vectors") describes each file.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import msgspec

from tests.memory_state import MemoryState

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.vectors import (
    attestations_vectors,
    custody_vectors,
    directory_vectors,
    hub_vectors,
    interchain_vectors,
    light_client_vectors,
    snapshot_vectors,
    spec_vectors,
)
from trellis.api.types import proof_json
from trellis.core.codec import encode
from trellis.core.crypto.merkle import merkle_proof, merkle_root
from trellis.core.crypto.suite import ED25519, address_of, ed25519_keypair_from_seed, ed25519_sign
from trellis.core.execution.block import build_block, genesis_tip
from trellis.core.execution.reference import genesis_writes
from trellis.core.ledger.block import (
    Commit,
    CommitSig,
    Validator,
    make_validator_set,
    validators_hash,
)
from trellis.core.ledger.state_tree import apply_updates, key_path, prove, value_hash
from trellis.core.ledger.tx import SignedTx, TxBody, signing_bytes, tx_hash
from trellis.core.ledger.votes import PRECOMMIT, Vote, vote_signing_bytes
from trellis.core.modules.accounts.messages import Mint, Transfer
from trellis.core.modules.kv.messages import KvDelete, KvPut
from trellis.core.modules.payload import Payload
from trellis.core.params import load_genesis
from trellis.core.types import ZERO_HASH

VECTOR_DIR = Path(__file__).resolve().parent
SUITE = ED25519
CHAIN_ID = "trellis-vectors"
GENESIS_TIME_MS = 1_700_000_000_000
BLOCK_TIME_MS = GENESIS_TIME_MS + 1_000

# Seeds are 32 fixed bytes each; the secret key is the seed (RFC 8032).
SEEDS = {
    "alice": bytes(range(0, 32)),
    "bob": bytes(range(32, 64)),
    "carol": bytes(range(64, 96)),
    "mint": bytes(range(96, 128)),
    "validator-0": bytes([0xA0]) * 32,
    "validator-1": bytes([0xA1]) * 32,
    "validator-2": bytes([0xA2]) * 32,
    "validator-3": bytes([0xA3]) * 32,
}
VALIDATOR_POWERS = {"validator-0": 10, "validator-1": 10, "validator-2": 10, "validator-3": 5}


def _key(name: str) -> tuple[bytes, bytes, bytes]:
    """Return (secret, public key, address) of the named fixed seed."""
    secret, public = ed25519_keypair_from_seed(SEEDS[name])
    return secret, public, address_of(SUITE, public)


def payload_json(payload: Payload) -> dict[str, Any]:
    """The payload as JSON: its tag and fields (bytes as lower-case hex)."""
    out: dict[str, Any] = {"tag": type(payload).__struct_config__.tag}
    for field in type(payload).__struct_fields__:
        v = getattr(payload, field)
        out[field] = v.hex() if isinstance(v, bytes) else v
    return out


def _transactions() -> list[tuple[str, str, int, Payload, str]]:
    """(case name, sender, nonce, payload, memo) of the vector transactions, in block order."""
    alice, bob, carol = _key("alice")[2], _key("bob")[2], _key("carol")[2]
    return [
        ("transfer", "alice", 0, Transfer(to=bob, amount=250), "rent"),
        ("transfer.insufficient_funds", "bob", 0, Transfer(to=alice, amount=1_000), ""),
        ("mint", "mint", 0, Mint(to=carol, amount=1_000_000), ""),
        ("kv.put", "alice", 1, KvPut(namespace="docs", key=b"contract-42", value=b"sha256:abc"), ""),
        ("kv.delete", "alice", 2, KvDelete(namespace="docs", key=b"contract-42"), ""),
    ]


def signed_transactions() -> list[tuple[str, str, SignedTx]]:
    out = []
    for name, sender, nonce, payload, memo in _transactions():
        secret, public, _ = _key(sender)
        body = TxBody(chain_id=CHAIN_ID, sender=public, nonce=nonce, payload=payload, memo=memo)
        out.append((name, sender, SignedTx(body=body, signature=ed25519_sign(secret, signing_bytes(body)))))
    return out


def transactions_vectors() -> dict[str, Any]:
    cases = []
    for name, sender, tx in signed_transactions():
        body = tx.body
        raw = encode(tx)
        cases.append(
            {
                "name": name,
                "seed": SEEDS[sender].hex(),
                "public_key": body.sender.hex(),
                "address": address_of(SUITE, body.sender).hex(),
                "body": {
                    "chain_id": body.chain_id,
                    "nonce": body.nonce,
                    "payload": payload_json(body.payload),
                    "memo": body.memo,
                },
                "body_bytes": encode(body).hex(),
                "signing_bytes": signing_bytes(body).hex(),
                "signature": tx.signature.hex(),
                "tx_bytes": raw.hex(),
                "tx_hash": tx_hash(SUITE, raw).hex(),
            }
        )
    return {
        "description": "Signed transactions: key from seed, address, body, signing bytes, signature, encoding, hash.",
        "suite": SUITE.name,
        "cases": cases,
    }


def genesis_json() -> str:
    doc = {
        "chain_id": CHAIN_ID,
        "genesis_time_ms": GENESIS_TIME_MS,
        "suite": SUITE.name,
        "validators": [
            {"name": name, "public_key": _key(name)[1].hex(), "power": power}
            for name, power in VALIDATOR_POWERS.items()
        ],
        "mint_authority": _key("mint")[2].hex(),
        "accounts": [{"address": _key("alice")[2].hex(), "balance": 10_000}],
    }
    return json.dumps(doc, indent=2)


def _header_json(header: Any) -> dict[str, Any]:
    return {f: (v.hex() if isinstance(v := getattr(header, f), bytes) else v) for f in type(header).__struct_fields__}


def executed_block() -> Any:
    params = load_genesis(genesis_json().encode())
    mem = MemoryState()
    tip, tree = genesis_tip(params, mem)
    mem.nodes.update(tree.nodes)
    for key, value in genesis_writes(params).items():
        assert value is not None
        mem.state[key] = value
    txs = [tx for _, _, tx in signed_transactions()]
    proposer = address_of(SUITE, params.validators.validators[0].public_key)
    executed = build_block(params, mem, mem, tip, txs, [encode(t) for t in txs], BLOCK_TIME_MS, proposer)
    return params, tip, executed


def block_vectors() -> dict[str, Any]:
    params, tip, executed = executed_block()
    block = executed.block
    return {
        "description": (
            "Genesis and block 1 holding the vector transactions (transactions.json), executed: "
            "receipts, roots, header, block id."
        ),
        "suite": SUITE.name,
        "genesis_json": genesis_json(),
        "genesis_hash": params.genesis_hash.hex(),
        "genesis_state_root": tip.state_root.hex(),
        "tx_bytes": [t.hex() for t in executed.tx_bytes],
        "receipts": [encode(r).hex() for r in executed.output.receipts],
        "receipt_codes": [r.code for r in executed.output.receipts],
        "header": _header_json(block.header),
        "header_bytes": encode(block.header).hex(),
        "block_id": executed.block_id.hex(),
        "block_bytes": encode(block).hex(),
    }


def commit_vectors() -> dict[str, Any]:
    params, _, executed = executed_block()
    validators = [
        {
            "name": name,
            "seed": SEEDS[name].hex(),
            "public_key": _key(name)[1].hex(),
            "address": _key(name)[2].hex(),
            "power": power,
        }
        for name, power in VALIDATOR_POWERS.items()
    ]
    valset = make_validator_set(
        SUITE, [Validator(public_key=_key(n)[1], power=p, name=n) for n, p in VALIDATOR_POWERS.items()]
    )
    assert valset == params.validators
    header = executed.block.header
    vote = Vote(chain_id=CHAIN_ID, kind=PRECOMMIT, height=header.height, round=0, block_hash=executed.block_id)
    msg = vote_signing_bytes(vote)
    # validator-3 (power 5 of 35) does not sign: 30 of 35 is more than 2/3.
    signers = sorted((_key(n) for n in ["validator-0", "validator-1", "validator-2"]), key=lambda k: k[2])
    sigs = [CommitSig(validator=addr, signature=ed25519_sign(secret, msg)) for secret, _, addr in signers]
    commit = Commit(height=header.height, round=0, block_hash=executed.block_id, signatures=sigs)
    return {
        "description": "The validator set of block.json's genesis, a vote for block 1 and its commit certificate.",
        "suite": SUITE.name,
        "validators": validators,
        "validator_set_bytes": encode(valset).hex(),
        "validators_hash": validators_hash(SUITE, valset).hex(),
        "vote": {
            "chain_id": vote.chain_id,
            "kind": vote.kind,
            "height": vote.height,
            "round": vote.round,
            "block_hash": vote.block_hash.hex(),
        },
        "vote_bytes": encode(vote).hex(),
        "vote_signing_bytes": msg.hex(),
        "commit": {
            "height": commit.height,
            "round": commit.round,
            "block_hash": commit.block_hash.hex(),
            "signatures": [{"validator": s.validator.hex(), "signature": s.signature.hex()} for s in sigs],
        },
        "commit_bytes": encode(commit).hex(),
    }


MERKLE_ITEMS = [b"", b"a", b"b", b"c", b"trellis", bytes(range(16)), b"\xff" * 40]


def merkle_vectors() -> dict[str, Any]:
    trees = []
    for n in (0, 1, 2, 3, 5, 7):
        items = MERKLE_ITEMS[:n]
        proofs = []
        for i in range(n):
            p = merkle_proof(SUITE, items, i)
            proofs.append(
                {
                    "index": p.index,
                    "size": p.size,
                    "siblings": [s.hex() for s in p.siblings],
                    "proof_bytes": encode(p).hex(),
                }
            )
        trees.append({"items": [x.hex() for x in items], "root": merkle_root(SUITE, items).hex(), "proofs": proofs})
    return {
        "description": "RFC 6962-shaped binary Merkle trees: roots of prefixes of one item list, and every proof.",
        "suite": SUITE.name,
        "trees": trees,
    }


STATE = {
    b"acct/alice": b"\x92\xcd\x27\x10\x00",
    b"acct/bob": b"\x92\x00\x00",
    b"kv/docs\x00a": b"first",
    b"kv/docs\x00b": b"",
    b"p0": b"x",
    b"p2872682": b"y",  # its key path shares 6 nibbles with p0's
}
STATE_UPDATE: dict[bytes, bytes | None] = {b"acct/bob": b"\x92\x05\x00", b"kv/docs\x00a": None, b"kv/docs\x00c": b"new"}
STATE_HEIGHT = 7


def state_tree_vectors() -> dict[str, Any]:
    mem = MemoryState()
    first = apply_updates(SUITE, mem, ZERO_HASH, STATE)
    mem.nodes.update(first.nodes)
    second = apply_updates(SUITE, mem, first.root, STATE_UPDATE)
    mem.nodes.update(second.nodes)
    final = {**STATE, **STATE_UPDATE}

    def proof_case(key: bytes) -> dict[str, Any]:
        value = final.get(key)
        proof = prove(SUITE, mem, second.root, key, STATE_HEIGHT)
        assert (value is None) == (proof.leaf is None or proof.leaf.key_path != key_path(SUITE, key))
        return {
            "key": key.hex(),
            "value": None if value is None else value.hex(),
            "proof_bytes": encode(proof).hex(),
            "proof_json": json.loads(msgspec.json.encode(proof_json(proof))),
        }

    return {
        "description": (
            "Hexary sparse Merkle state tree: key paths, value hashes, the root of a key set, the root after a batch "
            "of writes and deletes, and proofs (canonical StateProof bytes) against that root at a height."
        ),
        "suite": SUITE.name,
        "entries": [
            {
                "key": k.hex(),
                "value": v.hex(),
                "key_path": key_path(SUITE, k).hex(),
                "value_hash": value_hash(SUITE, v).hex(),
            }
            for k, v in STATE.items()
        ],
        "root": first.root.hex(),
        "update": [{"key": k.hex(), "value": None if v is None else v.hex()} for k, v in STATE_UPDATE.items()],
        "root_after_update": second.root.hex(),
        "height": STATE_HEIGHT,
        "inclusion_proofs": [proof_case(b"p0"), proof_case(b"kv/docs\x00c"), proof_case(b"kv/docs\x00b")],
        # Absent keys whose paths end: in an empty slot; in an empty slot of a one-child node 6 deep; in the leaf
        # of another key.
        "non_inclusion_proofs": [
            proof_case(b"kv/docs\x00a"),
            proof_case(b"acct/carol"),
            proof_case(b"p1039411"),
            proof_case(b"acct/nobody-3"),
        ],
        "empty_tree_root": ZERO_HASH.hex(),
    }


TAGGED = [
    (b"trellis/tx/v1", b""),
    (b"trellis/tx/v1", b"abc"),
    (b"trellis/header/v1", b"abc"),
    (b"trellis/address", bytes(32)),
    (b"trellis/merkle/leaf", b""),
    (b"trellis/merkle/node", bytes(64)),
    (b"trellis/state/key", b"acct/"),
    (b"trellis/state/value", b""),
    (b"trellis/smt/leaf", bytes(64)),
    (b"trellis/smt/node", b"\x00\x03" + bytes(64)),
    (b"trellis/validators/v1", b"\x91\x90"),
    (b"trellis/genesis/v1", b"\x90"),
    (b"", b"no domain"),
]


def tagged_hash_vectors() -> dict[str, Any]:
    return {
        "description": "tagged_hash(domain, data) = SHA-256(len(domain) as one byte || domain || data).",
        "suite": SUITE.name,
        "cases": [{"domain": d.decode(), "data": x.hex(), "digest": SUITE.tagged_hash(d, x).hex()} for d, x in TAGGED],
    }


FILES = {
    "tagged_hash.json": tagged_hash_vectors,
    "transactions.json": transactions_vectors,
    "block.json": block_vectors,
    "commit.json": commit_vectors,
    "merkle.json": merkle_vectors,
    "state_tree.json": state_tree_vectors,
    **spec_vectors.FILES,
    **light_client_vectors.FILES,
    **attestations_vectors.FILES,
    **interchain_vectors.FILES,
    **directory_vectors.FILES,
    **hub_vectors.FILES,
    **custody_vectors.FILES,
    **snapshot_vectors.FILES,
}


def render(name: str) -> str:
    """Return the text of vector file ``name``."""
    return json.dumps(FILES[name](), indent=2) + "\n"


def main() -> None:
    for name in FILES:
        (VECTOR_DIR / name).write_text(render(name))
        print(f"wrote {VECTOR_DIR / name}")


if __name__ == "__main__":
    main()
