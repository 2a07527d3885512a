"""Signers and the file keystore.

Key files live in one directory, ``NAME.pem`` (mode 0600) with the public key beside it in ``NAME.pub`` (hex).

- Ed25519 keys are PKCS#8 PEM written by ``cryptography``; a passphrase encrypts them with its
  ``BestAvailableEncryption``.
- SM2 keys (``cryptography`` refuses them) use our own armoured format: a ``-----BEGIN TRELLIS SM2 PRIVATE
  KEY-----`` (or ``... ENCRYPTED SM2 PRIVATE KEY-----``) line, one line of JSON, and the matching ``END`` line.
  The JSON holds ``version`` (1), ``suite`` (``"sm"``), ``public_key`` (hex) and either ``secret`` (hex, the
  32-byte scalar; unencrypted files only) or, when encrypted, ``kdf`` (``"scrypt"``), ``n``, ``r``, ``p``,
  ``salt`` (hex, 16 bytes), ``aead`` (``"sm4-gcm"``), ``nonce`` (hex, 12 bytes) and ``ciphertext`` (hex: the
  SM4-GCM sealing of the secret under the first 16 bytes of ``scrypt(passphrase)``, with the file's
  ``public_key`` bytes as associated data, so a file whose public key was swapped does not open).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from trellis.core.crypto.aead import AeadError, aead_open, aead_seal
from trellis.core.crypto.sm import Sm2PrivateKey, sm2_keypair_from_secret
from trellis.core.crypto.suite import (
    ED25519,
    SM,
    Suite,
    address_of,
    ed25519_keypair_from_seed,
    ed25519_sign,
    suite_by_name,
)
from trellis.core.errors import TrellisError

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class KeyStoreError(TrellisError):
    """A key that cannot be created, found or opened."""

    code = "key_error"


class Signer(Protocol):
    """Something that holds a private key and signs with it."""

    @property
    def public_key(self) -> bytes:
        """The raw public key."""
        ...

    def sign(self, message: bytes) -> bytes:
        """Return the signature of ``message``."""
        ...


class MemorySigner:
    """A signer holding its 32-byte secret in memory: an Ed25519 seed, or an SM2 private scalar (``suite=SM``).

    Raises ``ValueError`` for a secret the suite cannot use (wrong length; for SM2, outside ``[1, n - 2]``).
    """

    def __init__(self, seed: bytes, suite: Suite = ED25519) -> None:
        self.suite = suite
        self._sm2: Sm2PrivateKey | None = None
        if suite.name == SM.name:
            self._sm2 = Sm2PrivateKey(seed)
            self._secret, self._public = b"", self._sm2.public_key
        elif suite.name == ED25519.name:
            self._secret, self._public = ed25519_keypair_from_seed(seed)
        else:
            raise ValueError(f"no signer for suite {suite.name!r}")

    @property
    def public_key(self) -> bytes:
        return self._public

    def sign(self, message: bytes) -> bytes:
        if self._sm2 is not None:
            return self._sm2.sign(message)
        return ed25519_sign(self._secret, message)

    def __repr__(self) -> str:  # never show the secret
        return f"MemorySigner(suite={self.suite.name}, public_key={self._public.hex()})"


_SM2_HEADER = b"-----BEGIN TRELLIS SM2 PRIVATE KEY-----"
_SM2_FOOTER = b"-----END TRELLIS SM2 PRIVATE KEY-----"
_SM2_ENC_HEADER = b"-----BEGIN TRELLIS ENCRYPTED SM2 PRIVATE KEY-----"
_SM2_ENC_FOOTER = b"-----END TRELLIS ENCRYPTED SM2 PRIVATE KEY-----"
# scrypt cost: about 0.1 s and 32 MiB on one core; stored in the file so it can be raised later.
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 1 << 15, 8, 1


def _scrypt(passphrase: bytes, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(passphrase, salt=salt, n=n, r=r, p=p, maxmem=256 * 1024 * 1024, dklen=32)[:16]


def _sm2_file(secret: bytes, public: bytes, passphrase: bytes | None) -> bytes:
    body: dict[str, object] = {"version": 1, "suite": SM.name, "public_key": public.hex()}
    if passphrase:
        salt, nonce = secrets.token_bytes(16), secrets.token_bytes(12)
        key = _scrypt(passphrase, salt, _SCRYPT_N, _SCRYPT_R, _SCRYPT_P)
        body |= {
            "kdf": "scrypt",
            "n": _SCRYPT_N,
            "r": _SCRYPT_R,
            "p": _SCRYPT_P,
            "salt": salt.hex(),
            "aead": "sm4-gcm",
            "nonce": nonce.hex(),
            "ciphertext": aead_seal(SM.name, key, nonce, secret, public).hex(),
        }
        header, footer = _SM2_ENC_HEADER, _SM2_ENC_FOOTER
    else:
        body["secret"] = secret.hex()
        header, footer = _SM2_HEADER, _SM2_FOOTER
    return header + b"\n" + json.dumps(body, sort_keys=True).encode() + b"\n" + footer + b"\n"


def _is_sm2_file(data: bytes) -> bool:
    return data.startswith((_SM2_HEADER, _SM2_ENC_HEADER))


def _parse_sm2_file(name: str, data: bytes) -> tuple[dict[str, object], bool]:
    lines = data.strip().split(b"\n")
    encrypted = lines[0] == _SM2_ENC_HEADER
    footer = _SM2_ENC_FOOTER if encrypted else _SM2_FOOTER
    try:
        if len(lines) != 3 or lines[2] != footer:
            raise ValueError("not header, JSON, footer")
        body = json.loads(lines[1])
        if not isinstance(body, dict) or body.get("version") != 1 or body.get("suite") != SM.name:
            raise ValueError("unknown version or suite")
        bytes.fromhex(str(body["public_key"]))
    except (ValueError, KeyError) as exc:
        raise KeyStoreError(f"cannot open key {name!r}: damaged SM2 key file ({exc})") from None
    return body, encrypted


def _open_sm2_file(name: str, data: bytes, passphrase: bytes | None) -> tuple[bytes, bytes]:
    """Return (secret, public key) of an SM2 key file."""
    body, encrypted = _parse_sm2_file(name, data)
    public = bytes.fromhex(str(body["public_key"]))
    try:
        if encrypted:
            if not passphrase:
                raise KeyStoreError(f"key {name!r} is encrypted: a passphrase is needed")
            if body.get("kdf") != "scrypt" or body.get("aead") != "sm4-gcm":
                raise ValueError("unknown kdf or aead")
            n, r, p = (int(str(body[k])) for k in ("n", "r", "p"))
            key = _scrypt(passphrase, bytes.fromhex(str(body["salt"])), n, r, p)
            try:
                secret = aead_open(
                    SM.name, key, bytes.fromhex(str(body["nonce"])), bytes.fromhex(str(body["ciphertext"])), public
                )
            except AeadError:
                raise KeyStoreError(f"cannot open key {name!r}: wrong passphrase or damaged file") from None
        else:
            if passphrase:
                raise KeyStoreError(f"key {name!r} is not encrypted, but a passphrase was given")
            secret = bytes.fromhex(str(body["secret"]))
        if sm2_keypair_from_secret(secret)[1] != public:
            raise ValueError("the secret does not match the public key")
    except (ValueError, KeyError) as exc:
        raise KeyStoreError(f"cannot open key {name!r}: damaged SM2 key file ({exc})") from None
    return secret, public


def generate_sm2_secret() -> bytes:
    """Return a fresh random SM2 private scalar (32 bytes in ``[1, n - 2]``)."""
    while True:
        secret = secrets.token_bytes(32)
        try:
            sm2_keypair_from_secret(secret)
        except ValueError:
            continue
        return secret


@dataclass(frozen=True)
class KeyInfo:
    """Public facts about a stored key."""

    name: str
    public_key: bytes
    address: bytes
    encrypted: bool
    path: Path
    suite: str = ED25519.name


class KeyStore:
    """A directory of keys, one file per key (``NAME.pem``, mode 0600; formats in the module docstring).

    ``suite`` is the suite of keys that ``create`` makes by default; reading follows each file's own format.
    """

    def __init__(self, directory: Path, suite: Suite = ED25519) -> None:
        self.directory = directory
        self.suite = suite

    def _path(self, name: str) -> Path:
        if not _NAME.match(name):
            raise KeyStoreError(f"invalid key name {name!r}: use 1-64 letters, digits, '.', '_' or '-'")
        return self.directory / f"{name}.pem"

    def create(
        self, name: str, passphrase: bytes | None = None, seed: bytes | None = None, *, suite: Suite | None = None
    ) -> KeyInfo:
        """Generate (or import from ``seed``) a key of ``suite`` (default: the store's) and write it; refuse
        to overwrite an existing one. For SM2, ``seed`` is the 32-byte private scalar."""
        path = self._path(name)
        if path.exists():
            raise KeyStoreError(f"key {name!r} already exists at {path}")
        suite = suite or self.suite
        if suite.name == SM.name:
            try:
                secret, public = sm2_keypair_from_secret(seed if seed is not None else generate_sm2_secret())
            except ValueError as exc:
                raise KeyStoreError(f"cannot import key {name!r}: {exc}") from None
            self._write(path, _sm2_file(secret, public, passphrase), public)
            return self.info(name)
        if suite.name != ED25519.name:
            raise KeyStoreError(f"keys of suite {suite.name!r} cannot be stored in files")
        key = Ed25519PrivateKey.from_private_bytes(seed) if seed is not None else Ed25519PrivateKey.generate()
        enc: serialization.KeySerializationEncryption = (
            serialization.BestAvailableEncryption(passphrase) if passphrase else serialization.NoEncryption()
        )
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, enc)
        self._write(path, pem, key.public_key().public_bytes_raw())
        return self.info(name)

    def _write(self, path: Path, data: bytes, public: bytes) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        path.with_suffix(".pub").write_text(public.hex() + "\n")

    def _read(self, name: str) -> bytes:
        path = self._path(name)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise KeyStoreError(f"no key named {name!r} in {self.directory}") from None

    def _load_private(self, name: str, passphrase: bytes | None) -> Ed25519PrivateKey:
        pem = self._read(name)
        try:
            key = serialization.load_pem_private_key(pem, password=passphrase or None)
        except TypeError as exc:
            # cryptography raises TypeError both for a missing passphrase and for an unneeded one.
            if passphrase:
                raise KeyStoreError(f"key {name!r} is not encrypted, but a passphrase was given") from exc
            raise KeyStoreError(f"key {name!r} is encrypted: a passphrase is needed") from exc
        except ValueError as exc:
            raise KeyStoreError(f"cannot open key {name!r}: wrong passphrase or damaged file") from exc
        if not isinstance(key, Ed25519PrivateKey):
            raise KeyStoreError(f"key {name!r} is not an Ed25519 key")
        return key

    def suite_of(self, name: str) -> Suite:
        """Return the suite of the stored key ``name`` (from its file format)."""
        return SM if _is_sm2_file(self._read(name)[:64]) else ED25519

    def signer(self, name: str, passphrase: bytes | None = None) -> MemorySigner:
        """Open key ``name`` for signing; the signer follows the key's suite."""
        data = self._read(name)
        if _is_sm2_file(data):
            secret, _ = _open_sm2_file(name, data, passphrase)
            return MemorySigner(secret, SM)
        key = self._load_private(name, passphrase)
        seed = key.private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
        )
        return MemorySigner(seed)

    def info(self, name: str) -> KeyInfo:
        """Return a key's public facts (the public key is stored beside the PEM for encrypted keys)."""
        path = self._path(name)
        if not path.exists():
            raise KeyStoreError(f"no key named {name!r} in {self.directory}")
        pub_path = path.with_suffix(".pub")
        data = path.read_bytes()
        encrypted = b"ENCRYPTED" in data[:64]
        suite = ED25519
        if _is_sm2_file(data):
            suite = suite_by_name(SM.name)
            body, _ = _parse_sm2_file(name, data)
            # The file itself holds the public key: it is the authority, the .pub file a convenience copy.
            public = bytes.fromhex(str(body["public_key"]))
            if not pub_path.exists():
                pub_path.write_text(public.hex() + "\n")
        elif pub_path.exists():
            public = bytes.fromhex(pub_path.read_text().strip())
        elif encrypted:
            raise KeyStoreError(f"key {name!r} is encrypted and its .pub file is missing")
        else:
            public = self._load_private(name, None).public_key().public_bytes_raw()
            pub_path.write_text(public.hex() + "\n")
        return KeyInfo(
            name=name,
            public_key=public,
            address=address_of(suite, public),
            encrypted=encrypted,
            path=path,
            suite=suite.name,
        )

    def list(self) -> list[KeyInfo]:
        """Return every key in the store, by name."""
        if not self.directory.is_dir():
            return []
        return [self.info(p.stem) for p in sorted(self.directory.glob("*.pem"))]
