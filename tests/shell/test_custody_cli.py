"""``trellis custody ...`` and the custody routes against a real node on a local port (docs/spec/custody.md 6, 7):
register a local file and a blob-store file, wait for a round, answer its challenges with ``custody respond``
(segments and paths computed by the CLI), read the files, challenges and missed records; bad input gets 400 with a
reason, and the CLI names the problem.

The home is ``trellis init`` with genesis ``custody`` set to a round every 2 blocks, 2 challenges a round and a long
window; the node makes an empty block every 50 ms, so rounds come by themselves.
"""

from __future__ import annotations

import argparse
import json
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from trellis.blobs import LocalBlobStore, load_manifest
from trellis.cli.custody import FileSource
from trellis.core.crypto.suite import ED25519
from trellis.node.home import init_home

from .conftest import ThreadedNode, node_config
from .conftest import run_cli as _run
from .conftest import run_cli_json as _json

WAIT_S = 20.0


@pytest.fixture(scope="module")
def cnode(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedNode]:
    root = tmp_path_factory.mktemp("custody-home")
    home = init_home(root)
    genesis = json.loads(home.genesis.read_text())
    genesis["custody"] = {"challenge_interval": 2, "challenges_per_round": 2, "response_window_blocks": 2000}
    home.genesis.write_text(json.dumps(genesis, indent=2))
    tn = ThreadedNode(root, node_config(empty_block_interval_ms=50))
    try:
        yield tn
    finally:
        tn.close()


