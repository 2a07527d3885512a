"""JSON Canonicalization Scheme (RFC 8785): the one byte form of a JSON value that Data Integrity proofs sign.

Objects' members are sorted by their names' UTF-16 code units, there is no whitespace, strings are escaped as
ECMAScript's ``JSON.stringify`` does, and numbers are written as ECMAScript writes a double. Integers beyond
2^53 are written as the nearest double (as RFC 8785 requires); NaN, infinities and lone surrogates are refused.
"""

from __future__ import annotations

import math
from decimal import Decimal
from json.encoder import encode_basestring as _encode_basestring
from typing import Any

__all__ = ["CanonicalizationError", "canonicalize"]

_MAX_SAFE_INT = 2**53 - 1


class CanonicalizationError(ValueError):
    """A value that has no JCS form (a float that is not finite, a huge integer, a lone surrogate, ...)."""


def _utf16_key(name: str) -> bytes:
    return name.encode("utf-16-be", "surrogatepass")


def _string(s: str) -> str:
    if not s.isascii():
        try:
            s.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise CanonicalizationError("a string holds a lone surrogate") from exc
    # The same escaping as JSON.stringify: \" \\ \b \f \n \r \t, other controls as \u00xx, the rest as is.
    return _encode_basestring(s)


def _number(x: float) -> str:
    """ECMAScript Number::toString for a finite double (RFC 8785 section 3.2.2.3)."""
    if not math.isfinite(x):
        raise CanonicalizationError("NaN and infinities have no JSON form")
    if x == 0:
        return "0"
    sign = "-" if x < 0 else ""
    # repr gives the shortest digit string that round-trips, as ECMAScript's algorithm requires.
    _, digits_t, exp = Decimal(repr(abs(x))).normalize().as_tuple()
    assert isinstance(exp, int)
    digits = "".join(map(str, digits_t))
    k = len(digits)
    n = exp + k  # the value is 0.digits * 10^n
    if k <= n <= 21:
        out = digits + "0" * (n - k)
    elif 0 < n <= 21:
        out = digits[:n] + "." + digits[n:]
    elif -6 < n <= 0:
        out = "0." + "0" * (-n) + digits
    else:
        e = n - 1
        mant = digits[0] + ("." + digits[1:] if k > 1 else "")
        out = f"{mant}e{'+' if e >= 0 else '-'}{abs(e)}"
    return sign + out


def _write(value: Any, out: list[str], depth: int) -> None:
    if depth > 64:
        raise CanonicalizationError("nesting deeper than 64 levels")
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, int):
        if abs(value) <= _MAX_SAFE_INT:
            out.append(str(value))
        else:
            # RFC 8785 numbers are IEEE doubles: a large integer is written as the double nearest to it,
            # exactly as an ECMAScript implementation would parse and write it.
            try:
                out.append(_number(float(value)))
            except OverflowError:
                raise CanonicalizationError(f"integer {value} is beyond the range of a double") from None
    elif isinstance(value, float):
        out.append(_number(value))
    elif isinstance(value, str):
        out.append(_string(value))
    elif isinstance(value, (list, tuple)):
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _write(item, out, depth + 1)
        out.append("]")
    elif isinstance(value, dict):
        for k in value:
            if not isinstance(k, str):
                raise CanonicalizationError("object member names must be strings")
        out.append("{")
        # Code point order equals UTF-16 order unless a name holds characters above U+FFFF.
        names = sorted(value) if all(k.isascii() for k in value) else sorted(value, key=_utf16_key)
        for i, k in enumerate(names):
            if i:
                out.append(",")
            out.append(_string(k))
            out.append(":")
            _write(value[k], out, depth + 1)
        out.append("}")
    else:
        raise CanonicalizationError(f"{type(value).__name__} is not a JSON value")


def canonicalize(value: Any) -> bytes:
    """Return the RFC 8785 canonical UTF-8 bytes of a JSON value (dict, list, str, int, float, bool, None).

    Raises:
        CanonicalizationError: the value has no canonical JSON form.
    """
    out: list[str] = []
    _write(value, out, 0)
    return "".join(out).encode("utf-8")
