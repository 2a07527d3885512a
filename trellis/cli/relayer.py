"""``trellis relayer start|status`` (ADR 0015 section 8; docs/guides/relayer.md).

``start`` runs the relayer of ``relayer.toml`` in the foreground until SIGINT/SIGTERM; ``status`` reads the running
relayer's ``/status`` from its ``[metrics] listen`` address (or ``--url``).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from pathlib import Path
from typing import Any

from trellis.cli import main as cli
from trellis.cli.client import NodeClient


def _config(args: argparse.Namespace) -> Any:
    from trellis.relayer.config import ConfigError, load_config

    try:
        return load_config(Path(args.config))
    except ConfigError as exc:
        raise cli.CliError(str(exc)) from None


def cmd_relayer_start(args: argparse.Namespace) -> int:
    """Run every path of the configuration until interrupted."""
    from trellis.keys.signer import KeyStoreError
    from trellis.relayer.config import ConfigError, parse_shard
    from trellis.relayer.endpoint import HttpEndpoint
    from trellis.relayer.loop import Relayer
    from trellis.relayer.metrics import Metrics, start_listener
    from trellis.relayer.submit import load_key

    cfg = _config(args)
    if not cfg.paths:
        raise cli.CliError(f"{args.config} has no [[path]]: nothing to relay")
    try:
        shard = parse_shard(args.shard) if args.shard else None
    except ConfigError as exc:
        raise cli.CliError(str(exc)) from None
    signers = {}
    for c in cfg.chains.values():
        try:
            signers[c.id] = load_key(c.key, c.passphrase_file)
        except KeyStoreError as exc:
            raise cli.CliError(f"chain {c.id}: {exc}") from None
    logging.basicConfig(
        level=getattr(logging, args.log_level.upper()),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )

    async def run() -> None:
        endpoints = {c.id: HttpEndpoint(c.id, c.api, genesis_file=c.genesis) for c in cfg.chains.values()}
        metrics = Metrics()
        relayer = Relayer(cfg, endpoints, signers, metrics=metrics, shard=shard)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        runner = None
        if cfg.metrics_listen is not None:
            host, port = cfg.metrics_listen
            try:
                runner = await start_listener(metrics, relayer.status, host, port)
            except OSError as exc:  # the port is taken, or the address is not this machine's
                for e in endpoints.values():
                    await e.close()
                raise cli.CliError(
                    f"{args.config}: [metrics] listen {host}:{port}: {exc.strerror or exc} "
                    "(another relayer or program uses it? change listen, or stop that one)"
                ) from None
        where = f", metrics and status on http://{cfg.metrics_listen[0]}:{cfg.metrics_listen[1]}" if runner else ""
        print(f"relayer: {len(cfg.paths)} path(s), {len(relayer.directions)} direction(s){where}", flush=True)
        try:
            await relayer.run(stop)
        finally:
            if runner is not None:
                await runner.cleanup()
            for e in endpoints.values():
                await e.close()

    asyncio.run(run())
    print("relayer: stopped", flush=True)
    return 0


def _status_text(data: dict[str, Any]) -> str:
    lines = []
    for p in data.get("paths", []):
        lines.append(f"path {p['path']}")
        for chain, h in sorted(p.get("heights", {}).items()):
            lines.append(f"  {chain:<24} height {h.get('height')}")
        for name, n in sorted(p.get("pending", {}).items()):
            lines.append(f"  pending {name:<32} {n}")
        for name, c in sorted(p.get("clients", {}).items()):
            frozen = " FROZEN" if c.get("frozen") else ""
            lines.append(f"  client {name:<33} latest {c.get('latest_height')} age {c.get('age_s', 0):.0f}s{frozen}")
        relayed = ", ".join(f"{k} {v}" for k, v in sorted(p.get("relayed", {}).items())) or "nothing yet"
        lines.append(f"  relayed: {relayed}")
        err = p.get("last_error")
        lines.append(f"  last error: {err['message']} ({err.get('direction', '')})" if err else "  last error: none")
    return "\n".join(lines) if lines else "no paths"


def cmd_relayer_status(args: argparse.Namespace) -> int:
    """Print the running relayer's ``/status``."""
    if args.url:
        url = args.url
    elif not args.config:
        raise cli.CliError("give --config relayer.toml (its [metrics] listen) or --url of the relayer's listener")
    else:
        cfg = _config(args)
        if cfg.metrics_listen is None:
            raise cli.CliError(f"{args.config} has no [metrics] listen: give the relayer's address with --url")
        host, port = cfg.metrics_listen
        host = "127.0.0.1" if host in ("0.0.0.0", "::") else host
        url = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
    data = NodeClient(url, timeout=10).get("/status")
    cli._out(args, data, _status_text(data))
    return 0


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``trellis relayer start|status``."""
    rel = sub.add_parser("relayer", help="relay packets between chains (ADR 0015)").add_subparsers(
        dest="relayer_cmd", required=True
    )
    s = rel.add_parser("start", parents=[common], help="run the relayer of relayer.toml in the foreground")
    s.add_argument("--config", required=True, help="relayer.toml")
    s.add_argument("--shard", help="i/n: handle only packet sequences with seq %% n == i (default: the config's)")
    s.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    s.set_defaults(func=cmd_relayer_start)
    s = rel.add_parser("status", parents=[common], help="the running relayer's status (heights, pending, errors)")
    s.add_argument("--config", help="relayer.toml (its [metrics] listen address)")
    s.add_argument("--url", help="the relayer's listener, e.g. http://127.0.0.1:9464 (instead of --config)")
    s.set_defaults(func=cmd_relayer_status)
