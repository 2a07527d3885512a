"""Files in a ``BlobStore``: fixed-size chunks, each stored under its hash, a manifest, and a Merkle file id.

Layout (``docs``: this docstring is the specification; ``H`` is the chain suite's hash, SHA-256 or SM3):

- The file is cut into chunks of ``chunk_bytes`` (the last may be shorter; an empty file has no chunks).
- Each chunk is stored as a blob under ``chunk_hash = tagged_hash("trellis/blobs/chunk/v1", stored bytes)``.
- ``root = merkle_root(chunk hashes)`` (``trellis.core.crypto.merkle``: RFC 6962 shape, domain-separated leaves
  and nodes; 32 zero bytes for no chunks).
- ``file_id = tagged_hash("trellis/blobs/file/v1", root || msgpack([version, suite, size, chunk_bytes,
  encryption]))``: the id commits to every chunk, their order, the size and the encryption parameters.
- The manifest (``Manifest``: those fields plus the list of chunk hashes, canonical msgpack) is stored as a blob
  under ``file_id`` itself. A reader recomputes the id from the manifest it fetched, then checks each chunk
  against the manifest as it streams it, so a damaged or swapped chunk or manifest is named, never returned.

Encryption at rest (optional): the owner holds a secret (at least 16 bytes). Each file draws a random 32-byte
salt; ``HKDF(H, secret, salt, info="trellis/blobs/file-key/v1")`` gives the file key (32 bytes for AES-256-GCM
on an ``ed25519`` chain, 16 for SM4-GCM on an ``sm`` chain) followed by a 16-byte key check stored in the
manifest, so a wrong secret is refused before any chunk is read, even for an empty file. Chunk ``i`` is sealed
with nonce ``i`` (12 bytes big-endian: the key serves one file only, so a nonce is never reused) and associated
data ``"trellis/blobs/chunk-aad/v1" || i`` (8 bytes big-endian), so chunks cannot be reordered.

The file id of an encrypted file is over the *ciphertext* chunks. Decision and reasons: the id that goes on chain
then reveals nothing about the plaintext (a plaintext hash would let anyone who can guess the document confirm
it); the node, which never holds the key, can still verify what it stores and serves; and the AEAD tag already
binds each plaintext chunk to its ciphertext under the owner's key. Anchoring the plaintext itself is the
notary's job (it hashes the document locally).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, BinaryIO, Literal

import msgspec
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from trellis.blobs.store import BlobNotFound, BlobStore, check_key
from trellis.core.crypto.aead import NONCE_SIZE, TAG_SIZE, AeadError, aead_key_size, aead_open, aead_seal
from trellis.core.crypto.merkle import merkle_root
from trellis.core.crypto.suite import Suite
from trellis.core.errors import TrellisError

CHUNK_TAG = b"trellis/blobs/chunk/v1"
FILE_TAG = b"trellis/blobs/file/v1"
AAD_TAG = b"trellis/blobs/chunk-aad/v1"
KEY_INFO = b"trellis/blobs/file-key/v1"
MANIFEST_VERSION: Literal[1] = 1
DEFAULT_CHUNK_BYTES = 1024 * 1024
MAX_CHUNK_BYTES = 64 * 1024 * 1024
MAX_CHUNKS = 1 << 20
"""Most chunks in one file (the manifest then holds 32 MiB of hashes)."""
MAX_MANIFEST_BYTES = MAX_CHUNKS * 34 + 4096
MIN_SECRET_BYTES = 16
SALT_BYTES = 32
KEY_CHECK_BYTES = 16

_AEAD_OF_SUITE = {"ed25519": "aes-256-gcm", "sm": "sm4-gcm"}
_KDF_OF_SUITE = {"ed25519": "hkdf-sha256", "sm": "hkdf-sm3"}

Bytes32 = Annotated[bytes, msgspec.Meta(min_length=32, max_length=32)]


class BlobFileError(TrellisError):
    """A file that cannot be stored or read as asked. ``code`` names the rule (see the subclasses)."""

    code = "blob_error"


class ChunkCorrupt(BlobFileError):
    """A stored chunk that is missing, or whose bytes do not match the manifest; ``index`` and ``chunk_hash``
    name it."""

    code = "chunk_corrupt"

    def __init__(self, file_id: bytes, index: int, chunk_hash: bytes, reason: str) -> None:
        super().__init__(f"file {file_id.hex()}: chunk {index} (blob {chunk_hash.hex()}) {reason}")
        self.index = index
        self.chunk_hash = chunk_hash


class ManifestCorrupt(BlobFileError):
    """A manifest that is undecodable, inconsistent, or does not hash to the file id asked for."""

    code = "manifest_corrupt"


class FileNotStored(BlobFileError):
    """No manifest under the file id asked for."""

    code = "file_not_found"


class FileTooLarge(BlobFileError):
    """More bytes than the writer's limit."""

    code = "file_too_large"


