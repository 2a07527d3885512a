"""The credentials module on a chain: trust registry by governance, status lists, and the verifier reading
committed state (a revocation refuses the credential from the next block on)."""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from trellis.core.crypto.suite import ed25519_keypair_from_seed, ed25519_sign
from trellis.core.execution.results import ResultCode
from trellis.core.modules.credentials.messages import SetIssuer, StatusCreate, StatusSet
from trellis.core.modules.credentials.state import CHUNK_BITS, read_status_bit
from trellis.core.modules.payload import Payload
from trellis.core.params import GenesisContracts, params_from_genesis
from trellis.vc.issue import issue_credential, make_presentation, status_entry
from trellis.vc.multibase import multikey_encode
from trellis.vc.proofs import CRYPTOSUITES
from trellis.vc.resolver import DidKeyResolver
from trellis.vc.verifier import verify_credential, verify_presentation

_spec = importlib.util.spec_from_file_location("_unit_conftest_for_vc", Path(__file__).with_name("conftest.py"))
assert _spec is not None and _spec.loader is not None
_unit = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = _unit
_spec.loader.exec_module(_unit)

EDDSA = CRYPTOSUITES["eddsa-jcs-2022"]
BASE = "https://trellis.example"
DEGREE = "UniversityDegreeCredential"


@dataclass(frozen=True)
class DidKey:
    """A did:key holder or issuer (self-resolving)."""

    secret: bytes
    did: str
    vm: str

    def sign(self, message: bytes) -> bytes:
        return ed25519_sign(self.secret, message)


def did_key(name: str) -> DidKey:
    secret, public = ed25519_keypair_from_seed(hashlib.sha256(name.encode()).digest())
    mk = multikey_encode("ed25519", public)
    return DidKey(secret=secret, did=f"did:key:{mk}", vm=f"did:key:{mk}#{mk}")


UNIVERSITY = did_key("university")
STUDENT = did_key("student")


class Fixture:
    """A chain whose governance is ``carol``, with ``alice`` the university's controller account."""

    def __init__(self, actors: Any) -> None:
        genesis = _unit.make_genesis(actors, contracts=GenesisContracts(governance=actors.carol.address.hex()))
        self.chain = _unit.start_chain(params_from_genesis(genesis))
        self.actors = actors
        self.nonces: dict[bytes, int] = {}

    def tx(self, key: Any, payload: Payload) -> Any:
        n = self.nonces.get(key.address, 0)
        self.nonces[key.address] = n + 1
        return _unit.sign_tx(
            _unit.TxBody(chain_id=_unit.CHAIN_ID, sender=key.public, nonce=n, payload=payload), key.sign
        )

    def commit(self, key: Any, payload: Payload) -> Any:
        executed = self.chain.execute_and_commit([self.tx(key, payload)])
        return executed.output.receipts[0]

    @property
    def view(self) -> Any:
        chain = self.chain

        class View:
            height = chain.tip.height
            time_ms = chain.tip.time_ms

            def get(self, key: bytes) -> bytes | None:
                return chain.state.get(key)

        return View()

    def authorise_university(self) -> None:
        r = self.commit(
            self.actors.carol, SetIssuer(did=UNIVERSITY.did, types=[DEGREE], controller=self.actors.alice.address)
        )
        assert r.code == ResultCode.OK, r.message

    def create_list(self, list_id: str = "uni-rev", purpose: str = "revocation", size: int = 131072) -> None:
        r = self.commit(
            self.actors.alice, StatusCreate(list_id=list_id, size=size, purpose=purpose, issuer=UNIVERSITY.did)
        )
        assert r.code == ResultCode.OK, r.message

    def diploma(
        self, index: int = 94567, list_id: str = "uni-rev", purpose: str = "revocation"
    ) -> tuple[dict[str, Any], dict[str, str]]:
        return issue_credential(
            issuer=UNIVERSITY.did,
            verification_method=UNIVERSITY.vm,
            sign=UNIVERSITY.sign,
            cryptosuite=EDDSA,
            types=[DEGREE],
            subject={
                "id": STUDENT.did,
                "degree": {"type": "BachelorDegree", "name": "Bachelor of Science and Arts"},
                "name": "Ada Student",
                "grade": "First",
                "dateOfBirth": "2001-02-03",
            },
            valid_from_ms=_unit.GENESIS_TIME_MS,
            status=[status_entry(BASE, list_id, index, purpose)],
            disclosable=["name", "grade", "dateOfBirth"],
        )


