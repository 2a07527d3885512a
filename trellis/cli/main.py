"""``trellis``: command-line entry point.

Every command takes ``--home`` (default ``$TRELLIS_HOME`` or ``./.trellis``), ``--node`` (default: the API
address in the home's config, else http://127.0.0.1:8680) and ``--json``, before or after the subcommand (the
one nearest the end wins). A home named by ``--home`` or ``$TRELLIS_HOME`` must exist, except for the commands
that create one (``init``, ``net init``, ``net up``, ``keys new``). Errors print ``error: ...`` on stderr and
exit with status 1 (2 for usage errors).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote

import msgspec

from trellis.api.types import StateValueJson, header_from_json, proof_from_json, unhex
from trellis.cli.client import ClientError, NodeClient
from trellis.core.codec import encode
from trellis.core.errors import DecodeError, ProofError, TrellisError
from trellis.core.ledger.state_tree import verify_state_proof
from trellis.core.ledger.tx import TxBody, sign_tx
from trellis.core.modules.accounts.messages import Mint, Transfer
from trellis.core.modules.accounts.state import account_key
from trellis.core.modules.kv.messages import KvDelete, KvPut
from trellis.core.modules.kv.state import kv_key
from trellis.core.modules.payload import Payload
from trellis.core.params import ChainParams
from trellis.keys.signer import KeyStore

SUITE_NAMES = ("ed25519", "sm")
"""The crypto suites a chain can be created with (``--suite``)."""

DEFAULT_NODE = "http://127.0.0.1:8680"


class CliError(Exception):
    """A problem to report to the user, then exit 1."""


# -- helpers -------------------------------------------------------------------------------------------------
def _root(args: argparse.Namespace) -> Path:
    return Path(args.home or os.environ.get("TRELLIS_HOME") or ".trellis")


def _check_home_exists(args: argparse.Namespace) -> None:
    """Refuse a home named by ``--home`` or ``$TRELLIS_HOME`` that is not a directory: a mistyped path must not
    quietly become the default node (127.0.0.1:8680) and the default key store. Commands that create a home
    (``init``, ``net init``, ``net up``, ``keys new``) set ``creates_home`` and are let through."""
    if getattr(args, "creates_home", False):
        return
    given = args.home or os.environ.get("TRELLIS_HOME")
    if given and not Path(given).is_dir():
        source = "--home" if args.home else "$TRELLIS_HOME"
        raise CliError(
            f"{source} {given} does not exist or is not a directory (create one with: trellis init --home {given})"
        )


def _home(args: argparse.Namespace) -> Path:
    """The node home: ``--home`` itself, or the first node's home when it is a local network directory."""
    from trellis.node.network import is_network_dir, load_network

    root = _root(args)
    if is_network_dir(root):
        return load_network(root)[0].home
    return root


def _node_url(args: argparse.Namespace) -> str:
    if args.node:
        return str(args.node)
    from trellis.node.config import ConfigError, load_config

    cfg_path = _home(args) / "config.toml"
    if cfg_path.exists():
        try:
            cfg = load_config(cfg_path)
        except ConfigError as exc:
            raise CliError(f"cannot read the node address from {cfg_path}: {exc} (or give --node URL)") from None
        host = "127.0.0.1" if cfg.api.host in ("0.0.0.0", "") else cfg.api.host
        return f"http://{host}:{cfg.api.port}"
    return DEFAULT_NODE


def _client(args: argparse.Namespace) -> NodeClient:
    return NodeClient(_node_url(args))


def _keystore(args: argparse.Namespace) -> KeyStore:
    # New keys follow the home's chain suite; existing keys are read in whatever suite their file is.
    return KeyStore(_home(args) / "keys", _genesis_suite(args))


def _passphrase(args: argparse.Namespace) -> bytes | None:
    path = getattr(args, "passphrase_file", None)
    if path:
        try:
            return Path(path).read_bytes().rstrip(b"\r\n")
        except OSError as exc:
            raise CliError(f"cannot read passphrase file {path}: {exc.strerror}") from None
    env = os.environ.get("TRELLIS_PASSPHRASE")
    return env.encode() if env else None


def _address_arg(args: argparse.Namespace, text: str) -> bytes:
    """An address: 40 hex digits (optionally 0x), or the name of a key in the home's key store."""
    t = text[2:] if text.lower().startswith("0x") else text
    if len(t) == 40:
        try:
            return bytes.fromhex(t)
        except ValueError:
            pass
    ks = _keystore(args)
    try:
        return ks.info(text).address
    except TrellisError:
        raise CliError(f"{text!r} is neither an address (40 hex digits) nor a key name in {ks.directory}") from None


def _out(args: argparse.Namespace, data: Any, text: str) -> None:
    if args.json:
        print(json.dumps(data, indent=2, sort_keys=False))
    else:
        print(text)


def _state_key(args: argparse.Namespace, spec: str) -> bytes:
    """``0x…`` raw hex key, ``account:ADDR|NAME`` or ``kv:NAMESPACE:KEY``."""
    if spec.startswith("account:"):
        return account_key(_address_arg(args, spec[len("account:") :]))
    if spec.startswith("kv:"):
        parts = spec.split(":", 2)
        if len(parts) != 3 or not parts[1] or not parts[2]:
            raise CliError("a kv state key is written kv:NAMESPACE:KEY")
        return kv_key(parts[1], parts[2].encode())
    try:
        key = unhex(spec, "key")
    except DecodeError:
        raise CliError(f"{spec!r} is not a state key: use 0x-hex, account:ADDR or kv:NAMESPACE:KEY") from None
    if not key:
        raise CliError("the state key is empty")
    return key


def _seg(text: str) -> str:
    """``text`` as one URL path segment (user input may hold '/', '?', '#', spaces...)."""
    return quote(text, safe="")


def _fmt_time(ms: int) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + "Z"


# -- commands ------------------------------------------------------------------------------------------------
def cmd_init(args: argparse.Namespace) -> int:
    from trellis.node.home import init_home

    home = init_home(
        _home(args), chain_id=args.chain_id, api_port=args.api_port, suite=args.suite, permissioned=args.permissioned
    )
    params = home.load_params()
    keys = {k.name: "0x" + k.address.hex() for k in home.keys.list()}
    _out(
        args,
        {
            "home": str(home.root),
            "chain_id": params.chain_id,
            "suite": params.suite.name,
            "genesis_hash": "0x" + params.genesis_hash.hex(),
            "keys": keys,
        },
        f"initialised {params.chain_id} (suite {params.suite.name}) in {home.root}\n"
        + "\n".join(f"  key {n:<10} {a}" for n, a in keys.items())
        + f"\nstart it with: trellis node start --home {home.root}",
    )
    return 0