class DecryptionRefused(BlobFileError):
    """The key does not open the file (wrong secret), a chunk does not authenticate, or a key is missing."""

    code = "decryption_refused"


class Encryption(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, array_like=True):
    """How a file's chunks are sealed."""

    aead: Literal["aes-256-gcm", "sm4-gcm"]
    """The AEAD: AES-256-GCM on an ``ed25519`` chain, SM4-GCM on an ``sm`` chain."""
    kdf: Literal["hkdf-sha256", "hkdf-sm3"]
    """The KDF deriving the file key from the owner's secret."""
    salt: Bytes32
    """This file's random HKDF salt."""
    key_check: Annotated[bytes, msgspec.Meta(min_length=KEY_CHECK_BYTES, max_length=KEY_CHECK_BYTES)]
    """The 16 HKDF output bytes after the key: equal iff the secret is right."""


class Manifest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, array_like=True):
    """What a file is made of; stored as a blob under the file id."""

    version: Literal[1] = MANIFEST_VERSION
    """Manifest format version."""
    suite: Literal["ed25519", "sm"]
    """The chain suite whose hash made the chunk hashes and the file id."""
    size: Annotated[int, msgspec.Meta(ge=0, le=MAX_CHUNKS * MAX_CHUNK_BYTES)]
    """Plaintext size in bytes."""
    chunk_bytes: Annotated[int, msgspec.Meta(ge=1, le=MAX_CHUNK_BYTES)]
    """Plaintext bytes per chunk (the last chunk may be shorter)."""
    encryption: Encryption | None = None
    """Encryption parameters, or None for a file stored in the clear."""
    chunks: Annotated[list[Bytes32], msgspec.Meta(max_length=MAX_CHUNKS)]
    """The stored chunks' hashes, in order."""


_ENCODER = msgspec.msgpack.Encoder()
_MANIFEST_DECODER = msgspec.msgpack.Decoder(Manifest)


def encode_manifest(manifest: Manifest) -> bytes:
    """The manifest's canonical msgpack bytes."""
    return _ENCODER.encode(manifest)


def chunk_hash(suite: Suite, stored: bytes) -> bytes:
    """The blob key of a stored chunk: ``tagged_hash("trellis/blobs/chunk/v1", stored)``."""
    return suite.tagged_hash(CHUNK_TAG, stored)


def file_id_of(suite: Suite, manifest: Manifest) -> bytes:
    """The file id that ``manifest`` describes (see the module docstring)."""
    root = merkle_root(suite, manifest.chunks)
    meta = _ENCODER.encode([manifest.version, manifest.suite, manifest.size, manifest.chunk_bytes, manifest.encryption])
    return suite.tagged_hash(FILE_TAG, root + meta)