@pytest.fixture
def fx(actors: Any) -> Fixture:
    f = Fixture(actors)
    f.authorise_university()
    f.create_list()
    return f


def _codes(result: Any) -> dict[str, str]:
    return {c.name: c.code for c in result.checks if not c.ok}


def test_only_governance_may_change_the_issuer_registry(actors: Any) -> None:
    f = Fixture(actors)
    r = f.commit(actors.alice, SetIssuer(did=UNIVERSITY.did, types=[DEGREE], controller=actors.alice.address))
    assert r.code == ResultCode.UNAUTHORIZED


def test_a_status_list_needs_a_registered_issuer_and_its_controller(actors: Any) -> None:
    f = Fixture(actors)
    create = StatusCreate(list_id="l", size=131072, purpose="revocation", issuer=UNIVERSITY.did)
    assert f.commit(actors.alice, create).code == ResultCode.UNAUTHORIZED
    f.authorise_university()
    assert f.commit(actors.bob, create).code == ResultCode.NOT_OWNER
    assert f.commit(actors.alice, create).code == ResultCode.OK
    assert f.commit(actors.alice, create).code == ResultCode.DUPLICATE


def test_a_status_list_below_the_w3c_minimum_of_16_kib_is_refused_at_decoding() -> None:
    from trellis.core.codec import decode, encode
    from trellis.core.errors import DecodeError

    for size in (8, 1024, 131064):
        small = StatusCreate(list_id="l", size=size, purpose="revocation", issuer=UNIVERSITY.did)
        with pytest.raises(DecodeError, match="131072"):
            decode(encode(small), StatusCreate)
    smallest = StatusCreate(list_id="l", size=131072, purpose="revocation", issuer=UNIVERSITY.did)
    assert decode(encode(smallest), StatusCreate) == smallest


def test_stored_chunks_have_the_sizes_the_spec_gives(fx: Fixture) -> None:
    # docs/spec/credentials.md 3.2: chunk n holds bytes [2048 n, min(2048 (n + 1), size / 8)) of the bitstring.
    from trellis.core.modules.credentials.state import CHUNK_BYTES, status_chunk_key

    fx.create_list("odd", size=131072 + 8)
    last = 131072 + 7
    r = fx.commit(fx.actors.alice, StatusSet(list_id="odd", set_indexes=[0, CHUNK_BITS + 3, last]))
    assert r.code == ResultCode.OK
    assert CHUNK_BYTES == 2048 and CHUNK_BITS == 16384
    stored = {n: fx.chain.state.get(status_chunk_key("odd", n)) for n in range(9)}
    assert {n: len(v) for n, v in stored.items() if v is not None} == {0: 2048, 1: 2048, 8: 1}
    assert stored[0] is not None and stored[0][0] == 0x80  # entry 0 is the left-most bit
    assert stored[1] is not None and stored[1][0] == 0x10
    assert stored[8] == b"\x01"


def test_setting_a_bit_of_an_unknown_status_list_fails_with_its_own_code(fx: Fixture) -> None:
    r = fx.commit(fx.actors.alice, StatusSet(list_id="nope", set_indexes=[1]))
    assert r.code == ResultCode.UNKNOWN_STATUS_LIST
    assert "unknown status list" in r.message


def test_an_index_out_of_range_fails_and_changes_nothing(fx: Fixture) -> None:
    r = fx.commit(fx.actors.alice, StatusSet(list_id="uni-rev", set_indexes=[5, 131072]))
    assert r.code == ResultCode.STATUS_INDEX_OUT_OF_RANGE
    assert not read_status_bit(fx.chain.state, "uni-rev", 5)


