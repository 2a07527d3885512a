"""Observer nodes on real processes (ADR 0018 section 4, issue 18): ``trellis net init --validators 4 --observers 2``.
The observers follow the chain (observer1 starts late and catches up by block sync), say ``role: observer`` on
``/v1/status``, serve blocks, receipts and a state query
whose proof ``trellis query state --prove`` verifies from the genesis; a transaction submitted to an observer reaches
the validators and commits. Governance then adds observer0's key to the validator set (power 10 beside 4 x 10):
the set of the effective height holds it, and no commit certificate from there on carries its signature (an
observer never opens its key), while the chain goes on with the four validators' 40 of 50.
"""

from __future__ import annotations

import json
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from trellis.core.crypto.suite import ED25519, address_of
from trellis.core.ledger.tx import tx_hash
from trellis.core.modules.membership.messages import ApproveMembership, ProposeMembership, RegisterCert
from trellis.core.modules.payload import Payload
from trellis.core.modules.validators.messages import AddValidator
from trellis.keys.certs import issue_identity_cert
from trellis.keys.signer import KeyStore, MemorySigner
from trellis.node.network import free_port_range

from .harness import Network, NodeProcess, account_signer, signed, trellis_cmd

pytestmark = pytest.mark.e2e

VALIDATORS = 4
OBSERVERS = 2


def _network(root: Path, validators: int = VALIDATORS, observers: int = OBSERVERS) -> Network:
    """``net init --observers`` with the tests' short timeouts; ``nodes``: node0..node3, observer0, observer1."""
    n = validators + observers
    api = free_port_range(n)
    p2p = free_port_range(n, avoid=api)
    init = [
        *("net", "init", "--home", str(root), "--validators", str(validators), "--observers", str(observers)),
        *("--api-port", str(api), "--p2p-port", str(p2p), "--json"),
    ]
    res = subprocess.run(trellis_cmd(*init), capture_output=True, text=True, check=True)
    listed = json.loads(res.stdout)["nodes"]
    assert [(x["name"], x["role"]) for x in listed] == [(f"node{i}", "validator") for i in range(validators)] + [
        (f"observer{i}", "observer") for i in range(observers)
    ]
    net = Network.__new__(Network)  # an existing network directory
    net.root = root
    net.nodes = []
    for i, entry in enumerate(listed):
        home = Path(entry["home"])
        cfg = home / "config.toml"
        text = cfg.read_text().replace("propose_timeout_ms = 3000", "propose_timeout_ms = 800")
        cfg.write_text(text.replace("empty_block_interval_ms = 1000", "empty_block_interval_ms = 300"))
        net.nodes.append(NodeProcess(home, api + i))
    ks = KeyStore(root / "node0" / "keys")
    net.alice = ks.signer("alice")
    net.bob = ks.info("bob").address
    net.alice_addr = ks.info("alice").address
    net.chain_id = "trellis-dev"
    return net


def _submit(net: Network, via: int, signer: MemorySigner, nonce: int, payload: Payload) -> str:
    raw, _ = signed(signer, net.chain_id, nonce, payload)
    status, body = net.nodes[via].http.post_tx(raw)
    assert status == 202, body
    return "0x" + tx_hash(ED25519, raw).hex()


def _committed(net: Network, via: int, h: str) -> dict[str, Any]:
    st = net.wait_committed(via, h, timeout=30)
    assert st["receipt"]["code"] == 0, st["receipt"]
    return st


def _event(st: dict[str, Any], kind: str) -> dict[str, str]:
    (ev,) = [e for e in st["receipt"]["events"] if e["type"] == kind]
    return dict(ev["attributes"])


def _signers(node: NodeProcess, height: int) -> set[str]:
    status, block = node.http.get(f"/v1/blocks/{height}")
    assert status == 200 and block["commit"] is not None, block
    return {s["validator"] for s in block["commit"]["signatures"]}


