"""The canonical encoding (trellis/core/codec.py): every value has exactly one accepted encoding.

An independent msgpack writer below (``_Packer``) follows docs/spec/encoding.md; it must reproduce the codec's
bytes exactly, and every *other* way of writing the same value (a wider int, str, bin or array header, a map
for a struct) must be refused by ``decode``.
"""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from trellis.core import codec
from trellis.core.crypto.merkle import MerkleProof
from trellis.core.errors import DecodeError
from trellis.core.ledger.block import (
    Block,
    Commit,
    CommitSig,
    Event,
    Header,
    Receipt,
    Validator,
    ValidatorSet,
)
from trellis.core.ledger.state_tree import ProofLeaf, ProofStep, StateProof
from trellis.core.ledger.tx import SignedTx, TxBody
from trellis.core.ledger.votes import Vote
from trellis.core.modules.accounts.messages import Mint, Transfer
from trellis.core.modules.accounts.state import Account
from trellis.core.modules.kv.messages import KvDelete, KvPut
from trellis.core.modules.kv.state import KvRecord

STRUCT_TYPES: list[type] = [
    SignedTx,
    TxBody,
    Transfer,
    Mint,
    KvPut,
    KvDelete,
    Header,
    Block,
    Receipt,
    Event,
    Validator,
    ValidatorSet,
    Vote,
    CommitSig,
    Commit,
    MerkleProof,
    ProofStep,
    ProofLeaf,
    StateProof,
    Account,
    KvRecord,
]
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _uint(v: int, marker: int, width: int) -> bytes:
    return bytes((marker,)) + v.to_bytes(width, "big")


def _int_forms(v: int) -> list[bytes]:
    """Every msgpack encoding of the non-negative int ``v``; the shortest (canonical) first."""
    assert v >= 0, "consensus structs hold no negative integers"
    forms = [bytes((v,))] if v <= 0x7F else []
    for marker, width in ((0xCC, 1), (0xCD, 2), (0xCE, 4), (0xCF, 8)):
        if v < 1 << (8 * width):
            forms.append(_uint(v, marker, width))
    for marker, width in ((0xD0, 1), (0xD1, 2), (0xD2, 4), (0xD3, 8)):
        if v < 1 << (8 * width - 1):
            forms.append(_uint(v, marker, width))
    return forms


def _length_heads(n: int, fix_base: int | None, fix_max: int, markers: tuple[int, int, int]) -> list[bytes]:
    """Every header for a length-``n`` str/bin/array; shortest first. ``markers`` are the 8/16/32-bit ones."""
    heads = [bytes((fix_base + n,))] if fix_base is not None and n <= fix_max else []
    for marker, width in zip(markers, (1, 2, 4), strict=True):
        if marker and n < 1 << (8 * width):
            heads.append(_uint(n, marker, width))
    return heads


class _Packer:
    """A msgpack writer for the generic form of a struct (lists, ints, str, bytes, None, bool).

    With ``target=None`` it writes the canonical form. Otherwise the ``target``-th value in pre-order is written
    in its ``variant``-th non-canonical form (if it has any; ``hit`` says whether it had).
    """

    def __init__(self, target: int | None = None, variant: int = 0) -> None:
        self.target = target
        self.variant = variant
        self.count = 0
        self.hit = False

    def pack(self, obj: Any) -> bytes:
        index = self.count
        self.count += 1
        if obj is None:
            forms = [b"\xc0"]
        elif isinstance(obj, bool):
            forms = [b"\xc3" if obj else b"\xc2"]
        elif isinstance(obj, int):
            forms = _int_forms(obj)
        elif isinstance(obj, str):
            data = obj.encode("utf-8")
            forms = [h + data for h in _length_heads(len(data), 0xA0, 31, (0xD9, 0xDA, 0xDB))]
        elif isinstance(obj, bytes):
            forms = [h + obj for h in _length_heads(len(obj), None, 0, (0xC4, 0xC5, 0xC6))]
        elif isinstance(obj, list | tuple):
            body = b"".join(self.pack(x) for x in obj)
            forms = [h + body for h in _length_heads(len(obj), 0x90, 15, (0, 0xDC, 0xDD))]
        else:
            raise TypeError(type(obj))
        if index == self.target and len(forms) > 1:
            self.hit = True
            return forms[1 + self.variant % (len(forms) - 1)]
        return forms[0]


