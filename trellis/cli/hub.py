"""``trellis hub chains|show|register|retire|connected``: a hub's registry of sub-chains (docs/spec/hub.md).

``chains`` lists the registered sub-chains (``--org``, ``--status``; every page), ``show CHAIN`` one of them, both
from the node's ``/v1/hub`` routes. ``register`` and ``retire`` send a ``membership.propose`` with one ``hub.*``
change (admins; the other organisations' admins approve it with ``trellis certs approve ID``); ``connected``
records, after the handshake, the hub's client, connection and channels of a sub-chain (``hub.connected``).
"""

from __future__ import annotations

import argparse
import re
from typing import Any
from urllib.parse import quote, urlencode

from trellis.cli import main as cli
from trellis.core.modules.hub.messages import HubConnected, HubRegister, HubRetire, PortChannel
from trellis.core.modules.membership.messages import ProposeMembership

__all__ = ["register"]

_CHAIN = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
_HASH = re.compile(r"(0[xX])?[0-9a-fA-F]{64}")
_CLIENT = re.compile(r"client-(0|[1-9][0-9]{0,19})")
_CONNECTION = re.compile(r"connection-(0|[1-9][0-9]{0,19})")
_PORT_CHANNEL = re.compile(r"([a-z][a-z0-9_]{0,31})[:/](channel-(0|[1-9][0-9]{0,19}))")
_STATUSES = ("registered", "connected", "retired")
_MAX_PAGES = 1000


def _chain(text: str) -> str:
    if not _CHAIN.fullmatch(text):
        raise cli.CliError(f"{text!r} is not a chain id (a-z, 0-9, '.', '_', '-'; 1 to 64 characters)")
    return text


def _hash(text: str, what: str) -> bytes:
    if not _HASH.fullmatch(text):
        raise cli.CliError(f"{what} must be 32 bytes in hex (64 digits), got {text!r}")
    return bytes.fromhex(text[2:] if text[:2].lower() == "0x" else text)


def chain_lines(c: dict[str, Any]) -> list[str]:
    """A sub-chain as text."""
    out = [
        f"{c['chain_id']}  [{c['status']}]  operator {c['operator_org']}",
        f"  genesis     {c['genesis_hash']}",
        f"  registered  height {c['registered_height']}"
        + (f", retired at height {c['retired_height']}" if c["retired_height"] else ""),
    ]
    if c["client_id"]:
        chans = ", ".join(f"{pc['port']}/{pc['channel']}" for pc in c["channels"]) or "-"
        out.append(f"  joined by   {c['client_id']} {c['connection_id']}  channels {chans}")
    return out


def cmd_chains(args: argparse.Namespace) -> int:
    """``hub chains [--org O] [--status S]``: every registered sub-chain (all pages)."""
    client = cli._client(args)
    query: dict[str, str] = {}
    if args.org:
        query["org"] = args.org
    if args.status:
        query["status"] = args.status
    chains: list[dict[str, Any]] = []
    page: dict[str, Any] = {}
    heights: list[int] = []
    complete = False
    for _ in range(_MAX_PAGES):
        page = client.get("/v1/hub/chains?" + urlencode(query) if query else "/v1/hub/chains")
        chains.extend(page["chains"])
        heights.append(int(page["height"]))
        if page["next_cursor"] is None:
            complete = True
            break
        query["cursor"] = page["next_cursor"]
    # the route reads each page at the node's latest height (it takes no height=): say when the pages differ
    low, high = min(heights), max(heights)
    data = {
        "height": page["height"],
        "count": page["count"],
        "chains": chains,
        "complete": complete,
        "next_cursor": None if complete else page["next_cursor"],
        "heights": [low, high],
    }
    lines = [f"{page['count']} sub-chains registered and not retired (height {page['height']}); listed {len(chains)}"]
    if low != high:
        lines.append(f"NOTE: the {len(heights)} pages were read at heights {low} to {high}: chains registered or "
                     "retired in between may be missing or listed with an older status")  # fmt: skip
    if not complete:
        lines.append(f"INCOMPLETE: stopped after {_MAX_PAGES} pages; more remain after {page['next_cursor']}")
    for c in chains:
        lines.extend(chain_lines(c))
    cli._out(args, data, "\n".join(lines))
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    """``hub show CHAIN``: one sub-chain."""
    c = cli._client(args).get(f"/v1/hub/chains/{quote(_chain(args.chain), safe='')}")
    cli._out(args, c, "\n".join(chain_lines(c)))
    return 0