def _chunk_count(size: int, chunk_bytes: int) -> int:
    return -(-size // chunk_bytes)


def _plain_len(manifest: Manifest, index: int) -> int:
    if index < len(manifest.chunks) - 1:
        return manifest.chunk_bytes
    return manifest.size - manifest.chunk_bytes * (len(manifest.chunks) - 1)


def _derive(suite: Suite, secret: bytes, salt: bytes) -> tuple[bytes, bytes]:
    if len(secret) < MIN_SECRET_BYTES:
        raise DecryptionRefused(f"an encryption secret is at least {MIN_SECRET_BYTES} bytes")
    key_size = aead_key_size(suite.name)
    algorithm: hashes.HashAlgorithm = hashes.SHA256() if suite.name == "ed25519" else hashes.SM3()
    out = HKDF(algorithm=algorithm, length=key_size + KEY_CHECK_BYTES, salt=salt, info=KEY_INFO).derive(secret)
    return out[:key_size], out[key_size:]


def _nonce(index: int) -> bytes:
    return index.to_bytes(NONCE_SIZE, "big")


def _aad(index: int) -> bytes:
    return AAD_TAG + index.to_bytes(8, "big")


@dataclass(frozen=True)
class StoredFile:
    """A file written to a store: its id and manifest."""

    file_id: bytes
    manifest: Manifest


class FileWriter:
    """Streams one file into a store: ``write`` bytes as they come, then ``finish`` (or ``abort``).

    Chunks are stored as soon as they are full; the manifest last, so a file id exists only once every chunk
    does. ``abort`` (or a failed ``write``/``finish``) removes the chunks this writer added (chunks that
    were already present, shared with other files, are left alone), so a refused upload stores nothing.

    Args:
        store: where the blobs go.
        suite: the chain's crypto suite (its hash, and its AEAD if encrypting).
        chunk_bytes: plaintext bytes per chunk.
        secret: the owner's secret to encrypt with (at least 16 bytes), or None to store in the clear.
        max_bytes: refuse (``FileTooLarge``, after aborting) a file longer than this.
    """

    def __init__(
        self,
        store: BlobStore,
        suite: Suite,
        *,
        chunk_bytes: int = DEFAULT_CHUNK_BYTES,
        secret: bytes | None = None,
        max_bytes: int | None = None,
    ) -> None:
        if not 1 <= chunk_bytes <= MAX_CHUNK_BYTES:
            raise ValueError(f"chunk_bytes must be 1 to {MAX_CHUNK_BYTES}")
        self.store = store
        self.suite = suite
        self.chunk_bytes = chunk_bytes
        self.max_bytes = MAX_CHUNKS * chunk_bytes if max_bytes is None else min(max_bytes, MAX_CHUNKS * chunk_bytes)
        self.size = 0
        self._buf = bytearray()
        self._hashes: list[bytes] = []
        self._created: list[bytes] = []
        self._done = False
        # write, finish and abort may run in worker threads (the REST API): abort waits for a write in flight
        self._lock = threading.RLock()
        self._encryption: Encryption | None = None
        self._key = b""
        if secret is not None:
            if len(secret) < MIN_SECRET_BYTES:
                raise ValueError(f"an encryption secret is at least {MIN_SECRET_BYTES} bytes")
            salt = os.urandom(SALT_BYTES)
            self._key, check = _derive(suite, secret, salt)
            self._encryption = Encryption(
                aead=_AEAD_OF_SUITE[suite.name],  # type: ignore[arg-type]
                kdf=_KDF_OF_SUITE[suite.name],  # type: ignore[arg-type]
                salt=salt,
                key_check=check,
            )

    def _store_chunk(self, plain: bytes) -> None:
        index = len(self._hashes)
        stored = plain
        if self._encryption is not None:
            stored = aead_seal(self.suite.name, self._key, _nonce(index), plain, _aad(index))
        key = chunk_hash(self.suite, stored)
        if not self.store.has(key):
            self._created.append(key)
        # Written even when present: a damaged copy of a shared chunk is repaired by the next upload of it.
        self.store.put(key, stored)
        self._hashes.append(key)

    def write(self, data: bytes) -> None:
        """Add ``data`` to the file. Raises ``FileTooLarge`` (having aborted) past ``max_bytes``, and
        ``BlobStoreError`` (having aborted) if the store fails."""
        with self._lock:
            if self._done:
                raise RuntimeError("the writer is finished or aborted")
            self.size += len(data)
            if self.size > self.max_bytes:
                self.abort()
                raise FileTooLarge(f"the file is larger than the limit of {self.max_bytes} bytes")
            self._buf += data
            try:
                n = self.chunk_bytes
                start = 0
                with memoryview(self._buf) as view:
                    while len(view) - start >= n:
                        self._store_chunk(bytes(view[start : start + n]))
                        start += n
                del self._buf[:start]
            except BaseException:
                self.abort()
                raise

    def finish(self) -> StoredFile:
        """Store the last chunk and the manifest; return the file's id and manifest. Raises
        ``BlobStoreError`` (having aborted) if the store fails."""
        with self._lock:
            return self._finish()

    def _finish(self) -> StoredFile:
        if self._done:
            raise RuntimeError("the writer is finished or aborted")
        try:
            if self._buf:
                self._store_chunk(bytes(self._buf))
                self._buf.clear()
            manifest = Manifest(
                suite=self.suite.name,  # type: ignore[arg-type]
                size=self.size,
                chunk_bytes=self.chunk_bytes,
                encryption=self._encryption,
                chunks=self._hashes,
            )
            file_id = file_id_of(self.suite, manifest)
            self.store.put(file_id, encode_manifest(manifest))
        except BaseException:
            self.abort()
            raise
        self._done = True
        return StoredFile(file_id, manifest)

    def abort(self) -> None:
        """Remove the chunks this writer added; the writer can no longer be used. Best effort: a store that
        fails here leaves orphan chunks (unreferenced, harmless), never a file id."""
        with self._lock:
            if self._done:
                return
            self._done = True
            self._buf.clear()
            for key in reversed(self._created):
                try:
                    self.store.delete(key)
                except TrellisError:
                    pass
            self._created.clear()


def put_file(
    store: BlobStore,
    suite: Suite,
    source: BinaryIO,
    *,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    secret: bytes | None = None,
    max_bytes: int | None = None,
) -> StoredFile:
    """Store everything readable from ``source`` as one file (streaming: one chunk in memory at a time)."""
    writer = FileWriter(store, suite, chunk_bytes=chunk_bytes, secret=secret, max_bytes=max_bytes)
    while True:
        data = source.read(chunk_bytes)
        if not data:
            return writer.finish()
        writer.write(data)


def load_manifest(store: BlobStore, suite: Suite, file_id: bytes) -> Manifest:
    """Fetch the manifest of ``file_id`` and check it: it decodes, is consistent, and hashes to ``file_id``.

    Raises:
        FileNotStored: no manifest under ``file_id``.
        ManifestCorrupt: the manifest fails a check (the message says which).
        BlobStoreError: the store failed.
    """
    check_key(file_id)
    try:
        raw = store.get(file_id)
    except BlobNotFound:
        raise FileNotStored(f"no file {file_id.hex()} in the blob store") from None
    if len(raw) > MAX_MANIFEST_BYTES:
        raise ManifestCorrupt(f"file {file_id.hex()}: the manifest is larger than any manifest can be")
    try:
        manifest = _MANIFEST_DECODER.decode(raw)
    except msgspec.DecodeError as exc:
        raise ManifestCorrupt(f"file {file_id.hex()}: the manifest does not decode: {exc}") from None
    if manifest.suite != suite.name:
        raise ManifestCorrupt(f"file {file_id.hex()}: the manifest is for suite {manifest.suite!r}, not {suite.name!r}")
    if len(manifest.chunks) != _chunk_count(manifest.size, manifest.chunk_bytes):
        raise ManifestCorrupt(
            f"file {file_id.hex()}: the manifest lists {len(manifest.chunks)} chunks for {manifest.size} bytes "
            f"in chunks of {manifest.chunk_bytes}"
        )
    if file_id_of(suite, manifest) != file_id or encode_manifest(manifest) != raw:
        raise ManifestCorrupt(f"file {file_id.hex()}: the manifest does not hash to the file id")
    return manifest


def iter_file(
    store: BlobStore, suite: Suite, file_id: bytes, *, secret: bytes | None = None, manifest: Manifest | None = None
) -> Iterator[bytes]:
    """Yield the plaintext of ``file_id`` chunk by chunk, each verified before it is yielded.

    Args:
        store: the blob store.
        suite: the chain's crypto suite.
        file_id: the file's id.
        secret: the owner's secret, for an encrypted file.
        manifest: the manifest, if already loaded with ``load_manifest`` (it is not checked again).

    Raises:
        FileNotStored, ManifestCorrupt: as ``load_manifest``.
        ChunkCorrupt: a chunk is missing, does not match its hash, or has the wrong length (names the chunk).
        DecryptionRefused: the file is encrypted and ``secret`` is missing or wrong, or a chunk does not
            authenticate (names the chunk).
        BlobStoreError: the store failed.
    """
    m = manifest if manifest is not None else load_manifest(store, suite, file_id)
    key = b""
    if m.encryption is not None:
        if secret is None:
            raise DecryptionRefused(f"file {file_id.hex()} is encrypted: its owner's key is needed")
        key, check = _derive(suite, secret, m.encryption.salt)
        if check != m.encryption.key_check:
            raise DecryptionRefused(f"file {file_id.hex()}: the key does not open this file (wrong key)")
    for index, h in enumerate(m.chunks):
        try:
            stored = store.get(h)
        except BlobNotFound:
            raise ChunkCorrupt(file_id, index, h, "is missing from the store") from None
        if chunk_hash(suite, stored) != h:
            raise ChunkCorrupt(file_id, index, h, "does not match its hash (tampered or damaged)")
        expected = _plain_len(m, index)
        if m.encryption is None:
            plain = stored
        else:
            try:
                plain = aead_open(suite.name, key, _nonce(index), stored, _aad(index))
            except AeadError:
                raise DecryptionRefused(
                    f"file {file_id.hex()}: chunk {index} (blob {h.hex()}) does not decrypt with this key"
                ) from None
        if len(plain) != expected:
            raise ChunkCorrupt(file_id, index, h, f"holds {len(plain)} bytes, the manifest says {expected}")
        yield plain


def get_file(store: BlobStore, suite: Suite, file_id: bytes, out: BinaryIO, *, secret: bytes | None = None) -> Manifest:
    """Write the verified plaintext of ``file_id`` to ``out``; return its manifest. Raises as ``iter_file``;
    on an error ``out`` holds only chunks that were verified (the caller discards it)."""
    manifest = load_manifest(store, suite, file_id)
    for chunk in iter_file(store, suite, file_id, secret=secret, manifest=manifest):
        out.write(chunk)
    return manifest


def sealed_size(manifest: Manifest) -> int:
    """Bytes the file's chunks occupy in the store."""
    extra = TAG_SIZE * len(manifest.chunks) if manifest.encryption is not None else 0
    return manifest.size + extra


__all__ = [
    "BlobFileError",
    "ChunkCorrupt",
    "DecryptionRefused",
    "Encryption",
    "FileNotStored",
    "FileTooLarge",
    "FileWriter",
    "Manifest",
    "ManifestCorrupt",
    "StoredFile",
    "chunk_hash",
    "file_id_of",
    "get_file",
    "iter_file",
    "load_manifest",
    "put_file",
]
