"""Test vectors of the hub module and routed transfers (docs/spec/hub.md 7, transfer.md; ADR 0016).

``hub.json``: each ``hub.*`` message and membership change, ``transfer.send_via`` and ``transfer.expire_forward``
(fields, canonical payload bytes, a transaction carrying it); the ``SubChain`` record (registered and connected)
and a by-operator index key; the routed first hop's ``ForwardedTransferData`` beside a plain ``TransferData``; and
two genesis documents with their canonical maps and hashes: a hub registering two sub-chains, and a sub-chain naming
its hub.

Written by ``python -m tests.vectors.generate`` (``FILES`` is merged into its list); deterministic.
"""

from __future__ import annotations

import json
from typing import Any

from tests.vectors.spec_vectors import genesis_documents, signed_payload_rows, to_json
from trellis.core.codec import encode
from trellis.core.crypto.suite import ED25519, address_of, ed25519_keypair_from_seed, ed25519_sign
from trellis.core.ledger.tx import SignedTx, TxBody, signing_bytes
from trellis.core.modules.hub.messages import HubConnected, HubRegister, HubRetire, PortChannel
from trellis.core.modules.hub.state import CONNECTED, REGISTERED, SubChain, by_org_key
from trellis.core.modules.membership.messages import ProposeMembership
from trellis.core.modules.payload import Payload
from trellis.core.modules.transfer.messages import (
    Forward,
    ForwardedTransferData,
    TransferData,
    TransferExpireForward,
    TransferSendVia,
)
from trellis.core.params import load_genesis

CHAIN_ID = "hub-vectors"
SEED = bytes(range(64, 96))
SUB_GENESIS_HASH = bytes(range(100, 132))


def _keys() -> tuple[bytes, bytes, bytes]:
    secret, public = ed25519_keypair_from_seed(SEED)
    return secret, public, address_of(ED25519, public)


def _signed(nonce: int, payload: Payload) -> SignedTx:
    secret, public, _ = _keys()
    body = TxBody(chain_id=CHAIN_ID, sender=public, nonce=nonce, payload=payload)
    return SignedTx(body=body, signature=ed25519_sign(secret, signing_bytes(body)))


FORWARD = Forward(channel="channel-7", timeout_time_ms=1_900_000_000_000)


def payload_cases() -> list[tuple[str, Payload]]:
    """(case name, payload)."""
    return [
        (
            "hub.register",
            ProposeMembership(change=HubRegister(chain_id="sub-1", operator_org="acme", genesis_hash=SUB_GENESIS_HASH)),
        ),
        (
            "hub.register.checkpoint",
            ProposeMembership(
                change=HubRegister(
                    chain_id="sub-2",
                    operator_org="acme",
                    genesis_hash=SUB_GENESIS_HASH,
                    checkpoint_height=1_000,
                    checkpoint_block_id=bytes(range(7, 39)),
                )
            ),
        ),
        ("hub.retire", ProposeMembership(change=HubRetire(chain_id="sub-1"))),
        (
            "hub.connected",
            HubConnected(
                chain_id="sub-1",
                client_id="client-0",
                connection_id="connection-0",
                channels=[
                    PortChannel(port="transfer", channel="channel-0"),
                    PortChannel(port="directory", channel="channel-1"),
                ],
            ),
        ),
        (
            "transfer.send_via",
            TransferSendVia(
                channel="channel-0",
                denom="native",
                amount=250,
                receiver=b"\x33" * 20,
                forward=FORWARD,
                timeout_time_ms=1_900_000_600_000,
            ),
        ),
        ("transfer.expire_forward", TransferExpireForward(channel="channel-0", sequence=7)),
    ]


def _payloads() -> list[dict[str, Any]]:
    return signed_payload_rows(payload_cases(), lambda nonce, payload: _signed(nonce, payload))


def _records() -> dict[str, Any]:
    registered = SubChain(operator_org="acme", genesis_hash=SUB_GENESIS_HASH, status=REGISTERED, registered_height=0)
    connected = SubChain(
        operator_org="acme",
        genesis_hash=SUB_GENESIS_HASH,
        status=CONNECTED,
        registered_height=12,
        client_id="client-0",
        connection_id="connection-0",
        channels=[PortChannel(port="transfer", channel="channel-0")],
    )
    sender, receiver = b"\x11" * 20, b"\x33" * 20
    plain = TransferData(denom="native", amount=250, sender=sender, receiver=receiver)
    routed = ForwardedTransferData(denom="native", amount=250, sender=sender, receiver=receiver, forward=FORWARD)
    return {
        "subchain_registered": {"fields": to_json(registered), "bytes": encode(registered).hex()},
        "subchain_connected": {"fields": to_json(connected), "bytes": encode(connected).hex()},
        "by_org_key": {"org": "acme", "chain_id": "sub-1", "key": by_org_key(ED25519, "acme", "sub-1").hex()},
        "transfer_data": {"fields": to_json(plain), "bytes": encode(plain).hex()},
        "forwarded_transfer_data": {"fields": to_json(routed), "bytes": encode(routed).hex()},
    }


def _genesis() -> list[dict[str, Any]]:
    full = dict(genesis_documents())["full"]
    hub = {
        **full,
        "chain_id": "hub-main",
        "interchain": {"client_policy": "governed", "max_consensus_states": 16},
        "hub": {
            "subchains": [
                {"chain_id": "sub-1", "operator_org": "acme", "genesis_hash": SUB_GENESIS_HASH.hex()},
                {"chain_id": "sub-2", "operator_org": "acme", "genesis_hash": bytes(range(1, 33)).hex()},
            ]
        },
    }
    hub_hash = load_genesis(json.dumps(hub).encode()).genesis_hash
    sub = {
        **dict(genesis_documents())["minimal"],
        "chain_id": "sub-1",
        "interchain": {"hub": {"chain_id": "hub-main", "genesis_hash": hub_hash.hex()}},
    }
    cases = []
    for name, doc in (("hub", hub), ("subchain", sub)):
        text = json.dumps(doc, indent=2)
        params = load_genesis(text.encode())
        cases.append(
            {
                "name": name,
                "genesis_json": text,
                "canonical_bytes": encode(params.genesis).hex(),
                "genesis_hash": params.genesis_hash.hex(),
            }
        )
    return cases


def hub_vectors() -> dict[str, Any]:
    _, public, address = _keys()
    return {
        "description": (
            "The hub module and routed transfers (docs/spec/hub.md, transfer.md): each hub.* message and "
            "membership change, transfer.send_via and transfer.expire_forward (fields, canonical payload bytes, a "
            "transaction by `public_key` carrying it, nonce = case index, memo empty); the SubChain record, a by-operator index "
            "key, TransferData (4 elements) beside ForwardedTransferData (5); a hub genesis registering two "
            "sub-chains and a sub-chain genesis naming its hub, with their canonical maps and hashes."
        ),
        "suite": ED25519.name,
        "chain_id": CHAIN_ID,
        "seed": SEED.hex(),
        "public_key": public.hex(),
        "address": address.hex(),
        "cases": _payloads(),
        "records": _records(),
        "genesis": _genesis(),
    }


FILES = {"hub.json": hub_vectors}
