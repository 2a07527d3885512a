"""Test vectors of the attestations module (docs/spec/attestations.md 6): its messages, its ids, and a block that
attests, refuses a stranger's revocation and revokes, with the receipts and every ``attest/`` state entry after it.

Written by ``python -m tests.vectors.generate`` together with the other files (``FILES`` below is merged into the
generator's list); deterministic (fixed seeds, RFC 8032 signatures), so running it again rewrites the same file.
"""

from __future__ import annotations

import json
from typing import Any

from tests.memory_state import MemoryState
from tests.vectors.spec_vectors import signed_payload_rows
from trellis.core.codec import encode
from trellis.core.crypto.suite import ED25519, address_of, ed25519_keypair_from_seed, ed25519_sign
from trellis.core.execution.block import build_block, genesis_tip
from trellis.core.execution.reference import genesis_writes
from trellis.core.ledger.tx import SignedTx, TxBody, signing_bytes
from trellis.core.modules.attestations.messages import Attest, RevokeAttestation
from trellis.core.modules.attestations.state import attestation_id
from trellis.core.modules.payload import Payload
from trellis.core.params import load_genesis

CHAIN_ID = "trellis-vectors"
GENESIS_TIME_MS = 1_700_000_000_000
BLOCK_TIME_MS = GENESIS_TIME_MS + 1_000
SEEDS = {
    "alice": bytes(range(0, 32)),
    "bob": bytes(range(32, 64)),
    "validator-0": bytes([0xA0]) * 32,
}


def _ed(name: str) -> tuple[bytes, bytes, bytes]:
    """(secret, public key, address) of a named Ed25519 seed."""
    secret, public = ed25519_keypair_from_seed(SEEDS[name])
    return secret, public, address_of(ED25519, public)


def _signed(name: str, nonce: int, payload: Payload) -> SignedTx:
    secret, public, _ = _ed(name)
    body = TxBody(chain_id=CHAIN_ID, sender=public, nonce=nonce, payload=payload)
    return SignedTx(body=body, signature=ed25519_sign(secret, signing_bytes(body)))


FULL = Attest(
    subject="did:web:bob.example",
    claim_type="kyc.verified",
    statement=b'{"level":2,"checked":"2023-11-14"}',
    expires_at_ms=GENESIS_TIME_MS + 365 * 86_400_000,
    attester_did="did:trellis:trellis-vectors:000102030405060708090a0b0c0d0e0f",
)
"""Every field set (the attester DID does not exist on the vector chain: this case is for encoding only)."""
MINIMAL = Attest(subject="0x" + "5e" * 32, claim_type="audit.passed")
"""A digest subject, every field with a default left at it."""


def _alice_id(nonce: int, msg: Attest) -> bytes:
    return attestation_id(ED25519, _ed("alice")[2], nonce, msg.subject, msg.claim_type)


def payload_cases() -> list[tuple[str, Payload]]:
    """(case name, payload): each message, with its fields set and left at their defaults."""
    return [
        ("attestations.attest.full", FULL),
        ("attestations.attest.minimal", MINIMAL),
        ("attestations.revoke", RevokeAttestation(id=_alice_id(0, MINIMAL))),
    ]


def _payloads() -> list[dict[str, Any]]:
    return signed_payload_rows(payload_cases(), lambda nonce, payload: _signed("alice", nonce, payload))


def _ids() -> list[dict[str, Any]]:
    rows = [
        ("alice", 0, MINIMAL.subject, MINIMAL.claim_type),
        ("alice", 1, MINIMAL.subject, MINIMAL.claim_type),
        ("bob", 0, FULL.subject, FULL.claim_type),
        ("bob", 7, "did:example:" + "x" * 244, "t" * 64),  # the longest subject and claim type
    ]
    return [
        {
            "attester": _ed(name)[2].hex(),
            "nonce": nonce,
            "subject": subject,
            "claim_type": claim_type,
            "id": attestation_id(ED25519, _ed(name)[2], nonce, subject, claim_type).hex(),
        }
        for name, nonce, subject, claim_type in rows
    ]


def genesis_json() -> str:
    doc = {
        "chain_id": CHAIN_ID,
        "genesis_time_ms": GENESIS_TIME_MS,
        "suite": ED25519.name,
        "validators": [{"name": "validator-0", "public_key": _ed("validator-0")[1].hex(), "power": 1}],
        "mint_authority": _ed("alice")[2].hex(),
    }
    return json.dumps(doc, indent=2)


def _block() -> dict[str, Any]:
    """Block 1: alice attests (with an expiry), bob's revocation of it fails NOT_OWNER, alice revokes it."""
    params = load_genesis(genesis_json().encode())
    mem = MemoryState()
    tip, tree = genesis_tip(params, mem)
    mem.nodes.update(tree.nodes)
    for key, value in genesis_writes(params).items():
        assert value is not None
        mem.state[key] = value
    attest = Attest(
        subject="did:web:bob.example",
        claim_type="employment.current",
        statement=b"employed since 2021",
        expires_at_ms=BLOCK_TIME_MS + 86_400_000,
    )
    ident = _alice_id(0, attest)
    txs = [
        _signed("alice", 0, attest),
        _signed("bob", 0, RevokeAttestation(id=ident)),
        _signed("alice", 1, RevokeAttestation(id=ident)),
    ]
    proposer = _ed("validator-0")[2]
    executed = build_block(params, mem, mem, tip, txs, [encode(t) for t in txs], BLOCK_TIME_MS, proposer)
    writes = executed.output.writes
    entries = sorted((k, v) for k, v in writes.items() if k.startswith(b"attest/") and v is not None)
    return {
        "genesis_json": genesis_json(),
        "time_ms": BLOCK_TIME_MS,
        "txs": [encode(t).hex() for t in txs],
        "receipts": [encode(r).hex() for r in executed.output.receipts],
        "receipt_codes": [r.code for r in executed.output.receipts],
        "state_root": executed.block.header.state_root.hex(),
        "attestation_id": ident.hex(),
        "state": [{"key": k.hex(), "value": v.hex()} for k, v in entries],
    }


def attestations_vectors() -> dict[str, Any]:
    _, public, address = _ed("alice")
    return {
        "description": (
            "The attestations module (docs/spec/attestations.md): each message (fields, canonical payload bytes, a "
            "transaction by `public_key` carrying it, nonce = case index, memo empty); attestation ids from "
            "(attester, nonce, subject, claim_type); and block 1 of a one-validator chain executing an attestation, "
            "a refused revocation by another sender and the attester's revocation: receipts and every attest/ "
            "state entry after the block."
        ),
        "suite": ED25519.name,
        "chain_id": CHAIN_ID,
        "seed": SEEDS["alice"].hex(),
        "public_key": public.hex(),
        "address": address.hex(),
        "cases": _payloads(),
        "ids": _ids(),
        "block": _block(),
    }


FILES = {"attestations.json": attestations_vectors}