def _generic(obj: Any) -> Any:
    """The plain msgpack value tree of a struct (what a schema-less msgpack library would see)."""
    return msgspec.msgpack.decode(codec.encode(obj))


def _refused(data: bytes, type_: type) -> bool:
    try:
        codec.decode(data, type_)
    except DecodeError:
        return True
    return False


@st.composite
def typed_values(draw: st.DrawFn) -> tuple[type, Any]:
    type_ = draw(st.sampled_from(STRUCT_TYPES))
    return type_, draw(st.from_type(type_))


@SETTINGS
@given(typed_values())
def test_decode_of_encode_is_the_same_value(typed: tuple[type, Any]) -> None:
    type_, value = typed
    assert codec.decode(codec.encode(value), type_) == value


@SETTINGS
@given(typed_values())
def test_independent_msgpack_writer_reproduces_the_canonical_bytes(typed: tuple[type, Any]) -> None:
    _, value = typed
    assert _Packer().pack(_generic(value)) == codec.encode(value)


@SETTINGS
@given(typed_values(), st.data())
def test_any_non_minimal_form_of_one_element_is_refused(typed: tuple[type, Any], data: st.DataObject) -> None:
    type_, value = typed
    tree = _generic(value)
    counter = _Packer()
    counter.pack(tree)
    target = data.draw(st.integers(min_value=0, max_value=counter.count - 1), label="element")
    packer = _Packer(target, data.draw(st.integers(min_value=0, max_value=7), label="variant"))
    encoded = packer.pack(tree)
    assume(packer.hit)  # nil has no other form
    assert encoded != codec.encode(value)
    assert _refused(encoded, type_)


def test_small_int_written_as_uint32_is_refused() -> None:
    account = Account(balance=5, nonce=0)
    canonical = codec.encode(account)
    assert canonical == b"\x92\x05\x00"
    wide = b"\x92\xce\x00\x00\x00\x05\x00"
    assert msgspec.msgpack.decode(wide, type=Account) == account  # msgspec alone would accept it
    assert _refused(wide, Account)


def test_short_str_written_as_str8_is_refused() -> None:
    event = Event(type="c", attributes=[])
    assert codec.encode(event) == b"\x92\xa1c\x90"
    assert _refused(b"\x92\xd9\x01c\x90", Event)


def test_empty_list_written_as_array16_is_refused() -> None:
    assert _refused(b"\x92\xa1c\xdc\x00\x00", Event)


@SETTINGS
@given(typed_values())
def test_struct_written_as_a_map_of_field_names_is_refused(typed: tuple[type, Any]) -> None:
    type_, value = typed
    as_map = {f: msgspec.to_builtins(getattr(value, f)) for f in type_.__struct_fields__}
    assert _refused(msgspec.msgpack.encode(as_map), type_)


@SETTINGS
@given(typed_values(), st.binary(min_size=1, max_size=8))
def test_trailing_bytes_are_refused(typed: tuple[type, Any], extra: bytes) -> None:
    type_, value = typed
    assert _refused(codec.encode(value) + extra, type_)


@SETTINGS
@given(typed_values(), st.data())
def test_truncated_encoding_is_refused(typed: tuple[type, Any], data: st.DataObject) -> None:
    type_, value = typed
    encoded = codec.encode(value)
    cut = data.draw(st.integers(min_value=0, max_value=len(encoded) - 1))
    assert _refused(encoded[:cut], type_)


@SETTINGS
@given(typed_values(), st.integers(min_value=1, max_value=3))
def test_struct_with_an_extra_trailing_field_is_refused(typed: tuple[type, Any], n: int) -> None:
    type_, value = typed
    assert _refused(msgspec.msgpack.encode([*_generic(value), *([0] * n)]), type_)


@SETTINGS
@given(typed_values())
def test_struct_missing_its_last_field_is_refused(typed: tuple[type, Any]) -> None:
    type_, value = typed
    assert _refused(msgspec.msgpack.encode(_generic(value)[:-1]), type_)


