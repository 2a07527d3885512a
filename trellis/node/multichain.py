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

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from trellis.core.codec import encode
from trellis.core.crypto.suite import ED25519, suite_by_name
from trellis.core.ledger.tx import TxBody, sign_tx, tx_hash
from trellis.core.modules.membership.messages import RegisterCert
from trellis.core.params import GenesisAccount, GenesisInterchain
from trellis.keys.certs import issue_identity_cert
from trellis.keys.signer import KeyInfo, KeyStore
from trellis.node.config import NodeConfig
from trellis.node.home import HomeError
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


def save_layout(layout: Layout) -> None:
    """Write ``chains.json``."""
    data = {
        "base_chain_id": layout.base_chain_id,
        "permissioned": layout.permissioned,
        "chains": [{"index": c.index, "chain_id": c.chain_id, "dir": c.root.name} for c in layout.chains],
        "paths": [vars(p) for p in layout.paths],
        "metrics_listen": layout.metrics_listen,
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
        return Layout(
            root,
            str(data["base_chain_id"]),
            chains,
            paths,
            bool(data.get("permissioned", False)),
            None if listen is None else str(listen),
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
        "# Trellis relayer configuration, written by `trellis net up --chains`",
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
            f"key = {_toml_str(str(relayer_key_path(layout.root, c.index)))}",
            f"genesis = {_toml_str(str(c.nodes[0].home / 'genesis.json'))}",
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
            f"channels = [{{port = {_toml_str(p.port)}, a_channel = {_toml_str(p.a_channel)}, "
            f"b_channel = {_toml_str(p.b_channel)}}}]",
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


Connect = Callable[["Layout", "Chain", "Chain"], "ChainPath"]
"""Joins two chains of a layout (clients both ways, a connection, one transfer channel) and says how. The command
line passes ``trellis.relayer.handshake``'s; this package may not import the relayer (tests/unit/test_layering.py)."""


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
) -> Up:
    """``trellis net up --chains N``: create the chains in ``root`` if needed, start every node and wait until all
    answer; on the first start join each consecutive pair with ``connect`` (recorded in ``chains.json``; a later
    ``up`` reuses the paths), write ``relayer.toml`` and start the relayer unless it runs already.

    Raises:
        HomeError: the directory cannot be created or read, a node does not start, or joining fails (the
            processes started here are stopped again).
    """
    created = False
    if not is_multichain_dir(root):
        init_chains(
            root,
            chains,
            validators,
            base_chain_id=base_chain_id,
            api_port=api_port,
            p2p_port=p2p_port,
            suite=suite,
            permissioned=permissioned,
        )
        created = True
    layout = load_layout(root)
    procs = start_chains(layout, ready_timeout_s)
    relayer: subprocess.Popen[bytes] | None = None
    try:
        if len(layout.chains) > 1 and not layout.paths:
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
                return Up(layout, procs, None, created, f"the relayer exited with status {code}:\n{log}")
    except BaseException:
        for c in layout.chains:
            for n in c.nodes:
                key = f"{c.root.name}/{n.name}"
                if key in procs:
                    stop_started(n, procs[key])
        raise
    return Up(layout, procs, relayer, created)


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
    """JSON for ``net up`` / ``net down``: every chain's API URLs and the paths."""
    return {
        "dir": str(layout.root),
        "chains": [{"chain_id": c.chain_id, "dir": str(c.root), "apis": c.api_urls} for c in layout.chains],
        "paths": [vars(p) for p in layout.paths],
        "relayer_config": str(relayer_config_path(layout.root)),
        "relayer_status": None if layout.metrics_listen is None else f"http://{layout.metrics_listen}/status",
    }