def _port(text: str) -> int:
    """An argparse type: a TCP port number, 0 to 65535 (0 picks a free one)."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port {port} is out of range (0-65535)")
    return port


def _check_listen(host: str, port: int, what: str, option: str, setting: str) -> None:
    """Refuse, in one line, to start a node whose ``what`` port (``host:port``) cannot be bound: naming the port
    and the ``option`` / config ``setting`` that changes it, instead of a traceback from deep in the start.
    Binds as the servers do (``SO_REUSEADDR``), so a port in TIME_WAIT is not reported as taken."""
    import errno
    import socket

    if port == 0:
        return
    try:
        socket.create_server((host, port)).close()
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise CliError(
                f"the {what} port {port} on {host} is already in use: stop what holds it, "
                f"or give another with {option} (or {setting} in config.toml)"
            ) from None
        raise CliError(f"cannot listen on {host}:{port} for the {what}: {exc.strerror or exc}") from None


def _trust_of(args: argparse.Namespace, cfg: Any) -> tuple[int, bytes] | None:
    """``--trust-height N --trust-hash HEX`` (or ``[statesync] trust_height/trust_hash``): the block id the synced
    history must have at that height, or None."""
    height = args.trust_height if args.trust_height is not None else cfg.statesync.trust_height
    text = args.trust_hash if args.trust_hash is not None else cfg.statesync.trust_hash
    if bool(height) != bool(text):
        raise CliError("--trust-height and --trust-hash go together")
    if not height:
        return None
    if height < 0:
        raise CliError(f"--trust-height must be a block height (1 or more), not {height}")
    text = text.removeprefix("0x")
    try:
        block_id = bytes.fromhex(text)
    except ValueError:
        block_id = b""
    if len(block_id) != 32:
        raise CliError(f"--trust-hash must be a block id of 64 hex digits, not {text!r}")
    return int(height), block_id


def cmd_node_start(args: argparse.Namespace) -> int:
    from trellis.api.server import serve
    from trellis.node.assembly import assemble_node
    from trellis.node.config import load_config
    from trellis.node.gc_tuning import tune_for_node
    from trellis.node.home import Home
    from trellis.node.logging_setup import configure_logging

    home = Home(_home(args))
    cfg = load_config(home.config)
    if args.api_port is not None:
        cfg = msgspec.structs.replace(cfg, api=msgspec.structs.replace(cfg.api, port=args.api_port))
    if args.p2p_port is not None:
        cfg = msgspec.structs.replace(cfg, p2p=msgspec.structs.replace(cfg.p2p, port=args.p2p_port))
    configure_logging(cfg.log, level=args.log_level)  # [log] in config.toml; --log-level overrides its level
    # The API port first, before anything is opened or logged; the peer port once assembly has said whether this
    # node listens for peers at all (a lone validator without peers does not).
    _check_listen(cfg.api.host, cfg.api.port, "API", "--api-port", "[api] port")
    bans: dict[str, float] = {}
    if args.state_sync or cfg.statesync.enable:
        from trellis.node.statesync import state_sync_home

        bans = state_sync_home(home, cfg, _trust_of(args, cfg))
    node = assemble_node(home.root, cfg)
    ban = getattr(node.transport, "ban", None)
    for peer_id, seconds in bans.items():  # a peer banned during the sync stays banned
        if ban is not None:
            ban(peer_id, seconds, "banned during state sync")
    try:
        if node.transport is not None:
            _check_listen(cfg.p2p.host, cfg.p2p.port, "peer (p2p)", "--p2p-port", "[p2p] port")
    except CliError:
        node.close()
        raise
    tune_for_node()

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)

        def ready(url: str) -> None:
            tip = node.app.info()
            print(f"trellis node {node.config.node.moniker} on chain {node.params.chain_id}", flush=True)
            print(f"  height {tip.height}, state root 0x{tip.state_root.hex()}", flush=True)
            print(f"  API listening on {url}  (OpenAPI: {url}/openapi.json); Ctrl-C stops", flush=True)
            print(f"  console: {url}/console/", flush=True)

        await serve(node, stop, ready)

    import errno

    try:
        asyncio.run(main())
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise
        # Taken between the check above and the bind: still one line, naming both ports.
        raise CliError(
            f"a port is already in use ({exc.strerror}): API {cfg.api.port} (--api-port), "
            f"peers {cfg.p2p.port} (--p2p-port)"
        ) from None
    finally:
        node.close()
    print("node stopped cleanly", flush=True)
    return 0


def cmd_keys_new(args: argparse.Namespace) -> int:
    info = _keystore(args).create(args.name, _passphrase(args))
    _out(
        args,
        {
            "name": info.name,
            "address": "0x" + info.address.hex(),
            "public_key": "0x" + info.public_key.hex(),
            "encrypted": info.encrypted,
        },
        f"created key {info.name}\n  address    0x{info.address.hex()}\n  public key 0x{info.public_key.hex()}\n"
        f"  encrypted  {'yes' if info.encrypted else 'no (use --passphrase-file to encrypt)'}",
    )
    return 0


def _key_dict(info: Any) -> dict[str, Any]:
    return {
        "name": info.name,
        "address": "0x" + info.address.hex(),
        "public_key": "0x" + info.public_key.hex(),
        "encrypted": info.encrypted,
    }


def cmd_keys_list(args: argparse.Namespace) -> int:
    infos = _keystore(args).list()
    _out(
        args,
        [_key_dict(i) for i in infos],
        "\n".join(f"{i.name:<16} 0x{i.address.hex()}{'  (encrypted)' if i.encrypted else ''}" for i in infos)
        or "no keys",
    )
    return 0


def cmd_keys_show(args: argparse.Namespace) -> int:
    info = _keystore(args).info(args.name)
    d = _key_dict(info)
    _out(args, d, "\n".join(f"{k:<11} {v}" for k, v in d.items()))
    return 0


def _payload(args: argparse.Namespace) -> Payload:
    kind = args.kind
    if kind in ("transfer", "mint"):
        if args.to is None or args.amount is None:
            raise CliError(f"{kind} needs --to and --amount")
        if args.amount <= 0:
            raise CliError("--amount must be a positive integer")
        to = _address_arg(args, args.to)
        return Transfer(to=to, amount=args.amount) if kind == "transfer" else Mint(to=to, amount=args.amount)
    if args.namespace is None or args.key is None:
        raise CliError(f"{kind} needs --namespace and --key")
    if kind == "kv-put":
        if args.value is None and args.value_file is None:
            raise CliError("kv-put needs --value or --value-file")
        try:
            value = Path(args.value_file).read_bytes() if args.value_file else args.value.encode()
        except OSError as exc:
            raise CliError(f"cannot read value file {args.value_file}: {exc.strerror}") from None
        return KvPut(namespace=args.namespace, key=args.key.encode(), value=value)
    return KvDelete(namespace=args.namespace, key=args.key.encode())


def sign_and_submit(args: argparse.Namespace, payload: Payload) -> dict[str, Any]:
    """Sign ``payload`` with the key ``args.sender``, submit it and (unless ``--no-wait``) wait for its commit."""
    client = _client(args)
    signer = _keystore(args).signer(args.sender, _passphrase(args))
    status = client.get("/v1/status")
    from trellis.core.crypto.suite import ED25519, UnknownSuite, address_of, suite_by_name

    try:
        # A node that predates the status field runs an ed25519 chain.
        suite = suite_by_name(str(status.get("suite", ED25519.name)))
    except UnknownSuite as exc:
        raise CliError(f"the node's chain uses a crypto suite this client does not know: {exc}") from None
    if signer.suite.name != suite.name:
        raise CliError(f"key {args.sender!r} is a {signer.suite.name} key; this chain uses the {suite.name} suite")
    addr = address_of(suite, signer.public_key)
    nonce = args.nonce if args.nonce is not None else client.get(f"/v1/accounts/0x{addr.hex()}")["next_nonce"]
    body = TxBody(
        chain_id=status["chain_id"], sender=signer.public_key, nonce=nonce, payload=payload, memo=args.memo or ""
    )
    try:
        raw = encode(sign_tx(body, signer.sign))  # signing encodes the body: both can overflow
    except OverflowError as exc:
        raise CliError(f"a number is out of range: {exc}") from None
    res: dict[str, Any] = client.submit(raw, wait=not args.no_wait, timeout=args.timeout)
    return res


def submit_and_report(args: argparse.Namespace, payload: Payload, what: str) -> int:
    """Sign and submit ``payload``; print the outcome as ``what: ...`` (with the receipt's events); exit 1 if it failed.

    A transaction not (yet) committed (``--no-wait``, or the wait timed out) prints its status and exits 0.
    """
    res = sign_and_submit(args, payload)
    if res["status"] != "committed":
        _out(args, res, f"{what}: tx {res['hash']} {res['status']}")
        return 0
    r = res["receipt"]
    ok = r["code"] == 0
    events = " ".join(
        e["type"] + "(" + " ".join(f"{k}={v}" for k, v in e["attributes"].items()) + ")" for e in r["events"]
    )
    _out(
        args,
        res,
        f"{what}: tx {res['hash']} at height {res['height']}: "
        + ("ok" if ok else f"FAILED code {r['code']}: {r['message']}")
        + (f"\n  {events}" if events else ""),
    )
    return 0 if ok else 1


def add_submit_options(s: argparse.ArgumentParser) -> None:
    """The options every transaction-sending command takes."""
    s.add_argument("--from", dest="sender", required=True, help="name of the signing key")
    s.add_argument("--memo", help="memo text")
    s.add_argument("--nonce", type=int, help="override the nonce (default: the account's next nonce)")
    s.add_argument("--no-wait", action="store_true", help="return once accepted, without waiting for the commit")
    s.add_argument("--timeout", type=int, default=15, help="seconds to wait for the commit")
    s.add_argument("--passphrase-file", help="passphrase of an encrypted key")


def cmd_tx_send(args: argparse.Namespace) -> int:
    res = sign_and_submit(args, _payload(args))
    if res["status"] == "committed":
        r = res["receipt"]
        ok = r["code"] == 0
        text = f"tx {res['hash']}\n  committed at height {res['height']} (index {res['index']})\n  result: " + (
            "ok" if ok else f"FAILED code {r['code']}: {r['message']}"
        )
        _out(args, res, text)
        return 0 if ok else 1
    _out(args, res, f"tx {res['hash']}\n  {res['status']} (see: trellis tx status {res['hash']})")
    return 0


def _tx_text(res: dict[str, Any]) -> str:
    lines = [f"tx {res['hash']}", f"  status  {res['status']}"]
    if res["status"] == "committed":
        r = res["receipt"]
        lines.append(f"  height  {res['height']} (index {res['index']})")
        lines.append("  result  " + ("ok" if r["code"] == 0 else f"FAILED code {r['code']}: {r['message']}"))
        p = res["tx"]["body"]["payload"]
        lines.append("  payload " + ", ".join(f"{k}={v}" for k, v in p.items()))
        for e in r["events"]:
            lines.append(f"  event   {e['type']} " + " ".join(f"{k}={v}" for k, v in e["attributes"].items()))
    return "\n".join(lines)


def cmd_tx_status(args: argparse.Namespace) -> int:
    res = _client(args).get(f"/v1/txs/{_seg(args.hash)}" + (f"?wait={args.wait}" if args.wait else ""))
    _out(args, res, _tx_text(res))
    return 0


def cmd_query_block(args: argparse.Namespace) -> int:
    res = _client(args).get(f"/v1/blocks/{_seg(args.ref)}")
    h = res["header"]
    text = [
        f"block {h['height']}  id {res['block_id']}",
        f"  time          {_fmt_time(h['time_ms'])}",
        f"  parent        {h['parent_hash']}",
        f"  txs           {h['tx_count']}  (root {h['tx_root']})",
        f"  results root  {h['results_root']}",
        f"  state root    {h['state_root']}",
        f"  proposer      {h['proposer']}",
        f"  commit        {len(res['commit']['signatures']) if res['commit'] else 0} signature(s)",
    ]
    text += [f"  tx {t['hash']}" for t in res["txs"]]
    status = 0
    if args.verify:
        ok, why = _verify_block_finality(args, res)
        res["finality_verified"] = ok
        text.append(f"  finality      {'verified' if ok else 'NOT VERIFIED: ' + why}")
        status = 0 if ok else 1
    _out(args, res, "\n".join(text))
    return status


class ProofFailure(Exception):
    """A proof or commit certificate that does not verify; ``check`` names what failed (``genesis``,
    ``validator_changes``, ``commit_certificate``, ``state_proof``, ``resolution``), ``message`` says why."""

    def __init__(self, check: str, message: str) -> None:
        super().__init__(f"{check}: {message}")
        self.check = check
        self.message = message


def trusted_genesis(args: argparse.Namespace) -> ChainParams:
    """The chain parameters proofs are verified against: ``--genesis FILE`` if given, else the home's
    ``genesis.json``. Never anything the node serves.

    Raises:
        ProofFailure: ``genesis``: no genesis given and none in the home, or the file is unusable.
    """
    from trellis.core.params import load_genesis
    from trellis.node.home import Home

    given = getattr(args, "genesis", None)
    path = Path(given) if given else Home(_home(args)).genesis
    try:
        data = path.read_bytes()
    except OSError as exc:
        hint = "" if given else " (give the chain's genesis.json with --genesis FILE, or --home of a node)"
        raise ProofFailure("genesis", f"cannot read {path}: {exc.strerror or exc}{hint}") from None
    try:
        return load_genesis(data)
    except TrellisError as exc:
        raise ProofFailure("genesis", f"{path} is not a usable genesis file: {exc}") from None


def fetch_set_changes(client: NodeClient, to_height: int) -> list[Any]:
    """Fetch ``GET /v1/validators/changes?to_height=H``: the validator-set changes (light-client.md 6) a header of
    ``to_height`` is verified through, decoded (canonical encodings only). Nothing in them is trusted yet:
    ``verify_from_genesis`` checks each against the set before it.

    Raises:
        ProofFailure: ``validator_changes``: the node did not answer, or an answer that does not decode.
    """
    from trellis.core.lightclient import LightClientError, set_change_from_bytes

    try:
        res = client.get(f"/v1/validators/changes?to_height={to_height}")
    except ClientError as exc:
        raise ProofFailure(
            "validator_changes", f"cannot fetch the validator-set changes up to {to_height}: {exc.message}"
        ) from None
    try:
        entries = res["changes"]
        if not isinstance(entries, list):
            raise TypeError("changes is not a list")
        return [
            set_change_from_bytes(unhex(c["header"]), unhex(c["commit"]), unhex(c["next_validators"])) for c in entries
        ]
    except LightClientError as exc:
        raise ProofFailure("validator_changes", exc.reason) from None
    except (KeyError, TypeError, ValueError, DecodeError) as exc:
        raise ProofFailure("validator_changes", f"malformed set changes: {exc}") from None


def _check_commit(params: ChainParams, header: Any, commit_json: Any, changes: list[Any]) -> None:
    """Verify a commit certificate (JSON form) for ``header`` from the trusted genesis, through the set
    ``changes`` (``verify_from_genesis``: each set proven by more than 2/3 of the one before, no clock), the
    check the notary receipt verifier makes.

    Raises:
        ProofFailure: ``validator_changes`` (the changes do not hold) or ``commit_certificate``.
    """
    from trellis.api.types import CommitJson, commit_from_json
    from trellis.core.lightclient import LightClientError, verify_from_genesis

    if commit_json is None:
        raise ProofFailure("commit_certificate", f"the node returned no commit certificate for block {header.height}")
    try:
        commit = commit_from_json(msgspec.convert(commit_json, CommitJson))
    except (TrellisError, msgspec.ValidationError) as exc:
        raise ProofFailure("commit_certificate", str(exc)) from None
    try:
        verify_from_genesis(params, header, commit, changes)
    except LightClientError as exc:
        check = "validator_changes" if exc.code == "validator_changes" else "commit_certificate"
        raise ProofFailure(check, str(exc)) from None


def verify_header_final(client: NodeClient, params: ChainParams, header: Any) -> None:
    """Check that ``header`` is final on the chain of ``params``: fetch block ``header.height``'s commit
    certificate and the validator-set changes up to that height, and verify the certificate from the genesis
    set through those changes. What the node says is trusted only through them.

    Raises:
        ProofFailure: ``validator_changes`` or ``commit_certificate``: no certificate, or one that does not
        prove this header.
    """
    try:
        block = client.get(f"/v1/blocks/{header.height}")
    except ClientError as exc:
        raise ProofFailure("commit_certificate", f"cannot fetch block {header.height}: {exc.message}") from None
    changes = fetch_set_changes(client, header.height)
    _check_commit(params, header, block.get("commit") if isinstance(block, dict) else None, changes)


def _verify_block_finality(args: argparse.Namespace, res: dict[str, Any]) -> tuple[bool, str]:
    """Check the block's commit certificate offline, from the trusted genesis through the validator-set
    changes the node serves (each one checked)."""
    from trellis.api.types import HeaderJson

    try:
        params = trusted_genesis(args)
        try:
            header = header_from_json(msgspec.convert(res["header"], HeaderJson))
        except (TrellisError, msgspec.ValidationError) as exc:
            raise ProofFailure("commit_certificate", f"malformed header: {exc}") from None
        _check_commit(params, header, res["commit"], fetch_set_changes(_client(args), header.height))
    except ProofFailure as exc:
        return False, str(exc)
    return True, ""


def cmd_query_evidence(args: argparse.Namespace) -> int:
    res = _client(args).get("/v1/evidence")
    text = [f"{len(res['evidence'])} recorded equivocation(s)"]
    text += [
        f"  {e['kind']:<19} validator {e['offender']} at height {e['height']} round {e['round']}"
        f" (recorded in block {e['recorded_at']})"
        for e in res["evidence"]
    ]
    _out(args, res, "\n".join(text))
    return 0


def cmd_query_tx(args: argparse.Namespace) -> int:
    return cmd_tx_status(argparse.Namespace(**{**vars(args), "wait": 0}))


def cmd_query_account(args: argparse.Namespace) -> int:
    client = _client(args)
    addr = "0x" + _address_arg(args, args.address).hex()
    acct = client.get(f"/v1/accounts/{addr}")
    history: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = client.get(f"/v1/accounts/{addr}/txs?limit=1000" + (f"&after={cursor}" if cursor else ""))
        history.extend(page["txs"])
        cursor = page["next"]
        if not cursor:
            break
    data = {**acct, "history": history}
    text = [
        f"account {addr}",
        f"  balance  {acct['balance']}",
        f"  nonce    {acct['nonce']}",
        f"  history  {len(history)} transaction(s)",
    ]
    text += [
        f"    {t['height']:>8}:{t['index']:<5} {t['hash']}  {'ok' if t['code'] == 0 else 'failed ' + str(t['code'])}"
        for t in history
    ]
    _out(args, data, "\n".join(text))
    return 0


def _genesis_suite(args: argparse.Namespace) -> Any:
    from trellis.core.crypto.suite import ED25519

    try:
        from trellis.node.home import Home

        params: ChainParams = Home(_home(args)).load_params()
        return params.suite
    except TrellisError:
        return ED25519


def cmd_query_state(args: argparse.Namespace) -> int:
    key = _state_key(args, args.key)
    q = []
    if args.prove:
        q.append("prove=true")
    if args.height is not None:
        q.append(f"height={args.height}")
    res = _client(args).get(f"/v1/state/0x{key.hex()}" + ("?" + "&".join(q) if q else ""))
    text = [
        f"key    {res['key']}",
        f"height {res['height']}",
        f"value  {res['value'] if res['value'] is not None else '(absent)'}",
    ]
    if args.prove:
        try:
            verified = _verify_state_answer(args, key, res)
        except ProofFailure as exc:
            res["verified"] = False
            res["failed_check"] = exc.check
            _out(args, res, "\n".join([*text, f"proof  INVALID: {exc}"]))
            return 1
        res["verified"] = True
        text.append(
            f"proof  verified: {'inclusion' if verified else 'non-inclusion'} against state root "
            f"{res['header']['state_root']} of block {res['header']['height']}, final under its commit "
            "certificate, verified from the genesis validators through every validator-set change"
        )
    _out(args, res, "\n".join(text))
    return 0


def _verify_state_answer(args: argparse.Namespace, key: bytes, res: dict[str, Any]) -> bool:
    """Verify a ``/v1/state`` answer: the proof leads to the state root of the header, and the header is final
    under its commit certificate, verified from the trusted genesis through the validator-set changes
    (``verify_header_final``). Returns whether the key is present.

    Raises:
        ProofFailure: naming the check that failed.
    """
    params = trusted_genesis(args)
    try:
        parsed = msgspec.convert(res, StateValueJson)
        if parsed.proof is None or parsed.header is None:
            raise ProofFailure("state_proof", "the node sent no proof or header")
        value = None if parsed.value is None else unhex(parsed.value)
        header = header_from_json(parsed.header)
        proof = proof_from_json(parsed.proof)
    except (msgspec.ValidationError, DecodeError) as exc:
        raise ProofFailure("state_proof", f"malformed proof answer: {exc}") from None
    if unhex(parsed.key) != key:
        raise ProofFailure("state_proof", f"the answer is for key {parsed.key}, not 0x{key.hex()}")
    try:
        verify_state_proof(params.suite, key, value, proof, header)
    except (ProofError, DecodeError) as exc:
        raise ProofFailure("state_proof", str(exc)) from None
    verify_header_final(_client(args), params, header)
    return value is not None


def cmd_query_kv(args: argparse.Namespace) -> int:
    res = _client(args).get(f"/v1/kv/{_seg(args.namespace)}/{_seg(args.key)}")
    value = res["value"]
    shown = "(absent)"
    if value is not None:
        raw = unhex(value)
        try:
            shown = raw.decode()
        except UnicodeDecodeError:
            shown = value
    _out(args, res, f"{args.namespace}/{args.key}\n  owner {res['owner']}\n  value {shown}")
    return 0


def cmd_net_init(args: argparse.Namespace) -> int:
    from trellis.node.network import init_network

    nodes = init_network(
        _root(args),
        args.validators,
        chain_id=args.chain_id,
        api_port=args.api_port,
        p2p_port=args.p2p_port,
        suite=args.suite,
        permissioned=args.permissioned,
        observers=args.observers,
    )
    _out(
        args,
        {
            "dir": str(_root(args)),
            "nodes": [{"name": n.name, "home": str(n.home), "api": n.api_url, "role": n.role} for n in nodes],
        },
        f"initialised a {args.validators}-validator network"
        + (f" with {args.observers} observer{'s' if args.observers != 1 else ''}" if args.observers else "")
        + f" in {_root(args)}\n"
        + "\n".join(f"  {n.name}  home {n.home}  API {n.api_url}" + _role_note(n.role) for n in nodes),
    )
    return 0


def _role_note(role: str) -> str:
    """`` (observer)`` after an observer's line in ``net init`` / ``net up`` output; nothing for a validator."""
    return "" if role == "validator" else f"  ({role})"


def init_network_from_args(args: argparse.Namespace, root: Path) -> None:
    """``init_network`` of ``net up``'s options (validators, chain id, ports, suite, permissioned, observers)."""
    from trellis.node.network import init_network

    init_network(
        root,
        args.validators,
        chain_id=args.chain_id,
        api_port=args.api_port,
        p2p_port=args.p2p_port,
        suite=args.suite,
        permissioned=args.permissioned,
        observers=args.observers,
    )


def cmd_net_up(args: argparse.Namespace) -> int:
    import subprocess
    import threading

    from trellis.node.network import (
        is_network_dir,
        load_network,
        running_pid,
        start_node,
        stop_started,
        wait_ready,
    )

    root = _root(args)
    from trellis.cli import hubnet, netnsnet

    if netnsnet.wants_netns(args, root):
        return netnsnet.cmd_net_up_netns(args)
    if args.hub or hubnet.is_hub_dir(root):
        return hubnet.cmd_net_up_hub(args)
    if args.chains != 1 or _is_multichain(root):
        if args.observers:
            raise CliError("--observers works with a single chain (not with --chains or --hub)")
        return _net_up_chains(args)
    if not is_network_dir(root):
        init_network_from_args(args, root)
        with_observers = (
            f" with {args.observers} observer{'s' if args.observers != 1 else ''}" if args.observers else ""
        )
        print(f"initialised a {args.validators}-validator {args.suite} network{with_observers} in {root}", flush=True)
    elif args.observers:
        raise CliError(
            f"{root} already holds a network: --observers applies when it is created "
            "(add one to it with: trellis net add-node --org orgI --observer)"
        )
    nodes = load_network(root)
    procs: dict[str, subprocess.Popen[bytes]] = {}
    for node in nodes:
        if running_pid(node) is not None:
            print(f"{node.name} is already running", flush=True)
            continue
        procs[node.name] = start_node(node, foreground_output=args.foreground)

    def relay(name: str, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        log_path = next(n.home for n in nodes if n.name == name) / "node.log"
        with open(log_path, "ab") as log:
            for line in proc.stdout:
                log.write(line)
                log.flush()
                sys.stdout.write(f"[{name}] {line.decode(errors='replace')}")
                sys.stdout.flush()

    if args.foreground:
        for name, proc in procs.items():
            threading.Thread(target=relay, args=(name, proc), daemon=True).start()
    started = [n for n in nodes if n.name in procs]

    def stop_ours() -> None:
        # Only the processes this invocation started: a node that was already running was started by
        # someone else, who will stop it.
        for n in started:
            stop_started(n, procs[n.name])

    try:
        wait_ready(nodes, procs)
    except TrellisError:
        stop_ours()
        raise
    _out(
        args,
        {"dir": str(root), "nodes": [{"name": n.name, "api": n.api_url, "role": n.role} for n in nodes]},
        _up_line(nodes)
        + "\n".join(f"  {n.name}  API {n.api_url}" + _role_note(n.role) for n in nodes)
        + ("\nCtrl-C stops it" if args.foreground else f"\nstop it with: trellis net down --home {root}"),
    )
    if not args.foreground:
        return 0
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    while not stop.is_set() and all(p.poll() is None for p in procs.values()):
        stop.wait(0.5)
    print("stopping the nodes started here...", flush=True)
    stop_ours()
    print("stopped " + (", ".join(n.name for n in started) or "nothing"), flush=True)
    return 0


def _up_line(nodes: list[Any]) -> str:
    """The first line ``net up`` prints: how many validators (and observers) are up."""
    n_obs = sum(1 for n in nodes if n.role == "observer")
    n_val = len(nodes) - n_obs
    text = f"network of {n_val} validator{'s' if n_val != 1 else ''}"
    if n_obs:
        text += f" and {n_obs} observer{'s' if n_obs != 1 else ''}"
    return text + " is up\n"


def _is_multichain(root: Path) -> bool:
    from trellis.node.multichain import is_multichain_dir

    return is_multichain_dir(root)


def _net_up_chains(args: argparse.Namespace) -> int:
    """``net up --chains N`` (ADR 0015 section 10): node/multichain.py, joined by the relayer's handshake."""
    from trellis.node import multichain

    def connect(layout: multichain.Layout, a: multichain.Chain, b: multichain.Chain) -> multichain.ChainPath:
        from trellis.bench.interchain import connect_chains
        from trellis.keys.signer import KeyStoreError
        from trellis.relayer.endpoint import EndpointError
        from trellis.relayer.handshake import HandshakeError

        try:
            return connect_chains(layout, a, b)
        except (HandshakeError, KeyStoreError, EndpointError) as exc:
            raise CliError(f"joining {a.chain_id} and {b.chain_id} failed: {exc}") from None
        except TimeoutError:
            raise CliError(
                f"joining {a.chain_id} and {b.chain_id} failed: the handshake did not finish in time "
                "(are both chains making blocks? see their node logs)"
            ) from None

    if not 1 <= args.chains <= multichain.MAX_CHAINS:
        raise CliError(f"--chains must be between 1 and {multichain.MAX_CHAINS}")
    up = multichain.up_chains(
        _root(args),
        chains=args.chains,
        validators=args.validators,
        connect=connect,
        base_chain_id=args.chain_id,
        api_port=None if args.free_ports else args.api_port,
        p2p_port=None if args.free_ports else args.p2p_port,
        suite=args.suite,
        permissioned=args.permissioned,
    )
    summary = multichain.layout_summary(up.layout)
    if up.relayer_error is not None:
        print(f"warning: {up.relayer_error}", file=sys.stderr, flush=True)
    _out(
        args,
        summary,
        f"{len(up.layout.chains)} chains are up in {up.layout.root}\n"
        + "\n".join(
            f"  {c['chain_id']}  API {' '.join(c['apis'])}\n    console {' '.join(a + '/console/' for a in c['apis'])}"
            for c in summary["chains"]
        )
        + "".join(f"\n  path {p.a} {p.a_channel} <-> {p.b} {p.b_channel}" for p in up.layout.paths)
        + f"\n  relayer: {summary['relayer_config']} (log {up.layout.root / 'relayer' / 'relayer.log'})"
        + f"\n  relayer status: trellis relayer status --config {summary['relayer_config']}"
        + ("\nCtrl-C stops it" if args.foreground else f"\nstop it with: trellis net down --home {up.layout.root}"),
    )
    if not args.foreground:
        return 0
    return hold_foreground(up)


def hold_foreground(up: Any) -> int:
    """``net up --foreground``: wait until Ctrl-C / SIGTERM or until a started process exits, then stop what this
    ``up`` started (``multichain.stop_up``)."""
    import threading

    from trellis.node import multichain

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    while not stop.is_set() and all(p.poll() is None for p in up.procs.values()):
        stop.wait(0.5)
    print("stopping what was started here...", flush=True)
    print("stopped " + (", ".join(multichain.stop_up(up)) or "nothing"), flush=True)
    return 0


def cmd_net_down(args: argparse.Namespace) -> int:
    from trellis.node.network import load_network, stop_node

    if _is_multichain(_root(args)):
        from trellis.node.multichain import load_layout, stop_chains

        stopped = stop_chains(load_layout(_root(args)))
        _out(args, {"stopped": stopped}, f"stopped {', '.join(stopped)}" if stopped else "nothing was running")
        return 0
    nodes = load_network(_root(args))
    stopped = [n.name for n in nodes if stop_node(n)]
    _out(args, {"stopped": stopped}, f"stopped {', '.join(stopped)}" if stopped else "no node was running")
    return 0


BENCH_DEFAULT_RATES = "1000,2000,4000,8000"
BENCH_DEFAULT_DURATION = 4.0


def cmd_bench(args: argparse.Namespace) -> int:
    from trellis.bench.runner import BenchConfig, run_suite, summary

    def rates(text: str) -> list[int]:
        try:
            out = [int(x) for x in text.split(",") if x.strip()]
        except ValueError:
            raise CliError(f"--rates must be comma-separated integers, not {text!r}") from None
        if not out or min(out) <= 0:
            raise CliError("--rates needs at least one positive rate")
        return out

    if args.workload == "hub" and not args.targets:
        return _bench_hub(args)
    if args.workload == "custody" and not args.targets:
        return _bench_custody(args)
    if args.workload == "observers" and not args.targets:
        return _bench_observers(args)
    if args.workload == "statesync" and not args.targets:
        return _bench_statesync(args)
    if args.targets:
        configs = [
            BenchConfig(
                validators=1,
                workload="transfer",
                rates=[1000, 2000, 4000, 8000, 16000, 24000, 32000],
                label="1v transfer",
            ),
            BenchConfig(
                validators=1,
                rates=[],
                label="1v full mempool",
                flood_txs=240_000,
                mempool_max_txs=200_000,
                block_interval_ms=60_000,
            ),
            # Target 6 (throughput by verifier processes) at rates that saturate a node.
            BenchConfig(validators=1, rates=[16000, 24000], verifier_workers=1, label="1v transfer, 1 verifier proc"),
            BenchConfig(validators=1, rates=[16000, 24000], verifier_workers=0, label="1v transfer, in-process verify"),
            BenchConfig(
                validators=1,
                workload="transfer",
                rates=[2000, 4000, 8000, 16000, 32000, 64000, 128000],
                skip_signatures=True,
                label="1v transfer NO-SIG (bench only)",
            ),
            BenchConfig(validators=4, workload="transfer", rates=[500, 1000, 2000, 4000, 8000], label="4v transfer"),
            BenchConfig(validators=1, workload="contract", rates=[500, 1000, 2000, 4000], label="1v contract (token)"),
        ]
    else:
        if args.validators < 1 or args.validators > 16:
            raise CliError("--validators must be between 1 and 16")
        configs = [
            BenchConfig(
                validators=args.validators,
                workload=args.workload,
                rates=rates(args.rates),
                duration_s=args.duration,
                skip_signatures=args.no_signature_checks,
                accounts=args.accounts,
                verifier_workers=args.verifier_workers,
                suite=args.suite,
            )
        ]
    if args.targets and args.suite != "ed25519":
        configs = [dataclasses.replace(c, suite=args.suite) for c in configs]
    report = run_suite(
        configs, Path(args.out), with_plot=not args.no_plot, ceiling_s=args.ceiling_seconds, suite=args.suite
    )
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(summary(report))
    return 0


def _bench_hub(args: argparse.Namespace) -> int:
    """``trellis bench --workload hub --chains N[,N...]`` (ADR 0016 section 3; ``trellis/bench/hub.py``)."""
    from trellis.bench.hub import HubBenchConfig, run_hub_suite, summary

    try:
        chains = [int(x) for x in args.chains.split(",") if x.strip()]
    except ValueError:
        raise CliError(f"--chains must be comma-separated integers, not {args.chains!r}") from None
    if not chains or min(chains) < 2 or max(chains) > 100_000:
        raise CliError("--chains needs chain counts between 2 and 100000")
    try:
        hub_rates = [1000.0, 3000.0] if args.rates == BENCH_DEFAULT_RATES else [float(x) for x in args.rates.split(",")]
    except ValueError:
        raise CliError(f"--rates must be comma-separated numbers, not {args.rates!r}") from None
    if not 1 <= len(hub_rates) <= 2 or min(hub_rates) <= 0:
        raise CliError("--rates with --workload hub: the steady update_client rate, and optionally a saturating one")
    configs = [
        HubBenchConfig(
            chains=n,
            update_rate=hub_rates[0],
            saturation_rate=hub_rates[1] if len(hub_rates) == 2 else 0.0,
            duration_s=args.duration if args.duration != BENCH_DEFAULT_DURATION else (120.0 if n >= 1000 else 30.0),
            packet_chains=args.packet_chains,
        )
        for n in chains
    ]
    report = run_hub_suite(configs, Path(args.out), with_plot=not args.no_plot, label=args.label)
    print(json.dumps(report, indent=2) if args.json else summary(report))
    return 0


def _bench_observers(args: argparse.Namespace) -> int:
    """``trellis bench --workload observers`` (ADR 0018 section 4; ``trellis/bench/observers.py``): validators under a
    steady transfer load, observers under a read load; commit rate and confirmation p50/p99 with and without it."""
    from trellis.bench.observers import ObserversBenchConfig, run_observers_bench, summary

    validators = 4 if args.validators == 1 else args.validators  # the option's default (1) means the workload's (4)
    if not 1 <= validators <= 16:
        raise CliError("--validators must be between 1 and 16")
    if not 1 <= args.observers <= 48:
        raise CliError("--observers must be between 1 and 48")
    if not 1 <= args.readers <= 64:
        raise CliError("--readers must be between 1 and 64")
    try:
        rates = [1000.0] if args.rates == BENCH_DEFAULT_RATES else [float(x) for x in args.rates.split(",")]
    except ValueError:
        raise CliError(f"--rates must be a number, not {args.rates!r}") from None
    if len(rates) != 1 or not 0 < rates[0] <= 100_000:
        raise CliError("--rates with --workload observers: one steady transfer rate, tx/s (default 1000)")
    duration = 30.0 if args.duration == BENCH_DEFAULT_DURATION else args.duration
    if not 0.5 <= duration <= 3600:
        raise CliError("--duration must be between 0.5 and 3600 seconds")
    cfg = ObserversBenchConfig(
        validators=validators,
        observers=args.observers,
        rate=rates[0],
        duration_s=duration,
        readers=args.readers,
        accounts=args.accounts,
        verifier_workers=2 if args.verifier_workers == -1 else args.verifier_workers,
    )
    report = run_observers_bench(cfg, Path(args.out), label=args.label)
    print(json.dumps(report, indent=2) if args.json else summary(report))
    return 0


def _bench_custody(args: argparse.Namespace) -> int:
    """``trellis bench --workload custody`` (ADR 0018 section 7; ``trellis/bench/custody.py``, whose
    ``python -m trellis.bench.custody`` takes the custody knobs): registration, challenge rounds and responses."""
    from trellis.bench.custody import CustodyBenchConfig, run_custody_bench, summary, write_report

    report = run_custody_bench(CustodyBenchConfig())
    report["label"] = getattr(args, "label", "")
    path = write_report(report, Path(args.out))
    print(json.dumps(report, indent=2) if args.json else summary(report) + f"\n  report: {path}")
    return 0


def _bench_statesync(args: argparse.Namespace) -> int:
    """``trellis bench --workload statesync`` (ADR 0018 section 2; ``trellis/bench/statesync.py``, whose
    ``python -m trellis.bench.statesync --accounts N`` takes the knobs): a state of 1,000,000 accounts snapshotted,
    verified and restored into a fresh data directory, against the estimated replay of its blocks."""
    from trellis.bench.statesync import StateSyncBenchConfig, run_statesync_bench, summary, write_report

    report = run_statesync_bench(StateSyncBenchConfig())
    report["label"] = getattr(args, "label", "")
    path = write_report(report, Path(args.out))
    print(json.dumps(report, indent=2) if args.json else summary(report) + f"\n  report: {path}")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    res = _client(args).get("/v1/status")
    _out(args, res, "\n".join(f"{k:<18} {v}" for k, v in res.items()))
    return 0


# -- parser --------------------------------------------------------------------------------------------------
def _add_global_options(p: argparse.ArgumentParser, *, defaults: bool) -> None:
    """``--home``, ``--node`` and ``--json`` on ``p``. Only the top-level parser sets their defaults
    (``defaults=True``): a subcommand's parser leaves an option it was not given out of the namespace
    (``SUPPRESS``), so ``trellis --home X status`` keeps the X given before the subcommand instead of having
    the subcommand's default overwrite it."""
    kw: dict[str, Any] = {} if defaults else {"default": argparse.SUPPRESS}
    p.add_argument("--home", help="home directory (default: $TRELLIS_HOME or ./.trellis)", **kw)
    p.add_argument("--node", help="node API URL (default: from the home's config.toml)", **kw)
    p.add_argument("--json", action="store_true", help="print JSON", **kw)


def _spread_global_options(p: argparse.ArgumentParser) -> None:
    """Give every parser below ``p`` that lacks them the global options, so that they are honoured wherever
    they stand on the command line (``trellis vc --home X issue ...``)."""
    for action in p._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                if "--home" not in child._option_string_actions:
                    _add_global_options(child, defaults=False)
                _spread_global_options(child)


def build_parser() -> argparse.ArgumentParser:
    """The ``trellis`` argument parser (every subcommand, global options accepted at any level)."""
    common = argparse.ArgumentParser(add_help=False)
    _add_global_options(common, defaults=False)

    p = argparse.ArgumentParser(prog="trellis", description="Trellis permissioned blockchain")
    _add_global_options(p, defaults=True)
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("init", parents=[common], help="create a development network in --home")
    s.add_argument("--chain-id", default="trellis-dev")
    s.add_argument("--api-port", type=int, default=8680)
    s.add_argument("--suite", choices=SUITE_NAMES, default="ed25519", help="crypto suite of the chain")
    s.add_argument("--permissioned", action="store_true", help="every sender needs a registered certificate")
    s.set_defaults(func=cmd_init, creates_home=True)

    node = sub.add_parser("node", help="run a node").add_subparsers(dest="node_cmd", required=True)
    s = node.add_parser("start", parents=[common], help="start the node in --home and its API")
    s.add_argument(
        "--log-level", choices=["debug", "info", "warning", "error"], help="(default: [log] level in config.toml)"
    )
    s.add_argument("--api-port", type=_port, help="API port (default: [api] port in config.toml)")
    s.add_argument("--p2p-port", type=_port, help="peer port (default: [p2p] port in config.toml)")
    s.add_argument(
        "--state-sync",
        action="store_true",
        help="join from a peer's state snapshot (only on an empty data directory; [statesync] enable)",
    )
    s.add_argument("--trust-height", type=int, help="with --state-sync: a height whose block id is known")
    s.add_argument("--trust-hash", help="with --state-sync: the block id (hex) at --trust-height")
    s.set_defaults(func=cmd_node_start)

    keys = sub.add_parser("keys", help="manage keys").add_subparsers(dest="keys_cmd", required=True)
    s = keys.add_parser("new", parents=[common], help="create a key")
    s.add_argument("name")
    s.add_argument("--passphrase-file", help="encrypt the key with the passphrase in this file")
    s.set_defaults(func=cmd_keys_new, creates_home=True)
    s = keys.add_parser("list", parents=[common], help="list keys")
    s.set_defaults(func=cmd_keys_list)
    s = keys.add_parser("show", parents=[common], help="show a key's address and public key")
    s.add_argument("name")
    s.set_defaults(func=cmd_keys_show)
    from trellis.cli import hsm

    hsm.register(keys, common)

    tx = sub.add_parser("tx", help="transactions").add_subparsers(dest="tx_cmd", required=True)
    s = tx.add_parser("send", parents=[common], help="sign and submit a transaction, and wait for its commit")
    s.add_argument("kind", choices=["transfer", "mint", "kv-put", "kv-delete"])
    add_submit_options(s)
    s.add_argument("--to", help="recipient address or key name (transfer, mint)")
    s.add_argument("--amount", type=int, help="amount (transfer, mint)")
    s.add_argument("--namespace", help="kv namespace")
    s.add_argument("--key", help="kv key (UTF-8)")
    s.add_argument("--value", help="kv value (UTF-8)")
    s.add_argument("--value-file", help="kv value read from a file")
    s.set_defaults(func=cmd_tx_send)
    s = tx.add_parser("status", parents=[common], help="status and receipt of a transaction")
    s.add_argument("hash")
    s.add_argument("--wait", type=int, default=0, help="seconds to wait for the commit")
    s.set_defaults(func=cmd_tx_status)

    q = sub.add_parser("query", help="read the chain").add_subparsers(dest="query_cmd", required=True)
    s = q.add_parser("block", parents=[common], help="a block by height, id or 'latest'")
    s.add_argument("ref")
    s.add_argument("--verify", action="store_true", help="check its commit certificate against the genesis validators")
    s.add_argument("--genesis", help="the chain's genesis.json to verify against (default: the home's)")
    s.set_defaults(func=cmd_query_block)
    s = q.add_parser("tx", parents=[common], help="a transaction by hash")
    s.add_argument("hash")
    s.set_defaults(func=cmd_query_tx)
    s = q.add_parser("account", parents=[common], help="balance, nonce and full transaction history")
    s.add_argument("address", help="address or key name")
    s.set_defaults(func=cmd_query_account)
    s = q.add_parser("state", parents=[common], help="a state value, optionally with a verified proof")
    s.add_argument("key", help="0x-hex raw key, account:ADDR|NAME, or kv:NAMESPACE:KEY")
    s.add_argument(
        "--prove",
        action="store_true",
        help="fetch the Merkle proof and verify it, and the header's commit certificate against the genesis",
    )
    s.add_argument("--genesis", help="the chain's genesis.json to verify against (default: the home's)")
    s.add_argument("--height", type=int, help="height (default: latest)")
    s.set_defaults(func=cmd_query_state)
    s = q.add_parser("evidence", parents=[common], help="equivocations recorded on chain")
    s.set_defaults(func=cmd_query_evidence)
    s = q.add_parser("kv", parents=[common], help="a kv record")
    s.add_argument("namespace")
    s.add_argument("key")
    s.set_defaults(func=cmd_query_kv)

    net = sub.add_parser("net", help="a local network of validators").add_subparsers(dest="net_cmd", required=True)
    for name, func, text in (
        ("init", cmd_net_init, "create a local network in --home"),
        ("up", cmd_net_up, "start the network in --home (creating it if needed)"),
    ):
        s = net.add_parser(name, parents=[common], help=text)
        s.add_argument("--validators", type=int, default=4)
        s.add_argument("--chain-id", default="trellis-dev")
        s.add_argument("--api-port", type=int, default=8680, help="API port of node0 (node i: +i)")
        s.add_argument("--p2p-port", type=int, default=26656, help="peer port of node0 (node i: +i)")
        s.add_argument("--suite", choices=SUITE_NAMES, default="ed25519", help="crypto suite of the chain")
        s.add_argument("--permissioned", action="store_true", help="every sender needs a registered certificate")
        s.add_argument(
            "--observers", type=int, default=0, help="observer nodes beside the validators (non-voting, ADR 0018)"
        )
        if name == "up":
            s.add_argument("--foreground", action="store_true", help="stay attached, show logs; Ctrl-C stops")
            s.add_argument("--chains", type=int, default=1, help="chains joined by a relayer (1..8; chain i: +100i)")
            s.add_argument("--free-ports", action="store_true", help="with --chains: free port ranges per chain")
            from trellis.cli.hubnet import add_up_arguments
            from trellis.cli.netnsnet import add_up_arguments as add_netns_arguments

            add_up_arguments(s)
            add_netns_arguments(s)
        s.set_defaults(func=func, creates_home=True)
    s = net.add_parser("down", parents=[common], help="stop the network in --home")
    s.set_defaults(func=cmd_net_down)

    s = sub.add_parser(
        "bench", parents=[common], help="measure committed TPS and latency on a local network (see bench/README.md)"
    )
    s.add_argument(
        "--targets",
        action="store_true",
        help="run the standard suite (1 and 4 validators, with and without signature checks)",
    )
    s.add_argument("--validators", type=int, default=1)
    s.add_argument(
        "--workload",
        choices=["transfer", "kv", "contract", "notary", "interchain", "hub", "observers", "custody", "statesync"],
        default="transfer",
    )
    s.add_argument(
        "--rates",
        default=BENCH_DEFAULT_RATES,
        help="offered rates, tx/s, comma-separated (hub: the steady update_client rate and a saturating one, "
        "default 1000,3000)",
    )
    s.add_argument(
        "--duration",
        type=float,
        default=BENCH_DEFAULT_DURATION,
        help="seconds of load per rate (hub: of updates; default 30 s, 120 s from 1,000 chains)",
    )
    s.add_argument("--chains", default="10", help="hub: registered sub-chains, comma-separated counts (one hub each)")
    s.add_argument("--packet-chains", type=int, default=10, help="hub: chains connected by a channel that send packets")
    s.add_argument("--label", default="", help="hub, observers: a label for the report (e.g. the machine's load)")
    s.add_argument("--observers", type=int, default=8, help="observers: observer nodes beside the validators")
    s.add_argument("--readers", type=int, default=4, help="observers: concurrent read clients per observer")
    s.add_argument("--accounts", type=int, default=2000, help="sender accounts funded in genesis")
    s.add_argument("--verifier-workers", type=int, default=-1, help="verifier processes per node (-1: one per core)")
    s.add_argument("--no-signature-checks", action="store_true", help="BENCH ONLY: nodes accept signatures unchecked")
    s.add_argument("--out", default="bench/results", help="directory for the JSON report and PNG plot")
    s.add_argument("--no-plot", action="store_true", help="skip the PNG plot")
    s.add_argument("--ceiling-seconds", type=float, default=2.0, help="seconds per verification-ceiling measurement")
    s.add_argument(
        "--suite", choices=SUITE_NAMES, default="ed25519", help="crypto suite of the benchmarked chain and ceiling"
    )
    s.set_defaults(func=cmd_bench)

    from trellis.cli import contract

    contract.register(sub, common)
    from trellis.cli import certs

    certs.register(sub, common)
    from trellis.cli import vc

    vc.register(sub, common)
    from trellis.cli import notary

    notary.register(sub, common)
    from trellis.cli import did

    did.register(sub, common)
    from trellis.cli import blobs

    blobs.register(sub, common)
    from trellis.cli import validators

    validators.register(sub, common, net)
    from trellis.cli import light

    light.register(sub, common)
    from trellis.cli import attestations

    attestations.register(sub, common)
    from trellis.cli import interchain, transfer

    interchain.register(sub, common)
    transfer.register(sub, common)
    from trellis.cli import directory

    directory.register(sub, common)
    from trellis.cli import relayer

    relayer.register(sub, common)
    from trellis.cli import hub

    hub.register(sub, common)
    from trellis.cli import custody

    custody.register(sub, common)

    s = sub.add_parser("status", parents=[common], help="node status")
    s.set_defaults(func=cmd_status)
    _spread_global_options(p)
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        _check_home_exists(args)
        return int(args.func(args))
    except ClientError as exc:
        print(f"error: {exc.code}: {exc.message}", file=sys.stderr)
    except (CliError, TrellisError) as exc:
        print(f"error: {exc}", file=sys.stderr)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 1


if __name__ == "__main__":
    # Run the imported module's main, not this __main__ copy's: the command modules raise trellis.cli.main.CliError,
    # which a copy's except clause would not catch (``python -m trellis.cli.main`` printed tracebacks).
    from trellis.cli.main import main as _main

    sys.exit(_main())
