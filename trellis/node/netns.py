"""Real links for a local network (ADR 0018 section 5): one network namespace per node, joined by a bridge.

Layout of a run (``<id>``: a per-run id of 6 hex digits; ``10.X.Y.0/24``: the run's subnet)::

    root namespace   bridge tb<id>, address 10.X.Y.1/24 (so the CLI and tests reach every node's API)
                     veth tv<id>n<i> (node i's root side, a port of the bridge)
    trellis-<id>-<i> node i's namespace: eth0 (the other end of the veth), address 10.X.Y.<i+2>/24, lo

Every packet between two nodes meets the shaping once: ``delay`` one way, ``jitter`` (uniform, +-) and ``loss``
(random, per packet), so every pair of nodes is ``delay`` apart one way (2 x ``delay`` round trip), and the root
namespace's traffic with a node is delayed once per round trip. Two shapers:

* ``netem`` (``tc qdisc ... netem delay D J loss L%`` on the node's ``eth0``: what leaves the node) where the
  kernel has ``sch_netem``;
* ``nfqueue`` where it has not: ``iptables`` in the node's namespace drops ``loss`` of the packets arriving on its
  ``eth0`` (``-m statistic``) and queues the rest to a delay process (``NFQUEUE``, ``python -m trellis.node.netns
  delay`` in that namespace) that gives each packet back to the kernel after its delay, in order (a packet is never
  released before one queued earlier, so jitter does not reorder TCP segments). Its queue is bounded
  (``QUEUE_MAXLEN`` packets; beyond it the kernel drops, as netem's ``limit`` does). It shapes arriving packets,
  not leaving ones: a packet held at the sender's egress stays charged to its socket (netem releases it, NFQUEUE
  cannot), and TCP small queues then allow a socket only a couple of packets per delay (a bulk transfer over 50 ms
  ran at ~140 KB/s; at ingress, ~20 MB/s).

Partitions are ``iptables`` DROP rules in the nodes' namespaces by peer address (``isolate``: a node from every
other node; ``split``: groups from each other), so a partitioned node's API stays reachable from the root
namespace; ``heal`` removes them. Everything a run creates is named with its id; ``teardown`` (a context manager's
exit and ``atexit``) removes it, and ``up`` first removes the leftovers of runs whose process is gone (their
records in ``STATE_DIR``; namespaces, bridges and veths of the prefix that no live run claims).

Node processes are started with ``ip netns exec <ns> ...``, which executes the command in place: the pid of the
``Popen`` is the node's own, so the pid files and ``net down`` work as on 127.0.0.1.

Needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN) and the ``ip``, ``tc`` and ``iptables`` commands (``make
netns-tools``); ``check_privilege`` says which is missing.
"""

from __future__ import annotations

import argparse
import atexit
import collections
import contextlib
import hashlib
import ipaddress
import json
import os
import random
import re
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Literal

from trellis.core.errors import TrellisError

PREFIX = "trellis-"
STATE_DIR = Path("/run/trellis-netns")
QUEUE_NUM = 0
QUEUE_MAXLEN = 10_000
MAX_NODES = 64
MAX_DELAY_MS = 10_000.0
_NS_RE = re.compile(r"^trellis-([0-9a-f]{6})-(\d+)$")
_LINK_RE = re.compile(r"^t[bv]([0-9a-f]{6})(?:n\d+)?$")
Shaper = Literal["netem", "nfqueue"]


class NetnsError(TrellisError):
    """A network namespace run cannot be made (no privilege, a missing tool, a bad option) or a command failed."""


