"""``trellis transfer send|expire-forward|balances|move``: cross-chain transfers (docs/spec/transfer.md; ADR 0015
section 7).

``send`` signs ``transfer.send`` over a channel of port ``transfer``. Its timeout is a destination height
(``--timeout-height H``, or ``+N``: N past the destination height this chain's client last verified, refused when
that consensus state is more than ``MAX_TIP_AGE_MS`` older than the local clock: on an idle path the destination
may be far past it) and/or a duration (``--timeout 10m``: the later of the local clock and the destination's latest
block time known here, the time of this chain's client's latest consensus state of it, plus the duration; that
state may be days old when the path is idle). Without either, ``--timeout 10m``.

``send --via CHANNEL`` (or ``--via hub:CHANNEL``) routes through the chain at the other end of ``--channel`` (a hub):
it signs ``transfer.send_via`` with ``forward.channel = CHANNEL`` (the hub's channel to the final destination) and
``--to`` the receiver there. The second hop's timeout is ``--forward-timeout`` (default ``5m``) past the local clock;
it must end at least ``FORWARD_MARGIN_MS`` before the first hop's timeout time and at most ``FORWARD_MAX_WAIT_MS``
(a day) past the clock (checked here as on the hub, the local clock standing in for the hub's).
``expire-forward --channel C --sequence N`` (on the hub; anyone) signs ``transfer.expire_forward``: the forward of
first-hop packet N received on C ends as if its second hop timed out, when the destination's client on the hub is
frozen (retired, untrusted or misbehaving) and the hub's clock passed the second hop's timeout time.
``balances`` lists an address's native balance and vouchers; ``move`` moves vouchers to
another address of this chain (``transfer.move``).
"""

from __future__ import annotations

import argparse
import re
import time
from typing import Any

import msgspec

from trellis.cli import main as cli
from trellis.cli.client import ClientError, NodeClient
from trellis.core.crypto.suite import UnknownSuite, suite_by_name
from trellis.core.modules.transfer.app import forward_timeout_problem
from trellis.core.modules.transfer.messages import (
    Forward,
    TransferExpireForward,
    TransferMove,
    TransferSend,
    TransferSendVia,
)
from trellis.core.modules.transfer.state import denom_hash

__all__ = ["MAX_TIP_AGE_MS", "destination_tip", "parse_duration_ms", "register", "timeouts"]

_DURATION = re.compile(r"([0-9]{1,12})(ms|s|m|h|d)")
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
DEFAULT_TIMEOUT = "10m"
"""The timeout of a ``send`` that names none."""
DEFAULT_FORWARD_TIMEOUT = "5m"
"""The second hop's timeout of a routed ``send --via`` that names none (past the local clock)."""
MAX_TIP_AGE_MS = 600_000
"""Oldest (by the local clock) a client's latest consensus state may be for ``--timeout-height +N``."""


def parse_duration_ms(text: str) -> int:
    """``90s``, ``10m``, ``2h``, ``1d``, ``500ms`` to milliseconds (positive)."""
    m = _DURATION.fullmatch(text.strip())
    if m is None or int(m.group(1)) == 0:
        raise cli.CliError(f"{text!r} is not a duration (a positive number and ms, s, m, h or d: 10m)")
    return int(m.group(1)) * _UNIT_MS[m.group(2)]


def destination_tip(client: NodeClient, channel: str) -> tuple[int, int] | None:
    """(height, block time) of the destination's latest header this chain's client of it verified, found from
    the channel end (``transfer``/``channel``) through its connection; None when the chain has no such channel,
    connection, client or consensus state."""
    try:
        end = client.get(f"/v1/interchain/channels/transfer/{channel}")
        conn = client.get(f"/v1/interchain/connections/{end['connection_id']}")
        found = client.get(f"/v1/interchain/clients/{conn['client_id']}")
    except ClientError as exc:
        if exc.status == 404:
            return None
        raise
    cs = found.get("latest_consensus_state")
    return None if not cs else (int(cs["height"]), int(cs["time_ms"]))


