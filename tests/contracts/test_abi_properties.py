"""Properties of the ABI codec: encodings round-trip in every view (Python, JSON, CLI), and malformed bytes or
ABI documents give an ``AbiError``, never another exception. Every fuzz test also checks the answer: what
parses has the value the input denotes (checked against an independent reading of the input), and an error
names the parameter, offset, type or text that is wrong."""

from __future__ import annotations

import json
import re
from typing import Any

import msgspec
import pytest
from hypothesis import assume, example, given, settings
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
    except AbiError as exc:
        # The error names the first value the cut reaches into, and where that value's missing bytes start.
        p, start, length_end = _value_cut_by(params, values, cut)
        assert f"values: {p.name} ({p.type})" in str(exc)
        needs = re.search(r"needs (\d+) bytes at offset (\d+), (\d+) left", str(exc))
        assert needs is not None, str(exc)
        n, offset, left = (int(g) for g in needs.groups())
        assert offset in (start, length_end) and left == cut - offset and n > left
        return
    raise AssertionError("a truncated encoding decoded")


def _value_cut_by(params: list[AbiParam], values: list[Any], cut: int) -> tuple[AbiParam, int, int]:
    """The first parameter whose encoding ends after ``cut``, its start, and where its body starts (after a
    4-byte length prefix for ``bytes``/``string``; its start for fixed-size types)."""
    pos = 0
    for p, v in zip(params, values, strict=True):
        one = abi_mod.encode_values([p], [v])
        body = pos + (4 if p.type in ("bytes", "string") else 0)
        if pos + len(one) > cut:
            return p, pos, body
        pos += len(one)
    raise AssertionError("the cut is past the end")


@given(params_and_values(), st.binary(min_size=1, max_size=40))
def test_trailing_bytes_are_an_abi_error(pv: tuple[list[AbiParam], list[Any]], extra: bytes) -> None:
    params, values = pv
    encoded = abi_mod.encode_values(params, values)
    try:
        abi_mod.decode_values(params, encoded + extra)
    except AbiError as exc:
        # Every value decodes as before (each length prefix is where it was), then the extra bytes are found.
        assert str(exc) == f"values: {len(extra)} trailing bytes after the last value (at offset {len(encoded)})"
        return
    raise AssertionError("trailing bytes decoded")


@settings(max_examples=300)
@given(st.lists(st.sampled_from(TYPES), max_size=8), st.binary(max_size=200))
def test_arbitrary_bytes_decode_or_raise_abi_error(types: list[AbiType], data: bytes) -> None:
    params = [AbiParam(name=f"p{i}", type=t) for i, t in enumerate(types)]
    try:
        decoded = abi_mod.decode_values(params, data, raw=True)
    except AbiError as exc:
        # The error names a parameter and its type, or the trailing bytes after the last one.
        assert re.match(r"values: (p\d+ \((u32|u64|bool|address|bytes32|bytes|string)\)|\d+ trailing bytes)", str(exc))
        return
    assert abi_mod.encode_values(params, list(decoded.values())) == data
    assert list(decoded) == [p.name for p in params]


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@given(JSON)
def test_arbitrary_json_is_an_abi_or_an_abi_error(doc: object) -> None:
    try:
        abi = abi_mod.parse_abi(json.dumps(doc))
    except AbiError as exc:
        assert str(exc).startswith("invalid ABI: ")
        if not isinstance(doc, dict):
            assert "Expected `object`" in str(exc) and "got `" in str(exc)
        return
    # What parsed is what the document says: converting the same JSON value independently gives the same ABI.
    assert abi == msgspec.convert(doc, Abi)


ABI_NAMES = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True)


@st.composite
def abis(draw: st.DrawFn) -> Abi:
    def params() -> list[AbiParam]:
        names = draw(st.lists(ABI_NAMES, max_size=4, unique=True))
        return [AbiParam(name=n, type=draw(st.sampled_from(TYPES))) for n in names]

    names = draw(st.lists(ABI_NAMES, min_size=1, max_size=4, unique=True))
    methods = [AbiMethod(name=n, inputs=params(), outputs=params()) for n in names]
    return Abi(abi=1, name=draw(ABI_NAMES), methods=methods)


@given(abis())
def test_a_generated_abi_round_trips_through_its_json(abi: Abi) -> None:
    assert abi_mod.parse_abi(msgspec.json.encode(abi)) == abi


@given(abis(), st.data())
def test_a_method_listed_twice_is_refused_by_name(abi: Abi, data: st.DataObject) -> None:
    twice = data.draw(st.sampled_from(abi.methods))
    doc = msgspec.structs.replace(abi, methods=[*abi.methods, twice])
    with pytest.raises(AbiError) as err:
        abi_mod.parse_abi(msgspec.json.encode(doc))
    assert str(err.value) == f"invalid ABI: the ABI lists method {twice.name!r} twice"


FIRST_TOKEN = {"[": ("array",), '"': ("str",), "t": ("bool",), "f": ("bool",), "n": ("null",)}
FIRST_TOKEN.update({c: ("int", "float") for c in "-0123456789"})
"""The JSON type a document's first character starts, as msgspec names it."""


