"""Signers and the file keystore."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from trellis.core.crypto.suite import ED25519, Suite, address_of, ed25519_keypair_from_seed, ed25519_sign
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
    """An Ed25519 signer holding its 32-byte seed in memory."""

    def __init__(self, seed: bytes) -> None:
        self._secret, self._public = ed25519_keypair_from_seed(seed)

    @property
    def public_key(self) -> bytes:
        return self._public

    def sign(self, message: bytes) -> bytes:
        return ed25519_sign(self._secret, message)

    def __repr__(self) -> str:  # never show the secret
        return f"MemorySigner(public_key={self._public.hex()})"


@dataclass(frozen=True)
class KeyInfo:
    """Public facts about a stored key."""

    name: str
    public_key: bytes
    address: bytes
    encrypted: bool
    path: Path


class KeyStore:
    """A directory of Ed25519 keys, one PKCS#8 PEM file per key (``NAME.pem``, mode 0600)."""

    def __init__(self, directory: Path, suite: Suite = ED25519) -> None:
        self.directory = directory
        self.suite = suite

    def _path(self, name: str) -> Path:
        if not _NAME.match(name):
            raise KeyStoreError(f"invalid key name {name!r}: use 1-64 letters, digits, '.', '_' or '-'")
        return self.directory / f"{name}.pem"

    def create(self, name: str, passphrase: bytes | None = None, seed: bytes | None = None) -> KeyInfo:
        """Generate (or import from ``seed``) a key and write it; refuse to overwrite an existing one."""
        path = self._path(name)
        if path.exists():
            raise KeyStoreError(f"key {name!r} already exists at {path}")
        key = Ed25519PrivateKey.from_private_bytes(seed) if seed is not None else Ed25519PrivateKey.generate()
        enc: serialization.KeySerializationEncryption = (
            serialization.BestAvailableEncryption(passphrase) if passphrase else serialization.NoEncryption()
        )
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, enc)
        self.directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
        path.with_suffix(".pub").write_text(key.public_key().public_bytes_raw().hex() + "\n")
        return self.info(name)

    def _load_private(self, name: str, passphrase: bytes | None) -> Ed25519PrivateKey:
        path = self._path(name)
        try:
            pem = path.read_bytes()
        except FileNotFoundError:
            raise KeyStoreError(f"no key named {name!r} in {self.directory}") from None
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

    def signer(self, name: str, passphrase: bytes | None = None) -> MemorySigner:
        """Open key ``name`` for signing."""
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
        encrypted = b"ENCRYPTED" in path.read_bytes()[:64]
        if pub_path.exists():
            public = bytes.fromhex(pub_path.read_text().strip())
        elif encrypted:
            raise KeyStoreError(f"key {name!r} is encrypted and its .pub file is missing")
        else:
            public = self._load_private(name, None).public_key().public_bytes_raw()
            pub_path.write_text(public.hex() + "\n")
        return KeyInfo(
            name=name, public_key=public, address=address_of(self.suite, public), encrypted=encrypted, path=path
        )

    def list(self) -> list[KeyInfo]:
        """Return every key in the store, by name."""
        if not self.directory.is_dir():
            return []
        return [self.info(p.stem) for p in sorted(self.directory.glob("*.pem"))]
