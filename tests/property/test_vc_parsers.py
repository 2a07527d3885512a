"""Hostile input to the credential parsers: whatever arrives, the answer is a result or a precise ``VcError``,
never a crash; JCS output is JSON that parses back to the same value and is a fixed point. Every fuzz test also
checks the answer: what parses equals what the input denotes (round trips, generated values read back
exactly), and a refusal names the right problem (its code, and the check or character at fault)."""

from __future__ import annotations

import base64
import functools
import gzip
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from trellis.vc.errors import VcError
from trellis.vc.jcs import canonicalize
from trellis.vc.multibase import (
    MultibaseError,
    multibase_decode,
    multibase_encode,
    multikey_decode,
    multikey_encode,
)
from trellis.vc.proofs import split_proof, verify_proof
from trellis.vc.resolver import DidKeyResolver
from trellis.vc.sd import MAX_DISCLOSURES, SD_ALGS, conceal, make_disclosure, reveal
from trellis.vc.status import decode_list, encode_list
from trellis.vc.verifier import parse_time_ms, verify_credential, verify_presentation

_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**53) + 1, 2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
json_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)
_keys = st.sampled_from(
    [
        "@context",
        "type",
        "issuer",
        "credentialSubject",
        "proof",
        "validFrom",
        "validUntil",
        "credentialStatus",
        "disclosures",
        "holder",
        "verifiableCredential",
        "_sd",
        "_sd_alg",
    ]
)
credential_like = st.dictionaries(_keys | st.text(max_size=6), json_values, max_size=8).map(
    lambda d: {
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "type": ["VerifiableCredential", "VerifiablePresentation"],
        **d,
    }
)


class _EmptyChain:
    height = 1
    time_ms = 1_800_000_000_000

    def get(self, key: bytes) -> bytes | None:
        return None


@settings(max_examples=300, deadline=None)
@given(credential_like | json_values)
def test_verifying_any_json_as_a_credential_gives_a_result(doc: Any) -> None:
    result = verify_credential(doc, _EmptyChain(), DidKeyResolver())
    assert not result.verified
    assert all(c.ok or c.code for c in result.checks)
    failed = {c.name: c.code for c in result.checks if not c.ok}
    if not isinstance(doc, dict) or doc.get("@context") != ["https://www.w3.org/ns/credentials/v2"]:
        # Not a credential's shape: refused for its format, and nothing else is checked.
        assert [(c.name, c.code) for c in result.checks] == [("format", "malformed")]
    elif "format" not in failed:
        # The shape of a credential, but nothing here was signed by anyone: the proof is what fails.
        assert "proof" in failed


@settings(max_examples=300, deadline=None)
@given(credential_like | json_values, st.text(max_size=5), st.text(max_size=5))
def test_verifying_any_json_as_a_presentation_gives_a_result(doc: Any, challenge: str, domain: str) -> None:
    result = verify_presentation(doc, _EmptyChain(), DidKeyResolver(), challenge=challenge, domain=domain)
    assert not result.verified
    failed = [c for c in result.checks if not c.ok]
    assert failed and all(c.code for c in failed)
    if not isinstance(doc, dict):
        assert [(c.name, c.code) for c in result.checks] == [("format", "malformed")]


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(st.sampled_from(["_sd", "_sd_alg", "id", "x"]), json_values, max_size=4),
    json_values | st.lists(st.text(max_size=40), max_size=4),
)
def test_disclosures_are_refused_precisely(subject: dict[str, Any], disclosures: Any) -> None:
    try:
        revealed = reveal(subject, disclosures)
    except VcError as exc:
        assert exc.code == _expected_disclosure_failure(subject, disclosures), exc
        return
    # Arbitrary disclosures can never match a digest an issuer signed: only an empty list is accepted, and
    # then the subject is given back without its digests.
    assert disclosures == [] and "_sd" not in subject
    assert revealed == {k: v for k, v in subject.items() if k not in ("_sd", "_sd_alg")}