def test_only_the_lists_owner_may_set_bits(fx: Fixture) -> None:
    assert fx.commit(fx.actors.bob, StatusSet(list_id="uni-rev", set_indexes=[5])).code == ResultCode.NOT_OWNER


def test_a_revocation_cannot_be_cleared(fx: Fixture) -> None:
    r = fx.commit(fx.actors.alice, StatusSet(list_id="uni-rev", clear_indexes=[5]))
    assert r.code == ResultCode.INVALID_CHANGE


def test_bits_land_in_their_chunks(fx: Fixture) -> None:
    idx = [0, 7, CHUNK_BITS - 1, CHUNK_BITS, 131071]
    assert fx.commit(fx.actors.alice, StatusSet(list_id="uni-rev", set_indexes=idx)).code == ResultCode.OK
    for i in idx:
        assert read_status_bit(fx.chain.state, "uni-rev", i)
    assert not read_status_bit(fx.chain.state, "uni-rev", 1)


def test_an_issued_credential_verifies_with_every_check(fx: Fixture) -> None:
    cred, _ = fx.diploma()
    result = verify_credential(cred, fx.view, DidKeyResolver())
    assert result.verified, result.failures
    assert [c.name for c in result.checks] == [
        "format",
        "proof",
        "issuer",
        "validity",
        "disclosures",
        "schema",
        "status",
    ]
    assert "name" not in (result.subject or {})


def test_a_revocation_refuses_the_credential_from_the_next_block_on(fx: Fixture) -> None:
    cred, _ = fx.diploma()
    revoke = fx.tx(fx.actors.alice, StatusSet(list_id="uni-rev", set_indexes=[94567]))
    executed = fx.chain.build([revoke])
    assert executed.output.receipts[0].code == ResultCode.OK
    # Executed but not committed: verifiers still read the committed state, where it is valid.
    assert verify_credential(cred, fx.view, DidKeyResolver()).verified
    fx.chain.commit(executed)
    result = verify_credential(cred, fx.view, DidKeyResolver())
    assert _codes(result) == {"status": "revoked"}


def test_a_suspension_can_be_lifted(fx: Fixture) -> None:
    fx.create_list("uni-sus", "suspension")
    cred, _ = fx.diploma(index=3, list_id="uni-sus", purpose="suspension")
    assert fx.commit(fx.actors.alice, StatusSet(list_id="uni-sus", set_indexes=[3])).code == ResultCode.OK
    assert _codes(verify_credential(cred, fx.view, DidKeyResolver())) == {"status": "suspended"}
    assert fx.commit(fx.actors.alice, StatusSet(list_id="uni-sus", clear_indexes=[3])).code == ResultCode.OK
    assert verify_credential(cred, fx.view, DidKeyResolver()).verified


def test_a_credential_naming_an_unknown_list_or_an_index_past_its_end_is_refused(fx: Fixture) -> None:
    cred, _ = fx.diploma(list_id="missing")
    assert _codes(verify_credential(cred, fx.view, DidKeyResolver())) == {"status": "unknown_status_list"}
    cred, _ = fx.diploma(index=131072)
    assert _codes(verify_credential(cred, fx.view, DidKeyResolver())) == {"status": "status_index_out_of_range"}


def test_an_issuer_removed_from_the_registry_is_refused(fx: Fixture) -> None:
    cred, _ = fx.diploma()
    r = fx.commit(fx.actors.carol, SetIssuer(did=UNIVERSITY.did, types=[], controller=fx.actors.alice.address))
    assert r.code == ResultCode.OK
    assert _codes(verify_credential(cred, fx.view, DidKeyResolver()))["issuer"] == "issuer_not_registered"


def test_an_issuer_not_authorised_for_the_type_is_refused(fx: Fixture) -> None:
    r = fx.commit(
        fx.actors.carol, SetIssuer(did=UNIVERSITY.did, types=["AlumniCredential"], controller=fx.actors.alice.address)
    )
    assert r.code == ResultCode.OK
    cred, _ = fx.diploma()
    assert _codes(verify_credential(cred, fx.view, DidKeyResolver())) == {"issuer": "type_not_authorised"}


