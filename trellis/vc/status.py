"""W3C Bitstring Status List encoding: ``encodedList`` is multibase base64url (``u``) of the GZIP'd bits."""

from __future__ import annotations

import base64
import gzip
import io

from trellis.vc.errors import VcError

__all__ = ["decode_list", "encode_list"]

_MAX_LIST_BYTES = 2**20


def encode_list(bits: bytes) -> str:
    """``"u" + base64url(gzip(bits))`` without padding (GZIP with a zero mtime, so the same bits give one string)."""
    return "u" + base64.urlsafe_b64encode(gzip.compress(bits, mtime=0)).rstrip(b"=").decode("ascii")


def decode_list(encoded: str) -> bytes:
    """The bits of an ``encodedList``. Raises ``VcError`` (``malformed_status_list``)."""
    if not encoded.startswith("u"):
        raise VcError("malformed_status_list", "encodedList must be multibase base64url ('u...')")
    body = encoded[1:]
    try:
        packed = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        with gzip.GzipFile(fileobj=io.BytesIO(packed)) as f:
            bits = f.read(_MAX_LIST_BYTES + 1)
    except (ValueError, OSError, EOFError) as exc:
        raise VcError("malformed_status_list", f"encodedList does not decode: {exc}") from exc
    if len(bits) > _MAX_LIST_BYTES:
        raise VcError("malformed_status_list", "status list is larger than 1 MiB")
    return bits