def _get(node: ThreadedNode, path: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(node.url + path, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _wait_open(node: ThreadedNode, org: str, n: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        status, res = _get(node, f"/v1/custody/challenges?org={org}")
        assert status == 200, res
        if len(res["challenges"]) >= n:
            return list(res["challenges"])
        time.sleep(0.1)
    raise AssertionError(f"no {n} open challenges of {org} within {WAIT_S} s")


def test_register_respond_and_read(cnode: ThreadedNode, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    data = bytes(range(256)) * 90 + b"tail"  # 23,044 bytes: 6 segments, the last one short
    local = tmp_path / "kept.bin"
    local.write_bytes(data)

    # Only an org member may register.
    code, out_text, _ = _run(capsys, cnode, "custody", "register", "--file", str(local), "--from", "alice")
    assert code == 1 and "FAILED code 2" in out_text and "no valid certificate" in out_text
    assert _run(capsys, cnode, "certs", "issue", "--org", "org0", "--role", "client", "--key", "alice")[0] == 0
    cert = cnode.root / "certs" / "alice.crt"
    assert _json(capsys, cnode, "certs", "register", "--from", "alice", "--cert", str(cert))["receipt"]["code"] == 0

    res = _json(capsys, cnode, "custody", "register", "--file", str(local), "--from", "alice")
    assert res["receipt"]["code"] == 0, res
    file_id = res["receipt"]["events"][0]["attributes"]["file_id"]
    # The blob: encrypted, in 5,000-byte chunks, so segments straddle sealed chunks (the stored bytes are registered).
    key = tmp_path / "blob.key"
    assert _run(capsys, cnode, "blob", "keygen", str(key))[0] == 0
    put = ("blob", "put", str(local), "--encrypt-key-file", str(key), "--chunk-bytes", "5000")
    blob_id = _run(capsys, cnode, *put)[1].strip()
    res = _json(capsys, cnode, "custody", "register", "--blob-id", blob_id, "--from", "alice")
    assert res["receipt"]["code"] == 0, res

    # The CLI reads the blob's stored (sealed) bytes: every segment, read alone, is the stored bytes' own, and the
    # root it computes is the registered one.
    store = LocalBlobStore(cnode.root / "blobs")
    manifest = load_manifest(store, ED25519, bytes.fromhex(blob_id))
    stored = b"".join(store.get(c) for c in manifest.chunks)
    assert len(stored) == len(data) + 16 * 5
    src = FileSource.blob(argparse.Namespace(home=str(cnode.root), node=None), ED25519, bytes.fromhex(blob_id))
    assert [src.segment(i) for i in range(6)] == [stored[i * 4096 : (i + 1) * 4096] for i in range(6)]
    _, reg2 = _get(cnode, f"/v1/custody/files/0x{blob_id}")
    assert reg2["registrations"][0]["segment_root"] == "0x" + src.root(ED25519).hex()
    assert reg2["registrations"][0]["size"] == len(stored)

    status, reg = _get(cnode, f"/v1/custody/files/{file_id}")
    assert status == 200 and [(r["org"], r["size"], r["segment_count"]) for r in reg["registrations"]] == [
        ("org0", len(data), 6)
    ]

    _wait_open(cnode, "org0", 2)
    out = _json(
        capsys, cnode, "custody", "respond", "--org", "org0", "--file", str(local), "--blobs", "--from", "alice"
    )
    assert out["failed"] == 0 and out["answered"] >= 2, out
    _, reg = _get(cnode, f"/v1/custody/files/{file_id}")
    _, reg2 = _get(cnode, f"/v1/custody/files/0x{blob_id}")
    assert reg["registrations"][0]["answered"] + reg2["registrations"][0]["answered"] >= 2
    status, closed = _get(cnode, "/v1/custody/challenges?org=org0&open=false")
    assert status == 200 and {c["status"] for c in closed["challenges"]} == {"answered"}
    assert all(c["responder"] for c in closed["challenges"])
    status, missed = _get(cnode, "/v1/custody/missed/org0")
    assert (status, missed["records"]) == (200, [])

    # watch answers what comes (one pass here); release is refused while challenges are open on the file.
    _wait_open(cnode, "org0", 1)
    code, out_text, _ = _run(
        capsys,
        cnode,
        "custody",
        "watch",
        "--org",
        "org0",
        "--file",
        str(local),
        "--blobs",
        "--from",
        "alice",
        "--rounds",
        "1",
        "--interval",
        "0.1",
    )
    assert code == 0 and "answered" in out_text, out_text
    _wait_open(cnode, "org0", 1)
    open_ids = {c["file_id"] for c in _get(cnode, "/v1/custody/challenges?org=org0")[1]["challenges"]}
    code, out_text, _ = _run(capsys, cnode, "custody", "release", sorted(open_ids)[0], "--from", "alice")
    assert code == 1 and "FAILED code 16" in out_text and "open challenge" in out_text, out_text

    # Without the file, a challenge cannot be answered: the CLI says so and exits 1.
    _wait_open(cnode, "org0", 1)
    code, out_text, _ = _run(capsys, cnode, "custody", "respond", "--org", "org0", "--from", "alice")
    assert code == 1 and "no local file or blob" in out_text


def test_bad_input_is_refused_with_a_reason(cnode: ThreadedNode, capsys: pytest.CaptureFixture[str]) -> None:
    for path, code in (
        ("/v1/custody/files/xyz", "bad_file_id"),
        ("/v1/custody/challenges", "bad_org"),
        ("/v1/custody/challenges?org=org0&open=maybe", "bad_parameter"),
        ("/v1/custody/challenges?org=org0&after=12", "bad_id"),
        ("/v1/custody/challenges?org=org0&limit=101", "bad_parameter"),
        ("/v1/custody/missed/org0?after=zz", "bad_id"),
    ):
        status, body = _get(cnode, path)
        assert (status, body.get("code")) == (400, code), (path, body)
    status, body = _get(cnode, "/v1/custody/files/0x" + "00" * 32)
    assert status == 404 and "no organisation" in body["detail"]

    code, _, err = _run(capsys, cnode, "custody", "register", "--from", "alice")
    assert code == 1 and "exactly one of --file and --blob-id" in err
    code, _, err = _run(capsys, cnode, "custody", "register", "--blob-id", "0x12", "--from", "alice")
    assert code == 1 and "not a blob file id" in err
    code, _, err = _run(capsys, cnode, "custody", "register", "--file", "/nonexistent/x", "--from", "alice")
    assert code == 1 and "cannot read /nonexistent/x" in err
