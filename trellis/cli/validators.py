"""``trellis validators list|add|remove|set-power|approve`` and ``trellis net add-node`` (ADR 0014 section 6).

The validator set lives in state and changes by admin governance: ``add``, ``remove`` and ``set-power`` each send
a ``membership.propose`` with one ``validators.*`` change (docs/spec/membership.md); the other organisations'
admins approve it with ``trellis validators approve ID`` (the same as ``trellis certs approve ID``). A change applied
in block H is in force from height H+2. ``list`` shows the set of a height (default: the next block's).

``net add-node --org orgI`` makes a home for a joining node in a local network (``trellis.node.network.add_node``)
and prints its validator public key, ready for ``validators add``.
"""

from __future__ import annotations

import argparse
import re
from typing import Any

from trellis.cli import main as cli
from trellis.core.modules.membership.messages import ApproveMembership, ProposeMembership
from trellis.core.modules.validators.messages import AddValidator, RemoveValidator, SetValidatorPower

__all__ = ["register"]

_HEX = re.compile(r"(0[xX])?([0-9a-fA-F]{2})+")
MAX_POWER = 2**40
"""The largest voting power a validator may have (the rules refuse more)."""


def _hex_arg(text: str, what: str, size: int | None = None) -> bytes:
    if not _HEX.fullmatch(text):
        raise cli.CliError(f"{what} must be hex, got {text!r}")
    raw = bytes.fromhex(text[2:] if text[:2].lower() == "0x" else text)
    if size is not None and len(raw) != size:
        raise cli.CliError(f"{what} must be {size} bytes ({2 * size} hex digits), got {len(raw)}")
    return raw


def _power_arg(value: int) -> int:
    if not 1 <= value <= MAX_POWER:
        raise cli.CliError(f"--power must be between 1 and {MAX_POWER}, got {value}")
    return value


def _fetch_set(args: argparse.Namespace, height: int | None) -> Any:
    path = "/v1/validators" if height is None else f"/v1/validators?height={height}"
    return cli._client(args).get(path)


def cmd_list(args: argparse.Namespace) -> int:
    """``validators list [--height H]``: the set that signs height H (default: the next block)."""
    if args.height is not None and args.height < 1:
        raise cli.CliError(f"--height must be at least 1, got {args.height}")
    s = _fetch_set(args, args.height)
    lines = [
        f"validator set of height {s['height']} (in force from {s['effective_height']}): "
        f"{len(s['validators'])} validators, total power {s['total_power']}, hash {s['validators_hash']}"
    ]
    for v in s["validators"]:
        org = v["org"] or "-"
        lines.append(f"  {v['name']:<16} {v['address']}  power {v['power']:<6} org {org}  key {v['public_key']}")
    cli._out(args, s, "\n".join(lines))
    return 0


def cmd_add(args: argparse.Namespace) -> int:
    """``validators add``: propose adding a validator."""
    change = AddValidator(
        public_key=_hex_arg(args.public_key, "--public-key"),
        power=_power_arg(args.power),
        name=args.name,
        org=args.org,
    )
    return cli.submit_and_report(args, ProposeMembership(change=change), "propose validators.add")


def _pending_address_of_name(args: argparse.Namespace, name: str) -> bytes:
    """The address of the validator called ``name`` in the newest set the chain has decided (tip + 2)."""
    tip = int(cli._client(args).get("/v1/status")["height"])
    s = _fetch_set(args, tip + 2)
    found = [v["address"] for v in s["validators"] if v["name"] == name]
    if len(found) != 1:
        names = ", ".join(v["name"] for v in s["validators"])
        what = "no" if not found else "more than one"
        raise cli.CliError(f"{what} validator named {name!r} in the set of height {tip + 2} (names: {names})")
    return _hex_arg(found[0], "address", 20)


def cmd_remove(args: argparse.Namespace) -> int:
    """``validators remove (--address HEX | --name N)``: propose removing a validator."""
    address = (
        _hex_arg(args.address, "--address", 20)
        if args.address is not None
        else _pending_address_of_name(args, args.name)
    )
    return cli.submit_and_report(
        args, ProposeMembership(change=RemoveValidator(address=address)), "propose validators.remove"
    )


def cmd_set_power(args: argparse.Namespace) -> int:
    """``validators set-power``: propose another voting power for a validator."""
    change = SetValidatorPower(address=_hex_arg(args.address, "--address", 20), power=_power_arg(args.power))
    return cli.submit_and_report(args, ProposeMembership(change=change), "propose validators.set_power")


