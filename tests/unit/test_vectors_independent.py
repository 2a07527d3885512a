"""Every file in tests/vectors/, checked by a clean-room reader of docs/spec/ that shares no code with Trellis.

Nothing here imports ``trellis``: msgpack is decoded with the ``msgpack`` package from PyPI, hashes come from
``hashlib`` (SM3 from ``cryptography`` where hashlib lacks it), Ed25519, AES-GCM and SM4-GCM from
``cryptography``, and SM2 is a few lines of curve arithmetic written from GB/T 32918.2. The struct layouts below
(``STRUCTS``, ``UNIONS``) are the tables of docs/spec/encoding.md written as data; every msgpack value in a vector is
decoded, checked field by field against them (types, bounds, patterns), re-encoded to prove it is in the one
canonical form, and compared with the fields the vector spells out in JSON. Hashes, roots, proofs, signatures,
genesis hashes, notary receipts and RFC 3161 serial numbers are recomputed from the decoded bytes as the specs
say. A vector that disagrees with the spec (or a spec table edited without its vectors) fails here.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgpack  # type: ignore[import-untyped]
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

VECTORS = Path(__file__).resolve().parents[1] / "vectors"


def load(name: str) -> Any:
    return json.loads((VECTORS / name).read_text())


def h(s: str) -> bytes:
    return bytes.fromhex(s[2:] if s.startswith("0x") else s)


# --- msgpack, independently ---------------------------------------------------------------------------------


def unpack(data: bytes) -> Any:
    """Decode one msgpack value and require it to be the canonical (shortest) encoding of itself
    (docs/spec/encoding.md 1.3): re-encoding with the reference msgpack library gives the same bytes."""
    value = msgpack.unpackb(data, raw=False, strict_map_key=True, use_list=True)
    assert msgpack.packb(value, use_bin_type=True) == data, "not the canonical msgpack encoding"
    return value


def pack(value: Any) -> bytes:
    return msgpack.packb(value, use_bin_type=True)


# --- the spec's struct tables as data (docs/spec/encoding.md section 2, receipt.md section 4) ---------------

CHAIN_ID = r"[a-z0-9][a-z0-9._-]*"
NAMESPACE = r"[A-Za-z0-9._-]+"
U8, U16, U32, U64 = ("uint", 2**8 - 1), ("uint", 2**16 - 1), ("uint", 2**32 - 1), ("uint", 2**64 - 1)
HASH = ("bytes", 32, 32)
ADDRESS = ("bytes", 20, 20)
PUBKEY = ("bytes", 32, 65)
SIG = ("bytes", 64, 64)
SHORT = ("str", 0, 64, None)
TEXT = ("str", 0, 512, None)
DID_TEXT = ("str", 0, 160, None)
FRAGMENT = ("str", 1, 32, None)
ISSUER_DID = ("str", 8, 160, r"did:[a-z0-9]+:[A-Za-z0-9._:%-]+")
CERT = ("bytes", 1, 8192)
ORG = ("str", 1, 64, None)
LIST_ID = ("str", 1, 64, NAMESPACE)
ATTESTATION_SUBJECT = ("str", 1, 256, r"did:[a-z0-9]+:[A-Za-z0-9._:%-]+|0x[0-9a-f]{64}")
CLAIM_TYPE = ("str", 1, 64, r"[A-Za-z][A-Za-z0-9_.-]*")
ATTESTER_DID = ("str", 0, 160, r"(did:[a-z0-9]+:[A-Za-z0-9._:%-]+)?")
# interchain.md / encoding.md 2.1 (the interchain types)
NUM = r"(0|[1-9][0-9]{0,19})"
CLIENT_ID = ("str", 0, 27, r"client-" + NUM)
CONNECTION_ID = ("str", 0, 31, r"connection-" + NUM)
CHANNEL_ID = ("str", 0, 28, r"channel-" + NUM)
PORT_ID = ("str", 1, 32, r"[a-z][a-z0-9_]{0,31}")
APP_VERSION = ("str", 0, 64, r"[A-Za-z0-9._-]*")
ENCODED = ("bytes", 0, 65_536)
ORDER = ("int", 1, 2)
DENOM = ("str", 1, 512, r"([a-z][a-z0-9_]{0,31}/channel-" + NUM + r"/)*[A-Za-z][A-Za-z0-9._-]{0,63}")
AMOUNT = ("int", 1, 2**64 - 1)
# directory.md 3
OWNER_DID = ("str", 1, 160, r"did:[a-z0-9]+:[A-Za-z0-9._:%-]+")
KEYWORD = ("str", 1, 32, r"[a-z0-9][a-z0-9_-]*")
REF = ("str", 0, 256, None)
# custody.md 2
CHALLENGE_ID = ("bytes", 12, 12)


def lst(item: Any, max_len: int, min_len: int = 0) -> tuple[Any, ...]:
    return ("list", item, min_len, max_len)


def opt(t: Any) -> tuple[Any, ...]:
    return ("opt", t)


STRUCTS: dict[str, list[tuple[str, Any]]] = {
    # 2.1 transactions
    "TxBody": [
        ("chain_id", ("str", 1, 64, CHAIN_ID)),
        ("sender", PUBKEY),
        ("nonce", U64),
        ("payload", ("union", "Payload")),
        ("memo", ("str", 0, 256, None)),
    ],
    "SignedTx": [("body", "TxBody"), ("signature", SIG)],
    "DidVerificationMethod": [
        ("id", FRAGMENT),
        ("type", ("str", 0, 40, None)),
        ("public_key", ("bytes", 0, 65)),
        ("controller", opt(DID_TEXT)),
    ],
    "DidService": [("id", FRAGMENT), ("type", SHORT), ("endpoint", ("str", 0, 256, None))],
    "DidDocument": [
        ("verification_methods", lst("DidVerificationMethod", 8)),
        ("authentication", lst(FRAGMENT, 8)),
        ("assertion_method", lst(FRAGMENT, 8)),
        ("services", lst("DidService", 8)),
        ("controllers", lst(DID_TEXT, 4)),
    ],
    # 2.2 blocks, 2.3 receipts
    "Header": [
        ("chain_id", ("str", 1, 64, CHAIN_ID)),
        ("height", U64),
        ("time_ms", U64),
        ("parent_hash", HASH),
        ("tx_root", HASH),
        ("results_root", HASH),
        ("state_root", HASH),
        ("tx_count", U32),
        ("proposer", ADDRESS),
        ("validators_hash", HASH),
        ("next_validators_hash", HASH),
    ],
    "Block": [("header", "Header"), ("txs", lst("SignedTx", 100_000))],
    "Event": [("type", SHORT), ("attributes", lst(("tuple", [SHORT, ("bytes", 0, 1024)]), 16))],
    "Receipt": [
        ("tx_hash", HASH),
        ("code", U32),
        ("message", TEXT),
        ("events", lst("Event", 64)),
        ("gas_used", U64),
        ("data", ("bytes", 0, 16 * 1024)),
    ],
    # 2.4 validators, 2.5 votes and commits
    "Validator": [("public_key", PUBKEY), ("power", U64), ("name", SHORT)],
    "ValidatorSet": [("validators", lst("Validator", 1000, 1))],
    "Vote": [
        ("chain_id", ("str", 1, 64, CHAIN_ID)),
        ("kind", U8),
        ("height", U64),
        ("round", U32),
        ("block_hash", HASH),
    ],
    "CommitSig": [("validator", ADDRESS), ("signature", SIG)],
    "Commit": [("height", U64), ("round", U32), ("block_hash", HASH), ("signatures", lst("CommitSig", 1000))],
    # 2.6 proofs
    "MerkleProof": [("index", U64), ("size", U64), ("siblings", lst(HASH, 64))],
    "ProofStep": [("bitmap", U16), ("siblings", lst(HASH, 15))],
    "ProofLeaf": [("key_path", HASH), ("value_hash", HASH)],
    "StateProof": [("height", U64), ("steps", lst("ProofStep", 64)), ("leaf", opt("ProofLeaf"))],
    # 2.7 proposals and evidence
    "Proposal": [
        ("chain_id", ("str", 1, 64, CHAIN_ID)),
        ("height", U64),
        ("round", U32),
        ("pol_round", ("int", -1, 2**31 - 1)),
        ("block_hash", HASH),
    ],
    "SignedVote": [("vote", "Vote"), ("validator", ADDRESS), ("signature", SIG)],
    "SignedProposalHeader": [("proposal", "Proposal"), ("proposer", ADDRESS), ("signature", SIG)],
    # light-client.md 3 and receipt.md 4: a validator-set change as canonical bytes, the notary receipt
    "SetChangeBytes": [
        ("header", ("bytes", 0, 256 * 1024)),
        ("commit", ("bytes", 0, 256 * 1024)),
        ("next_validators", ("bytes", 0, 256 * 1024)),
    ],
    "ReceiptV2": [
        ("version", U64),
        ("chain_id", ("str", 0, 64, None)),
        ("genesis_hash", HASH),
        ("digest_alg", ("str", 0, 64, None)),
        ("digest", HASH),
        ("record_proof", "MerkleProof"),
        ("batch_root", HASH),
        ("tx", ("bytes", 0, 256 * 1024)),
        ("tx_proof", "MerkleProof"),
        ("result", ("bytes", 0, 256 * 1024)),
        ("result_proof", "MerkleProof"),
        ("header", ("bytes", 0, 256 * 1024)),
        ("commit", ("bytes", 0, 256 * 1024)),
        ("validators", ("bytes", 0, 256 * 1024)),
        ("set_changes", lst("SetChangeBytes", 10_000)),
    ],
    # interchain.md 4 and encoding.md 2.1
    "Packet": [
        ("sequence", U64),
        ("source_port", PORT_ID),
        ("source_channel", CHANNEL_ID),
        ("dest_port", PORT_ID),
        ("dest_channel", CHANNEL_ID),
        ("data", ("bytes", 1, 16_384)),
        ("timeout_height", U64),
        ("timeout_time_ms", U64),
    ],
    "Ack": [("code", U32), ("result", ("bytes", 0, 4096)), ("reason", ("str", 0, 256, None))],
    "EncodedSetChange": [("header", ENCODED), ("commit", ENCODED), ("next_validators", ENCODED)],
    "Checkpoint": [("genesis_hash", HASH), ("suite", ("str", 0, 32, None)), ("validators", ENCODED)],
    "HeaderUpdate": [
        ("trusted_height", U64),
        ("header", ENCODED),
        ("commit", ENCODED),
        ("validators", ENCODED),
        ("trusted_validators", ENCODED),
    ],
    "ChannelEnd": [
        ("state", U8),
        ("order", ORDER),
        ("connection_id", CONNECTION_ID),
        ("counterparty_port", PORT_ID),
        ("counterparty_channel", ("str", 0, 28, r"(channel-" + NUM + r")?")),
        ("version", APP_VERSION),
    ],
    # transfer.md 2
    "TransferData": [("denom", DENOM), ("amount", AMOUNT), ("sender", ADDRESS), ("receiver", ADDRESS)],
    # transfer.md (routed transfers; ADR 0016): the first hop's data has a fifth element
    "Forward": [("channel", CHANNEL_ID), ("timeout_height", U64), ("timeout_time_ms", U64)],
    "ForwardedTransferData": [
        ("denom", DENOM),
        ("amount", AMOUNT),
        ("sender", ADDRESS),
        ("receiver", ADDRESS),
        ("forward", "Forward"),
    ],
    # hub.md 2
    "PortChannel": [("port", PORT_ID), ("channel", CHANNEL_ID)],
    "SubChain": [
        ("operator_org", ORG),
        ("genesis_hash", HASH),
        ("status", ("int", 1, 3)),
        ("registered_height", U64),
        ("retired_height", U64),
        ("client_id", ("str", 0, 27, r"(client-" + NUM + r")?")),
        ("connection_id", ("str", 0, 31, r"(connection-" + NUM + r")?")),
        ("channels", lst("PortChannel", 8)),
    ],
    # directory.md 2, 3, 6
    "EntryFields": [
        ("owner_did", OWNER_DID),
        ("title", ("str", 1, 200, None)),
        ("type", ("str", 1, 200, r"[!-~]+")),
        ("keywords", lst(KEYWORD, 16)),
        ("digest", HASH),
        ("receipt_ref", REF),
        ("location", ("str", 0, 512, None)),
        ("licence", REF),
        ("access", ("int", 1, 3)),
        ("credential_type", ("str", 0, 200, None)),
    ],
    "Entry": [
        ("id", HASH),
        ("chain_id", ("str", 1, 64, CHAIN_ID)),
        ("owner", ADDRESS),
        ("nonce", U64),
        ("fields", "EntryFields"),
        ("version", U64),
        ("withdrawn", ("bool",)),
        ("withdraw_reason", REF),
        ("created_height", U64),
        ("updated_height", U64),
    ],
    "Mirror": [
        ("chain_id", ("str", 1, 64, CHAIN_ID)),
        ("home_height", U64),
        ("entry", ("bytes", 0, 2**32 - 1)),
        ("channel", ("str", 0, 64, None)),
        ("received_height", U64),
    ],
    "Announce": [("entry", ("bytes", 0, 2**32 - 1)), ("home_height", U64)],
    "AccessRequest": [
        ("id", HASH),
        ("entry_id", HASH),
        ("requester", ADDRESS),
        ("presentation_digest", HASH),
        ("purpose", REF),
        ("status", U64),
        ("expires_at_ms", U64),
        ("reason", REF),
        ("requested_height", U64),
        ("decided_height", U64),
    ],
    # attestations.md 3
    "Attestation": [
        ("id", HASH),
        ("attester", ADDRESS),
        ("attester_did", ATTESTER_DID),
        ("subject", ATTESTATION_SUBJECT),
        ("claim_type", CLAIM_TYPE),
        ("statement", ("bytes", 0, 4096)),
        ("expires_at_ms", U64),
        ("height", U64),
        ("time_ms", U64),
        ("nonce", U64),
        ("revoked_height", U64),
        ("revoked_ms", U64),
    ],
    # custody.md 3
    "CustodyMeta": [("files", U64), ("orgs", U64), ("open", U64), ("closed", U64)],
    "CustodyFile": [
        ("file_id", HASH),
        ("org", ORG),
        ("registrant", ADDRESS),
        ("size", U64),
        ("segment_root", HASH),
        ("segment_count", U64),
        ("index", U64),
        ("registered_height", U64),
        ("challenged", U64),
        ("answered", U64),
        ("missed", U64),
        ("open", U32),
    ],
    "CustodyFileRef": [("file_id", HASH), ("org", ORG)],
    "CustodyOrgFiles": [("org", ORG), ("index", U64), ("files", U64)],
    "CustodyOrgRef": [("org", ORG)],
    "CustodyChallenge": [
        ("id", CHALLENGE_ID),
        ("file_id", HASH),
        ("org", ORG),
        ("segment_index", U64),
        ("issued_height", U64),
        ("deadline", U64),
        ("status", ("int", 0, 2)),
        ("closed_height", U64),
        ("responder", ("bytes", 0, 1 << 32)),
    ],
    "CustodyMissed": [
        ("org", ORG),
        ("file_id", HASH),
        ("count", U64),
        ("last_challenge", CHALLENGE_ID),
        ("last_height", U64),
    ],
}

GAS = ("uint", 2**53)
UNIONS: dict[str, dict[str, list[tuple[str, Any]]]] = {
    "Payload": {
        "accounts.transfer": [("to", ADDRESS), ("amount", U64)],
        "accounts.mint": [("to", ADDRESS), ("amount", U64)],
        "kv.put": [
            ("namespace", ("str", 1, 64, NAMESPACE)),
            ("key", ("bytes", 1, 256)),
            ("value", ("bytes", 0, 32 * 1024)),
        ],
        "kv.delete": [("namespace", ("str", 1, 64, NAMESPACE)), ("key", ("bytes", 1, 256))],
        "evidence.submit": [("evidence", ("union", "Evidence"))],
        "contracts.deploy": [
            ("code", ("bytes", 8, 60 * 1024)),
            ("args", ("bytes", 0, 16 * 1024)),
            ("admin", opt(ADDRESS)),
            ("gas_limit", GAS),
        ],
        "contracts.call": [
            ("contract", ADDRESS),
            ("method", ("str", 1, 64, r"[A-Za-z][A-Za-z0-9_]*")),
            ("args", ("bytes", 0, 16 * 1024)),
            ("gas_limit", GAS),
        ],
        "contracts.upgrade": [("contract", ADDRESS), ("code", ("bytes", 8, 60 * 1024)), ("gas_limit", GAS)],
        "membership.register_cert": [("cert", CERT)],
        "membership.propose": [("change", ("union", "MembershipChange"))],
        "membership.approve": [("proposal_id", U64)],
        "membership.revoke": [("serial", ("bytes", 1, 20))],
        "identity.did_create": [("document", "DidDocument"), ("id", opt(("bytes", 16, 16)))],
        "identity.did_update": [("did", DID_TEXT), ("document", "DidDocument")],
        "identity.did_deactivate": [("did", DID_TEXT)],
        "credentials.set_issuer": [
            ("did", ISSUER_DID),
            ("types", lst(("str", 1, 64, r"[A-Za-z][A-Za-z0-9_.-]*"), 32)),
            ("controller", ADDRESS),
        ],
        "credentials.status_create": [
            ("list_id", LIST_ID),
            ("size", ("range", 131_072, 2**23, 8)),
            ("purpose", ("str", 0, 64, r"revocation|suspension")),
            ("issuer", ISSUER_DID),
        ],
        "credentials.status_set": [
            ("list_id", LIST_ID),
            ("set_indexes", lst(U32, 1024)),
            ("clear_indexes", lst(U32, 1024)),
        ],
        "notary.anchor": [
            ("digests", lst(HASH, 2048)),
            ("record_type", ("str", 0, 64, None)),
            ("owner", ("str", 0, 160, None)),
            ("ref", ("str", 0, 256, None)),
        ],
        # attestations.md 1
        "attestations.attest": [
            ("subject", ATTESTATION_SUBJECT),
            ("claim_type", CLAIM_TYPE),
            ("statement", ("bytes", 0, 4096)),
            ("expires_at_ms", U64),
            ("attester_did", ATTESTER_DID),
        ],
        "attestations.revoke": [("id", HASH)],
        # directory.md 3
        "directory.publish": [("entry", "EntryFields")],
        "directory.update": [("id", HASH), ("entry", "EntryFields")],
        "directory.withdraw": [("id", HASH), ("reason", REF)],
        "directory.request_access": [("entry_id", HASH), ("presentation_digest", HASH), ("purpose", REF)],
        "directory.decide": [("request_id", HASH), ("grant", ("bool",)), ("expires_at_ms", U64), ("reason", REF)],
        # custody.md 2
        "custody.register": [
            ("file_id", HASH),
            ("size", ("int", 1, 2**52)),
            ("segment_root", HASH),
            ("segment_count", ("int", 1, 2**40)),
        ],
        "custody.respond": [("challenge_id", CHALLENGE_ID), ("segment", ("bytes", 1, 4096)), ("path", lst(HASH, 64))],
        "custody.release": [("file_id", HASH)],
        # transfer.md 2
        "transfer.send": [
            ("channel", CHANNEL_ID),
            ("denom", DENOM),
            ("amount", AMOUNT),
            ("receiver", ADDRESS),
            ("timeout_height", U64),
            ("timeout_time_ms", U64),
        ],
        "transfer.move": [("to", ADDRESS), ("denom_hash", HASH), ("amount", AMOUNT)],
        "transfer.send_via": [
            ("channel", CHANNEL_ID),
            ("denom", DENOM),
            ("amount", AMOUNT),
            ("receiver", ADDRESS),
            ("forward", "Forward"),
            ("timeout_height", U64),
            ("timeout_time_ms", U64),
        ],
        "transfer.expire_forward": [("channel", CHANNEL_ID), ("sequence", U64)],
        # hub.md 3
        "hub.connected": [
            ("chain_id", ("str", 1, 64, CHAIN_ID)),
            ("client_id", CLIENT_ID),
            ("connection_id", CONNECTION_ID),
            ("channels", lst("PortChannel", 8)),
        ],
        # interchain.md 2, 5
        "interchain.create_client": [
            ("chain_id", ("str", 1, 64, CHAIN_ID)),
            ("genesis", ("bytes", 0, 60_000)),
            ("set_changes", lst("EncodedSetChange", 64)),
            ("header", ENCODED),
            ("commit", ENCODED),
            ("trusting_period_ms", U64),
            ("max_clock_drift_ms", U64),
            ("checkpoint", opt("Checkpoint")),
        ],
        "interchain.update_client": [("client_id", CLIENT_ID), ("update", "HeaderUpdate")],
        "interchain.submit_misbehaviour": [
            ("client_id", CLIENT_ID),
            ("first", "HeaderUpdate"),
            ("second", "HeaderUpdate"),
        ],
        "interchain.conn_open_init": [("client_id", CLIENT_ID), ("counterparty_client_id", CLIENT_ID)],
        "interchain.conn_open_try": [
            ("client_id", CLIENT_ID),
            ("counterparty_client_id", CLIENT_ID),
            ("counterparty_connection_id", CONNECTION_ID),
            ("counterparty_client_state", ENCODED),
            ("proof_init", ENCODED),
            ("proof_client", ENCODED),
        ],
        "interchain.conn_open_ack": [
            ("connection_id", CONNECTION_ID),
            ("counterparty_connection_id", CONNECTION_ID),
            ("counterparty_client_state", ENCODED),
            ("proof_try", ENCODED),
            ("proof_client", ENCODED),
        ],
        "interchain.conn_open_confirm": [("connection_id", CONNECTION_ID), ("proof_ack", ENCODED)],
        "interchain.chan_open_init": [
            ("port", PORT_ID),
            ("connection_id", CONNECTION_ID),
            ("counterparty_port", PORT_ID),
            ("order", ORDER),
            ("version", APP_VERSION),
        ],
        "interchain.chan_open_try": [
            ("port", PORT_ID),
            ("connection_id", CONNECTION_ID),
            ("counterparty_port", PORT_ID),
            ("counterparty_channel", CHANNEL_ID),
            ("order", ORDER),
            ("version", APP_VERSION),
            ("proof_init", ENCODED),
        ],
        "interchain.chan_open_ack": [
            ("port", PORT_ID),
            ("channel", CHANNEL_ID),
            ("counterparty_channel", CHANNEL_ID),
            ("proof_try", ENCODED),
        ],
        "interchain.chan_open_confirm": [("port", PORT_ID), ("channel", CHANNEL_ID), ("proof_ack", ENCODED)],
        "interchain.chan_close_init": [("port", PORT_ID), ("channel", CHANNEL_ID)],
        "interchain.chan_close_confirm": [("port", PORT_ID), ("channel", CHANNEL_ID), ("proof_init", ENCODED)],
        "interchain.recv_packet": [("packet", "Packet"), ("proof", ENCODED)],
        "interchain.acknowledge": [("packet", "Packet"), ("ack", "Ack"), ("proof", ENCODED)],
        "interchain.timeout": [("packet", "Packet"), ("next_seq_recv", U64), ("proof", ENCODED)],
        "interchain.timeout_on_close": [
            ("packet", "Packet"),
            ("next_seq_recv", U64),
            ("proof", ENCODED),
            ("proof_close", ENCODED),
        ],
        "interchain.relay": [
            ("update", opt(("member", "Payload", "interchain.update_client"))),
            (
                "items",
                lst(
                    ("members", "Payload", ("interchain.recv_packet", "interchain.acknowledge", "interchain.timeout")),
                    256,
                    1,
                ),
            ),
        ],
    },
    "MembershipChange": {
        "add_org": [("name", ORG), ("ca_certs", lst(CERT, 4, 1))],
        "remove_org": [("name", ORG)],
        "add_ca": [("org", ORG), ("ca_cert", CERT)],
        "remove_ca": [("org", ORG), ("fingerprint", HASH)],
        "set_threshold": [("threshold", ("uint", 64))],
        "validators.add": [("public_key", PUBKEY), ("power", U64), ("name", SHORT), ("org", ORG)],
        "validators.remove": [("address", ADDRESS)],
        "validators.set_power": [("address", ADDRESS), ("power", U64)],
        "interchain.trust_chain": [
            ("chain_id", ("str", 1, 64, CHAIN_ID)),
            ("genesis_hash", HASH),
            ("checkpoint_height", U64),
            ("checkpoint_block_id", HASH),
        ],
        "interchain.untrust_chain": [("chain_id", ("str", 1, 64, CHAIN_ID))],
        "interchain.recover_client": [("subject", CLIENT_ID), ("substitute", CLIENT_ID)],
        "hub.register": [
            ("chain_id", ("str", 1, 64, CHAIN_ID)),
            ("operator_org", ORG),
            ("genesis_hash", HASH),
            ("checkpoint_height", U64),
            ("checkpoint_block_id", HASH),
        ],
        "hub.retire": [("chain_id", ("str", 1, 64, CHAIN_ID))],
    },
    "Evidence": {
        "duplicate_vote": [("a", "SignedVote"), ("b", "SignedVote")],
        "duplicate_proposal": [("a", "SignedProposalHeader"), ("b", "SignedProposalHeader")],
    },
}


def read(value: Any, t: Any, path: str = "$") -> Any:
    """Check a decoded msgpack value against spec type ``t`` and return it as the vectors' JSON spells it
    (structs as objects in field order, a union member's ``tag`` first, bytes as hex)."""
    if isinstance(t, str):
        fields = STRUCTS[t]
        assert isinstance(value, list), f"{path}: {t} is an array"
        assert len(value) == len(fields), f"{path}: {t} has {len(fields)} fields, found {len(value)}"
        return {name: read(v, ft, f"{path}.{name}") for (name, ft), v in zip(fields, value, strict=True)}
    kind = t[0]
    if kind == "uint":
        assert isinstance(value, int) and not isinstance(value, bool), f"{path}: an integer"
        assert 0 <= value <= t[1], f"{path}: {value} out of range"
        return value
    if kind == "range":  # an unsigned int in [min, max] and a multiple of step
        assert isinstance(value, int) and t[1] <= value <= t[2] and value % t[3] == 0, f"{path}: {value} not allowed"
        return value
    if kind == "bool":
        assert isinstance(value, bool), f"{path}: a bool"
        return value
    if kind == "int":
        assert isinstance(value, int) and t[1] <= value <= t[2], f"{path}: {value} out of range"
        return value
    if kind == "bytes":
        assert isinstance(value, bytes), f"{path}: bytes (bin)"
        assert t[1] <= len(value) <= t[2], f"{path}: {len(value)} bytes"
        return value.hex()
    if kind == "str":
        assert isinstance(value, str), f"{path}: a str"
        assert t[1] <= len(value) <= t[2], f"{path}: {len(value)} chars"
        if t[3] is not None:
            assert re.fullmatch(t[3], value), f"{path}: {value!r} does not match {t[3]}"
        return value
    if kind == "opt":
        return None if value is None else read(value, t[1], path)
    if kind == "list":
        assert isinstance(value, list) and t[2] <= len(value) <= t[3], f"{path}: list length"
        return [read(v, t[1], f"{path}[{i}]") for i, v in enumerate(value)]
    if kind == "tuple":
        assert isinstance(value, list) and len(value) == len(t[1]), f"{path}: tuple"
        return [read(v, et, f"{path}[{i}]") for i, (v, et) in enumerate(zip(value, t[1], strict=True))]
    if kind in ("member", "members"):  # some members of a union only (a relay's update and items)
        allowed = (t[2],) if kind == "member" else t[2]
        assert isinstance(value, list) and value and value[0] in allowed, f"{path}: one of {allowed}"
        return read(value, ("union", t[1]), path)
    if kind == "union":
        members = UNIONS[t[1]]
        assert isinstance(value, list) and value and isinstance(value[0], str), f"{path}: [tag, fields...]"
        tag = value[0]
        assert tag in members, f"{path}: tag {tag!r} is not a {t[1]} member in the spec"
        fields = members[tag]
        assert len(value) == 1 + len(fields), f"{path}: {tag} has {len(fields)} fields"
        out: dict[str, Any] = {"tag": tag}
        for (name, ft), v in zip(fields, value[1:], strict=True):
            out[name] = read(v, ft, f"{path}.{name}")
        return out
    raise AssertionError(f"unknown spec type {t!r}")


def decode_as(data: bytes, t: Any) -> Any:
    """Independent decode of canonical bytes as spec type ``t``."""
    return read(unpack(data), t)


# --- hashes, Merkle trees, signatures, independently ------------------------------------------------------


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def sm3(data: bytes) -> bytes:
    digest = hashes.Hash(hashes.SM3())
    digest.update(data)
    return digest.finalize()


def tagged(hash_: Callable[[bytes], bytes], domain: bytes, data: bytes) -> bytes:
    """docs/spec/encoding.md 3.1."""
    return hash_(bytes([len(domain)]) + domain + data)


def merkle_root(H: Callable[[bytes], bytes], items: list[bytes]) -> bytes:
    """docs/spec/encoding.md 4 (RFC 6962 shape)."""
    if not items:
        return bytes(32)
    if len(items) == 1:
        return tagged(H, b"trellis/merkle/leaf", items[0])
    k = 1
    while k * 2 < len(items):
        k *= 2
    return tagged(H, b"trellis/merkle/node", merkle_root(H, items[:k]) + merkle_root(H, items[k:]))


def merkle_verify(H: Callable[[bytes], bytes], item: bytes, proof: dict[str, Any], root: bytes) -> bool:
    """The verification loop of docs/spec/encoding.md 4 (proof as ``read`` returns a MerkleProof)."""
    index, size, siblings = proof["index"], proof["size"], [h(s) for s in proof["siblings"]]
    if not 0 <= index < size:
        return False
    node, i, w, used = tagged(H, b"trellis/merkle/leaf", item), index, size, 0
    while w > 1:
        if (i ^ 1) < w:
            if used >= len(siblings):
                return False
            s = siblings[used]
            used += 1
            node = tagged(H, b"trellis/merkle/node", s + node if i % 2 else node + s)
        i, w = i // 2, (w + 1) // 2
    return used == len(siblings) and node == root


def ed25519_public(seed: bytes) -> bytes:
    return Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes_raw()


def ed25519_ok(public: bytes, message: bytes, signature: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(public).verify(signature, message)
    except InvalidSignature:
        return False
    return True


# SM2 on the recommended curve of GB/T 32918.5, from the standard (docs/spec/crypto-suites.md 3).
SM2_P = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFF
SM2_A = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC
SM2_B = 0x28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93
SM2_N = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123
SM2_G = (
    0x32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7,
    0xBC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0,
)


def _add(p: Any, q: Any) -> Any:
    if p is None:
        return q
    if q is None:
        return p
    if p[0] == q[0] and (p[1] + q[1]) % SM2_P == 0:
        return None
    if p == q:
        lam = (3 * p[0] * p[0] + SM2_A) * pow(2 * p[1], -1, SM2_P) % SM2_P
    else:
        lam = (q[1] - p[1]) * pow(q[0] - p[0], -1, SM2_P) % SM2_P
    x = (lam * lam - p[0] - q[0]) % SM2_P
    return x, (lam * (p[0] - x) - p[1]) % SM2_P


def _mul(k: int, p: Any) -> Any:
    out = None
    while k:
        if k & 1:
            out = _add(out, p)
        p = _add(p, p)
        k >>= 1
    return out


def sm2_public(secret: bytes) -> bytes:
    x, y = _mul(int.from_bytes(secret, "big"), SM2_G)
    return b"\x04" + x.to_bytes(32, "big") + y.to_bytes(32, "big")


def sm2_za(public: bytes, user_id: bytes = b"1234567812345678") -> bytes:
    curve = b"".join(v.to_bytes(32, "big") for v in (SM2_A, SM2_B, *SM2_G))
    return sm3((len(user_id) * 8).to_bytes(2, "big") + user_id + curve + public[1:])


def sm2_ok(public: bytes, message: bytes, signature: bytes) -> bool:
    """GB/T 32918.2 verification of a 64-byte r || s over ``message`` with the standard user id."""
    if len(public) != 65 or public[0] != 4 or len(signature) != 64:
        return False
    q = (int.from_bytes(public[1:33], "big"), int.from_bytes(public[33:], "big"))
    if (q[1] * q[1] - (q[0] ** 3 + SM2_A * q[0] + SM2_B)) % SM2_P:
        return False
    r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    if not (0 < r < SM2_N and 0 < s < SM2_N) or (r + s) % SM2_N == 0:
        return False
    e = int.from_bytes(sm3(sm2_za(public) + message), "big")
    point = _add(_mul(s, SM2_G), _mul((r + s) % SM2_N, q))
    return point is not None and (e + point[0]) % SM2_N == r


# --- genesis, independently (docs/spec/encoding.md 2.9) ---------------------------------------------------

GENESIS_DEFAULTS: list[tuple[str, Any]] = [
    ("chain_id", None),
    ("genesis_time_ms", None),
    ("suite", "ed25519"),
    ("validators", None),
    ("mint_authority", None),
    ("accounts", []),
    ("limits", [("max_tx_bytes", 65536), ("max_block_txs", 20000), ("max_block_bytes", 33554432)]),
    ("orgs", []),
    (
        "contracts",
        [
            ("governance", None),
            ("gas_price", 0),
            ("max_code_bytes", 61440),
            ("max_block_gas", 2000000000),
            ("max_memory_pages", 16),
            ("max_call_depth", 8),
        ],
    ),
    ("membership", [("enforce", False), ("admin_threshold", None)]),
]
VALIDATOR_KEYS = [("name", None), ("public_key", None), ("power", 1)]
ACCOUNT_KEYS = [("address", None), ("balance", None)]
ORG_KEYS = [("name", None), ("ca_cert", None)]


def _filled(doc: dict[str, Any], keys: list[tuple[str, Any]]) -> dict[str, Any]:
    assert set(doc) <= {k for k, _ in keys}, f"unknown genesis keys {set(doc) - {k for k, _ in keys}}"
    out: dict[str, Any] = {}
    for key, default in keys:
        if isinstance(default, list) and default and isinstance(default[0], tuple):
            out[key] = _filled(doc.get(key, {}), default)
        elif key in doc:
            out[key] = doc[key]
        else:
            assert default is not None or key in ("governance", "admin_threshold"), f"genesis needs {key!r}"
            out[key] = default
    return out


def canonical_genesis(text: str) -> bytes:
    """The msgpack map the genesis hash covers: every key in spec order, every default filled in."""
    doc = json.loads(text)
    bench = doc.pop("bench_network", None)
    interchain = doc.pop("interchain", None)
    hub = doc.pop("hub", None)
    full = _filled(doc, GENESIS_DEFAULTS)
    # encoding.md 2.9: interchain and hub are hashed only when present, in this order, before bench_network;
    # inside interchain, max_consensus_states and hub only when present.
    if interchain is not None:
        optional = {k: interchain.pop(k) for k in ("max_consensus_states", "hub") if k in interchain}
        full["interchain"] = {
            **_filled(interchain, [("client_policy", "governed"), ("max_trusting_period_ms", 1_209_600_000)]),
            **optional,
        }
        if "hub" in optional:
            full["interchain"]["hub"] = _filled(optional["hub"], [("chain_id", None), ("genesis_hash", None)])
    if hub is not None:
        keys = [("chain_id", None), ("operator_org", None), ("genesis_hash", None)]
        full["hub"] = {"subchains": [_filled(sc, keys) for sc in hub.get("subchains", [])]}
    if bench is not None:  # written only as true, and only when present: last key of the map
        assert bench is True, "bench_network is true or absent"
        full["bench_network"] = True
    # encoding.md 2.9: a validator's org is hashed only when present, as the map's 4th entry.
    full["validators"] = [
        {
            **_filled({k: x for k, x in v.items() if k != "org"}, VALIDATOR_KEYS),
            **({"org": v["org"]} if "org" in v else {}),
        }
        for v in full["validators"]
    ]
    full["accounts"] = [_filled(a, ACCOUNT_KEYS) for a in full["accounts"]]
    full["orgs"] = [_filled(o, ORG_KEYS) for o in full["orgs"]]
    return pack(full)


def genesis_validator_set(text: str, H: Callable[[bytes], bytes]) -> bytes:
    """The canonical ValidatorSet derived from genesis: sorted by address."""
    vals = json.loads(text)["validators"]
    items = [[h(v["public_key"]), v.get("power", 1), v["name"]] for v in vals]
    items.sort(key=lambda v: tagged(H, b"trellis/address", v[0])[:20])
    return pack([items])


# --- the list of files: a new vector file must be checked here ----------------------------------------------

CHECKED = {
    "tagged_hash.json",
    "transactions.json",
    "payloads.json",
    "block.json",
    "block_receipts.json",
    "commit.json",
    "merkle.json",
    "state_tree.json",
    "genesis_hash.json",
    "sm_suite.json",
    "tsa_serial.json",
    "receipt/genesis.json",
    "receipt/other-chain.receipt.json",
    "receipt/set-change.genesis.json",
    "receipt/set-change.receipt.json",
    "receipt/set-change.receipt.msgpack",
    "receipt/v1-file0.receipt.json",
    *(f"receipt/file{i}.{ext}" for i in range(4) for ext in ("bin", "receipt.json", "receipt.msgpack")),
    "vc/eddsa-jcs-2022.json",
    "light_client.json",
    "attestations.json",
    "interchain.json",
    "transfer.json",
    "directory.json",
    "hub.json",
    "custody.json",
    "snapshot.json",
}
NOT_VECTORS = {
    "generate.py",
    "spec_vectors.py",
    "light_client_vectors.py",
    "attestations_vectors.py",
    "interchain_vectors.py",
    "directory_vectors.py",
    "hub_vectors.py",
    "custody_vectors.py",
    "snapshot_vectors.py",
}


def test_every_vector_file_is_checked_independently() -> None:
    found = {
        str(p.relative_to(VECTORS))
        for p in VECTORS.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.name not in NOT_VECTORS
    }
    assert found == CHECKED


# --- tagged_hash.json ---------------------------------------------------------------------------------------


def test_tagged_hash_vectors() -> None:
    for case in load("tagged_hash.json")["cases"]:
        assert tagged(sha256, case["domain"].encode(), h(case["data"])).hex() == case["digest"]


# --- transactions.json and payloads.json --------------------------------------------------------------------


def check_signed_tx(case: dict[str, Any], public: bytes, H: Callable[[bytes], bytes], verify: Any) -> dict[str, Any]:
    raw = h(case["tx_bytes"])
    tx = decode_as(raw, "SignedTx")
    body_raw = pack(unpack(raw)[0])
    assert body_raw.hex() == case["body_bytes"]
    assert tx["body"]["sender"] == public.hex()
    signing = b"\x12trellis/tx-sign/v1" + body_raw
    if "signing_bytes" in case:
        assert signing.hex() == case["signing_bytes"]
    assert tx["signature"] == case["signature"]
    assert verify(public, signing, h(case["signature"]))
    assert tagged(H, b"trellis/tx/v1", raw).hex() == case["tx_hash"]
    return tx


@pytest.mark.parametrize("case", load("transactions.json")["cases"], ids=lambda c: c["name"])
def test_transaction_vector(case: dict[str, Any]) -> None:
    public = ed25519_public(h(case["seed"]))
    assert public.hex() == case["public_key"]
    assert tagged(sha256, b"trellis/address", public)[:20].hex() == case["address"]
    tx = check_signed_tx(case, public, sha256, ed25519_ok)
    body = case["body"]
    assert tx["body"]["chain_id"] == body["chain_id"]
    assert tx["body"]["nonce"] == body["nonce"]
    assert tx["body"]["memo"] == body["memo"]
    assert tx["body"]["payload"] == body["payload"]


PAYLOADS = load("payloads.json")


def test_payload_vectors_cover_every_tag_of_the_spec() -> None:
    # payloads.json holds the modules of its time; a later module's messages are in its own file.
    later = [
        c
        for f in ("attestations.json", "interchain.json", "directory.json", "hub.json", "custody.json")
        for c in load(f)["cases"]
    ]
    tags = {c["payload"]["tag"] for c in PAYLOADS["cases"] + later}
    assert tags == set(UNIONS["Payload"])
    changes = {
        c["payload"]["change"]["tag"] for c in PAYLOADS["cases"] + later if c["payload"]["tag"] == "membership.propose"
    }
    assert changes == set(UNIONS["MembershipChange"])
    kinds = {c["payload"]["evidence"]["tag"] for c in PAYLOADS["cases"] if c["payload"]["tag"] == "evidence.submit"}
    assert kinds == set(UNIONS["Evidence"])


@pytest.mark.parametrize("case", PAYLOADS["cases"], ids=lambda c: c["name"])
def test_payload_vector(case: dict[str, Any]) -> None:
    public = ed25519_public(h(PAYLOADS["seed"]))
    assert public.hex() == PAYLOADS["public_key"]
    assert decode_as(h(case["payload_bytes"]), ("union", "Payload")) == case["payload"]
    tx = check_signed_tx(case, public, sha256, ed25519_ok)
    assert tx["body"] == {
        "chain_id": PAYLOADS["chain_id"],
        "sender": public.hex(),
        "nonce": case["nonce"],
        "payload": case["payload"],
        "memo": "",
    }
    # The payload sits in the body as its own bytes: [tag, fields...] with no extra nesting.
    assert h(case["payload_bytes"]) in h(case["body_bytes"])


def test_evidence_vectors_carry_valid_signatures() -> None:
    for case in PAYLOADS["cases"]:
        if case["payload"]["tag"] != "evidence.submit":
            continue
        ev = unpack(h(case["payload_bytes"]))[1]
        for signed in ev[1:]:
            body, signature = signed[0], signed[2]
            domain = b"trellis/vote/v1" if ev[0] == "duplicate_vote" else b"trellis/proposal/v1"
            message = bytes([len(domain)]) + domain + pack(body)
            seeds = [bytes([0xA0]) * 32, bytes([0xA1]) * 32]
            keys = {tagged(sha256, b"trellis/address", ed25519_public(s))[:20]: ed25519_public(s) for s in seeds}
            assert ed25519_ok(keys[signed[1]], message, signature)


# --- block.json and block_receipts.json ---------------------------------------------------------------------

BLOCK = load("block.json")
COMMIT = load("commit.json")


def test_block_vector_genesis_hash() -> None:
    canonical = canonical_genesis(BLOCK["genesis_json"])
    assert tagged(sha256, b"trellis/genesis/v1", canonical).hex() == BLOCK["genesis_hash"]


def test_block_vector_genesis_state_root() -> None:
    """encoding.md 2.8: genesis writes each funded account, the validator set's entry of height 1 (no orgs
    named: ``""`` each) and ``validators/meta = [0, 1]``; the chain has no orgs, so no membership record."""
    doc = json.loads(BLOCK["genesis_json"])
    assert not doc.get("orgs")
    valset = unpack(genesis_validator_set(BLOCK["genesis_json"], sha256))
    entries = {b"acct/" + h(a["address"]): pack([a["balance"], 0]) for a in doc.get("accounts", [])}
    entries[b"validators/set/" + (1).to_bytes(8, "big")] = pack([1, 0, valset, [""] * len(valset[0])])
    entries[b"validators/meta"] = pack([0, 1])
    assert smt_root(sha256, entries).hex() == BLOCK["genesis_state_root"]


def test_block_vector_header_and_block() -> None:
    header_raw = h(BLOCK["header_bytes"])
    header = decode_as(header_raw, "Header")
    assert header == BLOCK["header"]
    assert tagged(sha256, b"trellis/header/v1", header_raw).hex() == BLOCK["block_id"]
    block = decode_as(h(BLOCK["block_bytes"]), "Block")
    assert block["header"] == header
    raw_block = unpack(h(BLOCK["block_bytes"]))
    assert [pack(t).hex() for t in raw_block[1]] == BLOCK["tx_bytes"]
    assert header["tx_count"] == len(BLOCK["tx_bytes"])
    assert header["parent_hash"] == "00" * 32 and header["height"] == 1
    assert header["validators_hash"] == COMMIT["validators_hash"]
    # Block 1 is signed by the genesis set and so is block 2: no change can take effect before height 3.
    assert header["next_validators_hash"] == COMMIT["validators_hash"]


def test_block_vector_roots_and_receipts() -> None:
    txs = [h(t) for t in BLOCK["tx_bytes"]]
    receipts = [h(r) for r in BLOCK["receipts"]]
    assert merkle_root(sha256, txs).hex() == BLOCK["header"]["tx_root"]
    assert merkle_root(sha256, receipts).hex() == BLOCK["header"]["results_root"]
    for raw_tx, raw_receipt, code in zip(txs, receipts, BLOCK["receipt_codes"], strict=True):
        receipt = decode_as(raw_receipt, "Receipt")
        assert receipt["tx_hash"] == tagged(sha256, b"trellis/tx/v1", raw_tx).hex()
        assert receipt["code"] == code
        assert (receipt["events"] == []) == (code != 0)


def _attr_json(value: bytes) -> str:
    """docs/spec/api-json.md: an event attribute is its UTF-8 text if printable, else 0x hex."""
    try:
        text = value.decode()
    except UnicodeDecodeError:
        return "0x" + value.hex()
    return text if text.isprintable() else "0x" + value.hex()


@pytest.mark.parametrize("case", load("block_receipts.json")["cases"], ids=lambda c: c["name"])
def test_block_receipt_vector(case: dict[str, Any]) -> None:
    receipt = decode_as(h(case["receipt_bytes"]), "Receipt")
    assert receipt == case["receipt"]
    assert case["api_json"] == {
        "tx_hash": "0x" + receipt["tx_hash"],
        "code": receipt["code"],
        "message": receipt["message"],
        "events": [
            {"type": e["type"], "attributes": {k: _attr_json(h(v)) for k, v in e["attributes"]}}
            for e in receipt["events"]
        ],
        "gas_used": receipt["gas_used"],
        "data": "0x" + receipt["data"],
    }


# --- commit.json --------------------------------------------------------------------------------------------


def test_commit_vector() -> None:
    valset_raw = h(COMMIT["validator_set_bytes"])
    valset = decode_as(valset_raw, "ValidatorSet")
    assert valset_raw == genesis_validator_set(BLOCK["genesis_json"], sha256)
    addresses = [tagged(sha256, b"trellis/address", h(v["public_key"]))[:20] for v in valset["validators"]]
    assert addresses == sorted(addresses)
    for v in COMMIT["validators"]:
        assert ed25519_public(h(v["seed"])).hex() == v["public_key"]
        assert tagged(sha256, b"trellis/address", h(v["public_key"]))[:20].hex() == v["address"]
    assert tagged(sha256, b"trellis/validators/v1", valset_raw).hex() == COMMIT["validators_hash"]

    vote = decode_as(h(COMMIT["vote_bytes"]), "Vote")
    assert vote == COMMIT["vote"] and vote["kind"] == 2
    assert (b"\x0ftrellis/vote/v1" + h(COMMIT["vote_bytes"])).hex() == COMMIT["vote_signing_bytes"]
    commit = decode_as(h(COMMIT["commit_bytes"]), "Commit")
    assert commit == COMMIT["commit"]
    assert verify_commit_independently(
        sha256, ed25519_ok, BLOCK["header"]["chain_id"], valset_raw, h(BLOCK["header_bytes"]), h(COMMIT["commit_bytes"])
    )


def verify_commit_independently(
    H: Callable[[bytes], bytes], verify: Any, chain_id: str, valset_raw: bytes, header_raw: bytes, commit_raw: bytes
) -> bool:
    """docs/spec/encoding.md 2.5: a commit certificate for a header under a validator set."""
    header = decode_as(header_raw, "Header")
    commit = decode_as(commit_raw, "Commit")
    block_id = tagged(H, b"trellis/header/v1", header_raw)
    if commit["height"] != header["height"] or h(commit["block_hash"]) != block_id:
        return False
    if h(header["validators_hash"]) != tagged(H, b"trellis/validators/v1", valset_raw):
        return False
    members = {
        tagged(H, b"trellis/address", h(v["public_key"]))[:20]: v
        for v in decode_as(valset_raw, "ValidatorSet")["validators"]
    }
    vote = pack([chain_id, 2, commit["height"], commit["round"], block_id])
    message = b"\x0ftrellis/vote/v1" + vote
    signed, last = 0, b""
    for sig in commit["signatures"]:
        addr = h(sig["validator"])
        if addr <= last or addr not in members:
            return False
        last = addr
        if not verify(h(members[addr]["public_key"]), message, h(sig["signature"])):
            return False
        signed += members[addr]["power"]
    total = sum(v["power"] for v in members.values())
    return signed * 3 > total * 2


# --- merkle.json --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("tree", load("merkle.json")["trees"], ids=lambda t: f"{len(t['items'])}-items")
def test_merkle_vector(tree: dict[str, Any]) -> None:
    items = [h(x) for x in tree["items"]]
    root = merkle_root(sha256, items)
    assert root.hex() == tree["root"]
    for i, p in enumerate(tree["proofs"]):
        proof = decode_as(h(p["proof_bytes"]), "MerkleProof")
        assert proof == {"index": p["index"], "size": p["size"], "siblings": p["siblings"]}
        assert proof["index"] == i and proof["size"] == len(items)
        assert merkle_verify(sha256, items[i], proof, root)


# --- state_tree.json ----------------------------------------------------------------------------------------

STATE = load("state_tree.json")


def smt_root(H: Callable[[bytes], bytes], entries: dict[bytes, bytes]) -> bytes:
    """The canonical shape T(S, d) of docs/spec/encoding.md 5, computed from the key set alone."""
    leaves = [(tagged(H, b"trellis/state/key", k), tagged(H, b"trellis/state/value", v)) for k, v in entries.items()]

    def nibble(kp: bytes, d: int) -> int:
        return kp[d // 2] >> 4 if d % 2 == 0 else kp[d // 2] & 0x0F

    def node(group: list[tuple[bytes, bytes]], d: int) -> bytes | None:
        if not group:
            return None
        if len(group) == 1:
            return tagged(H, b"trellis/smt/leaf", group[0][0] + group[0][1])
        bitmap, children = 0, b""
        for i in range(16):
            child = node([leaf for leaf in group if nibble(leaf[0], d) == i], d + 1)
            if child is not None:
                bitmap |= 1 << i
                children += child
        return tagged(H, b"trellis/smt/node", bitmap.to_bytes(2, "big") + children)

    return node(leaves, 0) or bytes(32)


def state_proof_ok(
    H: Callable[[bytes], bytes], key: bytes, value: bytes | None, proof: dict[str, Any], root: bytes, height: int
) -> bool:
    """The verification of docs/spec/encoding.md 5 (proof as ``read`` returns a StateProof)."""
    if proof["height"] != height:
        return False
    kp = tagged(H, b"trellis/state/key", key)
    steps, leaf = proof["steps"], proof["leaf"]
    d = len(steps)

    def nibble(j: int) -> int:
        return kp[j // 2] >> 4 if j % 2 == 0 else kp[j // 2] & 0x0F

    cur: bytes | None
    if value is not None:
        if (
            leaf is None
            or h(leaf["key_path"]) != kp
            or h(leaf["value_hash"]) != tagged(H, b"trellis/state/value", value)
        ):
            return False
        cur = tagged(H, b"trellis/smt/leaf", kp + h(leaf["value_hash"]))
    elif leaf is not None:
        other = h(leaf["key_path"])
        if other == kp or other.hex()[:d] != kp.hex()[:d]:
            return False
        cur = tagged(H, b"trellis/smt/leaf", other + h(leaf["value_hash"]))
    else:
        cur = None
    for j in range(d - 1, -1, -1):
        n, b = nibble(j), steps[j]["bitmap"]
        siblings = [h(s) for s in steps[j]["siblings"]]
        if b == 0 or bool(b >> n & 1) != (cur is not None):
            return False
        if len(siblings) != bin(b).count("1") - (1 if cur is not None else 0):
            return False
        children, it = b"", iter(siblings)
        for i in range(16):
            if b >> i & 1:
                children += cur if (i == n and cur is not None) else next(it)
        cur = tagged(H, b"trellis/smt/node", b.to_bytes(2, "big") + children)
    return (cur or bytes(32)) == root


def test_state_vector_roots() -> None:
    entries = {h(e["key"]): h(e["value"]) for e in STATE["entries"]}
    for e in STATE["entries"]:
        assert tagged(sha256, b"trellis/state/key", h(e["key"])).hex() == e["key_path"]
        assert tagged(sha256, b"trellis/state/value", h(e["value"])).hex() == e["value_hash"]
    assert smt_root(sha256, entries).hex() == STATE["root"]
    for u in STATE["update"]:
        if u["value"] is None:
            entries.pop(h(u["key"]), None)
        else:
            entries[h(u["key"])] = h(u["value"])
    assert smt_root(sha256, entries).hex() == STATE["root_after_update"]
    assert smt_root(sha256, {}).hex() == STATE["empty_tree_root"] == "00" * 32


def _proof_api_json(proof: dict[str, Any]) -> dict[str, Any]:
    """docs/spec/api-json.md: a StateProof as the API serves it."""
    leaf = proof["leaf"]
    return {
        "height": proof["height"],
        "steps": [{"bitmap": s["bitmap"], "siblings": ["0x" + x for x in s["siblings"]]} for s in proof["steps"]],
        "leaf": None
        if leaf is None
        else {"key_path": "0x" + leaf["key_path"], "value_hash": "0x" + leaf["value_hash"]},
    }


@pytest.mark.parametrize(
    "case", STATE["inclusion_proofs"] + STATE["non_inclusion_proofs"], ids=lambda c: bytes.fromhex(c["key"]).decode()
)
def test_state_proof_vector(case: dict[str, Any]) -> None:
    proof = decode_as(h(case["proof_bytes"]), "StateProof")
    assert case["proof_json"] == _proof_api_json(proof)
    value = None if case["value"] is None else h(case["value"])
    root = h(STATE["root_after_update"])
    assert state_proof_ok(sha256, h(case["key"]), value, proof, root, STATE["height"])
    wrong = b"not the value" if value is None else value + b"!"
    assert not state_proof_ok(sha256, h(case["key"]), wrong, proof, root, STATE["height"])


# --- genesis_hash.json --------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", load("genesis_hash.json")["cases"], ids=lambda c: c["name"])
def test_genesis_vector(case: dict[str, Any]) -> None:
    canonical = canonical_genesis(case["genesis_json"])
    assert canonical.hex() == case["canonical_bytes"]
    assert tagged(sha256, b"trellis/genesis/v1", canonical).hex() == case["genesis_hash"]
    valset = genesis_validator_set(case["genesis_json"], sha256)
    assert valset.hex() == case["validator_set_bytes"]
    decode_as(valset, "ValidatorSet")
    assert tagged(sha256, b"trellis/validators/v1", valset).hex() == case["validators_hash"]


# --- sm_suite.json ------------------------------------------------------------------------------------------

SMV = load("sm_suite.json")


def test_sm3_vectors() -> None:
    known = {
        "": "1ab21d8355cfa17f8e61194831e81a8f22bec8c728fefb747ed035eb5082aa2b",
        "616263": "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0",
        "61626364" * 16: "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732",
    }
    for case in SMV["sm3"]:
        assert sm3(h(case["data"])).hex() == case["digest"] == known[case["data"]]
    for case in SMV["tagged_hash"]:
        assert tagged(sm3, case["domain"].encode(), h(case["data"])).hex() == case["digest"]


def test_sm2_standard_example() -> None:
    ex = SMV["standard_example"]
    public = sm2_public(h(ex["secret"]))
    assert public.hex() == ex["public_key"]
    assert SMV["user_id"] == "1234567812345678"
    assert sm2_za(public).hex() == ex["za"]
    assert sm3(h(ex["za"]) + h(ex["message"])).hex() == ex["e"]
    assert ex["signature"] == ex["r"] + ex["s"]
    assert sm2_ok(public, h(ex["message"]), h(ex["signature"]))
    assert not sm2_ok(public, h(ex["message"]) + b"!", h(ex["signature"]))


def test_sm2_keys_and_addresses() -> None:
    for key in SMV["keys"]:
        public = sm2_public(h(key["secret"]))
        assert public.hex() == key["public_key"]
        assert tagged(sm3, b"trellis/address", public)[:20].hex() == key["address"]


def test_sm_transaction_vector() -> None:
    case = SMV["transaction"]
    public = sm2_public(h(case["secret"]))
    assert public.hex() == case["public_key"]
    assert tagged(sm3, b"trellis/address", public)[:20].hex() == case["address"]
    tx = check_signed_tx(case, public, sm3, sm2_ok)
    assert tx["body"] == case["body"]
    assert sm2_za(public).hex() == case["za"]
    assert sm3(sm2_za(public) + h(case["signing_bytes"])).hex() == case["e"]


def test_sm_genesis_vector() -> None:
    g = SMV["genesis"]
    canonical = canonical_genesis(g["genesis_json"])
    assert canonical.hex() == g["canonical_bytes"]
    assert tagged(sm3, b"trellis/genesis/v1", canonical).hex() == g["genesis_hash"]
    valset = genesis_validator_set(g["genesis_json"], sm3)
    assert valset.hex() == g["validator_set_bytes"]
    assert tagged(sm3, b"trellis/validators/v1", valset).hex() == g["validators_hash"]


@pytest.mark.parametrize("case", SMV["aead"], ids=lambda c: c["algorithm"] + "-" + c["key"][:8])
def test_aead_vector(case: dict[str, Any]) -> None:
    key, nonce, aad, plain = h(case["key"]), h(case["nonce"]), h(case["aad"]), h(case["plaintext"])
    if case["algorithm"] == "AES-256-GCM":
        assert case["suite"] == "ed25519" and len(key) == 32
        sealed = AESGCM(key).encrypt(nonce, plain, aad)
    else:
        assert case["suite"] == "sm" and len(key) == 16
        enc = Cipher(algorithms.SM4(key), modes.GCM(nonce)).encryptor()
        enc.authenticate_additional_data(aad)
        sealed = enc.update(plain) + enc.finalize() + enc.tag
    assert sealed.hex() == case["sealed"]
    if "ciphertext" in case:
        assert sealed.hex() == case["ciphertext"] + case["tag"]


# --- tsa_serial.json ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", load("tsa_serial.json")["cases"], ids=lambda c: c["name"])
def test_tsa_serial_vector(case: dict[str, Any]) -> None:
    ref_json = json.dumps(case["reference"], sort_keys=True, separators=(",", ":"))
    assert ref_json == case["reference_json"]
    nonce = b"" if case["nonce"] is None else case["nonce"].encode()
    serial = int.from_bytes(sha256(ref_json.encode() + nonce)[:15], "big")
    assert str(serial) == case["serial_number"]


# --- receipt/: notary receipts, verified from the genesis file alone ------------------------------------------

RECEIPTS = VECTORS / "receipt"
RECEIPT_GENESIS = (RECEIPTS / "genesis.json").read_text()


def receipt_json_form(r: dict[str, Any]) -> str:
    """docs/spec/receipt.md 4.2: the canonical JSON form of a decoded ReceiptV2."""

    def proof(p: dict[str, Any]) -> dict[str, Any]:
        return {"index": p["index"], "siblings": ["0x" + s for s in p["siblings"]], "size": p["size"]}

    obj: dict[str, Any] = {"format": "trellis-notary-receipt"}
    for name, t in STRUCTS["ReceiptV2"]:
        v = r[name]
        if name == "set_changes":
            obj[name] = [{k: "0x" + c[k] for k in ("commit", "header", "next_validators")} for c in v]
            continue
        obj[name] = proof(v) if t == "MerkleProof" else ("0x" + v if t[0] == "bytes" else v)
    return json.dumps(obj, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def verify_notary_receipt(r: dict[str, Any], genesis_text: str, file_digest: bytes | None = None) -> str:
    """The checks of docs/spec/receipt.md 4.3 in their order; returns "valid" or the first failing check."""
    genesis = json.loads(genesis_text)
    suite = genesis.get("suite", "ed25519")
    H, verify = (sha256, ed25519_ok) if suite == "ed25519" else (sm3, sm2_ok)
    alg = {"ed25519": "sha-256", "sm": "sm3"}[suite]
    if r["version"] != 2:
        return "unsupported_version"
    if r["digest_alg"] not in ("sha-256", "sm3"):
        return "unsupported_digest_algorithm"
    genesis_hash = tagged(H, b"trellis/genesis/v1", canonical_genesis(genesis_text))
    if r["chain_id"] != genesis["chain_id"] or h(r["genesis_hash"]) != genesis_hash or r["digest_alg"] != alg:
        return "wrong_chain"
    try:
        decode_as(h(r["validators"]), "ValidatorSet")
    except AssertionError:
        return "validator_set"
    if file_digest is not None and file_digest != h(r["digest"]):
        return "file_digest"
    tx = decode_as(h(r["tx"]), "SignedTx")
    payload = tx["body"]["payload"]
    if payload["tag"] != "notary.anchor":
        return "merkle_path"
    leaf_item = b"trellis/notary/v1" + h(r["digest"])
    if not merkle_verify(H, leaf_item, r["record_proof"], h(r["batch_root"])):
        return "merkle_path"
    idx = r["record_proof"]["index"]
    if r["record_proof"]["size"] != len(payload["digests"]) or payload["digests"][idx] != r["digest"]:
        return "merkle_path"
    if merkle_root(H, [b"trellis/notary/v1" + h(d) for d in payload["digests"]]) != h(r["batch_root"]):
        return "merkle_path"
    header = decode_as(h(r["header"]), "Header")
    changes = [(h(c["header"]), h(c["commit"]), h(c["next_validators"])) for c in r["set_changes"]]
    failed, valset, start = follow_set_changes_independently(
        H, verify, genesis["chain_id"], genesis_validator_set(genesis_text, H), changes, header["height"]
    )
    if failed is not None:
        return "validator_changes"
    if tagged(H, b"trellis/validators/v1", h(r["validators"])) != tagged(H, b"trellis/validators/v1", valset):
        return "validator_set"
    if header["chain_id"] != genesis["chain_id"] or tx["body"]["chain_id"] != genesis["chain_id"]:
        return "wrong_chain"
    if r["tx_proof"]["size"] != header["tx_count"] or not merkle_verify(
        H, h(r["tx"]), r["tx_proof"], h(header["tx_root"])
    ):
        return "tx_inclusion"
    result = decode_as(h(r["result"]), "Receipt")
    if r["result_proof"]["size"] != header["tx_count"] or not merkle_verify(
        H, h(r["result"]), r["result_proof"], h(header["results_root"])
    ):
        return "tx_result"
    if r["result_proof"]["index"] != r["tx_proof"]["index"] or h(result["tx_hash"]) != tagged(
        H, b"trellis/tx/v1", h(r["tx"])
    ):
        return "tx_result"
    if result["code"] != 0:
        return "tx_result"
    if header["height"] < start or not verify_commit_independently(
        H, verify, genesis["chain_id"], valset, h(r["header"]), h(r["commit"])
    ):
        return "commit_certificate"
    return "valid"


def follow_set_changes_independently(
    H: Callable[[bytes], bytes],
    verify: Any,
    chain_id: str,
    genesis_set: bytes,
    changes: list[tuple[bytes, bytes, bytes]],
    target: int,
) -> tuple[str | None, bytes, int]:
    """docs/spec/light-client.md 6: walk (header, commit, next_validators) bytes from the genesis set.
    Returns (None or the failing code, the set reached, the first height it signs)."""
    s, start = genesis_set, 1
    for header_raw, commit_raw, next_raw in changes:
        try:
            header = decode_as(header_raw, "Header")
            decode_as(commit_raw, "Commit")
            nxt = decode_as(next_raw, "ValidatorSet")
        except AssertionError:
            return "validator_changes", s, start
        n = header["height"]
        if header["chain_id"] != chain_id:
            return "wrong_chain", s, start
        if n < start or n + 1 > target:
            return "validator_changes", s, start
        addrs = [tagged(H, b"trellis/address", h(v["public_key"]))[:20] for v in nxt["validators"]]
        if any(a >= b for a, b in itertools.pairwise(addrs)):
            return "validator_changes", s, start
        if not verify_commit_independently(H, verify, chain_id, s, header_raw, commit_raw):
            return "validator_changes", s, start  # (includes validators_hash == hash(s))
        if h(header["next_validators_hash"]) != tagged(H, b"trellis/validators/v1", next_raw):
            return "validator_changes", s, start
        s, start = next_raw, n + 1
    return None, s, start


@pytest.mark.parametrize("i", range(4))
def test_notary_receipt_vector(i: int) -> None:
    binary = (RECEIPTS / f"file{i}.receipt.msgpack").read_bytes()
    receipt = decode_as(binary, "ReceiptV2")
    assert receipt["version"] == 2
    assert receipt_json_form(receipt) == (RECEIPTS / f"file{i}.receipt.json").read_text()
    for inner, t in [
        ("tx", "SignedTx"),
        ("result", "Receipt"),
        ("header", "Header"),
        ("commit", "Commit"),
        ("validators", "ValidatorSet"),
    ]:
        decode_as(h(receipt[inner]), t)
    digest = sha256((RECEIPTS / f"file{i}.bin").read_bytes())
    assert verify_notary_receipt(receipt, RECEIPT_GENESIS, digest) == "valid"
    assert verify_notary_receipt(receipt, RECEIPT_GENESIS, sha256(b"another file")) == "file_digest"


def _from_json_form(text: str) -> dict[str, Any]:
    obj = json.loads(text)
    assert obj.pop("format") == "trellis-notary-receipt"
    out: dict[str, Any] = {}
    for name, t in STRUCTS["ReceiptV2"]:
        v = obj.pop(name)
        if name == "set_changes":
            out[name] = [{k: c[k][2:] for k in ("header", "commit", "next_validators")} for c in v]
        elif t == "MerkleProof":
            out[name] = {"index": v["index"], "size": v["size"], "siblings": [s[2:] for s in v["siblings"]]}
        elif t[0] == "bytes":
            assert re.fullmatch(r"0x([0-9a-f]{2})*", v)
            out[name] = v[2:]
        else:
            out[name] = v
    assert not obj, f"unknown receipt members {sorted(obj)}"
    assert receipt_json_form(out) == text
    return out


def test_notary_receipt_after_a_set_change_verifies_from_its_genesis() -> None:
    binary = (RECEIPTS / "set-change.receipt.msgpack").read_bytes()
    receipt = decode_as(binary, "ReceiptV2")
    assert receipt == _from_json_form((RECEIPTS / "set-change.receipt.json").read_text())
    assert len(receipt["set_changes"]) == 1
    genesis = (RECEIPTS / "set-change.genesis.json").read_text()
    digest = sha256((RECEIPTS / "file1.bin").read_bytes())
    assert verify_notary_receipt(receipt, genesis, digest) == "valid"
    assert verify_notary_receipt({**receipt, "set_changes": []}, genesis) == "validator_set"
    genesis_set = genesis_validator_set(genesis, sha256).hex()
    assert verify_notary_receipt({**receipt, "set_changes": [], "validators": genesis_set}, genesis) == (
        "commit_certificate"
    )
    bad = {**receipt["set_changes"][0], "next_validators": genesis_set}
    assert verify_notary_receipt({**receipt, "set_changes": [bad]}, genesis) == "validator_changes"


def test_a_version_1_receipt_is_unsupported_version() -> None:
    obj = json.loads((RECEIPTS / "v1-file0.receipt.json").read_text())
    assert obj["format"] == "trellis-notary-receipt" and obj["version"] == 1
    assert verify_notary_receipt(obj, RECEIPT_GENESIS) == "unsupported_version"


def test_notary_receipt_of_another_chain_is_wrong_chain() -> None:
    receipt = _from_json_form((RECEIPTS / "other-chain.receipt.json").read_text())
    assert verify_notary_receipt(receipt, RECEIPT_GENESIS) == "wrong_chain"


def test_notary_receipt_json_forms_parse_to_the_binary_forms() -> None:
    for i in range(4):
        from_json = _from_json_form((RECEIPTS / f"file{i}.receipt.json").read_text())
        assert from_json == decode_as((RECEIPTS / f"file{i}.receipt.msgpack").read_bytes(), "ReceiptV2")


# --- vc/eddsa-jcs-2022.json: RFC 8785 canonical JSON and the W3C eddsa-jcs-2022 signature ---------------------

_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def _base58btc(s: str) -> bytes:
    n = 0
    for c in s:
        n = n * 58 + _B58.index(c)
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes(len(s) - len(s.lstrip("1"))) + raw


def jcs(value: Any) -> str:
    """RFC 8785 for documents without floats and with ASCII member names (all the vector holds): sorted members,
    no white space, UTF-8 (not \\u escapes) for non-ASCII text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def test_vc_eddsa_jcs_vector() -> None:
    v = load("vc/eddsa-jcs-2022.json")
    assert jcs(v["unsigned"]) == v["canonicalDocument"]
    assert sha256(v["canonicalDocument"].encode()).hex() == v["documentHashHex"]
    public = _base58btc(v["keyPair"]["publicKeyMultibase"][1:])
    assert public[:2] == b"\xed\x01"  # multicodec ed25519-pub
    message = sha256(jcs(v["proofConfig"]).encode()) + sha256(v["canonicalDocument"].encode())
    assert ed25519_ok(public[2:], message, h(v["signatureHex"]))


# --- light_client.json: docs/spec/light-client.md, written out from the spec ----------------------------------

LIGHT = load("light_client.json")
LC_CHAIN = LIGHT["chain_id"]


def _vhash(raw: bytes) -> bytes:
    return tagged(sha256, b"trellis/validators/v1", raw)


def _lc_trusted(which: int | str) -> dict[str, Any]:
    """A trusted state (light-client.md 3): the genesis state or that of a block of ``blocks``."""
    if which == "genesis":
        gset = genesis_validator_set(LIGHT["genesis_json"], sha256)
        doc = json.loads(LIGHT["genesis_json"])
        return {
            "height": 0,
            "block_id": bytes(32),
            "time_ms": doc["genesis_time_ms"],
            "validators": gset,
            "next_validators_hash": _vhash(gset),
        }
    b = LIGHT["blocks"][int(which) - 1]
    header = decode_as(h(b["header_bytes"]), "Header")
    return {
        "height": header["height"],
        "block_id": h(b["block_id"]),
        "time_ms": header["time_ms"],
        "validators": h(b["validators_bytes"]),
        "next_validators_hash": h(header["next_validators_hash"]),
    }


def lc_verify(
    t: dict[str, Any],
    header_raw: bytes,
    commit_raw: bytes,
    vals_raw: bytes,
    now: int | None,
    period: int | None,
    drift: int,
    level: tuple[int, int],
) -> tuple[str, dict[str, Any] | None]:
    """light-client.md 4: verify (adjacent or not); returns ("ok", the new state) or (error code, None)."""
    try:
        header = decode_as(header_raw, "Header")
    except AssertionError:
        return "invalid_header", None
    try:
        commit = decode_as(commit_raw, "Commit")
    except AssertionError:
        return "invalid_commit", None
    try:
        decode_as(vals_raw, "ValidatorSet")
    except AssertionError:
        return "validators_mismatch", None
    n = header["height"]
    if n <= t["height"]:
        return "not_after", None
    adjacent = n == t["height"] + 1
    if not adjacent:
        num, den = level
        if not (den > 0 and 3 * num >= den and num < den):
            return "bad_trust_level", None
    block_id = tagged(sha256, b"trellis/header/v1", header_raw)
    if header["chain_id"] != LC_CHAIN:
        return "wrong_chain", None
    if header["time_ms"] <= t["time_ms"]:
        return "not_after", None
    if h(header["validators_hash"]) != _vhash(vals_raw):
        return "validators_mismatch", None
    if commit["height"] != n or h(commit["block_hash"]) != block_id:
        return "invalid_commit", None
    if now is not None and period is not None and t["time_ms"] + period <= now:
        return "expired", None
    if now is not None and header["time_ms"] >= now + drift:
        return "from_future", None
    if adjacent:
        if h(header["parent_hash"]) != t["block_id"]:
            return "invalid_header", None
        if h(header["validators_hash"]) != t["next_validators_hash"]:
            return "validators_mismatch", None
    else:
        members = {
            tagged(sha256, b"trellis/address", h(v["public_key"]))[:20]: v
            for v in decode_as(t["validators"], "ValidatorSet")["validators"]
        }
        message = b"\x0ftrellis/vote/v1" + pack([LC_CHAIN, 2, commit["height"], commit["round"], block_id])
        signed, last = 0, b""
        for sig in commit["signatures"]:
            a = h(sig["validator"])
            if a <= last:
                return "invalid_commit", None
            last = a
            if a in members:
                if not ed25519_ok(h(members[a]["public_key"]), message, h(sig["signature"])):
                    return "invalid_commit", None
                signed += members[a]["power"]
        total = sum(v["power"] for v in members.values())
        if level[1] * signed <= level[0] * total:
            return "not_enough_trust", None
    if not verify_commit_independently(sha256, ed25519_ok, LC_CHAIN, vals_raw, header_raw, commit_raw):
        return "invalid_commit", None
    return "ok", {
        "height": n,
        "block_id": block_id,
        "time_ms": header["time_ms"],
        "validators": vals_raw,
        "next_validators_hash": h(header["next_validators_hash"]),
    }


def test_light_client_genesis_keys_and_blocks() -> None:
    assert (
        tagged(sha256, b"trellis/genesis/v1", canonical_genesis(LIGHT["genesis_json"])).hex() == LIGHT["genesis_hash"]
    )
    for k in LIGHT["keys"]:
        assert ed25519_public(h(k["seed"])).hex() == k["public_key"]
        assert tagged(sha256, b"trellis/address", h(k["public_key"]))[:20].hex() == k["address"]
    previous = None
    for b in LIGHT["blocks"]:
        raw = h(b["header_bytes"])
        header = decode_as(raw, "Header")
        assert header == b["header"]
        assert tagged(sha256, b"trellis/header/v1", raw).hex() == b["block_id"]
        assert _vhash(h(b["validators_bytes"])).hex() == b["validators_hash"] == header["validators_hash"]
        assert b["next_validators_hash"] == header["next_validators_hash"]
        assert verify_commit_independently(
            sha256, ed25519_ok, LC_CHAIN, h(b["validators_bytes"]), raw, h(b["commit_bytes"])
        )
        if previous is not None:  # light-client.md 2: the chain's own invariants
            assert previous["next_validators_hash"] == header["validators_hash"]
            assert previous["block_id"] == header["parent_hash"]
        previous = {**header, "block_id": b["block_id"]}


@pytest.mark.parametrize("case", LIGHT["cases"], ids=lambda c: c["name"])
def test_light_client_case(case: dict[str, Any]) -> None:
    lb = case["light_block"]
    got, _ = lc_verify(
        _lc_trusted(case["trusted"]),
        h(lb["header_bytes"]),
        h(lb["commit_bytes"]),
        h(lb["validators_bytes"]),
        case["now_ms"],
        case["trusting_period_ms"],
        case["max_clock_drift_ms"],
        tuple(case["trust_level"]),
    )
    assert got == case["expect"]


def test_light_client_bisection_order() -> None:
    b = LIGHT["bisection"]
    t = _lc_trusted(b["trusted_height"])
    pending, fetched = [b["target"]], []
    while pending:
        n = pending[-1]
        fetched.append(n)
        blk = LIGHT["blocks"][n - 1]
        got, new = lc_verify(
            t, h(blk["header_bytes"]), h(blk["commit_bytes"]), h(blk["validators_bytes"]), None, None, 10_000, (1, 3)
        )
        if got == "not_enough_trust":
            pending.append((t["height"] + n) // 2)
            continue
        assert got == "ok" and new is not None
        t = new
        pending.pop()
    assert fetched == b["fetch_order"] and t["height"] == b["target"]


def test_light_client_set_changes_are_the_blocks_announcing_new_sets() -> None:
    by_height = {b["height"]: b for b in LIGHT["blocks"]}
    for c in LIGHT["set_changes"]:
        b = by_height[c["effective_height"] - 1]
        assert c["header_bytes"] == b["header_bytes"] and c["commit_bytes"] == b["commit_bytes"]
        assert _vhash(h(c["next_validators_bytes"])).hex() == b["next_validators_hash"] != b["validators_hash"]


@pytest.mark.parametrize("case", LIGHT["from_genesis"], ids=lambda c: c["name"])
def test_light_client_from_genesis(case: dict[str, Any]) -> None:
    target = LIGHT["blocks"][case["target"] - 1]
    header_raw = h(target["header_bytes"])
    changes = [(h(c["header_bytes"]), h(c["commit_bytes"]), h(c["next_validators_bytes"])) for c in case["set_changes"]]
    failed, s, start = follow_set_changes_independently(
        sha256, ed25519_ok, LC_CHAIN, genesis_validator_set(LIGHT["genesis_json"], sha256), changes, case["target"]
    )
    if failed is None:
        header = decode_as(header_raw, "Header")
        if header["height"] < start:
            failed = "validator_changes"
        elif not verify_commit_independently(sha256, ed25519_ok, LC_CHAIN, s, header_raw, h(target["commit_bytes"])):
            failed = "invalid_commit"
    assert (failed or "ok") == case["expect"]


# --- attestations.json: docs/spec/attestations.md ------------------------------------------------------------

ATTEST = load("attestations.json")


def attestation_id(attester: bytes, nonce: int, subject: str, claim_type: str) -> bytes:
    """attestations.md 2, rule 3."""
    s, t = subject.encode(), claim_type.encode()
    data = attester + nonce.to_bytes(8, "big") + len(s).to_bytes(2, "big") + s + len(t).to_bytes(2, "big") + t
    return tagged(sha256, b"trellis/attestation-id/v1", data)


def address_of(public: bytes) -> bytes:
    return tagged(sha256, b"trellis/address", public)[:20]


@pytest.mark.parametrize("case", ATTEST["cases"], ids=lambda c: c["name"])
def test_attestation_message_vector(case: dict[str, Any]) -> None:
    public = ed25519_public(h(ATTEST["seed"]))
    assert public.hex() == ATTEST["public_key"] and address_of(public).hex() == ATTEST["address"]
    assert decode_as(h(case["payload_bytes"]), ("union", "Payload")) == case["payload"]
    tx = check_signed_tx(case, public, sha256, ed25519_ok)
    assert tx["body"] == {
        "chain_id": ATTEST["chain_id"],
        "sender": public.hex(),
        "nonce": case["nonce"],
        "payload": case["payload"],
        "memo": "",
    }
    assert h(case["payload_bytes"]) in h(case["body_bytes"])


def test_attestation_ids() -> None:
    for row in ATTEST["ids"]:
        got = attestation_id(h(row["attester"]), row["nonce"], row["subject"], row["claim_type"])
        assert got.hex() == row["id"]


def test_attestation_block_receipts_and_state() -> None:
    block = ATTEST["block"]
    txs = [decode_as(h(raw), "SignedTx") for raw in block["txs"]]
    receipts = [decode_as(h(raw), "Receipt") for raw in block["receipts"]]
    for raw, r in zip(block["txs"], receipts, strict=True):
        assert r["tx_hash"] == tagged(sha256, b"trellis/tx/v1", h(raw)).hex()
    assert [r["code"] for r in receipts] == block["receipt_codes"] == [0, 3, 0]  # OK, NOT_OWNER, OK

    attest_tx, stranger_tx, revoke_tx = (t["body"] for t in txs)
    alice = address_of(h(attest_tx["sender"]))
    msg = attest_tx["payload"]
    ident = attestation_id(alice, attest_tx["nonce"], msg["subject"], msg["claim_type"])
    assert ident.hex() == block["attestation_id"] == stranger_tx["payload"]["id"] == revoke_tx["payload"]["id"]
    assert address_of(h(stranger_tx["sender"])) != alice and address_of(h(revoke_tx["sender"])) == alice

    def attrs(event: dict[str, Any]) -> dict[str, str]:
        return {k: v for k, v in event["attributes"]}

    (made,) = receipts[0]["events"]
    assert made["type"] == "attestations.attest"
    assert attrs(made) == {
        "id": ident.hex(),
        "attester": alice.hex(),
        "subject": msg["subject"].encode().hex(),
        "claim_type": msg["claim_type"].encode().hex(),
    }
    assert receipts[1]["events"] == []
    (revoked,) = receipts[2]["events"]
    assert revoked["type"] == "attestations.revoke" and attrs(revoked) == {"id": ident.hex(), "attester": alice.hex()}

    height, time_ms = 1, block["time_ms"]
    subject_hash = tagged(sha256, b"trellis/attestation-subject/v1", msg["subject"].encode())
    record = {
        "id": ident.hex(),
        "attester": alice.hex(),
        "attester_did": msg["attester_did"],
        "subject": msg["subject"],
        "claim_type": msg["claim_type"],
        "statement": msg["statement"],
        "expires_at_ms": msg["expires_at_ms"],
        "height": height,
        "time_ms": time_ms,
        "nonce": attest_tx["nonce"],
        "revoked_height": height,  # revoked by the block's third transaction
        "revoked_ms": time_ms,
    }
    expected = {
        b"attest/record/" + ident: ("Attestation", record),
        b"attest/subject/" + subject_hash + height.to_bytes(8, "big") + ident: ("id", ident),
        b"attest/attester/" + alice + height.to_bytes(8, "big") + ident: ("id", ident),
    }
    state = {h(e["key"]): h(e["value"]) for e in block["state"]}
    assert set(state) == set(expected)
    for key, (kind, want) in expected.items():
        if kind == "id":
            assert state[key] == want
        else:
            assert decode_as(state[key], "Attestation") == want


# --- interchain.json and transfer.json: docs/spec/interchain.md, transfer.md -----------------------------------

INTERCHAIN = load("interchain.json")
TRANSFER = load("transfer.json")


@pytest.mark.parametrize("case", INTERCHAIN["cases"], ids=lambda c: c["name"])
def test_interchain_message_vector(case: dict[str, Any]) -> None:
    public = ed25519_public(h(INTERCHAIN["seed"]))
    assert public.hex() == INTERCHAIN["public_key"] and address_of(public).hex() == INTERCHAIN["address"]
    assert decode_as(h(case["payload_bytes"]), ("union", "Payload")) == case["payload"]
    tx = check_signed_tx(case, public, sha256, ed25519_ok)
    assert tx["body"]["payload"] == case["payload"] and tx["body"]["nonce"] == case["nonce"]


def test_interchain_state_keys_written_out_from_the_spec() -> None:
    """interchain.md 3: the key of each record from its identifiers (heights and sequences 8 bytes, big-endian)."""

    def be(n: int) -> bytes:
        return n.to_bytes(8, "big")

    formulas: dict[str, Callable[..., bytes]] = {
        "next_ids": lambda: b"interchain/next_ids",
        "trusted": lambda c: b"interchain/trusted/" + c.encode(),
        "client": lambda c: b"interchain/client/" + c.encode(),
        "consensus": lambda c, n: b"interchain/consensus/" + c.encode() + b"/" + be(n),
        "misbehaviour": lambda c: b"interchain/misbehaviour/" + c.encode(),
        "connection": lambda c: b"interchain/connection/" + c.encode(),
        "channel": lambda p, c: b"interchain/channel/" + p.encode() + b"/" + c.encode(),
        "seq_send": lambda p, c: b"interchain/seq_send/" + p.encode() + b"/" + c.encode(),
        "seq_recv": lambda p, c: b"interchain/seq_recv/" + p.encode() + b"/" + c.encode(),
        "seq_ack": lambda p, c: b"interchain/seq_ack/" + p.encode() + b"/" + c.encode(),
        "packet": lambda p, c, n: b"interchain/packet/" + p.encode() + b"/" + c.encode() + b"/" + be(n),
        "receipt": lambda p, c, n: b"interchain/receipt/" + p.encode() + b"/" + c.encode() + b"/" + be(n),
        "ack": lambda p, c, n: b"interchain/ack/" + p.encode() + b"/" + c.encode() + b"/" + be(n),
    }
    assert {row["kind"] for row in INTERCHAIN["keys"]} == set(formulas)
    for row in INTERCHAIN["keys"]:
        assert formulas[row["kind"]](*row["args"]).hex() == row["key"], row["kind"]


def test_packet_ack_and_packet_id() -> None:
    packet = INTERCHAIN["packet"]
    assert decode_as(h(packet["bytes"]), "Packet") == packet["fields"]
    assert tagged(sha256, b"trellis/interchain/packet/v1", h(packet["bytes"])).hex() == packet["packet_id"]
    data = decode_as(h(packet["fields"]["data"]), "TransferData")
    assert data["denom"] == "native" and data["amount"] == 250
    for ack in INTERCHAIN["acks"]:
        assert decode_as(h(ack["bytes"]), "Ack") == ack["fields"]


def test_interchain_proofs_verify_as_a_light_client_checks_them() -> None:
    """interchain.md 6: the root recomputed from (key, value or absence, proof) must equal the consensus state's
    root at the proof's height; the proof for one key does not prove another."""
    proofs = INTERCHAIN["proofs"]
    entries = {h(e["key"]): h(e["value"]) for e in proofs["entries"]}
    root = h(proofs["state_root"])
    assert smt_root(sha256, entries) == root
    assert {c["valid"] for c in proofs["cases"]} == {True, False}
    for case in proofs["cases"]:
        raw = h(case["proof_bytes"])
        proof = decode_as(raw, "StateProof")
        value = None if case["value"] is None else h(case["value"])
        assert state_proof_ok(sha256, h(case["key"]), value, proof, root, proofs["height"]) == case["valid"], case[
            "name"
        ]


def test_transfer_denoms_escrows_and_data() -> None:
    for row in TRANSFER["denoms"]:
        assert tagged(sha256, b"trellis/transfer/denom/v1", row["denom"].encode()).hex() == row["denom_hash"]
    for row in TRANSFER["voucher_escrow_keys"]:
        dh = tagged(sha256, b"trellis/transfer/denom/v1", row["denom"].encode())
        assert dh.hex() == row["denom_hash"]
        assert (b"transfer/vescrow/" + row["channel"].encode() + b"/" + dh).hex() == row["key"]
    data = TRANSFER["transfer_data"]
    assert decode_as(h(data["bytes"]), "TransferData") == data["fields"]


# --- directory.json: docs/spec/directory.md ------------------------------------------------------------------

DIRECTORY = load("directory.json")
DIRECTORY_STOP_WORDS = set("a an and are as at be by for from in into is it of on or the to with".split())


def directory_entry_id(chain_id: str, owner: bytes, nonce: int) -> bytes:
    """directory.md 2.1."""
    c = chain_id.encode()
    return tagged(sha256, b"trellis/directory/id/v1", bytes([len(c)]) + c + owner + nonce.to_bytes(8, "big"))


def directory_request_id(entry: bytes, requester: bytes, nonce: int) -> bytes:
    """directory.md 2.1."""
    return tagged(sha256, b"trellis/directory/request/v1", entry + requester + nonce.to_bytes(8, "big"))


def directory_title_words(title: str) -> list[str]:
    """directory.md 2.3, by character classes: runs of letters (alphanumeric, not a decimal digit, not ``_``) and
    runs of decimal digits are words; everything else separates."""
    words: list[str] = []
    run, run_kind = "", ""
    for ch in title.lower() + " ":
        kind = "digit" if ch.isdecimal() else "letter" if ch.isalnum() else ""
        if kind != run_kind and run:
            words.append(run)
            run = ""
        run_kind = kind
        if kind:
            run += ch
    out: list[str] = []
    for w in (w[:32] for w in words):
        if len(w) < 2 or w in DIRECTORY_STOP_WORDS or w in out:
            continue
        out.append(w)
        if len(out) == 16:
            break
    return out


def directory_index_prefix(kind: str, value: str) -> bytes:
    """directory.md 2.3."""
    return b"directory/ix/" + kind.encode() + tagged(sha256, b"trellis/directory/index/v1", value.encode())


@pytest.mark.parametrize("case", DIRECTORY["cases"], ids=lambda c: c["name"])
def test_directory_message_vector(case: dict[str, Any]) -> None:
    public = ed25519_public(h(DIRECTORY["seed"]))
    assert public.hex() == DIRECTORY["public_key"] and address_of(public).hex() == DIRECTORY["address"]
    assert decode_as(h(case["payload_bytes"]), ("union", "Payload")) == case["payload"]
    tx = check_signed_tx(case, public, sha256, ed25519_ok)
    assert tx["body"] == {
        "chain_id": DIRECTORY["chain_id"],
        "sender": public.hex(),
        "nonce": case["nonce"],
        "payload": case["payload"],
        "memo": "",
    }


def test_directory_ids() -> None:
    for row in DIRECTORY["ids"]["entry"]:
        assert directory_entry_id(row["chain_id"], h(row["owner"]), row["nonce"]).hex() == row["id"]
    for row in DIRECTORY["ids"]["request"]:
        assert directory_request_id(h(row["entry_id"]), h(row["requester"]), row["nonce"]).hex() == row["id"]
    # The publish case (nonce 0) makes the entry the update, request and withdraw cases name.
    owner = address_of(ed25519_public(h(DIRECTORY["seed"])))
    ident = directory_entry_id(DIRECTORY["chain_id"], owner, 0).hex()
    named = {c["name"]: c["payload"] for c in DIRECTORY["cases"]}
    assert named["directory.update"]["id"] == named["directory.request_access"]["entry_id"] == ident
    assert named["directory.decide"]["request_id"] == directory_request_id(h(ident), owner, 3).hex()


def test_directory_index_keys() -> None:
    index = DIRECTORY["index"]
    for row in index["titles"]:
        assert directory_title_words(row["title"]) == row["words"], row["title"]
    for row in index["prefixes"]:
        assert directory_index_prefix(row["kind"], row["value"]).hex() == row["prefix"]
    entry = index["entry"]
    fields = entry["fields"]
    words = list(dict.fromkeys([*fields["keywords"], *directory_title_words(fields["title"])]))[:32]
    pairs = [("o", fields["owner_did"]), ("t", fields["type"]), ("c", entry["chain_id"]), *(("w", w) for w in words)]
    assert [(p["kind"], p["value"]) for p in entry["pairs"]] == pairs
    keys = [(directory_index_prefix(k, v) + h(entry["id"])).hex() for k, v in pairs]
    assert entry["keys"] == keys


def test_directory_records() -> None:
    records = DIRECTORY["records"]
    for name, struct in (
        ("entry", "Entry"),
        ("withdrawn_entry", "Entry"),
        ("access_request", "AccessRequest"),
        ("announce", "Announce"),
        ("mirror", "Mirror"),
    ):
        assert decode_as(h(records[name]["bytes"]), struct) == records[name]["fields"], name
    entry = records["entry"]["fields"]
    assert directory_entry_id(entry["chain_id"], h(entry["owner"]), entry["nonce"]).hex() == entry["id"]
    # The packet data and the mirror carry the Entry's canonical bytes unchanged.
    assert records["announce"]["fields"]["entry"] == records["entry"]["bytes"]
    assert records["mirror"]["fields"]["entry"] == records["entry"]["bytes"]
    assert records["announce"]["fields"]["home_height"] == entry["updated_height"]


# --- hub.json: docs/spec/hub.md, transfer.md (routed transfers) ---------------------------------------------

HUB = load("hub.json")


@pytest.mark.parametrize("case", HUB["cases"], ids=lambda c: c["name"])
def test_hub_message_vector(case: dict[str, Any]) -> None:
    public = ed25519_public(h(HUB["seed"]))
    assert public.hex() == HUB["public_key"] and address_of(public).hex() == HUB["address"]
    assert decode_as(h(case["payload_bytes"]), ("union", "Payload")) == case["payload"]
    tx = check_signed_tx(case, public, sha256, ed25519_ok)
    assert tx["body"] == {
        "chain_id": HUB["chain_id"],
        "sender": public.hex(),
        "nonce": case["nonce"],
        "payload": case["payload"],
        "memo": "",
    }


def test_hub_records() -> None:
    records = HUB["records"]
    for name, struct in (
        ("subchain_registered", "SubChain"),
        ("subchain_connected", "SubChain"),
        ("transfer_data", "TransferData"),
        ("forwarded_transfer_data", "ForwardedTransferData"),
    ):
        assert decode_as(h(records[name]["bytes"]), struct) == records[name]["fields"], name
    # The receiver tells the two packet data apart by the array's length: 4 elements or 5.
    assert h(records["transfer_data"]["bytes"])[0] == 0x94
    assert h(records["forwarded_transfer_data"]["bytes"])[0] == 0x95
    row = records["by_org_key"]
    expect = b"hub/by_org/" + tagged(sha256, b"trellis/hub/org/v1", row["org"].encode()) + row["chain_id"].encode()
    assert expect.hex() == row["key"]


@pytest.mark.parametrize("case", HUB["genesis"], ids=lambda c: c["name"])
def test_hub_genesis_vector(case: dict[str, Any]) -> None:
    canonical = canonical_genesis(case["genesis_json"])
    assert canonical.hex() == case["canonical_bytes"]
    assert tagged(sha256, b"trellis/genesis/v1", canonical).hex() == case["genesis_hash"]


def test_a_subchain_genesis_names_the_hub_vector() -> None:
    hub, sub = HUB["genesis"]
    assert json.loads(sub["genesis_json"])["interchain"]["hub"]["genesis_hash"] == hub["genesis_hash"]


# --- custody.json: docs/spec/custody.md ---------------------------------------------------------------------

CUSTODY = load("custody.json")


def custody_segments(data: bytes) -> list[bytes]:
    """custody.md 3: 4096-byte segments, the last one shorter."""
    return [data[i : i + 4096] for i in range(0, len(data), 4096)]


def custody_segment_hash(segment: bytes) -> bytes:
    return tagged(sha256, b"trellis/custody/segment", segment)


def custody_org(org: str) -> bytes:
    raw = org.encode()
    return bytes([len(raw)]) + raw


@pytest.mark.parametrize("case", CUSTODY["cases"], ids=lambda c: c["name"])
def test_custody_message_vector(case: dict[str, Any]) -> None:
    public = ed25519_public(h(CUSTODY["seed"]))
    assert public.hex() == CUSTODY["public_key"] and address_of(public).hex() == CUSTODY["address"]
    assert decode_as(h(case["payload_bytes"]), ("union", "Payload")) == case["payload"]
    tx = check_signed_tx(case, public, sha256, ed25519_ok)
    assert tx["body"]["payload"] == case["payload"] and tx["body"]["nonce"] == case["nonce"]


def test_custody_segment_tree_and_paths() -> None:
    tree = CUSTODY["tree"]
    segments = custody_segments(h(tree["file"]))
    leaves = [custody_segment_hash(s) for s in segments]
    assert [x.hex() for x in leaves] == tree["segment_hashes"]
    root = merkle_root(sha256, leaves)
    assert root.hex() == tree["segment_root"]
    for i, path in enumerate(tree["paths"]):
        proof = {"index": i, "size": len(leaves), "siblings": path}
        assert merkle_verify(sha256, leaves[i], proof, root)
        assert not merkle_verify(sha256, custody_segment_hash(segments[i][:-1]), proof, root)
    # The registration case commits to this file.
    (reg,) = [c["payload"] for c in CUSTODY["cases"] if c["payload"]["tag"] == "custody.register"]
    data = h(tree["file"])
    assert (reg["segment_root"], reg["size"], reg["segment_count"]) == (root.hex(), len(data), -(-len(data) // 4096))


def test_custody_seeds_draws_and_challenge_ids() -> None:
    for row in CUSTODY["draws"]:
        seed = tagged(sha256, b"trellis/custody/seed", h(row["parent_id"]) + row["height"].to_bytes(8, "big"))
        assert seed.hex() == row["seed"]
        drawn = tagged(sha256, b"trellis/custody/pick", seed + row["number"].to_bytes(4, "big"))
        assert drawn.hex() == row["pick"]
        assert row["org_index"] == int.from_bytes(drawn[:8], "big") % row["orgs"]
        assert row["index"] == int.from_bytes(drawn[8:16], "big") % row["files"]
        assert row["segment"] == int.from_bytes(drawn[16:24], "big") % row["segment_count"]
        assert row["challenge_id"] == (row["height"].to_bytes(8, "big") + row["number"].to_bytes(4, "big")).hex()


def _custody_state(block: dict[str, Any]) -> dict[bytes, Any]:
    """custody.md 3: every key of a block's custody state, decoded by its prefix's record type."""
    types = [
        (b"custody/meta", "CustodyMeta"),
        (b"custody/file/", "CustodyFile"),
        (b"custody/ix/", "CustodyFileRef"),
        (b"custody/org/", "CustodyOrgFiles"),
        (b"custody/oix/", "CustodyOrgRef"),
        (b"custody/challenge/", "CustodyChallenge"),
        (b"custody/missed/", "CustodyMissed"),
        (b"custody/due/", None),
        (b"custody/open/", None),
        (b"custody/closed/", None),
        (b"custody/gc/", None),
    ]
    out: dict[bytes, Any] = {}
    for entry in block["custody_state"]:
        key, value = h(entry["key"]), h(entry["value"])
        (kind,) = [t for p, t in types if key.startswith(p)]
        out[key] = value.hex() if kind is None else decode_as(value, kind)
        if kind is None:
            assert value == b""
    return out


def test_custody_blocks_rounds_answer_and_miss() -> None:
    blocks = CUSTODY["blocks"]
    genesis = json.loads(CUSTODY["genesis_json"])
    rules = genesis["custody"]
    assert [b["receipt_codes"] for b in blocks] == [[0, 0], [], [0], [], [], []]
    tree = CUSTODY["tree"]
    data = h(tree["file"])
    segments = custody_segments(data)
    leaves = [custody_segment_hash(s) for s in segments]
    alice = address_of(ed25519_public(h(CUSTODY["seed"])))
    org = genesis["orgs"][0]["name"]

    for i, b in enumerate(blocks[1:], 1):
        assert b["parent_id"] != blocks[i - 1]["parent_id"]
    # Block 1: the registration (file index 0).
    reg = decode_as(h(blocks[0]["txs"][1]), "SignedTx")["body"]["payload"]
    s1 = _custody_state(blocks[0])
    fkey = b"custody/file/" + h(reg["file_id"]) + custody_org(org)
    assert s1[fkey]["registrant"] == alice.hex() and s1[fkey]["index"] == 0 and s1[fkey]["open"] == 0
    assert s1[b"custody/ix/" + custody_org(org) + (0).to_bytes(8, "big")] == {"file_id": reg["file_id"], "org": org}
    assert s1[b"custody/org/" + custody_org(org)] == {"org": org, "index": 0, "files": 1}
    assert s1[b"custody/oix/" + (0).to_bytes(8, "big")] == {"org": org}
    assert s1[b"custody/meta"] == {"files": 1, "orgs": 1, "open": 0, "closed": 0}

    def challenge_at(height: int) -> dict[str, Any]:
        parent = h(blocks[height - 1]["parent_id"])
        seed = tagged(sha256, b"trellis/custody/seed", parent + height.to_bytes(8, "big"))
        drawn = tagged(sha256, b"trellis/custody/pick", seed + (0).to_bytes(4, "big"))
        # One organisation with one file: org index and file index 0; the segment from bytes 16..24.
        assert int.from_bytes(drawn[:8], "big") % 1 == 0 and int.from_bytes(drawn[8:16], "big") % 1 == 0
        return {
            "id": (height.to_bytes(8, "big") + bytes(4)).hex(),
            "file_id": reg["file_id"],
            "org": org,
            "segment_index": int.from_bytes(drawn[16:24], "big") % len(segments),
            "issued_height": height,
            "deadline": height + rules["response_window_blocks"],
            "status": 0,
            "closed_height": 0,
            "responder": "",
        }

    # Block 2 (a multiple of challenge_interval): one challenge drawn from block 2's parent id.
    c2 = challenge_at(2)
    s2 = _custody_state(blocks[1])
    cid2 = h(c2["id"])
    assert s2[b"custody/challenge/" + cid2] == c2
    assert b"custody/due/" + (3).to_bytes(8, "big") + cid2 in s2
    assert b"custody/open/" + custody_org(org) + cid2 in s2
    # Block 3: alice's answer checks (segment hash and path to the registered root) and closes it.
    answer = decode_as(h(blocks[2]["txs"][0]), "SignedTx")["body"]["payload"]
    assert answer["challenge_id"] == c2["id"] and h(answer["segment"]) == segments[c2["segment_index"]]
    proof = {"index": c2["segment_index"], "size": len(leaves), "siblings": answer["path"]}
    assert merkle_verify(sha256, custody_segment_hash(h(answer["segment"])), proof, h(reg["segment_root"]))
    (event,) = decode_as(h(blocks[2]["receipts"][0]), "Receipt")["events"]
    assert event["type"] == "custody.respond"
    s3 = _custody_state(blocks[2])
    assert s3[b"custody/challenge/" + cid2] == {**c2, "status": 1, "closed_height": 3, "responder": alice.hex()}
    assert b"custody/due/" + (3).to_bytes(8, "big") + cid2 not in s3
    assert b"custody/closed/" + custody_org(org) + cid2 in s3 and b"custody/gc/" + (3).to_bytes(8, "big") + cid2 in s3
    # Block 4 opens (4, 0); nobody answers; block 6 passes its deadline (5): missed, recorded, and round 6 opens.
    c4 = challenge_at(4)
    s6 = _custody_state(blocks[5])
    cid4 = h(c4["id"])
    assert s6[b"custody/challenge/" + cid4] == {**c4, "status": 2, "closed_height": 6}
    missed = s6[b"custody/missed/" + custody_org(org) + h(reg["file_id"])]
    assert missed == {"org": org, "file_id": reg["file_id"], "count": 1, "last_challenge": c4["id"], "last_height": 6}
    assert s6[b"custody/challenge/" + h(challenge_at(6)["id"])] == challenge_at(6)
    assert s6[fkey]["challenged"] == 3 and s6[fkey]["answered"] == 1 and s6[fkey]["missed"] == 1
    assert s6[fkey]["open"] == 1
    assert s6[b"custody/meta"] == {"files": 1, "orgs": 1, "open": 1, "closed": 2}


# --- snapshot.json (docs/spec/snapshot.md) -----------------------------------------------------------------------

SNAPSHOT = load("snapshot.json")
SNAPSHOT_CHUNK_TARGET = 1_048_576


def snap_depth(n: int) -> int:
    """snapshot.md 2: the smallest d >= 1 with n <= 4096 * 16^d, at most 8."""
    return next((d for d in range(1, 8) if n <= 4096 * 16**d), 8)


def snap_nibbles(kp: bytes, k: int) -> tuple[int, ...]:
    return tuple(kp[i // 2] >> 4 if i % 2 == 0 else kp[i // 2] & 0x0F for i in range(k))


def snap_pack(path: tuple[int, ...]) -> bytes:
    out = bytearray((len(path) + 1) // 2)
    for i, n in enumerate(path):
        out[i // 2] |= n << 4 if i % 2 == 0 else n
    return bytes(out)


def snap_subtree(H: Callable[[bytes], bytes], leaves: list[tuple[bytes, bytes]], k: int) -> bytes:
    """T(S, k) of encoding.md 5 for leaves (kp, vh) sharing a k-nibble prefix."""
    if len(leaves) == 1:
        return tagged(H, b"trellis/smt/leaf", leaves[0][0] + leaves[0][1])
    bitmap, children = 0, b""
    for i in range(16):
        group = [leaf for leaf in leaves if snap_nibbles(leaf[0], k + 1)[k] == i]
        if group:
            bitmap |= 1 << i
            children += snap_subtree(H, group, k + 1)
    return tagged(H, b"trellis/smt/node", bitmap.to_bytes(2, "big") + children)


def snap_items(
    H: Callable[[bytes], bytes], leaves: list[tuple[bytes, bytes]], d: int
) -> list[tuple[int, bytes, bytes, list[tuple[bytes, bytes]]]]:
    """snapshot.md 2: (depth, packed prefix, hash, the item's leaves), in path order, from the key set alone."""
    out: list[tuple[int, bytes, bytes, list[tuple[bytes, bytes]]]] = []

    def visit(group: list[tuple[bytes, bytes]], k: int, path: tuple[int, ...]) -> None:
        if k == d or len(group) == 1:
            out.append((k, snap_pack(path), snap_subtree(H, group, k), group))
            return
        for i in range(16):
            sub = [leaf for leaf in group if snap_nibbles(leaf[0], k + 1)[k] == i]
            if sub:
                visit(sub, k + 1, (*path, i))

    if leaves:
        visit(sorted(leaves), 0, ())
    return out


def snap_manifest_ok(H: Callable[[bytes], bytes], m: list[Any], chain_id: str, height: int, root: bytes) -> bool:
    """snapshot.md 4, from the decoded manifest array."""
    version, cid, hgt, state_root, d, items, chunk_count, total = m
    if (version, cid, hgt, state_root) != (1, chain_id, height, root) or not 1 <= d <= 8 or d != snap_depth(total):
        return False
    if not items:
        return root == bytes(32) and chunk_count == 0 and total == 0
    if total < len(items) or items[0][3] != 0 or items[-1][3] + 1 != chunk_count:
        return False
    paths = []
    for i, (depth, prefix, _, chunk) in enumerate(items):
        if depth > d or len(prefix) != (depth + 1) // 2 or (depth % 2 and prefix[-1] & 0x0F):
            return False
        if i and chunk not in (items[i - 1][3], items[i - 1][3] + 1):
            return False
        path = snap_nibbles(prefix + bytes(1), depth)
        if paths and (path <= paths[-1] or path[: len(paths[-1])] == paths[-1]):
            return False
        paths.append(path)

    def rebuild(lo: int, hi: int, k: int) -> bytes | None:
        if len(paths[lo]) == k:
            return items[lo][2] if hi - lo == 1 else None
        if k >= d:
            return None
        bitmap, children, start = 0, b"", lo
        for j in range(lo + 1, hi + 1):
            if j == hi or paths[j][k] != paths[start][k]:
                child = rebuild(start, j, k + 1)
                if child is None:
                    return None
                bitmap |= 1 << paths[start][k]
                children += child
                start = j
        return tagged(H, b"trellis/smt/node", bitmap.to_bytes(2, "big") + children)

    return rebuild(0, len(items), 0) == root


def snap_chunk_ok(H: Callable[[bytes], bytes], m: list[Any], chunk: list[Any], index: int) -> bool:
    """snapshot.md 5, from the decoded manifest and chunk arrays."""
    version, height, i, entries = chunk
    if version != 1 or height != m[2] or i != index or index >= m[6]:
        return False
    d = m[4]
    mine = [(depth, snap_nibbles(prefix + bytes(1), depth), h_) for depth, prefix, h_, c in m[5] if c == index]
    groups: list[list[tuple[bytes, bytes]]] = [[] for _ in mine]
    last = b""
    for key, value in entries:
        kp = tagged(H, b"trellis/state/key", key)
        if kp <= last:
            return False
        last = kp
        owner = [j for j, (depth, path, _) in enumerate(mine) if snap_nibbles(kp, depth) == path]
        if len(owner) != 1:
            return False
        groups[owner[0]].append((kp, tagged(H, b"trellis/state/value", value)))
    for (depth, _, h_), group in zip(mine, groups, strict=True):
        if not group or (depth < d and len(group) != 1) or snap_subtree(H, group, depth) != h_:
            return False
    return True


def test_snapshot_frontier_depths() -> None:
    for case in SNAPSHOT["frontier_depth"]:
        assert snap_depth(case["n"]) == case["d"], case


@pytest.mark.parametrize("case", SNAPSHOT["cases"], ids=lambda c: c["name"])
def test_snapshot_vector(case: dict[str, Any]) -> None:
    H = sha256
    entries = {h(k): h(v) for k, v in case["entries"]}
    leaves = sorted(
        (tagged(H, b"trellis/state/key", k), tagged(H, b"trellis/state/value", v)) for k, v in entries.items()
    )
    root = smt_root(H, entries)
    assert h(case["state_root"]) == root
    enc = h(case["manifest"])
    m = unpack(enc)
    assert tagged(H, b"trellis/snapshot/manifest", enc) == h(case["manifest_id"])
    assert len(m) == 8 and m[:5] == [1, case["chain_id"], case["height"], root, snap_depth(len(entries))]
    assert m[7] == len(entries)
    # The items, recomputed from the key set alone (snapshot.md 2), and their chunks (snapshot.md 3).
    expected = snap_items(H, leaves, m[4])
    assert [(it[0], it[1], it[2]) for it in m[5]] == [(k, p, hh) for k, p, hh, _ in expected]
    by_kp = {tagged(H, b"trellis/state/key", k): (k, v) for k, v in entries.items()}
    chunk_of, chunk, size = [], 0, 0
    for _, _, _, group in expected:
        b = sum(len(pack([by_kp[kp][0], by_kp[kp][1]])) for kp, _ in group)
        if size and size + b > case["chunk_target"]:
            chunk, size = chunk + 1, 0
        size += b
        chunk_of.append(chunk)
    assert [it[3] for it in m[5]] == chunk_of and m[6] == (chunk_of[-1] + 1 if chunk_of else 0)
    assert case["chunk_target"] <= SNAPSHOT_CHUNK_TARGET  # the vectors cut small states finer than the spec
    assert snap_manifest_ok(H, m, case["chain_id"], case["height"], root)
    got: dict[bytes, bytes] = {}
    for i, raw in enumerate(case["chunks"]):
        c = unpack(h(raw))
        assert snap_chunk_ok(H, m, c, i)
        got.update({k: v for k, v in c[3]})
    assert got == entries
    for bad in case.get("bad_manifests", []):
        try:
            ok = snap_manifest_ok(H, unpack(h(bad["manifest"])), case["chain_id"], case["height"], root)
        except (ValueError, TypeError, IndexError, AssertionError):
            ok = False
        assert not ok, bad["why"]
    for bad in case.get("bad_chunks", []):
        assert not snap_chunk_ok(H, m, unpack(h(bad["chunk"])), bad["index"]), bad["why"]
