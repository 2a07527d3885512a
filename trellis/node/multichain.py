"""Local networks of several chains joined by a relayer: ``trellis net up --chains N`` / ``net down`` (ADR 0015
section 10).

Layout of a multi-chain directory::

    chains.json             the chains (index, chain id, directory), the joined paths, the relayer's listener
    chain-I/                an ordinary local network (``node/network.py``) of chain id ``<base>-I``
    relayer.toml            the relayer's configuration (``trellis relayer start --config relayer.toml``)
    relayer/keys/chain-I.*  the relayer's account key on chain I (funded in chain I's genesis)
    relayer/relayer.log     the relayer's output; relayer/relayer.pid its process

Every chain's genesis opens client creation (``interchain.client_policy = "open"``) and funds the relayer's
account there; on a permissioned chain (``--permissioned``) ``up`` also issues the relayer an identity
certificate with org0's CA and registers it. Each chain gets its own API and peer port ranges, disjoint from the
others'. ``up`` starts every chain, waits until all answer, joins each consecutive pair (i, i+1) with light
clients, a connection and one ``transfer`` channel (``trellis.relayer.handshake``), writes ``relayer.toml`` and
starts the relayer; ``down`` stops the relayer first, then every node.

``trellis net up --hub --subchains N`` (ADR 0016 section 5; docs/guides/hub.md) makes a layered network instead:
chain 0 is a hub (genesis member ``hub``, ``interchain.client_policy = "governed"``: only registered sub-chains get
clients) and chains 1..N are its sub-chains, made after the hub and naming it in their genesis (``interchain.hub``),
so they trust it from genesis and take a ``directory`` channel to it. ``up`` registers each sub-chain by
``hub.register`` governance (the hub organisations' admin keys, ``chain-0/admins``, funded in the hub's genesis),
joins it to the hub (clients both ways, a connection, a ``transfer`` and a ``directory`` channel over it, then
``hub.connected`` at the hub: the ``JoinHub`` the command line passes) and runs one relayer with a path per joined
sub-chain. ``--register-online K`` leaves sub-chain K for the operator to register; a later ``up`` joins it and
restarts the relayer with the new path. ``--genesis-registered K`` registers K in the hub's genesis
(``hub.subchains``, with its genesis hash, so K is made first): a genesis hash covers the whole genesis, so such a
sub-chain cannot name the hub; it opens client creation (``open``), pins the hub's genesis hash in its nodes'
``[interchain.genesis_hashes]`` and joins with a ``transfer`` channel only. Every hub node reads each sub-chain's
API and every sub-chain node the hub's (``[interchain.endpoints]``: cross-chain reads and directory proofs).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from trellis.core.codec import encode
from trellis.core.crypto.suite import ED25519, suite_by_name
from trellis.core.ledger.tx import TxBody, sign_tx, tx_hash
from trellis.core.modules.hub.messages import HubRegister
from trellis.core.modules.hub.state import chain_key
from trellis.core.modules.interchain.state import trusted_key
from trellis.core.modules.membership.messages import ApproveMembership, ProposeMembership, RegisterCert
from trellis.core.params import (
    Genesis,
    GenesisAccount,
    GenesisHub,
    GenesisHubRef,
    GenesisInterchain,
    GenesisSubChain,
    load_genesis,
)
from trellis.keys.certs import issue_identity_cert
from trellis.keys.signer import KeyInfo, KeyStore
from trellis.node.config import ConfigError, InterchainSection, NodeConfig, load_config
from trellis.node.home import HomeError, encode_genesis, write_config
from trellis.node.network import (
    NetNode,
    alive,
    free_port_range,
    init_network,
    is_network_dir,
    load_network,
    running_pid,
    runs_command,
    start_node,
    stop_node,
    stop_started,
    terminate,
    wait_ready,
)

MANIFEST_FILE = "chains.json"
RELAYER_CONFIG = "relayer.toml"
RELAYER_DIR = "relayer"
MAX_CHAINS = 8
HUB_CONSENSUS_CAP = 64
"""``interchain.max_consensus_states`` of a hub made by ``net up --hub``."""
MAX_SUBCHAINS = MAX_CHAINS - 1
"""Sub-chains of a local hub (the hub is the eighth chain)."""
HUB_INDEX = 0
"""The hub's chain index in a layered network."""
HUB_PORTS = ("transfer", "directory")
"""The channels joining a sub-chain to its hub, in the order they are opened (one connection)."""
RELAYER_BALANCE = 1_000_000_000_000
"""Native units of the relayer's account in each genesis (the relayer pays no fees; the account must exist)."""
RELAYER_SETTLE_S = 2.0
"""How long ``up`` watches a relayer it started before saying it runs (a bad configuration ends it sooner)."""
PORT_STRIDE = 100
"""With fixed base ports, chain ``i`` uses ``base + i * PORT_STRIDE`` (at most 64 validators a chain)."""


@dataclass(frozen=True)
class Chain:
    """One chain of a multi-chain directory."""

    index: int
    chain_id: str
    root: Path
    """Its network directory (``chain-<index>``)."""
    nodes: list[NetNode]

    @property
    def api_urls(self) -> list[str]:
        return [n.api_url for n in self.nodes]


@dataclass(frozen=True)
class ChainPath:
    """Two chains joined by clients, a connection and one transfer channel (a ``[[path]]`` of ``relayer.toml``)."""

    a: str
    b: str
    a_client: str
    """Chain a's client of chain b."""
    b_client: str
    a_connection: str
    b_connection: str
    a_channel: str
    b_channel: str
    port: str = "transfer"
    channels: list[dict[str, str]] = field(default_factory=list)
    """Further channels over the same connection, each ``{port, a_channel, b_channel}`` (a hub path's
    ``directory`` channel); absent from ``chains.json`` when empty."""