def _add_by_governance(net: Network, public_key: bytes) -> int:
    """Admins of org0..org2 register certificates; org0's proposes adding ``public_key`` (power 10, org0), org1's
    and org2's approve (3 of 4 organisations). Returns the change's effective height."""
    admins = [account_signer(f"observer-test-admin{i}") for i in range(3)]
    start = datetime.now(UTC) - timedelta(minutes=5)
    regs = []
    for i, admin in enumerate(admins):
        ca = net.root / "orgs" / f"org{i}"
        pem = issue_identity_cert(
            (ca / "ca.key").read_bytes(),
            (ca / "ca.crt").read_bytes(),
            org=f"org{i}",
            role="admin",
            public_key=admin.public_key,
            name=f"admin{i}",
            not_before=start,
            not_after=start + timedelta(days=1),
        )
        der = x509.load_pem_x509_certificate(pem).public_bytes(encoding=Encoding.DER)
        regs.append(_submit(net, i, admin, 0, RegisterCert(cert=der)))
    for i, h in enumerate(regs):
        _committed(net, i, h)
    change = AddValidator(public_key=public_key, power=10, name="observer0", org="org0")
    proposed = _committed(net, 0, _submit(net, 0, admins[0], 1, ProposeMembership(change=change)))
    proposal = int(_event(proposed, "membership.proposed")["proposal"])
    approvals = [_submit(net, i, admins[i], 1, ApproveMembership(proposal_id=proposal)) for i in (1, 2)]
    done = [_committed(net, i, h) for i, h in zip((1, 2), approvals, strict=True)]
    changed = [st for st in done if any(e["type"] == "validators.changed" for e in st["receipt"]["events"])]
    assert len(changed) == 1, [st["receipt"]["events"] for st in done]
    return int(_event(changed[0], "validators.changed")["effective_height"])


def _linked_to_every_validator(node: NodeProcess, timeout: float) -> dict[str, Any]:
    """``/v1/status`` of ``node`` once its peers are exactly the validators (the validators redial an observer that
    was away with backoff, so a late one links to them over a few seconds)."""
    want = [f"node{v}" for v in range(VALIDATORS)]
    deadline = time.monotonic() + timeout
    while True:
        _, st = node.http.get("/v1/status")
        if sorted(st["peers"]) == want:
            return dict(st)
        assert time.monotonic() < deadline, f"{st['moniker']} peers {st['peers']}, wanted {want}"
        time.sleep(0.2)  # polling the links, bounded


def test_observers_follow_serve_forward_and_never_sign_even_in_the_set(tmp_path: Path) -> None:
    root = tmp_path / "net"
    net = _network(root)
    obs = [VALIDATORS + i for i in range(OBSERVERS)]
    late = net.nodes.pop()  # observer1 starts once the chain has moved on: it catches up by block sync
    try:
        net.start_all()
        net.wait_height(list(range(VALIDATORS + OBSERVERS - 1)), 3, 30)
        net.nodes.append(late)
        late.start(ready_timeout=60)
        net.wait_height(list(range(VALIDATORS + OBSERVERS)), net.nodes[0].height(), 30)
        for i in obs:
            st = _linked_to_every_validator(net.nodes[i], timeout=20)
            assert st["role"] == "observer" and st["validator_address"] == "0x", st
        _, st = net.nodes[0].http.get("/v1/status")
        assert st["role"] == "validator" and st["validator_address"] != "0x"
        assert not (net.nodes[obs[0]].home / "data" / "consensus.wal").exists()

        # A transfer submitted to an observer reaches the validators and commits; the observer serves its receipt.
        h = net.send(obs[0], 17)
        at_observer = net.wait_committed(obs[0], h)
        at_validator = net.wait_committed(0, h)
        assert at_observer["receipt"] == at_validator["receipt"] and at_observer["receipt"]["code"] == 0
        height = at_observer["height"]
        _, block_o = net.nodes[obs[1]].http.get(f"/v1/blocks/{height}")
        _, block_v = net.nodes[1].http.get(f"/v1/blocks/{height}")
        assert block_o["block_id"] == block_v["block_id"]

        # A proof-checked query at the observer: the proof to the state root, the header final from genesis.
        net.wait_height([obs[1]], height + 1, 15)
        query = [
            *("query", "state", f"account:0x{net.bob.hex()}", "--prove", "--height", str(height + 1)),
            *("--node", net.nodes[obs[1]].http.base, "--home", str(root / "node0"), "--json"),
        ]
        res = subprocess.run(trellis_cmd(*query), capture_output=True, text=True, timeout=60)
        assert res.returncode == 0, res.stdout + res.stderr
        answer = json.loads(res.stdout)
        assert answer["verified"] is True and answer["value"] is not None, answer

        # Governance adds observer0's key to the set; it never signs a commit.
        observer_key = KeyStore(net.nodes[obs[0]].home / "keys").info("validator").public_key
        observer_addr = "0x" + address_of(ED25519, observer_key).hex()
        effective = _add_by_governance(net, observer_key)
        _, vset = net.nodes[obs[0]].http.get(f"/v1/validators?height={effective}")
        assert observer_addr in {v["address"] for v in vset["validators"]}, vset
        net.wait_height(list(range(VALIDATORS + OBSERVERS)), effective + 3, 30)
        tip = min(net.heights(list(range(VALIDATORS + OBSERVERS))))
        for hgt in range(1, tip + 1):
            signers = _signers(net.nodes[obs[1]], hgt)
            assert observer_addr not in signers, f"observer0 signed the commit of block {hgt}"
            if hgt >= effective:
                assert len(signers) >= 3, signers  # the four validators carry the chain (40 of 50)
        net.assert_same_ledgers(list(range(VALIDATORS + OBSERVERS)), tip)
    finally:
        net.stop_all()


