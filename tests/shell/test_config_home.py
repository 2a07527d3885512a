"""Node configuration (strict parsing, rendering) and the home directory (init, genesis, keys, assembly)."""

from __future__ import annotations

import logging
import stat
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trellis.app.application import GenesisMismatch
from trellis.core.crypto.suite import address_of
from trellis.node.assembly import assemble_node
from trellis.node.config import (
    ApiSection,
    ConfigError,
    ConsensusSection,
    InterchainSection,
    MempoolSection,
    NodeConfig,
    NodeSection,
    load_config,
    render_config,
)
from trellis.node.home import DEV_BALANCE, Home, HomeError, init_home


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


# -- config ----------------------------------------------------------------------------------------------------------
def test_an_empty_config_file_gives_the_defaults(tmp_path: Path) -> None:
    assert load_config(_write(tmp_path, "")) == NodeConfig()


def test_a_partial_config_file_keeps_defaults_for_the_rest(tmp_path: Path) -> None:
    cfg = load_config(_write(tmp_path, "[api]\nport = 9000\n"))
    assert cfg.api.port == 9000
    assert cfg.api.host == ApiSection().host
    assert cfg.node == NodeSection()


def test_a_missing_config_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no configuration file"):
        load_config(tmp_path / "absent.toml")


def test_a_config_file_that_is_not_toml_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(_write(tmp_path, "[api\nport = = 1\n"))


def test_an_unknown_section_is_refused_naming_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown field `bogus`"):
        load_config(_write(tmp_path, "[bogus]\ntimeout = 1\n"))


def test_an_unknown_key_is_refused_naming_it_and_its_section(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"unknown field `prot`.*\$\.api"):
        load_config(_write(tmp_path, "[api]\nprot = 9000\n"))


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ('[api]\nport = "9000"\n', "$.api.port"),
        ("[api]\nport = 70000\n", "$.api.port"),
        ("[api]\nport = -1\n", "$.api.port"),
        ("[api]\nmax_body_bytes = 10\n", "$.api.max_body_bytes"),
        ("[consensus]\nblock_interval_ms = 0\n", "$.consensus.block_interval_ms"),
        ("[consensus]\nempty_block_interval_ms = 1\n", "$.consensus.empty_block_interval_ms"),
        ("[mempool]\nmax_txs = 0\n", "$.mempool.max_txs"),
        ("[p2p]\nbatch_store_max_bytes = 10\n", "$.p2p.batch_store_max_bytes"),
        ('[node]\nmoniker = ""\n', "$.node.moniker"),
        ('[node]\nindex_accounts = "yes"\n', "$.node.index_accounts"),
        ("[node]\nmoniker = 1.5\n", "$.node.moniker"),
    ],
)
def test_a_bad_value_is_refused_naming_the_field(tmp_path: Path, text: str, field: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(_write(tmp_path, text))
    assert field in str(info.value)


def test_render_config_of_the_defaults_round_trips(tmp_path: Path) -> None:
    assert load_config(_write(tmp_path, render_config(NodeConfig()))) == NodeConfig()


def test_render_config_of_custom_values_round_trips(tmp_path: Path) -> None:
    cfg = NodeConfig(
        node=NodeSection(
            moniker='quote " and \\ backslash', validator_key="val-1", data_dir="d/b", index_accounts=False
        ),
        api=ApiSection(host="0.0.0.0", port=0, max_body_bytes=1024),
        consensus=ConsensusSection(block_interval_ms=5, empty_block_interval_ms=10),
        mempool=MempoolSection(max_txs=1, max_bytes=1024),
        interchain=InterchainSection(endpoints={"chain-b": "http://127.0.0.1:8690", "health.1": 'http://h/"q"'}),
    )
    assert load_config(_write(tmp_path, render_config(cfg))) == cfg


@settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    moniker=st.text(min_size=1, max_size=64),
    data_dir=st.text(max_size=40),
    index_accounts=st.booleans(),
    port=st.integers(0, 65535),
    interval=st.integers(1, 60_000),
)
def test_render_config_round_trips_any_valid_config(
    tmp_path: Path, moniker: str, data_dir: str, index_accounts: bool, port: int, interval: int
) -> None:
    cfg = NodeConfig(
        node=NodeSection(moniker=moniker, data_dir=data_dir, index_accounts=index_accounts),
        api=ApiSection(port=port),
        consensus=ConsensusSection(block_interval_ms=interval),
    )
    path = tmp_path / "config.toml"
    path.write_text(render_config(cfg), encoding="utf-8")
    assert load_config(path) == cfg


