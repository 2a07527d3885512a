"""The attestations module (docs/spec/attestations.md): its rules run through real blocks, its decoding bounds,
and its read side's pages."""

from __future__ import annotations

import hashlib
import re
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.unit.conftest import CHAIN_ID
from trellis.app.modules.attestations import BadCursor, by_attester, by_subject
from trellis.core.codec import decode, encode
from trellis.core.crypto.sm import sm3
from trellis.core.crypto.suite import ED25519, SM
from trellis.core.errors import DecodeError, InvalidTransaction
from trellis.core.execution import ResultCode
from trellis.core.ledger.tx import decode_tx
from trellis.core.modules.accounts.state import account_key
from trellis.core.modules.attestations.messages import MAX_STATEMENT, Attest, RevokeAttestation
from trellis.core.modules.attestations.state import (
    ACTIVE,
    EXPIRED,
    REVOKED,
    Attestation,
    attestation_id,
    attester_prefix,
    index_key,
    read_attestation,
    record_key,
    status_at,
    subject_prefix,
)
from trellis.core.modules.identity.did import format_did
from trellis.core.modules.identity.messages import DidCreate, DidDeactivate, DidDocument, DidVerificationMethod
from trellis.core.modules.payload import Payload

SUBJECT = "did:web:bob.example"
DIGEST_SUBJECT = "0x" + "ab" * 32


def doc_for(public_key: bytes) -> DidDocument:
    """A DID document whose one key (``key-1``) authenticates."""
    vm = DidVerificationMethod(id="key-1", type="Ed25519VerificationKey2020", public_key=public_key)
    return DidDocument(
        verification_methods=[vm], authentication=["key-1"], assertion_method=["key-1"], services=[], controllers=[]
    )


def run(chain, make_tx, key, nonce, msg):
    """Execute ``msg`` from ``key`` in the next block, commit it, and return (block, receipt)."""
    executed = chain.execute_and_commit([make_tx(key, nonce, msg)])
    return executed, executed.output.receipts[0]


def attest(chain, make_tx, key, nonce=0, **fields: Any) -> tuple[bytes, Any]:
    fields.setdefault("subject", SUBJECT)
    fields.setdefault("claim_type", "kyc.verified")
    msg = Attest(**fields)
    _, receipt = run(chain, make_tx, key, nonce, msg)
    return attestation_id(ED25519, key.address, nonce, msg.subject, msg.claim_type), receipt


def module_writes(out) -> dict[bytes, bytes | None]:
    return {k: v for k, v in out.writes.items() if k.startswith(b"attest/")}


# -- attest ------------------------------------------------------------------------------------------------------
def test_attest_stores_the_record_and_both_index_entries(chain, actors, make_tx) -> None:
    msg = Attest(subject=SUBJECT, claim_type="kyc.verified", statement=b'{"level":2}', expires_at_ms=2**50)
    executed, receipt = run(chain, make_tx, actors.alice, 0, msg)
    assert receipt.code == ResultCode.OK, receipt.message
    ident = attestation_id(ED25519, actors.alice.address, 0, SUBJECT, "kyc.verified")
    h = executed.block.header
    rec = read_attestation(chain, ident)
    assert rec == Attestation(
        id=ident,
        attester=actors.alice.address,
        attester_did="",
        subject=SUBJECT,
        claim_type="kyc.verified",
        statement=b'{"level":2}',
        expires_at_ms=2**50,
        height=h.height,
        time_ms=h.time_ms,
        nonce=0,
        revoked_height=0,
        revoked_ms=0,
    )
    assert module_writes(executed.output) == {
        record_key(ident): encode(rec),
        index_key(subject_prefix(ED25519, SUBJECT), h.height, ident): ident,
        index_key(attester_prefix(actors.alice.address), h.height, ident): ident,
    }
    (event,) = receipt.events
    assert event.type == "attestations.attest"
    assert dict(event.attributes) == {
        "id": ident,
        "attester": actors.alice.address,
        "subject": SUBJECT.encode(),
        "claim_type": b"kyc.verified",
    }


