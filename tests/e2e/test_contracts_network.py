"""The three example contracts, built from source, deployed and used through the CLI on four validator
processes (TCP with mutual TLS); every node ends with the same blocks and state roots."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from trellis.app.modules.contracts import toolchain
from trellis.core.execution import ResultCode

from .harness import Network, trellis_cmd

pytestmark = pytest.mark.e2e

EXAMPLES = toolchain.CONTRACTS_DIR / "examples"


def _cli(home: Path, *args: str, ok: bool = True) -> Any:
    res = subprocess.run(trellis_cmd(*args, "--home", str(home), "--json"), capture_output=True, text=True, timeout=120)
    if ok:
        assert res.returncode == 0, f"trellis {' '.join(args)} failed: {res.stderr or res.stdout}"
    return json.loads(res.stdout) if res.stdout.strip() else {"stderr": res.stderr, "returncode": res.returncode}


@pytest.fixture(scope="module")
def built() -> dict[str, Path]:
    return {name: toolchain.build(EXAMPLES / name).wasm_path for name in ("token", "escrow", "registry")}


@pytest.fixture
def net(tmp_path: Path):
    network = Network(tmp_path / "net")
    try:
        network.start_all()
        yield network
    finally:
        network.stop_all()


def test_example_contracts_run_on_four_validators_and_every_node_agrees(net: Network, built, tmp_path) -> None:
    home = net.nodes[0].home
    alice = "0x" + net.alice_addr.hex()
    bob = "0x" + net.bob.hex()
    net.wait_height([0, 1, 2, 3], 1, 30)

    def deploy(name: str, *init: str) -> str:
        res = _cli(home, "contract", "deploy", str(built[name]), *init, "--from", "alice")
        assert res["receipt"]["code"] == 0, res
        return str(res["receipt"]["data"])

    token = deploy("token", "Trellis Token", "TRL", "1000000")
    escrow = deploy("escrow")
    registry = deploy("registry")
    assert len({token, escrow, registry}) == 3

    # Token: a transfer, then the balances seen by a read-only query.
    res = _cli(home, "contract", "call", token, "transfer", bob, "500", "--from", "alice")
    assert res["returned"] == {"ok": True}
    assert _cli(home, "contract", "query", token, "balanceOf", bob)["returned"] == {"balance": 500}

    # Escrow (nested calls into the token): alice escrows 100 for bob with herself as the only arbiter.
    _cli(home, "contract", "call", token, "approve", escrow, "100", "--from", "alice")
    created = _cli(
        home, "contract", "call", escrow, "create", token, bob, "100", alice, "1", str(2**62), "--from", "alice"
    )
    escrow_id = str(created["returned"]["id"])
    assert _cli(home, "contract", "call", escrow, "approve", escrow_id, "--from", "alice")["returned"] == {
        "approvals": 1
    }
    released = _cli(home, "contract", "call", escrow, "release", escrow_id, "--from", "alice")
    assert released["returned"] == {"ok": True}
    assert _cli(home, "contract", "query", token, "balanceOf", bob)["returned"] == {"balance": 600}

    # Registry: register a document, then look it up from another node's API.
    doc = "0x" + "ab" * 32
    _cli(home, "contract", "call", registry, "register", doc, "diploma 2026", "--from", "alice")
    found = _cli(net.nodes[2].home, "contract", "query", registry, "lookup", doc, "--abi", str(_abi(built, "registry")))
    assert found["returned"]["exists"] is True
    assert found["returned"]["owner"] == alice
    assert found["returned"]["metadata"] == "diploma 2026"

    # A failing call (bob spends more than he holds) is refused with a receipt and changes nothing.
    failed = _cli(home, "contract", "call", token, "transfer", alice, "10000", "--from", "bob", ok=False)
    assert failed["receipt"]["code"] == ResultCode.REVERTED, failed
    assert _cli(home, "contract", "query", token, "balanceOf", bob)["returned"] == {"balance": 600}

    events = _cli(home, "contract", "events", token)["events"]
    assert [e["topic"] for e in events].count("Transfer") >= 3  # mint, alice->bob, escrow->bob

    # Every validator has the same blocks and state roots up to the last contract transaction.
    height = net.heights([0])[0]
    net.wait_height([0, 1, 2, 3], height, 60)
    net.assert_same_ledgers([0, 1, 2, 3], height)


def _abi(built: dict[str, Path], name: str) -> Path:
    return built[name].with_name(f"{name}.abi.json")
