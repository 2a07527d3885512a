"""``trellis light verify``: check a node's chain as a light client (docs/spec/light-client.md 8).

From genesis (default): fetch the target block and the validator-set changes up to it, and verify them with
``verify_from_genesis`` -- each set proven by more than 2/3 of the one before, no clock, nothing trusted but the
genesis file. With ``--trusted H:BLOCKID``: start from that header (its light block fetched and its id compared)
and verify the target by skipping with bisection (``verify_to_height``), the wall clock as ``now_ms`` and a
trusting period.
"""

from __future__ import annotations

import argparse
import re
import time
from typing import Any

import msgspec

from trellis.api.types import CommitJson, HeaderJson, commit_from_json, header_from_json, unhex
from trellis.cli import main as cli
from trellis.cli.client import ClientError, NodeClient
from trellis.core.crypto.suite import Suite
from trellis.core.errors import DecodeError, TrellisError
from trellis.core.ledger.block import Commit, Header, Validator, ValidatorSet, block_hash, validators_hash
from trellis.core.lightclient import (
    LightBlock,
    LightClientError,
    TrustedState,
    TrustOptions,
    verify_from_genesis,
    verify_to_height,
)

_DURATION = re.compile(r"([0-9]{1,9})(ms|s|m|h|d)")
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}


def parse_duration_ms(text: str) -> int:
    """``14d``, ``36h``, ``90m``, ``30s``, ``500ms`` -> milliseconds (at least 1).

    Raises:
        ValueError: anything else.
    """
    m = _DURATION.fullmatch(text.strip())
    if m is None or int(m.group(1)) == 0:
        raise ValueError(f"not a duration: {text!r} (a positive number and a unit: ms, s, m, h or d, as in 14d)")
    return int(m.group(1)) * _UNIT_MS[m.group(2)]


def parse_trusted(text: str) -> tuple[int, bytes]:
    """``H:BLOCKID`` (BLOCKID 64 hex digits, optionally ``0x``) -> (height, block id).

    Raises:
        ValueError: anything else.
    """
    height, sep, bid = text.partition(":")
    bid = bid.removeprefix("0x")
    if not sep or not height.isdigit() or int(height) < 1 or not re.fullmatch(r"[0-9a-fA-F]{64}", bid):
        raise ValueError(f"--trusted takes HEIGHT:BLOCKID (BLOCKID 64 hex digits), got {text!r}")
    return int(height), bytes.fromhex(bid)


class RestProvider:
    """A ``HeaderProvider`` over a node's REST API: ``/v1/blocks/{h}`` and ``/v1/validators?height=h``.

    Untrusted: every answer is checked by the light client; a missing or malformed one is ``provider``.
    """

    def __init__(self, client: NodeClient, suite: Suite) -> None:
        self.client = client
        self.suite = suite

    def header_and_commit(self, height: int) -> tuple[Header, Commit]:
        """The header and commit certificate the node serves for block ``height``."""
        try:
            res = self.client.get(f"/v1/blocks/{height}")
            header = header_from_json(msgspec.convert(res["header"], HeaderJson))
            if res.get("commit") is None:
                raise LightClientError("provider", f"the node has no commit certificate for block {height}", height)
            commit = commit_from_json(msgspec.convert(res["commit"], CommitJson))
        except ClientError as exc:
            raise LightClientError("provider", f"cannot fetch block {height}: {exc.message}", height) from None
        except (KeyError, TypeError, msgspec.ValidationError, TrellisError) as exc:
            if isinstance(exc, LightClientError):
                raise
            raise LightClientError("provider", f"malformed block {height}: {exc}", height) from None
        return header, commit

    def validator_set(self, height: int) -> ValidatorSet:
        """``set(height)`` as the node serves it (checked against the header's hash by the light client)."""
        try:
            res = self.client.get(f"/v1/validators?height={height}")
            return ValidatorSet(
                validators=[
                    Validator(public_key=unhex(v["public_key"]), power=int(v["power"]), name=str(v["name"]))
                    for v in res["validators"]
                ]
            )
        except ClientError as exc:
            raise LightClientError("provider", f"cannot fetch set({height}): {exc.message}", height) from None
        except (KeyError, TypeError, ValueError, DecodeError) as exc:
            raise LightClientError("provider", f"malformed validator set of {height}: {exc}", height) from None

    def light_block(self, height: int) -> LightBlock:
        """The light block of ``height``."""
        header, commit = self.header_and_commit(height)
        return LightBlock(header=header, commit=commit, validators=self.validator_set(height))

    def latest_height(self) -> int:
        """The node's committed height."""
        try:
            return int(self.client.get("/v1/status")["height"])
        except ClientError as exc:
            raise LightClientError("provider", f"cannot fetch the node's status: {exc.message}") from None
        except (KeyError, TypeError, ValueError) as exc:
            raise LightClientError("provider", f"malformed status: {exc}") from None


