"""``[bench] skip_signature_checks`` is possible only on a network made by ``trellis bench``: its genesis carries
``bench_network: true`` (a marker a real chain never has, and whose absence leaves every existing genesis hash
as it was), a node of any other chain refuses to start with the switch, and ``/v1/status`` says which it is."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec
import pytest

from tests.shell import conftest as shell
from trellis.core.codec import encode
from trellis.core.errors import DecodeError
from trellis.core.params import Genesis, load_genesis
from trellis.node.assembly import assemble_node
from trellis.node.config import BenchSection, ConfigError, NodeConfig, check_bench_switches
from trellis.node.home import init_home
from trellis.node.network import init_network
from trellis.node.verifier import TrustingVerifier

VECTOR_GENESIS = Path(__file__).parents[1] / "vectors" / "receipt" / "genesis.json"
VECTOR_GENESIS_HASH = "5c1eae54613b1e6f650aa7cbabdce233c638ab79b86802df01b49cba4db2832b"
"""The hash the receipt vectors (tests/vectors/receipt/*.receipt.json) pin for that genesis."""

SKIP = NodeConfig(bench=BenchSection(skip_signature_checks=True))


def _with_marker(data: bytes) -> bytes:
    doc = json.loads(data)
    doc["bench_network"] = True
    return json.dumps(doc).encode()


def _mark_home_as_bench(root: Path) -> None:
    path = root / "genesis.json"
    path.write_bytes(_with_marker(path.read_bytes()))


# -- the genesis marker ----------------------------------------------------------------------------------------


def test_a_genesis_without_the_marker_keeps_its_pinned_hash() -> None:
    params = load_genesis(VECTOR_GENESIS.read_bytes())
    assert params.genesis_hash.hex() == VECTOR_GENESIS_HASH
    assert not params.genesis.is_bench_network


def test_an_unmarked_genesis_encodes_without_the_field() -> None:
    genesis = load_genesis(VECTOR_GENESIS.read_bytes()).genesis
    assert b"bench_network" not in encode(genesis)
    assert b"bench_network" not in msgspec.json.encode(genesis)


def test_the_marker_is_part_of_the_genesis_hash() -> None:
    marked = load_genesis(_with_marker(VECTOR_GENESIS.read_bytes()))
    assert marked.genesis.is_bench_network
    assert marked.genesis_hash.hex() != VECTOR_GENESIS_HASH
    assert b"bench_network" in encode(marked.genesis)


@pytest.mark.parametrize("value", [False, 1, "true", None])
def test_the_marker_is_true_or_absent(value: Any) -> None:
    doc = json.loads(VECTOR_GENESIS.read_bytes())
    doc["bench_network"] = value
    with pytest.raises(DecodeError, match="bench_network"):
        load_genesis(json.dumps(doc).encode())


def test_a_genesis_built_with_the_marker_false_is_refused() -> None:
    genesis = load_genesis(VECTOR_GENESIS.read_bytes()).genesis
    with pytest.raises(ValueError, match="bench_network may only be true"):
        msgspec.structs.replace(genesis, bench_network=False)  # type: ignore[arg-type]


def test_trellis_bench_networks_carry_the_marker_and_other_networks_do_not(tmp_path: Path) -> None:
    bench = init_network(tmp_path / "bench", 1, bench_network=True)
    plain = init_network(tmp_path / "plain", 1)
    assert load_genesis((bench[0].home / "genesis.json").read_bytes()).genesis.is_bench_network
    assert not load_genesis((plain[0].home / "genesis.json").read_bytes()).genesis.is_bench_network
    assert not init_home(tmp_path / "home").load_params().genesis.is_bench_network


def test_the_bench_runner_asks_for_a_bench_network() -> None:
    import inspect

    from trellis.bench import runner

    assert "bench_network=True" in inspect.getsource(runner.run_network_bench)


# -- the switch needs the marker ----------------------------------------------------------------------------------


def _genesis(marked: bool) -> Genesis:
    data = VECTOR_GENESIS.read_bytes()
    return load_genesis(_with_marker(data) if marked else data).genesis


def test_skipping_signature_checks_is_refused_on_a_chain_without_the_marker() -> None:
    with pytest.raises(ConfigError, match=r"skip_signature_checks.*not a bench network"):
        check_bench_switches(SKIP, _genesis(marked=False))


def test_skipping_signature_checks_is_allowed_on_a_bench_network() -> None:
    check_bench_switches(SKIP, _genesis(marked=True))


@pytest.mark.parametrize("marked", [False, True])
def test_without_the_switch_any_chain_passes(marked: bool) -> None:
    check_bench_switches(NodeConfig(), _genesis(marked))


def test_the_trusting_verifier_cannot_be_made_for_a_real_chain() -> None:
    with pytest.raises(ConfigError, match="bench_network"):
        TrustingVerifier(_genesis(marked=False))
    assert TrustingVerifier(_genesis(marked=True)).checks_signatures is False


def test_a_node_of_a_real_chain_refuses_to_start_with_the_switch(tmp_path: Path) -> None:
    home = init_home(tmp_path / "home")
    with pytest.raises(ConfigError, match=r"skip_signature_checks.*not a bench network"):
        assemble_node(home.root, SKIP)
    assert not (home.root / "data").exists()  # refused before its store was opened


def test_a_node_of_a_bench_network_starts_with_the_switch_and_trusts_signatures(tmp_path: Path) -> None:
    home = init_home(tmp_path / "home")
    _mark_home_as_bench(home.root)
    node = assemble_node(home.root, SKIP)
    try:
        assert isinstance(node.app.verifier, TrustingVerifier)  # type: ignore[attr-defined]
    finally:
        node.close()


# -- /v1/status says so ------------------------------------------------------------------------------------------


@pytest.fixture
def bench_home(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the harness's ``init_home`` write a bench network's genesis."""
    real = shell.init_home

    def marked_home(root: Path, **kw: Any) -> Any:
        home = real(root, **kw)
        _mark_home_as_bench(root)
        return home

    monkeypatch.setattr(shell, "init_home", marked_home)


def _status(root: Path, config: NodeConfig) -> dict[str, Any]:
    harness = shell.ApiHarness(root, config)
    try:
        status: dict[str, Any] = harness.get("/v1/status").json()
        return status
    finally:
        harness.close()


def test_status_of_a_real_chain_says_signatures_are_checked(tmp_path: Path) -> None:
    status = _status(tmp_path / "home", shell.node_config())
    assert (status["bench_network"], status["signature_checks"]) == (False, True)


def test_status_of_a_bench_node_skipping_checks_says_so(tmp_path: Path, bench_home: None) -> None:
    cfg = msgspec.structs.replace(shell.node_config(), bench=BenchSection(skip_signature_checks=True))
    status = _status(tmp_path / "home", cfg)
    assert (status["bench_network"], status["signature_checks"]) == (True, False)


def test_status_of_a_bench_node_checking_signatures_says_so(tmp_path: Path, bench_home: None) -> None:
    status = _status(tmp_path / "home", shell.node_config())
    assert (status["bench_network"], status["signature_checks"]) == (True, True)
