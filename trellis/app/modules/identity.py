"""identity module: DID resolution (current, at a past version or time) and rendering as W3C JSON-LD.

The records are read through a ``StateReader``, so the same code resolves from the latest state or from
values that come with state proofs (the API records every key it reads and proves it). See
docs/spec/did-method.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from trellis.core.execution.context import StateReader
from trellis.core.modules.identity.did import DidError, format_did, parse_did
from trellis.core.modules.identity.messages import DidDocument
from trellis.core.modules.identity.state import DidRecord, DidVersion, read_did, read_version
from trellis.vc.multibase import multikey_encode

DID_CONTEXT = "https://www.w3.org/ns/did/v1"
ED25519_2020_CONTEXT = "https://w3id.org/security/suites/ed25519-2020/v1"
MULTIKEY_CONTEXT = "https://w3id.org/security/multikey/v1"
RESOLUTION_CONTEXT = "https://w3id.org/did-resolution/v1"
DID_LD_JSON = "application/did+ld+json"


def public_key_multibase(public_key: bytes) -> str:
    """``z`` + base58btc(multicodec prefix || raw key), as Multikey and Ed25519VerificationKey2020 write it
    (a 32-byte key is Ed25519, a 65-byte one SM2)."""
    return multikey_encode("ed25519" if len(public_key) == 32 else "sm", public_key)


def iso_time(ms: int) -> str:
    """Block time as an XML Schema dateTime in UTC to the whole second (``2026-11-26T12:00:00Z``): DID
    Resolution forbids sub-second precision in ``created``/``updated``/``nextUpdate``, so milliseconds are
    dropped (truncated, never rounded up, so the time shown is never later than the block's)."""
    return datetime.fromtimestamp(ms // 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def whole_second(ms: int) -> int:
    """``ms`` truncated to the second: the precision at which versions are dated and selected by time."""
    return ms - ms % 1000


def parse_iso_time(text: str) -> int:
    """ISO 8601 date-time (with a zone; ``Z`` or an offset) to milliseconds since the epoch.

    Raises:
        ValueError: not an ISO 8601 date-time with a time zone.
    """
    t = datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
    if t.tzinfo is None:
        raise ValueError("the time needs a zone (Z or +hh:mm)")
    return int(t.timestamp() * 1000)


def render_document(chain_id: str, did_id: bytes, doc: DidDocument) -> dict[str, Any]:
    """The W3C DID Core JSON-LD representation of a compact document."""
    did = format_did(chain_id, did_id)
    contexts = [DID_CONTEXT]
    types = {vm.type for vm in doc.verification_methods}
    if "Ed25519VerificationKey2020" in types:
        contexts.append(ED25519_2020_CONTEXT)
    if "Multikey" in types or "SM2VerificationKey2022" in types:
        contexts.append(MULTIKEY_CONTEXT)
    out: dict[str, Any] = {"@context": contexts, "id": did}
    if doc.controllers:
        out["controller"] = list(doc.controllers)
    if doc.verification_methods:
        out["verificationMethod"] = [
            {
                "id": f"{did}#{vm.id}",
                "type": vm.type,
                "controller": vm.controller or did,
                "publicKeyMultibase": public_key_multibase(vm.public_key),
            }
            for vm in doc.verification_methods
        ]
    if doc.authentication:
        out["authentication"] = [f"{did}#{ref}" for ref in doc.authentication]
    if doc.assertion_method:
        out["assertionMethod"] = [f"{did}#{ref}" for ref in doc.assertion_method]
    if doc.services:
        out["service"] = [{"id": f"{did}#{s.id}", "type": s.type, "serviceEndpoint": s.endpoint} for s in doc.services]
    return out


@dataclass(frozen=True)
class Resolution:
    """A resolved DID version.

    Attributes:
        did_id: the DID's 16-byte id.
        record: its current record (metadata).
        version_id: the version resolved.
        version: that version's entry (height, time, document or None when it deactivated the DID).
        next_version: the entry after it, when it is not the latest.
    """

    did_id: bytes
    record: DidRecord
    version_id: int
    version: DidVersion
    next_version: DidVersion | None


class ResolutionError(Exception):
    """A resolution that cannot give a document; ``code`` is the W3C DID Resolution error code."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


def resolve(
    state: StateReader, chain_id: str, did: str, version_id: int | None = None, version_time_ms: int | None = None
) -> Resolution:
    """Resolve ``did``: the current version, version ``version_id``, or the version in force at
    ``version_time_ms`` (the latest whose block time is at or before it, both taken to the whole second). At most ``O(log versions)`` reads.

    Raises:
        ResolutionError: ``invalidDid``, ``methodNotSupported`` or ``notFound`` (also for a version that does not
            exist, or a time before the DID was created).
    """
    try:
        did_id = parse_did(did, chain_id)
    except DidError as exc:
        raise ResolutionError(exc.code, exc.reason) from exc
    rec = read_did(state, did_id)
    if rec is None:
        raise ResolutionError("notFound", f"{did} is not registered")
    n = rec.version_id
    if version_id is not None:
        if not 1 <= version_id <= rec.version_id:
            raise ResolutionError("notFound", f"{did} has versions 1 to {rec.version_id}")
        n = version_id
    elif version_time_ms is not None:
        # Versions are dated to the second (their metadata shows no more), so the one in force at a time is
        # the last whose block time, truncated to the second, is at or before that time truncated likewise:
        # resolving at a version's own ``updated`` gives that version, even with a later block in that second.
        at = whole_second(version_time_ms)
        lo, hi = 1, rec.version_id  # find the last version with whole_second(time_ms) <= at
        first = _version(state, did_id, 1)
        if whole_second(first.time_ms) > at:
            raise ResolutionError("notFound", f"{did} did not exist at {iso_time(version_time_ms)}")
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if whole_second(_version(state, did_id, mid).time_ms) <= at:
                lo = mid
            else:
                hi = mid - 1
        n = lo
    version = _version(state, did_id, n)
    nxt = _version(state, did_id, n + 1) if n < rec.version_id else None
    return Resolution(did_id=did_id, record=rec, version_id=n, version=version, next_version=nxt)


def _version(state: StateReader, did_id: bytes, n: int) -> DidVersion:
    v = read_version(state, did_id, n)
    assert v is not None, "versions 1..version_id are written with the record"
    return v


def resolution_result(chain_id: str, res: Resolution) -> dict[str, Any]:
    """The W3C DID Resolution result (``didDocument``, ``didResolutionMetadata``, ``didDocumentMetadata``)."""
    rec, ver = res.record, res.version
    meta: dict[str, Any] = {"created": iso_time(rec.created_ms), "versionId": str(res.version_id)}
    if res.version_id > 1:
        meta["updated"] = iso_time(ver.time_ms)
    doc = ver.document
    if doc is None:
        meta["deactivated"] = True
    if res.next_version is not None:
        meta["nextUpdate"] = iso_time(res.next_version.time_ms)
        meta["nextVersionId"] = str(res.version_id + 1)
    return {
        "@context": RESOLUTION_CONTEXT,
        # A deactivated DID resolves to a document without keys or services (its earlier versions keep theirs).
        "didDocument": render_document(chain_id, res.did_id, DidDocument() if doc is None else doc),
        "didResolutionMetadata": {"contentType": DID_LD_JSON},
        "didDocumentMetadata": meta,
    }


def error_result(code: str, detail: str) -> dict[str, Any]:
    """A DID Resolution result for a failed resolution."""
    return {
        "@context": RESOLUTION_CONTEXT,
        "didDocument": None,
        "didResolutionMetadata": {"error": code, "errorMessage": detail},
        "didDocumentMetadata": {},
    }