@dataclass(frozen=True)
class LinkShape:
    """What every packet leaving a node meets: ``delay_ms`` (one way), ``jitter_ms`` (+-, uniform) and
    ``loss_pct`` (per packet, 0..100)."""

    delay_ms: float = 0.0
    jitter_ms: float = 0.0
    loss_pct: float = 0.0

    def __post_init__(self) -> None:
        if not 0 <= self.delay_ms <= MAX_DELAY_MS:
            raise NetnsError(f"delay must be between 0 and {MAX_DELAY_MS:.0f} ms, not {self.delay_ms:g} ms")
        if not 0 <= self.jitter_ms <= self.delay_ms:
            raise NetnsError(f"jitter must be between 0 and the delay ({self.delay_ms:g} ms), not {self.jitter_ms:g}")
        if not 0 <= self.loss_pct <= 100:
            raise NetnsError(f"loss must be between 0% and 100%, not {self.loss_pct:g}%")


_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def parse_duration_ms(text: str, what: str = "delay") -> float:
    """``50ms``, ``0.05s``, ``500us`` or a bare number of milliseconds, as milliseconds."""
    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*(us|ms|s)?\s*", text)
    if m is None:
        raise NetnsError(f"--{what} must be a duration such as 50ms, 0.05s or 500us, not {text!r}")
    return float(m.group(1)) * _UNITS_MS[m.group(2) or "ms"]


def parse_percent(text: str, what: str = "loss") -> float:
    """``2%`` or ``2`` (percent), or ``0.5%``."""
    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*%?\s*", text)
    if m is None or float(m.group(1)) > 100:
        raise NetnsError(f"--{what} must be a percentage between 0% and 100% such as 2%, not {text!r}")
    return float(m.group(1))


# -- commands ------------------------------------------------------------------------------------------------------
def _run(argv: Sequence[str], *, check: bool = True, timeout: float = 20.0) -> subprocess.CompletedProcess[str]:
    try:
        res = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError:
        raise NetnsError(f"{argv[0]}: command not found (make netns-tools installs iproute2 and iptables)") from None
    except subprocess.TimeoutExpired:
        raise NetnsError(f"{' '.join(argv)}: no answer in {timeout:g} s") from None
    if check and res.returncode != 0:
        raise NetnsError(f"{' '.join(argv)} failed ({res.returncode}): {res.stderr.strip() or res.stdout.strip()}")
    return res


def _ns_cmd(ns: str, *argv: str) -> list[str]:
    return ["ip", "netns", "exec", ns, *argv]


def check_privilege() -> None:
    """Raise ``NetnsError`` naming what is missing to run nodes in network namespaces: root (CAP_NET_ADMIN and
    CAP_SYS_ADMIN), the ``ip``, ``tc`` or ``iptables`` command, or a kernel that lets ``ip netns add`` work."""
    if os.geteuid() != 0:
        raise NetnsError(
            "network namespaces need root (CAP_NET_ADMIN and CAP_SYS_ADMIN to run ip netns add, veth, bridge, tc "
            f"and iptables); this process runs as uid {os.geteuid()}: run it as root (sudo)"
        )
    missing = [tool for tool in ("ip", "tc", "iptables") if shutil.which(tool) is None]
    if missing:
        raise NetnsError(
            f"the {', '.join(missing)} command{'s are' if len(missing) > 1 else ' is'} missing: run make "
            "netns-tools (Debian iproute2 and iptables)"
        )
    probe = f"{PREFIX}probe-{os.getpid()}"
    res = _run(["ip", "netns", "add", probe], check=False)
    _run(["ip", "netns", "del", probe], check=False)
    if res.returncode != 0:
        raise NetnsError(
            f"ip netns add failed ({res.stderr.strip()}): this kernel or container does not let this process create "
            "network namespaces (it needs CAP_SYS_ADMIN and CAP_NET_ADMIN, and /run/netns writable)"
        )


# -- leftovers -----------------------------------------------------------------------------------------------------
def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")


