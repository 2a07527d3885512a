"""``trellis net up --hub --subchains N``: a local layered network, a hub and N sub-chains joined to it by one
relayer (ADR 0016 section 5; ``trellis/node/multichain.py``, ``trellis/relayer/hubjoin.py``).

Every sub-chain names the hub in its genesis and is registered at the hub by ``hub.register`` governance, which
``up`` runs with the hub organisations' admin keys (``chain-0/admins``), except the sub-chains named by
``--register-online K`` (left for the operator: ``trellis hub register``; the next ``net up`` joins them) and
those named by ``--genesis-registered K`` (registered in the hub's genesis; they cannot name the hub, so they join
with a ``transfer`` channel only). Each registered sub-chain is joined to the hub (clients both ways, a connection,
a ``transfer`` and a ``directory`` channel, then ``hub.connected``); the ids are in ``chains.json`` and printed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from trellis.cli import main as cli

__all__ = ["add_up_arguments", "cmd_net_up_hub", "is_hub_dir"]


def add_up_arguments(s: argparse.ArgumentParser) -> None:
    """The ``net up`` options of a layered network."""
    s.add_argument("--hub", action="store_true", help="a hub (chain 0) and --subchains sub-chains joined to it")
    s.add_argument("--subchains", type=int, default=3, help="with --hub: sub-chains (1..7; chain i: +100i)")
    s.add_argument(
        "--register-online",
        type=int,
        nargs="+",
        default=[],
        metavar="K",
        help="with --hub: leave sub-chain K unregistered (register it with trellis hub register, then net up again)",
    )
    s.add_argument(
        "--genesis-registered",
        type=int,
        nargs="+",
        default=[],
        metavar="K",
        help="with --hub: register sub-chain K in the hub's genesis (it cannot name the hub: transfer channel only)",
    )


def is_hub_dir(root: Path) -> bool:
    """Whether ``root`` holds a layered network made by ``net up --hub``."""
    from trellis.node.home import HomeError
    from trellis.node.multichain import is_multichain_dir, load_layout

    if not is_multichain_dir(root):
        return False
    try:
        return load_layout(root).hub
    except HomeError:
        return False


def _join(layout: Any, hub: Any, sub: Any) -> Any:
    from trellis.keys.signer import KeyStoreError
    from trellis.node import multichain
    from trellis.relayer.endpoint import EndpointError
    from trellis.relayer.handshake import HandshakeError
    from trellis.relayer.hubjoin import join_subchain

    try:
        joined = join_subchain(layout, hub, sub)
    except (HandshakeError, KeyStoreError, EndpointError) as exc:
        raise cli.CliError(f"joining {sub.chain_id} to the hub {hub.chain_id} failed: {exc}") from None
    except TimeoutError:
        raise cli.CliError(
            f"joining {sub.chain_id} to the hub {hub.chain_id} failed: the handshake did not finish in time "
            "(are both chains making blocks? see their node logs)"
        ) from None
    return None if joined is None else multichain.ChainPath(**vars(joined))


def _consoles(apis: list[str]) -> str:
    """The web console's URL of each node (ADR 0017)."""
    return " ".join(f"{a}/console/" for a in apis)


def hub_text(summary: dict[str, Any], waiting: list[str]) -> list[str]:
    """The hub and its sub-chains as lines of text."""
    hub = summary["hub"]
    lines = [f"  hub {hub['chain_id']}  API {' '.join(hub['apis'])}", f"    console {_consoles(hub['apis'])}"]
    apis = {c["chain_id"]: c["apis"] for c in summary["chains"]}
    for sc in hub["subchains"]:
        head = f"  sub-chain {sc['chain_id']}  API {' '.join(apis[sc['chain_id']])}  ({sc['registered']})"
        if not sc["joined"]:
            why = "waiting for registration at the hub" if sc["chain_id"] in waiting else "not joined"
            lines.append(f"{head}  {why}")
            continue
        lines.append(head)
        lines.append(f"    console {_consoles(apis[sc['chain_id']])}")
        h, s = sc["hub"], sc["sub"]
        lines.append(f"    hub side  {h['client_id']} {h['connection_id']}  " + _channels(h["channels"]))
        lines.append(f"    sub side  {s['client_id']} {s['connection_id']}  " + _channels(s["channels"]))
    return lines


def _channels(channels: dict[str, str]) -> str:
    return " ".join(f"{port}/{ch}" for port, ch in channels.items())


def cmd_net_up_hub(args: argparse.Namespace) -> int:
    """``net up --hub --subchains N``: create (first time), start, register, join; optionally stay attached."""
    from trellis.node import multichain

    root = cli._root(args)
    if not 1 <= args.subchains <= multichain.MAX_SUBCHAINS:
        raise cli.CliError(f"--subchains must be between 1 and {multichain.MAX_SUBCHAINS}")
    if args.chains != 1:
        raise cli.CliError("--hub and --chains are two kinds of network: give one of them")
    up = multichain.up_chains(
        root,
        chains=args.subchains + 1,
        validators=args.validators,
        connect=None,
        base_chain_id=args.chain_id,
        api_port=None if args.free_ports else args.api_port,
        p2p_port=None if args.free_ports else args.p2p_port,
        suite=args.suite,
        permissioned=args.permissioned,
        hub=True,
        subchains=args.subchains,
        online=args.register_online,
        genesis_registered=args.genesis_registered,
        join_hub=_join,
    )
    summary = multichain.layout_summary(up.layout)
    summary["waiting"] = up.waiting
    if up.relayer_error is not None:
        print(f"warning: {up.relayer_error}", file=sys.stderr, flush=True)
    text = [
        f"a hub and {len(up.layout.subchains)} sub-chains are up in {up.layout.root}",
        *hub_text(summary, up.waiting),
    ]
    text.append(f"  ids: {root / multichain.MANIFEST_FILE}")
    hub_home = up.layout.hub_chain.root
    for sc in summary["hub"]["subchains"]:
        if sc["chain_id"] in up.waiting:
            text += [
                f"  to join {sc['chain_id']}: register it at the hub by governance, then run net up again:",
                f"    trellis hub register {sc['chain_id']} --org {sc['operator_org']} --genesis-hash "
                f"{sc['genesis_hash']} --from admin0 --home {hub_home}",
            ]
            if len(up.layout.hub_chain.nodes) > 1:
                text.append(
                    f"    trellis certs approve PROPOSAL --from admin1 --home {hub_home}   (and the next orgs' "
                    "admins, to a majority of the hub's organisations)"
                )
    text.append(f"  relayer: {summary['relayer_config']} (log {up.layout.root / 'relayer' / 'relayer.log'})")
    text.append(f"  relayer status: trellis relayer status --config {summary['relayer_config']}")
    text.append("Ctrl-C stops it" if args.foreground else f"stop it with: trellis net down --home {up.layout.root}")
    cli._out(args, summary, "\n".join(text))
    if not args.foreground:
        return 0
    return cli.hold_foreground(up)