def _expected_disclosure_failure(subject: dict[str, Any], disclosures: Any) -> str:
    """The code that refusing ``disclosures`` of ``subject`` must carry, read from the input alone."""
    if not isinstance(disclosures, list) or len(disclosures) > MAX_DISCLOSURES:
        return "malformed_disclosure"
    alg = subject.get("_sd_alg")
    if not isinstance(alg, str) or alg not in SD_ALGS:
        return "unknown_sd_alg"
    sd = subject.get("_sd")
    if not isinstance(sd, list) or not all(isinstance(d, str) for d in sd):
        return "malformed_disclosure"
    # The first disclosure decides: one that is not a base64url JCS array is malformed; any other matches no
    # signed digest.
    first = disclosures[0]
    try:
        item = json.loads(base64.urlsafe_b64decode(first + "=" * (-len(first) % 4)).decode("utf-8"))
        well_formed = (
            isinstance(item, list)
            and len(item) == 3
            and isinstance(item[0], str)
            and isinstance(item[1], str)
            and canonicalize(item) == base64.urlsafe_b64decode(first + "=" * (-len(first) % 4))
        )
    except Exception:
        well_formed = False
    return "tampered_disclosure" if well_formed else "malformed_disclosure"


_exact_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)
"""JSON values that every JSON reader gives back exactly (no floats: JCS writes 0.0 as 0)."""
CLAIMS = st.dictionaries(
    st.text(alphabet="abcdefghij", min_size=1, max_size=6).filter(lambda k: k != "id"),  # "id" is never concealed
    _exact_values,
    min_size=1,
    max_size=5,
)


@settings(max_examples=150, deadline=None)
@given(CLAIMS, st.data())
def test_revealing_concealed_claims_gives_them_back_exactly(claims: dict[str, Any], data: st.DataObject) -> None:
    subject = {"id": "did:example:holder", **claims}
    hidden = data.draw(st.lists(st.sampled_from(sorted(claims)), unique=True, min_size=1))
    shown = data.draw(st.lists(st.sampled_from(hidden), unique=True))
    cred, disclosures = conceal({"credentialSubject": subject}, hidden)
    concealed = cred["credentialSubject"]
    assert not set(hidden) & set(concealed)
    revealed = reveal(concealed, [disclosures[n] for n in shown])
    kept = {k: v for k, v in subject.items() if k not in hidden or k in shown}
    assert revealed == kept
    assert json.dumps(revealed, sort_keys=True) == json.dumps(kept, sort_keys=True)  # types too (1 vs 1.0, ...)
    # The same claim and value under another salt is a disclosure the issuer never signed.
    forged = make_disclosure(b"\x00" * 16, hidden[0], subject[hidden[0]])
    with pytest.raises(VcError) as err:
        reveal(concealed, [forged])
    assert err.value.code == "tampered_disclosure"
    assert repr(hidden[0]) in err.value.reason
    if shown:  # and one given twice is refused as such
        with pytest.raises(VcError) as twice:
            reveal(concealed, [disclosures[shown[0]]] * 2)
        assert twice.value.code == "duplicate_disclosure"


_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


@given(st.one_of(st.text(max_size=200), st.text(alphabet=_B64URL, max_size=60).map(lambda t: "u" + t)))
def test_any_text_as_a_status_list_decodes_to_its_bits_or_is_refused_precisely(text: str) -> None:
    try:
        bits = decode_list(text)
    except VcError as exc:
        assert exc.code == "malformed_status_list"
        if not text.startswith("u"):
            assert exc.reason == "encodedList must be multibase base64url ('u...')"
        return
    # Read independently: "u", then base64url (padding restored) of a GZIP stream.
    assert text.startswith("u")
    body = text[1:]
    assert bits == gzip.decompress(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))


@given(st.text(max_size=60))
@example("2024-02-30T00:00:00Z")
@example("2024-01-01T00:00:00")
@example("2024-01-01 00:00:00Z")
def test_any_text_as_a_date_is_refused_naming_it(text: str) -> None:
    try:
        ms = parse_time_ms(text)
    except VcError as exc:
        assert exc.code == "invalid_date"
        assert repr(text[:40])[:-1] in exc.reason or repr(text)[:-1] in exc.reason
        return
    # Anything accepted is an RFC 3339 date-time with a zone, read as the same instant by the standard library.
    assert text[4] == "-" and text[10] == "T" and (text.endswith("Z") or text[-6] in "+-")
    assert ms == (datetime.fromisoformat(text.replace("Z", "+00:00")) - _EPOCH) // timedelta(milliseconds=1)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@given(
    st.integers(-(10**12), 253_402_200_000_000),  # to 9999-12-30: a zone offset cannot pass year 9999
    st.integers(-14 * 60, 14 * 60),
    st.booleans(),
)
@example(1023, 0, False)
@example(1_700_000_000_001, 0, False)
@example(1_700_000_000_999, 330, True)
def test_a_generated_date_reads_back_to_its_millisecond(ms: int, offset_min: int, zulu: bool) -> None:
    instant = _EPOCH + timedelta(milliseconds=ms)
    if zulu:
        offset_min = 0
    local = instant.astimezone(UTC) + timedelta(minutes=offset_min)
    assume(1 <= local.year <= 9999 and 1 <= instant.year <= 9999)
    zone = "Z" if zulu else f"{'+' if offset_min >= 0 else '-'}{abs(offset_min) // 60:02d}:{abs(offset_min) % 60:02d}"
    text = local.strftime("%Y-%m-%dT%H:%M:%S") + f".{local.microsecond // 1000:03d}" + zone
    assert parse_time_ms(text) == ms