def _live_ids() -> set[str]:
    """Ids of runs whose owning process is alive (their records in ``STATE_DIR``)."""
    live: set[str] = set()
    if not STATE_DIR.is_dir():
        return live
    for rec in STATE_DIR.glob("*.json"):
        try:
            pid = int(json.loads(rec.read_text())["pid"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if _pid_alive(pid):
            live.add(rec.stem)
    return live


def _namespaces() -> list[str]:
    res = _run(["ip", "netns", "list"], check=False)
    return [line.split()[0] for line in res.stdout.splitlines() if line.strip()]


def _kill_ns_pids(ns: str) -> None:
    """SIGKILL the processes left in namespace ``ns`` (a run's own namespace: only its processes are there)."""
    res = _run(["ip", "netns", "pids", ns], check=False)
    for word in res.stdout.split():
        with contextlib.suppress(ValueError, ProcessLookupError, PermissionError):
            os.kill(int(word), signal.SIGKILL)


def remove_stale() -> list[str]:
    """Remove what runs of this prefix left behind when their process died: namespaces ``trellis-<id>-<i>`` (and
    the processes still in them), bridges ``tb<id>`` and veths ``tv<id>n<i>`` of an id no live run claims, and
    their records. Returns the names removed.

    The names are listed before the records are read: a run writes its record before it makes anything, so a run
    starting meanwhile is either not listed yet or already live."""
    namespaces = [ns for ns in _namespaces() if _NS_RE.match(ns)]
    links: list[str] = []
    for line in _run(["ip", "-o", "link", "show"], check=False).stdout.splitlines():
        parts = line.split(":", 2)
        if len(parts) >= 2 and _LINK_RE.match(name := parts[1].strip().split("@")[0]):
            links.append(name)
    live = _live_ids()
    removed: list[str] = []
    for ns in namespaces:
        m = _NS_RE.match(ns)
        if m is None or m.group(1) in live:
            continue
        _kill_ns_pids(ns)
        if _run(["ip", "netns", "del", ns], check=False).returncode == 0:
            removed.append(ns)
    for name in links:
        m = _LINK_RE.match(name)
        if m is None or m.group(1) in live:
            continue
        if _run(["ip", "link", "del", name], check=False).returncode == 0:
            removed.append(name)
    if STATE_DIR.is_dir():
        live = _live_ids()  # again: a run started meanwhile keeps its record
        for rec in STATE_DIR.glob("*.json"):
            if rec.stem not in live:
                rec.unlink(missing_ok=True)
    return removed


# -- subnets -------------------------------------------------------------------------------------------------------
def _routed_networks() -> list[ipaddress.IPv4Network]:
    res = _run(["ip", "-4", "route", "show", "table", "all"], check=False)
    nets: list[ipaddress.IPv4Network] = []
    for line in res.stdout.splitlines():
        word = line.split()[0] if line.split() else ""
        if word in ("default", "local", "broadcast", "unreachable", "blackhole", "prohibit"):
            word = line.split()[1] if word != "default" and len(line.split()) > 1 else ""
        with contextlib.suppress(ValueError):
            net = ipaddress.IPv4Network(word, strict=False)
            if net.prefixlen > 0:
                nets.append(net)
    return nets


def subnet_in_use(subnet: str) -> bool:
    """True if some route of this host overlaps ``subnet`` (another run, a container network, a LAN)."""
    want = ipaddress.IPv4Network(subnet)
    return any(want.overlaps(net) for net in _routed_networks())


def pick_subnet(seed: str) -> str:
    """A /24 in 10.128.0.0/9 derived from ``seed`` that no route of this host overlaps right now."""
    for attempt in range(256):
        digest = hashlib.sha256(f"{seed}/{attempt}".encode()).digest()
        subnet = f"10.{128 + digest[0] % 127}.{digest[1]}.0/24"
        if not subnet_in_use(subnet):
            return subnet
    raise NetnsError("no free /24 in 10.128.0.0/9: every one tried overlaps a route of this host")


def node_address(subnet: str, index: int) -> str:
    """Node ``index``'s address in ``subnet`` (``.index+2``; ``.1`` is the bridge)."""
    return str(ipaddress.IPv4Network(subnet)[index + 2])


def bridge_address(subnet: str) -> str:
    return str(ipaddress.IPv4Network(subnet)[1])


# -- a run ---------------------------------------------------------------------------------------------------------
def netem_supported() -> bool:
    """Whether this kernel has the netem qdisc (tried on the loopback of a scratch namespace)."""
    probe = f"{PREFIX}netem-{os.getpid()}"
    try:
        if _run(["ip", "netns", "add", probe], check=False).returncode != 0:
            return False
        res = _run(["tc", "-n", probe, "qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms"], check=False)
        return res.returncode == 0
    finally:
        _run(["ip", "netns", "del", probe], check=False)


class NetnsRun:
    """``n`` node namespaces on one bridge, shaped by ``shape`` (see the module's docstring).

    ``subnet`` (a /24) fixes the addresses (a network directory made for namespaces records its own); without it
    one is picked from the run id. ``shaper`` picks netem or the nfqueue delay process (default: netem where the
    kernel has it)."""

    def __init__(
        self,
        n: int,
        shape: LinkShape = LinkShape(),
        *,
        subnet: str | None = None,
        run_id: str | None = None,
        shaper: Shaper | None = None,
        log_dir: Path | None = None,
    ) -> None:
        if not 1 <= n <= MAX_NODES:
            raise NetnsError(f"a namespace run has between 1 and {MAX_NODES} nodes, not {n}")
        self.n = n
        self.shape = shape
        self.id = run_id or os.urandom(3).hex()
        if not re.fullmatch(r"[0-9a-f]{6}", self.id):
            raise NetnsError(f"a run id is 6 hex digits, not {self.id!r}")
        self.subnet = subnet or ""
        self._subnet_given = subnet is not None
        if subnet is not None:
            net = ipaddress.IPv4Network(subnet)
            if net.prefixlen != 24 or not net.is_private:
                raise NetnsError(f"the subnet must be a private /24, not {subnet}")
        self.shaper: Shaper | None = shaper
        self.log_dir = log_dir
        self.bridge = f"tb{self.id}"
        self._delayers: dict[int, subprocess.Popen[bytes]] = {}
        self._shapes: dict[int, LinkShape] = {}
        self._partitioned = False
        self._is_up = False

    # names and addresses
    def ns(self, i: int) -> str:
        return f"{PREFIX}{self.id}-{i}"

    def veth(self, i: int) -> str:
        return f"tv{self.id}n{i}"

    def address(self, i: int) -> str:
        return node_address(self.subnet, i)

    @property
    def bridge_ip(self) -> str:
        return bridge_address(self.subnet)

    def exec_argv(self, i: int, argv: Sequence[str]) -> list[str]:
        """``argv`` run in node ``i``'s namespace (``ip netns exec`` executes it in place: same pid)."""
        return _ns_cmd(self.ns(i), *argv)

    # life cycle
    def __enter__(self) -> NetnsRun:
        self.up()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.teardown()

    def up(self) -> None:
        """Create the bridge, the namespaces and their links, and shape them. Removes stale leftovers first; on
        any failure what was made is removed again."""
        check_privilege()
        remove_stale()
        if not self.subnet:
            self.subnet = pick_subnet(self.id)
        elif subnet_in_use(self.subnet):
            raise NetnsError(
                f"the subnet {self.subnet} is in use on this host (is this network already up in namespaces?)"
            )
        if self.shaper is None:
            self.shaper = "netem" if netem_supported() else "nfqueue"
        STATE_DIR.mkdir(parents=True, exist_ok=True)
        (STATE_DIR / f"{self.id}.json").write_text(
            json.dumps({"pid": os.getpid(), "subnet": self.subnet, "nodes": self.n}) + "\n"
        )
        self._is_up = True
        atexit.register(self.teardown)
        try:
            _run(["ip", "link", "add", self.bridge, "type", "bridge"])
            _run(["ip", "addr", "add", f"{self.bridge_ip}/24", "dev", self.bridge])
            _run(["ip", "link", "set", self.bridge, "up"])
            for i in range(self.n):
                ns = self.ns(i)
                _run(["ip", "netns", "add", ns])
                _run(["ip", "link", "add", self.veth(i), "type", "veth", "peer", "name", "eth0", "netns", ns])
                _run(["ip", "link", "set", self.veth(i), "master", self.bridge, "up"])
                _run(["ip", "-n", ns, "addr", "add", f"{self.address(i)}/24", "dev", "eth0"])
                _run(["ip", "-n", ns, "link", "set", "lo", "up"])
                _run(["ip", "-n", ns, "link", "set", "eth0", "up"])
                _run(["ip", "-n", ns, "route", "add", "default", "via", self.bridge_ip])
                for chain in ("TRELLIS-PART", "TRELLIS-SHAPE"):
                    _run(_ns_cmd(ns, "iptables", "-w", "-N", chain))
                _run(_ns_cmd(ns, "iptables", "-w", "-A", "INPUT", "-i", "eth0", "-j", "TRELLIS-PART"))
                _run(_ns_cmd(ns, "iptables", "-w", "-A", "OUTPUT", "-o", "eth0", "-j", "TRELLIS-PART"))
                if self.shaper == "nfqueue":
                    # Packets arriving at the node: a packet held at the sender's egress would stay charged to
                    # its socket (netem orphans it; NFQUEUE cannot), and TCP small queues would then let only a
                    # couple of packets per socket be in flight per delay. One hook per packet still: a -> b is
                    # delayed once, at b.
                    _run(_ns_cmd(ns, "iptables", "-w", "-A", "INPUT", "-i", "eth0", "-j", "TRELLIS-SHAPE"))
                else:
                    _run(_ns_cmd(ns, "iptables", "-w", "-A", "OUTPUT", "-o", "eth0", "-j", "TRELLIS-SHAPE"))
                self.set_shape(i, self.shape)
        except BaseException:
            self.teardown()
            raise

    def teardown(self) -> None:
        """Remove everything this run made (idempotent): the delay processes, the processes left in its
        namespaces, the namespaces (their veths go with them), the bridge and the run's record."""
        if not self._is_up:
            return
        self._is_up = False
        for proc in self._delayers.values():
            _stop(proc)
        self._delayers.clear()
        for i in range(self.n):
            ns = self.ns(i)
            _kill_ns_pids(ns)
            _run(["ip", "netns", "del", ns], check=False)
        _run(["ip", "link", "del", self.bridge], check=False)
        (STATE_DIR / f"{self.id}.json").unlink(missing_ok=True)
        with contextlib.suppress(Exception):
            atexit.unregister(self.teardown)

    def check(self) -> None:
        """Raise ``NetnsError`` if a delay process has exited (its node's packets would be dropped)."""
        for i, proc in self._delayers.items():
            if proc.poll() is not None:
                raise NetnsError(f"the delay process of {self.ns(i)} exited with status {proc.returncode}")

    # shaping
    def set_shape(self, i: int, shape: LinkShape) -> None:
        """Shape what leaves node ``i`` (replacing its previous shape)."""
        ns = self.ns(i)
        old = self._shapes.get(i)
        if self.shaper == "netem":
            argv = ["tc", "-n", ns, "qdisc", "replace", "dev", "eth0", "root", "netem", "limit", str(QUEUE_MAXLEN)]
            if shape.delay_ms > 0:
                argv += ["delay", f"{shape.delay_ms:g}ms"]
                if shape.jitter_ms > 0:
                    argv += [f"{shape.jitter_ms:g}ms"]
            if shape.loss_pct > 0:
                argv += ["loss", f"{shape.loss_pct:g}%"]
            _run(argv)
        else:
            _run(_ns_cmd(ns, "iptables", "-w", "-F", "TRELLIS-SHAPE"))
            if shape.loss_pct > 0:
                rule = ["-m", "statistic", "--mode", "random", "--probability", f"{shape.loss_pct / 100:.6f}"]
                _run(_ns_cmd(ns, "iptables", "-w", "-A", "TRELLIS-SHAPE", *rule, "-j", "DROP"))
            delay = (shape.delay_ms, shape.jitter_ms)
            if old is None or (old.delay_ms, old.jitter_ms) != delay:
                proc = self._delayers.pop(i, None)
                if proc is not None:
                    _stop(proc)
                if shape.delay_ms > 0:
                    self._delayers[i] = self._start_delayer(i, shape)
            if shape.delay_ms > 0:
                queue = ["-j", "NFQUEUE", "--queue-num", str(QUEUE_NUM)]
                _run(_ns_cmd(ns, "iptables", "-w", "-A", "TRELLIS-SHAPE", *queue))
        self._shapes[i] = shape

    def dropped(self, i: int) -> int:
        """Packets that node ``i``'s shaping dropped as loss so far (netem's ``dropped`` counter, or the packet count
        of the nfqueue shaper's ``statistic`` DROP rule; partitions are not counted)."""
        if self.shaper == "netem":
            out = _run(["tc", "-n", self.ns(i), "-s", "qdisc", "show", "dev", "eth0"]).stdout
            m = re.search(r"dropped (\d+)", out)
            return int(m.group(1)) if m else 0
        out = _run(_ns_cmd(self.ns(i), "iptables", "-w", "-L", "TRELLIS-SHAPE", "-v", "-n", "-x")).stdout
        return sum(int(line.split()[0]) for line in out.splitlines() if "DROP" in line and "statistic" in line)

    def set_shape_all(self, shape: LinkShape) -> None:
        for i in range(self.n):
            self.set_shape(i, shape)

    def _start_delayer(self, i: int, shape: LinkShape) -> subprocess.Popen[bytes]:
        argv = [sys.executable, "-m", "trellis.node.netns", "delay", "--queue", str(QUEUE_NUM)]
        argv += ["--delay-ms", f"{shape.delay_ms:g}", "--jitter-ms", f"{shape.jitter_ms:g}"]
        err: IO[bytes] | int = subprocess.DEVNULL
        if self.log_dir is not None:
            err = open(self.log_dir / f"delay-{i}.log", "ab")  # handed to the child
        proc = subprocess.Popen(self.exec_argv(i, argv), stdout=subprocess.PIPE, stderr=err, start_new_session=True)
        if not isinstance(err, int):
            err.close()
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], 15.0)
        line = proc.stdout.readline() if ready else b""
        if line.strip() != b"ready":
            _stop(proc)
            raise NetnsError(
                f"the delay process of {self.ns(i)} did not start ({line.decode(errors='replace').strip()!r}); "
                "the kernel needs NFQUEUE (CONFIG_NETFILTER_NETLINK_QUEUE, CONFIG_NETFILTER_XT_TARGET_NFQUEUE)"
            )
        return proc

    # partitions
    def _drop_between(self, a: int, b: int) -> None:
        ns, peer = self.ns(a), self.address(b)
        _run(_ns_cmd(ns, "iptables", "-w", "-A", "TRELLIS-PART", "-s", peer, "-j", "DROP"))
        _run(_ns_cmd(ns, "iptables", "-w", "-A", "TRELLIS-PART", "-d", peer, "-j", "DROP"))

    def split(self, groups: Sequence[Iterable[int]]) -> None:
        """Cut every link between nodes of different ``groups`` (both ways; a node in no group is cut from every
        node in a group). Replaces any previous partition. The root namespace still reaches every node."""
        self.heal()
        group_of: dict[int, int] = {}
        for g, members in enumerate(groups):
            for i in members:
                if not 0 <= i < self.n:
                    raise NetnsError(f"no node {i} in this run (0..{self.n - 1})")
                group_of[i] = g
        for a in range(self.n):
            for b in range(self.n):
                if a != b and group_of.get(a, -1 - a) != group_of.get(b, -1 - b):
                    self._drop_between(a, b)
        self._partitioned = True

    def isolate(self, i: int) -> None:
        """Cut node ``i`` from every other node (it stays reachable from the root namespace)."""
        self.split([[i], [j for j in range(self.n) if j != i]])

    def heal(self) -> None:
        """Remove every partition."""
        for i in range(self.n):
            _run(_ns_cmd(self.ns(i), "iptables", "-w", "-F", "TRELLIS-PART"))
        self._partitioned = False


