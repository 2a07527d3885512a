"""Files in a blob store: round trips through both real backends, verification of every chunk, encryption at
rest, and refusals that leave nothing behind."""

from __future__ import annotations

import io
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trellis.blobs.files import (
    ChunkCorrupt,
    DecryptionRefused,
    FileNotStored,
    FileTooLarge,
    FileWriter,
    ManifestCorrupt,
    encode_manifest,
    file_id_of,
    get_file,
    iter_file,
    load_manifest,
    put_file,
)
from trellis.blobs.store import BlobStore, MemoryBlobStore
from trellis.core.crypto.suite import ED25519, SM, Suite

CHUNK = 1024
KEY = b"owner-secret-key-0123456789abcdef"


def roundtrip(store: BlobStore, data: bytes, *, suite: Suite = ED25519, secret: bytes | None = None) -> bytes:
    stored = put_file(store, suite, io.BytesIO(data), chunk_bytes=CHUNK, secret=secret)
    out = io.BytesIO()
    get_file(store, suite, stored.file_id, out, secret=secret)
    return out.getvalue()


@pytest.mark.parametrize(
    "size",
    [0, 1, CHUNK - 1, CHUNK, 3 * CHUNK, 3 * CHUNK + 1],
    ids=["empty", "one-byte", "under-a-chunk", "one-chunk", "exactly-3-chunks", "3-chunks-plus-1-byte"],
)
def test_files_round_trip_through_both_backends(real_store: BlobStore, size: int) -> None:
    data = os.urandom(size)
    assert roundtrip(real_store, data) == data


def test_encrypted_files_round_trip_through_both_backends(real_store: BlobStore) -> None:
    data = os.urandom(3 * CHUNK + 1)
    assert roundtrip(real_store, data, secret=KEY) == data


def test_an_encrypted_file_on_an_sm_chain_uses_sm4_gcm_and_round_trips() -> None:
    store = MemoryBlobStore()
    data = os.urandom(2 * CHUNK + 5)
    stored = put_file(store, SM, io.BytesIO(data), chunk_bytes=CHUNK, secret=KEY)
    assert stored.manifest.encryption is not None and stored.manifest.encryption.aead == "sm4-gcm"
    assert b"".join(iter_file(store, SM, stored.file_id, secret=KEY)) == data


def test_chunks_are_stored_under_their_hash_and_the_manifest_under_the_file_id() -> None:
    store = MemoryBlobStore()
    stored = put_file(store, ED25519, io.BytesIO(b"a" * CHUNK + b"b"), chunk_bytes=CHUNK)
    assert set(store.blobs) == {stored.file_id, *stored.manifest.chunks}
    assert store.blobs[stored.file_id] == encode_manifest(stored.manifest)
    assert file_id_of(ED25519, stored.manifest) == stored.file_id
    assert stored.manifest.size == CHUNK + 1 and len(stored.manifest.chunks) == 2


def test_the_file_id_depends_on_the_suite() -> None:
    a = put_file(MemoryBlobStore(), ED25519, io.BytesIO(b"doc"), chunk_bytes=CHUNK)
    b = put_file(MemoryBlobStore(), SM, io.BytesIO(b"doc"), chunk_bytes=CHUNK)
    assert a.file_id != b.file_id


def test_encrypted_chunks_do_not_hold_the_plaintext() -> None:
    store = MemoryBlobStore()
    data = b"confidential " * 200
    stored = put_file(store, ED25519, io.BytesIO(data), chunk_bytes=CHUNK, secret=KEY)
    assert all(b"confidential" not in store.blobs[h] for h in stored.manifest.chunks)


def test_a_tampered_chunk_is_named_by_index_and_hash(real_store: BlobStore) -> None:
    stored = put_file(real_store, ED25519, io.BytesIO(os.urandom(4 * CHUNK)), chunk_bytes=CHUNK)
    bad = stored.manifest.chunks[2]
    damaged = bytearray(real_store.get(bad))
    damaged[100] ^= 1
    real_store.put(bad, bytes(damaged))
    out = io.BytesIO()
    with pytest.raises(ChunkCorrupt, match=rf"chunk 2 \(blob {bad.hex()}\) does not match its hash") as info:
        get_file(real_store, ED25519, stored.file_id, out)
    assert info.value.index == 2 and info.value.chunk_hash == bad
    assert len(out.getvalue()) == 2 * CHUNK  # only verified chunks were written


