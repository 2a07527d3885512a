"""The ``BlobStore`` port: immutable byte blobs under 32-byte content keys, and its local and in-memory adapters.

A store keeps what it is given under the key it is given; it does not hash. The file layer
(``trellis.blobs.files``) chooses keys (domain-separated hashes of the content) and verifies every blob it
reads, so a store that returns damaged bytes is caught there, with the blob named.

``LocalBlobStore`` writes each blob to ``DIR/ab/cd/<64 hex digits>`` (two levels of fan-out so that no
directory grows past a few thousand entries): the bytes go to a temporary file in the same directory, are
fsynced, renamed over the final name, and the directory is fsynced, so a crash leaves either the whole blob or
none of it. Files are created 0600 and directories 0700. ``MemoryBlobStore`` is its in-memory twin.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from trellis.core.errors import TrellisError

KEY_BYTES = 32
"""Length of a blob key (a domain-separated hash of the content)."""


class BlobStoreError(TrellisError):
    """The blob store failed (disk full, permission denied, the S3 service refused or is unreachable)."""

    code = "blob_store_error"


class BlobNotFound(TrellisError):
    """No blob under the key asked for."""

    code = "blob_not_found"


def check_key(key: bytes) -> None:
    """Raise ``ValueError`` unless ``key`` is ``KEY_BYTES`` bytes."""
    if not isinstance(key, bytes) or len(key) != KEY_BYTES:
        raise ValueError(f"a blob key is {KEY_BYTES} bytes")


class BlobStore(Protocol):
    """Immutable blobs under 32-byte keys. Writing a key that exists replaces it with (the same) content."""

    def put(self, key: bytes, data: bytes) -> None:
        """Store ``data`` under ``key`` durably: after return it survives a crash; on failure nothing
        partial is visible under ``key``. Raises ``BlobStoreError``."""
        ...

    def get(self, key: bytes) -> bytes:
        """Return the blob under ``key``. Raises ``BlobNotFound`` or ``BlobStoreError``."""
        ...

    def has(self, key: bytes) -> bool:
        """Return True iff a blob is stored under ``key``. Raises ``BlobStoreError``."""
        ...

    def delete(self, key: bytes) -> None:
        """Remove the blob under ``key`` (nothing if there is none). Raises ``BlobStoreError``."""
        ...

    def list(self) -> Iterator[bytes]:
        """Yield every key in the store (in no particular order). Raises ``BlobStoreError``."""
        ...


class MemoryBlobStore:
    """``BlobStore`` in a dict: the in-memory twin for tests and simulation."""

    def __init__(self) -> None:
        self.blobs: dict[bytes, bytes] = {}

    def put(self, key: bytes, data: bytes) -> None:
        check_key(key)
        self.blobs[key] = bytes(data)

    def get(self, key: bytes) -> bytes:
        check_key(key)
        try:
            return self.blobs[key]
        except KeyError:
            raise BlobNotFound(f"no blob {key.hex()}") from None

    def has(self, key: bytes) -> bool:
        check_key(key)
        return key in self.blobs

    def delete(self, key: bytes) -> None:
        check_key(key)
        self.blobs.pop(key, None)

    def list(self) -> Iterator[bytes]:
        return iter(list(self.blobs))


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class LocalBlobStore:
    """``BlobStore`` in a directory on local disk (see the module docstring for the layout and durability).

    Args:
        root: the store's directory; created (0700) if missing.
        fsync: fsync each blob and its directory (turn off only for throwaway stores in tests).

    Raises:
        BlobStoreError: the directory cannot be created.
    """

    def __init__(self, root: Path, *, fsync: bool = True) -> None:
        self.root = root
        self._fsync = fsync
        try:
            root.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise BlobStoreError(f"cannot create the blob directory {root}: {exc.strerror}") from exc

    def _path(self, key: bytes) -> Path:
        check_key(key)
        h = key.hex()
        return self.root / h[:2] / h[2:4] / h

    def put(self, key: bytes, data: bytes) -> None:
        path = self._path(key)
        tmp = path.parent / f".{path.name}.{secrets.token_hex(8)}.tmp"
        try:
            # one level at a time: mkdir(parents=True) would create the first level with the default mode
            path.parent.parent.mkdir(mode=0o700, exist_ok=True)
            path.parent.mkdir(mode=0o700, exist_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                if self._fsync:
                    os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, path)
            if self._fsync:
                _fsync_dir(path.parent)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise BlobStoreError(f"cannot write blob {key.hex()}: {exc.strerror}") from exc

    def get(self, key: bytes) -> bytes:
        path = self._path(key)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise BlobNotFound(f"no blob {key.hex()}") from None
        except OSError as exc:
            raise BlobStoreError(f"cannot read blob {key.hex()}: {exc.strerror}") from exc

    def has(self, key: bytes) -> bool:
        return self._path(key).is_file()

    def delete(self, key: bytes) -> None:
        path = self._path(key)
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            raise BlobStoreError(f"cannot delete blob {key.hex()}: {exc.strerror}") from exc

    def list(self) -> Iterator[bytes]:
        try:
            for path in sorted(self.root.glob("[0-9a-f][0-9a-f]/[0-9a-f][0-9a-f]/*")):
                name = path.name
                if len(name) == 2 * KEY_BYTES and not name.startswith("."):
                    try:
                        yield bytes.fromhex(name)
                    except ValueError:
                        continue  # not a blob: someone else's file
        except OSError as exc:
            raise BlobStoreError(f"cannot list the blob directory {self.root}: {exc.strerror}") from exc