# -- home --------------------------------------------------------------------------------------------------------------
def test_init_home_creates_genesis_config_and_keys(tmp_path: Path) -> None:
    home = init_home(tmp_path / "home", chain_id="my-chain", api_port=9100, moniker="v-0")
    assert home.genesis.is_file() and home.config.is_file()
    assert [k.name for k in home.keys.list()] == ["alice", "bob", "validator"]
    params = home.load_params()
    assert params.chain_id == "my-chain"
    cfg = load_config(home.config)
    assert cfg.api.port == 9100 and cfg.node.moniker == "v-0"


def test_init_home_makes_the_validator_key_the_only_validator(tmp_path: Path) -> None:
    home = init_home(tmp_path / "home")
    params = home.load_params()
    assert [v.public_key for v in params.validators.validators] == [home.keys.info("validator").public_key]


def test_init_home_makes_alice_the_funded_mint_authority_and_funds_bob(tmp_path: Path) -> None:
    home = init_home(tmp_path / "home")
    params = home.load_params()
    alice, bob = home.keys.info("alice"), home.keys.info("bob")
    assert params.mint_authority == alice.address
    balances = {bytes.fromhex(a.address): a.balance for a in params.genesis.accounts}
    assert balances == {alice.address: DEV_BALANCE, bob.address: DEV_BALANCE // 1000}
    assert alice.address == address_of(params.suite, alice.public_key)


def test_init_home_writes_key_files_readable_by_the_owner_only(tmp_path: Path) -> None:
    home = init_home(tmp_path / "home")
    for info in home.keys.list():
        assert stat.S_IMODE(info.path.stat().st_mode) == 0o600


def test_a_second_init_is_refused_and_changes_nothing(tmp_path: Path) -> None:
    home = init_home(tmp_path / "home")
    genesis, config = home.genesis.read_bytes(), home.config.read_bytes()
    with pytest.raises(HomeError, match="already initialised"):
        init_home(tmp_path / "home", chain_id="other")
    assert home.genesis.read_bytes() == genesis
    assert home.config.read_bytes() == config


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"chain_id": "Not A Chain Id"}, "chain id"),
        ({"chain_id": ""}, "chain id"),
        ({"api_port": 70000}, "$.api.port"),
        ({"moniker": ""}, "$.node.moniker"),
    ],
)
def test_init_with_an_unusable_argument_is_refused_and_writes_nothing(
    tmp_path: Path, kwargs: dict[str, object], named: str
) -> None:
    with pytest.raises(HomeError) as info:
        init_home(tmp_path / "home", **kwargs)  # type: ignore[arg-type]
    assert named in str(info.value)
    assert not (tmp_path / "home").exists()


def test_load_params_without_a_genesis_says_to_run_init(tmp_path: Path) -> None:
    with pytest.raises(HomeError, match="trellis init"):
        Home(tmp_path).load_params()


def test_data_dir_is_relative_to_the_home(tmp_path: Path) -> None:
    cfg = NodeConfig(node=NodeSection(data_dir="chaindata"))
    assert Home(tmp_path).data_dir(cfg) == tmp_path / "chaindata"


# -- assembly ------------------------------------------------------------------------------------------------------------
def test_assemble_node_opens_the_home_at_genesis(tmp_path: Path) -> None:
    home = init_home(tmp_path / "home")
    node = assemble_node(home.root)
    try:
        assert node.app.info().height == 0
        assert node.params.genesis_hash == home.load_params().genesis_hash
        assert node.config == load_config(home.config)
        assert (home.root / "data").is_dir()
    finally:
        node.close()


def test_assemble_node_follows_with_a_validator_key_that_is_not_in_the_set(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # ADR 0014: a key outside the set is not refused; the node follows until governance adds it.
    home = init_home(tmp_path / "home")
    with caplog.at_level(logging.INFO, logger="trellis.node"):
        node = assemble_node(home.root, NodeConfig(node=NodeSection(validator_key="alice")))
    node.close()
    assert node.privval is not None and node.privval.signer.public_key == home.keys.signer("alice").public_key
    assert "is not a validator at height 1; following" in caplog.text


def test_assemble_node_refuses_a_data_directory_of_another_chain(tmp_path: Path) -> None:
    home = init_home(tmp_path / "home")
    other = init_home(tmp_path / "other", chain_id="other-chain")
    assemble_node(home.root).close()
    swapped = ["genesis.json", "keys/validator.pem", "keys/validator.pub"]
    originals = {name: (home.root / name).read_bytes() for name in swapped}
    for name in swapped:
        (home.root / name).write_bytes((other.root / name).read_bytes())
    with pytest.raises(GenesisMismatch):
        assemble_node(home.root)
    # the refused attempt released the database: the home opens again once its own genesis is back
    for name, data in originals.items():
        (home.root / name).write_bytes(data)
    node = assemble_node(home.root)
    node.close()
    assert node.params.chain_id == "trellis-dev"
