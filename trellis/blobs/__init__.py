"""Blobs: the ``BlobStore`` port (content-keyed immutable blobs) with its adapters — ``LocalBlobStore`` (a
directory), ``S3BlobStore`` (any S3-compatible service, through boto3) and ``MemoryBlobStore`` (the in-memory
twin) — and the trusted file store on top: chunked files, verified chunk by chunk against a manifest whose
Merkle file id the chain can record, with optional encryption at rest under a key held by the file's owner.

May import: ``trellis.core`` (crypto suites, Merkle trees, AEAD, errors), the standard library, ``msgspec``,
``cryptography`` and (in ``s3`` only, lazily) ``boto3``/``botocore``. Must not import ``node``, ``p2p``,
``storage``, ``api``, ``cli`` or ``app``: the node wires a store in (``node/assembly.py``), the API and CLI
use it.
"""

from trellis.blobs.files import (
    BlobFileError,
    ChunkCorrupt,
    DecryptionRefused,
    Encryption,
    FileNotStored,
    FileTooLarge,
    FileWriter,
    Manifest,
    ManifestCorrupt,
    StoredFile,
    chunk_hash,
    file_id_of,
    get_file,
    iter_file,
    load_manifest,
    put_file,
)
from trellis.blobs.s3 import S3BlobStore
from trellis.blobs.store import BlobNotFound, BlobStore, BlobStoreError, LocalBlobStore, MemoryBlobStore

__all__ = [
    "BlobFileError",
    "BlobNotFound",
    "BlobStore",
    "BlobStoreError",
    "ChunkCorrupt",
    "DecryptionRefused",
    "Encryption",
    "FileNotStored",
    "FileTooLarge",
    "FileWriter",
    "LocalBlobStore",
    "Manifest",
    "ManifestCorrupt",
    "MemoryBlobStore",
    "S3BlobStore",
    "StoredFile",
    "chunk_hash",
    "file_id_of",
    "get_file",
    "iter_file",
    "load_manifest",
    "put_file",
]
