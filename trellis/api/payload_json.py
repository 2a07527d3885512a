"""The API's JSON form of every payload, generated from the modules' message structs (ADR 0013 section 3).

For each message type ``T`` of every module (``trellis.core.modules.registry.MODULES``) a JSON struct
``<T>Json`` is built once, at import: tagged ``{"type": T's tag, ...}``, keyword-only, refusing unknown fields,
with ``T``'s fields in ``T``'s order and defaults. A field's JSON type follows from its core type:

  bytes (``Address``, ``Hash32``, any ``Annotated[bytes, ...]``)   ``Hex`` (``0x`` hex)
  a core struct or a union of them (``DidDocument``, ``Evidence``)  ``Hex`` of its canonical encoding
  ``Annotated[str | int, Meta]``                                 bare ``str`` / ``int``
  ``list[X]``, ``X | None``                                        ``list[JSON of X]``, ``JSON of X | None``

Bounds are not part of the JSON types: ``tx_from_json`` enforces them by the canonical round trip of the whole
transaction, so a bad value is refused with the core's own message. A hex field that is not hex is refused as
``payload.<field>: not a hex string``.
"""

from __future__ import annotations

import functools
import operator
import types
import typing
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeAlias

import msgspec

from trellis.api.hexjson import _J, Hex, hx, unhex
from trellis.core.codec import decode, encode
from trellis.core.modules.payload import Payload
from trellis.core.modules.registry import MODULES
from trellis.core.types import CoreStruct

__all__ = ["JSON_TYPES", "PayloadJson", "from_json", "json_type_for", "to_json"]

_ToJson = Callable[[Any], Any]
_FromJson = Callable[[Any, str], Any]
"""Converts one field's JSON value back; the second argument is the field's name (for error texts)."""


def _same(v: Any, _name: str = "") -> Any:
    return v


def _is_core_struct(tp: Any) -> bool:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return all(_is_core_struct(a) for a in typing.get_args(tp))
    return isinstance(tp, type) and issubclass(tp, CoreStruct)


def _field_mapping(tp: Any) -> tuple[Any, _ToJson, _FromJson]:
    """The JSON type of a core field type, and the conversions of a value to it and back."""
    while typing.get_origin(tp) is typing.Annotated:
        tp = typing.get_args(tp)[0]
    origin = typing.get_origin(tp)
    if tp is bytes:
        return Hex, hx, lambda v, name: unhex(v, f"payload.{name}")
    if tp in (str, int, bool):
        return tp, _same, _same
    if _is_core_struct(tp):
        core = tp
        return Hex, lambda v: hx(encode(v)), lambda v, name: decode(unhex(v, f"payload.{name}"), core)
    if origin is list:
        (item,) = typing.get_args(tp)
        item_type, item_to, item_from = _field_mapping(item)
        return (
            list[item_type],  # type: ignore[valid-type]
            lambda v: [item_to(x) for x in v],
            lambda v, name: [item_from(x, name) for x in v],
        )
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if len(args) == 2 and type(None) in args:
            (inner,) = (a for a in args if a is not type(None))
            inner_type, inner_to, inner_from = _field_mapping(inner)
            return (
                inner_type | None,
                lambda v: None if v is None else inner_to(v),
                lambda v, name: None if v is None else inner_from(v, name),
            )
    raise TypeError(f"no JSON mapping for the payload field type {tp!r}")


_Fields = tuple[tuple[str, _ToJson, _FromJson], ...]


def _build(message: type[CoreStruct]) -> tuple[type[msgspec.Struct], _Fields]:
    specs: list[tuple[Any, ...]] = []
    conversions: list[tuple[str, _ToJson, _FromJson]] = []
    for f in msgspec.structs.fields(message):
        json_type, to, back = _field_mapping(f.type)
        if f.default is not msgspec.NODEFAULT:
            specs.append((f.name, json_type, to(f.default)))
        elif f.default_factory is not msgspec.NODEFAULT:
            # An empty list as a default (msgspec copies it; the schema shows it as the default).
            specs.append((f.name, json_type, to(f.default_factory())))
        else:
            specs.append((f.name, json_type))
        conversions.append((f.name, to, back))
    cls = msgspec.defstruct(
        f"{message.__name__}Json",
        specs,
        bases=(_J,),
        module=__name__,
        tag=message.__struct_config__.tag,
        tag_field="type",
        kw_only=True,
        forbid_unknown_fields=True,
    )
    return cls, tuple(conversions)


_TO: dict[type, tuple[type[msgspec.Struct], _Fields]] = {}
_FROM: dict[type, tuple[Callable[..., Payload], _Fields]] = {}
for _module in MODULES:
    for _message in _module.messages:
        _cls, _conversions = _build(_message)
        _TO[_message] = (_cls, _conversions)
        _FROM[_cls] = (_message, _conversions)

JSON_TYPES: dict[type, type[msgspec.Struct]] = {m: cls for m, (cls, _) in _TO.items()}
"""Message type -> its generated JSON struct, in the modules' order."""


def json_type_for(message: type) -> type[msgspec.Struct]:
    """The JSON struct of a message type (``KeyError`` for a type that is no module's message)."""
    return JSON_TYPES[message]


if TYPE_CHECKING:
    PayloadJson: TypeAlias = Any
else:
    PayloadJson = functools.reduce(operator.or_, JSON_TYPES.values())
    """The union of every generated JSON struct, told apart by ``type`` (the message's tag)."""


def to_json(p: Payload) -> msgspec.Struct:
    """The JSON struct of a payload."""
    cls, conversions = _TO[type(p)]
    return cls(**{name: to(getattr(p, name)) for name, to, _ in conversions})


def from_json(j: msgspec.Struct) -> Payload:
    """The payload a JSON struct describes (bounds not checked here: ``tx_from_json`` checks the whole
    transaction; ``DecodeError`` for a hex field that is not hex or a nested encoding that does not decode)."""
    message, conversions = _FROM[type(j)]
    return message(**{name: back(getattr(j, name), name) for name, _, back in conversions})
