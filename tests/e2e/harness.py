"""Helpers for end-to-end tests: real ``trellis`` node processes on 127.0.0.1 and a small HTTP client."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgspec

from trellis.core.codec import encode
from trellis.core.crypto.suite import ED25519
from trellis.core.ledger.tx import SignedTx, TxBody, sign_tx, tx_hash
from trellis.core.modules.accounts.messages import Transfer
from trellis.core.modules.payload import Payload
from trellis.keys.signer import KeyStore, MemorySigner
from trellis.node.config import NodeConfig
from trellis.node.network import free_port_range


def free_port() -> int:
    """A TCP port that was free a moment ago."""
    return free_port_range(1)


def rss_mb(pid: int) -> int:
    """The resident memory of process ``pid`` in MiB (``VmRSS`` of ``/proc/PID/status``; Linux only)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) // 1024
    raise AssertionError("no VmRSS")


def trellis_cmd(*args: str) -> list[str]:
    """The command line that runs the installed CLI with this interpreter."""
    return [sys.executable, "-m", "trellis.cli.main", *args]


class Http:
    """Minimal JSON-over-HTTP client for the node API."""

    def __init__(self, base: str) -> None:
        self.base = base

    def get(self, path: str, timeout: float = 10.0) -> tuple[int, Any]:
        try:
            with urllib.request.urlopen(self.base + path, timeout=timeout) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null")

    def post_tx(self, raw: bytes, timeout: float = 10.0) -> tuple[int, Any]:
        req = urllib.request.Request(self.base + "/v1/txs", data=raw, method="POST")
        req.add_header("Content-Type", "application/octet-stream")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null")


class NodeProcess:
    """A ``trellis node start`` process over a home directory."""

    def __init__(self, home: Path, port: int) -> None:
        self.home = home
        self.port = port
        self.http = Http(f"http://127.0.0.1:{port}")
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = home / "node.log"

    def start(self, ready_timeout: float = 30.0) -> None:
        """Start the process and return once its API answers (or fail with its log)."""
        log = open(self.log_path, "ab")  # handed to the child process
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            trellis_cmd("node", "start", "--home", str(self.home)), stdout=log, stderr=subprocess.STDOUT, env=env
        )
        log.close()
        deadline = time.monotonic() + ready_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"node exited with {self.proc.returncode}:\n{self.log_path.read_text()[-3000:]}")
            try:
                status, _ = self.http.get("/v1/status", timeout=1.0)
                if status == 200:
                    return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.05)  # polling for readiness, bounded by the deadline
        raise RuntimeError(f"node did not become ready:\n{self.log_path.read_text()[-3000:]}")

    def kill(self) -> None:
        """SIGKILL the process and reap it."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> int:
        """SIGTERM (a clean stop) and return the exit status."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise

    def height(self) -> int:
        _, st = self.http.get("/v1/status")
        return int(st["height"])


def init_home(home: Path, port: int, *extra: str) -> None:
    """Run ``trellis init`` for a one-validator dev network."""
    subprocess.run(
        trellis_cmd("init", "--home", str(home), "--api-port", str(port), *extra), check=True, capture_output=True
    )


def signed(signer: MemorySigner, chain_id: str, nonce: int, payload: Payload) -> tuple[bytes, SignedTx]:
    """Sign ``payload`` and return (canonical bytes, transaction)."""
    tx = sign_tx(TxBody(chain_id=chain_id, sender=signer.public_key, nonce=nonce, payload=payload), signer.sign)
    return encode(tx), tx


