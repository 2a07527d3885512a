"""``trellis did create|resolve|update|deactivate``: did:trellis DIDs from the command line.

A document is given with options: ``--key NAME`` (a key in the home's key store) or ``--public-key HEX``, each
becoming a ``Multikey`` verification method ``key-1``, ``key-2``, ... used for authentication and assertion;
``--controller DID`` and ``--service ID,TYPE,URL``. ``create`` defaults to the sender's own key. ``update``
replaces the whole document (a key rotation is an update naming the new keys). See docs/spec/did-method.md.

``resolve --proof`` trusts the node only through proofs: each state value is checked against the header, the
header's commit certificate from the genesis validators (``--genesis FILE`` or the home's genesis) through every
validator-set change the node serves (each proven by the set before it, docs/spec/light-client.md 6), and the
result is recomputed from the proven values; a failure exits 1 naming the check.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import quote

from trellis.cli import main as cli
from trellis.core.modules.identity.messages import (
    DidCreate,
    DidDeactivate,
    DidDocument,
    DidService,
    DidUpdate,
    DidVerificationMethod,
)
from trellis.keys.signer import KeyStoreError


def _hex(text: str, what: str) -> bytes:
    try:
        return bytes.fromhex(text.removeprefix("0x"))
    except ValueError:
        raise cli.CliError(f"{what} {text!r} is not hex") from None


def _document(args: argparse.Namespace, default_key: str | None) -> DidDocument:
    keys: list[bytes] = []
    names = list(args.key or [])
    if not names and not args.public_key and default_key is not None:
        names = [default_key]
    store = cli._keystore(args)
    for name in names:
        try:
            keys.append(store.info(name).public_key)
        except KeyStoreError as exc:
            raise cli.CliError(str(exc)) from None
    keys += [_hex(k, "--public-key") for k in args.public_key or []]
    vms = [DidVerificationMethod(id=f"key-{i}", type="Multikey", public_key=k) for i, k in enumerate(keys, 1)]
    services = []
    for i, text in enumerate(args.service or [], 1):
        parts = text.split(",", 2)
        if len(parts) != 3:
            raise cli.CliError(f"--service {text!r}: give ID,TYPE,URL")
        services.append(DidService(id=parts[0] or f"service-{i}", type=parts[1], endpoint=parts[2]))
    ids = [vm.id for vm in vms]
    return DidDocument(
        verification_methods=vms,
        authentication=ids,
        assertion_method=ids,
        services=services,
        controllers=list(args.controller or []),
    )


def _report(args: argparse.Namespace, res: dict[str, Any], did: str | None) -> int:
    if res["status"] != "committed":
        cli._out(args, res, f"tx {res['hash']}\n  {res['status']} (see: trellis tx status {res['hash']})")
        return 0
    r = res["receipt"]
    if r["code"] != 0:
        cli._out(args, res, f"tx {res['hash']}\n  FAILED code {r['code']}: {r['message']}")
        return 1
    if did is not None:
        res["did"] = did
    cli._out(args, res, f"{did or ''}\n  committed at height {res['height']} (tx {res['hash']})".lstrip())
    return 0


def cmd_create(args: argparse.Namespace) -> int:
    did_id = _hex(args.id, "--id") if args.id else None
    if did_id is not None and len(did_id) != 16:
        raise cli.CliError("--id must be 16 bytes (32 hex digits)")
    res = cli.sign_and_submit(args, DidCreate(document=_document(args, args.sender), id=did_id))
    did = None
    if res["status"] == "committed" and res["receipt"]["code"] == 0:
        chain = cli._client(args).get("/v1/status")["chain_id"]
        did = f"did:trellis:{chain}:{res['receipt']['data'].removeprefix('0x')}"
    return _report(args, res, did)


def cmd_update(args: argparse.Namespace) -> int:
    doc = _document(args, None)
    if not doc.verification_methods and not doc.controllers:
        raise cli.CliError("give the new document's keys (--key/--public-key) or controllers (--controller)")
    return _report(args, cli.sign_and_submit(args, DidUpdate(did=args.did, document=doc)), args.did)


def cmd_deactivate(args: argparse.Namespace) -> int:
    return _report(args, cli.sign_and_submit(args, DidDeactivate(did=args.did)), args.did)


def cmd_resolve(args: argparse.Namespace) -> int:
    q = []
    if args.version_id is not None:
        q.append(f"versionId={args.version_id}")
    if args.version_time:
        q.append(f"versionTime={quote(args.version_time, safe='')}")
    if args.proof:
        q.append("proof=true")
    path = f"/1.0/identifiers/{quote(args.did, safe=':')}" + ("?" + "&".join(q) if q else "")
    url = cli._node_url(args).rstrip("/") + path
    try:
        with urllib.request.urlopen(url, timeout=30) as resp:
            res, status = json.loads(resp.read()), resp.status
    except urllib.error.HTTPError as exc:
        # The resolver answers errors (and deactivated DIDs) as resolution results too.
        try:
            res, status = json.loads(exc.read()), exc.code
        except ValueError:
            raise cli.CliError(f"HTTP {exc.code} from {url}") from None
    except (urllib.error.URLError, ConnectionError, TimeoutError, ValueError) as exc:
        raise cli.CliError(f"cannot reach the node at {url}: {getattr(exc, 'reason', exc)}") from None
    print(json.dumps(res, indent=2))
    error = res.get("didResolutionMetadata", {}).get("error") if isinstance(res, dict) else None
    ok = status in (200, 410) and error is None
    if args.proof and ok:
        try:
            height = verify_resolution(args, res)
        except cli.ProofFailure as exc:
            print(f"error: proof INVALID: {exc}", file=sys.stderr)
            return 1
        print(
            f"proof verified: this resolution follows from state proven at block {height}, final under its "
            "commit certificate, verified from the genesis validators through every validator-set change",
            file=sys.stderr,
        )
    return 0 if ok else 1


def verify_resolution(args: argparse.Namespace, res: Any) -> int:
    """Verify a resolution result that carries ``didStateProof``: every proven value against the header's state
    root, the header's commit certificate from the trusted genesis (``--genesis`` or the home's) through the
    validator-set changes (``cli.verify_header_final``), and the result itself, recomputed here from the proven
    values alone (a value the proofs do not cover is refused). Returns the proven height.

    Raises:
        cli.ProofFailure: naming the check that failed (``genesis``, ``state_proof``, ``validator_changes``,
            ``commit_certificate``, ``resolution``).
    """
    import msgspec

    from trellis.api.types import HeaderJson, StateProofJson, header_from_json, proof_from_json, unhex
    from trellis.app.modules.identity import ResolutionError, parse_iso_time, resolution_result, resolve
    from trellis.core.errors import TrellisError
    from trellis.core.execution.context import PointReader
    from trellis.core.ledger.state_tree import verify_state_proof

    params = cli.trusted_genesis(args)
    sp = res.get("didStateProof") if isinstance(res, dict) else None
    if not isinstance(sp, dict):
        raise cli.ProofFailure("state_proof", "the node sent no didStateProof")
    proven: dict[bytes, bytes | None] = {}
    try:
        header = header_from_json(msgspec.convert(sp.get("header"), HeaderJson))
        for entry in sp.get("entries") or []:
            key = unhex(entry["key"])
            value = None if entry["value"] is None else unhex(entry["value"])
            verify_state_proof(
                params.suite, key, value, proof_from_json(msgspec.convert(entry["proof"], StateProofJson)), header
            )
            proven[key] = value
    except (TrellisError, msgspec.ValidationError, KeyError, TypeError) as exc:  # ProofError, DecodeError...
        raise cli.ProofFailure("state_proof", str(exc)) from None
    cli.verify_header_final(cli._client(args), params, header)

    def get(key: bytes) -> bytes | None:
        if key not in proven:
            raise cli.ProofFailure("resolution", f"the resolution reads state key 0x{key.hex()}, which is not proven")
        return proven[key]

    try:
        when = parse_iso_time(args.version_time) if args.version_time else None
        mine = resolution_result(
            params.chain_id, resolve(PointReader(get), params.chain_id, args.did, args.version_id, when)
        )
    except (ResolutionError, ValueError) as exc:
        raise cli.ProofFailure("resolution", f"the proven state does not resolve the DID: {exc}") from None
    served = {k: v for k, v in res.items() if k != "didStateProof"}
    if json.loads(msgspec.json.encode(mine)) != served:
        raise cli.ProofFailure("resolution", "the node's resolution result differs from the one the proven state gives")
    return int(header.height)


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``trellis did ...`` to the CLI's subcommands."""
    d = sub.add_parser("did", help="decentralised identifiers (did:trellis)").add_subparsers(
        dest="did_cmd", required=True
    )

    def document_options(s: argparse.ArgumentParser) -> None:
        s.add_argument("--key", action="append", help="a key-store key to list as a verification method")
        s.add_argument("--public-key", action="append", help="a raw public key (hex) to list")
        s.add_argument("--controller", action="append", help="a controller DID")
        s.add_argument("--service", action="append", help="a service: ID,TYPE,URL")

    s = d.add_parser("create", parents=[common], help="register a DID (prints it)")
    document_options(s)
    s.add_argument("--id", help="a chosen 16-byte id, hex (default: derived from the sender and nonce)")
    cli.add_submit_options(s)
    s.set_defaults(func=cmd_create)

    s = d.add_parser("update", parents=[common], help="replace a DID's document (key rotation)")
    s.add_argument("did")
    document_options(s)
    cli.add_submit_options(s)
    s.set_defaults(func=cmd_update)

    s = d.add_parser("deactivate", parents=[common], help="deactivate a DID for good")
    s.add_argument("did")
    cli.add_submit_options(s)
    s.set_defaults(func=cmd_deactivate)

    s = d.add_parser("resolve", parents=[common], help="resolve a DID (W3C DID Resolution result)")
    s.add_argument("did")
    s.add_argument("--version-id", type=int, help="resolve this version")
    s.add_argument("--version-time", help="resolve the version in force at this ISO 8601 time")
    s.add_argument(
        "--proof",
        action="store_true",
        help="include state proofs and verify them, the header's commit certificate (from the genesis, through "
        "every validator-set change) and the result",
    )
    s.add_argument("--genesis", help="the chain's genesis.json to verify against (default: the home's)")
    s.set_defaults(func=cmd_resolve)


__all__ = ["register"]
