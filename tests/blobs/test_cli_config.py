"""``trellis blob put|get|keygen`` on a home's store, and the ``[blobs]`` configuration wired to each backend."""

from __future__ import annotations

import io
import os
import uuid
from pathlib import Path

import msgspec
import pytest

from trellis.blobs.files import get_file, put_file
from trellis.blobs.s3 import S3BlobStore
from trellis.blobs.store import LocalBlobStore
from trellis.cli.main import main
from trellis.core.crypto.suite import ED25519
from trellis.node.assembly import blob_store
from trellis.node.config import BlobsSection, NodeConfig


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("home")
    assert main(["init", "--home", str(root)]) == 0
    return root


def test_blob_put_then_get_writes_the_verified_file(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "doc.bin"
    src.write_bytes(os.urandom(70_000))
    capsys.readouterr()
    assert main(["blob", "put", str(src), "--home", str(home), "--chunk-bytes", "16384"]) == 0
    file_id = capsys.readouterr().out.strip()
    assert len(file_id) == 64
    out = tmp_path / "out.bin"
    assert main(["blob", "get", file_id, str(out), "--home", str(home)]) == 0
    assert out.read_bytes() == src.read_bytes()


def test_blob_get_with_the_wrong_key_fails_and_writes_nothing(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key, other = tmp_path / "k", tmp_path / "other"
    assert main(["blob", "keygen", str(key)]) == 0
    assert main(["blob", "keygen", str(other)]) == 0
    assert main(["blob", "keygen", str(key)]) == 1  # never overwrites a key
    assert os.stat(key).st_mode & 0o777 == 0o600
    src = tmp_path / "secret.txt"
    src.write_bytes(b"medical record " * 5000)
    capsys.readouterr()
    assert main(["blob", "put", str(src), "--home", str(home), "--encrypt-key-file", str(key)]) == 0
    file_id = capsys.readouterr().out.strip()
    out = tmp_path / "out.txt"
    assert main(["blob", "get", file_id, str(out), "--home", str(home), "--key-file", str(other)]) == 1
    assert "wrong key" in capsys.readouterr().err
    assert not out.exists() and list(tmp_path.glob(".out.txt.*")) == []
    assert main(["blob", "get", file_id, str(out), "--home", str(home), "--key-file", str(key)]) == 0
    assert out.read_bytes() == src.read_bytes()


def test_blob_get_refuses_a_malformed_file_id(home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["blob", "get", "nothex", str(tmp_path / "o"), "--home", str(home)]) == 1
    assert "not a file id" in capsys.readouterr().err


def test_the_default_configuration_is_a_local_store_in_the_home(tmp_path: Path) -> None:
    store = blob_store(NodeConfig().blobs, tmp_path)
    assert isinstance(store, LocalBlobStore) and store.root == tmp_path / "blobs"


def test_an_s3_backend_needs_a_bucket() -> None:
    with pytest.raises(msgspec.ValidationError, match="s3_bucket"):
        msgspec.convert({"blobs": {"backend": "s3"}}, NodeConfig)


def test_an_s3_configuration_reaches_the_server_with_credentials_from_the_environment(
    s3_server, s3_client, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    bucket = f"cfg-{uuid.uuid4().hex[:16]}"
    s3_client.create_bucket(Bucket=bucket)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    section = BlobsSection(backend="s3", s3_endpoint=s3_server.url, s3_bucket=bucket, s3_prefix="files/")
    store = blob_store(section, tmp_path)
    assert isinstance(store, S3BlobStore)
    data = os.urandom(5000)
    stored = put_file(store, ED25519, io.BytesIO(data), chunk_bytes=1024)
    out = io.BytesIO()
    get_file(store, ED25519, stored.file_id, out)
    assert out.getvalue() == data
    names = [o["Key"] for o in s3_client.list_objects_v2(Bucket=bucket)["Contents"]]
    assert names and all(n.startswith("files/") for n in names)
