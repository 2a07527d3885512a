"""``trellis net up --netns [--delay 50ms] [--jitter 5ms] [--loss 2%]``: a local network whose nodes each run in
their own network namespace, on links with delay, jitter and loss (ADR 0018 section 5; ``trellis/node/netns.py``,
``docs/guides/real-links.md``).

The network directory is placed in a /24 of its own when it is created (``network.json`` ``netns_subnet``; node k
listens on ``.k+2``, the bridge in the root namespace is ``.1``), so it can only be run this way afterwards. The
namespaces live as long as the command: it stays attached, and Ctrl-C (or SIGTERM, or a node that exits) stops the
nodes and removes the namespaces, the bridge and the links. Root only.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from trellis.cli import main as cli

__all__ = ["add_up_arguments", "cmd_net_up_netns", "wants_netns"]


def add_up_arguments(s: argparse.ArgumentParser) -> None:
    """The ``net up`` options of a network in namespaces."""
    s.add_argument(
        "--netns", action="store_true", help="each node in its own network namespace on a bridge (root only)"
    )
    s.add_argument("--delay", default=None, help="with --netns: one-way delay between nodes, e.g. 50ms")
    s.add_argument("--jitter", default=None, help="with --netns: +- jitter on the delay, e.g. 5ms")
    s.add_argument("--loss", default=None, help="with --netns: random packet loss on every link, e.g. 2%%")


def wants_netns(args: argparse.Namespace, root: Path) -> bool:
    """Whether ``net up`` is to run the network in namespaces. Raises ``CliError`` for shaping options without
    ``--netns``, and for a directory placed for namespaces started without it (its nodes listen on addresses that
    exist only in their namespaces)."""
    from trellis.node.network import is_network_dir, network_subnet

    if args.netns:
        return True
    given = [opt for opt, value in (("--delay", args.delay), ("--jitter", args.jitter), ("--loss", args.loss)) if value]
    if given:
        verb = "shape" if len(given) > 1 else "shapes"
        raise cli.CliError(f"{', '.join(given)} {verb} the links of --netns: add --netns (root only)")
    if is_network_dir(root) and network_subnet(root) is not None:
        raise cli.CliError(
            f"{root} was made for network namespaces (its nodes listen on {network_subnet(root)}): "
            "start it with trellis net up --netns"
        )
    return False


def cmd_net_up_netns(args: argparse.Namespace) -> int:
    """Create (if needed) and run the network in ``--home`` in namespaces, until Ctrl-C."""
    from trellis.node.netns import LinkShape, NetnsRun, check_privilege, parse_duration_ms, parse_percent
    from trellis.node.network import (
        is_network_dir,
        load_network,
        network_subnet,
        place_in_subnet,
        running_pid,
        start_node,
        stop_started,
        wait_ready,
    )

    root = cli._root(args)
    if args.hub or args.chains != 1:
        raise cli.CliError("--netns runs a single chain (not --chains or --hub)")
    shape = LinkShape(
        delay_ms=parse_duration_ms(args.delay, "delay") if args.delay else 0.0,
        jitter_ms=parse_duration_ms(args.jitter, "jitter") if args.jitter else 0.0,
        loss_pct=parse_percent(args.loss, "loss") if args.loss else 0.0,
    )
    check_privilege()
    created = not is_network_dir(root)
    if created:
        cli.init_network_from_args(args, root)
        subnet = None
    else:
        subnet = network_subnet(root)
        if subnet is None:
            raise cli.CliError(
                f"{root} holds a network made for 127.0.0.1: run --netns on a new --home (it is placed in a "
                "subnet of its own when created)"
            )
    nodes = load_network(root)
    running = [n.name for n in nodes if running_pid(n) is not None]
    if running:
        raise cli.CliError(f"{', '.join(running)} already running: stop it with trellis net down --home {root}")
    procs: dict[str, subprocess.Popen[bytes]] = {}
    with NetnsRun(len(nodes), shape, subnet=subnet, log_dir=root) as run:
        if created:
            nodes = place_in_subnet(root, run.subnet)
            print(
                f"initialised a {args.validators}-validator {args.suite} network in {root} ({run.subnet})", flush=True
            )
        try:
            for i, node in enumerate(nodes):
                procs[node.name] = start_node(node, foreground_output=args.foreground, netns=run.ns(i))
                if args.foreground:
                    threading.Thread(target=_relay, args=(node.name, node.home, procs[node.name]), daemon=True).start()
            wait_ready(nodes, procs)
            _report(args, root, run, nodes, shape)
            _hold(run, procs)
        finally:
            print("stopping the nodes and removing the namespaces...", flush=True)
            for node in nodes:
                if node.name in procs:
                    stop_started(node, procs[node.name])
    print(f"stopped {', '.join(procs) or 'nothing'}; namespaces of run {run.id} removed", flush=True)
    return 0


def _relay(name: str, home: Path, proc: subprocess.Popen[bytes]) -> None:
    assert proc.stdout is not None
    with open(home / "node.log", "ab") as log:
        for line in proc.stdout:
            log.write(line)
            log.flush()
            sys.stdout.write(f"[{name}] {line.decode(errors='replace')}")
            sys.stdout.flush()


def _report(args: argparse.Namespace, root: Path, run: Any, nodes: list[Any], shape: Any) -> None:
    links = (
        f"{shape.delay_ms:g} ms one way" + (f" +- {shape.jitter_ms:g} ms" if shape.jitter_ms else "")
        if shape.delay_ms
        else "no delay"
    ) + (f", {shape.loss_pct:g}% loss" if shape.loss_pct else "")
    cli._out(
        args,
        {
            "dir": str(root),
            "run_id": run.id,
            "subnet": run.subnet,
            "bridge": run.bridge,
            "bridge_ip": run.bridge_ip,
            "shaper": run.shaper,
            "delay_ms": shape.delay_ms,
            "jitter_ms": shape.jitter_ms,
            "loss_pct": shape.loss_pct,
            "nodes": [
                {"name": n.name, "netns": run.ns(i), "address": run.address(i), "api": n.api_url}
                for i, n in enumerate(nodes)
            ],
        },
        f"network of {len(nodes)} node{'s' if len(nodes) != 1 else ''} is up in network namespaces "
        f"(run {run.id}, subnet {run.subnet}, bridge {run.bridge} {run.bridge_ip})\n"
        f"  links: {links} between every pair of nodes (shaper: {run.shaper})\n"
        + "\n".join(f"  {n.name}  netns {run.ns(i)}  API {n.api_url}" for i, n in enumerate(nodes))
        + "\nCtrl-C stops the nodes and removes the namespaces",
    )
    sys.stdout.flush()


def _hold(run: Any, procs: dict[str, subprocess.Popen[bytes]]) -> None:
    """Wait until Ctrl-C / SIGTERM, a node exits or a delay process exits."""
    from trellis.node.netns import NetnsError

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    while not stop.is_set():
        exited = [name for name, p in procs.items() if p.poll() is not None]
        if exited:
            print(f"{', '.join(exited)} exited (see node.log)", file=sys.stderr, flush=True)
            return
        try:
            run.check()
        except NetnsError as exc:
            print(f"error: {exc}", file=sys.stderr, flush=True)
            return
        stop.wait(0.5)
