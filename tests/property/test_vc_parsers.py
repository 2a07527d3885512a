"""Hostile input to the credential parsers: whatever arrives, the answer is a result or a precise ``VcError``,
never a crash; JCS output is JSON that parses back to the same value and is a fixed point."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from trellis.vc.errors import VcError
from trellis.vc.jcs import canonicalize
from trellis.vc.multibase import MultibaseError, multibase_decode, multikey_decode
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
