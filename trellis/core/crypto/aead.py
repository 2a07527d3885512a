"""Authenticated encryption chosen by the chain's suite: AES-256-GCM for ``ed25519``, SM4-GCM for ``sm``.

The caller supplies the key and a 12-byte nonce that it never reuses with the same key (the core draws no
randomness). Sealed data is ``ciphertext || 16-byte tag``.
"""

from __future__ import annotations

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from trellis.core.errors import TrellisError

NONCE_SIZE = 12
TAG_SIZE = 16
_KEY_SIZES = {"ed25519": 32, "sm": 16}


class AeadError(TrellisError):
    """Sealed data that does not open: wrong key, wrong associated data, or damaged."""

    code = "aead_error"


def aead_key_size(suite_name: str) -> int:
    """Return the key size in bytes of the suite's AEAD (32 for AES-256-GCM, 16 for SM4-GCM)."""
    try:
        return _KEY_SIZES[suite_name]
    except KeyError:
        raise ValueError(f"no AEAD for suite {suite_name!r}") from None


def _check(suite_name: str, key: bytes, nonce: bytes) -> None:
    if len(key) != aead_key_size(suite_name):
        raise ValueError(f"the {suite_name} AEAD key is {aead_key_size(suite_name)} bytes, not {len(key)}")
    if len(nonce) != NONCE_SIZE:
        raise ValueError(f"the AEAD nonce is {NONCE_SIZE} bytes")


def aead_seal(suite_name: str, key: bytes, nonce: bytes, plaintext: bytes, aad: bytes = b"") -> bytes:
    """Encrypt and authenticate ``plaintext`` (and authenticate ``aad``); return ``ciphertext || tag``.

    Raises ``ValueError`` for an unknown suite or a key or nonce of the wrong size.
    """
    _check(suite_name, key, nonce)
    if suite_name == "ed25519":
        return AESGCM(key).encrypt(nonce, plaintext, aad)
    enc = Cipher(algorithms.SM4(key), modes.GCM(nonce)).encryptor()
    enc.authenticate_additional_data(aad)
    body = enc.update(plaintext) + enc.finalize()
    return body + enc.tag


def aead_open(suite_name: str, key: bytes, nonce: bytes, sealed: bytes, aad: bytes = b"") -> bytes:
    """Return the plaintext of ``sealed`` (from ``aead_seal``); raise ``AeadError`` if it does not authenticate.

    Raises ``ValueError`` for an unknown suite or a key or nonce of the wrong size.
    """
    _check(suite_name, key, nonce)
    if len(sealed) < TAG_SIZE:
        raise AeadError("sealed data is shorter than its tag")
    try:
        if suite_name == "ed25519":
            return AESGCM(key).decrypt(nonce, sealed, aad)
        dec = Cipher(algorithms.SM4(key), modes.GCM(nonce, sealed[-TAG_SIZE:])).decryptor()
        dec.authenticate_additional_data(aad)
        return dec.update(sealed[:-TAG_SIZE]) + dec.finalize()
    except InvalidTag:
        raise AeadError("sealed data does not authenticate: wrong key or damaged") from None
