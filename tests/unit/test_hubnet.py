"""``trellis net up --hub`` without processes (``node/multichain.py`` ``init_hub``, ``relayer/hubjoin.py``,
``cli/hubnet.py``): which genesis names which (a hub's genesis registers the sub-chains made before it; the others
name the hub's genesis hash), who is funded, the nodes' ``[interchain]`` endpoints and pins, ``chains.json`` and
``relayer.toml`` with a hub path's two channels, the summary, and the options refused."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from trellis.core.params import load_genesis
from trellis.keys.signer import KeyStore
from trellis.node import multichain
from trellis.node.config import load_config
from trellis.node.home import HomeError

BASE = "hx"


def _genesis(chain: multichain.Chain) -> dict[str, Any]:
    return json.loads((chain.nodes[0].home / "genesis.json").read_text())


@pytest.fixture(scope="module")
def layout(tmp_path_factory: pytest.TempPathFactory) -> multichain.Layout:
    return multichain.init_hub(
        tmp_path_factory.mktemp("hub") / "net",
        3,
        1,
        online=[3],
        genesis_registered=[1],
        hub_validators=2,
        base_chain_id=BASE,
    )


def test_the_hub_registers_the_early_sub_chains_and_the_others_name_the_hub(layout: multichain.Layout) -> None:
    hub, sub1, sub2, sub3 = layout.chains
    assert [c.chain_id for c in layout.chains] == [f"{BASE}-{i}" for i in range(4)]
    assert [len(c.nodes) for c in layout.chains] == [2, 1, 1, 1]
    g = _genesis(hub)
    assert g["interchain"]["client_policy"] == "governed"
    # a hub caps its clients' consensus states (absent: no cap); the sub-chains keep the old unbounded behaviour
    assert g["interchain"]["max_consensus_states"] == multichain.HUB_CONSENSUS_CAP == 64
    assert not any("max_consensus_states" in _genesis(c)["interchain"] for c in (sub1, sub2, sub3))
    assert g["hub"]["subchains"] == [
        {"chain_id": sub1.chain_id, "operator_org": "org0", "genesis_hash": multichain.genesis_hash_of(sub1)}
    ]
    hub_hash = multichain.genesis_hash_of(hub)
    assert load_genesis((hub.nodes[1].home / "genesis.json").read_bytes()).genesis_hash.hex() == hub_hash
    # registered in the hub's genesis: it cannot name the hub; it opens client creation instead
    g1 = _genesis(sub1)
    assert g1["interchain"]["client_policy"] == "open" and "hub" not in g1["interchain"]
    for sub in (sub2, sub3):
        gi = _genesis(sub)
        assert gi["interchain"]["client_policy"] == "governed"
        assert gi["interchain"]["hub"] == {"chain_id": hub.chain_id, "genesis_hash": hub_hash}
    assert not {c.chain_id for c in (sub2, sub3)} & {s["chain_id"] for s in g["hub"]["subchains"]}


def test_relayer_and_admins_are_funded_and_admin_keys_are_in_the_hub_nodes_key_stores(
    layout: multichain.Layout,
) -> None:
    keys = multichain.relayer_keys(layout.root)
    admins = multichain.hub_admins(layout.root)
    admin_addrs = [admins.info(f"admin{i}").address.hex() for i in range(2)]
    for c in layout.chains:
        funded = {a["address"] for a in _genesis(c)["accounts"]}
        assert keys.info(multichain.relayer_key_name(c.index)).address.hex() in funded
        assert (set(admin_addrs) <= funded) == (c.index == multichain.HUB_INDEX)
    for n in layout.hub_chain.nodes:
        store = KeyStore(n.home / "keys")
        assert [store.info(f"admin{i}").address.hex() for i in range(2)] == admin_addrs


def test_hub_and_sub_chain_nodes_read_each_other(layout: multichain.Layout) -> None:
    hub = layout.hub_chain
    hub_hash = multichain.genesis_hash_of(hub)
    for n in hub.nodes:
        section = load_config(n.home / "config.toml").interchain
        assert section.endpoints == {c.chain_id: c.api_urls[0] for c in layout.subchains}
        assert section.genesis_hashes == {}  # the hub's registry says which chain is which
    for c in layout.subchains:
        section = load_config(c.nodes[0].home / "config.toml").interchain
        assert section.endpoints == {hub.chain_id: hub.api_urls[0]}
        # a chain naming the hub trusts it from genesis; the early one pins its genesis hash
        assert section.genesis_hashes == ({hub.chain_id: hub_hash} if c.index == 1 else {})


def test_chains_json_and_relayer_toml_carry_a_hub_paths_two_channels(layout: multichain.Layout) -> None:
    from trellis.relayer.config import load_config as load_relayer_config

    again = multichain.load_layout(layout.root)
    assert (again.hub, again.online, again.genesis_registered) == (True, [3], [1])
    path = multichain.ChainPath(
        f"{BASE}-0",
        f"{BASE}-2",
        "client-1",
        "client-0",
        "connection-1",
        "connection-0",
        "channel-2",
        "channel-0",
        channels=[{"port": "directory", "a_channel": "channel-3", "b_channel": "channel-1"}],
    )
    again.paths.append(path)
    multichain.save_layout(again)
    assert multichain.load_layout(layout.root).paths == [path]
    assert multichain.path_channel(path, "directory") == ("channel-3", "channel-1")
    assert multichain.path_channel(path, "transfer") == ("channel-2", "channel-0")
    assert multichain.path_channel(path, "echo") is None
    cfg = load_relayer_config(multichain.write_relayer_config(again, "127.0.0.1:9464"))
    (p,) = cfg.paths
    assert [(ch.port, ch.a_channel, ch.b_channel) for ch in p.channels] == [
        ("transfer", "channel-2", "channel-0"),
        ("directory", "channel-3", "channel-1"),
    ]
    summary = multichain.layout_summary(again)["hub"]
    assert summary["chain_id"] == f"{BASE}-0"
    subs = {s["chain_id"]: s for s in summary["subchains"]}
    assert [subs[f"{BASE}-{i}"]["registered"] for i in (1, 2, 3)] == ["genesis", "governance", "online"]
    assert not subs[f"{BASE}-1"]["joined"] and subs[f"{BASE}-2"]["joined"]
    assert subs[f"{BASE}-2"]["hub"] == {
        "client_id": "client-1",
        "connection_id": "connection-1",
        "channels": {"transfer": "channel-2", "directory": "channel-3"},
    }
    assert subs[f"{BASE}-2"]["sub"]["channels"] == {"transfer": "channel-0", "directory": "channel-1"}
    again.paths.clear()
    multichain.save_layout(again)


def test_only_a_sub_chain_naming_the_hub_gets_a_directory_channel(layout: multichain.Layout) -> None:
    from trellis.relayer.hubjoin import names_hub

    assert [names_hub(c.nodes[0].home / "genesis.json") for c in layout.subchains] == [False, True, True]


def test_a_chains_network_keeps_its_chains_json(tmp_path: Path) -> None:
    layout = multichain.init_chains(tmp_path / "net", 2, 1)
    layout.paths.append(multichain.ChainPath("a", "b", "client-0", "client-0", "c-0", "c-0", "channel-0", "channel-0"))
    multichain.save_layout(layout)
    data = json.loads((layout.root / multichain.MANIFEST_FILE).read_text())
    assert "hub" not in data and "channels" not in data["paths"][0]
    assert "hub" not in multichain.layout_summary(layout)
    assert not multichain.load_layout(layout.root).hub


def test_bad_hub_options_are_refused(tmp_path: Path) -> None:
    with pytest.raises(HomeError, match="--subchains must be between 1 and 7"):
        multichain.init_hub(tmp_path / "a", 8, 1)
    with pytest.raises(HomeError, match="--subchains must be between 1 and 7"):
        multichain.init_hub(tmp_path / "a", 0, 1)
    with pytest.raises(HomeError, match=r"--register-online names sub-chains 1\.\.2, not 3"):
        multichain.init_hub(tmp_path / "a", 2, 1, online=[3])
    with pytest.raises(HomeError, match=r"--genesis-registered names sub-chains 1\.\.2, not 0"):
        multichain.init_hub(tmp_path / "a", 2, 1, genesis_registered=[0])
    with pytest.raises(HomeError, match="both registered in the hub's genesis and online"):
        multichain.init_hub(tmp_path / "a", 2, 1, online=[2], genesis_registered=[2])
    assert not (tmp_path / "a").exists()
    multichain.init_chains(tmp_path / "b", 2, 1)
    with pytest.raises(HomeError, match="already initialised"):
        multichain.init_hub(tmp_path / "b", 2, 1)
    with pytest.raises(HomeError, match="not a hub"):
        multichain.up_chains(tmp_path / "b", chains=2, validators=1, connect=None, hub=True, subchains=2)


def test_the_cli_refuses_mixed_or_out_of_range_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from trellis.cli.main import main

    home = str(tmp_path / "net")
    assert main(["net", "up", "--home", home, "--hub", "--chains", "2"]) == 1
    assert "--hub and --chains are two kinds of network" in capsys.readouterr().err
    assert main(["net", "up", "--home", home, "--hub", "--subchains", "9"]) == 1
    assert "--subchains must be between 1 and 7" in capsys.readouterr().err
    assert not Path(home).exists()


def test_relayer_toml_names_absolute_files_when_net_up_was_given_a_relative_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from trellis.relayer.config import load_config as load_relayer_config

    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path)
    layout = multichain.init_hub(Path("hub"), 1, 1)
    cfg_path = multichain.write_relayer_config(layout)
    monkeypatch.chdir(tmp_path / "elsewhere")  # the relayer runs from anywhere
    cfg = load_relayer_config(tmp_path / cfg_path)
    for chain in cfg.chains.values():
        assert chain.key.is_absolute() and chain.key.is_file()
        assert chain.genesis is not None and chain.genesis.is_file()