def test_a_forged_credential_is_refused(fx: Fixture) -> None:
    cred, _ = fx.diploma()
    cred["credentialSubject"]["degree"] = {"type": "DoctoralDegree", "name": "PhD"}
    assert _codes(verify_credential(cred, fx.view, DidKeyResolver())) == {"proof": "bad_signature"}


def test_a_credential_signed_by_another_key_than_the_issuers_is_refused(fx: Fixture) -> None:
    cred, _ = fx.diploma()
    mallory = did_key("mallory")
    from trellis.vc.proofs import add_proof

    forged = add_proof(cred, cryptosuite=EDDSA, verification_method=mallory.vm, sign=mallory.sign)
    assert _codes(verify_credential(forged, fx.view, DidKeyResolver())) == {"proof": "key_not_issuers"}


def test_validity_is_judged_by_block_time(fx: Fixture) -> None:
    cred, _ = issue_credential(
        issuer=UNIVERSITY.did,
        verification_method=UNIVERSITY.vm,
        sign=UNIVERSITY.sign,
        cryptosuite=EDDSA,
        types=[DEGREE],
        subject={"id": STUDENT.did, "degree": {"type": "BachelorDegree", "name": "BSc"}},
        valid_from_ms=_unit.GENESIS_TIME_MS,
        valid_until_ms=fx.chain.tip.time_ms + 500,
    )
    assert verify_credential(cred, fx.view, DidKeyResolver()).verified
    fx.chain.execute_and_commit([])
    assert _codes(verify_credential(cred, fx.view, DidKeyResolver())) == {"validity": "expired"}


def test_a_credential_missing_a_required_claim_fails_the_schema_check(fx: Fixture) -> None:
    cred, _ = issue_credential(
        issuer=UNIVERSITY.did,
        verification_method=UNIVERSITY.vm,
        sign=UNIVERSITY.sign,
        cryptosuite=EDDSA,
        types=[DEGREE],
        subject={"id": STUDENT.did, "degree": {"type": "BachelorDegree"}},
        valid_from_ms=_unit.GENESIS_TIME_MS,
    )
    assert _codes(verify_credential(cred, fx.view, DidKeyResolver())) == {"schema": "schema_violation"}


def _present(
    cred: dict[str, Any], chosen: list[str], challenge: str = "c-123", domain: str = "verifier.example"
) -> dict[str, Any]:
    return make_presentation(
        [(cred, chosen)],
        holder=STUDENT.did,
        verification_method=STUDENT.vm,
        sign=STUDENT.sign,
        cryptosuite=EDDSA,
        challenge=challenge,
        domain=domain,
    )


def test_a_presentation_reveals_only_the_chosen_claims(fx: Fixture) -> None:
    cred, disclosures = fx.diploma()
    vp = _present(cred, [disclosures["grade"]])
    result = verify_presentation(vp, fx.view, DidKeyResolver(), challenge="c-123", domain="verifier.example")
    assert result.verified, (result.checks, [r.failures for r in result.credentials])
    subject = result.credentials[0].subject
    assert subject is not None
    assert subject["grade"] == "First"
    assert "name" not in subject and "dateOfBirth" not in subject


def test_a_tampered_disclosure_is_refused(fx: Fixture) -> None:
    cred, disclosures = fx.diploma()
    from trellis.vc.sd import make_disclosure

    forged = make_disclosure(b"0" * 16, "grade", "First with distinction")
    vp = _present(cred, [disclosures["name"], forged])
    result = verify_presentation(vp, fx.view, DidKeyResolver(), challenge="c-123", domain="verifier.example")
    assert not result.verified
    assert _codes(result) == {"disclosures": "tampered_disclosure"}


def test_a_presentation_embeds_each_credential_exactly_as_its_issuer_signed_it(fx: Fixture) -> None:
    cred, disclosures = fx.diploma()
    vp = _present(cred, [disclosures["grade"]])
    # Standard Data Integrity verifiers check the embedded credential's proof as is: nothing may be added.
    assert vp["verifiableCredential"] == [cred]
    assert vp["disclosures"] == [disclosures["grade"]]


