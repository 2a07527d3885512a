"""Properties of the ABI codec: encodings round-trip in every view (Python, JSON, CLI), and malformed bytes or
ABI documents give an ``AbiError``, never another exception."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from trellis.app.modules.contracts import abi as abi_mod
from trellis.app.modules.contracts.abi import Abi, AbiError, AbiMethod, AbiParam, AbiType

TYPES: list[AbiType] = ["u32", "u64", "bool", "address", "bytes32", "bytes", "string"]

VALUE_OF: dict[str, st.SearchStrategy[Any]] = {
    "u32": st.one_of(st.integers(0, 2**32 - 1), st.sampled_from([0, 1, 255, 256, 2**31, 2**32 - 1])),
    "u64": st.one_of(st.integers(0, 2**64 - 1), st.sampled_from([0, 2**32, 2**63, 2**64 - 1])),
    "bool": st.booleans(),
    "address": st.binary(min_size=20, max_size=20),
    "bytes32": st.binary(min_size=32, max_size=32),
    "bytes": st.binary(max_size=300),
    "string": st.text(max_size=100),
}


@st.composite
def params_and_values(draw: st.DrawFn) -> tuple[list[AbiParam], list[Any]]:
    types = draw(st.lists(st.sampled_from(TYPES), max_size=8))
    params = [AbiParam(name=f"p{i}", type=t) for i, t in enumerate(types)]
    values = [draw(VALUE_OF[t]) for t in types]
    return params, values


def abi_of(params: list[AbiParam]) -> Abi:
    return Abi(abi=1, name="prop", methods=[AbiMethod(name="m", inputs=params, outputs=params)])


@given(params_and_values())
def test_decode_inverts_encode(pv: tuple[list[AbiParam], list[Any]]) -> None:
    params, values = pv
    data = abi_mod.encode_values(params, values)
    decoded = abi_mod.decode_values(params, data, raw=True)
    assert list(decoded.values()) == values


@given(params_and_values())
def test_json_values_round_trip(pv: tuple[list[AbiParam], list[Any]]) -> None:
    params, values = pv
    abi = abi_of(params)
    data = abi_mod.encode_args(abi, "m", values)
    as_json = json.loads(json.dumps(abi_mod.decode_outputs(abi, "m", data)))
    assert abi_mod.encode_json_args(abi, "m", as_json) == data


@given(params_and_values())
def test_cli_strings_round_trip(pv: tuple[list[AbiParam], list[Any]]) -> None:
    params, values = pv
    abi = abi_of(params)

    def cli(p: AbiParam, v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, bytes):
            return "0x" + v.hex()
        return str(v)

    args = [cli(p, v) for p, v in zip(params, values, strict=True)]
    assert abi_mod.encode_cli_args(abi, "m", args) == abi_mod.encode_args(abi, "m", values)


@given(params_and_values(), st.data())
def test_any_truncation_is_an_abi_error(pv: tuple[list[AbiParam], list[Any]], data: st.DataObject) -> None:
    params, values = pv
    encoded = abi_mod.encode_values(params, values)
    if not encoded:
        return
    cut = data.draw(st.integers(0, len(encoded) - 1))
    try:
        abi_mod.decode_values(params, encoded[:cut])
    except AbiError:
        return
    raise AssertionError("a truncated encoding decoded")


@given(params_and_values(), st.binary(min_size=1, max_size=40))
def test_trailing_bytes_are_an_abi_error(pv: tuple[list[AbiParam], list[Any]], extra: bytes) -> None:
    params, values = pv
    encoded = abi_mod.encode_values(params, values)
    try:
        abi_mod.decode_values(params, encoded + extra)
    except AbiError as exc:
        # A length prefix may swallow the extra bytes first; either way the error is precise.
        assert "trailing bytes" in str(exc) or "needs" in str(exc) or "UTF-8" in str(exc) or "0 or 1" in str(exc)
        return
    raise AssertionError("trailing bytes decoded")


@settings(max_examples=300)
@given(st.lists(st.sampled_from(TYPES), max_size=8), st.binary(max_size=200))
def test_arbitrary_bytes_decode_or_raise_abi_error(types: list[AbiType], data: bytes) -> None:
    params = [AbiParam(name=f"p{i}", type=t) for i, t in enumerate(types)]
    try:
        decoded = abi_mod.decode_values(params, data, raw=True)
    except AbiError:
        return
    assert abi_mod.encode_values(params, list(decoded.values())) == data


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@given(JSON)
def test_arbitrary_json_is_an_abi_or_an_abi_error(doc: object) -> None:
    try:
        abi_mod.parse_abi(json.dumps(doc))
    except AbiError:
        pass


@given(st.one_of(st.binary(max_size=200), st.text(max_size=200)))
def test_arbitrary_bytes_or_text_as_an_abi_file_raise_abi_error(data: bytes | str) -> None:
    try:
        abi_mod.parse_abi(data)
    except AbiError:
        pass


@given(st.sampled_from(TYPES), st.text(max_size=50))
def test_arbitrary_cli_text_parses_or_raises_abi_error(type_: AbiType, text: str) -> None:
    try:
        abi_mod.parse_cli_value(type_, text)
    except AbiError:
        pass


@given(st.sampled_from(TYPES), st.one_of(JSON, st.floats(allow_nan=True)))
def test_arbitrary_json_values_parse_or_raise_abi_error(type_: AbiType, value: object) -> None:
    try:
        parsed = abi_mod.from_json_value(type_, value)
    except AbiError:
        return
    try:
        abi_mod.encode_values([AbiParam(name="v", type=type_)], [parsed])
    except AbiError:
        pass  # e.g. an integer out of range: refused at encoding, still precisely