def timeouts(
    client: NodeClient, channel: str, height: str | None, duration: str | None, now_ms: int
) -> tuple[int, int, str]:
    """(timeout_height, timeout_time_ms, how they were chosen) of a send (see the module docstring)."""
    if height is None and duration is None:
        duration = DEFAULT_TIMEOUT
    tip = destination_tip(client, channel) if (duration is not None or (height or "").startswith("+")) else None
    timeout_height, how = 0, []
    if height is not None:
        relative = height.startswith("+")
        digits = height[1:] if relative else height
        if not digits.isdigit() or int(digits) == 0 or len(digits) > 19:
            raise cli.CliError(f"--timeout-height {height!r} is not a height (H, or +N past the destination's latest)")
        if relative:
            if tip is None:
                raise cli.CliError(f"--timeout-height {height}: this chain has no client of channel {channel}'s chain")
            age = now_ms - tip[1]
            if age > MAX_TIP_AGE_MS:
                raise cli.CliError(
                    f"--timeout-height {height}: the destination height this chain's client last verified ({tip[0]}, "
                    f"block time {cli._fmt_time(tip[1])}) is {age // 1000} s older than the local clock (more than "
                    f"{MAX_TIP_AGE_MS // 1000} s): the destination may already be past {tip[0]} + {digits}; "
                    "update the client (a relayer does) or give an absolute --timeout-height H or a --timeout"
                )
            timeout_height = tip[0] + int(digits)
            how.append(f"height {timeout_height} (destination height {tip[0]} + {digits})")
        else:
            timeout_height = int(digits)
            how.append(f"height {timeout_height}")
    timeout_time_ms = 0
    if duration is not None:
        span = parse_duration_ms(duration)
        if tip is not None and tip[1] >= now_ms:
            timeout_time_ms = tip[1] + span
            how.append(
                f"{cli._fmt_time(timeout_time_ms)} (destination block time {cli._fmt_time(tip[1])} + {duration})"
            )
        elif tip is not None:
            timeout_time_ms = now_ms + span
            how.append(
                f"{cli._fmt_time(timeout_time_ms)} (local clock + {duration}; the destination's latest block time "
                f"known here, {cli._fmt_time(tip[1])}, is older)"
            )
        else:
            timeout_time_ms = now_ms + span
            how.append(f"{cli._fmt_time(timeout_time_ms)} (local clock + {duration}: no client of the destination)")
    return timeout_height, timeout_time_ms, " or ".join(how)


def _suite(client: NodeClient) -> Any:
    try:
        return suite_by_name(str(client.get("/v1/status").get("suite", "ed25519")))
    except UnknownSuite as exc:
        raise cli.CliError(f"the node's chain uses a crypto suite this client does not know: {exc}") from None


def _convert(cls: type[Any], fields: list[Any]) -> Any:
    try:  # the decoding bounds the node applies (docs/spec/transfer.md 2)
        return msgspec.convert([cls.__struct_config__.tag, *fields], cls)
    except msgspec.ValidationError as exc:
        text = str(exc)
        for i, name in enumerate(cls.__struct_fields__, 1):
            text = text.replace(f"`$[{i}]`", name)
        raise cli.CliError(f"not a valid {cls.__struct_config__.tag}: {text}") from None


_VIA = re.compile(r"(?:hub:)?(channel-[0-9]+)")
"""``--via``: the hub's channel to the destination, ``channel-N`` or ``hub:channel-N``."""


def cmd_send(args: argparse.Namespace) -> int:
    """Send tokens over a channel."""
    client = cli._client(args)
    receiver = cli._address_arg(args, args.to)
    now_ms = int(time.time() * 1000)
    height, time_ms, how = timeouts(client, args.channel, args.timeout_height, args.packet_timeout, now_ms)
    if args.via is None:
        if args.forward_timeout is not None:
            raise cli.CliError("--forward-timeout is the second hop's timeout of a routed send: give --via too")
        payload = _convert(TransferSend, [args.channel, args.denom, args.amount, receiver, height, time_ms])
        return cli.submit_and_report(
            args, payload, f"send {args.amount} {args.denom} over {args.channel} to 0x{receiver.hex()}, timeout {how}"
        )
    m = _VIA.fullmatch(args.via)
    if m is None:
        raise cli.CliError(
            f"--via {args.via!r}: not a channel id; give the hub's channel as channel-N or hub:channel-N"
        )
    via = m.group(1)
    forward_ms = now_ms + parse_duration_ms(args.forward_timeout or DEFAULT_FORWARD_TIMEOUT)
    try:
        forward = msgspec.convert([via, 0, forward_ms], Forward)
    except msgspec.ValidationError as exc:
        raise cli.CliError(f"--via {args.via!r}: not a channel id (channel-N): {exc}") from None
    problem = forward_timeout_problem(time_ms, forward, now_ms)  # the local clock stands in for the hub's
    if problem is not None:
        raise cli.CliError(f"--forward-timeout: {problem}; give a shorter --forward-timeout or a longer --timeout")
    payload = _convert(TransferSendVia, [args.channel, args.denom, args.amount, receiver, forward, height, time_ms])
    return cli.submit_and_report(
        args,
        payload,
        f"send {args.amount} {args.denom} over {args.channel}, forwarded over {via} to 0x{receiver.hex()}, "
        f"timeout {how}, second hop by {cli._fmt_time(forward_ms)}",
    )


