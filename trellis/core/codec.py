"""The one canonical encoding: msgspec msgpack of frozen, array-like Structs.

``encode`` is deterministic (field order is declaration order, integers take their shortest form).
``decode`` accepts only canonical bytes: it decodes, re-encodes and refuses input whose bytes differ, so each
value has exactly one valid encoding and a hash over bytes is a hash over the value.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

import msgspec

from trellis.core.errors import DecodeError

T = TypeVar("T")

_ENCODER = msgspec.msgpack.Encoder()
_DECODERS: dict[Any, msgspec.msgpack.Decoder[Any]] = {}


def encode(obj: Any) -> bytes:
    """Return the canonical msgpack bytes of ``obj`` (a core Struct or a builtin value)."""
    return _ENCODER.encode(obj)


def encode_array(encoded: Sequence[bytes]) -> bytes:
    """Return ``encode(list_of_values)`` given each value's own canonical encoding, without re-encoding them
    (msgspec writes ``Raw`` items verbatim after the array header)."""
    return _ENCODER.encode([msgspec.Raw(item) for item in encoded])


def _decoder(type_: Any) -> msgspec.msgpack.Decoder[Any]:
    dec = _DECODERS.get(type_)
    if dec is None:
        dec = msgspec.msgpack.Decoder(type_)
        _DECODERS[type_] = dec
    return dec


def decode(data: bytes, type_: type[T], *, max_size: int | None = None) -> T:
    """Decode canonical bytes into ``type_``.

    Args:
        data: the encoded bytes.
        type_: the expected type (a core Struct or a typing expression msgspec understands).
        max_size: refuse inputs longer than this before decoding.

    Raises:
        DecodeError: too large, not valid msgpack, not of ``type_`` (with msgspec's path to the bad field),
            or not in canonical form.
    """
    if max_size is not None and len(data) > max_size:
        raise DecodeError(f"encoded size {len(data)} exceeds the limit of {max_size} bytes")
    try:
        obj = _decoder(type_).decode(data)
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        # msgspec reports a str that is not valid UTF-8 as UnicodeDecodeError, not as its own DecodeError.
        raise DecodeError(str(exc)) from exc
    if _ENCODER.encode(obj) != bytes(data):
        raise DecodeError("not in canonical encoding")
    return obj  # type: ignore[no-any-return]
