"""Multibase base58btc (``z...``) and the Multikey public-key forms Data Integrity uses."""

from __future__ import annotations

__all__ = [
    "MultibaseError",
    "b58decode",
    "b58encode",
    "multibase_decode",
    "multibase_encode",
    "multikey_decode",
    "multikey_encode",
]

_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_INDEX = {c: i for i, c in enumerate(_ALPHABET)}
_MAX_CHARS = 4096

# Multicodec prefixes (unsigned varints): ed25519-pub 0xed, sm2-pub 0x1206, ed25519-priv 0x1300.
ED25519_PUB = b"\xed\x01"
SM2_PUB = b"\x86\x24"
ED25519_PRIV = b"\x80\x26"


class MultibaseError(ValueError):
    """A string that is not the multibase or Multikey value it should be."""


def b58encode(data: bytes) -> str:
    """Encode bytes in base58 (Bitcoin alphabet)."""
    n = int.from_bytes(data, "big")
    out = []
    while n:
        n, r = divmod(n, 58)
        out.append(_ALPHABET[r])
    zeros = len(data) - len(data.lstrip(b"\0"))
    return "1" * zeros + "".join(reversed(out))


def b58decode(text: str) -> bytes:
    """Decode base58 (Bitcoin alphabet). Raises ``MultibaseError`` on a character outside the alphabet."""
    if len(text) > _MAX_CHARS:
        raise MultibaseError(f"base58 text is longer than {_MAX_CHARS} characters")
    n = 0
    for c in text:
        try:
            n = n * 58 + _INDEX[c]
        except KeyError:
            raise MultibaseError(f"{c!r} is not a base58btc character") from None
    zeros = len(text) - len(text.lstrip("1"))
    body = n.to_bytes((n.bit_length() + 7) // 8, "big") if n else b""
    return b"\0" * zeros + body


def multibase_encode(data: bytes) -> str:
    """``z`` + base58btc(data)."""
    return "z" + b58encode(data)


def multibase_decode(text: str) -> bytes:
    """Decode a base58btc multibase string. Raises ``MultibaseError`` for any other base or bad text."""
    if not isinstance(text, str) or not text.startswith("z"):
        raise MultibaseError("expected a base58btc multibase value (starting with 'z')")
    return b58decode(text[1:])


def multikey_encode(suite_name: str, public_key: bytes) -> str:
    """The Multikey ``publicKeyMultibase`` of a raw public key of the ``ed25519`` or ``sm`` suite."""
    prefix = ED25519_PUB if suite_name == "ed25519" else SM2_PUB
    return multibase_encode(prefix + public_key)


def multikey_decode(text: str) -> tuple[str, bytes]:
    """Return (suite name, raw public key) of a Multikey value. Raises ``MultibaseError``."""
    raw = multibase_decode(text)
    if raw[:2] == ED25519_PUB and len(raw) == 34:
        return "ed25519", raw[2:]
    if raw[:2] == SM2_PUB and len(raw) == 67:
        return "sm", raw[2:]
    raise MultibaseError("not an Ed25519 or SM2 Multikey public key")
