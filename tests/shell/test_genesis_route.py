"""``GET /v1/genesis`` (``trellis/api/genesis.py``): a real node serves its genesis document as JSON that hashes,
by the reference parser and by the console's in-browser verifier (``trellis/console/static/receipt.js`` under
node), to the genesis hash of ``/v1/status``."""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.shell.conftest import ThreadedNode, serve_new_home
from trellis.core.params import load_genesis

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedNode]:
    yield from serve_new_home(tmp_path_factory, "genesis-home")


def get(node: ThreadedNode, path: str) -> tuple[bytes, dict[str, str]]:
    with urllib.request.urlopen(node.url + path, timeout=20) as resp:
        return resp.read(), dict(resp.headers)


def test_the_genesis_route_serves_a_document_with_the_chains_genesis_hash(node: ThreadedNode) -> None:
    body, headers = get(node, "/v1/genesis")
    assert headers["Content-Type"].startswith("application/json")
    status = json.loads(get(node, "/v1/status")[0])
    served = load_genesis(body)
    assert "0x" + served.genesis_hash.hex() == status["genesis_hash"] == headers["X-Trellis-Genesis-Hash"]
    on_disk = load_genesis((node.root / "genesis.json").read_bytes())
    assert served.genesis_hash == on_disk.genesis_hash
    assert json.loads(body)["chain_id"] == status["chain_id"]


def test_the_console_verifier_computes_the_same_genesis_hash(node: ThreadedNode) -> None:
    nodejs = shutil.which("node")
    if nodejs is None:
        pytest.fail("node is not installed: run `make browser-tools` (Debian nodejs)")
    body, _ = get(node, "/v1/genesis")
    status = json.loads(get(node, "/v1/status")[0])
    script = (
        f"const r = await import({json.dumps(str(ROOT / 'trellis/console/static/receipt.js'))});"
        "let t = ''; for await (const c of process.stdin) t += c;"
        "const g = await r.loadGenesis(t); console.log(r.toHex(g.genesisHash));"
    )
    run = subprocess.run(
        [nodejs, "--input-type=module", "-e", script], input=body.decode(), capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0, run.stderr
    assert "0x" + run.stdout.strip() == status["genesis_hash"]
