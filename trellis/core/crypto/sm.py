"""The Chinese national algorithms: SM2 signatures (GB/T 32918.2), SM3 (GB/T 32905) and SM4-GCM.

SM2 here is always on the recommended curve (GB/T 32918.5) with the standard user id ``1234567812345678``
(GM/T 0009), so the signed value is ``e = SM3(Z_A || M)`` with
``Z_A = SM3(ENTL_A || ID_A || a || b || x_G || y_G || x_A || y_A)``. We compute ``Z_A`` and ``e`` ourselves and
let OpenSSL sign or verify ``e``: the user id is therefore fixed by this module, not by OpenSSL's defaults.

Raw forms (what goes on chain):

- public key: 65 bytes, ``04 || x || y`` (uncompressed point);
- signature: 64 bytes, ``r || s``, each a 32-byte big-endian integer (converted to and from DER for OpenSSL);
- private key: the 32-byte big-endian scalar ``d`` with ``1 <= d <= n - 2``.

Signing draws its nonce ``k`` from OpenSSL's CSPRNG, so SM2 signatures are not reproducible (verification,
the only part consensus depends on, is deterministic). Key generation takes its randomness from the caller.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict

from cryptography.hazmat.primitives import hashes

from trellis.core.crypto import _openssl

SM2_USER_ID = b"1234567812345678"
"""The standard distinguishing identifier of GM/T 0009-2012, used for every SM2 signature of the chain."""

# The recommended curve parameters of GB/T 32918.5-2016.
_P = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFF
_A = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC
_B = 0x28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93
_N = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123
_GX = 0x32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7
_GY = 0xBC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0
_CURVE_BYTES = b"".join(v.to_bytes(32, "big") for v in (_A, _B, _GX, _GY))

SM2_ORDER = _N
"""The order ``n`` of the SM2 base point."""

_PUBLIC_KEY_CACHE_SIZE = 4096
# Public key -> (parsed OpenSSL key, Z_A), oldest evicted first. Accounts sign many transactions; parsing a
# point and hashing Z_A once per key instead of once per signature saves 15-20% of a verification.
_public_keys: OrderedDict[bytes, tuple[_openssl.Pkey, bytes]] = OrderedDict()


def _hashlib_sm3(data: bytes) -> bytes:
    return hashlib.new("sm3", data).digest()


def _cryptography_sm3(data: bytes) -> bytes:
    h = hashes.Hash(hashes.SM3())
    h.update(data)
    return h.finalize()


try:
    # hashlib has SM3 when Python's OpenSSL does (about 2 µs a call against 3.5 µs through cryptography).
    hashlib.new("sm3", b"")
    _sm3 = _hashlib_sm3
except ValueError:
    _sm3 = _cryptography_sm3


def sm3(data: bytes) -> bytes:
    """Return the 32-byte SM3 digest (GB/T 32905-2016) of ``data``."""
    return _sm3(data)


def sm2_za(public_key: bytes, user_id: bytes = SM2_USER_ID) -> bytes:
    """Return ``Z_A`` of GB/T 32918.2 for a 65-byte public key and a user id of at most 8191 bytes."""
    if len(user_id) >= 8192:
        raise ValueError("an SM2 user id is shorter than 8192 bytes")
    entl = (len(user_id) * 8).to_bytes(2, "big")
    return sm3(entl + user_id + _CURVE_BYTES + public_key[1:65])


def sm2_digest(public_key: bytes, message: bytes) -> bytes:
    """Return ``e = SM3(Z_A || message)`` for the standard user id: the value an SM2 signature signs."""
    return sm3(sm2_za(public_key) + message)


def _der_integer(v: int) -> bytes:
    body = v.to_bytes(max(1, (v.bit_length() + 8) // 8), "big")
    return b"\x02" + bytes((len(body),)) + body


def _der_signature(raw: bytes) -> bytes:
    body = _der_integer(int.from_bytes(raw[:32], "big")) + _der_integer(int.from_bytes(raw[32:], "big"))
    return b"\x30" + bytes((len(body),)) + body


def _raw_signature(der: bytes) -> bytes:
    # OpenSSL's own output: SEQUENCE { INTEGER r, INTEGER s }, both below n, short-form lengths.
    if len(der) < 8 or der[0] != 0x30 or der[1] != len(der) - 2 or der[2] != 0x02:
        raise _openssl.OpenSSLError("OpenSSL returned a malformed SM2 signature")
    r_len = der[3]
    r = int.from_bytes(der[4 : 4 + r_len], "big")
    pos = 4 + r_len
    if der[pos] != 0x02 or pos + 2 + der[pos + 1] != len(der):
        raise _openssl.OpenSSLError("OpenSSL returned a malformed SM2 signature")
    s = int.from_bytes(der[pos + 2 :], "big")
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def _public(public_key: bytes) -> tuple[_openssl.Pkey, bytes] | None:
    hit = _public_keys.get(public_key)
    if hit is not None:
        return hit
    pkey = _openssl.public_pkey(public_key)
    if pkey is None:
        return None
    entry = (pkey, sm2_za(public_key))
    _public_keys[public_key] = entry
    while len(_public_keys) > _PUBLIC_KEY_CACHE_SIZE:
        _public_keys.popitem(last=False)
    return entry


def sm2_verify(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """Return True iff ``signature`` (64 bytes ``r || s``) is a valid SM2 signature of ``message`` under
    ``public_key`` (65 bytes ``04 || x || y``) with the standard user id. Never raises: any malformed input
    (wrong lengths, a point off the curve, ``r`` or ``s`` out of range) gives False."""
    try:
        if len(public_key) != 65 or len(signature) != 64:
            return False
        r = int.from_bytes(signature[:32], "big")
        s = int.from_bytes(signature[32:], "big")
        if not (0 < r < _N and 0 < s < _N):
            return False
        entry = _public(bytes(public_key))
        if entry is None:
            return False
        pkey, za = entry
        return _openssl.verify_digest(pkey, sm3(za + bytes(message)), _der_signature(bytes(signature)))
    except (TypeError, ValueError, _openssl.OpenSSLError):
        return False


def sm2_keypair_from_secret(secret: bytes) -> tuple[bytes, bytes]:
    """Return (secret, public) for the 32-byte big-endian private scalar ``d``.

    Raises ``ValueError`` unless ``1 <= d <= n - 2`` (GB/T 32918.1 key range). To generate a key, draw 32
    random bytes and retry on ``ValueError`` (which happens with probability below 2**-32).
    """
    if len(secret) != 32:
        raise ValueError("an SM2 private key is 32 bytes")
    d = int.from_bytes(secret, "big")
    if not 1 <= d <= _N - 2:
        raise ValueError("an SM2 private key must lie in [1, n - 2]")
    return bytes(secret), _openssl.public_point(secret)


class Sm2PrivateKey:
    """An SM2 private key held in OpenSSL, ready to sign. Its ``repr`` never shows the secret."""

    __slots__ = ("_pkey", "_za", "public_key")

    def __init__(self, secret: bytes) -> None:
        """Open the 32-byte scalar ``secret``; raises ``ValueError`` if it is not a valid SM2 private key."""
        _, public = sm2_keypair_from_secret(secret)
        self.public_key: bytes = public
        self._pkey = _openssl.private_pkey(secret, public)
        self._za = sm2_za(public)

    def sign(self, message: bytes) -> bytes:
        """Return a 64-byte ``r || s`` SM2 signature of ``message`` (standard user id, random ``k``)."""
        return _raw_signature(_openssl.sign_digest(self._pkey, sm3(self._za + message)))

    def __repr__(self) -> str:
        return f"Sm2PrivateKey(public_key={self.public_key.hex()})"


def sm2_sign(secret: bytes, message: bytes) -> bytes:
    """Return a 64-byte ``r || s`` SM2 signature of ``message`` with the 32-byte private scalar ``secret``.

    Opening the key costs about as much as a signature: hold an ``Sm2PrivateKey`` to sign many messages.
    """
    return Sm2PrivateKey(secret).sign(message)
