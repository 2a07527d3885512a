"""``node/multichain.py`` without processes: the layout ``trellis net up --chains`` makes (chain ids, geneses with
the open client policy and a funded relayer account, disjoint ports), ``chains.json`` round trip, and
``relayer.toml`` as the relayer's own loader reads it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from trellis.node import multichain
from trellis.node.home import HomeError
from trellis.node.network import is_network_dir, load_network


def _ports(layout: multichain.Layout) -> list[int]:
    from trellis.node.config import load_config

    out = []
    for c in layout.chains:
        for n in c.nodes:
            cfg = load_config(n.home / "config.toml")
            out += [cfg.api.port, cfg.p2p.port]
    return out


def test_chains_have_their_ids_open_clients_a_funded_relayer_and_disjoint_ports(tmp_path: Path) -> None:
    layout = multichain.init_chains(tmp_path / "net", 3, 2, base_chain_id="ic")
    assert [c.chain_id for c in layout.chains] == ["ic-0", "ic-1", "ic-2"]
    ports = _ports(layout)
    assert len(ports) == len(set(ports)) == 3 * 2 * 2
    keys = multichain.relayer_keys(layout.root)
    for c in layout.chains:
        assert is_network_dir(c.root) and [n.name for n in load_network(c.root)] == ["node0", "node1"]
        genesis = json.loads((c.nodes[0].home / "genesis.json").read_text())
        assert genesis["chain_id"] == c.chain_id
        assert genesis["interchain"]["client_policy"] == "open"
        funded = {a["address"]: a["balance"] for a in genesis["accounts"]}
        relayer = keys.info(multichain.relayer_key_name(c.index)).address.hex()
        assert funded[relayer] == multichain.RELAYER_BALANCE
        # The other chains' relayer accounts are not funded here: one key per chain.
        others = {keys.info(multichain.relayer_key_name(o.index)).address.hex() for o in layout.chains} - {relayer}
        assert not others & set(funded)
    again = multichain.load_layout(layout.root)
    assert [c.chain_id for c in again.chains] == [c.chain_id for c in layout.chains]
    assert [c.api_urls for c in again.chains] == [c.api_urls for c in layout.chains]


def test_fixed_base_ports_step_by_a_hundred_per_chain(tmp_path: Path) -> None:
    layout = multichain.init_chains(tmp_path / "net", 2, 4, api_port=18680, p2p_port=36656)
    assert layout.chains[0].api_urls[0].endswith(":18680") and layout.chains[1].api_urls[3].endswith(":18783")
    assert sorted(_ports(layout)) == [
        *range(18680, 18684),
        *range(18780, 18784),
        *range(36656, 36660),
        *range(36756, 36760),
    ]


def test_an_initialised_directory_or_a_bad_count_is_refused(tmp_path: Path) -> None:
    multichain.init_chains(tmp_path / "net", 2, 1)
    with pytest.raises(HomeError, match="already initialised"):
        multichain.init_chains(tmp_path / "net", 2, 1)
    with pytest.raises(HomeError, match="between 1 and 8"):
        multichain.init_chains(tmp_path / "other", 9, 1)


def test_relayer_toml_is_what_the_relayer_loads(tmp_path: Path) -> None:
    from trellis.relayer.config import load_config

    layout = multichain.init_chains(tmp_path / "net", 2, 2, base_chain_id="ic")
    layout.paths.append(
        multichain.ChainPath(
            "ic-0", "ic-1", "client-0", "client-1", "connection-0", "connection-2", "channel-0", "channel-3"
        )
    )
    multichain.save_layout(layout)
    assert multichain.load_layout(layout.root).paths == layout.paths
    cfg = load_config(multichain.write_relayer_config(layout, "127.0.0.1:9464", scan_interval_s=3))
    assert list(cfg.chains) == ["ic-0", "ic-1"]
    assert cfg.chains["ic-1"].api == layout.chains[1].api_urls
    assert cfg.chains["ic-0"].key == multichain.relayer_key_path(layout.root, 0) and cfg.chains["ic-0"].key.is_file()
    assert cfg.chains["ic-1"].genesis == layout.chains[1].nodes[0].home / "genesis.json"
    (p,) = cfg.paths
    assert (p.a, p.b, p.a_client, p.b_client, p.a_connection, p.b_connection) == (
        "ic-0",
        "ic-1",
        "client-0",
        "client-1",
        "connection-0",
        "connection-2",
    )
    (ch,) = p.channels
    assert (ch.port, ch.a_channel, ch.b_channel) == ("transfer", "channel-0", "channel-3")
    assert cfg.metrics_listen == ("127.0.0.1", 9464) and cfg.scan_interval_s == 3


def test_no_relayer_is_running_without_a_live_pid_of_ours(tmp_path: Path) -> None:
    layout = multichain.init_chains(tmp_path / "net", 2, 1)
    assert multichain.relayer_pid(layout.root) is None
    pid_file = multichain.relayer_pid_file(layout.root)
    pid_file.write_text("1\n")  # a live process that is not our relayer: never taken for it, never signalled
    assert multichain.relayer_pid(layout.root) is None
    assert multichain.stop_relayer(layout.root) is False and not pid_file.exists()


def test_a_free_range_that_overlaps_another_chains_is_drawn_again(monkeypatch: pytest.MonkeyPatch) -> None:
    # free_port_range only knows what is bound now; the chains' ranges are not bound until their nodes start.
    draws = iter([30000, 30002, 30004, 30010])
    monkeypatch.setattr(multichain, "free_port_range", lambda n: next(draws))
    taken: list[tuple[int, int]] = []
    assert multichain._disjoint_range(4, taken) == 30000
    assert multichain._disjoint_range(4, taken) == 30004
    assert multichain._disjoint_range(4, taken) == 30010
    assert taken == [(30000, 30003), (30004, 30007), (30010, 30013)]
