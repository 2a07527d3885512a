"""Hostile input to the credential parsers: whatever arrives, the answer is a result or a precise ``VcError``,
never a crash; JCS output is JSON that parses back to the same value and is a fixed point."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from trellis.vc.errors import VcError
from trellis.vc.jcs import canonicalize
from trellis.vc.multibase import MultibaseError, multibase_decode, multikey_decode
from trellis.vc.proofs import split_proof, verify_proof
from trellis.vc.resolver import DidKeyResolver
from trellis.vc.sd import reveal
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


@settings(max_examples=300, deadline=None)
@given(credential_like | json_values, st.text(max_size=5), st.text(max_size=5))
def test_verifying_any_json_as_a_presentation_gives_a_result(doc: Any, challenge: str, domain: str) -> None:
    result = verify_presentation(doc, _EmptyChain(), DidKeyResolver(), challenge=challenge, domain=domain)
    assert not result.verified


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(st.sampled_from(["_sd", "_sd_alg", "id", "x"]), json_values, max_size=4),
    json_values | st.lists(st.text(max_size=40), max_size=4),
)
def test_disclosures_are_refused_precisely(subject: dict[str, Any], disclosures: Any) -> None:
    try:
        reveal(subject, disclosures)
    except VcError as exc:
        assert exc.code


@given(st.text(max_size=200))
def test_status_lists_and_dates_and_multibase_refuse_precisely(text: str) -> None:
    for fn, errors in (
        (decode_list, VcError),
        (parse_time_ms, VcError),
        (multibase_decode, MultibaseError),
        (multikey_decode, MultibaseError),
    ):
        try:
            fn(text)
        except errors:
            pass


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