def test_the_id_binds_attester_nonce_subject_and_claim_type() -> None:
    a, b = b"\x01" * 20, b"\x02" * 20
    base = attestation_id(ED25519, a, 0, SUBJECT, "t")
    others = {
        attestation_id(ED25519, b, 0, SUBJECT, "t"),
        attestation_id(ED25519, a, 1, SUBJECT, "t"),
        attestation_id(ED25519, a, 0, DIGEST_SUBJECT, "t"),
        attestation_id(ED25519, a, 0, SUBJECT, "u"),
        # the length prefixes keep a byte moved between subject and claim type from giving the same preimage
        attestation_id(ED25519, a, 0, SUBJECT + "t", ""),
    }
    assert base not in others and len(others) == 5
    assert base == attestation_id(ED25519, a, 0, SUBJECT, "t")


def test_the_id_is_the_spec_formula_under_each_suite() -> None:
    attester, subject, claim = bytes(range(20)), "did:web:x.example", "kyc.verified"
    data = attester + (5).to_bytes(8, "big") + b"\x00\x11" + subject.encode() + b"\x00\x0c" + claim.encode()
    domain = b"trellis/attestation-id/v1"
    sha = hashlib.sha256(bytes([len(domain)]) + domain + data).digest()
    assert attestation_id(ED25519, attester, 5, subject, claim) == sha
    assert attestation_id(SM, attester, 5, subject, claim) == sm3(bytes([len(domain)]) + domain + data) != sha


def test_the_same_statement_twice_gets_two_records(chain, actors, make_tx) -> None:
    first, r1 = attest(chain, make_tx, actors.alice, 0)
    second, r2 = attest(chain, make_tx, actors.alice, 1)
    assert r1.code == r2.code == ResultCode.OK
    assert first != second
    assert read_attestation(chain, first) is not None and read_attestation(chain, second) is not None


def test_a_digest_subject_and_an_empty_statement_are_allowed(chain, actors, make_tx) -> None:
    ident, receipt = attest(chain, make_tx, actors.bob, 0, subject=DIGEST_SUBJECT, claim_type="audit.passed")
    assert receipt.code == ResultCode.OK, receipt.message
    rec = read_attestation(chain, ident)
    assert rec is not None and rec.statement == b"" and rec.expires_at_ms == 0


# -- expiry ------------------------------------------------------------------------------------------------------
def test_an_expiry_not_after_the_block_time_fails_and_writes_nothing(chain, actors, make_tx) -> None:
    block_time = chain.tip.time_ms + 1000
    for expiry in (1, block_time):
        out = chain.execute([make_tx(actors.alice, 0, Attest(subject=SUBJECT, claim_type="t", expires_at_ms=expiry))])
        (receipt,) = out.receipts
        assert receipt.code == ResultCode.INVALID_CHANGE
        assert f"expires_at_ms {expiry} is not after this block's time {block_time}" in receipt.message
        assert module_writes(out) == {}
        assert account_key(actors.alice.address) in out.writes  # the nonce still advances


def test_status_follows_revocation_then_expiry(chain, actors, make_tx) -> None:
    block_time = chain.tip.time_ms + 1000
    ident, receipt = attest(chain, make_tx, actors.alice, 0, expires_at_ms=block_time + 1)
    assert receipt.code == ResultCode.OK, receipt.message
    rec = read_attestation(chain, ident)
    assert rec is not None
    assert status_at(rec, block_time) == ACTIVE
    assert status_at(rec, block_time + 1) == EXPIRED  # "until", exclusive
    revoked = msgspec.structs.replace(rec, revoked_height=9, revoked_ms=block_time + 5)
    assert status_at(revoked, block_time) == REVOKED
    assert status_at(msgspec.structs.replace(rec, expires_at_ms=0), 2**63) == ACTIVE


def test_an_expired_attestation_can_still_be_revoked(chain, actors, make_tx) -> None:
    ident, _ = attest(chain, make_tx, actors.alice, 0, expires_at_ms=chain.tip.time_ms + 1001)
    _, receipt = run(chain, make_tx, actors.alice, 1, RevokeAttestation(id=ident))  # one block later: expired
    assert receipt.code == ResultCode.OK, receipt.message
    rec = read_attestation(chain, ident)
    assert rec is not None and status_at(rec, chain.tip.time_ms) == REVOKED