class Network:
    """``n`` validators initialised with ``trellis net init`` under ``root`` (short timeouts for tests)."""

    def __init__(self, root: Path, n: int = 4) -> None:
        api = free_port_range(n)
        p2p = free_port_range(n, avoid=api)
        subprocess.run(
            trellis_cmd(
                "net",
                "init",
                "--home",
                str(root),
                "--validators",
                str(n),
                "--api-port",
                str(api),
                "--p2p-port",
                str(p2p),
            ),
            check=True,
            capture_output=True,
        )
        self.root = root
        self.nodes = []
        for i in range(n):
            home = root / f"node{i}"
            cfg = home / "config.toml"
            # Shorter timeouts than production so failover is quick in tests.
            text = cfg.read_text().replace("propose_timeout_ms = 3000", "propose_timeout_ms = 800")
            cfg.write_text(text.replace("empty_block_interval_ms = 1000", "empty_block_interval_ms = 300"))
            self.nodes.append(NodeProcess(home, api + i))
        ks = KeyStore(root / "node0" / "keys")
        self.alice = ks.signer("alice")
        self.bob = ks.info("bob").address
        self.alice_addr = ks.info("alice").address
        self.chain_id = "trellis-dev"

    def start_all(self) -> None:
        """Start every node at once and wait until all answer; a node that fails is reported with its log."""
        errors: dict[str, BaseException] = {}

        def start(node: NodeProcess) -> None:
            try:
                node.start(ready_timeout=60)
            except BaseException as exc:  # reported below, with the node's name
                errors[node.home.name] = exc

        threads = [threading.Thread(target=start, args=(node,), daemon=True) for node in self.nodes]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=75)
        for node in self.nodes:
            if node.home.name in errors:
                raise AssertionError(f"{node.home.name} did not start: {errors[node.home.name]}")
            if not self._ready(node):
                code = node.proc.poll() if node.proc is not None else None
                log = node.log_path.read_text()[-3000:] if node.log_path.exists() else ""
                raise AssertionError(f"{node.home.name} did not start (exit status {code}):\n{log}")

    @staticmethod
    def _ready(node: NodeProcess) -> bool:
        try:
            return node.http.get("/v1/status", timeout=1)[0] == 200
        except OSError:
            return False

    def heights(self, which: list[int]) -> list[int]:
        return [self.nodes[i].height() for i in which]

    def wait_height(self, which: list[int], target: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while min(self.heights(which)) < target:
            assert time.monotonic() < deadline, f"nodes {which} at {self.heights(which)}, wanted {target}"
            time.sleep(0.1)  # polling the chain, bounded

    def send(self, via: int, amount: int) -> str:
        node = self.nodes[via]
        nonce = node.http.get(f"/v1/accounts/0x{self.alice_addr.hex()}")[1]["next_nonce"]
        raw, _ = signed(self.alice, self.chain_id, nonce, Transfer(to=self.bob, amount=amount))
        status, body = node.http.post_tx(raw)
        assert status == 202, body
        return "0x" + tx_hash(ED25519, raw).hex()

    def wait_committed(self, via: int, h: str, timeout: float = 30) -> dict:
        status, st = self.nodes[via].http.get(f"/v1/txs/{h}?wait={int(timeout)}", timeout=timeout + 5)
        assert status == 200 and st["status"] == "committed", st
        return st

    def assert_same_ledgers(self, which: list[int], upto: int) -> None:
        for h in range(1, upto + 1):
            ids = {self.nodes[i].http.get(f"/v1/blocks/{h}")[1]["block_id"] for i in which}
            roots = {self.nodes[i].http.get(f"/v1/blocks/{h}")[1]["header"]["state_root"] for i in which}
            assert len(ids) == 1 and len(roots) == 1, f"nodes disagree at height {h}"

    def stop_all(self) -> None:
        for node in self.nodes:
            if node.proc is not None and node.proc.poll() is None:
                node.stop()

    def cli(self, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        """Run ``trellis ARGS --home <network root>`` (node0's home and key store, the network's org CAs)."""
        return subprocess.run(
            trellis_cmd(*args, "--home", str(self.root)), capture_output=True, text=True, timeout=timeout
        )

    def cli_json(self, *args: str, timeout: float = 60.0) -> Any:
        """``cli`` with ``--json``; the command must exit 0. Returns its parsed output."""
        res = self.cli(*args, "--json", timeout=timeout)
        assert res.returncode == 0, f"trellis {' '.join(args)} exited {res.returncode}:\n{res.stdout}{res.stderr}"
        return json.loads(res.stdout)

    def add_node(self, org: str) -> tuple[NodeProcess, dict[str, Any]]:
        """``trellis net add-node --org ORG``: a joining home (not started) with the tests' short timeouts; it is
        appended to ``nodes``. Returns the node and the command's JSON output (``name``, ``public_key``, ...)."""
        out = self.cli_json("net", "add-node", "--org", org)
        home = Path(out["home"])
        cfg = home / "config.toml"
        text = cfg.read_text().replace("propose_timeout_ms = 3000", "propose_timeout_ms = 800")
        cfg.write_text(text.replace("empty_block_interval_ms = 1000", "empty_block_interval_ms = 300"))
        node = NodeProcess(home, int(out["api"].rsplit(":", 1)[1]))
        self.nodes.append(node)
        return node, out


# -- several chains joined by a relayer (ADR 0015 section 10) ------------------------------------------------------
BATCH_MEDIA = "application/x-trellis-txs"


def post_batch(http: Http, raws: list[bytes], timeout: float = 30.0) -> dict[str, Any]:
    """``POST /v1/txs/batch`` (length-prefixed canonical transactions); every one must be admitted."""
    body = b"".join(len(raw).to_bytes(4, "big") + raw for raw in raws)
    req = urllib.request.Request(http.base + "/v1/txs/batch", data=body, method="POST")
    req.add_header("Content-Type", BATCH_MEDIA)
    with urllib.request.urlopen(req, timeout=timeout) as r:
        res: dict[str, Any] = json.loads(r.read())
    assert not res["rejected"], res["rejected"][:5]
    return res


def account_signer(name: str) -> MemorySigner:
    """A deterministic Ed25519 account key for tests (``name`` picks it)."""
    return MemorySigner(ED25519.hash(b"trellis-e2e-account/" + name.encode()))


def _quick_consensus(cfg: NodeConfig) -> NodeConfig:
    """The tests' short timeouts (as ``Network`` sets them), for every node of every chain."""
    return msgspec.structs.replace(
        cfg,
        consensus=msgspec.structs.replace(cfg.consensus, propose_timeout_ms=800, empty_block_interval_ms=300),
    )


class MultiChain:
    """``chains`` chains of ``validators`` validators each (``trellis/node/multichain.py``: chain ids
    ``<base>-<i>``, disjoint ports, ``client_policy = "open"``, a funded relayer account per chain), each an
    ordinary ``Network`` in ``nets``; ``funded`` accounts get ``balance`` on every chain. ``connect`` joins each
    consecutive pair with the relayer's handshake; the relayer runs as a ``trellis relayer start`` process that can
    be killed with SIGKILL and restarted."""

    def __init__(
        self,
        root: Path,
        chains: int = 2,
        validators: int = 4,
        *,
        base: str = "ic",
        funded: Sequence[bytes] = (),
        balance: int = 10**12,
        endpoints: bool = False,
    ) -> None:
        from trellis.core.params import GenesisAccount
        from trellis.node import multichain

        self.layout = multichain.init_chains(
            root,
            chains,
            validators,
            base_chain_id=base,
            extra_accounts=[GenesisAccount(address=a.hex(), balance=balance) for a in funded],
            tune=_quick_consensus,
        )
        self.root = root
        self.nets: list[Network] = [self._network(c) for c in self.layout.chains]
        self.relayer: subprocess.Popen[bytes] | None = None
        self.relayer_log = root / "relayer" / "relayer.log"
        if endpoints:
            self._write_endpoints()

    @staticmethod
    def _network(chain: Any) -> Network:
        net = Network.__new__(Network)  # an existing network directory: no ``net init``
        net.root = chain.root
        net.nodes = [NodeProcess(n.home, int(n.api_url.rsplit(":", 1)[1])) for n in chain.nodes]
        ks = KeyStore(chain.root / "node0" / "keys")
        net.alice = ks.signer("alice")
        net.bob = ks.info("bob").address
        net.alice_addr = ks.info("alice").address
        net.chain_id = chain.chain_id
        return net

    def _write_endpoints(self) -> None:
        """``[interchain] endpoints`` of every node: each other chain's node0 API (cross-chain DID resolution), and
        ``[interchain] genesis_hashes``: each other chain's genesis hash (from its ``genesis.json``), which decides
        the client that answers for it (the chains' ``open`` policy has no governance trust record). Appended as
        TOML text (``write_config`` renders only the sections it knows); the node validates it."""
        from trellis.core.params import load_genesis
        from trellis.node.config import load_config

        hashes = {
            c.chain_id: load_genesis((c.nodes[0].home / "genesis.json").read_bytes()).genesis_hash.hex()
            for c in self.layout.chains
        }
        for c in self.layout.chains:
            eps = {o.chain_id: o.api_urls[0] for o in self.layout.chains if o.chain_id != c.chain_id}
            pins = {k: v for k, v in hashes.items() if k != c.chain_id}
            for n in c.nodes:
                path = n.home / "config.toml"
                lines = ["", "[interchain.endpoints]", *(f"{json.dumps(k)} = {json.dumps(v)}" for k, v in eps.items())]
                lines += [
                    "",
                    "[interchain.genesis_hashes]",
                    *(f"{json.dumps(k)} = {json.dumps(v)}" for k, v in pins.items()),
                ]
                path.write_text(path.read_text() + "\n".join(lines) + "\n")
                section = load_config(path).interchain
                assert (section.endpoints, section.genesis_hashes) == (eps, pins)

    @property
    def chain_ids(self) -> list[str]:
        return [c.chain_id for c in self.layout.chains]

    def relayer_signer(self, index: int) -> MemorySigner:
        """The relayer's account key on chain ``index``."""
        from trellis.node import multichain

        return multichain.relayer_keys(self.root).signer(multichain.relayer_key_name(index))

    def start_all(self) -> None:
        """Start every node of every chain at once and wait until all answer."""
        errors: list[BaseException] = []

        def start(net: Network) -> None:
            try:
                net.start_all()
            except BaseException as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=start, args=(net,), daemon=True) for net in self.nets]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        if errors:
            raise errors[0]

    def connect(self, metrics: bool = True) -> None:
        """Join each consecutive pair of chains (clients, connection, one transfer channel) with the relayer's
        handshake, record the paths and write ``relayer.toml`` (with a metrics listener on a free port)."""
        from trellis.bench.interchain import connect_chains
        from trellis.node import multichain

        multichain.wait_blocks(self.layout)
        for a, b in itertools.pairwise(self.layout.chains):
            self.layout.paths.append(connect_chains(self.layout, a, b))
        multichain.save_layout(self.layout)
        self.metrics = f"127.0.0.1:{free_port()}" if metrics else None
        multichain.write_relayer_config(self.layout, self.metrics, scan_interval_s=3.0)

    @property
    def paths(self) -> list[Any]:
        return self.layout.paths

    def start_relayer(self) -> None:
        """``trellis relayer start --config relayer.toml`` in the background."""
        from trellis.node import multichain

        assert self.relayer is None or self.relayer.poll() is not None, "the relayer is running"
        self.relayer = multichain.start_relayer(self.root)

    def kill_relayer(self) -> None:
        """SIGKILL the relayer (no clean shutdown) and reap it."""
        assert self.relayer is not None and self.relayer.poll() is None, self._relayer_tail()
        self.relayer.send_signal(signal.SIGKILL)
        self.relayer.wait(timeout=10)

    def stop_relayer(self) -> None:
        if self.relayer is not None and self.relayer.poll() is None:
            self.relayer.terminate()
            try:
                self.relayer.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.relayer.kill()
                self.relayer.wait()

    def relayer_status(self) -> dict[str, Any]:
        """The running relayer's ``/status`` (its metrics listener): per path, heights, pending, last error."""
        assert self.metrics is not None
        with urllib.request.urlopen(f"http://{self.metrics}/status", timeout=10) as r:
            out: dict[str, Any] = json.loads(r.read())
        return out

    def assert_relayer_alive(self) -> None:
        assert self.relayer is not None and self.relayer.poll() is None, self._relayer_tail()

    def _relayer_tail(self) -> str:
        text = self.relayer_log.read_text(errors="replace") if self.relayer_log.exists() else ""
        return "relayer log:\n" + text[-3000:]

    def stop_all(self) -> None:
        """The relayer first, then every node of every chain."""
        self.stop_relayer()
        for net in self.nets:
            net.stop_all()

    # -- reads ---------------------------------------------------------------------------------------------------
    def state(self, chain: int, key: bytes, node: int = 0) -> bytes | None:
        """The value under state ``key`` on chain ``chain`` at its tip (None when absent)."""
        status, body = self.nets[chain].nodes[node].http.get(f"/v1/state/0x{key.hex()}")
        assert status == 200, body
        value = body.get("value")
        return None if value is None else bytes.fromhex(value.removeprefix("0x"))

    def u64(self, chain: int, key: bytes) -> int:
        raw = self.state(chain, key)
        return 0 if raw is None else int.from_bytes(raw, "big")

    def balance(self, chain: int, address: bytes) -> int:
        """Native balance on chain ``chain``."""
        return int(self.nets[chain].nodes[0].http.get(f"/v1/accounts/0x{address.hex()}")[1]["balance"])

    def next_nonce(self, chain: int, address: bytes) -> int:
        return int(self.nets[chain].nodes[0].http.get(f"/v1/accounts/0x{address.hex()}")[1]["next_nonce"])

    def genesis_accounts(self, chain: int) -> dict[bytes, int]:
        """Address -> balance of chain ``chain``'s genesis accounts."""
        g = json.loads((self.layout.chains[chain].nodes[0].home / "genesis.json").read_text())
        return {bytes.fromhex(a["address"].removeprefix("0x")): int(a["balance"]) for a in g["accounts"]}

    def wait_until(self, what: str, check: Any, timeout: float) -> None:
        """Poll ``check()`` until it is true (or fail after ``timeout`` s, with the relayer's log)."""
        deadline = time.monotonic() + timeout
        while not check():
            assert time.monotonic() < deadline, f"{what}: not reached in {timeout:.0f} s\n{self._relayer_tail()}"
            time.sleep(0.5)  # polling the chains, bounded
