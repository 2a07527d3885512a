"""The DID resolver endpoint (``GET /1.0/identifiers/{did}``), in-process against a real node on LMDB."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

import msgspec

from trellis.api.openapi import openapi_document
from trellis.api.types import HeaderJson, StateProofJson, header_from_json, proof_from_json, unhex
from trellis.app.modules.identity import iso_time, public_key_multibase
from trellis.core.ledger.state_tree import verify_state_proof
from trellis.core.modules.identity.messages import (
    DidCreate,
    DidDeactivate,
    DidDocument,
    DidUpdate,
    DidVerificationMethod,
)

from .conftest import ApiHarness, make_signer

RESOLUTION = "application/ld+json"


def doc(*keys: bytes) -> DidDocument:
    vms = [DidVerificationMethod(id=f"key-{i}", type="Multikey", public_key=k) for i, k in enumerate(keys, 1)]
    return DidDocument(verification_methods=vms, authentication=[v.id for v in vms])


def create(api: ApiHarness, d: DidDocument | None = None) -> str:
    data = api.commit(api.alice, DidCreate(document=d or doc(api.alice.public_key)))
    assert data["receipt"]["code"] == 0, data
    return f"did:trellis:{api.chain_id}:{data['receipt']['data'][2:]}"


def resolve(api: ApiHarness, did: str, query: str = "") -> tuple[int, dict[str, Any]]:
    resp = api.get(f"/1.0/identifiers/{quote(did, safe=':')}{query}")
    assert resp.content_type == RESOLUTION, resp.body
    return resp.status, resp.json()


def test_resolving_a_new_did_returns_its_w3c_document_and_metadata(api: ApiHarness) -> None:
    did = create(api)
    status, body = resolve(api, did)
    assert status == 200
    document = body["didDocument"]
    assert document["id"] == did
    assert document["@context"][0] == "https://www.w3.org/ns/did/v1"
    (vm,) = document["verificationMethod"]
    assert vm == {
        "id": f"{did}#key-1",
        "type": "Multikey",
        "controller": did,
        "publicKeyMultibase": public_key_multibase(api.alice.public_key),
    }
    assert vm["publicKeyMultibase"].startswith("z6Mk")  # the ed25519-pub multicodec prefix, as did:key writes it
    assert document["authentication"] == [f"{did}#key-1"]
    assert body["didResolutionMetadata"]["contentType"] == "application/did+ld+json"
    meta = body["didDocumentMetadata"]
    assert meta["versionId"] == "1" and "updated" not in meta and "nextVersionId" not in meta


def test_resolution_at_a_past_version_and_time(api: ApiHarness) -> None:
    did = create(api)
    first = api.get("/v1/status").json()
    new_key = make_signer("did-rotated").public_key
    api.commit(api.alice, DidUpdate(did=did, document=doc(api.alice.public_key, new_key)))
    status, now = resolve(api, did)
    assert status == 200 and now["didDocumentMetadata"]["versionId"] == "2"
    assert len(now["didDocument"]["verificationMethod"]) == 2
    _, v1 = resolve(api, did, "?versionId=1")
    assert len(v1["didDocument"]["verificationMethod"]) == 1
    assert v1["didDocumentMetadata"]["nextVersionId"] == "2"
    assert v1["didDocumentMetadata"]["nextUpdate"] == now["didDocumentMetadata"]["updated"]
    # Versions are dated to the second (docs/spec/did-method.md section 5): the first block's second selects
    # version 1 unless the update landed in that same second (block times here are the wall clock's).
    at = quote(iso_time(_tip_time(first)))
    _, by_time = resolve(api, did, f"?versionTime={at}")
    same_second = now["didDocumentMetadata"]["updated"] == iso_time(_tip_time(first))
    assert by_time["didDocumentMetadata"]["versionId"] == ("2" if same_second else "1")


def _tip_time(status: dict[str, Any]) -> int:
    return int(status["time_ms"])


def test_resolution_before_the_did_existed_is_not_found(api: ApiHarness) -> None:
    did = create(api)
    status, body = resolve(api, did, "?versionTime=2000-01-01T00:00:00Z")
    assert status == 404 and body["didResolutionMetadata"]["error"] == "notFound"


def test_a_deactivated_did_resolves_with_410_and_deactivated_metadata(api: ApiHarness) -> None:
    did = create(api)
    api.commit(api.alice, DidDeactivate(did=did))
    status, body = resolve(api, did)
    assert status == 410
    assert body["didDocumentMetadata"]["deactivated"] is True
    assert "verificationMethod" not in body["didDocument"]
    assert resolve(api, did, "?versionId=1")[0] == 200


def test_resolution_with_proof_verifies_every_read_against_the_header(api: ApiHarness) -> None:
    did = create(api)
    status, body = resolve(api, did, "?proof=true")
    assert status == 200
    sp = body["didStateProof"]
    header = header_from_json(msgspec.convert(sp["header"], type=HeaderJson))
    assert header.height == sp["height"] and len(sp["entries"]) == 2  # the record and the version read
    for entry in sp["entries"]:
        proof = proof_from_json(msgspec.convert(entry["proof"], type=StateProofJson))
        value = None if entry["value"] is None else unhex(entry["value"])
        verify_state_proof(api.node.params.suite, unhex(entry["key"]), value, proof, header)


def test_an_unknown_did_is_not_found(api: ApiHarness) -> None:
    status, body = resolve(api, f"did:trellis:{api.chain_id}:{'ab' * 16}")
    assert status == 404 and body["didResolutionMetadata"]["error"] == "notFound"
    assert body["didDocument"] is None


def test_a_malformed_did_is_invalid_did(api: ApiHarness) -> None:
    for bad in ("did:trellis:nothex", f"did:trellis:{api.chain_id}:XYZ", "notadid"):
        status, body = resolve(api, bad)
        assert status == 400 and body["didResolutionMetadata"]["error"] == "invalidDid", bad


def test_a_path_that_is_not_w3c_did_syntax_is_invalid_did_whatever_its_method(api: ApiHarness) -> None:
    # The OpenAPI document's pattern for {did} is DID Core's syntax, and the handler holds to it: a value outside
    # it is invalidDid (400), even with a method we do not serve (which would otherwise be methodNotSupported).
    pattern = openapi_document()["paths"]["/1.0/identifiers/{did}"]["get"]["parameters"][0]["schema"]["pattern"]
    for bad in ("did:web:exa mple.org", "did:Web:example.org", "did:web:", "did:web:a%zz", "did:web:a:"):
        assert re.fullmatch(pattern, bad) is None, bad
        status, body = resolve(api, bad)
        assert status == 400 and body["didResolutionMetadata"]["error"] == "invalidDid", bad
    for other in ("did:web:example.org:user%20a", "did:example:123:456"):
        assert re.fullmatch(pattern, other) is not None, other
        status, body = resolve(api, other)
        assert status == 501 and body["didResolutionMetadata"]["error"] == "methodNotSupported", other


def test_another_method_is_method_not_supported(api: ApiHarness) -> None:
    status, body = resolve(api, "did:web:example.org")
    assert status == 501 and body["didResolutionMetadata"]["error"] == "methodNotSupported"


def test_a_chain_without_a_client_here_is_unknown_chain(api: ApiHarness) -> None:
    # ADR 0015 section 9: another chain's DID resolves through this chain's client of it; none: 404 unknown_chain.
    status, body = resolve(api, f"did:trellis:other-chain:{'00' * 16}")
    assert status == 404 and body["didResolutionMetadata"]["error"] == "unknown_chain"


def test_bad_version_options_are_refused(api: ApiHarness) -> None:
    did = create(api)
    assert resolve(api, did, "?versionId=x")[0] == 400
    assert resolve(api, did, "?versionTime=yesterday")[0] == 400
    assert resolve(api, did, "?versionId=9")[0] == 404


def test_resolution_metadata_times_have_no_sub_second_part(api: ApiHarness) -> None:
    did = create(api)
    new_key = make_signer("did-rotated-2").public_key
    api.commit(api.alice, DidUpdate(did=did, document=doc(api.alice.public_key, new_key)))
    _, v1 = resolve(api, did, "?versionId=1")
    _, v2 = resolve(api, did)
    times = [v1["didDocumentMetadata"][k] for k in ("created", "nextUpdate")] + [v2["didDocumentMetadata"]["updated"]]
    for t in times:
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", t), t


def test_resolving_at_a_versions_own_updated_time_gives_that_version(api: ApiHarness) -> None:
    did = create(api)
    new_key = make_signer("did-rotated-3").public_key
    api.commit(api.alice, DidUpdate(did=did, document=doc(api.alice.public_key, new_key)))
    _, now = resolve(api, did)
    updated = now["didDocumentMetadata"]["updated"]  # whole seconds, at or before the block's time
    _, at = resolve(api, did, f"?versionTime={quote(updated)}")
    assert at["didDocumentMetadata"]["versionId"] == "2"


def test_accept_did_ld_json_returns_the_bare_document(api: ApiHarness) -> None:
    did = create(api)
    resp = api.get(f"/1.0/identifiers/{quote(did, safe=':')}", headers={"Accept": "application/did+ld+json"})
    assert resp.status == 200 and resp.content_type == "application/did+ld+json"
    body = resp.json()
    assert body["id"] == did and body["@context"][0] == "https://www.w3.org/ns/did/v1"
    assert "didDocument" not in body and "didResolutionMetadata" not in body
    # q-values decide; the resolution result stays the default.
    prefer_result = "application/did+ld+json;q=0.5, application/ld+json"
    resp = api.get(f"/1.0/identifiers/{quote(did, safe=':')}", headers={"Accept": prefer_result})
    assert resp.content_type == RESOLUTION and "didDocument" in resp.json()


def test_accept_did_ld_json_for_a_deactivated_or_unknown_did(api: ApiHarness) -> None:
    did = create(api)
    api.commit(api.alice, DidDeactivate(did=did))
    headers = {"Accept": "application/did+ld+json"}
    resp = api.get(f"/1.0/identifiers/{quote(did, safe=':')}", headers=headers)
    assert resp.status == 410 and resp.content_type == "application/did+ld+json"
    assert resp.json()["id"] == did and "verificationMethod" not in resp.json()
    unknown = f"did:trellis:{api.chain_id}:{'cd' * 16}"
    resp = api.get(f"/1.0/identifiers/{quote(unknown, safe=':')}", headers=headers)
    assert resp.status == 404 and resp.json()["didResolutionMetadata"]["error"] == "notFound"
    resp = api.get(f"/1.0/identifiers/{quote(did, safe=':')}?proof=true", headers=headers)
    assert resp.status == 406 and resp.json()["didResolutionMetadata"]["error"] == "representationNotSupported"


def test_the_accept_header_picks_the_highest_q_and_the_first_among_equals() -> None:
    from trellis.api.did import wants_document

    assert wants_document("application/did+ld+json")
    assert not wants_document("application/did+ld+json;q=0")  # q=0: not acceptable
    assert not wants_document("application/did+ld+json;q=0, text/html")
    assert wants_document("application/did+ld+json, application/ld+json")  # equal q: the first listed
    assert not wants_document("application/ld+json, application/did+ld+json")
    assert wants_document("application/json;q=0.4, application/did+ld+json;q=0.5")
    assert not wants_document("application/did+ld+json;q=bad, */*;q=0.1")  # an unreadable q counts as 0
    assert not wants_document("") and not wants_document("text/html")
