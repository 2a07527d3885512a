"""Test vectors of the custody module (docs/spec/custody.md 8): its messages, the segment tree of a small file
(segment hashes, root, every segment's path), round seeds and draws, and six blocks of a one-validator chain with
one member organisation: a registration, a round, an answer, a round whose challenge is missed, with the receipts,
state roots and every ``custody/`` state entry after each block.

Written by ``python -m tests.vectors.generate`` together with the other files; deterministic (fixed seeds, RFC 8032
signatures, the fixed CA of ``tests/fixtures/governance.py``), so running it again rewrites the same file.
"""

from __future__ import annotations

import json
from typing import Any

from tests.fixtures.governance import fixed_ca
from tests.memory_state import MemoryState
from tests.vectors.spec_vectors import signed_payload_rows
from trellis.core.codec import encode
from trellis.core.crypto.suite import ED25519, address_of, ed25519_keypair_from_seed, ed25519_sign
from trellis.core.execution.block import ChainTip, build_block, genesis_tip
from trellis.core.execution.reference import genesis_writes
from trellis.core.ledger.tx import SignedTx, TxBody, signing_bytes
from trellis.core.modules.custody.messages import CustodyRegister, CustodyRelease, CustodyRespond
from trellis.core.modules.custody.state import (
    PREFIX,
    challenge_id,
    pick,
    picked_index,
    picked_org,
    picked_segment,
    read_challenge,
    round_seed,
    segment_hashes,
    segment_path,
    segment_root,
)
from trellis.core.modules.membership.messages import RegisterCert
from trellis.core.modules.payload import Payload
from trellis.core.params import load_genesis