def test_a_missing_chunk_is_named() -> None:
    store = MemoryBlobStore()
    stored = put_file(store, ED25519, io.BytesIO(os.urandom(2 * CHUNK)), chunk_bytes=CHUNK)
    store.delete(stored.manifest.chunks[1])
    with pytest.raises(ChunkCorrupt, match=r"chunk 1 .* is missing"):
        get_file(store, ED25519, stored.file_id, io.BytesIO())


def test_a_chunk_swapped_for_another_files_chunk_is_refused() -> None:
    store = MemoryBlobStore()
    a = put_file(store, ED25519, io.BytesIO(os.urandom(2 * CHUNK)), chunk_bytes=CHUNK)
    b = put_file(store, ED25519, io.BytesIO(os.urandom(2 * CHUNK)), chunk_bytes=CHUNK)
    store.put(a.manifest.chunks[0], store.get(b.manifest.chunks[0]))
    with pytest.raises(ChunkCorrupt, match="chunk 0 "):
        get_file(store, ED25519, a.file_id, io.BytesIO())


def test_a_tampered_manifest_does_not_hash_to_the_file_id() -> None:
    store = MemoryBlobStore()
    a = put_file(store, ED25519, io.BytesIO(os.urandom(2 * CHUNK)), chunk_bytes=CHUNK)
    b = put_file(store, ED25519, io.BytesIO(os.urandom(2 * CHUNK)), chunk_bytes=CHUNK)
    store.put(a.file_id, store.get(b.file_id))  # a valid manifest, of another file
    with pytest.raises(ManifestCorrupt, match="does not hash to the file id"):
        load_manifest(store, ED25519, a.file_id)


def test_an_undecodable_manifest_is_refused() -> None:
    store = MemoryBlobStore()
    a = put_file(store, ED25519, io.BytesIO(b"x"), chunk_bytes=CHUNK)
    store.put(a.file_id, b"\xc1garbage")
    with pytest.raises(ManifestCorrupt, match="does not decode"):
        load_manifest(store, ED25519, a.file_id)


def test_an_unknown_file_id_is_not_found() -> None:
    with pytest.raises(FileNotStored):
        load_manifest(MemoryBlobStore(), ED25519, bytes(32))


def test_a_wrong_key_is_refused_before_any_chunk_is_read() -> None:
    store = MemoryBlobStore()
    stored = put_file(store, ED25519, io.BytesIO(os.urandom(CHUNK + 1)), chunk_bytes=CHUNK, secret=KEY)
    with pytest.raises(DecryptionRefused, match="wrong key"):
        next(iter_file(store, ED25519, stored.file_id, secret=b"another-secret-0123456789abcdef"))


def test_a_wrong_key_is_refused_even_for_an_empty_file() -> None:
    store = MemoryBlobStore()
    stored = put_file(store, ED25519, io.BytesIO(b""), chunk_bytes=CHUNK, secret=KEY)
    with pytest.raises(DecryptionRefused, match="wrong key"):
        list(iter_file(store, ED25519, stored.file_id, secret=b"another-secret-0123456789abcdef"))
    assert list(iter_file(store, ED25519, stored.file_id, secret=KEY)) == []


def test_an_encrypted_file_needs_its_key() -> None:
    store = MemoryBlobStore()
    stored = put_file(store, ED25519, io.BytesIO(b"doc"), chunk_bytes=CHUNK, secret=KEY)
    with pytest.raises(DecryptionRefused, match="key is needed"):
        list(iter_file(store, ED25519, stored.file_id))