# -- revoke ------------------------------------------------------------------------------------------------------
def test_the_attester_revokes_and_the_record_stays_with_the_revocation(chain, actors, make_tx) -> None:
    ident, _ = attest(chain, make_tx, actors.alice, 0)
    before = read_attestation(chain, ident)
    executed, receipt = run(chain, make_tx, actors.alice, 1, RevokeAttestation(id=ident))
    assert receipt.code == ResultCode.OK, receipt.message
    h = executed.block.header
    after = read_attestation(chain, ident)
    assert after == msgspec.structs.replace(before, revoked_height=h.height, revoked_ms=h.time_ms)
    assert set(module_writes(executed.output)) == {record_key(ident)}  # the index entries stay
    (event,) = receipt.events
    assert (event.type, dict(event.attributes)) == (
        "attestations.revoke",
        {"id": ident, "attester": actors.alice.address},
    )


def test_only_the_attester_may_revoke(chain, actors, make_tx) -> None:
    ident, _ = attest(chain, make_tx, actors.alice, 0)
    out = chain.execute([make_tx(actors.bob, 0, RevokeAttestation(id=ident))])
    (receipt,) = out.receipts
    assert receipt.code == ResultCode.NOT_OWNER
    assert actors.alice.address.hex() in receipt.message
    assert module_writes(out) == {}


def test_a_second_revocation_is_a_duplicate(chain, actors, make_tx) -> None:
    ident, _ = attest(chain, make_tx, actors.alice, 0)
    first, _ = run(chain, make_tx, actors.alice, 1, RevokeAttestation(id=ident))
    out = chain.execute([make_tx(actors.alice, 2, RevokeAttestation(id=ident))])
    (receipt,) = out.receipts
    assert receipt.code == ResultCode.DUPLICATE
    assert f"revoked at height {first.block.header.height}" in receipt.message
    assert module_writes(out) == {}


def test_revoking_an_unknown_id_is_not_found(chain, actors, make_tx) -> None:
    out = chain.execute([make_tx(actors.alice, 0, RevokeAttestation(id=b"\x07" * 32))])
    assert out.receipts[0].code == ResultCode.NOT_FOUND
    assert module_writes(out) == {}


# -- the attester DID --------------------------------------------------------------------------------------------
def _did_of(chain, make_tx, key, nonce: int) -> str:
    _, receipt = run(chain, make_tx, key, nonce, DidCreate(document=doc_for(key.public)))
    assert receipt.code == ResultCode.OK, receipt.message
    return format_did(CHAIN_ID, receipt.data)


def test_an_attester_did_the_sender_controls_is_recorded(chain, actors, make_tx) -> None:
    did = _did_of(chain, make_tx, actors.alice, 0)
    ident, receipt = attest(chain, make_tx, actors.alice, 1, attester_did=did)
    assert receipt.code == ResultCode.OK, receipt.message
    rec = read_attestation(chain, ident)
    assert rec is not None and rec.attester_did == did


def test_an_attester_did_the_sender_does_not_control_is_refused(chain, actors, make_tx) -> None:
    did = _did_of(chain, make_tx, actors.alice, 0)
    cases = {
        did: ResultCode.UNAUTHORIZED,  # bob's key is not in alice's document
        format_did(CHAIN_ID, b"\x09" * 16): ResultCode.NOT_FOUND,
        format_did("another-chain", b"\x09" * 16): ResultCode.INVALID_DID,
        "did:web:bob.example": ResultCode.INVALID_DID,
    }
    for text, code in cases.items():
        out = chain.execute([make_tx(actors.bob, 0, Attest(subject=SUBJECT, claim_type="t", attester_did=text))])
        assert out.receipts[0].code == code, (text, out.receipts[0].message)
        assert module_writes(out) == {}