def _target(args: argparse.Namespace, provider: RestProvider) -> int:
    if args.height in (None, "latest"):
        return provider.latest_height()
    if not str(args.height).isdigit() or int(args.height) < 1:
        raise LightClientError("provider", f"--height takes a height of at least 1 or 'latest', got {args.height!r}")
    return int(args.height)


def _verified(args: argparse.Namespace, state: TrustedState, extra: dict[str, Any]) -> int:
    vhash = validators_hash(state.suite, state.validators)
    data = {
        "verified": True,
        "height": state.height,
        "block_id": "0x" + state.block_id.hex(),
        "validators_hash": "0x" + vhash.hex(),
        **extra,
    }
    cli._out(args, data, f"VERIFIED height {state.height} block 0x{state.block_id.hex()} validators 0x{vhash.hex()}")
    return 0


def _invalid(args: argparse.Namespace, code: str, reason: str) -> int:
    cli._out(args, {"verified": False, "code": code, "reason": reason}, f"INVALID: {code}: {reason}")
    return 1


def cmd_light_verify(args: argparse.Namespace) -> int:
    """Verify the target block from genesis (default) or, with ``--trusted``, by skipping from a trusted header."""
    try:
        params = cli.trusted_genesis(args)
    except cli.ProofFailure as exc:
        return _invalid(args, exc.check, exc.message)
    provider = RestProvider(cli._client(args), params.suite)
    try:
        target = _target(args, provider)
        if args.trusted is None:
            header, commit = provider.header_and_commit(target)
            try:
                changes = cli.fetch_set_changes(provider.client, target)
            except cli.ProofFailure as exc:
                return _invalid(args, exc.check, exc.message)
            state = verify_from_genesis(params, header, commit, changes)
            return _verified(args, state, {"mode": "genesis", "set_changes": len(changes)})
        trusted_height, trusted_id = parse_trusted(args.trusted)
        period = parse_duration_ms(args.trusting_period)
        lb = provider.light_block(trusted_height)
        if block_hash(params.suite, lb.header) != trusted_id:
            return _invalid(
                args, "invalid_header", f"block {trusted_height} is not the trusted block {trusted_id.hex()}"
            )
        if lb.header.chain_id != params.chain_id:
            return _invalid(args, "wrong_chain", f"block {trusted_height} is of chain {lb.header.chain_id!r}")
        if lb.header.validators_hash != validators_hash(params.suite, lb.validators):
            return _invalid(args, "validators_mismatch", f"the node's set({trusted_height}) is not the header's")
        trusted = TrustedState.from_genesis(params).after(lb)
        if target == trusted_height:
            return _verified(args, trusted, {"mode": "trusted", "steps": []})
        opts = TrustOptions(trusting_period_ms=period)
        state, blocks = verify_to_height(trusted, target, provider, int(time.time() * 1000), opts)
        return _verified(args, state, {"mode": "trusted", "steps": [b.header.height for b in blocks]})
    except LightClientError as exc:
        return _invalid(args, exc.code, exc.reason)
    except ValueError as exc:
        raise cli.CliError(str(exc)) from None


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``trellis light verify``."""
    light = sub.add_parser("light", help="verify a node's chain as a light client").add_subparsers(
        dest="light_cmd", required=True
    )
    v = light.add_parser(
        "verify",
        parents=[common],
        help="verify a block from the genesis file through every validator-set change (or skipping from --trusted)",
    )
    v.add_argument("--genesis", help="the chain's genesis.json (default: the home's)")
    v.add_argument("--height", default="latest", help="the block to verify: a height or 'latest' (default)")
    v.add_argument(
        "--trusted",
        metavar="H:BLOCKID",
        help="start from this trusted header instead of genesis, and verify by skipping (trust level 1/3)",
    )
    v.add_argument(
        "--trusting-period", default="14d", help="with --trusted: how long a trusted header stays trusted (14d)"
    )
    v.set_defaults(func=cmd_light_verify)