def _stop(proc: subprocess.Popen[bytes], timeout_s: float = 5.0) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()


# -- the delay process (nfqueue shaper) ----------------------------------------------------------------------------
_NETLINK_NETFILTER = 12
_NFNL_SUBSYS_QUEUE = 3
_NFQNL_MSG_PACKET = 0
_NFQNL_MSG_VERDICT = 1
_NFQNL_MSG_CONFIG = 2
_NFQNL_MSG_VERDICT_BATCH = 3
_SO_RCVBUFFORCE = 33
_NFQA_PACKET_HDR = 1
_NFQA_VERDICT_HDR = 2
_NFQA_CFG_CMD = 1
_NFQA_CFG_PARAMS = 2
_NFQA_CFG_QUEUE_MAXLEN = 3
_NFQNL_CFG_CMD_BIND = 1
_NFQNL_COPY_META = 1
_NLM_F_REQUEST = 1
_NLM_F_ACK = 4
_NLMSG_ERROR = 2
_NF_ACCEPT = 1


def _attr(kind: int, payload: bytes) -> bytes:
    data = struct.pack("=HH", 4 + len(payload), kind) + payload
    return data + b"\0" * (-len(data) % 4)


def _nfq_msg(msg: int, queue: int, attrs: bytes, seq: int, flags: int = _NLM_F_REQUEST) -> bytes:
    body = struct.pack("=BBH", socket.AF_UNSPEC, 0, socket.htons(queue)) + attrs
    return struct.pack("=IHHII", 16 + len(body), (_NFNL_SUBSYS_QUEUE << 8) | msg, flags, seq, 0) + body


