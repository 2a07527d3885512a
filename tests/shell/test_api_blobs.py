"""The file store wired into an assembled node: ``[blobs]`` gives the node a local store in its home, and the
node's API stores and serves files through it."""

from __future__ import annotations

import os
from pathlib import Path

from .conftest import ApiHarness, node_config


def test_an_assembled_node_stores_and_serves_files_in_its_home(tmp_path: Path) -> None:
    api = ApiHarness(tmp_path / "home", node_config())
    try:
        data = os.urandom(3 * 1024 * 1024 + 17)
        put = api.request("PUT", "/v1/blobs", data=data)
        assert put.status == 201, put.body
        info = put.json()
        assert info["chunk_count"] == 4 and info["suite"] == "ed25519"
        got = api.get(f"/v1/blobs/{info['file_id']}")
        assert got.status == 200 and got.body == data
        blob_dir = tmp_path / "home" / "blobs"
        assert sum(1 for p in blob_dir.rglob("*") if p.is_file()) == 5  # four chunks and the manifest
    finally:
        api.close()