def path_json(p: ChainPath) -> dict[str, Any]:
    """``chains.json`` / ``net up`` JSON of a path (``channels`` only when there are further channels)."""
    out = dict(vars(p))
    if not p.channels:
        del out["channels"]
    return out


def path_channel(p: ChainPath, port: str) -> tuple[str, str] | None:
    """(chain a's channel, chain b's channel) of ``port`` on the path, or None."""
    if p.port == port:
        return p.a_channel, p.b_channel
    for ch in p.channels:
        if ch["port"] == port:
            return ch["a_channel"], ch["b_channel"]
    return None


@dataclass
class Layout:
    """What ``chains.json`` records."""

    root: Path
    base_chain_id: str
    chains: list[Chain]
    paths: list[ChainPath] = field(default_factory=list)
    permissioned: bool = False
    metrics_listen: str | None = None
    """The relayer's metrics and ``/status`` listener (``HOST:PORT``), chosen on the first ``up``."""
    hub: bool = False
    """A layered network: chain ``HUB_INDEX`` is the hub, the others its sub-chains (``net up --hub``)."""
    online: list[int] = field(default_factory=list)
    """Sub-chains left out of the hub's genesis, to be registered by ``hub.register`` governance."""
    genesis_registered: list[int] = field(default_factory=list)
    """Sub-chains registered in the hub's genesis (they do not name the hub: no directory channel)."""
    relayer_certified: bool = False
    """``certify_relayer`` ran (a permissioned layered network certifies the relayer once)."""
    suite: str = ED25519.name
    """The chains' crypto suite (a layered network's admin keys are of it)."""

    @property
    def hub_chain(self) -> Chain:
        """The hub of a layered network."""
        return self.chains[HUB_INDEX]

    @property
    def subchains(self) -> list[Chain]:
        """The sub-chains of a layered network."""
        return [c for c in self.chains if c.index != HUB_INDEX]

    def path_of(self, chain_id: str) -> ChainPath | None:
        """The hub's path to sub-chain ``chain_id``, once joined."""
        return next((p for p in self.paths if p.b == chain_id), None)


def chain_id_of(base: str, index: int) -> str:
    """The chain id of chain ``index``: ``<base>-<index>``."""
    return f"{base}-{index}"


def is_multichain_dir(path: Path) -> bool:
    """True if ``path`` holds chains made by ``init_chains``."""
    return (path / MANIFEST_FILE).is_file()


def relayer_keys(root: Path, suite_name: str = ED25519.name) -> KeyStore:
    """The relayer's key store (``relayer/keys``): one key ``chain-<i>`` per chain."""
    return KeyStore(root / RELAYER_DIR / "keys", suite_by_name(suite_name))


def relayer_key_name(index: int) -> str:
    return f"chain-{index}"


def relayer_key_path(root: Path, index: int) -> Path:
    """The PEM file of the relayer's key on chain ``index``."""
    return root / RELAYER_DIR / "keys" / f"{relayer_key_name(index)}.pem"


def _disjoint_range(n: int, taken: list[tuple[int, int]]) -> int:
    """A free port range of ``n`` ports overlapping none of ``taken`` (inclusive (first, last) pairs)."""
    for _ in range(1000):
        base = free_port_range(n)
        if all(base + n - 1 < first or base > last for first, last in taken):
            taken.append((base, base + n - 1))
            return base
    raise HomeError(f"no {n} free ports apart from the other chains' on 127.0.0.1")


def init_chains(
    root: Path,
    chains: int,
    validators: int,
    *,
    base_chain_id: str = "trellis-dev",
    api_port: int | None = None,
    p2p_port: int | None = None,
    suite: str = ED25519.name,
    permissioned: bool = False,
    extra_accounts: Sequence[GenesisAccount] = (),
    tune: Callable[[NodeConfig], NodeConfig] | None = None,
    bench_network: bool = False,
) -> Layout:
    """Create ``chains`` local networks of ``validators`` nodes each under ``root`` (``chain-<i>``, chain id
    ``<base_chain_id>-<i>``), each an ordinary ``init_network`` network whose genesis opens client creation and
    funds the relayer's account of that chain (and ``extra_accounts``). Ports: chain ``i`` at ``api_port + 100 i``
    / ``p2p_port + 100 i`` when given, else free ranges disjoint from each other.

    Raises:
        HomeError: ``root`` already holds a network, or ``chains`` / ``validators`` is out of range.
    """
    if not 1 <= chains <= MAX_CHAINS:
        raise HomeError(f"--chains must be between 1 and {MAX_CHAINS}")
    if not 1 <= validators <= 64:
        raise HomeError("--validators must be between 1 and 64")
    if is_multichain_dir(root) or is_network_dir(root) or (root / "genesis.json").exists():
        raise HomeError(f"{root} is already initialised; use another directory or remove it")
    root.mkdir(parents=True, exist_ok=True)
    keys = relayer_keys(root, suite)
    relayers: list[KeyInfo] = [
        keys.info(relayer_key_name(i))
        if (root / RELAYER_DIR / "keys" / f"{relayer_key_name(i)}.pem").exists()
        # a half-made directory from an interrupted init keeps its keys
        else keys.create(relayer_key_name(i))
        for i in range(chains)
    ]
    taken: list[tuple[int, int]] = []
    made: list[Chain] = []
    for i in range(chains):
        if api_port is not None and p2p_port is not None:
            api, p2p = api_port + i * PORT_STRIDE, p2p_port + i * PORT_STRIDE
        else:
            api = _disjoint_range(validators, taken)
            p2p = _disjoint_range(validators, taken)
        chain_id = chain_id_of(base_chain_id, i)
        nodes = init_network(
            root / f"chain-{i}",
            validators,
            chain_id=chain_id,
            api_port=api,
            p2p_port=p2p,
            extra_accounts=[
                GenesisAccount(address=relayers[i].address.hex(), balance=RELAYER_BALANCE),
                *extra_accounts,
            ],
            tune=tune,
            suite=suite,
            permissioned=permissioned,
            bench_network=bench_network,
            interchain=GenesisInterchain(client_policy="open"),
        )
        made.append(Chain(i, chain_id, root / f"chain-{i}", nodes))
    layout = Layout(root=root, base_chain_id=base_chain_id, chains=made, permissioned=permissioned)
    save_layout(layout)
    return layout