def _check_ack(sock: socket.socket, seq: int) -> None:
    """Read the kernel's answer to configuration message ``seq``; raise OSError if it refused it."""
    data = sock.recv(65536)
    _, kind, _, got_seq, _ = struct.unpack_from("=IHHII", data)
    if got_seq != seq:
        raise OSError(f"nfqueue: an answer to message {got_seq}, expected {seq}")
    if kind == _NLMSG_ERROR:
        (errno,) = struct.unpack_from("=i", data, 16)
        if errno != 0:
            raise OSError(-errno, f"nfqueue configuration refused: {os.strerror(-errno)}")


def run_delayer(queue: int, delay_ms: float, jitter_ms: float) -> None:
    """Bind NFQUEUE ``queue`` of this namespace and give every packet back to the kernel ``delay_ms`` (+-
    ``jitter_ms``, uniform) after it arrived, never before one that arrived earlier. Prints ``ready`` once bound."""
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, _NETLINK_NETFILTER)
    # Room for a message per queued packet (QUEUE_MAXLEN of them, ~1 KiB of buffer each); FORCE passes
    # net.core.rmem_max (root, which this runs as). Should messages still be lost (ENOBUFS), their packets are
    # released with the next one: verdicts are given in batches, "every packet up to this id".
    try:
        sock.setsockopt(socket.SOL_SOCKET, _SO_RCVBUFFORCE, 16 * 1024 * 1024)
    except OSError:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024 * 1024)
    sock.bind((0, 0))
    cmd = _attr(_NFQA_CFG_CMD, struct.pack("=BBH", _NFQNL_CFG_CMD_BIND, 0, socket.htons(socket.AF_INET)))
    sock.send(_nfq_msg(_NFQNL_MSG_CONFIG, queue, cmd, 1, _NLM_F_REQUEST | _NLM_F_ACK))
    _check_ack(sock, 1)
    params = _attr(_NFQA_CFG_PARAMS, struct.pack("!IB", 0, _NFQNL_COPY_META))
    params += _attr(_NFQA_CFG_QUEUE_MAXLEN, struct.pack("!I", QUEUE_MAXLEN))
    sock.send(_nfq_msg(_NFQNL_MSG_CONFIG, queue, params, 2, _NLM_F_REQUEST | _NLM_F_ACK))
    _check_ack(sock, 2)
    # netem runs in the kernel, ahead of every process; so should its stand-in, or a busy machine delays packets
    # by its scheduling latency on top of the delay asked for. It only waits and hands verdicts back.
    with contextlib.suppress(OSError, AttributeError):
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(10))
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    rng = random.Random()
    pending: collections.deque[tuple[float, int]] = collections.deque()
    last = 0.0
    seq = 3
    while True:
        timeout = max(0.0, pending[0][0] - time.monotonic()) if pending else None
        ready, _, _ = select.select([sock], [], [], timeout)
        now = time.monotonic()
        if ready:
            while True:
                try:
                    data = sock.recv(1 << 20, socket.MSG_DONTWAIT)
                except BlockingIOError:
                    break
                except OSError:  # ENOBUFS: messages were lost; their packets time out in the kernel's queue
                    continue
                off = 0
                while off + 16 <= len(data):
                    length, kind, _, _, _ = struct.unpack_from("=IHHII", data, off)
                    if length < 16:
                        break
                    if kind == (_NFNL_SUBSYS_QUEUE << 8) | _NFQNL_MSG_PACKET:
                        a = off + 20
                        while a + 4 <= off + length:
                            alen, akind = struct.unpack_from("=HH", data, a)
                            if alen < 4:
                                break
                            if akind & 0x7FFF == _NFQA_PACKET_HDR:
                                (packet_id,) = struct.unpack_from("!I", data, a + 4)
                                due = now + (delay_ms + rng.uniform(-jitter_ms, jitter_ms)) / 1000.0
                                last = max(last, due)
                                pending.append((last, packet_id))
                                break
                            a += (alen + 3) & ~3
                    off += (length + 3) & ~3
        now = time.monotonic()
        released = None
        while pending and pending[0][0] <= now:
            released = pending.popleft()[1]
        if released is not None:
            # Packets are released in the order they were queued (ids increase): one batch verdict accepts every
            # packet up to the last one due, including any whose message was lost.
            verdict = _attr(_NFQA_VERDICT_HDR, struct.pack("!II", _NF_ACCEPT, released))
            sock.send(_nfq_msg(_NFQNL_MSG_VERDICT_BATCH, queue, verdict, seq))
            seq = (seq + 1) & 0xFFFFFFFF


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m trellis.node.netns")
    sub = p.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("delay", help="the nfqueue delay process of one namespace")
    d.add_argument("--queue", type=int, default=QUEUE_NUM)
    d.add_argument("--delay-ms", type=float, required=True)
    d.add_argument("--jitter-ms", type=float, default=0.0)
    sub.add_parser("clean", help="remove the leftovers of dead runs")
    args = p.parse_args(argv)
    if args.cmd == "clean":
        for name in remove_stale():
            print(f"removed {name}")
        return 0
    shape = LinkShape(delay_ms=args.delay_ms, jitter_ms=args.jitter_ms)
    run_delayer(args.queue, shape.delay_ms, shape.jitter_ms)
    return 0


if __name__ == "__main__":
    sys.exit(main())