def test_a_deactivated_attester_did_is_refused(chain, actors, make_tx) -> None:
    did = _did_of(chain, make_tx, actors.alice, 0)
    _, receipt = run(chain, make_tx, actors.alice, 1, DidDeactivate(did=did))
    assert receipt.code == ResultCode.OK, receipt.message
    out = chain.execute([make_tx(actors.alice, 2, Attest(subject=SUBJECT, claim_type="t", attester_did=did))])
    assert out.receipts[0].code == ResultCode.DID_DEACTIVATED


# -- decoding bounds ---------------------------------------------------------------------------------------------
def _raw_tx(make_tx, actors, fields: list[Any]) -> bytes:
    """A signed transaction whose payload is ``fields`` as msgpack, whatever they hold (the signature covers the
    body as encoded here, so only the payload's decoding can refuse it)."""
    tx = make_tx(actors.alice, 0, Attest(subject=SUBJECT, claim_type="t"))
    body = msgspec.msgpack.decode(encode(tx.body))
    body[3] = fields
    return msgspec.msgpack.encode([body, tx.signature])


@pytest.mark.parametrize(
    ("fields", "position"),
    [
        (["attestations.attest", "did:web:" + "a" * 249, "t", b"", 0, ""], "$[0][3][1]"),  # 257 characters
        (["attestations.attest", "someone", "t", b"", 0, ""], "$[0][3][1]"),  # not a DID nor a digest
        (["attestations.attest", "0x" + "AB" * 32, "t", b"", 0, ""], "$[0][3][1]"),  # upper-case hex
        (["attestations.attest", "did:web:a\n", "t", b"", 0, ""], "$[0][3][1]"),  # a trailing newline
        (["attestations.attest", SUBJECT, "", b"", 0, ""], "$[0][3][2]"),
        (["attestations.attest", SUBJECT, "1st", b"", 0, ""], "$[0][3][2]"),
        (["attestations.attest", SUBJECT, "t" * 65, b"", 0, ""], "$[0][3][2]"),
        (["attestations.attest", SUBJECT, "t", b"x" * (MAX_STATEMENT + 1), 0, ""], "$[0][3][3]"),
        (["attestations.attest", SUBJECT, "t", b"", -1, ""], "$[0][3][4]"),
        (["attestations.attest", SUBJECT, "t", b"", 0, "alice"], "$[0][3][5]"),
        # a field left out: it has a default, but a default is still encoded (encoding.md 1.2)
        (["attestations.attest", SUBJECT, "t", b"", 0], "not in canonical encoding"),
        (["attestations.revoke", b"\x01" * 31], "$[0][3][1]"),
    ],
)
def test_out_of_bounds_fields_make_the_transaction_malformed(make_tx, actors, fields, position) -> None:
    with pytest.raises(InvalidTransaction) as info:
        decode_tx(_raw_tx(make_tx, actors, fields))
    assert info.value.code == "malformed"
    expected = position if position.startswith("not") else f"`{position}`"
    assert expected in info.value.reason, info.value.reason


def test_the_bounds_themselves_decode(make_tx, actors) -> None:
    subject = "did:web:" + "a" * 248  # 256 characters
    fields = ["attestations.attest", subject, "t" * 64, b"x" * MAX_STATEMENT, 2**64 - 1, "did:trellis:c:" + "0" * 32]
    tx = decode_tx(_raw_tx(make_tx, actors, fields))
    assert tx.body.payload == Attest(
        subject=subject,
        claim_type="t" * 64,
        statement=b"x" * MAX_STATEMENT,
        expires_at_ms=2**64 - 1,
        attester_did="did:trellis:c:" + "0" * 32,
    )


_SUBJECT = re.compile(r"(did:[a-z0-9]+:[A-Za-z0-9._:%-]+|0x[0-9a-f]{64})")
_CLAIM = re.compile(r"[A-Za-z][A-Za-z0-9_.-]*")
_DID = re.compile(r"(did:[a-z0-9]+:[A-Za-z0-9._:%-]+)?")


