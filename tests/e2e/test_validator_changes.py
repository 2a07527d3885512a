"""Acceptance 1 of issue 14 (ADR 0014 section 8) on real processes: four validators (orgs org0..org3); a fifth
node made with ``trellis net add-node`` starts as a follower and syncs; governance (org0's admin proposes, org1's
and org2's approve: 3 of 4 orgs) adds it, and its signature appears in the commits from the effective height;
governance removes node1, which is then stopped; 20 more blocks. Throughout: no gap over 5 s between consecutive
blocks, every live node has the same block ids and state roots, ``GET /v1/validators`` answers each phase's set,
``trellis light verify --genesis`` verifies the tip, and a notary receipt of a block after both changes verifies
offline with only the genesis file."""

from __future__ import annotations

import itertools
import json
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from .harness import Network, NodeProcess, trellis_cmd

pytestmark = pytest.mark.e2e

MAX_GAP_MS = 5_000
"""The longest allowed time between two consecutive blocks (header time_ms)."""


def _event(res: dict[str, Any], kind: str) -> dict[str, str]:
    """The attributes of the one event of type ``kind`` in a committed transaction's receipt."""
    (ev,) = [e for e in res["receipt"]["events"] if e["type"] == kind]
    return dict(ev["attributes"])


def _change(net: Network, *propose: str) -> int:
    """Propose a validator change as org0's admin, approve it as org1's and org2's; return its effective height."""
    res = net.cli_json("validators", *propose, "--from", "admin0")
    assert res["receipt"]["code"] == 0, res["receipt"]
    proposal = _event(res, "membership.proposed")["proposal"]
    net.cli_json("validators", "approve", proposal, "--from", "admin1")
    res = net.cli_json("validators", "approve", proposal, "--from", "admin2")
    changed = _event(res, "validators.changed")
    effective = int(changed["effective_height"])
    assert effective == res["height"] + 2
    return effective


def _set_of(node: NodeProcess, height: int | None = None) -> dict[str, int]:
    """``GET /v1/validators``: {name: power} of the set in force at ``height`` (default: the next block's)."""
    status, body = node.http.get("/v1/validators" + (f"?height={height}" if height is not None else ""))
    assert status == 200, body
    return {v["name"]: v["power"] for v in body["validators"]}


def _signers(node: NodeProcess, height: int) -> set[str]:
    """The validator addresses (0x hex) in the commit certificate of block ``height``."""
    status, block = node.http.get(f"/v1/blocks/{height}")
    assert status == 200 and block["commit"] is not None, block
    return {s["validator"] for s in block["commit"]["signatures"]}


def _wait_signer(net: Network, via: int, address: str, first: int, timeout: float) -> int:
    """The first height >= ``first`` whose commit ``address`` signed (waiting for blocks as needed)."""
    deadline = time.monotonic() + timeout
    h = first
    while True:
        while net.nodes[via].height() < h:
            assert time.monotonic() < deadline, f"no block {h} on node{via} in {timeout} s"
            time.sleep(0.1)  # polling the chain, bounded
        if address in _signers(net.nodes[via], h):
            return h
        assert time.monotonic() < deadline, f"{address} signed no commit in {first}..{h}"
        h += 1


def _assert_no_gaps(node: NodeProcess, upto: int) -> None:
    times = [node.http.get(f"/v1/blocks/{h}")[1]["header"]["time_ms"] for h in range(1, upto + 1)]
    gaps = [(h + 2, b - a) for h, (a, b) in enumerate(itertools.pairwise(times)) if b - a > MAX_GAP_MS]
    assert not gaps, f"blocks more than {MAX_GAP_MS} ms after their parent (height, ms): {gaps}"


