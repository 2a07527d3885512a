"""Hostile bytes never crash the decoders: they raise only the core's typed errors.

``decode_tx`` may raise only ``InvalidTransaction``; ``codec.decode`` only ``DecodeError``. Inputs are random
bytes and, more usefully, valid encodings with a few random edits (which reach deep into the structure).
Whatever decodes must be canonical: re-encoding gives back the input.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trellis.core import codec
from trellis.core.crypto.merkle import MerkleProof
from trellis.core.errors import DecodeError, InvalidTransaction
from trellis.core.ledger.block import Block, Commit, Header, Receipt, ValidatorSet
from trellis.core.ledger.state_tree import StateProof
from trellis.core.ledger.tx import SignedTx, decode_tx

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CODEC_TYPES: list[type] = [Block, Header, Commit, StateProof, MerkleProof, Receipt, ValidatorSet, SignedTx]


@st.composite
def edited(draw: st.DrawFn, base: bytes) -> bytes:
    """``base`` with 1-4 random edits: flip, overwrite with an interesting byte, insert, delete or truncate."""
    data = bytearray(base)
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        op = draw(st.sampled_from(["flip", "set", "insert", "delete", "truncate"]))
        pos = draw(st.integers(min_value=0, max_value=max(len(data) - 1, 0)))
        if op == "insert" or not data:
            data.insert(pos, draw(st.integers(min_value=0, max_value=255)))
        elif op == "flip":
            data[pos] ^= 1 << draw(st.integers(min_value=0, max_value=7))
        elif op == "set":
            # msgpack markers and length bytes that change the structure.
            data[pos] = draw(
                st.sampled_from([0x00, 0x7F, 0x80, 0x90, 0x9F, 0xA0, 0xC0, 0xC1, 0xC4, 0xCF, 0xDC, 0xDD, 0xFF])
            )
        elif op == "delete":
            del data[pos]
        else:
            del data[pos:]
    return bytes(data)


@st.composite
def hostile_bytes(draw: st.DrawFn, type_: type) -> bytes:
    if draw(st.booleans()):
        return draw(st.binary(max_size=600))
    return draw(edited(codec.encode(draw(st.from_type(type_)))))


def _decode_or_refuse(data: bytes, type_: type) -> Any:
    try:
        value = codec.decode(data, type_)
    except DecodeError:
        return None
    assert codec.encode(value) == data
    return value


@FUZZ
@given(hostile_bytes(SignedTx))
def test_decode_tx_raises_only_invalid_transaction(data: bytes) -> None:
    try:
        tx = decode_tx(data)
    except InvalidTransaction as exc:
        assert exc.code in {"malformed", "unknown_module", "too_large"}
    else:
        assert codec.encode(tx) == data


@FUZZ
@given(st.data())
def test_codec_decode_raises_only_decode_error(data: st.DataObject) -> None:
    type_ = data.draw(st.sampled_from(CODEC_TYPES), label="type")
    _decode_or_refuse(data.draw(hostile_bytes(type_), label="bytes"), type_)


@FUZZ
@given(st.data())
def test_bytes_of_one_type_decoded_as_another_raise_only_decode_error(data: st.DataObject) -> None:
    source = data.draw(st.sampled_from(CODEC_TYPES), label="encoded type")
    target = data.draw(st.sampled_from(CODEC_TYPES), label="decoded as")
    _decode_or_refuse(codec.encode(data.draw(st.from_type(source))), target)


@settings(max_examples=50, deadline=None)
@given(st.integers(min_value=1, max_value=5000))
def test_deeply_nested_arrays_raise_only_decode_error(depth: int) -> None:
    data = b"\x91" * depth + b"\x90"
    for type_ in CODEC_TYPES:
        _decode_or_refuse(data, type_)
    try:
        decode_tx(data)
    except InvalidTransaction:
        pass


def test_decode_tx_refuses_input_over_the_size_limit_as_too_large() -> None:
    try:
        decode_tx(b"\x00" * 101, max_size=100)
    except InvalidTransaction as exc:
        assert exc.code == "too_large"
    else:
        raise AssertionError("oversized input was accepted")