def cmd_expire_forward(args: argparse.Namespace) -> int:
    """On the hub: end a forward whose destination's client is frozen, past its second hop's timeout time."""
    payload = _convert(TransferExpireForward, [args.channel, args.sequence])
    return cli.submit_and_report(
        args,
        payload,
        f"expire the forward of packet {args.sequence} received on {args.channel} (its origin is refunded)",
    )


def cmd_balances(args: argparse.Namespace) -> int:
    """An address's native balance and vouchers."""
    address = cli._address_arg(args, args.address)
    res = cli._client(args).get(f"/v1/transfer/balances/0x{address.hex()}")
    text = [f"0x{address.hex()} at height {res['height']}"]
    for h in res["balances"]:
        text.append(f"  {h['amount']:>20}  {h['denom']}" + (f"  ({h['denom_hash']})" if h["denom_hash"] else ""))
    cli._out(args, res, "\n".join(text))
    return 0


def cmd_move(args: argparse.Namespace) -> int:
    """Move vouchers to another address of this chain."""
    client = cli._client(args)
    to = cli._address_arg(args, args.to)
    text = args.denom.removeprefix("0x").removeprefix("0X")
    if re.fullmatch(r"[0-9a-fA-F]{64}", text):
        dhash = bytes.fromhex(text)
    else:
        if args.denom == "native":
            raise cli.CliError("native tokens move with 'trellis tx send transfer'; transfer move moves vouchers")
        dhash = denom_hash(_suite(client), args.denom)
    payload = _convert(TransferMove, [to, dhash, args.amount])
    return cli.submit_and_report(args, payload, f"move {args.amount} of 0x{dhash.hex()} to 0x{to.hex()}")


def _send_submit_options(s: argparse.ArgumentParser) -> None:
    """``add_submit_options`` with the commit wait as ``--wait-timeout`` (``--timeout`` is the packet's)."""
    s.add_argument("--from", dest="sender", required=True, help="name of the signing key")
    s.add_argument("--memo", help="memo text")
    s.add_argument("--nonce", type=int, help="override the nonce (default: the account's next nonce)")
    s.add_argument("--no-wait", action="store_true", help="return once accepted, without waiting for the commit")
    s.add_argument("--wait-timeout", dest="timeout", type=int, default=15, help="seconds to wait for the commit")
    s.add_argument("--passphrase-file", help="passphrase of an encrypted key")


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``trellis transfer ...`` to the CLI's subcommands."""
    a = sub.add_parser("transfer", help="cross-chain transfers and vouchers").add_subparsers(
        dest="transfer_cmd", required=True
    )
    s = a.add_parser("send", parents=[common], help="send tokens to an address on the chain across a channel")
    s.add_argument("--channel", required=True, help="this chain's channel end of port transfer (channel-N)")
    s.add_argument("--denom", required=True, help="native, or a voucher's full denomination (transfer/channel-0/...)")
    s.add_argument("--amount", type=int, required=True, help="how much")
    s.add_argument("--to", required=True, help="the receiver's address on the destination (40 hex digits or a key)")
    s.add_argument("--timeout-height", help="destination height from which it can no longer arrive (H or +N)")
    s.add_argument(
        "--timeout",
        dest="packet_timeout",
        help=f"duration past the destination's latest block time (10m, 2h, 1d; default {DEFAULT_TIMEOUT})",
    )
    s.add_argument(
        "--via",
        help="route through the chain across --channel (a hub): its channel to the final destination "
        "(channel-N or hub:channel-N); --to is the receiver there",
    )
    s.add_argument(
        "--forward-timeout",
        help=f"with --via: the second hop's timeout, past the local clock (default {DEFAULT_FORWARD_TIMEOUT})",
    )
    _send_submit_options(s)
    s.set_defaults(func=cmd_send)
    s = a.add_parser(
        "expire-forward",
        parents=[common],
        help="on a hub: end a forward whose destination's client is frozen, once its second hop's timeout passed "
        "(the origin refunds its sender)",
    )
    s.add_argument("--channel", required=True, help="the hub's channel end the first hop arrived on (channel-N)")
    s.add_argument("--sequence", type=int, required=True, help="the first hop's sequence")
    cli.add_submit_options(s)
    s.set_defaults(func=cmd_expire_forward)
    s = a.add_parser("balances", parents=[common], help="an address's native balance and vouchers")
    s.add_argument("address", help="an address or a key name")
    s.set_defaults(func=cmd_balances)
    s = a.add_parser("move", parents=[common], help="move vouchers to another address of this chain")
    s.add_argument("--to", required=True, help="an address or a key name")
    s.add_argument("--denom", required=True, help="the voucher's full denomination, or its hash (64 hex digits)")
    s.add_argument("--amount", type=int, required=True, help="how much")
    cli.add_submit_options(s)
    s.set_defaults(func=cmd_move)
