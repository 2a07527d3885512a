"""Contract ABI: the JSON ABI file and the binary encoding of arguments, return data and event data.

The encoding (docs/spec/contracts.md, section 5) is the concatenation of the values in the order the ABI lists
them: ``u32``/``u64`` little-endian, ``bool`` one byte 0 or 1, ``address`` 20 bytes, ``bytes32`` 32 bytes,
``bytes`` and ``string`` a ``u32`` length then the bytes (UTF-8 for strings). Too few bytes, trailing bytes, a
``bool`` other than 0/1 and a string that is not UTF-8 are errors.

Three views of a value:

- *Python values* (``encode_args``, ``decode_*(..., raw=True)``): ``int`` for ``u32``/``u64``, ``bool``,
  ``bytes`` for ``address``/``bytes32``/``bytes``, ``str`` for ``string``.
- *JSON values* (``encode_json_args``, ``decode_*`` by default): the same, except binary values are ``0x`` hex
  strings, so decoded results can be printed or served as JSON as they are.
- *CLI strings* (``encode_cli_args``): decimal integers, ``true``/``false``, hex (``0x`` optional) for binary
  values, text as it is for strings.

Every failure — a malformed ABI file, a wrong or missing value, malformed bytes — is an ``AbiError`` whose
message names the method or event, the parameter and what was wrong; no other exception escapes.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal, TypeAlias

import msgspec

from trellis.core.ledger.block import Event

__all__ = [
    "Abi",
    "AbiError",
    "AbiEvent",
    "AbiMethod",
    "AbiParam",
    "AbiType",
    "AbiValue",
    "JsonValue",
    "decode_args",
    "decode_event",
    "decode_outputs",
    "decode_values",
    "encode_args",
    "encode_cli_args",
    "encode_event_data",
    "encode_json_args",
    "encode_outputs",
    "encode_values",
    "find_event",
    "find_method",
    "from_json_value",
    "load_abi",
    "method_inputs",
    "method_outputs",
    "parse_abi",
    "parse_cli_value",
    "to_json_value",
]

AbiType: TypeAlias = Literal["u32", "u64", "bool", "address", "bytes32", "bytes", "string"]
"""The value types of ABI version 1."""
AbiValue: TypeAlias = int | bool | bytes | str
"""A Python value of an ABI type."""
JsonValue: TypeAlias = int | bool | str
"""A JSON value of an ABI type (binary values as ``0x`` hex)."""

ABI_VERSION = 1
MAX_ABI_FILE_BYTES = 1024 * 1024
"""Largest ABI file ``load_abi`` reads."""
_U32_MAX = 2**32 - 1
_U64_MAX = 2**64 - 1
_FIXED_SIZE: dict[str, int] = {"u32": 4, "u64": 8, "bool": 1, "address": 20, "bytes32": 32}
_CONTRACT_EVENT_PREFIX = "contract."

_ParamName = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z_][A-Za-z0-9_]*\Z")]
_MethodName = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z][A-Za-z0-9_]*\Z")]
_EventName = Annotated[str, msgspec.Meta(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_]+\Z")]
_ContractName = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class AbiError(ValueError):
    """An ABI file, a value or an encoding that is not what the ABI says; the message says where and why."""


class AbiParam(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One named, typed value: a method input or output, or an event field."""

    name: _ParamName
    """The value's name (an identifier); unique within its list."""
    type: AbiType
    """Its ABI type."""


