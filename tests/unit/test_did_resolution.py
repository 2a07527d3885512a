"""DID resolution on the read side (``trellis.app.modules.identity``): metadata times to the whole second and
version selection by time at that precision (docs/spec/did-method.md section 5)."""

from __future__ import annotations

import re

import pytest

from trellis.app.modules.identity import ResolutionError, iso_time, resolution_result, resolve
from trellis.core.codec import encode
from trellis.core.modules.identity.did import format_did
from trellis.core.modules.identity.messages import DidDocument, DidVerificationMethod
from trellis.core.modules.identity.state import DidRecord, DidVersion, did_key, did_version_key

CHAIN = "res-chain"
DID_ID = bytes(range(16))
DID = format_did(CHAIN, DID_ID)
SECOND = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\Z")


def _doc(n: int) -> DidDocument:
    vms = [DidVerificationMethod(id=f"key-{i}", type="Multikey", public_key=bytes([i]) * 32) for i in range(1, n + 1)]
    return DidDocument(verification_methods=vms, authentication=["key-1"])


def _state(times: list[int]) -> dict[bytes, bytes]:
    """A DID with one version per block time in ``times`` (version n has n keys)."""
    state = {
        did_key(DID_ID): encode(
            DidRecord(
                version_id=len(times),
                created_ms=times[0],
                created_height=1,
                updated_ms=times[-1],
                updated_height=len(times),
            )
        )
    }
    for n, t in enumerate(times, 1):
        state[did_version_key(DID_ID, n)] = encode(DidVersion(height=n, time_ms=t, document=_doc(n)))
    return state


T = 1_795_000_000_000  # 2026-11-18T11:06:40Z


def test_metadata_times_have_no_sub_second_part() -> None:
    state = _state([T + 250, T + 1_750, T + 3_999])
    meta = resolution_result(CHAIN, resolve(state, CHAIN, DID, version_id=2))["didDocumentMetadata"]
    assert meta["created"] == "2026-11-18T11:06:40Z"
    assert meta["updated"] == "2026-11-18T11:06:41Z"
    assert meta["nextUpdate"] == "2026-11-18T11:06:43Z"  # truncated, never rounded up past the block's time
    assert all(SECOND.match(meta[k]) for k in ("created", "updated", "nextUpdate"))


def test_iso_time_truncates_to_the_second() -> None:
    assert iso_time(T + 999) == iso_time(T) == "2026-11-18T11:06:40Z"


def test_resolving_at_a_versions_updated_time_gives_that_version() -> None:
    state = _state([T + 100, T + 5_600])
    updated = resolution_result(CHAIN, resolve(state, CHAIN, DID))["didDocumentMetadata"]["updated"]
    assert updated == "2026-11-18T11:06:45Z"
    assert resolve(state, CHAIN, DID, version_time_ms=T + 5_000).version_id == 2
    assert resolve(state, CHAIN, DID, version_time_ms=T + 4_999).version_id == 1


def test_versions_within_one_second_resolve_by_time_to_the_last_of_that_second() -> None:
    state = _state([T + 100, T + 200, T + 2_000])
    assert resolve(state, CHAIN, DID, version_time_ms=T + 150).version_id == 2
    assert resolve(state, CHAIN, DID, version_id=1).version_id == 1  # still reachable by versionId


def test_a_time_before_the_first_versions_second_is_not_found() -> None:
    state = _state([T + 500])
    assert resolve(state, CHAIN, DID, version_time_ms=T).version_id == 1
    with pytest.raises(ResolutionError) as err:
        resolve(state, CHAIN, DID, version_time_ms=T - 1)
    assert err.value.code == "notFound"