def test_disclosures_inside_a_credential_break_its_proof(fx: Fixture) -> None:
    cred, disclosures = fx.diploma()
    old_style = {**cred, "disclosures": [disclosures["grade"]]}
    assert _codes(verify_credential(old_style, fx.view, DidKeyResolver())) == {"proof": "bad_signature"}


def test_the_holders_proof_covers_the_disclosures(fx: Fixture) -> None:
    cred, disclosures = fx.diploma()
    vp = _present(cred, [disclosures["grade"], disclosures["name"]])
    vp["disclosures"] = [disclosures["grade"]]  # a relay drops a claim the holder chose to show
    result = verify_presentation(vp, fx.view, DidKeyResolver(), challenge="c-123", domain="verifier.example")
    assert _codes(result) == {"holder_proof": "bad_signature"}


def test_each_disclosure_goes_to_the_credential_whose_issuer_signed_it(fx: Fixture) -> None:
    first, d1 = fx.diploma(index=1)
    second, d2 = fx.diploma(index=2)
    vp = make_presentation(
        [(first, [d1["grade"]]), (second, [d2["name"]])],
        holder=STUDENT.did,
        verification_method=STUDENT.vm,
        sign=STUDENT.sign,
        cryptosuite=EDDSA,
        challenge="c",
        domain="d",
    )
    result = verify_presentation(vp, fx.view, DidKeyResolver(), challenge="c", domain="d")
    assert result.verified, (result.checks, [r.failures for r in result.credentials])
    assert [sorted(set(r.subject or {}) - {"id", "degree"}) for r in result.credentials] == [["grade"], ["name"]]


def test_malformed_presentation_disclosures_are_refused_precisely(fx: Fixture) -> None:
    cred, _ = fx.diploma()
    for bad in ("not a list", [1], ["é"], ["x" * 9000], ["a"] * 65):
        vp = make_presentation(
            [(cred, [])],
            holder=STUDENT.did,
            verification_method=STUDENT.vm,
            sign=STUDENT.sign,
            cryptosuite=EDDSA,
            challenge="c",
            domain="d",
        )
        vp = {**vp, "disclosures": bad}
        result = verify_presentation(vp, fx.view, DidKeyResolver(), challenge="c", domain="d")
        assert _codes(result)["disclosures"] == "malformed_disclosure", bad


def test_a_wrong_challenge_or_domain_is_refused(fx: Fixture) -> None:
    cred, _ = fx.diploma()
    vp = _present(cred, [], challenge="old-challenge")
    result = verify_presentation(vp, fx.view, DidKeyResolver(), challenge="c-123", domain="verifier.example")
    assert _codes(result) == {"holder_proof": "wrong_challenge"}
    vp = _present(cred, [], domain="evil.example")
    result = verify_presentation(vp, fx.view, DidKeyResolver(), challenge="c-123", domain="verifier.example")
    assert _codes(result) == {"holder_proof": "wrong_domain"}


def test_a_presentation_by_someone_other_than_the_subject_is_refused(fx: Fixture) -> None:
    cred, _ = fx.diploma()
    thief = did_key("thief")
    vp = make_presentation(
        [(cred, [])],
        holder=thief.did,
        verification_method=thief.vm,
        sign=thief.sign,
        cryptosuite=EDDSA,
        challenge="c",
        domain="d",
    )
    result = verify_presentation(vp, fx.view, DidKeyResolver(), challenge="c", domain="d")
    assert _codes(result) == {"holder_binding": "holder_not_subject"}


def test_a_revoked_credential_in_a_presentation_is_refused(fx: Fixture) -> None:
    cred, _ = fx.diploma()
    assert fx.commit(fx.actors.alice, StatusSet(list_id="uni-rev", set_indexes=[94567])).code == ResultCode.OK
    result = verify_presentation(
        _present(cred, []), fx.view, DidKeyResolver(), challenge="c-123", domain="verifier.example"
    )
    assert not result.verified
    assert _codes(result.credentials[0]) == {"status": "revoked"}