def _genesis_of(chain: Chain) -> Genesis:
    """The genesis document of a chain just made (its first node's ``genesis.json``)."""
    return msgspec.json.decode((chain.nodes[0].home / "genesis.json").read_bytes(), type=Genesis)


def genesis_hash_of(chain: Chain) -> str:
    """A chain's genesis hash (hex), from its first node's ``genesis.json``."""
    return load_genesis((chain.nodes[0].home / "genesis.json").read_bytes()).genesis_hash.hex()


def _rewrite_genesis(chain: Chain, genesis: Genesis) -> None:
    """Write ``genesis`` as every node's ``genesis.json`` of a chain not started yet (checked: it must load)."""
    raw = encode_genesis(genesis)
    load_genesis(raw)
    for n in chain.nodes:
        (n.home / "genesis.json").write_bytes(raw)


def _set_endpoints(chain: Chain, endpoints: dict[str, str], genesis_hashes: dict[str, str]) -> None:
    """Add ``[interchain] endpoints`` and ``genesis_hashes`` to every node's ``config.toml`` of ``chain``."""
    for n in chain.nodes:
        path = n.home / "config.toml"
        try:
            cfg = load_config(path)
        except ConfigError as exc:
            raise HomeError(str(exc)) from None
        section = InterchainSection(
            endpoints={**cfg.interchain.endpoints, **endpoints},
            genesis_hashes={**cfg.interchain.genesis_hashes, **genesis_hashes},
        )
        write_config(path, msgspec.structs.replace(cfg, interchain=section))


def hub_admins(root: Path, suite_name: str = ED25519.name) -> KeyStore:
    """The hub's organisation admins' keys (``chain-0/admins``): ``admin<i>`` of ``org<i>``, funded in the hub's
    genesis and copied into every hub node's key store (``trellis ... --home chain-0 --from admin<i>``); ``up``
    registers sub-chains with them (``hub.register`` governance)."""
    return KeyStore(root / f"chain-{HUB_INDEX}" / "admins", suite_by_name(suite_name))


def _copy_keys(keys: KeyStore, names: Sequence[str], chain: Chain) -> None:
    """Copy keys ``names`` of ``keys`` into every node's key store of ``chain``."""
    for n in chain.nodes:
        for name in names:
            for suffix in (".pem", ".pub"):
                src = keys.directory / f"{name}{suffix}"
                if src.exists():
                    dst = n.home / "keys" / f"{name}{suffix}"
                    dst.write_bytes(src.read_bytes())
                    os.chmod(dst, 0o600)


