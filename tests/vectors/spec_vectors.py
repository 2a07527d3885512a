"""Test vectors for the parts of docs/spec that the first vector files did not pin: every transaction payload tag,
the genesis document and its hash, receipts with gas and return data, the ``sm`` suite (SM2, SM3, SM4-GCM) and
the RFC 3161 serial-number rule.

Written by ``python -m tests.vectors.generate`` together with the other files (``FILES`` below is merged into
the generator's list); deterministic, so running it again rewrites identical files. SM2 signatures normally draw
a random nonce ``k``; the vectors use a ``k`` derived from the key and the message (section 3.3 of
docs/spec/crypto-suites.md explains that any ``k`` gives a valid signature, so a verifier does not care).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import msgspec
from asn1crypto import cms, core, tsp
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import NameOID

from trellis.api.types import receipt_json
from trellis.core.codec import encode
from trellis.core.crypto.aead import aead_seal
from trellis.core.crypto.sm import SM2_USER_ID, sm2_digest, sm2_keypair_from_secret, sm2_verify, sm2_za, sm3
from trellis.core.crypto.suite import ED25519, SM, address_of, ed25519_keypair_from_seed, ed25519_sign
from trellis.core.ledger.block import Event, Receipt, validators_hash
from trellis.core.ledger.tx import SignedTx, TxBody, signing_bytes, tx_hash
from trellis.core.ledger.votes import (
    PREVOTE,
    DuplicateProposalEvidence,
    DuplicateVoteEvidence,
    Proposal,
    SignedProposalHeader,
    SignedVote,
    Vote,
    proposal_signing_bytes,
    vote_signing_bytes,
)
from trellis.core.modules.accounts.messages import Mint, Transfer
from trellis.core.modules.contracts.messages import ContractCall, ContractDeploy, ContractUpgrade
from trellis.core.modules.credentials.messages import SetIssuer, StatusCreate, StatusSet
from trellis.core.modules.evidence.messages import SubmitEvidence
from trellis.core.modules.identity.messages import (
    DidCreate,
    DidDeactivate,
    DidDocument,
    DidService,
    DidUpdate,
    DidVerificationMethod,
)
from trellis.core.modules.kv.messages import KvDelete, KvPut
from trellis.core.modules.membership.messages import (
    AddCa,
    AddOrg,
    ApproveMembership,
    ProposeMembership,
    RegisterCert,
    RemoveCa,
    RemoveOrg,
    RevokeCert,
    SetThreshold,
)
from trellis.core.modules.notary.messages import NotaryAnchor
from trellis.core.modules.payload import Payload
from trellis.core.modules.validators.messages import AddValidator, RemoveValidator, SetValidatorPower
from trellis.core.params import load_genesis
from trellis.notary.tsa import TsaIdentity, build_response, parse_request

CHAIN_ID = "trellis-vectors"
SM_CHAIN_ID = "trellis-sm-vectors"
GENESIS_TIME_MS = 1_700_000_000_000

SEEDS = {
    "alice": bytes(range(0, 32)),
    "bob": bytes(range(32, 64)),
    "mint": bytes(range(96, 128)),
    "validator-0": bytes([0xA0]) * 32,
    "validator-1": bytes([0xA1]) * 32,
    "org-ca": bytes([0xC0]) * 32,
}


def _ed(name: str) -> tuple[bytes, bytes, bytes]:
    """(secret, public key, address) of a named Ed25519 seed."""
    secret, public = ed25519_keypair_from_seed(SEEDS[name])
    return secret, public, address_of(ED25519, public)


def signed_payload_rows(cases: list[tuple[str, Payload]], sign: Any) -> list[dict[str, Any]]:
    """The vector rows of ``(name, payload)`` cases, each carried by a transaction ``sign(nonce, payload)`` makes
    (nonce = case index): the payload's fields and bytes, the body, signature, transaction bytes and hash."""
    rows = []
    for nonce, (name, payload) in enumerate(cases):
        tx = sign(nonce, payload)
        raw = encode(tx)
        rows.append(
            {
                "name": name,
                "payload": to_json(payload),
                "payload_bytes": encode(payload).hex(),
                "nonce": nonce,
                "body_bytes": encode(tx.body).hex(),
                "signature": tx.signature.hex(),
                "tx_bytes": raw.hex(),
                "tx_hash": tx_hash(ED25519, raw).hex(),
            }
        )
    return rows