class AbiMethod(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """An exported method: an ``() -> ()`` function that reads ``inputs`` and returns ``outputs``."""

    name: _MethodName
    """The exported function's name (``init`` runs only at deployment)."""
    inputs: Annotated[list[AbiParam], msgspec.Meta(max_length=64)] = []
    """Its arguments, in encoding order."""
    outputs: Annotated[list[AbiParam], msgspec.Meta(max_length=64)] = []
    """Its return data, in encoding order."""
    readonly: bool = False
    """True when the method writes nothing and emits nothing (fit for a query)."""


class AbiEvent(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """An event a contract emits: topic ``name`` (event type ``contract.<name>``) with ``fields`` as its data."""

    name: _EventName
    """The topic: 1-32 ASCII letters, digits and ``_``."""
    fields: Annotated[list[AbiParam], msgspec.Meta(max_length=64)] = []
    """The event data's values, in encoding order."""


class Abi(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A contract's ABI file (``NAME.abi.json`` next to ``NAME.wasm``)."""

    abi: Literal[1]
    """The ABI format version."""
    name: _ContractName
    """The contract's name."""
    methods: Annotated[list[AbiMethod], msgspec.Meta(max_length=1024)] = []
    """Its methods."""
    events: Annotated[list[AbiEvent], msgspec.Meta(max_length=1024)] = []
    """The events it emits."""


# ---------------------------------------------------------------------------------------------------- the file


def parse_abi(data: bytes | str) -> Abi:
    """Parse and check an ABI document.

    Args:
        data: the JSON text.

    Returns:
        The ABI.

    Raises:
        AbiError: not JSON, a field missing, unknown or of the wrong type (the message gives its JSON path),
            or a duplicate method, event or parameter name.
    """
    if isinstance(data, str):
        try:
            data = data.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise AbiError(f"invalid ABI: not UTF-8 text ({exc.reason} at character {exc.start})") from None
    try:
        abi = msgspec.json.decode(data, type=Abi)
    except msgspec.ValidationError as exc:
        raise AbiError(f"invalid ABI: {exc}") from None
    except msgspec.DecodeError as exc:
        raise AbiError(f"invalid ABI: not JSON ({exc})") from None
    _unique("method", [m.name for m in abi.methods], "the ABI")
    _unique("event", [e.name for e in abi.events], "the ABI")
    for m in abi.methods:
        _unique("input", [p.name for p in m.inputs], f"method {m.name!r}")
        _unique("output", [p.name for p in m.outputs], f"method {m.name!r}")
    for e in abi.events:
        _unique("field", [p.name for p in e.fields], f"event {e.name!r}")
    return abi


def load_abi(path: str | Path) -> Abi:
    """Read and check the ABI file at ``path``.

    Raises:
        AbiError: the file cannot be read, is too large, or is not a valid ABI (see ``parse_abi``).
    """
    p = Path(path)
    try:
        with p.open("rb") as f:
            data = f.read(MAX_ABI_FILE_BYTES + 1)
    except OSError as exc:
        raise AbiError(f"cannot read ABI file {p}: {exc.strerror or exc}") from None
    if len(data) > MAX_ABI_FILE_BYTES:
        raise AbiError(f"ABI file {p} is larger than {MAX_ABI_FILE_BYTES} bytes")
    return parse_abi(data)


def _unique(kind: str, names: list[str], where: str) -> None:
    seen: set[str] = set()
    for n in names:
        if n in seen:
            raise AbiError(f"invalid ABI: {where} lists {kind} {n!r} twice")
        seen.add(n)


def find_method(abi: Abi, name: str) -> AbiMethod:
    """The method called ``name``.

    Raises:
        AbiError: the ABI has no such method (the message lists those it has).
    """
    for m in abi.methods:
        if m.name == name:
            return m
    known = ", ".join(m.name for m in abi.methods) or "none"
    raise AbiError(f"contract {abi.name!r} has no method {name!r} (methods: {known})")


def find_event(abi: Abi, name: str) -> AbiEvent:
    """The event with topic ``name``.

    Raises:
        AbiError: the ABI has no such event.
    """
    for e in abi.events:
        if e.name == name:
            return e
    known = ", ".join(e.name for e in abi.events) or "none"
    raise AbiError(f"contract {abi.name!r} has no event {name!r} (events: {known})")


def method_inputs(abi: Abi, method: str) -> list[AbiParam]:
    """The inputs of ``method`` (``AbiError`` if there is no such method)."""
    return find_method(abi, method).inputs


def method_outputs(abi: Abi, method: str) -> list[AbiParam]:
    """The outputs of ``method`` (``AbiError`` if there is no such method)."""
    return find_method(abi, method).outputs


# ------------------------------------------------------------------------------------------------ binary codec


def encode_values(params: Sequence[AbiParam], values: Sequence[Any] | Mapping[str, Any], what: str = "values") -> bytes:
    """Encode Python ``values`` as ``params`` say.

    Args:
        params: the types, in order.
        values: one value per parameter, in order, or a mapping from every parameter's name to its value.
        what: names the list in error messages (e.g. ``"method 'transfer' inputs"``).

    Raises:
        AbiError: a value missing, extra, of the wrong Python type or out of range.
    """
    ordered = _ordered(params, values, what)
    out = bytearray()
    for p, v in zip(params, ordered, strict=True):
        out += _encode_one(p, v, what)
    return bytes(out)


def decode_values(
    params: Sequence[AbiParam], data: bytes, what: str = "values", *, raw: bool = False
) -> dict[str, Any]:
    """Decode ``data`` as ``params`` say.

    Args:
        params: the types, in order.
        data: the encoding.
        what: names the list in error messages.
        raw: return Python values (``bytes`` for binary types) instead of JSON values (``0x`` hex strings).

    Returns:
        Parameter name -> value, in the ABI's order.

    Raises:
        AbiError: too few bytes for a value, trailing bytes, a bool not 0/1, a string not UTF-8.
    """
    view = bytes(data)
    pos = 0
    out: dict[str, Any] = {}
    for p in params:
        value, pos = _decode_one(p, view, pos, what)
        out[p.name] = value if raw else to_json_value(p.type, value)
    if pos != len(view):
        raise AbiError(f"{what}: {len(view) - pos} trailing bytes after the last value (at offset {pos})")
    return out


def encode_args(abi: Abi, method: str, values: Sequence[Any] | Mapping[str, Any]) -> bytes:
    """The argument bytes of a call of ``method`` with Python ``values`` (in order, or by name)."""
    m = find_method(abi, method)
    return encode_values(m.inputs, values, f"method {m.name!r} inputs")


def decode_args(abi: Abi, method: str, data: bytes, *, raw: bool = False) -> dict[str, Any]:
    """Decode the argument bytes of a call of ``method`` (JSON values unless ``raw``)."""
    m = find_method(abi, method)
    return decode_values(m.inputs, data, f"method {m.name!r} inputs", raw=raw)


def encode_outputs(abi: Abi, method: str, values: Sequence[Any] | Mapping[str, Any]) -> bytes:
    """The return data of ``method`` for Python ``values`` (what the contract returns)."""
    m = find_method(abi, method)
    return encode_values(m.outputs, values, f"method {m.name!r} outputs")


def decode_outputs(abi: Abi, method: str, data: bytes, *, raw: bool = False) -> dict[str, Any]:
    """Decode the return data of ``method``: output name -> JSON value (Python value if ``raw``)."""
    m = find_method(abi, method)
    return decode_values(m.outputs, data, f"method {m.name!r} outputs", raw=raw)


def encode_event_data(abi: Abi, event: str, values: Sequence[Any] | Mapping[str, Any]) -> bytes:
    """The data of event ``event`` for Python ``values`` (what the contract emits)."""
    e = find_event(abi, event)
    return encode_values(e.fields, values, f"event {e.name!r} fields")


def decode_event(abi: Abi, event: Event | str, data: bytes | None = None, *, raw: bool = False) -> dict[str, Any]:
    """Decode a contract event's data: field name -> JSON value (Python value if ``raw``).

    Args:
        abi: the emitting contract's ABI.
        event: a receipt's ``Event`` (type ``contract.<topic>``, data in its ``data`` attribute), or the topic
            itself (``"Transfer"`` or ``"contract.Transfer"``) with the data in ``data``.
        data: the event data when ``event`` is a topic; must be omitted for an ``Event``.
        raw: return Python values instead of JSON values.

    Raises:
        AbiError: not a contract event, no ``data`` attribute, an unknown topic, or data that does not decode.
    """
    if isinstance(event, Event):
        if data is not None:
            raise AbiError("decode_event: pass data only with a topic, not with an Event")
        if not event.type.startswith(_CONTRACT_EVENT_PREFIX):
            raise AbiError(f"event {event.type!r} is not a contract event (contract.<topic>)")
        topic = event.type.removeprefix(_CONTRACT_EVENT_PREFIX)
        found = [v for k, v in event.attributes if k == "data"]
        if len(found) != 1:
            raise AbiError(f"event {event.type!r} has {len(found)} 'data' attributes; a contract event has one")
        payload = found[0]
    else:
        if data is None:
            raise AbiError("decode_event: a topic needs its data")
        topic = event.removeprefix(_CONTRACT_EVENT_PREFIX)
        payload = data
    e = find_event(abi, topic)
    return decode_values(e.fields, payload, f"event {e.name!r} fields", raw=raw)


def _ordered(params: Sequence[AbiParam], values: Sequence[Any] | Mapping[str, Any], what: str) -> list[Any]:
    names = [p.name for p in params]
    if isinstance(values, Mapping):
        missing = [n for n in names if n not in values]
        extra = [str(k) for k in values if k not in names]
        if missing:
            raise AbiError(f"{what}: missing {', '.join(missing)}")
        if extra:
            raise AbiError(f"{what}: unknown {', '.join(extra)} (expected: {', '.join(names) or 'nothing'})")
        return [values[n] for n in names]
    if isinstance(values, str | bytes) or not isinstance(values, Sequence):
        raise AbiError(f"{what}: values must be a list or a mapping, not {type(values).__name__}")
    if len(values) != len(params):
        sig = ", ".join(f"{p.name}: {p.type}" for p in params) or "nothing"
        raise AbiError(f"{what}: expected {len(params)} values ({sig}), got {len(values)}")
    return list(values)


def _encode_one(p: AbiParam, v: Any, what: str) -> bytes:
    label = f"{what}: {p.name} ({p.type})"
    t = p.type
    if t in ("u32", "u64"):
        if isinstance(v, bool) or not isinstance(v, int):
            raise AbiError(f"{label} must be an int, not {type(v).__name__}")
        top = _U32_MAX if t == "u32" else _U64_MAX
        if not 0 <= v <= top:
            raise AbiError(f"{label} must be 0 to {top}, got {v}")
        return struct.pack("<I" if t == "u32" else "<Q", v)
    if t == "bool":
        if not isinstance(v, bool):
            raise AbiError(f"{label} must be a bool, not {type(v).__name__}")
        return b"\x01" if v else b"\x00"
    if t == "string":
        if not isinstance(v, str):
            raise AbiError(f"{label} must be a str, not {type(v).__name__}")
        try:
            b = v.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise AbiError(f"{label} cannot be encoded as UTF-8: {exc.reason}") from None
        return _with_length(b, label)
    if not isinstance(v, bytes | bytearray | memoryview):
        raise AbiError(f"{label} must be bytes, not {type(v).__name__}")
    b = bytes(v)
    if t == "bytes":
        return _with_length(b, label)
    size = _FIXED_SIZE[t]
    if len(b) != size:
        raise AbiError(f"{label} must be {size} bytes, got {len(b)}")
    return b


def _with_length(b: bytes, label: str) -> bytes:
    if len(b) > _U32_MAX:
        raise AbiError(f"{label} is longer than {_U32_MAX} bytes")
    return struct.pack("<I", len(b)) + b


def _take(data: bytes, pos: int, n: int, label: str) -> bytes:
    left = len(data) - pos
    if n > left:
        raise AbiError(f"{label} needs {n} bytes at offset {pos}, {left} left")
    return data[pos : pos + n]


def _decode_one(p: AbiParam, data: bytes, pos: int, what: str) -> tuple[AbiValue, int]:
    label = f"{what}: {p.name} ({p.type})"
    t = p.type
    if t in _FIXED_SIZE:
        size = _FIXED_SIZE[t]
        chunk = _take(data, pos, size, label)
        pos += size
        if t == "u32":
            return struct.unpack("<I", chunk)[0], pos
        if t == "u64":
            return struct.unpack("<Q", chunk)[0], pos
        if t == "bool":
            if chunk[0] > 1:
                raise AbiError(f"{label} must be 0 or 1, got {chunk[0]} at offset {pos - 1}")
            return chunk[0] == 1, pos
        return chunk, pos
    (length,) = struct.unpack("<I", _take(data, pos, 4, f"{label} length"))
    pos += 4
    body = _take(data, pos, length, label)
    pos += length
    if t == "bytes":
        return body, pos
    try:
        return body.decode("utf-8"), pos
    except UnicodeDecodeError as exc:
        raise AbiError(f"{label} is not valid UTF-8 ({exc.reason} at byte {exc.start})") from None


# ---------------------------------------------------------------------------------------- JSON and CLI values


def to_json_value(type_: AbiType, value: AbiValue) -> JsonValue:
    """A Python value as JSON: binary values become ``0x`` hex strings, others are unchanged."""
    if isinstance(value, bytes):
        return "0x" + value.hex()
    return value


def from_json_value(type_: AbiType, value: object, what: str = "value") -> AbiValue:
    """A JSON value as a Python value of ``type_``.

    Integers may be JSON numbers or decimal strings (for u64 beyond what JavaScript numbers hold exactly);
    binary values are hex strings (``0x`` optional).

    Raises:
        AbiError: the value has the wrong JSON type or does not parse.
    """
    label = f"{what} ({type_})"
    if type_ in ("u32", "u64"):
        if isinstance(value, str):
            return _parse_uint(type_, value, label)
        if isinstance(value, bool) or not isinstance(value, int):
            raise AbiError(f"{label} must be an integer, not {_json_type(value)}")
        return value
    if type_ == "bool":
        if not isinstance(value, bool):
            raise AbiError(f"{label} must be true or false, not {_json_type(value)}")
        return value
    if not isinstance(value, str):
        raise AbiError(f"{label} must be a string, not {_json_type(value)}")
    if type_ == "string":
        return value
    return _parse_hex(type_, value, label)


def encode_json_args(abi: Abi, method: str, values: Sequence[object] | Mapping[str, object]) -> bytes:
    """The argument bytes of a call of ``method`` with JSON ``values`` (a list in order, or an object by name).

    Raises:
        AbiError: no such method, a value missing, extra or not of its type.
    """
    m = find_method(abi, method)
    what = f"method {m.name!r} inputs"
    ordered = _ordered(m.inputs, values, what)
    parsed = [from_json_value(p.type, v, f"{what}: {p.name}") for p, v in zip(m.inputs, ordered, strict=True)]
    return encode_values(m.inputs, parsed, what)


def parse_cli_value(type_: AbiType, text: str, what: str = "value") -> AbiValue:
    """A command-line string as a Python value of ``type_``.

    ``u32``/``u64``: decimal digits. ``bool``: ``true``/``false`` (or ``1``/``0``, any case). ``address``,
    ``bytes32``, ``bytes``: hex, ``0x`` optional (``""`` or ``0x`` is empty ``bytes``). ``string``: as it is.

    Raises:
        AbiError: the text does not parse as ``type_``.
    """
    label = f"{what} ({type_})"
    if type_ in ("u32", "u64"):
        return _parse_uint(type_, text, label)
    if type_ == "bool":
        t = text.strip().lower()
        if t in ("true", "1"):
            return True
        if t in ("false", "0"):
            return False
        raise AbiError(f"{label} must be true or false, got {text!r}")
    if type_ == "string":
        return text
    return _parse_hex(type_, text, label)


def encode_cli_args(abi: Abi, method: str, args: Sequence[str]) -> bytes:
    """The argument bytes of a call of ``method`` from command-line strings, one per input in order.

    Raises:
        AbiError: no such method, the wrong number of arguments, or one that does not parse (see
            ``parse_cli_value``).
    """
    m = find_method(abi, method)
    what = f"method {m.name!r}"
    if len(args) != len(m.inputs):
        sig = " ".join(f"{p.name}:{p.type}" for p in m.inputs) or "no arguments"
        raise AbiError(f"{what} takes {len(m.inputs)} arguments ({sig}), got {len(args)}")
    values = [parse_cli_value(p.type, a, f"{what} argument {p.name}") for p, a in zip(m.inputs, args, strict=True)]
    return encode_values(m.inputs, values, f"{what} inputs")


_DECIMAL = re.compile(r"[0-9]{1,20}")
_HEX = re.compile(r"(?:[0-9a-fA-F]{2})*")


def _parse_uint(type_: AbiType, text: str, label: str) -> int:
    t = text.strip().replace("_", "")
    if not _DECIMAL.fullmatch(t):
        raise AbiError(f"{label} must be a decimal integer, got {text!r}")
    v = int(t)
    top = _U32_MAX if type_ == "u32" else _U64_MAX
    if v > top:
        raise AbiError(f"{label} must be 0 to {top}, got {v}")
    return v


def _parse_hex(type_: AbiType, text: str, label: str) -> bytes:
    t = text.strip()
    t = t[2:] if t[:2] in ("0x", "0X") else t
    if not _HEX.fullmatch(t):
        raise AbiError(f"{label} must be hex (an even number of 0-9a-f digits, 0x optional), got {text!r}")
    b = bytes.fromhex(t)
    size = _FIXED_SIZE.get(type_)
    if size is not None and len(b) != size:
        raise AbiError(f"{label} must be {size} bytes ({2 * size} hex digits), got {len(b)}")
    return b


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__
