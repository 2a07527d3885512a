"""A local multi-validator network: its directory layout, creation (``trellis net init``) and processes
(``trellis net up`` / ``net down``).

Layout of a network directory::

    network.json            the node names, their homes and API addresses
    orgs/orgI/ca.crt|ca.key each validator's organisation and its certificate authority
    nodeI/                  a node home: genesis.json (shared), config.toml, keys/, tls/, data/
    observerI/              an observer's home (``--observers N``, ADR 0018 section 4): the same files, its TLS
                            certificate issued by org(I mod validators)'s CA, ``[node] role = "observer"``,
                            every validator as a peer (and every validator lists it)

``trellis net add-node --org orgI`` adds a home for a validator that is not in the set yet (ADR 0014 section 5,
"Joining"): its own validator key, a node TLS certificate issued by ``orgI``'s CA, the network's genesis and every
existing node as a peer. It starts as a follower; governance (``trellis validators add``) makes it a validator.

``trellis net add-node --org orgI --observer`` adds an observer home instead (``observerK``): it never signs, so its
key is never opened, even if governance adds it to the set.

Each organisation's CA issues its node's TLS certificate; the genesis lists every CA, so peers outside the
membership are refused at the TLS handshake.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
import tomllib
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import msgspec

from trellis.core.crypto.suite import ED25519, UnknownSuite, suite_by_name
from trellis.core.params import GenesisAccount, GenesisInterchain, GenesisOrg, GenesisValidator
from trellis.keys.certs import CertError
from trellis.keys.signer import KeyInfo, KeyStore
from trellis.node.config import (
    ApiSection,
    ConfigError,
    NodeConfig,
    NodeSection,
    P2pSection,
    StorageSection,
    load_config,
    render_config,
)
from trellis.node.home import (
    GENESIS_FILE,
    HomeError,
    create_org_credentials,
    dev_genesis,
    encode_genesis,
    issue_node_tls,
    write_config,
)

NETWORK_FILE = "network.json"


@dataclass(frozen=True)
class NetNode:
    """One node of a local network."""

    name: str
    home: Path
    api_url: str
    role: str = "validator"
    """``validator`` or ``observer`` (``network.json`` names the role of observers only)."""


NET_SNAPSHOT_INTERVAL = 100
"""A local network's nodes write a state snapshot every this many blocks (ADR 0018 section 2: peers can join by
state sync)."""


def is_network_dir(path: Path) -> bool:
    """True if ``path`` holds a network created by ``init_network``."""
    return (path / NETWORK_FILE).is_file()


def load_network(root: Path) -> list[NetNode]:
    """Read ``network.json``."""
    try:
        data = json.loads((root / NETWORK_FILE).read_text())
        return [NetNode(n["name"], root / n["home"], n["api_url"], n.get("role", "validator")) for n in data["nodes"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise HomeError(f"{root / NETWORK_FILE} is missing or damaged: {exc}") from exc


def init_network(
    root: Path,
    validators: int,
    *,
    chain_id: str = "trellis-dev",
    api_port: int = 8680,
    p2p_port: int = 26656,
    extra_accounts: Sequence[GenesisAccount] = (),
    tune: Callable[[NodeConfig], NodeConfig] | None = None,
    suite: str = ED25519.name,
    permissioned: bool = False,
    bench_network: bool = False,
    interchain: GenesisInterchain | None = None,
    observers: int = 0,
) -> list[NetNode]:
    """Create a network of ``validators`` nodes on 127.0.0.1 in ``root`` (API ports ``api_port + i``, peer
    ports ``p2p_port + i``). Every node home gets the dev account keys ``alice`` (mint authority) and ``bob``.
    ``observers`` observer homes follow (``observerI``, ports ``+ validators + I``; ADR 0018 section 4): a TLS
    certificate issued by ``org(I mod validators)``'s CA, ``role = "observer"``, every validator as a peer; every
    validator lists them too. They are not in the genesis validator set; each still gets a ``keys/validator`` key
    (never opened while it is an observer) so that governance could later make it a validator.
    ``extra_accounts`` are funded in genesis too; ``tune`` may adjust each node's configuration. ``suite`` is
    the chain's crypto suite (``ed25519`` or ``sm``): validator and account keys are made for it.
    ``permissioned`` sets genesis ``membership.enforce``. ``bench_network`` marks the genesis as a bench network
    (``bench_network: true``), the only kind whose nodes may skip signature checks; only ``trellis bench`` sets it.
    ``interchain`` sets the genesis's interchain rules (``net up --chains`` opens client creation to members).

    Raises:
        HomeError: ``root`` already holds a network or a node home, ``validators`` or ``observers`` is out of
            range, or the suite is unknown.
    """
    if not 1 <= validators <= 64:
        raise HomeError("--validators must be between 1 and 64")
    if not 0 <= observers <= 64 - validators:
        raise HomeError(f"--observers must be between 0 and {64 - validators} (a local network has at most 64 nodes)")
    try:
        chain_suite = suite_by_name(suite)
    except UnknownSuite as exc:
        raise HomeError(str(exc)) from None
    if permissioned and chain_suite.name != ED25519.name:
        raise HomeError("--permissioned needs the ed25519 suite: identity certificates bind Ed25519 keys")
    if is_network_dir(root) or (root / "genesis.json").exists():
        raise HomeError(f"{root} is already initialised; use another directory or remove it")
    root.mkdir(parents=True, exist_ok=True)
    names = [f"node{i}" for i in range(validators)]
    observer_names = [f"observer{i}" for i in range(observers)]
    shared = KeyStore(root / "accounts", chain_suite)
    alice = shared.create("alice")
    bob = shared.create("bob")
    orgs: list[GenesisOrg] = []
    vals: list[GenesisValidator] = []
    for i, name in enumerate(names):
        org = f"org{i}"
        home = root / name
        orgs.append(create_org_credentials(org, name, ca_dir=root / "orgs" / org, tls_dir=home / "tls"))
        ks = KeyStore(home / "keys", chain_suite)
        val = ks.create("validator")
        for acct in ("alice", "bob"):
            for suffix in (".pem", ".pub"):
                src = root / "accounts" / f"{acct}{suffix}"
                dst = home / "keys" / f"{acct}{suffix}"
                dst.write_bytes(src.read_bytes())
                os.chmod(dst, 0o600)
        vals.append(GenesisValidator(name=name, public_key=val.public_key.hex(), power=10, org=org))
    genesis = dev_genesis(
        chain_id, vals, orgs, alice, bob, extra_accounts, suite=chain_suite.name, permissioned=permissioned
    )
    if bench_network:
        genesis = msgspec.structs.replace(genesis, bench_network=True)
    if interchain is not None:
        genesis = msgspec.structs.replace(genesis, interchain=interchain)
    genesis_bytes = encode_genesis(genesis)
    for k, name in enumerate(observer_names):
        org = f"org{k % validators}"
        ca_dir = root / "orgs" / org
        try:
            issue_node_tls(
                org,
                name,
                ca_key=(ca_dir / "ca.key").read_bytes(),
                ca_cert=(ca_dir / "ca.crt").read_bytes(),
                tls_dir=root / name / "tls",
            )
        except CertError as exc:
            raise HomeError(f"cannot issue {name}'s TLS certificate with {org}'s CA: {exc}") from exc
        KeyStore(root / name / "keys", chain_suite).create("validator")
        _copy_dev_accounts(root, root / name)
    validator_peers = [f"{v}@127.0.0.1:{p2p_port + j}" for j, v in enumerate(names)]
    observer_peers = [f"{o}@127.0.0.1:{p2p_port + validators + k}" for k, o in enumerate(observer_names)]
    nodes: list[NetNode] = []
    for i, name in enumerate(names + observer_names):
        home = root / name
        (home / "genesis.json").write_bytes(genesis_bytes)
        observer = i >= validators
        if observer:
            peers = validator_peers
        else:
            peers = [p for p in validator_peers if not p.startswith(name + "@")] + observer_peers
        cfg = NodeConfig(
            node=NodeSection(moniker=name, role="observer") if observer else NodeSection(moniker=name),
            api=ApiSection(port=api_port + i),
            p2p=P2pSection(node_id=name, port=p2p_port + i, peers=peers),
            storage=StorageSection(snapshot_interval=NET_SNAPSHOT_INTERVAL),
        )
        if tune is not None:
            cfg = tune(cfg)
        write_config(home / "config.toml", cfg)
        nodes.append(NetNode(name, home, f"http://127.0.0.1:{api_port + i}", "observer" if observer else "validator"))
    (root / NETWORK_FILE).write_text(
        json.dumps({"chain_id": chain_id, "nodes": [_network_entry(n) for n in nodes]}, indent=2) + "\n"
    )
    return nodes


def _network_entry(node: NetNode) -> dict[str, str]:
    """``node`` as ``network.json`` lists it (its home relative to the network directory; the role of observers)."""
    entry = {"name": node.name, "home": node.home.name, "api_url": node.api_url}
    if node.role != "validator":
        entry["role"] = node.role
    return entry


def _copy_dev_accounts(root: Path, home: Path) -> None:
    """Copy the network's dev account keys (``alice``, ``bob``) into ``home``'s key store, as those it has."""
    for acct in ("alice", "bob"):
        for suffix in (".pem", ".pub"):
            src = root / "accounts" / f"{acct}{suffix}"
            if src.is_file():
                dst = home / "keys" / f"{acct}{suffix}"
                dst.write_bytes(src.read_bytes())
                os.chmod(dst, 0o600)


@dataclass(frozen=True)
class AddedNode:
    """A node home made by ``add_node``."""

    node: NetNode
    """The new node (its home and API address)."""
    org: str
    """The organisation whose CA issued its TLS certificate (and that should own it as a validator)."""
    validator: KeyInfo
    """Its validator key (``keys/validator``): the public key to propose with ``trellis validators add``."""
    p2p_port: int
    """Its peer port."""
    peers_updated: tuple[str, ...] = ()
    """An observer: the validators whose ``config.toml`` now lists it (read at their next start)."""
    peers_not_updated: tuple[str, ...] = ()
    """An observer: the validators whose configuration could not be rewritten without loss (a section that
    ``config.toml`` rendering does not carry); the observer dials them itself."""


def add_node(root: Path, org: str, *, observer: bool = False) -> AddedNode:
    """Add a node home beside the network's in ``root`` for organisation ``org`` (ADR 0014 section 5, joining).

    The home ``nodeN`` (N the number of nodes so far) gets a fresh validator key for the chain's suite, the dev
    account keys, a node TLS certificate issued by ``orgs/<org>``'s CA, the network's ``genesis.json``, and a
    configuration with the next free API and peer ports (one above the highest of the network) and every existing
    node as a peer. ``network.json`` lists it, so ``net up`` / ``net down`` include it. The node is not a validator
    until governance adds its key; until then it follows the chain.

    ``observer``: the home is ``observerK`` with ``[node] role = "observer"`` (ADR 0018 section 4) and every
    validator (not the other observers) as a peer, and each validator's ``config.toml`` gets it as a peer where
    that rewrite loses nothing (``peers_updated``; a running validator reads it at its next start).

    Raises:
        HomeError: ``root`` holds no network, ``org`` has no CA there, the home already exists, or a node's
            configuration cannot be read.
    """
    nodes = load_network(root)
    ca_dir = root / "orgs" / org
    if not (ca_dir / "ca.key").is_file() or not (ca_dir / "ca.crt").is_file():
        known = sorted(p.name for p in (root / "orgs").iterdir() if p.is_dir()) if (root / "orgs").is_dir() else []
        raise HomeError(f"no organisation {org!r} in {root / 'orgs'} (known: {', '.join(known) or 'none'})")
    if len(nodes) >= 64:
        raise HomeError("a local network has at most 64 nodes")
    taken = {n.name for n in nodes}
    prefix = "observer" if observer else "node"
    index = sum(1 for n in nodes if n.role == "observer") if observer else len(nodes)
    while f"{prefix}{index}" in taken or (root / f"{prefix}{index}").exists():
        index += 1
    name = f"{prefix}{index}"
    home = root / name
    configs: list[tuple[NetNode, NodeConfig]] = []
    for n in nodes:
        try:
            configs.append((n, load_config(n.home / "config.toml")))
        except ConfigError as exc:
            raise HomeError(f"cannot read the configuration of {n.name}: {exc}") from exc
    genesis_bytes = (nodes[0].home / GENESIS_FILE).read_bytes()
    suite = suite_by_name(str(json.loads(genesis_bytes).get("suite", ED25519.name)))
    api_port = max(cfg.api.port for _, cfg in configs) + 1
    p2p_port = max(cfg.p2p.port for _, cfg in configs) + 1
    peers = [
        f"{cfg.p2p.node_id or n.name}@{cfg.p2p.host}:{cfg.p2p.port}"
        for n, cfg in configs
        if not observer or n.role == "validator"
    ]
    try:
        issue_node_tls(
            org,
            name,
            ca_key=(ca_dir / "ca.key").read_bytes(),
            ca_cert=(ca_dir / "ca.crt").read_bytes(),
            tls_dir=home / "tls",
        )
    except CertError as exc:
        raise HomeError(f"cannot issue {name}'s TLS certificate with {org}'s CA: {exc}") from exc
    validator = KeyStore(home / "keys", suite).create("validator")
    _copy_dev_accounts(root, home)
    (home / GENESIS_FILE).write_bytes(genesis_bytes)
    template = configs[0][1]
    cfg = msgspec.structs.replace(
        template,
        node=msgspec.structs.replace(template.node, moniker=name, role="observer" if observer else "validator"),
        api=msgspec.structs.replace(template.api, port=api_port),
        p2p=msgspec.structs.replace(template.p2p, node_id=name, port=p2p_port, peers=peers),
    )
    write_config(home / "config.toml", cfg)
    node = NetNode(name, home, f"http://127.0.0.1:{api_port}", "observer" if observer else "validator")
    updated: list[str] = []
    not_updated: list[str] = []
    if observer:
        me = f"{name}@{cfg.p2p.host}:{p2p_port}"
        for n, vcfg in configs:
            if n.role == "validator":
                listed = _add_peer(n.home / "config.toml", vcfg, me)
                (updated if listed else not_updated).append(n.name)
    data = json.loads((root / NETWORK_FILE).read_text())
    data["nodes"].append(_network_entry(node))
    (root / NETWORK_FILE).write_text(json.dumps(data, indent=2) + "\n")
    return AddedNode(
        node=node,
        org=org,
        validator=validator,
        p2p_port=p2p_port,
        peers_updated=tuple(updated),
        peers_not_updated=tuple(not_updated),
    )


def _add_peer(path: Path, cfg: NodeConfig, peer: str) -> bool:
    """Append ``peer`` to ``[p2p] peers`` of the configuration at ``path`` (read as ``cfg``), only if the file
    rendered again reads back as exactly that configuration; False (the file untouched) otherwise."""
    if peer in cfg.p2p.peers:
        return True
    new = msgspec.structs.replace(cfg, p2p=msgspec.structs.replace(cfg.p2p, peers=[*cfg.p2p.peers, peer]))
    text = render_config(new)
    try:
        if msgspec.convert(tomllib.loads(text), NodeConfig) != new:
            return False
    except (tomllib.TOMLDecodeError, msgspec.ValidationError):
        return False
    write_config(path, new)
    return True


def _ephemeral_range() -> tuple[int, int]:
    """The kernel's range for the local ports of outgoing connections (Linux; the IANA range elsewhere)."""
    try:
        low, high = (int(x) for x in Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
        return low, high
    except (OSError, ValueError):
        return 49152, 65535


def _listen_windows() -> list[tuple[int, int]]:
    """Port windows (inclusive) outside the ephemeral range, where no outgoing connection can be holding a port
    we are about to listen on."""
    low, high = _ephemeral_range()
    windows = []
    if low - 1 >= 20000 + 1000:
        windows.append((20000, low - 1))
    elif low - 1 >= 10000 + 1000:
        windows.append((10000, low - 1))
    if high + 1 <= 65000 - 1000:
        windows.append((high + 1, 65000))
    return windows or [(20000, 30000)]


def free_port_range(n: int, *, avoid: int | None = None) -> int:
    """A base port such that ``base .. base + n - 1`` are all free right now on 127.0.0.1 (and, if ``avoid``
    is given, the range does not overlap ``avoid .. avoid + n - 1``).

    The range is drawn at random from outside the kernel's ephemeral range: a port taken from inside it (as
    binding port 0 gives) can meanwhile become the local port of some outgoing connection (a node dialing a
    peer, a client polling an API), and the node that later tries to listen on it fails with EADDRINUSE.
    """

    rng = random.SystemRandom()
    windows = _listen_windows()
    for _ in range(10_000):
        first, last = rng.choice(windows)
        base = rng.randint(first, last - n + 1)
        if avoid is not None and abs(base - avoid) < n:
            continue
        socks: list[socket.socket] = []
        try:
            for port in range(base, base + n):
                s = socket.socket()
                socks.append(s)
                s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise OSError(f"no {n} consecutive free ports found on 127.0.0.1")


# -- processes ---------------------------------------------------------------------------------------------------
def _pid_file(node: NetNode) -> Path:
    return node.home / "node.pid"


def _proc_state(pid: int) -> str | None:
    """The process state letter from ``/proc/PID/stat`` (``R``, ``S``, ``Z``...), None if the process is gone or
    there is no procfs."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rpartition(")")[2].split()  # the command name in (...) may hold spaces
    return fields[0] if fields else None


def alive(pid: int) -> bool:
    """True while ``pid`` is a running process: a zombie (killed, not yet reaped by its parent) is not alive,
    though ``kill(pid, 0)`` still succeeds on it."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    if Path("/proc/self").exists():
        return _proc_state(pid) not in (None, "Z", "X")
    return True


def runs_command(pid: int, command: list[str], option: str, path: Path) -> bool:
    """True if process ``pid`` runs ``trellis <command...>`` with ``<option> <path>`` (read from
    ``/proc/PID/cmdline``), so that a stale pid file whose pid now belongs to another program is never taken for
    ours, nor signalled. Without procfs, any live process is taken at its word."""
    proc = Path(f"/proc/{pid}")
    if not Path("/proc/self").exists():
        return True
    try:
        argv = [a.decode(errors="replace") for a in (proc / "cmdline").read_bytes().split(b"\0") if a]
        cwd = os.readlink(proc / "cwd")
    except OSError:
        return False
    n = len(command)
    if not any(argv[i : i + n] == command for i in range(len(argv))):
        return False
    given = [argv[i + 1] for i, a in enumerate(argv[:-1]) if a == option]
    given += [a.removeprefix(option + "=") for a in argv if a.startswith(option + "=")]
    want = path.resolve()
    return any(Path(os.path.join(cwd, g)).resolve() == want for g in given)


def _runs_node(pid: int, home: Path) -> bool:
    """True if process ``pid`` is ``trellis node start`` for ``home``."""
    return runs_command(pid, ["node", "start"], "--home", home)


def running_pid(node: NetNode) -> int | None:
    """The pid of the node's process if it is running: the pid file names a live process (not a zombie) that is
    ``trellis node start`` for this node's home."""
    try:
        pid = int(_pid_file(node).read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if alive(pid) and _runs_node(pid, node.home) else None


def start_node(node: NetNode, *, foreground_output: bool = False, netns: str | None = None) -> subprocess.Popen[bytes]:
    """Start ``trellis node start`` for ``node`` (output to ``node.log`` in its home); with ``netns``, in that
    network namespace (``ip netns exec`` runs the node in place: the pid is the node's)."""
    argv = [sys.executable, "-m", "trellis.cli.main", "node", "start", "--home", str(node.home)]
    log = open(node.home / "node.log", "ab")  # handed to the child process
    proc = subprocess.Popen(
        ["ip", "netns", "exec", netns, *argv] if netns is not None else argv,
        stdout=subprocess.PIPE if foreground_output else log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        start_new_session=True,
    )
    log.close()
    _pid_file(node).write_text(f"{proc.pid}\n")
    return proc


def wait_ready(nodes: list[NetNode], procs: dict[str, subprocess.Popen[bytes]], timeout_s: float = 60.0) -> None:
    """Return once every node's API answers; raise HomeError naming a node that exited or never answered."""
    deadline = time.monotonic() + timeout_s
    pending = list(nodes)
    while pending:
        for node in list(pending):
            proc = procs.get(node.name)
            if proc is not None and proc.poll() is not None:
                tail = (node.home / "node.log").read_text(errors="replace")[-2000:]
                raise HomeError(f"{node.name} exited with status {proc.returncode}:\n{tail}")
            try:
                with urllib.request.urlopen(node.api_url + "/v1/status", timeout=1.0) as r:
                    if r.status == 200:
                        pending.remove(node)
            except OSError:
                pass
        if pending and time.monotonic() > deadline:
            raise HomeError(f"not ready after {timeout_s:.0f} s: {', '.join(n.name for n in pending)}")
        if pending:
            time.sleep(0.1)  # polling readiness, bounded by the deadline


def stop_started(node: NetNode, proc: subprocess.Popen[bytes], timeout_s: float = 20.0) -> bool:
    """Stop a node process that this program started (``proc``, from ``start_node``): SIGTERM, wait (SIGKILL
    after ``timeout_s``), reap it, and remove the pid file if it still names it. Nothing else is signalled.
    Returns False if it had already exited."""
    was_running = proc.poll() is None
    if was_running:
        proc.terminate()
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    try:
        if int(_pid_file(node).read_text().strip()) == proc.pid:
            _pid_file(node).unlink()
    except (OSError, ValueError):
        pass
    return was_running


def terminate(pid: int, timeout_s: float = 20.0) -> None:
    """SIGTERM ``pid`` and wait for it to exit (reaping it if it is our child); SIGKILL after ``timeout_s``."""
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while alive(pid) and time.monotonic() < deadline:
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        time.sleep(0.05)  # waiting for the process to exit, bounded
    if alive(pid):
        os.kill(pid, signal.SIGKILL)


def stop_node(node: NetNode, timeout_s: float = 20.0) -> bool:
    """SIGTERM the node's process and wait for it (SIGKILL after ``timeout_s``); False if it was not running."""
    pid = running_pid(node)
    if pid is None:
        _pid_file(node).unlink(missing_ok=True)
        return False
    terminate(pid, timeout_s)
    _pid_file(node).unlink(missing_ok=True)
    return True


# -- networks in network namespaces (ADR 0018 section 5; trellis/node/netns.py) ---------------------------------
def place_in_subnet(root: Path, subnet: str) -> list[NetNode]:
    """Give the nodes of the network in ``root`` their own addresses in ``subnet`` (a /24), for running each in
    its own network namespace: node k of ``network.json`` listens (API and peers) on ``subnet``'s ``.k+2``, its
    peers are dialled at theirs, and ``network.json`` records the API URLs and ``netns_subnet``. Ports are kept.

    Raises:
        HomeError: ``root`` holds no network or a configuration cannot be read.
    """
    from trellis.node.netns import node_address

    nodes = load_network(root)
    addresses = {n.name: node_address(subnet, k) for k, n in enumerate(nodes)}
    for n in nodes:
        try:
            cfg = load_config(n.home / "config.toml")
        except ConfigError as exc:
            raise HomeError(f"cannot read the configuration of {n.name}: {exc}") from exc
        peers = []
        for peer in cfg.p2p.peers:
            name, _, hostport = peer.partition("@")
            port = hostport.rpartition(":")[2]
            peers.append(f"{name}@{addresses[name]}:{port}" if name in addresses else peer)
        addr = addresses[n.name]
        cfg = msgspec.structs.replace(
            cfg,
            api=msgspec.structs.replace(cfg.api, host=addr),
            p2p=msgspec.structs.replace(cfg.p2p, host=addr, peers=peers),
        )
        write_config(n.home / "config.toml", cfg)
    data = json.loads((root / NETWORK_FILE).read_text())
    for entry in data["nodes"]:
        addr = addresses[entry["name"]]
        entry["api_url"] = f"http://{addr}:{entry['api_url'].rpartition(':')[2]}"
    data["netns_subnet"] = subnet
    (root / NETWORK_FILE).write_text(json.dumps(data, indent=2) + "\n")
    return load_network(root)


def network_subnet(root: Path) -> str | None:
    """The subnet the network in ``root`` was placed in (``place_in_subnet``), None for one on 127.0.0.1."""
    try:
        value = json.loads((root / NETWORK_FILE).read_text()).get("netns_subnet")
    except (OSError, ValueError, AttributeError) as exc:
        raise HomeError(f"{root / NETWORK_FILE} is missing or damaged: {exc}") from exc
    return value if isinstance(value, str) else None