def test_an_sm2_jcs_2025_credential_verifies_with_every_check(actors: Any) -> None:
    from trellis.core.crypto.sm import sm2_keypair_from_secret, sm2_sign

    secret, public = sm2_keypair_from_secret(hashlib.sha256(b"sm university").digest())
    mk = multikey_encode("sm", public)
    issuer = f"did:key:{mk}"
    f = Fixture(actors)
    r = f.commit(actors.carol, SetIssuer(did=issuer, types=[DEGREE], controller=actors.alice.address))
    assert r.code == ResultCode.OK
    r = f.commit(actors.alice, StatusCreate(list_id="sm", size=131072, purpose="revocation", issuer=issuer))
    assert r.code == ResultCode.OK
    cred, disclosures = issue_credential(
        issuer=issuer,
        verification_method=f"{issuer}#{mk}",
        sign=lambda m: sm2_sign(secret, m),
        cryptosuite=CRYPTOSUITES["sm2-jcs-2025"],
        types=[DEGREE],
        subject={"id": STUDENT.did, "degree": {"type": "BachelorDegree", "name": "BSc"}, "grade": "A"},
        valid_from_ms=_unit.GENESIS_TIME_MS,
        status=[status_entry(BASE, "sm", 9, "revocation")],
        disclosable=["grade"],
    )
    assert cred["proof"]["cryptosuite"] == "sm2-jcs-2025" and cred["credentialSubject"]["_sd_alg"] == "sm3"
    result = verify_credential(cred, f.view, DidKeyResolver(), disclosures=[disclosures["grade"]])
    assert result.verified, result.failures
    assert result.subject is not None and result.subject["grade"] == "A"
    assert f.commit(actors.alice, StatusSet(list_id="sm", set_indexes=[9])).code == ResultCode.OK
    assert _codes(verify_credential(cred, f.view, DidKeyResolver())) == {"status": "revoked"}


def test_a_did_trellis_issuer_key_is_resolved_as_of_the_proofs_time(actors: Any) -> None:
    from trellis.core.modules.identity.messages import DidCreate, DidDocument, DidUpdate, DidVerificationMethod
    from trellis.vc.resolver import TrellisDidResolver

    f = Fixture(actors)
    alice, bob = actors.alice, actors.bob

    def doc(key: Any) -> DidDocument:
        vm = DidVerificationMethod(id="key-1", type="Multikey", public_key=key.public)
        return DidDocument(verification_methods=[vm], authentication=["key-1"], assertion_method=["key-1"])

    r = f.commit(alice, DidCreate(document=doc(alice)))
    assert r.code == ResultCode.OK, r.message
    did = f"did:trellis:{_unit.CHAIN_ID}:{r.data.hex()}"
    assert f.commit(actors.carol, SetIssuer(did=did, types=[DEGREE], controller=alice.address)).code == ResultCode.OK

    def diploma(key: Any, at_ms: int) -> dict[str, Any]:
        cred, _ = issue_credential(
            issuer=did,
            verification_method=f"{did}#key-1",
            sign=key.sign,
            cryptosuite=EDDSA,
            types=[DEGREE],
            subject={"id": STUDENT.did, "degree": {"type": "BachelorDegree", "name": "BSc"}},
            valid_from_ms=at_ms,
        )
        return cred

    before = diploma(alice, f.chain.tip.time_ms)
    # Rotate the issuer's key to bob's (alice's key still authorises the update).
    assert f.commit(alice, DidUpdate(did=did, document=doc(bob))).code == ResultCode.OK
    resolver = TrellisDidResolver(f.chain.state, _unit.CHAIN_ID, "ed25519")
    assert verify_credential(before, f.view, resolver).verified
    late_forgery = diploma(alice, f.chain.tip.time_ms)
    assert _codes(verify_credential(late_forgery, f.view, resolver)) == {"proof": "bad_signature"}
    assert verify_credential(diploma(bob, f.chain.tip.time_ms), f.view, resolver).verified
