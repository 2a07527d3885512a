"""SM2 verification is total: arbitrary bytes as key, message or signature give a bool, never an exception;
and every signature we make verifies, for any message."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from trellis.core.crypto.sm import Sm2PrivateKey, sm2_verify
from trellis.core.crypto.suite import SM

STD_PUB = bytes.fromhex(
    "04"
    "09F9DF311E5421A150DD7D161E4BC5C672179FAD1833FC076BB08FF356F35020"
    "CCEA490CE26775A52DC6EA718CC1AA600AED05FBF35E084A6632F6072DA9AD13"
)
KEY = Sm2PrivateKey(bytes.fromhex("3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8"))


@settings(max_examples=300)
@given(public=st.binary(max_size=80), message=st.binary(max_size=64), signature=st.binary(max_size=80))
def test_verify_of_arbitrary_bytes_returns_a_bool(public: bytes, message: bytes, signature: bytes) -> None:
    assert sm2_verify(public, message, signature) in (True, False)
    assert SM.verify(public, message, signature) in (True, False)


@settings(max_examples=300)
@given(point=st.binary(min_size=64, max_size=64), signature=st.binary(min_size=64, max_size=64))
def test_arbitrary_65_byte_uncompressed_keys_and_64_byte_signatures_do_not_verify(
    point: bytes, signature: bytes
) -> None:
    assert sm2_verify(b"\x04" + point, b"m", signature) is False


@settings(max_examples=200)
@given(signature=st.binary(min_size=64, max_size=64), message=st.binary(max_size=64))
def test_arbitrary_signatures_under_a_real_key_do_not_verify(signature: bytes, message: bytes) -> None:
    assert sm2_verify(STD_PUB, message, signature) is False


@settings(max_examples=50)
@given(message=st.binary(max_size=512))
def test_every_signature_made_verifies_and_only_for_its_message(message: bytes) -> None:
    sig = KEY.sign(message)
    assert sm2_verify(KEY.public_key, message, sig)
    assert not sm2_verify(KEY.public_key, message + b"\x00", sig)
