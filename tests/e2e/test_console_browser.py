"""Issue 17's browser tests (ADR 0017 section 4): a real one-validator network, data made through the real CLI,
and the console served by the node driven in headless Debian chromium by ``tests/browser/run.mjs``
(npm playwright-core): the explorer shows a just-committed transfer; verifying a tampered file in the browser names
the failed check (and the original is VALID with its time and height once the network's genesis hash is pinned,
valid_unpinned before); a revoked credential shows revoked; one
screenshot of every view. Screenshots are kept under ``test-artifacts/console/``.

The test never skips: without chromium, node or ``tests/browser/node_modules`` it fails, naming
``make browser-tools``."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from trellis.core.params import load_genesis

from .harness import NodeProcess, free_port, init_home, trellis_cmd

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
BROWSER = REPO / "tests" / "browser"
ARTIFACTS = REPO / "test-artifacts" / "console"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
DEGREE = "UniversityDegreeCredential"


def _tools() -> str:
    """The ``node`` executable; fails (never skips) when a browser tool is missing."""
    node = shutil.which("node")
    missing = []
    if node is None:
        missing.append("node")
    if not os.access(CHROMIUM, os.X_OK):
        missing.append(f"chromium ({CHROMIUM})")
    if not (BROWSER / "node_modules" / "playwright-core" / "package.json").is_file():
        missing.append("tests/browser/node_modules (playwright-core)")
    if missing:
        pytest.fail(f"the console's browser tests need {', '.join(missing)}: run `make browser-tools`", pytrace=False)
    assert node is not None
    return node


class Chain:
    """One validator (``trellis init``) and the CLI against it."""

    def __init__(self, home: Path) -> None:
        self.home = home
        port = free_port()
        init_home(home, port)
        cfg = home / "config.toml"
        cfg.write_text(cfg.read_text().replace("empty_block_interval_ms = 1000", "empty_block_interval_ms = 300"))
        self.node = NodeProcess(home, port)
        self.url = self.node.http.base

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        res = subprocess.run(
            trellis_cmd(*args, "--home", str(self.home)), capture_output=True, text=True, timeout=60, cwd=self.home
        )
        assert res.returncode == 0, f"trellis {' '.join(args)} exited {res.returncode}:\n{res.stdout}{res.stderr}"
        return res

    def cli_json(self, *args: str) -> Any:
        return json.loads(self.cli(*args, "--json").stdout)

    def notary_verify(self, receipt: Path, file: Path) -> subprocess.CompletedProcess[str]:
        """``trellis notary verify`` offline, with the chain's genesis file (the CLI's own verifier)."""
        args = ("notary", "verify", str(receipt), str(file), "--genesis", str(self.home / "genesis.json"))
        return subprocess.run(trellis_cmd(*args), capture_output=True, text=True, timeout=60)


def _browser(node: str, url: str, scenario: str, **args: str | int) -> None:
    """``run.mjs --scenario SCENARIO``; asserts exit status 0, showing its output and the failure screenshot."""
    cmd = [node, str(BROWSER / "run.mjs"), "--url", url, "--out", str(ARTIFACTS), "--scenario", scenario]
    for k, v in args.items():
        cmd += ["--arg", f"{k}={v}"]
    env = {**os.environ, "CHROMIUM": CHROMIUM}
    started = time.monotonic()
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=REPO, env=env)
    took = time.monotonic() - started
    assert res.returncode == 0, (
        f"browser scenario {scenario} exited {res.returncode} after {took:.1f} s "
        f"(screenshot: {ARTIFACTS / (scenario + '-FAILED.png')}):\n{res.stdout}{res.stderr}"
    )
    assert f"scenario {scenario}: PASSED" in res.stdout, res.stdout


def test_console_in_chromium_against_a_real_network(tmp_path: Path) -> None:
    node = _tools()
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    chain = Chain(tmp_path / "home")
    chain.node.start()
    try:
        # (1) a transfer committed through the CLI, shown by the explorer (its page and its block's page).
        sent = chain.cli_json("tx", "send", "transfer", "--from", "alice", "--to", "bob", "--amount", "12345")
        assert sent["status"] == "committed" and sent["receipt"]["code"] == 0, sent
        (event,) = [e for e in sent["receipt"]["events"] if e["type"] == "transfer"]
        sender, receiver = sent["tx"]["body"]["sender"], event["attributes"]["to"]  # a public key, an address
        _browser(
            node, chain.url, "explorer-tx",
            tx=sent["hash"], height=sent["height"], sender=sender, receiver=receiver, amount=12345,
        )  # fmt: skip

        # (2) a notarized file verified in the browser with its receipt; a tampered copy names the failed check.
        doc = tmp_path / "diploma-scan.txt"
        doc.write_bytes(b"Diploma of Ada Student, Bachelor of Science, 2026\n" * 20)
        anchored = chain.cli_json("notary", "anchor", str(doc), "--from", "alice", "--type", "diploma")
        receipt = tmp_path / "diploma-scan.txt.receipt.json"
        assert receipt.is_file(), anchored
        tampered = tmp_path / "diploma-scan-tampered.txt"
        content = bytearray(doc.read_bytes())
        content[10] ^= 1
        tampered.write_bytes(bytes(content))
        # the CLI's verifier agrees on both (the browser must reach the same verdicts).
        ok, bad = (chain.notary_verify(receipt, f) for f in (doc, tampered))
        assert ok.returncode == 0, ok.stdout + ok.stderr
        assert bad.returncode == 1 and bad.stdout.startswith("INVALID: file_digest"), bad.stdout
        # the network's genesis hash, from its genesis.json (what a user pins; not from the node's answers)
        genesis = load_genesis((chain.home / "genesis.json").read_bytes()).genesis_hash.hex()
        _browser(
            node, chain.url, "verify-file",
            file=doc, tampered=tampered, receipt=receipt, height=anchored["height"], check="file_digest",
            genesis=genesis,
        )  # fmt: skip

        # (3) a credential with a status list entry, revoked through the CLI, shows revoked in the verify view.
        issuer = chain.cli("did", "create", "--from", "alice").stdout.splitlines()[0].strip()
        holder = chain.cli("did", "create", "--from", "bob").stdout.splitlines()[0].strip()
        chain.cli("vc", "authorise", "--did", issuer, "--type", DEGREE, "--controller", "alice", "--from", "alice")
        chain.cli("vc", "status-create", "--list", "uni-2026", "--issuer", issuer, "--from", "alice")
        subject = {"id": holder, "degree": {"type": "BachelorDegree", "name": "BSc"}, "name": "Ada", "grade": "A"}
        wallet = tmp_path / "wallet.json"
        chain.cli(
            "vc", "issue", "--key", "alice", "--issuer", issuer, "--type", DEGREE, "--subject", json.dumps(subject),
            "--status-list", "uni-2026", "--status-index", "42", "--out", str(wallet),
        )  # fmt: skip
        credential = tmp_path / "credential.json"
        credential.write_text(json.dumps(json.loads(wallet.read_text())["credential"], indent=2))
        claims = json.dumps({"id": holder, "name": "Ada", "grade": "A"})
        _browser(node, chain.url, "verify-credential", credential=credential, status="valid", claims=claims)
        chain.cli("vc", "revoke", "--list", "uni-2026", "--index", "42", "--from", "alice")
        _browser(node, chain.url, "verify-credential", credential=credential, status="revoked")

        # (4) a screenshot of every view.
        _browser(
            node, chain.url, "views",
            tx=sent["hash"], height=sent["height"], account=receiver, did=issuer, status_list="uni-2026",
        )  # fmt: skip
    finally:
        chain.node.stop()
    shots = sorted(p.name for p in ARTIFACTS.glob("*.png"))
    for view in ("network", "explorer", "block", "tx", "account", "identity", "did", "verify", "interchain"):
        assert any(name.startswith("views-") and name.endswith(f"-{view}.png") for name in shots), (view, shots)
