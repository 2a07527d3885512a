"""The BlobStore contract, for each adapter, and the local and S3 adapters' own promises."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from trellis.blobs.s3 import S3BlobStore
from trellis.blobs.store import BlobNotFound, BlobStore, BlobStoreError, LocalBlobStore

K1 = bytes(range(32))
K2 = bytes(range(1, 33))


def test_a_put_blob_reads_back_and_is_listed(any_store: BlobStore) -> None:
    any_store.put(K1, b"one")
    any_store.put(K2, b"")
    assert any_store.get(K1) == b"one"
    assert any_store.get(K2) == b""
    assert any_store.has(K1) and any_store.has(K2)
    assert sorted(any_store.list()) == sorted([K1, K2])


def test_a_missing_blob_is_not_found(any_store: BlobStore) -> None:
    assert not any_store.has(K1)
    with pytest.raises(BlobNotFound, match=K1.hex()):
        any_store.get(K1)


def test_delete_removes_a_blob_and_ignores_a_missing_one(any_store: BlobStore) -> None:
    any_store.put(K1, b"x")
    any_store.delete(K1)
    any_store.delete(K1)
    assert not any_store.has(K1)
    assert list(any_store.list()) == []


def test_keys_are_32_bytes(any_store: BlobStore) -> None:
    with pytest.raises(ValueError):
        any_store.put(b"short", b"x")


def test_local_store_files_are_private_and_no_temp_file_remains(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "blobs")
    store.put(K1, b"secret")
    path = tmp_path / "blobs" / K1.hex()[:2] / K1.hex()[2:4] / K1.hex()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    for d in (tmp_path / "blobs", path.parent.parent, path.parent):
        assert stat.S_IMODE(d.stat().st_mode) == 0o700
    assert os.listdir(path.parent) == [K1.hex()]


def test_local_store_ignores_foreign_files_when_listing(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "blobs")
    store.put(K1, b"x")
    (tmp_path / "blobs" / "README").write_text("not a blob")
    assert list(store.list()) == [K1]


def test_an_unreachable_s3_service_is_a_blob_store_error_without_credentials(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDSECRETVALUE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "sekrit-should-never-show")
    store = S3BlobStore("bucket", endpoint_url="http://127.0.0.1:9", attempts=2, backoff_s=0.01)
    with pytest.raises(BlobStoreError) as info:
        store.get(K1)
    assert "sekrit" not in str(info.value) and "AKIDSECRETVALUE" not in str(info.value)


def test_a_missing_s3_bucket_is_a_blob_store_error(s3_client) -> None:  # type: ignore[no-untyped-def]
    store = S3BlobStore("no-such-bucket-here", client=s3_client)
    with pytest.raises(BlobStoreError, match="no-such-bucket-here"):
        store.put(K1, b"x")