def init_hub(
    root: Path,
    subchains: int,
    validators: int,
    *,
    online: Sequence[int] = (),
    genesis_registered: Sequence[int] = (),
    hub_validators: int | None = None,
    base_chain_id: str = "trellis-dev",
    api_port: int | None = None,
    p2p_port: int | None = None,
    suite: str = ED25519.name,
    permissioned: bool = False,
    extra_accounts: Sequence[GenesisAccount] = (),
    tune: Callable[[NodeConfig], NodeConfig] | None = None,
) -> Layout:
    """A layered network under ``root`` (ADR 0016 section 5): chain 0 (``chain-0``, ``<base_chain_id>-0``) the hub
    of ``hub_validators`` (default ``validators``) validators, chains 1..``subchains`` its sub-chains of
    ``validators`` each.

    The sub-chains in ``genesis_registered`` are made first and registered in the hub's genesis (``hub.subchains``);
    they cannot name the hub in their own genesis (each genesis hash would cover the other), so they open client
    creation, pin the hub's genesis hash in their nodes' configuration and join with a ``transfer`` channel only
    (the directory mirrors only chains that name their hub). Every other sub-chain is made after the hub and names
    it (``interchain.hub``, governed policy); ``up`` registers it by governance, except those in ``online``, left
    for the operator (``hub.register``). A sub-chain is operated by ``org<(i - 1) mod hub validators>``. Every chain
    funds the relayer's account (and ``extra_accounts``); the hub also funds its organisations' admin keys
    (``hub_admins``). Ports as ``init_chains``.

    Raises:
        HomeError: ``root`` already holds a network, or a count or a sub-chain index is out of range.
    """
    hub_vals = validators if hub_validators is None else hub_validators
    if not 1 <= subchains <= MAX_SUBCHAINS:
        raise HomeError(f"--subchains must be between 1 and {MAX_SUBCHAINS}")
    if not 1 <= validators <= 64 or not 1 <= hub_vals <= 64:
        raise HomeError("--validators must be between 1 and 64")
    for flag, picked in (("--register-online", online), ("--genesis-registered", genesis_registered)):
        bad = sorted({i for i in picked if not 1 <= i <= subchains})
        if bad:
            raise HomeError(f"{flag} names sub-chains 1..{subchains}, not {', '.join(map(str, bad))}")
    both = sorted(set(online) & set(genesis_registered))
    if both:
        raise HomeError(f"sub-chain {both[0]} cannot be both registered in the hub's genesis and online")
    if is_multichain_dir(root) or is_network_dir(root) or (root / "genesis.json").exists():
        raise HomeError(f"{root} is already initialised; use another directory or remove it")
    root.mkdir(parents=True, exist_ok=True)
    keys = relayer_keys(root, suite)
    relayers: list[KeyInfo] = [
        keys.info(relayer_key_name(i)) if relayer_key_path(root, i).exists() else keys.create(relayer_key_name(i))
        for i in range(subchains + 1)
    ]
    admin_keys = hub_admins(root, suite)
    admins = [
        admin_keys.info(f"admin{i}")
        if (admin_keys.directory / f"admin{i}.pem").exists()
        else admin_keys.create(f"admin{i}")
        for i in range(hub_vals)
    ]
    taken: list[tuple[int, int]] = []
    ports: dict[int, tuple[int, int]] = {}
    for i in range(subchains + 1):
        n = hub_vals if i == HUB_INDEX else validators
        if api_port is not None and p2p_port is not None:
            ports[i] = (api_port + i * PORT_STRIDE, p2p_port + i * PORT_STRIDE)
        else:
            ports[i] = (_disjoint_range(n, taken), _disjoint_range(n, taken))

    def make(i: int, interchain: GenesisInterchain) -> Chain:
        chain_id = chain_id_of(base_chain_id, i)
        funded = [GenesisAccount(address=relayers[i].address.hex(), balance=RELAYER_BALANCE), *extra_accounts]
        if i == HUB_INDEX:
            funded += [GenesisAccount(address=a.address.hex(), balance=RELAYER_BALANCE) for a in admins]
        nodes = init_network(
            root / f"chain-{i}",
            hub_vals if i == HUB_INDEX else validators,
            chain_id=chain_id,
            api_port=ports[i][0],
            p2p_port=ports[i][1],
            extra_accounts=funded,
            tune=tune,
            suite=suite,
            permissioned=permissioned,
            interchain=interchain,
        )
        return Chain(i, chain_id, root / f"chain-{i}", nodes)

    early = set(genesis_registered)
    made: dict[int, Chain] = {}
    for i in sorted(early):  # first: the hub's genesis names their hashes
        made[i] = make(i, GenesisInterchain(client_policy="open"))
    # A hub caps its clients' consensus states (absent: no cap; docs/spec/hub.md 2).
    hub = make(HUB_INDEX, GenesisInterchain(client_policy="governed", max_consensus_states=HUB_CONSENSUS_CAP))
    _copy_keys(admin_keys, [f"admin{i}" for i in range(hub_vals)], hub)
    if early:
        registered = [
            GenesisSubChain(chain_id=c.chain_id, operator_org=operator_of(i, hub_vals), genesis_hash=genesis_hash_of(c))
            for i, c in sorted(made.items())
        ]
        _rewrite_genesis(hub, msgspec.structs.replace(_genesis_of(hub), hub=GenesisHub(subchains=registered)))
    else:  # still a hub (genesis member ``hub``): it takes directory channels and mirrors
        _rewrite_genesis(hub, msgspec.structs.replace(_genesis_of(hub), hub=GenesisHub()))
    hub_ref = GenesisHubRef(chain_id=hub.chain_id, genesis_hash=genesis_hash_of(hub))
    for i in range(1, subchains + 1):
        if i not in early:
            made[i] = make(i, GenesisInterchain(client_policy="governed", hub=hub_ref))
    subs = [made[i] for i in range(1, subchains + 1)]
    _set_endpoints(hub, {c.chain_id: c.api_urls[0] for c in subs}, {})
    for i, c in made.items():
        _set_endpoints(c, {hub.chain_id: hub.api_urls[0]}, {hub.chain_id: hub_ref.genesis_hash} if i in early else {})
    layout = Layout(
        root=root,
        base_chain_id=base_chain_id,
        chains=[hub, *subs],
        permissioned=permissioned,
        hub=True,
        online=sorted(set(online)),
        genesis_registered=sorted(early),
        suite=suite,
    )
    save_layout(layout)
    return layout


def operator_of(index: int, hub_validators: int) -> str:
    """The hub organisation that operates sub-chain ``index``."""
    return f"org{(index - 1) % hub_validators}"


def save_layout(layout: Layout) -> None:
    """Write ``chains.json``."""
    data = {
        "base_chain_id": layout.base_chain_id,
        "permissioned": layout.permissioned,
        "chains": [{"index": c.index, "chain_id": c.chain_id, "dir": c.root.name} for c in layout.chains],
        "paths": [path_json(p) for p in layout.paths],
        "metrics_listen": layout.metrics_listen,
    }
    if layout.hub:
        data["hub"] = {
            "index": HUB_INDEX,
            "online": layout.online,
            "genesis_registered": layout.genesis_registered,
            "relayer_certified": layout.relayer_certified,
            "suite": layout.suite,
        }
    (layout.root / MANIFEST_FILE).write_text(json.dumps(data, indent=2) + "\n")