def test_encrypted_chunks_bound_to_their_index_cannot_be_reordered() -> None:
    # Reordering in the manifest changes the file id; a reader who trusts a forged manifest (bypassing the id
    # check) is still stopped by the AEAD, because chunk i is sealed with i as associated data.
    store = MemoryBlobStore()
    stored = put_file(store, ED25519, io.BytesIO(os.urandom(2 * CHUNK)), chunk_bytes=CHUNK, secret=KEY)
    m = stored.manifest
    swapped = type(m)(
        suite=m.suite, size=m.size, chunk_bytes=m.chunk_bytes, encryption=m.encryption, chunks=m.chunks[::-1]
    )
    with pytest.raises(DecryptionRefused, match=r"chunk 0 .* does not decrypt"):
        list(iter_file(store, ED25519, stored.file_id, secret=KEY, manifest=swapped))


def test_a_file_over_the_limit_is_refused_and_leaves_nothing() -> None:
    store = MemoryBlobStore()
    with pytest.raises(FileTooLarge):
        put_file(store, ED25519, io.BytesIO(os.urandom(5 * CHUNK)), chunk_bytes=CHUNK, max_bytes=3 * CHUNK)
    assert store.blobs == {}


def test_abort_keeps_chunks_that_other_files_share() -> None:
    store = MemoryBlobStore()
    shared = os.urandom(CHUNK)
    first = put_file(store, ED25519, io.BytesIO(shared), chunk_bytes=CHUNK)
    w = FileWriter(store, ED25519, chunk_bytes=CHUNK)
    w.write(shared + os.urandom(CHUNK))
    w.abort()
    assert set(store.blobs) == {first.file_id, *first.manifest.chunks}
    assert b"".join(iter_file(store, ED25519, first.file_id)) == shared


class CountingStore(MemoryBlobStore):
    def __init__(self) -> None:
        super().__init__()
        self.gets = 0

    def get(self, key: bytes) -> bytes:
        self.gets += 1
        return super().get(key)


def test_reading_streams_one_chunk_at_a_time() -> None:
    store = CountingStore()
    stored = put_file(store, ED25519, io.BytesIO(os.urandom(5 * CHUNK)), chunk_bytes=CHUNK)
    store.gets = 0
    chunks = iter_file(store, ED25519, stored.file_id)
    next(chunks)
    assert store.gets == 2  # the manifest and the first chunk, nothing ahead
    next(chunks)
    assert store.gets == 3


def test_a_secret_shorter_than_16_bytes_is_refused_for_writing() -> None:
    with pytest.raises(ValueError, match="at least 16 bytes"):
        FileWriter(MemoryBlobStore(), ED25519, secret=b"short")


def test_uploading_a_file_again_repairs_its_damaged_chunks(real_store: BlobStore) -> None:
    data = os.urandom(2 * CHUNK)
    stored = put_file(real_store, ED25519, io.BytesIO(data), chunk_bytes=CHUNK)
    real_store.put(stored.manifest.chunks[1], b"rot")
    again = put_file(real_store, ED25519, io.BytesIO(data), chunk_bytes=CHUNK)
    assert again.file_id == stored.file_id
    assert b"".join(iter_file(real_store, ED25519, stored.file_id)) == data


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(size=st.integers(0, 5000), chunk_bytes=st.integers(1, 2048), encrypt=st.booleans())
def test_any_size_round_trips(size: int, chunk_bytes: int, encrypt: bool) -> None:
    store = MemoryBlobStore()
    data = os.urandom(size)
    secret = KEY if encrypt else None
    stored = put_file(store, ED25519, io.BytesIO(data), chunk_bytes=chunk_bytes, secret=secret)
    assert len(stored.manifest.chunks) == -(-size // chunk_bytes)
    assert b"".join(iter_file(store, ED25519, stored.file_id, secret=secret)) == data


@settings(max_examples=25, deadline=None)
@given(pieces=st.lists(st.binary(max_size=700), max_size=12))
def test_the_file_id_does_not_depend_on_how_the_bytes_arrive(pieces: list[bytes]) -> None:
    data = b"".join(pieces)
    w = FileWriter(MemoryBlobStore(), ED25519, chunk_bytes=256)
    for p in pieces:
        w.write(p)
    whole = put_file(MemoryBlobStore(), ED25519, io.BytesIO(data), chunk_bytes=256)
    assert w.finish().file_id == whole.file_id
