"""credentials module: reading the trust registry and status lists, and the verifier's view of committed state."""

from __future__ import annotations

from typing import Any

from trellis.abci import CommittedView
from trellis.core.codec import decode
from trellis.core.execution.context import StateReader
from trellis.core.modules.credentials.state import (
    CHUNK_BYTES,
    ISSUER_PREFIX,
    IssuerRecord,
    StatusListRecord,
    status_chunk_key,
    status_list_key,
)
from trellis.vc.resolver import ChainResolver, DidKeyResolver, DidResolver, TrellisDidResolver
from trellis.vc.status import encode_list

__all__ = [
    "CommittedView",
    "list_issuers",
    "read_status_list",
    "resolver_for",
    "status_list_chunks",
    "status_list_json",
]

MAX_ISSUERS = 1000


def resolver_for(state: StateReader, chain_id: str, suite: str) -> DidResolver:
    """The verifier's DID resolver on this chain: ``did:trellis`` from state, ``did:key`` from the DID itself."""
    return ChainResolver([("did:trellis:", TrellisDidResolver(state, chain_id, suite)), ("did:key:", DidKeyResolver())])


def list_issuers(state: StateReader) -> list[IssuerRecord]:
    """Every authorised issuer (at most 1000), in DID order."""
    end = ISSUER_PREFIX[:-1] + bytes((ISSUER_PREFIX[-1] + 1,))
    return [decode(v, IssuerRecord) for _, v in state.scan(ISSUER_PREFIX, end, MAX_ISSUERS)]


def read_status_list(state: StateReader, list_id: str) -> StatusListRecord | None:
    """A status list's header, or None."""
    raw = state.get(status_list_key(list_id))
    return None if raw is None else decode(raw, StatusListRecord)


def status_list_chunks(record: StatusListRecord) -> list[int]:
    """The chunk numbers of a list."""
    return list(range((record.size // 8 + CHUNK_BYTES - 1) // CHUNK_BYTES))


def status_list_bits(state: StateReader, record: StatusListRecord) -> bytes:
    """The list's whole bitstring (chunks never written are zeros)."""
    out = bytearray()
    for n in status_list_chunks(record):
        want = min(CHUNK_BYTES, record.size // 8 - n * CHUNK_BYTES)
        raw = state.get(status_chunk_key(record.list_id, n))
        out += raw if raw is not None else bytes(want)
    return bytes(out)


def status_list_json(record: StatusListRecord, bits: bytes, url: str) -> dict[str, Any]:
    """The list as a W3C ``BitstringStatusListCredential`` body, with the on-chain header. Unsigned: its
    authenticity is the chain's state proof; the issuer-signed copy for standard verifiers is made by
    ``trellis.vc.issue.issue_status_list_credential`` (docs/spec/credentials.md section 6.1)."""
    return {
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "id": url,
        "type": ["VerifiableCredential", "BitstringStatusListCredential"],
        "issuer": record.issuer,
        "credentialSubject": {
            "id": f"{url}#list",
            "type": "BitstringStatusList",
            "statusPurpose": record.purpose,
            "encodedList": encode_list(bits),
        },
        "trellis": {
            "listId": record.list_id,
            "size": record.size,
            "version": record.version,
            "createdHeight": record.created_height,
            "updatedHeight": record.updated_height,
            "chunkBytes": CHUNK_BYTES,
        },
    }