def load_layout(root: Path) -> Layout:
    """Read ``chains.json`` and each chain's ``network.json``."""
    try:
        data = json.loads((root / MANIFEST_FILE).read_text())
        chains = [
            Chain(int(c["index"]), str(c["chain_id"]), root / c["dir"], load_network(root / c["dir"]))
            for c in data["chains"]
        ]
        paths = [ChainPath(**p) for p in data.get("paths", [])]
        listen = data.get("metrics_listen")
        hub = data.get("hub")
        return Layout(
            root,
            str(data["base_chain_id"]),
            chains,
            paths,
            bool(data.get("permissioned", False)),
            None if listen is None else str(listen),
            hub=hub is not None,
            online=[int(i) for i in hub["online"]] if hub is not None else [],
            genesis_registered=[int(i) for i in hub["genesis_registered"]] if hub is not None else [],
            relayer_certified=bool(hub.get("relayer_certified", False)) if hub is not None else False,
            suite=str(hub["suite"]) if hub is not None else ED25519.name,
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise HomeError(f"{root / MANIFEST_FILE} is missing or damaged: {exc}") from exc


# -- relayer process -----------------------------------------------------------------------------------------------
def relayer_pid_file(root: Path) -> Path:
    return root / RELAYER_DIR / "relayer.pid"


def relayer_config_path(root: Path) -> Path:
    return root / RELAYER_CONFIG


def _runs_relayer(pid: int, config: Path) -> bool:
    """True if ``pid`` is ``trellis relayer start --config <config>``."""
    return runs_command(pid, ["relayer", "start"], "--config", config)


def relayer_pid(root: Path) -> int | None:
    """The pid of this directory's running relayer, or None."""
    try:
        pid = int(relayer_pid_file(root).read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if alive(pid) and _runs_relayer(pid, relayer_config_path(root)) else None


def relayer_command(config: Path) -> list[str]:
    """``trellis relayer start --config CONFIG`` with this interpreter."""
    return [sys.executable, "-m", "trellis.cli.main", "relayer", "start", "--config", str(config)]


def start_relayer(root: Path) -> subprocess.Popen[bytes]:
    """Start ``trellis relayer start --config relayer.toml`` in the background (output to ``relayer/relayer.log``)
    and write its pid file."""
    (root / RELAYER_DIR).mkdir(parents=True, exist_ok=True)
    log = open(root / RELAYER_DIR / "relayer.log", "ab")  # handed to the child process
    proc = subprocess.Popen(
        relayer_command(relayer_config_path(root)),
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        start_new_session=True,
    )
    log.close()
    relayer_pid_file(root).write_text(f"{proc.pid}\n")
    return proc


def stop_relayer(root: Path, timeout_s: float = 20.0) -> bool:
    """SIGTERM the directory's relayer and wait for it (SIGKILL after ``timeout_s``); False if none ran."""
    pid = relayer_pid(root)
    if pid is None:
        relayer_pid_file(root).unlink(missing_ok=True)
        return False
    terminate(pid, timeout_s)
    relayer_pid_file(root).unlink(missing_ok=True)
    return True


# -- relayer.toml --------------------------------------------------------------------------------------------------
def _toml_str(s: str) -> str:
    return json.dumps(s)  # a JSON string is a TOML basic string for the characters used here


def render_relayer_config(layout: Layout, metrics_listen: str | None = None, scan_interval_s: float = 10.0) -> str:
    """``relayer.toml`` text for the layout's chains and paths (the format of ``trellis/relayer/config.py``)."""
    lines = [
        "# Trellis relayer configuration, written by `trellis net up " + ("--hub`" if layout.hub else "--chains`"),
        "",
        "[relayer]",
        f"scan_interval_s = {scan_interval_s:g}",
        "",
    ]
    for c in layout.chains:
        lines += [
            "[[chain]]",
            f"id = {_toml_str(c.chain_id)}",
            "api = [" + ", ".join(_toml_str(u) for u in c.api_urls) + "]",
            # absolute: the relayer reads a relative path from the file's own directory, not the one net up ran in
            f"key = {_toml_str(str(relayer_key_path(layout.root, c.index).absolute()))}",
            f"genesis = {_toml_str(str((c.nodes[0].home / 'genesis.json').absolute()))}",
            "",
        ]
    for p in layout.paths:
        lines += [
            "[[path]]",
            f"a = {_toml_str(p.a)}",
            f"b = {_toml_str(p.b)}",
            f"a_client = {_toml_str(p.a_client)}",
            f"b_client = {_toml_str(p.b_client)}",
            f"a_connection = {_toml_str(p.a_connection)}",
            f"b_connection = {_toml_str(p.b_connection)}",
            "channels = ["
            + ", ".join(
                f"{{port = {_toml_str(port)}, a_channel = {_toml_str(a_ch)}, b_channel = {_toml_str(b_ch)}}}"
                for port, a_ch, b_ch in [
                    (p.port, p.a_channel, p.b_channel),
                    *((c["port"], c["a_channel"], c["b_channel"]) for c in p.channels),
                ]
            )
            + "]",
            "",
        ]
    if metrics_listen is not None:
        lines += ["[metrics]", f"listen = {_toml_str(metrics_listen)}", ""]
    return "\n".join(lines)


def write_relayer_config(layout: Layout, metrics_listen: str | None = None, scan_interval_s: float = 10.0) -> Path:
    """Write ``relayer.toml`` (see ``render_relayer_config``; the listener defaults to the layout's); return its
    path."""
    path = relayer_config_path(layout.root)
    path.write_text(render_relayer_config(layout, metrics_listen or layout.metrics_listen, scan_interval_s))
    return path


# -- processes of every chain --------------------------------------------------------------------------------------
def start_chains(layout: Layout, ready_timeout_s: float = 90.0) -> dict[str, subprocess.Popen[bytes]]:
    """Start every node of every chain that is not running yet; wait until all answer. Returns the processes
    started here, by ``<chain dir>/<node>``. On a failure the nodes started here are stopped again."""
    procs: dict[str, subprocess.Popen[bytes]] = {}
    started: list[tuple[NetNode, subprocess.Popen[bytes]]] = []
    for c in layout.chains:
        for n in c.nodes:
            if running_pid(n) is None:
                p = start_node(n)
                procs[f"{c.root.name}/{n.name}"] = p
                started.append((n, p))
    try:
        for c in layout.chains:
            wait_ready(
                c.nodes,
                {n.name: procs[f"{c.root.name}/{n.name}"] for n in c.nodes if f"{c.root.name}/{n.name}" in procs},
                ready_timeout_s,
            )
    except HomeError:
        for n, p in started:
            stop_started(n, p)
        raise
    return procs


def wait_blocks(layout: Layout, height: int = 2, timeout_s: float = 60.0) -> None:
    """Return once every chain's first node reports ``height`` committed (a handshake needs a committed block of
    each chain: its light block is what the other chain's client starts from).

    Raises:
        HomeError: a chain did not get there in ``timeout_s``.
    """
    deadline = time.monotonic() + timeout_s
    for c in layout.chains:
        while True:
            try:
                if int(_http_json(c.api_urls[0] + "/v1/status", timeout=2.0)["height"]) >= height:
                    break
            except HomeError:
                pass
            if time.monotonic() > deadline:
                raise HomeError(f"{c.chain_id} did not reach height {height} in {timeout_s:.0f} s")
            time.sleep(0.1)  # polling the chain, bounded by the deadline


def stop_chains(layout: Layout) -> list[str]:
    """Stop the relayer first, then every node; return what was stopped."""
    stopped = ["relayer"] if stop_relayer(layout.root) else []
    for c in layout.chains:
        stopped += [f"{c.chain_id}/{n.name}" for n in c.nodes if stop_node(n)]
    return stopped


def _http_json(url: str, body: bytes | None = None, timeout: float = 40.0) -> Any:
    req = urllib.request.Request(url, data=body, method="POST" if body is not None else "GET")
    if body is not None:
        req.add_header("Content-Type", "application/octet-stream")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return json.loads(r.read())
    except urllib.error.HTTPError as exc:
        raise HomeError(f"{url}: HTTP {exc.code}: {exc.read()[:300]!r}") from None
    except OSError as exc:
        raise HomeError(f"{url}: {exc}") from None


def certify_relayer(layout: Layout) -> None:
    """On a permissioned chain every sender needs a registered certificate: issue each chain's relayer key an
    identity certificate with that chain's org0 CA (role ``client``) and register it with a transaction the relayer
    key signs (registration is open to uncertified senders). ``up`` does it once, when it joins the chains."""
    for c in layout.chains:
        ks = relayer_keys(layout.root)
        info = ks.info(relayer_key_name(c.index))
        api = c.api_urls[0]
        ca = c.root / "orgs" / "org0"
        start = datetime.now(UTC) - timedelta(minutes=5)
        pem = issue_identity_cert(
            (ca / "ca.key").read_bytes(),
            (ca / "ca.crt").read_bytes(),
            org="org0",
            role="client",
            public_key=info.public_key,
            name=f"relayer-{c.chain_id}",
            not_before=start,
            not_after=start + timedelta(days=365),
        )
        der = x509.load_pem_x509_certificate(pem).public_bytes(Encoding.DER)
        nonce = int(_http_json(f"{api}/v1/accounts/0x{info.address.hex()}")["next_nonce"])
        signer = ks.signer(relayer_key_name(c.index))
        body = TxBody(chain_id=c.chain_id, sender=signer.public_key, nonce=nonce, payload=RegisterCert(cert=der))
        raw = encode(sign_tx(body, signer.sign))
        _http_json(f"{api}/v1/txs", raw)
        h = "0x" + tx_hash(ks.suite_of(relayer_key_name(c.index)), raw).hex()
        st = _http_json(f"{api}/v1/txs/{h}?wait=30")
        receipt = st.get("receipt") or {}
        if st.get("status") != "committed" or receipt.get("code") != 0:
            raise HomeError(f"registering the relayer's certificate on {c.chain_id} failed: {st}")


def _commit_tx(api: str, chain_id: str, keys: KeyStore, name: str, payload: Any, what: str) -> dict[str, Any]:
    """Sign ``payload`` with key ``name`` of ``keys`` (its account's next nonce), submit it at ``api`` and wait for
    its commit; return the receipt.

    Raises:
        HomeError: not committed, or refused (the receipt's code and message).
    """
    info = keys.info(name)
    nonce = int(_http_json(f"{api}/v1/accounts/0x{info.address.hex()}")["next_nonce"])
    signer = keys.signer(name)
    body = TxBody(chain_id=chain_id, sender=signer.public_key, nonce=nonce, payload=payload)
    raw = encode(sign_tx(body, signer.sign))
    _http_json(f"{api}/v1/txs", raw)
    h = "0x" + tx_hash(keys.suite_of(name), raw).hex()
    st = _http_json(f"{api}/v1/txs/{h}?wait=30")
    receipt: dict[str, Any] = st.get("receipt") or {}
    if st.get("status") != "committed" or receipt.get("code") != 0:
        raise HomeError(f"{what} failed: {receipt.get('message') or st}")
    return receipt


def _state_value(api: str, key: bytes) -> bytes | None:
    """The value of state ``key`` at ``api``'s latest height, or None."""
    value = _http_json(f"{api}/v1/state/0x{key.hex()}").get("value")
    return None if value is None else bytes.fromhex(str(value).removeprefix("0x"))


def hub_trusts(layout: Layout, chain_id: str) -> bool:
    """Whether the hub trusts ``chain_id`` now (``interchain/trusted/<chain_id>``: registered, not retired)."""
    return _state_value(layout.hub_chain.api_urls[0], trusted_key(chain_id)) is not None


def register_by_governance(layout: Layout, sub: Chain) -> int:
    """Register sub-chain ``sub`` at the hub by governance: ``hub.register`` proposed by org0's admin, approved by
    the next organisations' admins until it applies (a majority of the hub's organisations by default). Every
    admin's certificate is issued with its organisation's CA and registered first (once). Returns the proposal
    id.

    Raises:
        HomeError: a step was refused, or the change did not apply with every organisation's approval.
    """
    hub = layout.hub_chain
    api = hub.api_urls[0]
    keys = hub_admins(layout.root, layout.suite)
    admins = sorted((p.stem for p in keys.directory.glob("admin*.pem")), key=lambda n: int(n[5:]))
    change = HubRegister(
        chain_id=sub.chain_id,
        operator_org=operator_of(sub.index, len(hub.nodes)),
        genesis_hash=bytes.fromhex(genesis_hash_of(sub)),
    )
    for name in admins:  # every organisation's admin, once: the operator approves later changes with them too
        _certify_admin(layout, keys, name)
    proposal = -1
    for k, name in enumerate(admins):
        if k == 0:
            receipt = _commit_tx(
                api,
                hub.chain_id,
                keys,
                name,
                ProposeMembership(change=change),
                f"proposing hub.register {sub.chain_id}",
            )
            proposal = int(_event_attr(receipt, "membership.proposed", "proposal"))
        else:
            _commit_tx(
                api,
                hub.chain_id,
                keys,
                name,
                ApproveMembership(proposal_id=proposal),
                f"approving hub.register {sub.chain_id} as {name}",
            )
        if hub_trusts(layout, sub.chain_id):
            return proposal
    raise HomeError(f"hub.register {sub.chain_id} (proposal {proposal}) did not apply with every admin's approval")


def _event_attr(receipt: dict[str, Any], kind: str, attr: str) -> str:
    for ev in receipt.get("events", []):
        attrs = ev.get("attributes") or {}
        if ev.get("type") == kind and attr in attrs:
            return str(attrs[attr])
    raise HomeError(f"no {kind} event with {attr} in the receipt: {receipt}")


def _certify_admin(layout: Layout, keys: KeyStore, name: str) -> None:
    """Issue admin key ``admin<i>`` an admin certificate of the hub's ``org<i>`` CA and register it (once)."""
    hub = layout.hub_chain
    marker = keys.directory / f"{name}.registered"
    if marker.exists():
        return
    org = f"org{name[5:]}"
    ca = hub.root / "orgs" / org
    start = datetime.now(UTC) - timedelta(minutes=5)
    pem = issue_identity_cert(
        (ca / "ca.key").read_bytes(),
        (ca / "ca.crt").read_bytes(),
        org=org,
        role="admin",
        public_key=keys.info(name).public_key,
        name=f"{name}-{hub.chain_id}",
        not_before=start,
        not_after=start + timedelta(days=365),
    )
    der = x509.load_pem_x509_certificate(pem).public_bytes(Encoding.DER)
    _commit_tx(hub.api_urls[0], hub.chain_id, keys, name, RegisterCert(cert=der), f"registering {name}'s certificate")
    marker.write_text("registered\n")


Connect = Callable[["Layout", "Chain", "Chain"], "ChainPath"]
"""Joins two chains of a layout (clients both ways, a connection, one transfer channel) and says how. The command
line passes ``trellis.relayer.handshake``'s; this package may not import the relayer (tests/unit/test_layering.py)."""

JoinHub = Callable[["Layout", "Chain", "Chain"], "ChainPath | None"]
"""Joins a sub-chain (third argument) to the hub (second) of a layered layout: clients both ways, a connection, a
``transfer`` and a ``directory`` channel (``HUB_PORTS``), then ``hub.connected`` at the hub; returns the path (a =
the hub), or None when the hub does not trust the sub-chain yet (not registered). The command line passes
``trellis.relayer.hubjoin``'s."""


@dataclass
class Up:
    """What ``up_chains`` did."""

    layout: Layout
    procs: dict[str, subprocess.Popen[bytes]]
    """Node processes started by this call, by ``chain-<i>/node<j>``."""
    relayer: subprocess.Popen[bytes] | None
    """The relayer process started by this call, if any."""
    created: bool
    """The directory was initialised by this call."""
    relayer_error: str | None = None
    """Set when the relayer started here exited at once: its status and the end of its log."""
    waiting: list[str] = field(default_factory=list)
    """A layered network's sub-chains not joined to the hub yet: the hub does not trust them (not registered)."""


def up_chains(
    root: Path,
    *,
    chains: int,
    validators: int,
    connect: Connect | None,
    base_chain_id: str = "trellis-dev",
    api_port: int | None = None,
    p2p_port: int | None = None,
    suite: str = ED25519.name,
    permissioned: bool = False,
    with_relayer: bool = True,
    ready_timeout_s: float = 90.0,
    hub: bool = False,
    subchains: int = 0,
    online: Sequence[int] = (),
    genesis_registered: Sequence[int] = (),
    join_hub: JoinHub | None = None,
    hub_validators: int | None = None,
    extra_accounts: Sequence[GenesisAccount] = (),
    tune: Callable[[NodeConfig], NodeConfig] | None = None,
) -> Up:
    """``trellis net up --chains N``: create the chains in ``root`` if needed, start every node and wait until all
    answer; on the first start join each consecutive pair with ``connect`` (recorded in ``chains.json``; a later
    ``up`` reuses the paths), write ``relayer.toml`` and start the relayer unless it runs already.

    ``hub`` (``net up --hub --subchains N``): a layered network (``init_hub``; ``online``, ``genesis_registered``,
    ``hub_validators``, ``extra_accounts`` and ``tune`` as there). Every sub-chain not joined yet is registered at
    the hub by governance when it never was (``register_by_governance``; not those in ``online`` or
    ``genesis_registered``), then joined with ``join_hub`` when the hub trusts it; the others are left in
    ``Up.waiting``. When this call joins a sub-chain while the directory's relayer runs, the relayer is restarted
    with the new ``relayer.toml``.

    Raises:
        HomeError: the directory cannot be created or read, a node does not start, or joining fails (the
            processes started here are stopped again).
    """
    created = False
    if hub and not is_multichain_dir(root):
        init_hub(
            root,
            subchains,
            validators,
            online=online,
            genesis_registered=genesis_registered,
            hub_validators=hub_validators,
            base_chain_id=base_chain_id,
            api_port=api_port,
            p2p_port=p2p_port,
            suite=suite,
            permissioned=permissioned,
            extra_accounts=extra_accounts,
            tune=tune,
        )
        created = True
    elif not is_multichain_dir(root):
        init_chains(
            root,
            chains,
            validators,
            base_chain_id=base_chain_id,
            api_port=api_port,
            p2p_port=p2p_port,
            suite=suite,
            permissioned=permissioned,
            extra_accounts=extra_accounts,
            tune=tune,
        )
        created = True
    layout = load_layout(root)
    if hub and not layout.hub:
        raise HomeError(f"{root} holds chains joined in a row (net up --chains), not a hub: use another directory")
    procs = start_chains(layout, ready_timeout_s)
    relayer: subprocess.Popen[bytes] | None = None
    waiting: list[str] = []
    try:
        joined = False
        if layout.hub:
            joined, waiting = _join_subchains(layout, join_hub)
        elif len(layout.chains) > 1 and not layout.paths:
            wait_blocks(layout)
            if layout.permissioned:
                certify_relayer(layout)
            if connect is None:
                raise HomeError("no way to join the chains was given (the relayer package is missing)")
            for a, b in zip(layout.chains, layout.chains[1:], strict=False):
                layout.paths.append(connect(layout, a, b))
            save_layout(layout)
        if layout.metrics_listen is None:
            layout.metrics_listen = f"127.0.0.1:{free_port_range(1)}"
            save_layout(layout)
        if joined and relayer_pid(root) is not None:  # a new path: the relayer reads its file at start only
            stop_relayer(root)
        if relayer_pid(root) is None:  # a running relayer keeps the file it was started with
            write_relayer_config(layout)
        if with_relayer and layout.paths and relayer_pid(root) is None:
            relayer = start_relayer(root)
            try:
                code = relayer.wait(RELAYER_SETTLE_S)
            except subprocess.TimeoutExpired:
                code = None
            if code is not None:
                log = (root / RELAYER_DIR / "relayer.log").read_text(errors="replace")[-1500:]
                relayer_pid_file(root).unlink(missing_ok=True)
                return Up(layout, procs, None, created, f"the relayer exited with status {code}:\n{log}", waiting)
    except BaseException:
        for c in layout.chains:
            for n in c.nodes:
                key = f"{c.root.name}/{n.name}"
                if key in procs:
                    stop_started(n, procs[key])
        raise
    return Up(layout, procs, relayer, created, waiting=waiting)


def _join_subchains(layout: Layout, join_hub: JoinHub | None) -> tuple[bool, list[str]]:
    """Join each sub-chain of a layered ``layout`` that has no path yet and that the hub trusts; record the paths.
    Returns (whether one was joined, the chain ids still waiting for registration)."""
    unjoined = [c for c in layout.subchains if layout.path_of(c.chain_id) is None]
    if not unjoined:
        return False, []
    wait_blocks(layout)
    if layout.permissioned and not layout.relayer_certified:
        certify_relayer(layout)
        layout.relayer_certified = True
        save_layout(layout)
    if join_hub is None:
        raise HomeError("no way to join the sub-chains to the hub was given (the relayer package is missing)")
    joined, waiting = False, []
    for sub in unjoined:
        automatic = sub.index not in layout.online and sub.index not in layout.genesis_registered
        if automatic and _state_value(layout.hub_chain.api_urls[0], chain_key(sub.chain_id)) is None:
            register_by_governance(layout, sub)  # never registered (a retired one keeps its record)
        path = join_hub(layout, layout.hub_chain, sub)
        if path is None:
            waiting.append(sub.chain_id)
            continue
        layout.paths.append(path)
        save_layout(layout)  # each as soon as it is made: a later failure keeps what was joined
        joined = True
    return joined, waiting


def stop_up(up: Up) -> list[str]:
    """Stop what ``up_chains`` started (the relayer first); return the names stopped."""
    stopped = []
    if up.relayer is not None and up.relayer.poll() is None:
        up.relayer.terminate()
        try:
            up.relayer.wait(20)
        except subprocess.TimeoutExpired:
            up.relayer.kill()
            up.relayer.wait()
        relayer_pid_file(up.layout.root).unlink(missing_ok=True)
        stopped.append("relayer")
    for c in up.layout.chains:
        for n in c.nodes:
            key = f"{c.root.name}/{n.name}"
            if key in up.procs and stop_started(n, up.procs[key]):
                stopped.append(f"{c.chain_id}/{n.name}")
    return stopped


def layout_summary(layout: Layout) -> dict[str, Any]:
    """JSON for ``net up`` / ``net down``: every chain's API URLs and the paths (and a hub's sub-chains)."""
    out: dict[str, Any] = {
        "dir": str(layout.root),
        "chains": [{"chain_id": c.chain_id, "dir": str(c.root), "apis": c.api_urls} for c in layout.chains],
        "paths": [path_json(p) for p in layout.paths],
        "relayer_config": str(relayer_config_path(layout.root)),
        "relayer_status": None if layout.metrics_listen is None else f"http://{layout.metrics_listen}/status",
    }
    if layout.hub:
        out["hub"] = hub_summary(layout)
    return out


def hub_summary(layout: Layout) -> dict[str, Any]:
    """A layered network's hub and sub-chains: how each was registered (``genesis``: in the hub's genesis;
    ``governance``: by ``up``; ``online``: left for the operator), its operator and genesis hash, and the ids joining
    it to the hub (the hub's client, connection and channel of each port; the sub-chain's), or ``joined: false``."""
    hub = layout.hub_chain
    subs = []
    for c in layout.subchains:
        entry: dict[str, Any] = {
            "chain_id": c.chain_id,
            "index": c.index,
            "registered": (
                "genesis"
                if c.index in layout.genesis_registered
                else "online"
                if c.index in layout.online
                else "governance"
            ),
            "operator_org": operator_of(c.index, len(hub.nodes)),
            "genesis_hash": genesis_hash_of(c),
        }
        p = layout.path_of(c.chain_id)
        entry["joined"] = p is not None
        if p is not None:
            entry["hub"] = {"client_id": p.a_client, "connection_id": p.a_connection, "channels": {}}
            entry["sub"] = {"client_id": p.b_client, "connection_id": p.b_connection, "channels": {}}
            for port in [p.port, *(ch["port"] for ch in p.channels)]:
                ends = path_channel(p, port)
                assert ends is not None
                entry["hub"]["channels"][port], entry["sub"]["channels"][port] = ends
        subs.append(entry)
    return {"chain_id": hub.chain_id, "apis": hub.api_urls, "subchains": subs}
