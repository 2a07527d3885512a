"""``trellis notary anchor|verify``: anchor file digests on chain and verify receipts offline.

``anchor`` hashes each file locally with the chain suite's hash (the files never leave the machine), anchors
all digests in one ``notary.anchor`` transaction, waits for its commit and writes ``FILE.receipt.json`` beside
each file (or into ``--out``). ``verify`` needs nothing but the receipt, the chain's genesis file and optionally
the file: it prints ``VALID: anchored at height H, time T (UTC)`` or ``INVALID: <check>: <why>`` (exit 1).
"""

from __future__ import annotations

import argparse
import hashlib
import time
from pathlib import Path
from typing import Any

from trellis.cli import main as cli
from trellis.cli.client import ClientError
from trellis.core.crypto.suite import Suite, UnknownSuite, suite_by_name
from trellis.core.errors import TrellisError
from trellis.core.modules.notary.messages import MAX_ANCHOR_DIGESTS, NotaryAnchor
from trellis.core.params import load_genesis
from trellis.notary.receipt import MAX_RECEIPT_BYTES, ReceiptError, decode_receipt, verify_receipt

__all__ = ["file_digest", "register"]

_CHUNK = 1 << 20


def file_digest(suite: Suite, path: Path) -> bytes:
    """The chain suite's hash of the file at ``path`` (SHA-256 streamed; SM3 over the whole file).

    Raises:
        OSError: the file cannot be read.
    """
    if suite.name == "ed25519":
        h = hashlib.sha256()
        with path.open("rb") as f:
            while chunk := f.read(_CHUNK):
                h.update(chunk)
        return h.digest()
    return suite.hash(path.read_bytes())


def _digest_or_fail(suite: Suite, path: Path) -> bytes:
    try:
        return file_digest(suite, path)
    except OSError as exc:
        raise cli.CliError(f"cannot read {path}: {exc.strerror or exc}") from None


def _fetch_receipt(client: Any, digest: bytes, wait_s: float) -> bytes:
    deadline = time.monotonic() + wait_s
    while True:
        try:
            return bytes(client.get_bytes(f"/v1/notary/receipts/0x{digest.hex()}"))
        except ClientError as exc:
            if exc.status != 404 or time.monotonic() > deadline:
                raise
        time.sleep(0.2)


def cmd_anchor(args: argparse.Namespace) -> int:
    """Anchor the files' digests in one transaction and write a receipt for each."""
    client = cli._client(args)
    status = client.get("/v1/status")
    try:
        suite = suite_by_name(str(status.get("suite", "ed25519")))
    except UnknownSuite as exc:
        raise cli.CliError(f"the node's chain uses a crypto suite this client does not know: {exc}") from None
    paths = [Path(p) for p in args.files]
    digests = [_digest_or_fail(suite, p) for p in paths]
    unique = list(dict.fromkeys(digests))
    if len(unique) > MAX_ANCHOR_DIGESTS:
        raise cli.CliError(f"{len(unique)} distinct files; one transaction anchors at most {MAX_ANCHOR_DIGESTS}")
    out_dir = Path(args.out) if args.out else None
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
    payload = NotaryAnchor(digests=unique, record_type=args.type or "", owner=args.owner or "", ref=args.ref or "")
    args.no_wait = False
    res = cli.sign_and_submit(args, payload)
    if res.get("status") != "committed":
        raise cli.CliError(f"transaction {res.get('hash')} was not committed in time: {res.get('status')}")
    r = res["receipt"]
    if r["code"] != 0:
        raise cli.CliError(f"the anchoring failed: code {r['code']}: {r['message']}")
    written: list[dict[str, Any]] = []
    for path, digest in zip(paths, digests, strict=True):
        data = _fetch_receipt(client, digest, float(args.timeout))
        target = (out_dir / path.name if out_dir else path).with_name(path.name + ".receipt.json")
        try:
            target.write_bytes(data)
        except OSError as exc:
            raise cli.CliError(f"cannot write {target}: {exc.strerror or exc}") from None
        written.append({"file": str(path), "digest": "0x" + digest.hex(), "receipt": str(target)})
    text = [f"anchored {len(unique)} digest(s) in tx {res['hash']} at height {res['height']}"]
    text += [f"  {w['file']}  {w['digest']}  -> {w['receipt']}" for w in written]
    cli._out(args, {"tx": res["hash"], "height": res["height"], "files": written}, "\n".join(text))
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    """Verify a receipt offline against a genesis file (and optionally the file it is for)."""
    try:
        params = load_genesis(Path(args.genesis).read_bytes())
    except OSError as exc:
        raise cli.CliError(f"cannot read genesis file {args.genesis}: {exc.strerror or exc}") from None
    except TrellisError as exc:
        raise cli.CliError(f"{args.genesis} is not a usable genesis file: {exc}") from None
    path = Path(args.receipt)
    try:
        with path.open("rb") as f:
            data = f.read(MAX_RECEIPT_BYTES + 1)
    except OSError as exc:
        raise cli.CliError(f"cannot read receipt {path}: {exc.strerror or exc}") from None
    result: dict[str, Any] = {"receipt": str(path), "valid": False}
    try:
        receipt = decode_receipt(data)
        digest = None if args.file is None else _digest_or_fail(params.suite, Path(args.file))
        v = verify_receipt(receipt, params, digest)
    except ReceiptError as exc:
        result |= {"check": exc.check, "message": exc.message}
        cli._out(args, result, f"INVALID: {exc.check}: {exc.message}")
        return 1
    when = cli._fmt_time(v.time_ms).replace(" ", "T")
    result |= {
        "valid": True,
        "height": v.height,
        "time_ms": v.time_ms,
        "time": when,
        "digest": "0x" + v.digest.hex(),
        "tx": "0x" + v.tx_hash.hex(),
        "sender": "0x" + v.sender.hex(),
        "record_type": v.record_type,
        "owner": v.owner,
        "ref": v.ref,
        "file_checked": args.file is not None,
    }
    text = f"VALID: anchored at height {v.height}, time {when} (UTC)"
    if args.file is None:
        text += "\n  (no file given: only the receipt was checked; pass FILE to check the file's digest too)"
    cli._out(args, result, text)
    return 0


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``trellis notary ...`` to the CLI's subcommands."""
    n = sub.add_parser("notary", help="anchor documents on chain and verify receipts").add_subparsers(
        dest="notary_cmd", required=True
    )
    s = n.add_parser("anchor", parents=[common], help="anchor files' digests (hashed locally) and write receipts")
    s.add_argument("files", nargs="+", metavar="FILE")
    s.add_argument("--type", help="record type")
    s.add_argument("--owner", help="owner DID")
    s.add_argument("--ref", help="external reference")
    s.add_argument("--out", help="directory for the receipts (default: beside each file)")
    cli.add_submit_options(s)
    s.set_defaults(func=cmd_anchor)
    s = n.add_parser("verify", parents=[common], help="verify a receipt offline with only the genesis file")
    s.add_argument("receipt", metavar="RECEIPT")
    s.add_argument("file", nargs="?", metavar="FILE", help="the anchored file (its digest is checked too)")
    s.add_argument(
        "--genesis",
        required=True,
        help="the chain's genesis.json: any node home's (.trellis/genesis.json after trellis init; "
        "NET/node0/genesis.json for a local network), or the copy the chain's operators publish",
    )
    s.set_defaults(func=cmd_verify)