@given(st.one_of(st.binary(max_size=200), st.text(max_size=200)))
def test_arbitrary_bytes_or_text_as_an_abi_file_raise_abi_error(data: bytes | str) -> None:
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    start = raw.decode("utf-8", "replace").lstrip(" \t\n\r")[:1]
    assume(start != "{")  # an object could be an ABI; arbitrary input almost never is one
    with pytest.raises(AbiError) as err:
        abi_mod.parse_abi(data)
    text = str(err.value)
    if text.startswith(("invalid ABI: not JSON", "invalid ABI: not UTF-8")):
        return
    # Otherwise the input starts a JSON value of another type than an object, and that type is named.
    got = re.fullmatch(r"invalid ABI: Expected `object`, got `(\w+)`", text)
    assert got is not None, text
    assert got.group(1) in FIRST_TOKEN.get(start, ()), (start, text)


UINT_TOP = {"u32": 2**32 - 1, "u64": 2**64 - 1}
HEX_SIZE = {"address": 20, "bytes32": 32, "bytes": None}


def _cli_reading(type_: AbiType, text: str) -> tuple[str, Any]:
    """What ``text`` denotes as a command-line value of ``type_``, read independently of the codec:
    ``("ok", value)`` or ``("error", words the error must contain)``."""
    t = text.strip()
    if type_ in UINT_TOP:
        digits = t.replace("_", "")
        if not digits or not all("0" <= c <= "9" for c in digits) or len(digits) > 20:
            return "error", f"must be a decimal integer, got {text!r}"
        v = int(digits)
        return ("ok", v) if v <= UINT_TOP[type_] else ("error", f"must be 0 to {UINT_TOP[type_]}, got {v}")
    if type_ == "bool":
        word = t.lower()
        if word in ("true", "1", "false", "0"):
            return "ok", word in ("true", "1")
        return "error", f"must be true or false, got {text!r}"
    if type_ == "string":
        return "ok", text
    h = t[2:] if t[:2].lower() == "0x" else t
    if len(h) % 2 or not all(c in "0123456789abcdefABCDEF" for c in h):
        return "error", f"must be hex (an even number of 0-9a-f digits, 0x optional), got {text!r}"
    b = bytes.fromhex(h)
    size = HEX_SIZE[type_]
    if size is not None and len(b) != size:
        return "error", f"must be {size} bytes ({2 * size} hex digits), got {len(b)}"
    return "ok", b


CLI_TEXT = st.one_of(
    st.text(max_size=50),
    st.text(alphabet="0123456789_ ", max_size=25),
    st.text(alphabet="0123456789abcdefABCDEFxX ", max_size=70),
    st.sampled_from(["true", "FALSE", " 1 ", "0", "yes", "0x", "", "18446744073709551616", "4294967296"]),
)


@given(st.sampled_from(TYPES), CLI_TEXT)
@example("bool", " 1 ")
@example("bool", "0")
@example("bool", "TRUE")
@example("bool", "yes")
@example("u32", "4_294_967_295")
@example("u32", "4294967296")
@example("u64", "18446744073709551616")
@example("address", "0X" + "Ab" * 20)
@example("bytes32", "ab" * 31)
@example("bytes", "0x")
@example("string", "  spaced  ")
def test_arbitrary_cli_text_parses_or_raises_abi_error(type_: AbiType, text: str) -> None:
    kind, expected = _cli_reading(type_, text)
    try:
        value = abi_mod.parse_cli_value(type_, text, "arg x")
    except AbiError as exc:
        assert kind == "error", f"{text!r} was refused as {type_}: {exc}"
        assert str(exc) == f"arg x ({type_}) {expected}"
        return
    assert kind == "ok", f"{text!r} parsed as {type_} to {value!r}; expected an error: {expected}"
    assert value == expected and type(value) is type(expected)


def _json_kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an array" if isinstance(value, list) else "an object"


@given(st.sampled_from(TYPES), st.one_of(JSON, st.floats(allow_nan=True), CLI_TEXT))
def test_arbitrary_json_values_parse_or_raise_abi_error(type_: AbiType, value: object) -> None:
    # Strings go through the command-line reading (integers as decimal strings, binary as hex); a JSON value
    # of another type is taken only where it is the type's own JSON form.
    if isinstance(value, str) and type_ != "bool":
        kind, expected = _cli_reading(type_, value)
    elif type_ in UINT_TOP and type(value) is int:
        kind, expected = "ok", value
    elif type_ == "bool" and isinstance(value, bool):
        kind, expected = "ok", value
    else:
        wanted = {"u32": "an integer", "u64": "an integer", "bool": "true or false"}.get(type_, "a string")
        kind, expected = "error", f"must be {wanted}, not {_json_kind(value)}"
    try:
        parsed = abi_mod.from_json_value(type_, value, "arg x")
    except AbiError as exc:
        assert kind == "error", f"{value!r} was refused as {type_}: {exc}"
        assert str(exc) == f"arg x ({type_}) {expected}"
        return
    assert kind == "ok", f"{value!r} parsed as {type_} to {parsed!r}; expected an error: {expected}"
    assert parsed == expected and type(parsed) is type(expected)
    param = [AbiParam(name="v", type=type_)]
    if type_ in UINT_TOP and not 0 <= parsed <= UINT_TOP[type_]:  # a JSON number out of range: refused at encoding
        with pytest.raises(AbiError, match=f"must be 0 to {UINT_TOP[type_]}, got {parsed}"):
            abi_mod.encode_values(param, [parsed])
        return
    assert abi_mod.decode_values(param, abi_mod.encode_values(param, [parsed]), raw=True) == {"v": parsed}
