"""Flip any one byte of a notary receipt (JSON or binary) and the verifier refuses it, naming a check."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.notary_fixture import FILES, anchored_chain
from trellis.app.modules.notary import receipt_for
from trellis.core.crypto.suite import ED25519
from trellis.notary.receipt import ReceiptError, decode_receipt, receipt_to_binary, receipt_to_json, verify_receipt

CHECKS = {
    "malformed",
    "unsupported_version",
    "unsupported_digest_algorithm",
    "wrong_chain",
    "validator_set",
    "file_digest",
    "merkle_path",
    "tx_inclusion",
    "tx_result",
    "commit_certificate",
}
_CHAIN = anchored_chain()
_RECEIPT = receipt_for(_CHAIN, _CHAIN.params, ED25519.hash(FILES[1]))
assert _RECEIPT is not None
_FORMS = {"json": receipt_to_json(_RECEIPT), "binary": receipt_to_binary(_RECEIPT)}


def _flipped_fails(data: bytes, pos: int, mask: int) -> str:
    tampered = bytearray(data)
    tampered[pos % len(data)] ^= mask
    try:
        verify_receipt(decode_receipt(bytes(tampered)), _CHAIN.params, ED25519.hash(FILES[1]))
    except ReceiptError as exc:
        return exc.check
    raise AssertionError(f"a receipt with byte {pos % len(data)} flipped by {mask:#x} verified")


@settings(max_examples=300, deadline=None)
@given(pos=st.integers(min_value=0, max_value=10**6), mask=st.integers(min_value=1, max_value=255))
def test_flipping_one_byte_of_the_json_receipt_names_the_failed_check(pos: int, mask: int) -> None:
    assert _flipped_fails(_FORMS["json"], pos, mask) in CHECKS


@settings(max_examples=300, deadline=None)
@given(pos=st.integers(min_value=0, max_value=10**6), mask=st.integers(min_value=1, max_value=255))
def test_flipping_one_byte_of_the_binary_receipt_names_the_failed_check(pos: int, mask: int) -> None:
    assert _flipped_fails(_FORMS["binary"], pos, mask) in CHECKS
