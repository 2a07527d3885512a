"""A local multi-validator network: its directory layout, creation (``trellis net init``) and processes
(``trellis net up`` / ``net down``).

Layout of a network directory::

    network.json            the node names, their homes and API addresses
    orgs/orgI/ca.crt|ca.key each validator's organisation and its certificate authority
    nodeI/                  a node home: genesis.json (shared), config.toml, keys/, tls/, data/

``trellis net add-node --org orgI`` adds a home for a validator that is not in the set yet (ADR 0014 section 5,
"Joining"): its own validator key, a node TLS certificate issued by ``orgI``'s CA, the network's genesis and every
existing node as a peer. It starts as a follower; governance (``trellis validators add``) makes it a validator.

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
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import msgspec

from trellis.core.crypto.suite import ED25519, UnknownSuite, suite_by_name
from trellis.core.params import GenesisAccount, GenesisInterchain, GenesisOrg, GenesisValidator
from trellis.keys.certs import CertError
from trellis.keys.signer import KeyInfo, KeyStore
from trellis.node.config import ApiSection, ConfigError, NodeConfig, NodeSection, P2pSection, load_config
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


def is_network_dir(path: Path) -> bool:
    """True if ``path`` holds a network created by ``init_network``."""
    return (path / NETWORK_FILE).is_file()


def load_network(root: Path) -> list[NetNode]:
    """Read ``network.json``."""
    try:
        data = json.loads((root / NETWORK_FILE).read_text())
        return [NetNode(n["name"], root / n["home"], n["api_url"]) for n in data["nodes"]]
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
) -> list[NetNode]:
    """Create a network of ``validators`` nodes on 127.0.0.1 in ``root`` (API ports ``api_port + i``, peer
    ports ``p2p_port + i``). Every node home gets the dev account keys ``alice`` (mint authority) and ``bob``.
    ``extra_accounts`` are funded in genesis too; ``tune`` may adjust each node's configuration. ``suite`` is
    the chain's crypto suite (``ed25519`` or ``sm``): validator and account keys are made for it.
    ``permissioned`` sets genesis ``membership.enforce``. ``bench_network`` marks the genesis as a bench network
    (``bench_network: true``), the only kind whose nodes may skip signature checks; only ``trellis bench`` sets it.
    ``interchain`` sets the genesis's interchain rules (``net up --chains`` opens client creation to members).

    Raises:
        HomeError: ``root`` already holds a network or a node home, ``validators`` is out of range, or the
            suite is unknown.
    """
    if not 1 <= validators <= 64:
        raise HomeError("--validators must be between 1 and 64")
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
    nodes: list[NetNode] = []
    for i, name in enumerate(names):
        home = root / name
        (home / "genesis.json").write_bytes(genesis_bytes)
        peers = [f"{other}@127.0.0.1:{p2p_port + j}" for j, other in enumerate(names) if other != name]
        cfg = NodeConfig(
            node=NodeSection(moniker=name),
            api=ApiSection(port=api_port + i),
            p2p=P2pSection(node_id=name, port=p2p_port + i, peers=peers),
        )
        if tune is not None:
            cfg = tune(cfg)
        write_config(home / "config.toml", cfg)
        nodes.append(NetNode(name, home, f"http://127.0.0.1:{api_port + i}"))
    (root / NETWORK_FILE).write_text(
        json.dumps(
            {"chain_id": chain_id, "nodes": [{"name": n.name, "home": n.name, "api_url": n.api_url} for n in nodes]},
            indent=2,
        )
        + "\n"
    )
    return nodes


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


def add_node(root: Path, org: str) -> AddedNode:
    """Add a node home beside the network's in ``root`` for organisation ``org`` (ADR 0014 section 5, joining).

    The home ``nodeN`` (N the number of nodes so far) gets a fresh validator key for the chain's suite, the dev
    account keys, a node TLS certificate issued by ``orgs/<org>``'s CA, the network's ``genesis.json``, and a
    configuration with the next free API and peer ports (one above the highest of the network) and every existing
    node as a peer. ``network.json`` lists it, so ``net up`` / ``net down`` include it. The node is not a validator
    until governance adds its key; until then it follows the chain.

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
    index = len(nodes)
    while f"node{index}" in taken or (root / f"node{index}").exists():
        index += 1
    name = f"node{index}"
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
    peers = [f"{cfg.p2p.node_id or n.name}@{cfg.p2p.host}:{cfg.p2p.port}" for n, cfg in configs]
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
    for acct in ("alice", "bob"):
        for suffix in (".pem", ".pub"):
            src = root / "accounts" / f"{acct}{suffix}"
            if src.is_file():
                dst = home / "keys" / f"{acct}{suffix}"
                dst.write_bytes(src.read_bytes())
                os.chmod(dst, 0o600)
    (home / GENESIS_FILE).write_bytes(genesis_bytes)
    template = configs[0][1]
    cfg = msgspec.structs.replace(
        template,
        node=msgspec.structs.replace(template.node, moniker=name),
        api=msgspec.structs.replace(template.api, port=api_port),
        p2p=msgspec.structs.replace(template.p2p, node_id=name, port=p2p_port, peers=peers),
    )
    write_config(home / "config.toml", cfg)
    node = NetNode(name, home, f"http://127.0.0.1:{api_port}")
    data = json.loads((root / NETWORK_FILE).read_text())
    data["nodes"].append({"name": name, "home": name, "api_url": node.api_url})
    (root / NETWORK_FILE).write_text(json.dumps(data, indent=2) + "\n")
    return AddedNode(node=node, org=org, validator=validator, p2p_port=p2p_port)


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


def start_node(node: NetNode, *, foreground_output: bool = False) -> subprocess.Popen[bytes]:
    """Start ``trellis node start`` for ``node`` (output to ``node.log`` in its home)."""
    log = open(node.home / "node.log", "ab")  # handed to the child process
    proc = subprocess.Popen(
        [sys.executable, "-m", "trellis.cli.main", "node", "start", "--home", str(node.home)],
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