def test_decode_refuses_input_over_max_size_before_decoding() -> None:
    encoded = codec.encode(Account(balance=1, nonce=2))
    assert codec.decode(encoded, Account, max_size=len(encoded)) == Account(balance=1, nonce=2)
    with pytest.raises(DecodeError):
        codec.decode(encoded, Account, max_size=len(encoded) - 1)


# --- Bounds: canonical msgpack of an out-of-range value is refused. ----------------------------------------

HEADER = Header(
    chain_id="bounds",
    height=1,
    time_ms=2,
    parent_hash=b"\x01" * 32,
    tx_root=b"\x02" * 32,
    results_root=b"\x03" * 32,
    state_root=b"\x04" * 32,
    tx_count=0,
    proposer=b"\x05" * 20,
    validators_hash=b"\x06" * 32,
    next_validators_hash=b"\x07" * 32,
)
HEADER_FIELDS = list(Header.__struct_fields__)


def _header_with(field: str, value: Any) -> bytes:
    tree = _generic(HEADER)
    tree[HEADER_FIELDS.index(field)] = value
    return msgspec.msgpack.encode(tree)


def test_header_fixture_is_valid() -> None:
    assert codec.decode(_header_with("height", 1), Header) == HEADER


@SETTINGS
@given(
    st.sampled_from(
        ["parent_hash", "tx_root", "results_root", "state_root", "validators_hash", "next_validators_hash"]
    ),
    st.binary(max_size=64).filter(lambda b: len(b) != 32),
)
def test_hash_of_the_wrong_length_is_refused(field: str, value: bytes) -> None:
    assert _refused(_header_with(field, value), Header)


@SETTINGS
@given(st.binary(max_size=40).filter(lambda b: len(b) != 20))
def test_address_of_the_wrong_length_is_refused(value: bytes) -> None:
    assert _refused(_header_with("proposer", value), Header)


@SETTINGS
@given(st.sampled_from(["height", "time_ms", "tx_count"]), st.integers(min_value=-(2**63), max_value=-1))
def test_negative_integer_is_refused(field: str, value: int) -> None:
    assert _refused(_header_with(field, value), Header)


@SETTINGS
@given(st.integers(min_value=2**32, max_value=2**64 - 1))
def test_u32_field_over_its_range_is_refused(value: int) -> None:
    assert _refused(_header_with("tx_count", value), Header)


@pytest.mark.parametrize("chain_id", ["", "Upper", "-leading-dash", "has space", "trailing-newline\n", "x" * 65])
def test_chain_id_outside_its_alphabet_or_length_is_refused(chain_id: str) -> None:
    assert _refused(_header_with("chain_id", chain_id), Header)


@pytest.mark.parametrize("field", HEADER_FIELDS)
def test_header_field_of_the_wrong_type_is_refused(field: str) -> None:
    wrong = 1.5 if field in ("height", "time_ms", "tx_count") else 7
    assert _refused(_header_with(field, wrong), Header)


def test_merkle_proof_with_more_than_64_siblings_is_refused() -> None:
    assert _refused(msgspec.msgpack.encode([0, 1, [b"\x00" * 32] * 65]), MerkleProof)


def test_proof_step_with_more_than_15_siblings_is_refused() -> None:
    assert _refused(msgspec.msgpack.encode([0xFFFF, [b"\x00" * 32] * 16]), ProofStep)


def test_state_proof_with_more_than_64_steps_is_refused() -> None:
    assert _refused(msgspec.msgpack.encode([1, [[1, []]] * 65, None]), StateProof)


def test_proof_step_bitmap_over_16_bits_is_refused() -> None:
    assert _refused(msgspec.msgpack.encode([0x10000, []]), ProofStep)


def test_event_with_more_than_16_attributes_is_refused() -> None:
    assert _refused(msgspec.msgpack.encode(["e", [["k", b"v"]] * 17]), Event)


def test_receipt_with_more_than_64_events_is_refused() -> None:
    assert _refused(msgspec.msgpack.encode([b"\x00" * 32, 0, "", [["e", []]] * 65]), Receipt)