@given(st.one_of(st.text(max_size=80), st.text(alphabet=_B58 + "0OIl", max_size=60).map(lambda t: "z" + t)))
def test_any_text_as_multibase_reads_back_to_itself_or_names_the_fault(text: str) -> None:
    try:
        raw = multibase_decode(text)
    except MultibaseError as exc:
        if not text.startswith("z"):
            assert str(exc) == "expected a base58btc multibase value (starting with 'z')"
        else:
            bad = next(c for c in text[1:] if c not in _B58)
            assert str(exc) == f"{bad!r} is not a base58btc character"
        return
    assert text.startswith("z") and all(c in _B58 for c in text[1:])
    assert multibase_encode(raw) == text  # base58 has one spelling of each byte string


@given(st.binary(max_size=80))
def test_multibase_round_trips_any_bytes(data: bytes) -> None:
    assert multibase_decode(multibase_encode(data)) == data


@given(st.sampled_from([("ed25519", 32), ("sm", 65)]), st.data())
def test_a_multikey_reads_back_to_its_suite_and_key(suite_and_size: tuple[str, int], data: st.DataObject) -> None:
    suite, size = suite_and_size
    key = data.draw(st.binary(min_size=size, max_size=size))
    assert multikey_decode(multikey_encode(suite, key)) == (suite, key)


@given(
    st.one_of(
        st.binary(max_size=80),
        st.tuples(st.sampled_from([b"\xed\x01", b"\x86\x24"]), st.binary(max_size=80)).map(b"".join),
    )
)
@example(b"\xed\x01" + b"\x01" * 31)
@example(b"\xed\x01" + b"\x01" * 33)
@example(b"\x86\x24" + b"\x01" * 64)
def test_a_multibase_value_that_is_not_a_multikey_is_refused_as_such(data: bytes) -> None:
    assume(not (data[:2] == b"\xed\x01" and len(data) == 34) and not (data[:2] == b"\x86\x24" and len(data) == 67))
    with pytest.raises(MultibaseError, match="not an Ed25519 or SM2 Multikey public key"):
        multikey_decode(multibase_encode(data))


@given(st.binary(max_size=512))
def test_status_list_encoding_round_trips(bits: bytes) -> None:
    assert decode_list(encode_list(bits)) == bits


@settings(max_examples=300)
@given(json_values)
def test_jcs_output_is_a_fixed_point_and_independent_of_formatting(value: Any) -> None:
    canon = canonicalize(value)
    parsed = json.loads(canon)
    assert canonicalize(parsed) == canon
    # However the same value is written (indentation, member order), its canonical form is the same.
    assert canonicalize(json.loads(json.dumps(value, indent=1, sort_keys=False)[::1])) == canon


def _leaves(doc: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(doc, dict):
        return [p for k, v in doc.items() for p in _leaves(v, (*path, k))]
    if isinstance(doc, list):
        return [p for i, v in enumerate(doc) for p in _leaves(v, (*path, i))]
    return [path]


@functools.cache
def _signed_vector_text() -> str:
    vectors = json.loads((Path(__file__).parents[1] / "vectors" / "vc" / "eddsa-jcs-2022.json").read_text())
    return json.dumps(vectors["signed"])


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_any_altered_leaf_of_a_signed_credential_is_refused(data: st.DataObject) -> None:
    doc = json.loads(_signed_vector_text())
    path = data.draw(st.sampled_from([p for p in _leaves(doc) if p != ("proof", "proofValue")]))
    target = doc
    for step in path[:-1]:
        target = target[step]
    old = target[path[-1]]
    new = data.draw(json_values.filter(lambda v: v != old or type(v) is not type(old)))
    target[path[-1]] = new
    _, public = multikey_decode("z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ2")
    try:
        unsecured, proof = split_proof(doc)
        verify_proof(unsecured, proof, public)
    except VcError as exc:
        assert exc.code in {"bad_signature", "context_mismatch", "malformed_proof", "unknown_cryptosuite", "malformed"}
    else:
        raise AssertionError(f"altering {path} from {old!r} to {new!r} went unnoticed")