CHAIN_ID = "trellis-vectors"
GENESIS_TIME_MS = 1_700_000_000_000
SEEDS = {"alice": bytes(range(0, 32)), "validator-0": bytes([0xA0]) * 32}
FILE = bytes((i * 7 + i // 4096) & 0xFF for i in range(3 * 4096 + 100))
"""The vector file: 12,388 bytes, four segments, the last one 100 bytes."""
FILE_ID = bytes([0xF1]) * 32


def _ed(name: str) -> tuple[bytes, bytes, bytes]:
    secret, public = ed25519_keypair_from_seed(SEEDS[name])
    return secret, public, address_of(ED25519, public)


def _signed(name: str, nonce: int, payload: Payload) -> SignedTx:
    secret, public, _ = _ed(name)
    body = TxBody(chain_id=CHAIN_ID, sender=public, nonce=nonce, payload=payload)
    return SignedTx(body=body, signature=ed25519_sign(secret, signing_bytes(body)))


def _register() -> CustodyRegister:
    hashes = segment_hashes(ED25519, FILE)
    return CustodyRegister(
        file_id=FILE_ID, size=len(FILE), segment_root=segment_root(ED25519, hashes), segment_count=len(hashes)
    )


def _answer(cid: bytes, index: int) -> CustodyRespond:
    hashes = segment_hashes(ED25519, FILE)
    return CustodyRespond(
        challenge_id=cid, segment=FILE[index * 4096 : (index + 1) * 4096], path=segment_path(ED25519, hashes, index)
    )


def payload_cases() -> list[tuple[str, Payload]]:
    """(case name, payload): each message."""
    return [
        ("custody.register", _register()),
        ("custody.respond", _answer(challenge_id(2, 0), 1)),
        ("custody.respond.last_segment", _answer(challenge_id(2, 1), 3)),
        ("custody.release", CustodyRelease(file_id=FILE_ID)),
    ]


def _tree() -> dict[str, Any]:
    hashes = segment_hashes(ED25519, FILE)
    return {
        "file": FILE.hex(),
        "segment_hashes": [x.hex() for x in hashes],
        "segment_root": segment_root(ED25519, hashes).hex(),
        "paths": [[s.hex() for s in segment_path(ED25519, hashes, i)] for i in range(len(hashes))],
    }


def _draws() -> list[dict[str, Any]]:
    rows = []
    for parent, height, orgs, files, segments in (
        (bytes(32), 10, 1, 1, 1),
        (bytes(range(32)), 100, 3, 7, 4),
        (bytes([0xFF]) * 32, 2**40, 64, 1000, 2**30),
    ):
        seed = round_seed(ED25519, parent, height)
        for k in range(3):
            drawn = pick(ED25519, seed, k)
            rows.append(
                {
                    "parent_id": parent.hex(),
                    "height": height,
                    "seed": seed.hex(),
                    "number": k,
                    "pick": drawn.hex(),
                    "orgs": orgs,
                    "org_index": picked_org(drawn, orgs),
                    "files": files,
                    "index": picked_index(drawn, files),
                    "segment_count": segments,
                    "segment": picked_segment(drawn, segments),
                    "challenge_id": challenge_id(height, k).hex(),
                }
            )
    return rows


def genesis_json() -> str:
    doc = {
        "chain_id": CHAIN_ID,
        "genesis_time_ms": GENESIS_TIME_MS,
        "suite": ED25519.name,
        "validators": [{"name": "validator-0", "public_key": _ed("validator-0")[1].hex(), "power": 1}],
        "mint_authority": _ed("alice")[2].hex(),
        "orgs": [{"name": "org1", "ca_cert": fixed_ca("org1").pem}],
        "custody": {
            "challenge_interval": 2,
            "challenges_per_round": 1,
            "response_window_blocks": 1,
            "keep_closed_blocks": 1000,
        },
    }
    return json.dumps(doc, indent=2)


def _blocks() -> list[dict[str, Any]]:
    """Blocks 1-6: alice registers her org1 certificate and the file (1); a round opens challenge (2, 0) (2); alice
    answers it (3); a round opens (4, 0) (4); nobody answers (5); block 6 passes its deadline (5) and records it
    missed, and opens round 6."""
    params = load_genesis(genesis_json().encode())
    mem = MemoryState()
    tip, tree = genesis_tip(params, mem)
    mem.nodes.update(tree.nodes)
    for key, value in genesis_writes(params).items():
        assert value is not None
        mem.state[key] = value
    cert = fixed_ca("org1").issue(_ed("alice")[1], "client", "alice")
    proposer = _ed("validator-0")[2]
    out = []
    nonce = 0
    for height in range(1, 7):
        txs: list[SignedTx] = []
        if height == 1:
            txs = [_signed("alice", 0, RegisterCert(cert=cert)), _signed("alice", 1, _register())]
            nonce = 2
        elif height == 3:
            ch = read_challenge(mem, challenge_id(2, 0))
            assert ch is not None
            txs = [_signed("alice", nonce, _answer(ch.id, ch.segment_index))]
            nonce += 1
        time_ms = GENESIS_TIME_MS + 1000 * height
        executed = build_block(params, mem, mem, tip, txs, [encode(t) for t in txs], time_ms, proposer)
        for k, v in executed.output.writes.items():
            if v is None:
                mem.state.pop(k, None)
            else:
                mem.state[k] = v
        mem.nodes.update(executed.tree.nodes)
        out.append(
            {
                "height": height,
                "time_ms": time_ms,
                "parent_id": tip.block_id.hex(),
                "txs": [encode(t).hex() for t in txs],
                "receipts": [encode(r).hex() for r in executed.output.receipts],
                "receipt_codes": [r.code for r in executed.output.receipts],
                "state_root": executed.block.header.state_root.hex(),
                "custody_state": [
                    {"key": k.hex(), "value": v.hex()} for k, v in sorted(mem.state.items()) if k.startswith(PREFIX)
                ],
            }
        )
        h = executed.block.header
        tip = ChainTip(height=h.height, time_ms=h.time_ms, block_id=executed.block_id, state_root=h.state_root)
    return out


def custody_vectors() -> dict[str, Any]:
    _, public, address = _ed("alice")
    return {
        "description": (
            "The custody module (docs/spec/custody.md): each message (fields, canonical payload bytes, a transaction "
            "by `public_key` carrying it, nonce = case index, memo empty); the segment tree of `tree.file` (4 KiB "
            "segments); round seeds, draws and challenge ids; and blocks 1-6 of a one-validator chain (genesis "
            "`genesis_json`): a registration, a round, an answer, a round whose challenge is missed, with the "
            "receipts, state roots and every custody/ state entry after each block."
        ),
        "suite": ED25519.name,
        "chain_id": CHAIN_ID,
        "seed": SEEDS["alice"].hex(),
        "public_key": public.hex(),
        "address": address.hex(),
        "cases": signed_payload_rows(payload_cases(), lambda nonce, payload: _signed("alice", nonce, payload)),
        "tree": _tree(),
        "draws": _draws(),
        "genesis_json": genesis_json(),
        "blocks": _blocks(),
    }


FILES = {"custody.json": custody_vectors}