def to_json(value: Any) -> Any:
    """A consensus value as JSON: a struct as an object of its fields in order (a union member's ``tag`` first),
    bytes as lower-case hex, lists and tuples as arrays, ``None`` as null."""
    if isinstance(value, msgspec.Struct):
        out: dict[str, Any] = {}
        tag = type(value).__struct_config__.tag
        if tag is not None:
            out["tag"] = tag
        for field in type(value).__struct_fields__:
            out[field] = to_json(getattr(value, field))
        return out
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    return value


# --- a deterministic organisation CA (Ed25519 signatures are deterministic) --------------------------------


def org_ca_pem() -> str:
    """A self-signed Ed25519 CA certificate with fixed key, serial and dates (the same bytes on every run)."""
    key = ed25519.Ed25519PrivateKey.from_private_bytes(SEEDS["org-ca"])
    name = x509.Name(
        [x509.NameAttribute(NameOID.ORGANIZATION_NAME, "acme"), x509.NameAttribute(NameOID.COMMON_NAME, "acme CA")]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(0x7E11)
        .not_valid_before(datetime(2026, 1, 1, tzinfo=UTC))
        .not_valid_after(datetime(2036, 1, 1, tzinfo=UTC))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(key, None)
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def org_ca_der() -> bytes:
    """The DER bytes of ``org_ca_pem``."""
    return x509.load_pem_x509_certificate(org_ca_pem().encode()).public_bytes(serialization.Encoding.DER)


# --- payloads.json ------------------------------------------------------------------------------------------


def _signed_vote(name: str, block_hash: bytes) -> SignedVote:
    secret, _, addr = _ed(name)
    vote = Vote(chain_id=CHAIN_ID, kind=PREVOTE, height=9, round=1, block_hash=block_hash)
    return SignedVote(vote=vote, validator=addr, signature=ed25519_sign(secret, vote_signing_bytes(vote)))


def _signed_proposal(name: str, pol_round: int, block_hash: bytes) -> SignedProposalHeader:
    secret, _, addr = _ed(name)
    p = Proposal(chain_id=CHAIN_ID, height=9, round=2, pol_round=pol_round, block_hash=block_hash)
    return SignedProposalHeader(proposal=p, proposer=addr, signature=ed25519_sign(secret, proposal_signing_bytes(p)))


def _document() -> DidDocument:
    _, alice_pk, _ = _ed("alice")
    _, bob_pk, _ = _ed("bob")
    return DidDocument(
        verification_methods=[
            DidVerificationMethod(id="key-1", type="Ed25519VerificationKey2020", public_key=alice_pk),
            DidVerificationMethod(
                id="key-2",
                type="Multikey",
                public_key=bob_pk,
                controller="did:trellis:trellis-vectors:00112233445566778899aabbccddeeff",
            ),
        ],
        authentication=["key-1"],
        assertion_method=["key-1", "key-2"],
        services=[DidService(id="web", type="LinkedDomains", endpoint="https://example.com")],
        controllers=["did:trellis:trellis-vectors:00112233445566778899aabbccddeeff"],
    )


def payload_cases() -> list[tuple[str, Payload]]:
    """(case name, payload): every member of the ``Payload`` union at least once (and every member of the nested
    ``MembershipChange`` and ``Evidence`` unions), with optional fields both set and left at their defaults."""
    bob = _ed("bob")[2]
    contract = bytes.fromhex("c0" * 20)
    wasm = b"\x00asm\x01\x00\x00\x00"
    ca = org_ca_der()
    did = "did:trellis:trellis-vectors:00112233445566778899aabbccddeeff"
    return [
        ("accounts.transfer", Transfer(to=bob, amount=250)),
        ("accounts.mint", Mint(to=bob, amount=2**64 - 1)),
        ("kv.put", KvPut(namespace="docs", key=b"contract-42", value=b"sha256:abc")),
        ("kv.put.empty_value", KvPut(namespace="a.b_c-D", key=b"\x00", value=b"")),
        ("kv.delete", KvDelete(namespace="docs", key=b"contract-42")),
        (
            "evidence.submit.duplicate_vote",
            SubmitEvidence(
                evidence=DuplicateVoteEvidence(
                    a=_signed_vote("validator-0", b"\x01" * 32), b=_signed_vote("validator-0", b"\x02" * 32)
                )
            ),
        ),
        (
            "evidence.submit.duplicate_proposal",
            SubmitEvidence(
                evidence=DuplicateProposalEvidence(
                    a=_signed_proposal("validator-1", -1, b"\x03" * 32),
                    b=_signed_proposal("validator-1", 1, b"\x04" * 32),
                )
            ),
        ),
        ("contracts.deploy", ContractDeploy(code=wasm, args=b"\x01\x02", admin=bob, gas_limit=5_000_000)),
        ("contracts.deploy.defaults", ContractDeploy(code=wasm)),
        ("contracts.call", ContractCall(contract=contract, method="transfer", args=b"\xaa" * 3, gas_limit=70_000)),
        ("contracts.call.defaults", ContractCall(contract=contract, method="total_supply")),
        ("contracts.upgrade", ContractUpgrade(contract=contract, code=wasm + b"\x00", gas_limit=12_345)),
        ("membership.register_cert", RegisterCert(cert=ca)),
        ("membership.propose.add_org", ProposeMembership(change=AddOrg(name="globex", ca_certs=[ca]))),
        ("membership.propose.remove_org", ProposeMembership(change=RemoveOrg(name="globex"))),
        ("membership.propose.add_ca", ProposeMembership(change=AddCa(org="acme", ca_cert=ca))),
        ("membership.propose.remove_ca", ProposeMembership(change=RemoveCa(org="acme", fingerprint=b"\x5a" * 32))),
        ("membership.propose.set_threshold", ProposeMembership(change=SetThreshold(threshold=2))),
        (
            "membership.propose.validators.add",
            ProposeMembership(
                change=AddValidator(public_key=_ed("validator-1")[1], power=10, name="validator-1", org="acme")
            ),
        ),
        ("membership.propose.validators.remove", ProposeMembership(change=RemoveValidator(address=bob))),
        (
            "membership.propose.validators.set_power",
            ProposeMembership(change=SetValidatorPower(address=bob, power=2**40)),
        ),
        ("membership.approve", ApproveMembership(proposal_id=7)),
        ("membership.revoke", RevokeCert(serial=b"\x01\x00\xff")),
        ("identity.did_create", DidCreate(document=_document(), id=bytes(range(16)))),
        (
            "identity.did_create.derived_id",
            DidCreate(
                document=DidDocument(
                    verification_methods=[
                        DidVerificationMethod(id="key-1", type="Ed25519VerificationKey2020", public_key=_ed("alice")[1])
                    ],
                    authentication=["key-1"],
                )
            ),
        ),
        ("identity.did_update", DidUpdate(did=did, document=_document())),
        ("identity.did_deactivate", DidDeactivate(did=did)),
        (
            "credentials.set_issuer",
            SetIssuer(did="did:key:z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ2", types=["Degree"], controller=bob),
        ),
        ("credentials.set_issuer.remove", SetIssuer(did=did, types=[], controller=bob)),
        ("credentials.status_create", StatusCreate(list_id="list-1", size=131_072, purpose="revocation", issuer=did)),
        ("credentials.status_set", StatusSet(list_id="list-1", set_indexes=[0, 5, 131_071], clear_indexes=[3])),
        ("credentials.status_set.defaults", StatusSet(list_id="list-1")),
        (
            "notary.anchor",
            NotaryAnchor(digests=[b"\x11" * 32, b"\x22" * 32], record_type="invoice", owner=did, ref="case-7"),
        ),
        ("notary.anchor.defaults", NotaryAnchor(digests=[b"\x33" * 32])),
    ]


def payloads_vectors() -> dict[str, Any]:
    """Every payload tag: its fields, the payload's own encoding and a signed transaction carrying it."""
    secret, public, address = _ed("alice")
    cases = []
    for nonce, (name, payload) in enumerate(payload_cases()):
        body = TxBody(chain_id=CHAIN_ID, sender=public, nonce=nonce, payload=payload)
        tx = SignedTx(body=body, signature=ed25519_sign(secret, signing_bytes(body)))
        raw = encode(tx)
        cases.append(
            {
                "name": name,
                "payload": to_json(payload),
                "payload_bytes": encode(payload).hex(),
                "nonce": nonce,
                "body_bytes": encode(body).hex(),
                "signature": tx.signature.hex(),
                "tx_bytes": raw.hex(),
                "tx_hash": tx_hash(ED25519, raw).hex(),
            }
        )
    return {
        "description": (
            "Every Payload tag (docs/spec/encoding.md 2.1): fields, canonical payload bytes, and a transaction by "
            "`public_key` carrying it (memo empty, nonce = case index). Encoding vectors only: they are not "
            "meant to execute successfully."
        ),
        "suite": ED25519.name,
        "chain_id": CHAIN_ID,
        "seed": SEEDS["alice"].hex(),
        "public_key": public.hex(),
        "address": address.hex(),
        "cases": cases,
    }


# --- genesis_hash.json -------------------------------------------------------------------------------------------


def genesis_documents() -> list[tuple[str, dict[str, Any]]]:
    """(case name, genesis document): one with only the required keys, one with every key set."""
    v0, v1 = _ed("validator-0")[1], _ed("validator-1")[1]
    minimal = {
        "chain_id": "genesis-minimal",
        "genesis_time_ms": GENESIS_TIME_MS,
        "validators": [{"name": "validator-0", "public_key": v0.hex()}],
        "mint_authority": _ed("mint")[2].hex(),
    }
    full = {
        "chain_id": "genesis-full",
        "genesis_time_ms": GENESIS_TIME_MS,
        "suite": "ed25519",
        "validators": [
            {"name": "validator-1", "public_key": v1.hex(), "power": 3},
            {"name": "validator-0", "public_key": v0.hex(), "power": 1},
        ],
        "mint_authority": _ed("mint")[2].hex(),
        "accounts": [
            {"address": _ed("alice")[2].hex(), "balance": 10_000},
            {"address": _ed("bob")[2].hex(), "balance": 0},
        ],
        "limits": {"max_tx_bytes": 16_384, "max_block_txs": 5_000, "max_block_bytes": 8_388_608},
        "orgs": [{"name": "acme", "ca_cert": org_ca_pem()}],
        "contracts": {
            "governance": _ed("bob")[2].hex(),
            "gas_price": 1,
            "max_code_bytes": 32_768,
            "max_block_gas": 1_000_000_000,
            "max_memory_pages": 8,
            "max_call_depth": 4,
        },
        "membership": {"enforce": True, "admin_threshold": 1},
    }
    partial = {
        "chain_id": "genesis-partial",
        "genesis_time_ms": GENESIS_TIME_MS,
        "validators": [{"name": "validator-0", "public_key": v0.hex(), "power": 2}],
        "mint_authority": _ed("mint")[2].hex(),
        "limits": {"max_tx_bytes": 4_096},
        "contracts": {"gas_price": 5},
    }
    bench = {**minimal, "chain_id": "genesis-bench", "bench_network": True}
    return [("minimal", minimal), ("full", full), ("partial", partial), ("bench_network", bench)]


def genesis_vectors() -> dict[str, Any]:
    """Genesis documents, the canonical map that is hashed (every default filled in) and the genesis hash."""
    cases = []
    for name, doc in genesis_documents():
        text = json.dumps(doc, indent=2)
        params = load_genesis(text.encode())
        canonical = encode(params.genesis)
        cases.append(
            {
                "name": name,
                "genesis_json": text,
                "canonical_bytes": canonical.hex(),
                "genesis_hash": params.genesis_hash.hex(),
                "validator_set_bytes": encode(params.validators).hex(),
                "validators_hash": validators_hash(params.suite, params.validators).hex(),
            }
        )
    return {
        "description": (
            "Genesis documents (docs/spec/encoding.md 2.9): `canonical_bytes` is the msgpack map with every "
            "default filled in, `genesis_hash` = tagged_hash('trellis/genesis/v1', canonical_bytes); the "
            "validator set derived from it (sorted by address) and its hash."
        ),
        "suite": ED25519.name,
        "cases": cases,
    }


# --- block_receipts.json ------------------------------------------------------------------------------------------


def receipt_cases() -> list[tuple[str, Receipt]]:
    """(case name, receipt): success with events, a failure, and the two optional trailing fields set."""
    alice, bob = _ed("alice")[2], _ed("bob")[2]
    contract = bytes.fromhex("c0" * 20)
    return [
        (
            "transfer",
            Receipt(
                tx_hash=b"\x10" * 32,
                code=0,
                message="",
                events=[Event(type="transfer", attributes=[("from", alice), ("to", bob), ("amount", b"250")])],
            ),
        ),
        ("failed", Receipt(tx_hash=b"\x11" * 32, code=1, message="balance 0 is less than 1000", events=[])),
        (
            "contracts.deploy",
            Receipt(
                tx_hash=b"\x12" * 32,
                code=0,
                message="",
                events=[
                    Event(type="contracts.deployed", attributes=[("contract", contract), ("code_hash", b"\x44" * 32)])
                ],
                gas_used=71_234,
                data=contract,
            ),
        ),
        (
            "contracts.call.out_of_gas",
            Receipt(tx_hash=b"\x13" * 32, code=10, message="out of gas", events=[], gas_used=70_000),
        ),
    ]


def receipts_vectors() -> dict[str, Any]:
    """Block receipts (the leaves of ``results_root``): fields, canonical bytes and the API's JSON form."""
    return {
        "description": (
            "Block receipts (docs/spec/encoding.md 2.3): all six fields, canonical bytes, and the JSON form the "
            "REST API serves (docs/spec/api-json.md)."
        ),
        "suite": ED25519.name,
        "cases": [
            {
                "name": name,
                "receipt": to_json(r),
                "receipt_bytes": encode(r).hex(),
                "api_json": json.loads(msgspec.json.encode(receipt_json(r))),
            }
            for name, r in receipt_cases()
        ],
    }


# --- sm_suite.json ------------------------------------------------------------------------------------------

# The recommended curve of GB/T 32918.5 (the same numbers as trellis/core/crypto/sm.py; kept here to sign
# vectors with a chosen k, which OpenSSL does not offer).
_P = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFF
_A = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC
_N = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123
_G = (
    0x32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7,
    0xBC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0,
)
Point = tuple[int, int] | None


def _ec_add(p: Point, q: Point) -> Point:
    if p is None:
        return q
    if q is None:
        return p
    if p[0] == q[0] and (p[1] + q[1]) % _P == 0:
        return None
    if p == q:
        lam = (3 * p[0] * p[0] + _A) * pow(2 * p[1], -1, _P) % _P
    else:
        lam = (q[1] - p[1]) * pow(q[0] - p[0], -1, _P) % _P
    x = (lam * lam - p[0] - q[0]) % _P
    return x, (lam * (p[0] - x) - p[1]) % _P


def _ec_mul(k: int, p: Point) -> Point:
    out: Point = None
    while k:
        if k & 1:
            out = _ec_add(out, p)
        p = _ec_add(p, p)
        k >>= 1
    return out


def sm2_sign_with_k(secret: bytes, public_key: bytes, message: bytes, k: int) -> bytes:
    """GB/T 32918.2 signing with a given nonce ``k``: ``r = (e + x1) mod n``, ``s = (1 + d)^-1 (k - r d) mod n``."""
    d = int.from_bytes(secret, "big")
    e = int.from_bytes(sm2_digest(public_key, message), "big")
    point = _ec_mul(k, _G)
    assert point is not None
    r = (e + point[0]) % _N
    s = pow(1 + d, -1, _N) * (k - r * d) % _N
    assert r != 0 and r + k != _N and s != 0
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def _vector_k(secret: bytes, message: bytes) -> int:
    return int.from_bytes(SM.tagged_hash(b"trellis/vectors/sm2-k", secret + message), "big") % (_N - 1) + 1


# GB/T 32918.2-2016 / GM/T 0003.2 Annex A example on the recommended curve (the key and k of the standard).
SM2_STANDARD = {
    "secret": "3945208f7b2144b13f36e38ac6d39f95889393692860b51a42fb81ef4df7c5b8",
    "message": b"message digest".hex(),
    "k": "59276e27d506861a16680f3ad9c02dccef3cc1fa3cdbe4ce6d54b80deac1bc21",
    "r": "f5a03b0648d2c4630eeac513e1bb81a15944da3827d5b74143ac7eaceee720b3",
    "s": "b1b6aa29df212fd8763182bc0d421ca1bb9038fd1f7f42d4840b69c485bbc1aa",
}
SM_SECRETS = {
    "sm-alice": bytes([0x5A]) * 32,
    "sm-validator-0": bytes([0x51]) * 32,
    "sm-validator-1": bytes([0x52]) * 32,
}
# RFC 8998 Appendix A.1 (SM4-GCM).
SM4_GCM_RFC8998 = {
    "key": "0123456789abcdeffedcba9876543210",
    "nonce": "00001234567800000000abcd",
    "aad": "feedfacedeadbeeffeedfacedeadbeefabaddad2",
    "plaintext": "aaaaaaaaaaaaaaaabbbbbbbbbbbbbbbbccccccccccccccccddddddddddddddddeeeeeeeeeeeeeeeeffffffffffffffff"
    "eeeeeeeeeeeeeeeeaaaaaaaaaaaaaaaa",
    "ciphertext": "17f399f08c67d5ee19d0dc9969c4bb7d5fd46fd3756489069157b282bb200735d82710ca5c22f0ccfa7cbf93d496ac15"
    "a56834cbcf98c397b4024a2691233b8d",
    "tag": "83de3541e4c2b58177e065a9bf7b62ec",
}


def _sm_key(secret: bytes) -> dict[str, Any]:
    _, public = sm2_keypair_from_secret(secret)
    return {"secret": secret.hex(), "public_key": public.hex(), "address": address_of(SM, public).hex()}


def _sm_signed(secret: bytes, public: bytes, message: bytes) -> bytes:
    sig = sm2_sign_with_k(secret, public, message, _vector_k(secret, message))
    assert sm2_verify(public, message, sig)
    return sig


def sm_suite_vectors() -> dict[str, Any]:
    """SM3 digests, SM3 tagged hashes, SM2 keys, Z_A, signatures, an sm-chain transaction, genesis and SM4-GCM."""
    std_secret = bytes.fromhex(SM2_STANDARD["secret"])
    _, std_public = sm2_keypair_from_secret(std_secret)
    std_msg = bytes.fromhex(SM2_STANDARD["message"])
    std_sig = sm2_sign_with_k(std_secret, std_public, std_msg, int(SM2_STANDARD["k"], 16))
    assert std_sig.hex() == SM2_STANDARD["r"] + SM2_STANDARD["s"], "the SM2 example of GB/T 32918 does not reproduce"
    assert sm2_verify(std_public, std_msg, std_sig)

    secret = SM_SECRETS["sm-alice"]
    _, public = sm2_keypair_from_secret(secret)
    _, v1_public = sm2_keypair_from_secret(SM_SECRETS["sm-validator-1"])
    body = TxBody(
        chain_id=SM_CHAIN_ID,
        sender=public,
        nonce=0,
        payload=Transfer(to=address_of(SM, v1_public), amount=250),
        memo="sm",
    )
    sig = _sm_signed(secret, public, signing_bytes(body))
    raw = encode(SignedTx(body=body, signature=sig))

    genesis = {
        "chain_id": SM_CHAIN_ID,
        "genesis_time_ms": GENESIS_TIME_MS,
        "suite": "sm",
        "validators": [
            {"name": n, "public_key": sm2_keypair_from_secret(SM_SECRETS[n])[1].hex(), "power": 1}
            for n in ("sm-validator-0", "sm-validator-1")
        ],
        "mint_authority": address_of(SM, public).hex(),
    }
    genesis_text = json.dumps(genesis, indent=2)
    params = load_genesis(genesis_text.encode())

    sm4 = SM4_GCM_RFC8998
    sealed = aead_seal(
        "sm",
        bytes.fromhex(sm4["key"]),
        bytes.fromhex(sm4["nonce"]),
        bytes.fromhex(sm4["plaintext"]),
        bytes.fromhex(sm4["aad"]),
    )
    assert sealed.hex() == sm4["ciphertext"] + sm4["tag"], "the SM4-GCM example of RFC 8998 does not reproduce"
    own_key, own_nonce, own_plain, own_aad = bytes(range(16)), bytes(range(12)), b"trellis sm4-gcm", b"aad"
    aes_key = bytes(range(32))

    def tagged(domain: bytes, data: bytes) -> dict[str, str]:
        return {"domain": domain.decode(), "data": data.hex(), "digest": SM.tagged_hash(domain, data).hex()}

    return {
        "description": (
            "The `sm` suite (docs/spec/crypto-suites.md): SM3, tagged hashes over SM3, SM2 keys and addresses, "
            "Z_A with the standard user id, the GB/T 32918 signature example, a transfer on an sm chain, an sm "
            "genesis, SM4-GCM (RFC 8998 A.1 and one of ours) and the ed25519 suite's AES-256-GCM."
        ),
        "suite": SM.name,
        "sm3": [
            {"data": b"".hex(), "digest": sm3(b"").hex()},
            {"data": b"abc".hex(), "digest": sm3(b"abc").hex()},
            {"data": (b"abcd" * 16).hex(), "digest": sm3(b"abcd" * 16).hex()},
        ],
        "tagged_hash": [
            tagged(b"trellis/tx/v1", b"abc"),
            tagged(b"trellis/address", public),
            tagged(b"trellis/merkle/leaf", b""),
        ],
        "user_id": SM2_USER_ID.decode(),
        "standard_example": {
            **SM2_STANDARD,
            "public_key": std_public.hex(),
            "za": sm2_za(std_public).hex(),
            "e": sm2_digest(std_public, std_msg).hex(),
            "signature": std_sig.hex(),
        },
        "keys": [_sm_key(s) for s in SM_SECRETS.values()],
        "transaction": {
            "secret": secret.hex(),
            "public_key": public.hex(),
            "address": address_of(SM, public).hex(),
            "body": to_json(body),
            "body_bytes": encode(body).hex(),
            "signing_bytes": signing_bytes(body).hex(),
            "za": sm2_za(public).hex(),
            "e": sm2_digest(public, signing_bytes(body)).hex(),
            "signature": sig.hex(),
            "tx_bytes": raw.hex(),
            "tx_hash": tx_hash(SM, raw).hex(),
        },
        "genesis": {
            "genesis_json": genesis_text,
            "canonical_bytes": encode(params.genesis).hex(),
            "genesis_hash": params.genesis_hash.hex(),
            "validator_set_bytes": encode(params.validators).hex(),
            "validators_hash": validators_hash(params.suite, params.validators).hex(),
        },
        "aead": [
            {"suite": "sm", "algorithm": "SM4-GCM", **sm4, "sealed": sealed.hex()},
            {
                "suite": "sm",
                "algorithm": "SM4-GCM",
                "key": own_key.hex(),
                "nonce": own_nonce.hex(),
                "aad": own_aad.hex(),
                "plaintext": own_plain.hex(),
                "sealed": aead_seal("sm", own_key, own_nonce, own_plain, own_aad).hex(),
            },
            {
                "suite": "ed25519",
                "algorithm": "AES-256-GCM",
                "key": aes_key.hex(),
                "nonce": own_nonce.hex(),
                "aad": own_aad.hex(),
                "plaintext": own_plain.hex(),
                "sealed": aead_seal("ed25519", aes_key, own_nonce, own_plain, own_aad).hex(),
            },
        ],
    }


# --- tsa_serial.json ----------------------------------------------------------------------------------------


def _tsa_identity() -> TsaIdentity:
    """A P-256 TSA key from a fixed scalar and a self-signed certificate (its ECDSA signature varies between runs,
    but nothing in the vectors depends on it)."""
    key = ec.derive_private_key(0x7E5A, ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "tsa")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(datetime(2026, 1, 1, tzinfo=UTC))
        .not_valid_after(datetime(2036, 1, 1, tzinfo=UTC))
        .sign(key, hashes.SHA256())
    )
    return TsaIdentity(key=key, cert_der=cert.public_bytes(serialization.Encoding.DER))


