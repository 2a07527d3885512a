"""A thin ctypes binding to the system OpenSSL 3 libcrypto: just what SM2 needs.

Only non-deprecated OpenSSL 3 interfaces are used: ``EVP_PKEY_fromdata`` (with the ``SM2`` key type) to build
keys, ``EVP_PKEY_sign``/``EVP_PKEY_verify`` over a digest the caller has already computed (``e`` of GB/T 32918.2,
so the Z value and the user id are entirely under our control), and ``EC_POINT_mul`` to derive a public key from
a private scalar. ``cryptography`` refuses SM2 keys, and its bundled OpenSSL is not reachable through its API.

Every function here translates OpenSSL failure into ``OpenSSLError`` (or a ``False`` result for verification) and
clears OpenSSL's per-thread error queue so that it does not grow.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
from typing import Any

from trellis.core.errors import TrellisError


class OpenSSLError(TrellisError):
    """libcrypto is missing, too old, or failed an operation that should have succeeded."""

    code = "openssl_error"


NID_SM2 = 1172
_OSSL_PARAM_UNSIGNED_INTEGER = 2
_OSSL_PARAM_UTF8_STRING = 4
_OSSL_PARAM_OCTET_STRING = 5
_EVP_PKEY_KEYPAIR = 0x87  # OSSL_KEYMGMT_SELECT_ALL_PARAMETERS | private | public
_EVP_PKEY_PUBLIC_KEY = 0x86  # OSSL_KEYMGMT_SELECT_ALL_PARAMETERS | public
_POINT_CONVERSION_UNCOMPRESSED = 4


class _OsslParam(ctypes.Structure):
    _fields_ = [
        ("key", ctypes.c_char_p),
        ("data_type", ctypes.c_uint),
        ("data", ctypes.c_void_p),
        ("data_size", ctypes.c_size_t),
        ("return_size", ctypes.c_size_t),
    ]


def _load() -> ctypes.CDLL:
    name = ctypes.util.find_library("crypto")
    candidates = [name] if name else []
    candidates += ["libcrypto.so.3", "libcrypto.3.dylib"]
    last: OSError | None = None
    for candidate in candidates:
        try:
            lib = ctypes.CDLL(candidate)
        except OSError as exc:
            last = exc
            continue
        lib.OpenSSL_version_num.restype = ctypes.c_ulong
        if lib.OpenSSL_version_num() >> 28 < 3:
            continue
        return lib
    raise OpenSSLError(f"the SM suite needs the system OpenSSL 3 libcrypto; none could be loaded ({last})")


_lib = _load()
_P = ctypes.c_void_p


def _fn(name: str, restype: object, *argtypes: object) -> Any:
    f = getattr(_lib, name)
    f.restype = restype
    f.argtypes = list(argtypes)
    return f


_ERR_clear_error = _fn("ERR_clear_error", None)
_EVP_PKEY_CTX_new_from_name = _fn("EVP_PKEY_CTX_new_from_name", _P, _P, ctypes.c_char_p, ctypes.c_char_p)
_EVP_PKEY_CTX_new_from_pkey = _fn("EVP_PKEY_CTX_new_from_pkey", _P, _P, _P, ctypes.c_char_p)
_EVP_PKEY_CTX_free = _fn("EVP_PKEY_CTX_free", None, _P)
_EVP_PKEY_fromdata_init = _fn("EVP_PKEY_fromdata_init", ctypes.c_int, _P)
_EVP_PKEY_fromdata = _fn("EVP_PKEY_fromdata", ctypes.c_int, _P, ctypes.POINTER(_P), ctypes.c_int, _P)
_EVP_PKEY_free = _fn("EVP_PKEY_free", None, _P)
_EVP_PKEY_sign_init = _fn("EVP_PKEY_sign_init", ctypes.c_int, _P)
_EVP_PKEY_sign = _fn(
    "EVP_PKEY_sign",
    ctypes.c_int,
    _P,
    ctypes.c_char_p,
    ctypes.POINTER(ctypes.c_size_t),
    ctypes.c_char_p,
    ctypes.c_size_t,
)
_EVP_PKEY_verify_init = _fn("EVP_PKEY_verify_init", ctypes.c_int, _P)
_EVP_PKEY_verify = _fn(
    "EVP_PKEY_verify", ctypes.c_int, _P, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_size_t
)
_EC_GROUP_new_by_curve_name = _fn("EC_GROUP_new_by_curve_name", _P, ctypes.c_int)
_EC_POINT_new = _fn("EC_POINT_new", _P, _P)
_EC_POINT_free = _fn("EC_POINT_free", None, _P)
_EC_POINT_mul = _fn("EC_POINT_mul", ctypes.c_int, _P, _P, _P, _P, _P, _P)
_EC_POINT_point2oct = _fn(
    "EC_POINT_point2oct", ctypes.c_size_t, _P, _P, ctypes.c_int, ctypes.c_char_p, ctypes.c_size_t, _P
)
_BN_bin2bn = _fn("BN_bin2bn", _P, ctypes.c_char_p, ctypes.c_int, _P)
_BN_clear_free = _fn("BN_clear_free", None, _P)

_SM2_GROUP = _EC_GROUP_new_by_curve_name(NID_SM2)
if not _SM2_GROUP:
    raise OpenSSLError("this libcrypto does not know the SM2 curve")


class Pkey:
    """An owned ``EVP_PKEY*`` of type SM2; freed when the last Python reference goes."""

    __slots__ = ("_ptr",)

    def __init__(self, ptr: int) -> None:
        self._ptr = ptr

    @property
    def ptr(self) -> int:
        """The raw pointer (valid while this object lives)."""
        return self._ptr

    def __del__(self, _free: Any = _EVP_PKEY_free) -> None:
        # The free function is bound at definition: module globals may already be gone at interpreter exit.
        if self._ptr:
            _free(self._ptr)
            self._ptr = 0


def _pkey_fromdata(params: ctypes.Array[_OsslParam], selection: int) -> Pkey | None:
    ctx = _EVP_PKEY_CTX_new_from_name(None, b"SM2", None)
    if not ctx:
        _ERR_clear_error()
        raise OpenSSLError("EVP_PKEY_CTX_new_from_name(SM2) failed")
    try:
        out = _P()
        if (
            _EVP_PKEY_fromdata_init(ctx) != 1
            or _EVP_PKEY_fromdata(ctx, ctypes.byref(out), selection, ctypes.cast(params, _P)) != 1
        ):
            _ERR_clear_error()
            return None
        return Pkey(out.value or 0) if out.value else None
    finally:
        _EVP_PKEY_CTX_free(ctx)


def _params(*entries: tuple[bytes, int, bytes]) -> tuple[ctypes.Array[_OsslParam], list[ctypes.Array[ctypes.c_char]]]:
    arr = (_OsslParam * (len(entries) + 1))()
    keep = []
    for i, (key, dtype, data) in enumerate(entries):
        buf = ctypes.create_string_buffer(data, len(data))
        keep.append(buf)
        arr[i].key = key
        arr[i].data_type = dtype
        arr[i].data = ctypes.cast(buf, _P)
        arr[i].data_size = len(data)
        arr[i].return_size = ctypes.c_size_t(-1).value  # OSSL_PARAM_UNMODIFIED
    return arr, keep  # the end marker is the zeroed last entry


def public_pkey(public: bytes) -> Pkey | None:
    """Return an SM2 public ``Pkey`` for a 65-byte uncompressed point, or None if it is not a curve point."""
    if len(public) != 65 or public[0] != 4:
        return None
    params, _keep = _params((b"group", _OSSL_PARAM_UTF8_STRING, b"SM2"), (b"pub", _OSSL_PARAM_OCTET_STRING, public))
    return _pkey_fromdata(params, _EVP_PKEY_PUBLIC_KEY)


def private_pkey(secret: bytes, public: bytes) -> Pkey:
    """Return an SM2 key pair ``Pkey`` from the 32-byte big-endian private scalar and its public point."""
    params, _keep = _params(
        (b"group", _OSSL_PARAM_UTF8_STRING, b"SM2"),
        (b"pub", _OSSL_PARAM_OCTET_STRING, public),
        # OSSL_PARAM integers are in the host's byte order.
        (b"priv", _OSSL_PARAM_UNSIGNED_INTEGER, secret[::-1] if sys.byteorder == "little" else secret),
    )
    key = _pkey_fromdata(params, _EVP_PKEY_KEYPAIR)
    if key is None:
        raise OpenSSLError("OpenSSL refused an SM2 key pair")
    return key


def public_point(secret: bytes) -> bytes:
    """Return ``[d]G`` on the SM2 curve as 65 bytes ``04 || x || y`` for the 32-byte big-endian scalar ``d``."""
    bn = _BN_bin2bn(secret, len(secret), None)
    point = _EC_POINT_new(_SM2_GROUP)
    try:
        if not bn or not point or _EC_POINT_mul(_SM2_GROUP, point, bn, None, None, None) != 1:
            _ERR_clear_error()
            raise OpenSSLError("EC_POINT_mul failed on the SM2 curve")
        out = ctypes.create_string_buffer(65)
        n = _EC_POINT_point2oct(_SM2_GROUP, point, _POINT_CONVERSION_UNCOMPRESSED, out, 65, None)
        if n != 65:
            _ERR_clear_error()
            raise OpenSSLError("EC_POINT_point2oct did not give a 65-byte point")
        return out.raw
    finally:
        if point:
            _EC_POINT_free(point)
        if bn:
            _BN_clear_free(bn)


def sign_digest(key: Pkey, digest: bytes) -> bytes:
    """Return the DER SM2 signature of the 32-byte ``digest`` (``e``) with a fresh random ``k`` from OpenSSL."""
    ctx = _EVP_PKEY_CTX_new_from_pkey(None, key.ptr, None)
    if not ctx:
        _ERR_clear_error()
        raise OpenSSLError("EVP_PKEY_CTX_new_from_pkey failed")
    try:
        out = ctypes.create_string_buffer(80)
        size = ctypes.c_size_t(80)
        if _EVP_PKEY_sign_init(ctx) != 1 or _EVP_PKEY_sign(ctx, out, ctypes.byref(size), digest, len(digest)) != 1:
            _ERR_clear_error()
            raise OpenSSLError("SM2 signing failed")
        return out.raw[: size.value]
    finally:
        _EVP_PKEY_CTX_free(ctx)


def verify_digest(key: Pkey, digest: bytes, der_signature: bytes) -> bool:
    """Return True iff ``der_signature`` is a valid SM2 signature of ``digest`` under ``key``; never raises."""
    ctx = _EVP_PKEY_CTX_new_from_pkey(None, key.ptr, None)
    if not ctx:
        _ERR_clear_error()
        return False
    try:
        ok = bool(_EVP_PKEY_verify_init(ctx) == 1) and bool(
            _EVP_PKEY_verify(ctx, der_signature, len(der_signature), digest, len(digest)) == 1
        )
        if not ok:
            _ERR_clear_error()
        return ok
    finally:
        _EVP_PKEY_CTX_free(ctx)