def cmd_approve(args: argparse.Namespace) -> int:
    """``validators approve ID``: approve a proposal for your organisation (as ``certs approve``)."""
    if args.proposal < 0:
        raise cli.CliError(f"a proposal id is not negative, got {args.proposal}")
    return cli.submit_and_report(args, ApproveMembership(proposal_id=args.proposal), "approve")


def cmd_net_add_node(args: argparse.Namespace) -> int:
    """``net add-node --org ORG``: a fresh validator home beside the network's; print its public key."""
    from trellis.node.network import add_node

    added = add_node(cli._root(args), args.org, observer=args.observer)
    n = added.node
    key = added.validator.public_key.hex()
    if args.observer:
        cli._out(
            args,
            {
                "name": n.name,
                "home": str(n.home),
                "api": n.api_url,
                "p2p_port": added.p2p_port,
                "org": added.org,
                "role": "observer",
                "peers_updated": list(added.peers_updated),
                "peers_not_updated": list(added.peers_not_updated),
            },
            f"added observer {n.name} (org {added.org})  home {n.home}  API {n.api_url}  p2p port {added.p2p_port}\n"
            f"  listed as a peer by: {', '.join(added.peers_updated) or 'none'} (read at their next start)"
            + (
                f"\n  not rewritten (their config.toml has settings a rewrite would lose): "
                f"{', '.join(added.peers_not_updated)}; {n.name} dials them itself"
                if added.peers_not_updated
                else ""
            )
            + f"\nstart it with: trellis node start --home {n.home}",
        )
        return 0
    cli._out(
        args,
        {
            "name": n.name,
            "home": str(n.home),
            "api": n.api_url,
            "p2p_port": added.p2p_port,
            "org": added.org,
            "public_key": key,
            "address": added.validator.address.hex(),
        },
        f"added {n.name} (org {added.org})  home {n.home}  API {n.api_url}  p2p port {added.p2p_port}\n"
        f"  validator public key {key}\n"
        f"start it with: trellis node start --home {n.home}\n"
        f"propose it with: trellis validators add --name {n.name} --public-key {key} --power 10 "
        f"--org {added.org} --from <admin>",
    )
    return 0


def register(sub: Any, common: argparse.ArgumentParser, net: Any) -> None:
    """Add ``trellis validators ...`` to the CLI's subcommands and ``add-node`` to ``trellis net``."""
    v = sub.add_parser("validators", help="the validator set and its governance").add_subparsers(
        dest="validators_cmd", required=True
    )
    s = v.add_parser("list", parents=[common], help="the validator set of a height (default: the next block)")
    s.add_argument("--height", type=int, help="the height (1 to tip + 2)")
    s.set_defaults(func=cmd_list)

    s = v.add_parser("add", parents=[common], help="propose adding a validator (admins)")
    s.add_argument("--name", required=True, help="its name (1 to 64 characters)")
    s.add_argument("--public-key", required=True, help="its consensus public key, hex")
    s.add_argument("--power", type=int, required=True, help=f"its voting power (1 to {MAX_POWER})")
    s.add_argument("--org", required=True, help="the member organisation that owns it")
    cli.add_submit_options(s)
    s.set_defaults(func=cmd_add)

    s = v.add_parser("remove", parents=[common], help="propose removing a validator (admins)")
    which = s.add_mutually_exclusive_group(required=True)
    which.add_argument("--address", help="its address, hex")
    which.add_argument("--name", help="or its name in the newest decided set")
    cli.add_submit_options(s)
    s.set_defaults(func=cmd_remove)

    s = v.add_parser("set-power", parents=[common], help="propose another voting power for a validator (admins)")
    s.add_argument("--address", required=True, help="its address, hex")
    s.add_argument("--power", type=int, required=True, help=f"the new power (1 to {MAX_POWER})")
    cli.add_submit_options(s)
    s.set_defaults(func=cmd_set_power)

    s = v.add_parser("approve", parents=[common], help="approve a proposal for your organisation (admins)")
    s.add_argument("proposal", type=int, help="the proposal id")
    cli.add_submit_options(s)
    s.set_defaults(func=cmd_approve)

    s = net.add_parser("add-node", parents=[common], help="add a joining node's home to the network in --home")
    s.add_argument("--org", required=True, help="the organisation whose CA issues its TLS certificate (orgI)")
    s.add_argument(
        "--observer", action="store_true", help="a non-voting observer (ADR 0018): it never opens a signing key"
    )
    s.set_defaults(func=cmd_net_add_node)
