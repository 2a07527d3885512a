"""Crypto suites: the chain's hash function and signature scheme, fixed in genesis.

The ``ed25519`` suite is Ed25519 signatures with SHA-256. Verification follows the ZIP-215 rules (as
implemented by ed25519-zebra): they are fully specified and agree between single and batch verification,
which consensus needs. Signing uses RFC 8032 deterministic signatures, so signatures are reproducible.

The ``sm`` suite is SM2 signatures (recommended curve, standard user id ``1234567812345678``) with SM3; see
``trellis.core.crypto.sm``. Its public keys are 65-byte uncompressed points, its signatures 64-byte ``r || s``.

Each suite also names an AEAD for data it encrypts (key files, sealed payloads): AES-256-GCM for ``ed25519``,
SM4-GCM for ``sm``; see ``trellis.core.crypto.aead``.

Domain separation: ``tagged_hash(domain, data) = HASH(len(domain) as one byte || domain || data)``, with
``domain`` an ASCII tag such as ``b"trellis/tx/v1"``. Two objects of different kinds therefore never share
a hash, even if their encodings are equal.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import ed25519_zebra

from trellis.core.crypto.sm import sm2_verify, sm3
from trellis.core.errors import TrellisError


@dataclass(frozen=True)
class Suite:
    """A chain's crypto suite.

    Attributes:
        name: the suite's name as written in genesis (``"ed25519"`` or ``"sm"``).
        public_key_size: length in bytes of a raw public key.
        _hash: the raw hash function (bytes -> 32-byte digest).
        _verify: raw verification (public key, message, signature) -> bool; must never raise.
        _hash_many: ``_hash`` of ``prefix + item`` for each item, in order, where a suite has a faster way than
            calling ``_hash`` per item (None: it calls ``_hash``).
    """

    name: str
    public_key_size: int
    _hash: Callable[[bytes], bytes]
    _verify: Callable[[bytes, bytes, bytes], bool]
    _hash_many: Callable[[bytes, Sequence[bytes]], list[bytes]] | None = None

    def hash(self, data: bytes) -> bytes:
        """Return the 32-byte digest of ``data`` (no domain tag; prefer ``tagged_hash``)."""
        return self._hash(data)

    def tagged_hash(self, domain: bytes, data: bytes) -> bytes:
        """Return ``HASH(len(domain) || domain || data)``; ``domain`` is at most 255 bytes."""
        return self._hash(bytes((len(domain),)) + domain + data)

    def tagged_hashes(self, domain: bytes, items: Sequence[bytes]) -> list[bytes]:
        """Return ``[tagged_hash(domain, item) for item in items]``, computed in one call (Merkle levels and
        other lists of thousands of items: the per-item cost is the hash, not Python calls)."""
        prefix = bytes((len(domain),)) + domain
        if self._hash_many is not None:
            return self._hash_many(prefix, items)
        h = self._hash
        return [h(prefix + item) for item in items]

    def verify(self, public_key: bytes, message: bytes, signature: bytes) -> bool:
        """Return True iff ``signature`` is a valid signature of ``message`` under ``public_key``."""
        if len(public_key) != self.public_key_size or len(signature) != 64:
            return False
        return self._verify(public_key, message, signature)

    def verify_many(self, items: Sequence[tuple[bytes, bytes, bytes]]) -> list[bool]:
        """Verify (public key, message, signature) triples; one result per item, in order."""
        verify = self.verify
        return [verify(pk, msg, sig) for pk, msg, sig in items]


def _sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _sha256_many(prefix: bytes, items: Sequence[bytes]) -> list[bytes]:
    sha256 = hashlib.sha256
    return [sha256(prefix + item).digest() for item in items]


def _ed25519_verify(public_key: bytes, message: bytes, signature: bytes) -> bool:
    try:
        return bool(ed25519_zebra.ed_verify(signature, message, public_key))
    except (ValueError, TypeError):
        # A public key that is not a valid curve point.
        return False


ED25519 = Suite(name="ed25519", public_key_size=32, _hash=_sha256, _verify=_ed25519_verify, _hash_many=_sha256_many)

SM = Suite(name="sm", public_key_size=65, _hash=sm3, _verify=sm2_verify)

_SUITES = {ED25519.name: ED25519, SM.name: SM}


class UnknownSuite(TrellisError):
    """A suite name that this build does not implement."""

    code = "unknown_suite"


def suite_by_name(name: str) -> Suite:
    """Return the suite called ``name``; raise ``UnknownSuite`` if there is none."""
    try:
        return _SUITES[name]
    except KeyError:
        raise UnknownSuite(f"unknown crypto suite {name!r}; known: {sorted(_SUITES)}") from None


_ADDRESS_CACHE_MAX = 1 << 16
_address_cache: dict[tuple[str, bytes], bytes] = {}


def address_of(suite: Suite, public_key: bytes) -> bytes:
    """Return the 20-byte account address of ``public_key``: ``tagged_hash("trellis/address", pk)[:20]``.

    Remembered for the most recent 65,536 keys (a dict lookup instead of a hash: senders repeat, and admission
    and execution both need each transaction's sender address)."""
    key = (suite.name, public_key)
    found = _address_cache.get(key)
    if found is None:
        found = suite.tagged_hash(b"trellis/address", public_key)[:20]
        if len(_address_cache) >= _ADDRESS_CACHE_MAX:
            _address_cache.clear()
        _address_cache[key] = found
    return found


def ed25519_keypair_from_seed(seed: bytes) -> tuple[bytes, bytes]:
    """Return (secret, public) for a 32-byte seed (the secret is the seed itself, per RFC 8032)."""
    if len(seed) != 32:
        raise ValueError("an Ed25519 seed is 32 bytes")
    secret, public = ed25519_zebra.ed_from_seed(seed)
    return bytes(secret), bytes(public)


def ed25519_sign(secret: bytes, message: bytes) -> bytes:
    """Return the RFC 8032 deterministic signature of ``message`` with the 32-byte ``secret``."""
    return bytes(ed25519_zebra.ed_sign(secret, message))