def _expected(fields: list[Any]) -> tuple[str, Attest | None]:
    """What the spec says of an ``attestations.attest`` payload (section 1): the first bad field's position, or
    the message it is. Written from the spec's words, not from the struct."""
    _, subject, claim, statement, expiry, did = fields
    if not (1 <= len(subject) <= 256 and _SUBJECT.fullmatch(subject)):
        return "$[1]", None
    if not (1 <= len(claim) <= 64 and _CLAIM.fullmatch(claim)):
        return "$[2]", None
    if len(statement) > 4096:
        return "$[3]", None
    if not 0 <= expiry < 2**64:
        return "$[4]", None
    if not (len(did) <= 160 and _DID.fullmatch(did)):
        return "$[5]", None
    msg = Attest(subject=subject, claim_type=claim, statement=statement, expires_at_ms=expiry, attester_did=did)
    return "", msg


_junk = st.one_of(
    st.text(max_size=300),
    st.sampled_from(["", "did:web:a\n", "0x" + "A" * 64, "0x" + "a" * 63, "did:X:y", "did:web:" + "a" * 252, "1st"]),
)


def _mostly(valid: st.SearchStrategy[Any], invalid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """``valid`` three times in four, else ``invalid``: every field is sometimes the first bad one."""
    return st.sampled_from([True, True, True, False]).flatmap(lambda ok: valid if ok else invalid)


_subjects = _mostly(st.from_regex(_SUBJECT, fullmatch=True), _junk)
_claims = _mostly(st.from_regex(_CLAIM, fullmatch=True), _junk)
_statements = _mostly(st.binary(max_size=64), st.integers(4090, 4100).map(lambda n: b"s" * n))
_expiries = _mostly(st.integers(0, 2**64 - 1), st.integers(-(2**63), -1))
_dids = _mostly(st.one_of(st.just(""), st.from_regex(_DID, fullmatch=True)), _junk)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    subject=_subjects,
    claim=_claims,
    statement=_statements,
    expiry=_expiries,
    did=_dids,
)
def test_the_decoder_refuses_exactly_what_the_spec_refuses(subject, claim, statement, expiry, did) -> None:
    fields = ["attestations.attest", subject, claim, statement, expiry, did]
    position, msg = _expected(fields)
    raw = msgspec.msgpack.encode(fields)
    event("accepted" if msg is not None else f"refused at {position}")
    if msg is None:
        with pytest.raises(DecodeError) as info:
            decode(raw, Payload)  # type: ignore[arg-type]
        assert f"`{position}`" in info.value.reason, (fields, info.value.reason)
    else:
        assert decode(raw, Payload) == msg  # type: ignore[arg-type]
        assert encode(msg) == raw  # and it is the canonical form


# -- the read side -----------------------------------------------------------------------------------------------
def test_lists_page_oldest_first_and_reject_foreign_cursors(chain, actors, make_tx) -> None:
    ids = []
    for nonce in range(5):  # one per block: heights increase
        ident, receipt = attest(chain, make_tx, actors.alice, nonce, claim_type=f"c{nonce}")
        assert receipt.code == ResultCode.OK
        ids.append(ident)
    other, _ = attest(chain, make_tx, actors.bob, 0, subject=DIGEST_SUBJECT)

    seen, after = [], None
    while True:
        page = by_subject(chain, ED25519, SUBJECT, 2, after)
        seen += [r.id for r in page.items]
        if page.next is None:
            break
        after = page.next
    assert seen == ids
    assert [r.id for r in by_attester(chain, actors.alice.address, 100).items] == ids
    assert [r.id for r in by_attester(chain, actors.bob.address, 100).items] == [other]
    assert [r.id for r in by_subject(chain, ED25519, DIGEST_SUBJECT, 100).items] == [other]
    assert by_subject(chain, ED25519, "did:web:nobody", 100).items == []

    with pytest.raises(BadCursor):
        by_subject(chain, ED25519, SUBJECT, 2, other)  # bob's attestation is about another subject
    with pytest.raises(BadCursor):
        by_attester(chain, actors.bob.address, 2, ids[0])
    with pytest.raises(BadCursor):
        by_attester(chain, actors.bob.address, 2, b"\x00" * 32)