def test_a_validator_joins_by_governance_another_leaves_and_the_chain_never_stalls(tmp_path: Path) -> None:
    root = tmp_path / "net"
    net = Network(root)
    genesis = root / "node0" / "genesis.json"
    try:
        net.start_all()
        net.wait_height([0, 1, 2, 3], 2, 30)
        # Admins of org0, org1, org2 (the default threshold is 3 of 4 organisations).
        for i in range(3):
            net.cli_json("keys", "new", f"admin{i}")
            issued = net.cli_json("certs", "issue", "--org", f"org{i}", "--role", "admin", "--key", f"admin{i}")
            reg = net.cli_json("certs", "register", "--from", f"admin{i}", "--cert", issued["file"])
            assert reg["receipt"]["code"] == 0, reg["receipt"]
        genesis_set = {f"node{i}": 10 for i in range(4)}
        assert _set_of(net.nodes[0]) == genesis_set

        # Phase 1: the joiner starts outside the set, follows and syncs.
        joiner, added = net.add_node("org3")
        assert added["name"] == "node4"
        joiner.start(ready_timeout=60)
        deadline = time.monotonic() + 30
        while joiner.height() < max(net.heights([0, 1, 2, 3])) - 1:
            others, log = net.heights([0, 1, 2, 3]), joiner.log_path.read_text()[-1500:]
            assert time.monotonic() < deadline, f"node4 at {joiner.height()}, others at {others}:\n{log}"
            time.sleep(0.1)  # polling the chain, bounded
        assert _set_of(joiner) == genesis_set

        # Phase 2: governance adds node4 (power 10); it signs commits from the effective height.
        add = ("add", "--name", "node4", "--public-key", added["public_key"], "--power", "10", "--org", "org3")
        joined = _change(net, *add)
        node4 = "0x" + added["address"].removeprefix("0x")
        assert _set_of(net.nodes[0], joined - 1) == genesis_set
        with_node4 = {**genesis_set, "node4": 10}
        for node in net.nodes:
            assert _set_of(node, joined) == with_node4
        signed_at = _wait_signer(net, 0, node4, joined, timeout=30)
        assert all(node4 not in _signers(net.nodes[0], h) for h in range(1, joined))
        assert signed_at >= joined

        # Phase 3: governance removes node1; from the effective height its signature is never in a commit.
        node1 = next(
            v["address"] for v in net.nodes[0].http.get("/v1/validators")[1]["validators"] if v["name"] == "node1"
        )
        left = _change(net, "remove", "--name", "node1")
        without_node1 = {k: v for k, v in with_node4.items() if k != "node1"}
        net.wait_height([0, 1, 2, 3, 4], left + 2, 30)
        for node in net.nodes:
            assert _set_of(node, left - 1) == with_node4
            assert _set_of(node, left) == without_node1
            assert _set_of(node) == without_node1
        assert all(node1 not in _signers(net.nodes[0], h) for h in range(left, left + 2))
        stopped_at = net.nodes[1].height()
        net.assert_same_ledgers([0, 1, 2, 3, 4], stopped_at)
        assert net.nodes[1].stop() == 0
        live = [0, 2, 3, 4]

        # A notary receipt of a block after both changes.
        doc = tmp_path / "record.txt"
        doc.write_bytes(b"anchored after the validator set changed twice\n")
        out = net.cli("notary", "anchor", str(doc), "--from", "alice", "--type", "record", timeout=120)
        assert out.returncode == 0, out.stdout + out.stderr

        base = max(net.heights(live))
        net.wait_height(live, base + 20, 60)
        tip = min(net.heights(live))
        net.assert_same_ledgers(live, tip)
        _assert_no_gaps(net.nodes[0], tip)
        assert all(node1 not in _signers(net.nodes[0], h) for h in range(left, tip + 1))
        assert any(node4 in _signers(net.nodes[0], h) for h in range(base, tip + 1))

        # A light client from genesis verifies the tip through both changes (served by the joiner).
        light = subprocess.run(
            trellis_cmd(
                "light", "verify", "--genesis", str(genesis), "--height", "latest", "--node", joiner.http.base, "--json"
            ),
            capture_output=True,
            text=True,
            timeout=60,
        )  # fmt: skip
        assert light.returncode == 0, light.stdout + light.stderr
        verified = json.loads(light.stdout)
        h = verified["height"]
        assert verified["verified"] and h >= tip
        assert verified["block_id"] == net.nodes[0].http.get(f"/v1/blocks/{h}")[1]["block_id"]
        assert verified["validators_hash"] == net.nodes[0].http.get(f"/v1/validators?height={h}")[1]["validators_hash"]
    finally:
        net.stop_all()

    # Offline, with only the genesis file (the network is down).
    only = tmp_path / "genesis.json"
    only.write_bytes(genesis.read_bytes())
    receipt = Path(str(doc) + ".receipt.json")
    res = subprocess.run(
        trellis_cmd("notary", "verify", str(receipt), str(doc), "--genesis", str(only)),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    anchored = re.match(r"VALID: anchored at height (\d+),", res.stdout)
    assert anchored is not None and int(anchored.group(1)) > left, res.stdout