def test_receipt_message_over_512_characters_is_refused() -> None:
    assert _refused(msgspec.msgpack.encode([b"\x00" * 32, 1, "m" * 513, []]), Receipt)


def test_empty_validator_set_is_refused() -> None:
    assert _refused(msgspec.msgpack.encode([[]]), ValidatorSet)


def test_validator_set_over_1000_members_is_refused() -> None:
    assert _refused(msgspec.msgpack.encode([[[b"\x01" * 32, 1, "v"]] * 1001]), ValidatorSet)


def test_public_key_shorter_than_32_bytes_is_refused() -> None:
    assert _refused(msgspec.msgpack.encode([b"\x01" * 31, 1, "v"]), Validator)


def test_public_key_longer_than_65_bytes_is_refused() -> None:
    assert _refused(msgspec.msgpack.encode([b"\x01" * 66, 1, "v"]), Validator)


def test_signature_not_64_bytes_is_refused() -> None:
    assert _refused(msgspec.msgpack.encode([b"\x01" * 20, b"\x02" * 63]), CommitSig)


def _tx_tree(payload: list[Any], memo: str = "") -> bytes:
    return msgspec.msgpack.encode([["c", b"\x01" * 32, 0, payload, memo], b"\x02" * 64])


def test_transaction_fixture_is_valid() -> None:
    assert codec.decode(_tx_tree(["kv.put", "ns", b"k", b"v"]), SignedTx).body.payload == KvPut(
        namespace="ns", key=b"k", value=b"v"
    )


@pytest.mark.parametrize("namespace", ["", "a/b", "nul\x00", "trailing\n", "é", "n" * 65])
def test_kv_namespace_outside_its_alphabet_or_length_is_refused(namespace: str) -> None:
    assert _refused(_tx_tree(["kv.put", namespace, b"k", b"v"]), SignedTx)


def test_kv_key_empty_is_refused() -> None:
    assert _refused(_tx_tree(["kv.delete", "ns", b""]), SignedTx)


def test_kv_key_over_256_bytes_is_refused() -> None:
    assert _refused(_tx_tree(["kv.delete", "ns", b"k" * 257]), SignedTx)


def test_kv_value_over_32_kib_is_refused() -> None:
    assert _refused(_tx_tree(["kv.put", "ns", b"k", b"v" * (32 * 1024 + 1)]), SignedTx)


def test_memo_over_256_characters_is_refused() -> None:
    assert _refused(_tx_tree(["accounts.transfer", b"\x03" * 20, 1], memo="m" * 257), SignedTx)


def test_payload_with_an_unknown_tag_is_refused() -> None:
    assert _refused(_tx_tree(["accounts.burn", b"\x03" * 20, 1]), SignedTx)


def test_payload_without_its_tag_is_refused() -> None:
    assert _refused(_tx_tree([b"\x03" * 20, 1]), SignedTx)


def test_payload_tag_is_the_first_array_element() -> None:
    tx = codec.decode(_tx_tree(["accounts.mint", b"\x03" * 20, 9]), SignedTx)
    assert tx.body.payload == Mint(to=b"\x03" * 20, amount=9)
    assert _generic(Transfer(to=b"\x03" * 20, amount=9)) == ["accounts.transfer", b"\x03" * 20, 9]


@SETTINGS
@given(st.lists(st.from_type(Receipt), max_size=20), st.integers(0, 70_000))
def test_an_array_joined_from_encoded_items_is_the_encoding_of_the_list(receipts: list[Any], repeat: int) -> None:
    encoded = [codec.encode(r) for r in receipts]
    assert codec.encode_array(encoded) == codec.encode(receipts)
    # Array sizes across the header-width boundaries (fixarray, array16, array32).
    ints = [0] * (repeat if repeat in (15, 16, 65_535, 65_536) else repeat % 20)
    assert codec.encode_array([codec.encode(i) for i in ints]) == codec.encode(ints)


@pytest.mark.parametrize("n", [0, 15, 16, 65_535, 65_536])
def test_encode_array_uses_the_shortest_header_at_each_boundary(n: int) -> None:
    assert codec.encode_array([b"\x00"] * n) == codec.encode([0] * n)
