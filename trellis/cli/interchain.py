"""``trellis interchain clients|channels|show|packets``: this chain's clients of other chains, its connections,
channels and pending packets, read from the node's ``/v1/interchain`` routes (docs/spec/interchain.md 8); and
``trellis interchain connect``: join two chains (clients both ways, a connection, a channel) with the relayer's
handshake driver (``trellis.relayer.handshake``), each step a transaction its chain checks.

``show`` takes a client id (``client-0``), a connection id (``connection-0``) or a channel end
(``transfer/channel-0``); ``packets PORT/CHANNEL`` lists the packets the end sent that are still pending (``--seq N``:
one sequence, with the receipt and acknowledgement this chain holds of it).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
from pathlib import Path
from typing import Any

from trellis.cli import main as cli

__all__ = ["register"]

_CLIENT = re.compile(r"client-(0|[1-9][0-9]{0,19})")
_CONNECTION = re.compile(r"connection-(0|[1-9][0-9]{0,19})")
_END = re.compile(r"([a-z][a-z0-9_]{0,31})/(channel-(0|[1-9][0-9]{0,19}))")


def _end(text: str) -> tuple[str, str]:
    m = _END.fullmatch(text)
    if m is None:
        raise cli.CliError(f"{text!r} is not a channel end (PORT/channel-N, e.g. transfer/channel-0)")
    return m.group(1), m.group(2)


def client_lines(c: dict[str, Any]) -> list[str]:
    """A client as text."""
    out = [
        f"{c['client_id']}  of chain {c['chain_id']}  [{c['status']}]",
        f"  genesis     {c['genesis_hash']} ({c['suite']})",
        f"  latest      height {c['latest_height']}",
        f"  trusting    {c['trusting_period_ms'] // 1000} s, clock drift {c['max_clock_drift_ms'] // 1000} s",
    ]
    cs = c.get("latest_consensus_state")
    if cs:
        out.append(f"  consensus   {cli._fmt_time(cs['time_ms'])}, state root {cs['state_root']}")
    if c["frozen_height"]:
        out.append(f"  frozen at   height {c['frozen_height']}")
    mis = c.get("misbehaviour")
    if mis:
        out.append(f"  misbehaviour {mis['kind']} at height {mis['height']} (recorded at {mis['recorded_at']})")
    return out


def channel_line(ch: dict[str, Any]) -> str:
    """A channel end on one line."""
    other = f"{ch['counterparty_port']}/{ch['counterparty_channel'] or '?'}"
    return (
        f"{ch['port']}/{ch['channel']}  {ch['state']:<7} {ch['order'].lower():<9} {ch['connection_id']} -> {other}"
        f"  {ch['version']}  next send/recv/ack {ch['next_sequence_send']}/{ch['next_sequence_recv']}/"
        f"{ch['next_sequence_ack']}"
    )


def packet_line(p: dict[str, Any]) -> str:
    """A packet on one line."""
    timeouts = []
    if p["timeout_height"]:
        timeouts.append(f"height {p['timeout_height']}")
    if p["timeout_time_ms"]:
        timeouts.append(cli._fmt_time(p["timeout_time_ms"]))
    return (
        f"  #{p['sequence']}  -> {p['dest_port']}/{p['dest_channel']}  {len(p['data']) // 2 - 1} bytes  "
        f"timeout {' or '.join(timeouts)}  id {p['packet_id']}"
    )


def cmd_clients(args: argparse.Namespace) -> int:
    """List the clients with their status."""
    res = cli._client(args).get("/v1/interchain/clients")
    text = [f"{len(res['clients'])} client(s) at height {res['height']}"]
    text += [
        f"  {c['client_id']}  {c['chain_id']}  {c['status']:<7}  latest height {c['latest_height']}"
        for c in res["clients"]
    ]
    cli._out(args, res, "\n".join(text))
    return 0


def cmd_channels(args: argparse.Namespace) -> int:
    """List the channel ends."""
    res = cli._client(args).get("/v1/interchain/channels")
    text = [f"{len(res['channels'])} channel end(s) at height {res['height']}"]
    text += ["  " + channel_line(ch) for ch in res["channels"]]
    cli._out(args, res, "\n".join(text))
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    """Show a client, a connection or a channel end."""
    client = cli._client(args)
    what = args.what
    if _CLIENT.fullmatch(what):
        res = client.get(f"/v1/interchain/clients/{what}")
        text = client_lines(res)
    elif _CONNECTION.fullmatch(what):
        res = client.get(f"/v1/interchain/connections/{what}")
        text = [
            f"{res['connection_id']}  [{res['state']}]  {res['version']}",
            f"  client        {res['client_id']}",
            f"  counterparty  {res['counterparty_client_id']} / {res['counterparty_connection_id'] or '?'}",
        ]
    else:
        port, chan = _end(what)
        res = client.get(f"/v1/interchain/channels/{port}/{chan}")
        text = [channel_line(res)]
    cli._out(args, res, "\n".join(text))
    return 0


def cmd_packets(args: argparse.Namespace) -> int:
    """The pending packets of a channel end, or one sequence."""
    port, chan = _end(args.end)
    client = cli._client(args)
    base = f"/v1/interchain/channels/{port}/{chan}/packets"
    if args.seq is not None:
        if args.seq < 1:
            raise cli.CliError("--seq is a packet sequence (1 or more)")
        res = client.get(f"{base}/{args.seq}")
        text = [f"{port}/{chan} #{args.seq} at height {res['height']}"]
        text.append(packet_line(res["packet"]) if res["packet"] else "  packet   not pending here")
        text.append(f"  receipt  {'yes' if res['receipt'] else 'no'}")
        ack = res["ack"]
        if ack:
            text.append("  ack      " + ("ok" if ack["code"] == 0 else f"error {ack['code']}: {ack['reason']}"))
        else:
            text.append("  ack      none")
        cli._out(args, res, "\n".join(text))
        return 0
    if not 1 <= args.limit <= 100:
        raise cli.CliError("--limit is 1 to 100")
    if args.from_seq < 1:
        raise cli.CliError("--from-seq is 1 or more")
    res = client.get(f"{base}?from_seq={args.from_seq}&limit={args.limit}")
    text = [f"{len(res['packets'])} pending packet(s) on {port}/{chan} at height {res['height']}"]
    text += [packet_line(p) for p in res["packets"]]
    if res["next_from_seq"] is not None:
        text.append(f"  more: --from-seq {res['next_from_seq']}")
    cli._out(args, res, "\n".join(text))
    return 0


def cmd_connect(args: argparse.Namespace) -> int:
    """Join chain A and chain B: clients both ways, a connection and a channel of ``--port``."""
    from trellis.core.modules.interchain.messages import ORDERED, UNORDERED
    from trellis.keys.signer import KeyStoreError
    from trellis.relayer.endpoint import HttpEndpoint
    from trellis.relayer.handshake import HandshakeError, connect
    from trellis.relayer.submit import load_key

    keys = []
    for flag, path in (("--a-key", args.a_key), ("--b-key", args.b_key)):
        try:
            keys.append(load_key(Path(path)))
        except KeyStoreError as exc:
            raise cli.CliError(f"{flag} {path}: {exc}") from None
    key_a, key_b = keys
    for g in (args.a_genesis, args.b_genesis):
        if not Path(g).is_file():
            raise cli.CliError(f"no genesis file at {g}")

    async def run() -> dict[str, str]:
        ea = HttpEndpoint(args.a_chain, [args.a_api], genesis_file=Path(args.a_genesis))
        eb = HttpEndpoint(args.b_chain, [args.b_api], genesis_file=Path(args.b_genesis))
        try:
            return await connect(
                ea,
                eb,
                key_a,
                key_b,
                port=args.port,
                order=ORDERED if args.order == "ordered" else UNORDERED,
                version=args.version,
            )
        finally:
            await ea.close()
            await eb.close()

    try:
        ids = asyncio.run(run())
    except HandshakeError as exc:
        raise cli.CliError(f"handshake failed: {exc}") from None
    text = "\n".join(
        [
            f"A {args.a_chain}: {ids['a_client']} {ids['a_connection']} {ids['port']}/{ids['a_channel']}",
            f"B {args.b_chain}: {ids['b_client']} {ids['b_connection']} {ids['counterparty_port']}/{ids['b_channel']}",
        ]
    )
    if getattr(args, "json", False):
        print(json.dumps(ids, indent=2))
    else:
        print(text)
    return 0


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``trellis interchain ...`` to the CLI's subcommands."""
    a = sub.add_parser("interchain", help="clients of other chains, connections, channels, packets").add_subparsers(
        dest="interchain_cmd", required=True
    )
    s = a.add_parser("clients", parents=[common], help="this chain's clients of other chains, with their status")
    s.set_defaults(func=cmd_clients)
    s = a.add_parser("channels", parents=[common], help="every channel end with its next sequences")
    s.set_defaults(func=cmd_channels)
    s = a.add_parser("show", parents=[common], help="a client, a connection or a channel end")
    s.add_argument("what", help="client-N, connection-N or PORT/channel-N")
    s.set_defaults(func=cmd_show)
    s = a.add_parser("packets", parents=[common], help="the pending packets of a channel end, or one sequence")
    s.add_argument("end", help="PORT/channel-N, e.g. transfer/channel-0")
    s.add_argument("--from-seq", type=int, default=1, help="first sequence listed (default 1)")
    s.add_argument("--limit", type=int, default=100, help="page size, 1 to 100")
    s.add_argument("--seq", type=int, help="one sequence: the packet if pending, the receipt and the ack")
    s.set_defaults(func=cmd_packets)
    s = a.add_parser(
        "connect",
        help="join two chains: clients both ways, a connection and a channel (each step a transaction)",
    )
    for side in ("a", "b"):
        s.add_argument(f"--{side}-chain", required=True, help=f"chain {side.upper()}'s id")
        s.add_argument(f"--{side}-api", required=True, help=f"a node of chain {side.upper()} (http://host:port)")
        s.add_argument(f"--{side}-genesis", required=True, help=f"chain {side.upper()}'s genesis.json")
        s.add_argument(f"--{side}-key", required=True, help=f"a member key file of chain {side.upper()} (NAME.pem)")
    s.add_argument("--port", default="transfer", help="the channel's port on both chains (default transfer)")
    s.add_argument("--order", choices=["unordered", "ordered"], default="unordered")
    s.add_argument("--version", default="trellis-transfer-1", help="the application version")
    s.set_defaults(func=cmd_connect)
