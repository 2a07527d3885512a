"""Test vectors of the directory module (docs/spec/directory.md 8).

``directory.json``: each ``directory.*`` message (fields, canonical payload bytes, a transaction carrying it);
entry ids and access-request ids for sample inputs; title normalisation and the index keys of a sample entry; and
the canonical bytes of an ``Entry``, an ``AccessRequest``, a ``Mirror`` and the ``Announce`` packet data.

Written by ``python -m tests.vectors.generate`` (``FILES`` is merged into its list); deterministic.
"""

from __future__ import annotations

from typing import Any

import msgspec

from tests.vectors.spec_vectors import signed_payload_rows, to_json
from trellis.core.codec import encode
from trellis.core.crypto.suite import ED25519, address_of, ed25519_keypair_from_seed, ed25519_sign
from trellis.core.ledger.tx import SignedTx, TxBody, signing_bytes
from trellis.core.modules.directory.messages import (
    CREDENTIAL_REQUIRED,
    ON_REQUEST,
    Announce,
    DirectoryDecide,
    DirectoryPublish,
    DirectoryRequestAccess,
    DirectoryUpdate,
    DirectoryWithdraw,
    EntryFields,
)
from trellis.core.modules.directory.state import (
    CHAIN,
    GRANTED,
    OWNER,
    TYPE,
    WORD,
    AccessRequest,
    Entry,
    Mirror,
    entry_id,
    index_key,
    index_prefix,
    index_values,
    request_id,
    title_words,
)
from trellis.core.modules.payload import Payload

CHAIN_ID = "trellis-vectors"
SEED = bytes(range(0, 32))
DID = "did:trellis:trellis-vectors:000102030405060708090a0b0c0d0e0f"

FIELDS = EntryFields(
    owner_did=DID,
    title="Hourly Air Quality of the Harbour, 2024 (PM2.5 & NO2)",
    type="https://schema.org/Dataset",
    keywords=["air-quality", "pm25", "harbour"],
    digest=bytes(range(32, 64)),
    receipt_ref="notary:trellis-vectors:12:0",
    location="https://data.example/air/hourly.csv",
    licence="CC-BY-4.0",
    access=CREDENTIAL_REQUIRED,
    credential_type="ResearcherCredential",
)
MINIMAL = EntryFields(
    owner_did=DID,
    title="x",
    type="token:x",
    keywords=[],
    digest=bytes(32),
    receipt_ref="",
    location="",
    licence="",
    access=ON_REQUEST,
    credential_type="",
)


def _keys() -> tuple[bytes, bytes, bytes]:
    secret, public = ed25519_keypair_from_seed(SEED)
    return secret, public, address_of(ED25519, public)


def _signed(nonce: int, payload: Payload) -> SignedTx:
    secret, public, _ = _keys()
    body = TxBody(chain_id=CHAIN_ID, sender=public, nonce=nonce, payload=payload)
    return SignedTx(body=body, signature=ed25519_sign(secret, signing_bytes(body)))


def _entry_id(nonce: int) -> bytes:
    return entry_id(ED25519, CHAIN_ID, _keys()[2], nonce)


def payload_cases() -> list[tuple[str, Payload]]:
    """(case name, payload): each message; the publish at nonce 0 makes the entry the others name."""
    ident = _entry_id(0)
    rid = request_id(ED25519, ident, _keys()[2], 3)
    return [
        ("directory.publish", DirectoryPublish(entry=FIELDS)),
        ("directory.publish.minimal", DirectoryPublish(entry=MINIMAL)),
        (
            "directory.update",
            DirectoryUpdate(id=ident, entry=msgspec.structs.replace(FIELDS, keywords=["air-quality"])),
        ),
        (
            "directory.request_access",
            DirectoryRequestAccess(entry_id=ident, presentation_digest=b"\x5a" * 32, purpose="air study"),
        ),
        ("directory.decide", DirectoryDecide(request_id=rid, grant=True, expires_at_ms=1_800_000_000_000)),
        ("directory.decide.refusal", DirectoryDecide(request_id=rid, grant=False, reason="not a researcher")),
        ("directory.withdraw", DirectoryWithdraw(id=ident, reason="superseded")),
        ("directory.withdraw.minimal", DirectoryWithdraw(id=_entry_id(1))),
    ]


def _payloads() -> list[dict[str, Any]]:
    return signed_payload_rows(payload_cases(), lambda nonce, payload: _signed(nonce, payload))


