"""The building blocks of every API JSON type: byte strings as ``0x`` hex, and the strict struct base.

They live apart from ``trellis.api.types`` because both it and ``trellis.api.payload_json`` (which it imports
for the payload union) are built on them.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from trellis.core.errors import DecodeError

Hex = Annotated[str, msgspec.Meta(pattern=r"^0x([0-9a-fA-F]{2})*$", max_length=2 * 1024 * 1024)]
"""A byte string in JSON: ``0x`` and lower- or upper-case hex digits, two per byte."""


def hx(b: bytes) -> str:
    """Bytes as ``0x`` hex."""
    return "0x" + b.hex()


def unhex(s: str, field: str = "value") -> bytes:
    """``0x`` hex (or bare hex) to bytes; ``DecodeError`` naming ``field`` if it is not hex."""
    t = s[2:] if s.startswith(("0x", "0X")) else s
    try:
        return bytes.fromhex(t)
    except ValueError:
        raise DecodeError(f"{field}: not a hex string") from None


class _J(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    pass
