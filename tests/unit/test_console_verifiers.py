"""The console's in-browser verifiers (``trellis/console/static/{receipt,vc,sm3,jcs}.js``) run under node against
``tests/vectors/`` by ``tests/browser/vectors.mjs``: every notary receipt valid with its file and genesis, the
named failures of docs/spec/receipt.md 7, flipped bytes and re-made commit certificates, the eddsa-jcs-2022 vector
and a tampered credential, status-list bits, SM3/SM2 and genesis-hash vectors, and credentials and presentations
signed by the script (did:key) checked against a stand-in node: revoked, suspended, expired, unregistered issuer,
selective disclosure (forged, duplicated), schema, wrong challenge, holder binding, a presentation's credential
count (1 to 16), proofPurpose, a did:trellis key not listed under its purpose or deactivated; and set-change walks
re-signed with the fixture's validator keys (out of order, past the receipt's block, a header before the walk's
start). Skipped only when node is missing or lacks WebCrypto Ed25519.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tests" / "browser" / "vectors.mjs"


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.fail(
            "node is not installed: run `make browser-tools` (Debian nodejs) — the console verifiers cannot be checked"
        )
    probe = subprocess.run(
        [
            node,
            "-e",
            "crypto.subtle.generateKey({name:'Ed25519'},false,['sign']).then(()=>process.exit(0),()=>process.exit(3))",
        ],
        capture_output=True,
        timeout=30,
    )
    if probe.returncode != 0:
        pytest.fail("this node has no WebCrypto Ed25519 (node >= 18.4 needed): install a newer Debian nodejs")
    return node


def test_js_verifiers_agree_with_the_vectors() -> None:
    node = _node()
    run = subprocess.run([node, str(SCRIPT)], capture_output=True, text=True, timeout=300, cwd=ROOT)
    out = run.stdout + run.stderr
    assert run.returncode == 0, out[-4000:]
    summary = re.search(r"^(\d+) passed, (\d+) failed$", run.stdout, re.MULTILINE)
    assert summary is not None, out[-4000:]
    assert summary.group(2) == "0"
    # Every vector family ran (a script that silently skipped a section would print fewer checks).
    assert int(summary.group(1)) >= 135, out[-4000:]
    assert "FAIL" not in run.stdout
