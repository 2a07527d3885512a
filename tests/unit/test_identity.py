"""The identity module's rules: DID create, update (key rotation), deactivate, versions; bad input changes nothing."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trellis.core.codec import decode, encode
from trellis.core.crypto.suite import ED25519
from trellis.core.execution import ResultCode
from trellis.core.modules.accounts.state import Account, account_key
from trellis.core.modules.identity.did import DidError, derived_did_id, format_did, parse_did
from trellis.core.modules.identity.messages import (
    DidCreate,
    DidDeactivate,
    DidDocument,
    DidService,
    DidUpdate,
    DidVerificationMethod,
)
from trellis.core.modules.identity.state import DidRecord, DidVersion, current_document, did_key, did_version_key

CHAIN_ID = "unit-test-chain"  # tests/unit/conftest.py


def doc_for(*keys: bytes, controllers: list[str] | None = None) -> DidDocument:
    vms = [
        DidVerificationMethod(id=f"key-{i + 1}", type="Ed25519VerificationKey2020", public_key=k)
        for i, k in enumerate(keys)
    ]
    return DidDocument(
        verification_methods=vms,
        authentication=[vm.id for vm in vms],
        assertion_method=[vm.id for vm in vms],
        services=[DidService(id="web", type="LinkedDomains", endpoint="https://example.org/")],
        controllers=controllers or [],
    )


def create(chain, make_tx, key, nonce=0, doc=None, did_id=None) -> tuple[str, object]:
    executed = chain.execute_and_commit(
        [make_tx(key, nonce, DidCreate(document=doc or doc_for(key.public), id=did_id))]
    )
    receipt = executed.output.receipts[0]
    did = format_did(CHAIN_ID, receipt.data) if receipt.code == ResultCode.OK else ""
    return did, receipt


def did_writes(out) -> dict[bytes, bytes | None]:
    return {k: v for k, v in out.writes.items() if k.startswith(b"did/")}


def test_did_create_registers_version_1_under_an_id_derived_from_sender_and_nonce(chain, actors, make_tx) -> None:
    alice = actors.alice
    did, receipt = create(chain, make_tx, alice)
    assert receipt.code == ResultCode.OK
    did_id = derived_did_id(ED25519, alice.address, 0)
    assert did == format_did(CHAIN_ID, did_id)
    rec, doc = current_document(chain, did_id)
    assert rec.version_id == 1 and not rec.deactivated
    assert rec.created_height == rec.updated_height == chain.tip.height
    assert doc == doc_for(alice.public)
    assert receipt.events[0].type == "identity.did_create"


def test_did_create_with_a_chosen_id_uses_it(chain, actors, make_tx) -> None:
    did, receipt = create(chain, make_tx, actors.alice, did_id=b"\x01" * 16)
    assert receipt.code == ResultCode.OK
    assert did == f"did:trellis:{CHAIN_ID}:" + "01" * 16


def test_did_create_of_an_existing_id_fails_duplicate_and_changes_nothing(chain, actors, make_tx) -> None:
    create(chain, make_tx, actors.alice, did_id=b"\x01" * 16)
    out = chain.execute([make_tx(actors.bob, 0, DidCreate(document=doc_for(actors.bob.public), id=b"\x01" * 16))])
    assert out.receipts[0].code == ResultCode.DUPLICATE
    assert did_writes(out) == {}


def test_did_create_by_a_key_not_in_the_document_is_unauthorized(chain, actors, make_tx) -> None:
    out = chain.execute([make_tx(actors.bob, 0, DidCreate(document=doc_for(actors.alice.public)))])
    assert out.receipts[0].code == ResultCode.UNAUTHORIZED
    assert did_writes(out) == {}
    assert out.writes == {account_key(actors.bob.address): encode(Account(balance=0, nonce=1))}


def test_did_create_by_a_controllers_authentication_key_is_allowed(chain, actors, make_tx) -> None:
    uni, _ = create(chain, make_tx, actors.alice)
    doc = DidDocument(
        verification_methods=[
            DidVerificationMethod(id="k", type="Multikey", public_key=actors.bob.public),
        ],
        authentication=["k"],
        controllers=[uni],
    )
    _, receipt = create(chain, make_tx, actors.alice, nonce=1, doc=doc)
    assert receipt.code == ResultCode.OK


BAD_DOCUMENTS = {
    "wrong key length": lambda k: DidDocument(
        verification_methods=[DidVerificationMethod(id="k", type="Ed25519VerificationKey2020", public_key=k[:31])],
        authentication=["k"],
    ),
    "unknown key type": lambda k: DidDocument(
        verification_methods=[DidVerificationMethod(id="k", type="RsaVerificationKey2018", public_key=k)],
        authentication=["k"],
    ),
    "sm2 type on an ed25519 chain": lambda k: DidDocument(
        verification_methods=[DidVerificationMethod(id="k", type="SM2VerificationKey2022", public_key=b"\x04" * 65)],
        authentication=["k"],
    ),
    "dangling authentication": lambda k: DidDocument(
        verification_methods=[DidVerificationMethod(id="k", type="Multikey", public_key=k)], authentication=["nope"]
    ),
    "duplicate ids": lambda k: DidDocument(
        verification_methods=[
            DidVerificationMethod(id="k", type="Multikey", public_key=k),
            DidVerificationMethod(id="k", type="Multikey", public_key=k),
        ],
        authentication=["k"],
    ),
    "bad fragment": lambda k: DidDocument(
        verification_methods=[DidVerificationMethod(id="k#1", type="Multikey", public_key=k)], authentication=["k#1"]
    ),
    "relative service endpoint": lambda k: DidDocument(
        verification_methods=[DidVerificationMethod(id="k", type="Multikey", public_key=k)],
        authentication=["k"],
        services=[DidService(id="s", type="LinkedDomains", endpoint="/relative")],
    ),
    "nobody controls it": lambda k: DidDocument(
        verification_methods=[DidVerificationMethod(id="k", type="Multikey", public_key=k)]
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_DOCUMENTS))
def test_did_create_of_a_malformed_document_fails_invalid_document_and_changes_nothing(
    chain, actors, make_tx, case
) -> None:
    doc = BAD_DOCUMENTS[case](actors.alice.public)
    out = chain.execute([make_tx(actors.alice, 0, DidCreate(document=doc))])
    assert out.receipts[0].code == ResultCode.INVALID_DID_DOCUMENT, out.receipts[0].message
    assert did_writes(out) == {}


@pytest.mark.parametrize(
    "controller",
    ["not-a-did", "did:web:example.org", "did:trellis:other-chain:" + "00" * 16, f"did:trellis:{CHAIN_ID}:XYZ"],
)
def test_did_create_with_a_malformed_controller_fails_invalid_did(chain, actors, make_tx, controller) -> None:
    doc = doc_for(actors.alice.public, controllers=[controller])
    out = chain.execute([make_tx(actors.alice, 0, DidCreate(document=doc))])
    assert out.receipts[0].code == ResultCode.INVALID_DID
    assert did_writes(out) == {}


def test_did_update_replaces_the_document_and_keeps_the_old_version(chain, actors, make_tx) -> None:
    alice = actors.alice
    did, _ = create(chain, make_tx, alice)
    created = chain.tip
    new_doc = doc_for(alice.public, actors.carol.public)
    executed = chain.execute_and_commit([make_tx(alice, 1, DidUpdate(did=did, document=new_doc))])
    assert executed.output.receipts[0].code == ResultCode.OK
    did_id = parse_did(did, CHAIN_ID)
    rec, doc = current_document(chain, did_id)
    assert doc == new_doc
    assert rec.version_id == 2 and rec.created_height == created.height and rec.updated_height == chain.tip.height
    v1 = decode(chain.get(did_version_key(did_id, 1)), DidVersion)
    assert v1.document == doc_for(alice.public) and v1.time_ms == created.time_ms


def test_key_rotation_hands_control_to_the_new_key_only(chain, actors, make_tx) -> None:
    alice, bob = actors.alice, actors.bob
    did, _ = create(chain, make_tx, alice)
    rotated = doc_for(bob.public)
    assert (
        chain.execute_and_commit([make_tx(alice, 1, DidUpdate(did=did, document=rotated))]).output.receipts[0].code == 0
    )
    out = chain.execute([make_tx(alice, 2, DidUpdate(did=did, document=doc_for(alice.public)))])
    assert out.receipts[0].code == ResultCode.UNAUTHORIZED
    assert did_writes(out) == {}
    ok = chain.execute_and_commit([make_tx(bob, 0, DidUpdate(did=did, document=doc_for(bob.public, alice.public)))])
    assert ok.output.receipts[0].code == ResultCode.OK


def test_did_update_by_a_key_that_is_not_the_controllers_is_unauthorized(chain, actors, make_tx) -> None:
    did, _ = create(chain, make_tx, actors.alice)
    out = chain.execute([make_tx(actors.bob, 0, DidUpdate(did=did, document=doc_for(actors.bob.public)))])
    assert out.receipts[0].code == ResultCode.UNAUTHORIZED
    assert "not an authentication key" in out.receipts[0].message
    assert did_writes(out) == {}


def test_did_update_by_a_controller_dids_authentication_key_is_allowed(chain, actors, make_tx) -> None:
    alice, bob = actors.alice, actors.bob
    uni, _ = create(chain, make_tx, bob)
    did, _ = create(chain, make_tx, alice, doc=doc_for(alice.public, controllers=[uni]))
    out = chain.execute([make_tx(bob, 1, DidUpdate(did=did, document=doc_for(alice.public, controllers=[uni])))])
    assert out.receipts[0].code == ResultCode.OK


def test_did_update_by_a_key_of_the_documents_assertion_only_is_unauthorized(chain, actors, make_tx) -> None:
    alice, bob = actors.alice, actors.bob
    doc = DidDocument(
        verification_methods=[
            DidVerificationMethod(id="auth", type="Multikey", public_key=alice.public),
            DidVerificationMethod(id="issue", type="Multikey", public_key=bob.public),
        ],
        authentication=["auth"],
        assertion_method=["issue"],
    )
    did, _ = create(chain, make_tx, alice, doc=doc)
    out = chain.execute([make_tx(bob, 0, DidUpdate(did=did, document=doc))])
    assert out.receipts[0].code == ResultCode.UNAUTHORIZED


def test_did_update_of_an_unknown_did_fails_not_found(chain, actors, make_tx) -> None:
    did = format_did(CHAIN_ID, b"\x09" * 16)
    out = chain.execute([make_tx(actors.alice, 0, DidUpdate(did=did, document=doc_for(actors.alice.public)))])
    assert out.receipts[0].code == ResultCode.NOT_FOUND


@pytest.mark.parametrize("did", ["", "did:trellis", "did:key:z6Mk", f"did:trellis:{CHAIN_ID}:" + "0" * 31, "DID:x:y"])
def test_did_update_of_a_malformed_did_fails_invalid_did(chain, actors, make_tx, did) -> None:
    out = chain.execute([make_tx(actors.alice, 0, DidUpdate(did=did, document=doc_for(actors.alice.public)))])
    assert out.receipts[0].code == ResultCode.INVALID_DID
    assert did_writes(out) == {}


def test_did_update_with_a_malformed_document_fails_and_keeps_the_current_one(chain, actors, make_tx) -> None:
    did, _ = create(chain, make_tx, actors.alice)
    bad = BAD_DOCUMENTS["dangling authentication"](actors.alice.public)
    out = chain.execute([make_tx(actors.alice, 1, DidUpdate(did=did, document=bad))])
    assert out.receipts[0].code == ResultCode.INVALID_DID_DOCUMENT
    assert did_writes(out) == {}


def test_did_deactivate_marks_the_did_and_adds_a_version_without_a_document(chain, actors, make_tx) -> None:
    did, _ = create(chain, make_tx, actors.alice)
    executed = chain.execute_and_commit([make_tx(actors.alice, 1, DidDeactivate(did=did))])
    assert executed.output.receipts[0].code == ResultCode.OK
    did_id = parse_did(did, CHAIN_ID)
    rec, doc = current_document(chain, did_id)
    assert rec.deactivated and rec.version_id == 2 and doc is None


def test_did_update_of_a_deactivated_did_fails_and_changes_nothing(chain, actors, make_tx) -> None:
    did, _ = create(chain, make_tx, actors.alice)
    chain.execute_and_commit([make_tx(actors.alice, 1, DidDeactivate(did=did))])
    for nonce, msg in ((2, DidUpdate(did=did, document=doc_for(actors.alice.public))), (2, DidDeactivate(did=did))):
        out = chain.execute([make_tx(actors.alice, nonce, msg)])
        assert out.receipts[0].code == ResultCode.DID_DEACTIVATED
        assert did_writes(out) == {}


def test_a_deactivated_controller_no_longer_authorises_updates(chain, actors, make_tx) -> None:
    alice, bob = actors.alice, actors.bob
    uni, _ = create(chain, make_tx, bob)
    did, _ = create(chain, make_tx, alice, doc=doc_for(alice.public, controllers=[uni]))
    chain.execute_and_commit([make_tx(bob, 1, DidDeactivate(did=uni))])
    out = chain.execute([make_tx(bob, 2, DidUpdate(did=did, document=doc_for(bob.public)))])
    assert out.receipts[0].code == ResultCode.UNAUTHORIZED


def test_records_are_written_at_the_documented_keys(chain, actors, make_tx) -> None:
    did, _ = create(chain, make_tx, actors.alice)
    did_id = parse_did(did, CHAIN_ID)
    assert decode(chain.get(did_key(did_id)), DidRecord).version_id == 1
    assert chain.get(did_version_key(did_id, 2)) is None


# -- parsing DIDs from outside -----------------------------------------------------------------------------------
def test_parse_did_round_trips_format_did() -> None:
    assert parse_did(format_did(CHAIN_ID, b"\xab" * 16), CHAIN_ID) == b"\xab" * 16


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("did:web:example.org", "methodNotSupported"),
        (f"did:trellis:elsewhere:{'00' * 16}", "methodNotSupported"),
        ("did:trellis:" + "00" * 16, "invalidDid"),
        (f"did:trellis:{CHAIN_ID}:{'AB' * 16}", "invalidDid"),
        (f"did:trellis:{CHAIN_ID}:{'00' * 16}\n", "invalidDid"),
        ("urn:uuid:1234", "invalidDid"),
    ],
)
def test_parse_did_refuses_with_the_resolution_error_code(text: str, code: str) -> None:
    with pytest.raises(DidError) as err:
        parse_did(text, CHAIN_ID)
    assert err.value.code == code


@given(st.text(max_size=200))
def test_parse_did_of_any_text_returns_an_id_or_raises_did_error(text: str) -> None:
    try:
        did_id = parse_did(text, CHAIN_ID)
    except DidError as exc:
        assert exc.code in ("invalidDid", "methodNotSupported")
    else:
        assert len(did_id) == 16 and format_did(CHAIN_ID, did_id) == text


@given(st.binary(max_size=600))
def test_decoding_arbitrary_bytes_as_a_did_document_gives_a_document_or_a_decode_error(data: bytes) -> None:
    from trellis.core.errors import DecodeError

    try:
        doc = decode(data, DidDocument)
    except DecodeError:
        return
    assert decode(encode(doc), DidDocument) == doc