def _ids() -> dict[str, Any]:
    owner = _keys()[2]
    entries = [
        (CHAIN_ID, owner, 0),
        (CHAIN_ID, owner, 1),
        ("sub-1", owner, 0),  # the same owner and nonce on another chain: another id
        ("a" * 64, b"\xff" * 20, 2**64 - 1),
    ]
    requests = [(_entry_id(0), owner, 3), (_entry_id(0), b"\x01" * 20, 0)]
    return {
        "entry": [
            {"chain_id": c, "owner": o.hex(), "nonce": n, "id": entry_id(ED25519, c, o, n).hex()} for c, o, n in entries
        ],
        "request": [
            {"entry_id": e.hex(), "requester": r.hex(), "nonce": n, "id": request_id(ED25519, e, r, n).hex()}
            for e, r, n in requests
        ],
    }


TITLES = [
    FIELDS.title,
    "The A to Z of it",
    "Éléphants d'Afrique — Recensement 2023",
    "snake_case and CamelCase: x1y2",
    " ".join(f"w{i:02d}x" for i in range(20)),
    "a" * 40 + " " + "b" * 2 + " " + "a" * 32,  # the cut word and a word equal to it: indexed once
    "data data DATA Data",
    "",
]


def _index() -> dict[str, Any]:
    ident = _entry_id(0)
    pairs = index_values(FIELDS, CHAIN_ID)
    return {
        "titles": [{"title": t, "words": title_words(t)} for t in TITLES],
        "prefixes": [
            {"kind": kind.decode(), "value": value, "prefix": index_prefix(ED25519, kind, value).hex()}
            for kind, value in ((OWNER, DID), (TYPE, FIELDS.type), (WORD, "air"), (CHAIN, "sub-1"), (WORD, ""))
        ],
        "entry": {
            "id": ident.hex(),
            "chain_id": CHAIN_ID,
            "fields": to_json(FIELDS),
            "pairs": [{"kind": k.decode(), "value": v} for k, v in pairs],
            "keys": [index_key(ED25519, k, v, ident).hex() for k, v in pairs],
            "local_value": "",
            "mirror_value": CHAIN_ID.encode().hex(),
        },
    }


def _records() -> dict[str, Any]:
    _, _, owner = _keys()
    ident = _entry_id(0)
    entry = Entry(
        id=ident,
        chain_id=CHAIN_ID,
        owner=owner,
        nonce=0,
        fields=FIELDS,
        version=2,
        withdrawn=False,
        withdraw_reason="",
        created_height=5,
        updated_height=9,
    )
    withdrawn = msgspec.structs.replace(
        entry, version=3, withdrawn=True, withdraw_reason="superseded", updated_height=11
    )
    request = AccessRequest(
        id=request_id(ED25519, ident, b"\x01" * 20, 0),
        entry_id=ident,
        requester=b"\x01" * 20,
        presentation_digest=b"\x5a" * 32,
        purpose="air study",
        status=GRANTED,
        expires_at_ms=1_800_000_000_000,
        reason="",
        requested_height=10,
        decided_height=12,
    )
    announce = Announce(entry=encode(entry), home_height=9)
    mirror = Mirror(chain_id=CHAIN_ID, home_height=9, entry=encode(entry), channel="channel-4", received_height=31)
    return {
        "entry": {"fields": to_json(entry), "bytes": encode(entry).hex()},
        "withdrawn_entry": {"fields": to_json(withdrawn), "bytes": encode(withdrawn).hex()},
        "access_request": {"fields": to_json(request), "bytes": encode(request).hex()},
        "announce": {"fields": to_json(announce), "bytes": encode(announce).hex()},
        "mirror": {"fields": to_json(mirror), "bytes": encode(mirror).hex()},
    }


def directory_vectors() -> dict[str, Any]:
    _, public, address = _keys()
    return {
        "description": (
            "The directory module (docs/spec/directory.md): each message (fields, canonical payload bytes, a "
            "transaction by `public_key` carrying it, nonce = case index, memo empty); entry and access-request "
            "ids; title normalisation, index prefixes and the index keys of one entry; the canonical Entry, "
            "AccessRequest, Announce (packet data) and Mirror."
        ),
        "suite": ED25519.name,
        "chain_id": CHAIN_ID,
        "seed": SEED.hex(),
        "public_key": public.hex(),
        "address": address.hex(),
        "cases": _payloads(),
        "ids": _ids(),
        "index": _index(),
        "records": _records(),
    }


FILES = {"directory.json": directory_vectors}