def _request(digest: bytes, nonce: int | None) -> bytes:
    req: dict[str, Any] = {
        "version": "v1",
        "message_imprint": {"hash_algorithm": {"algorithm": "sha256"}, "hashed_message": digest},
        "cert_req": False,
    }
    if nonce is not None:
        req["nonce"] = nonce
    return bytes(tsp.TimeStampReq(req).dump())


def tsa_serial_vectors() -> dict[str, Any]:
    """The TSTInfo ``serialNumber`` and receipt-reference extension of tokens built by the TSA."""
    identity = _tsa_identity()
    digest = bytes.fromhex("9f" * 32)
    ref_full: dict[str, object] = {
        "chain_id": CHAIN_ID,
        "genesis_hash": "0x" + "ab" * 32,
        "height": 12,
        "digest": "0x" + digest.hex(),
        "receipt": f"/v1/notary/receipts/0x{digest.hex()}",
        "tx": "0x" + "cd" * 32,
    }
    ref_no_tx = {k: v for k, v in ref_full.items() if k != "tx"}
    cases = []
    for name, ref, nonce in [
        ("with_nonce", ref_full, 0x1234_5678_9ABC_DEF0),
        ("without_nonce", ref_full, None),
        ("without_tx", ref_no_tx, 7),
    ]:
        req = parse_request(_request(digest, nonce), "sha-256")
        resp = tsp.TimeStampResp.load(build_response(req, identity, time_ms=1_700_000_001_234, reference=ref))
        content = resp["time_stamp_token"]["content"]
        assert isinstance(content, cms.SignedData)
        tst = content["encap_content_info"]["content"].parsed
        ext = tst["extensions"][0]
        cases.append(
            {
                "name": name,
                "reference": ref,
                "nonce": None if nonce is None else str(nonce),
                "reference_json": core.UTF8String.load(ext["extn_value"].native).native,
                "serial_number": str(tst["serial_number"].native),
                "gen_time": tst["gen_time"].native.isoformat(timespec="milliseconds"),
            }
        )
    return {
        "description": (
            "RFC 3161 tokens (docs/spec/receipt.md 6): the receipt reference JSON of extension "
            "1.3.6.1.4.1.59999.8.2 and serialNumber = the first 15 bytes of SHA-256(reference_json || decimal "
            "nonce) as an unsigned big-endian integer (decimal strings here: they exceed 2^53). genTime of block "
            "time 1700000001234 ms."
        ),
        "cases": cases,
    }


FILES = {
    "payloads.json": payloads_vectors,
    "genesis_hash.json": genesis_vectors,
    "block_receipts.json": receipts_vectors,
    "sm_suite.json": sm_suite_vectors,
    "tsa_serial.json": tsa_serial_vectors,
}