def test_a_transaction_submitted_to_an_observer_before_any_validator_is_up_commits_once_one_is(
    tmp_path: Path,
) -> None:
    # The observer accepts the transaction while linked to no validator (its first flush reaches nobody); once the
    # validator comes up and links, the observer sends it its uncommitted transactions and the transfer commits.
    net = _network(tmp_path / "net", validators=1, observers=1)
    validator, observer = 0, 1
    try:
        net.nodes[observer].start(ready_timeout=60)
        h = net.send(observer, 17)
        _, st = net.nodes[observer].http.get("/v1/status")
        assert st["peers"] == [], st
        time.sleep(0.5)  # the observer's first flush of the transaction goes out, to no peer
        net.nodes[validator].start(ready_timeout=60)
        at_observer = net.wait_committed(observer, h, timeout=30)  # the observer has it pending meanwhile
        assert at_observer["receipt"]["code"] == 0, at_observer
        assert net.wait_committed(validator, h, timeout=15)["receipt"] == at_observer["receipt"]
    finally:
        net.stop_all()


def test_bench_observers_workload_runs_and_reports_every_phase(tmp_path: Path) -> None:
    # A small version of ``trellis bench --workload observers`` (2 validators, 1 observer, short phases): it runs
    # end to end and reports sane figures; the speeds themselves are measured on a quiet machine, not here.
    out = tmp_path / "results"
    cmd = [
        *("bench", "--workload", "observers", "--validators", "2", "--observers", "1", "--rates", "50"),
        *("--duration", "1.5", "--readers", "1", "--accounts", "20", "--out", str(out), "--json"),
    ]
    res = subprocess.run(trellis_cmd(*cmd), capture_output=True, text=True, timeout=180)
    assert res.returncode == 0, res.stderr[-3000:]
    report = json.loads(res.stdout)
    run = report["run"]
    assert (run["config"]["validators"], run["config"]["observers"]) == (2, 1)
    assert [p["phase"] for p in run["phases"]] == ["no_reads", "with_reads", "no_reads_again"]
    for p in run["phases"]:
        commits = p["commits"]
        assert commits["offered_txs"] == 75 and 0 < commits["committed_txs"] <= 75, commits
        assert (commits["failed_txs"], commits["rejected_txs"]) == (0, 0), commits
        assert 0 < commits["latency_ms"]["p50"] <= commits["latency_ms"]["p99"]
        assert p["observer_lag"]["samples"] > 0
        assert (p["reads"] is None) == (p["phase"] != "with_reads")
    reads = run["phases"][1]["reads"]
    assert reads["served"] > 0 and reads["errors"] == {}, reads
    assert all(v > 0 for v in reads["by_kind_per_s"].values()), reads
    assert reads["proofs_checked"] >= 1 and reads["proof_failures"] == [], reads
    assert set(run["with_reads_vs_no_reads"]) == {"committed_tps_ratio", "p50_ratio", "p99_ratio"}
    assert Path(report["files"]["json"]).is_file()