def cmd_register(args: argparse.Namespace) -> int:
    """``hub register CHAIN --org O --genesis-hash H [--checkpoint-height N --checkpoint-block-id B]``."""
    if (args.checkpoint_height is None) != (args.checkpoint_block_id is None):
        raise cli.CliError("give both --checkpoint-height and --checkpoint-block-id, or neither")
    fields: dict[str, Any] = {}
    if args.checkpoint_height is not None:
        if not 1 <= args.checkpoint_height < 2**64:
            raise cli.CliError(f"--checkpoint-height must be a height of at least 1, got {args.checkpoint_height}")
        fields["checkpoint_height"] = args.checkpoint_height
        fields["checkpoint_block_id"] = _hash(args.checkpoint_block_id, "--checkpoint-block-id")
    if not 1 <= len(args.org) <= 64:
        raise cli.CliError(f"--org must be an organisation name (1 to 64 characters), got {args.org!r}")
    change = HubRegister(
        chain_id=_chain(args.chain),
        operator_org=args.org,
        genesis_hash=_hash(args.genesis_hash, "--genesis-hash"),
        **fields,
    )
    return cli.submit_and_report(args, ProposeMembership(change=change), "propose hub.register")


def cmd_retire(args: argparse.Namespace) -> int:
    """``hub retire CHAIN``: propose retiring a sub-chain."""
    change = HubRetire(chain_id=_chain(args.chain))
    return cli.submit_and_report(args, ProposeMembership(change=change), "propose hub.retire")


def cmd_connected(args: argparse.Namespace) -> int:
    """``hub connected CHAIN --client C --connection X --channel PORT:CHANNEL ...``."""
    if not _CLIENT.fullmatch(args.client):
        raise cli.CliError(f"--client must be a client id (client-N), got {args.client!r}")
    if not _CONNECTION.fullmatch(args.connection):
        raise cli.CliError(f"--connection must be a connection id (connection-N), got {args.connection!r}")
    channels = []
    for text in args.channel or []:
        m = _PORT_CHANNEL.fullmatch(text)
        if m is None:
            raise cli.CliError(f"--channel must be PORT:CHANNEL (e.g. transfer:channel-0), got {text!r}")
        channels.append(PortChannel(port=m.group(1), channel=m.group(2)))
    if len(channels) > 8:
        raise cli.CliError(f"at most 8 channels, got {len(channels)}")
    msg = HubConnected(
        chain_id=_chain(args.chain), client_id=args.client, connection_id=args.connection, channels=channels
    )
    return cli.submit_and_report(args, msg, "hub.connected")


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``trellis hub ...`` to the CLI's subcommands."""
    h = sub.add_parser("hub", help="a hub's registry of sub-chains").add_subparsers(dest="hub_cmd", required=True)
    s = h.add_parser("chains", parents=[common], help="the registered sub-chains")
    s.add_argument("--org", help="only those this organisation runs")
    s.add_argument("--status", choices=_STATUSES, help="only those of this status")
    s.set_defaults(func=cmd_chains)
    s = h.add_parser("show", parents=[common], help="one sub-chain")
    s.add_argument("chain", help="its chain id")
    s.set_defaults(func=cmd_show)
    s = h.add_parser("register", parents=[common], help="propose registering a sub-chain (admins)")
    s.add_argument("chain", help="its chain id")
    s.add_argument("--org", required=True, help="the member organisation that runs it")
    s.add_argument("--genesis-hash", required=True, help="its genesis hash, hex")
    s.add_argument("--checkpoint-height", type=int, help="a trusted header height to start its client from")
    s.add_argument("--checkpoint-block-id", help="that header's block id, hex")
    cli.add_submit_options(s)
    s.set_defaults(func=cmd_register)
    s = h.add_parser("retire", parents=[common], help="propose retiring a sub-chain: its clients freeze (admins)")
    s.add_argument("chain", help="its chain id")
    cli.add_submit_options(s)
    s.set_defaults(func=cmd_retire)
    s = h.add_parser("connected", parents=[common], help="record the hub's client, connection and channels of it")
    s.add_argument("chain", help="its chain id")
    s.add_argument("--client", required=True, help="the hub's client of it (client-N)")
    s.add_argument("--connection", required=True, help="the hub's connection over that client (connection-N)")
    s.add_argument("--channel", action="append", help="a hub channel over that connection, PORT:CHANNEL (repeatable)")
    cli.add_submit_options(s)
    s.set_defaults(func=cmd_connected)
