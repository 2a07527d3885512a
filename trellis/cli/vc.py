"""``trellis vc issue|verify|revoke|suspend|present`` (and ``authorise``, ``status-create``): verifiable credentials.

A credential is written to a *wallet file*: ``{"credential": {...}, "disclosures": {"claim": "..."}}`` (the
holder keeps it). ``present`` makes a holder-signed presentation from a wallet file, revealing only the claims
named; ``verify`` sends a credential, a wallet file or a presentation to the node's verifier. Times are the
chain's latest block time, never this machine's clock. See docs/spec/credentials.md.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from trellis.cli import main as cli
from trellis.cli.certs import _send
from trellis.core.ledger.credentials_tx import SetIssuer, StatusCreate, StatusSet
from trellis.vc.issue import issue_credential, make_presentation, status_entry
from trellis.vc.proofs import cryptosuite_for_chain
from trellis.vc.verifier import parse_time_ms

_MAX_FILE = 1024 * 1024


def _read_json(path: str) -> Any:
    try:
        data = Path(path).read_bytes()[: _MAX_FILE + 1]
    except OSError as exc:
        raise cli.CliError(f"cannot read {path}: {exc.strerror}") from None
    if len(data) > _MAX_FILE:
        raise cli.CliError(f"{path} is larger than 1 MiB")
    try:
        return json.loads(data)
    except ValueError as exc:
        raise cli.CliError(f"{path} is not JSON: {exc}") from None


def _write(path: str | None, obj: Any) -> str:
    text = json.dumps(obj, indent=2, ensure_ascii=False)
    if path:
        Path(path).write_text(text + "\n")
    return text


def _signer(args: argparse.Namespace) -> Any:
    return cli._keystore(args).signer(args.key, cli._passphrase(args))


def cmd_issue(args: argparse.Namespace) -> int:
    """Sign a credential with the issuer's key; the proof's time and validFrom are the latest block's time."""
    client = cli._client(args)
    status = client.get("/v1/status")
    signer = _signer(args)
    subject = json.loads(args.subject) if args.subject.lstrip().startswith("{") else _read_json(args.subject)
    if not isinstance(subject, dict):
        raise cli.CliError("--subject must be a JSON object (inline or a file)")
    entries = []
    if args.status_list:
        if args.status_index is None:
            raise cli.CliError("--status-list needs --status-index")
        entries.append(status_entry(client.base_url, args.status_list, args.status_index, args.status_purpose))
    cred, disclosures = issue_credential(
        issuer=args.issuer,
        verification_method=args.vm or f"{args.issuer}#key-1",
        sign=signer.sign,
        cryptosuite=cryptosuite_for_chain(str(status.get("suite", "ed25519"))),
        types=args.type,
        subject=subject,
        valid_from_ms=int(status["time_ms"]),
        valid_until_ms=parse_time_ms(args.valid_until) if args.valid_until else None,
        credential_id=args.id,
        status=entries,
        disclosable=[n for n in (args.disclose or "").split(",") if n],
    )
    wallet = {"credential": cred, "disclosures": disclosures}
    text = _write(args.out, wallet)
    cli._out(
        args,
        wallet,
        f"issued {', '.join(args.type)} to {subject.get('id', '?')}" + (f": {args.out}" if args.out else f"\n{text}"),
    )
    return 0


def cmd_present(args: argparse.Namespace) -> int:
    """Make a presentation of a wallet file's credential, revealing only ``--reveal`` claims."""
    wallet = _read_json(args.wallet)
    if not isinstance(wallet, dict) or "credential" not in wallet:
        raise cli.CliError(f"{args.wallet} is not a wallet file (credential and disclosures)")
    disclosures: dict[str, str] = wallet.get("disclosures", {})
    chosen = [n for n in (args.reveal or "").split(",") if n]
    unknown = [n for n in chosen if n not in disclosures]
    if unknown:
        raise cli.CliError(f"no disclosure for {', '.join(unknown)}; the wallet has {', '.join(sorted(disclosures))}")
    status = cli._client(args).get("/v1/status")
    signer = _signer(args)
    vp = make_presentation(
        [(wallet["credential"], [disclosures[n] for n in chosen])],
        holder=args.holder,
        verification_method=args.vm or f"{args.holder}#key-1",
        sign=signer.sign,
        cryptosuite=cryptosuite_for_chain(str(status.get("suite", "ed25519"))),
        challenge=args.challenge,
        domain=args.domain,
        created_ms=int(status["time_ms"]),
    )
    text = _write(args.out, vp)
    cli._out(args, vp, f"presentation written to {args.out}" if args.out else text)
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    """Ask the node's verifier about a credential, wallet file or presentation; exit 1 unless verified."""
    doc = _read_json(args.file)
    body: dict[str, Any]
    if isinstance(doc, dict) and "VerifiablePresentation" in (doc.get("type") or []):
        if not args.challenge or not args.domain:
            raise cli.CliError("a presentation is verified with --challenge and --domain")
        body = {"presentation": doc, "challenge": args.challenge, "domain": args.domain}
    elif isinstance(doc, dict) and "credential" in doc and "@context" not in doc:
        body = {"credential": doc["credential"]}
    else:
        body = {"credential": doc}
    res = cli._client(args).post_json("/v1/credentials/verify", body)
    lines = [f"{'VERIFIED' if res['verified'] else 'REFUSED'} at height {res['height']}"]
    for scope, checks in [("", res.get("checks", []))] + [
        (f"credential {i}: ", c["checks"]) for i, c in enumerate(res.get("credentials", []))
    ]:
        for c in checks:
            mark = "ok" if c["ok"] else f"FAILED {c['code']}: {c['reason']}"
            lines.append(f"  {scope}{c['check']}: {mark}")
    cli._out(args, res, "\n".join(lines))
    return 0 if res["verified"] else 1


def cmd_revoke(args: argparse.Namespace) -> int:
    """Set a revocation bit (effective from the next block)."""
    return _send(args, StatusSet(list_id=args.list, set_indexes=[args.index]), "revoke")


def cmd_suspend(args: argparse.Namespace) -> int:
    """Set (or with --lift clear) a suspension bit."""
    msg = (
        StatusSet(list_id=args.list, clear_indexes=[args.index])
        if args.lift
        else StatusSet(list_id=args.list, set_indexes=[args.index])
    )
    return _send(args, msg, "lift suspension" if args.lift else "suspend")


def cmd_authorise(args: argparse.Namespace) -> int:
    """Governance: put an issuer in the trust registry (or remove it with no --type)."""
    controller = cli._address_arg(args, args.controller)
    return _send(args, SetIssuer(did=args.did, types=args.type or [], controller=controller), "authorise")


def cmd_status_create(args: argparse.Namespace) -> int:
    """Create a status list for an issuer (its controller sends it)."""
    return _send(
        args, StatusCreate(list_id=args.list, size=args.size, purpose=args.purpose, issuer=args.issuer), "status-create"
    )


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``trellis vc ...`` to the CLI's subcommands."""
    v = sub.add_parser("vc", help="verifiable credentials").add_subparsers(dest="vc_cmd", required=True)
    s = v.add_parser("issue", parents=[common], help="issue a credential (writes a wallet file)")
    s.add_argument("--key", required=True, help="the issuer's signing key (key store name)")
    s.add_argument("--issuer", required=True, help="the issuer's DID")
    s.add_argument("--vm", help="verification method URL (default: <issuer>#key-1)")
    s.add_argument("--type", action="append", required=True, help="credential type (repeatable)")
    s.add_argument("--subject", required=True, help="credentialSubject: inline JSON or a file")
    s.add_argument("--disclose", help="comma-separated claims the holder may disclose selectively")
    s.add_argument("--status-list", help="on-chain status list id")
    s.add_argument("--status-index", type=int, help="this credential's index in the list")
    s.add_argument("--status-purpose", default="revocation", choices=["revocation", "suspension"])
    s.add_argument("--valid-until", help="expiry (dateTime with zone)")
    s.add_argument("--id", help="the credential's id (a URL or urn:uuid:...)")
    s.add_argument("--out", help="wallet file to write")
    s.add_argument("--passphrase-file", help="passphrase of an encrypted key")
    s.set_defaults(func=cmd_issue)

    s = v.add_parser("present", parents=[common], help="make a presentation of a wallet file's credential")
    s.add_argument("wallet", help="the wallet file from 'vc issue'")
    s.add_argument("--key", required=True, help="the holder's signing key")
    s.add_argument("--holder", required=True, help="the holder's DID")
    s.add_argument("--vm", help="verification method URL (default: <holder>#key-1)")
    s.add_argument("--reveal", help="comma-separated claims to disclose")
    s.add_argument("--challenge", required=True, help="the verifier's challenge")
    s.add_argument("--domain", required=True, help="the verifier's domain")
    s.add_argument("--out", help="file to write")
    s.add_argument("--passphrase-file", help="passphrase of an encrypted key")
    s.set_defaults(func=cmd_present)

    s = v.add_parser("verify", parents=[common], help="verify a credential, wallet file or presentation")
    s.add_argument("file")
    s.add_argument("--challenge", help="expected challenge (presentations)")
    s.add_argument("--domain", help="expected domain (presentations)")
    s.set_defaults(func=cmd_verify)

    for name, func, text in (
        ("revoke", cmd_revoke, "revoke a credential: set its bit in a revocation list"),
        ("suspend", cmd_suspend, "suspend a credential (or --lift the suspension)"),
    ):
        s = v.add_parser(name, parents=[common], help=text)
        s.add_argument("--list", required=True, help="status list id")
        s.add_argument("--index", type=int, required=True, help="the credential's index")
        if name == "suspend":
            s.add_argument("--lift", action="store_true", help="clear the bit instead")
        cli.add_submit_options(s)
        s.set_defaults(func=func)

    s = v.add_parser("authorise", parents=[common], help="governance: authorise an issuer DID for credential types")
    s.add_argument("--did", required=True)
    s.add_argument("--type", action="append", help="credential type (repeatable; none: remove the issuer)")
    s.add_argument("--controller", required=True, help="address or key name acting for the issuer on chain")
    cli.add_submit_options(s)
    s.set_defaults(func=cmd_authorise)

    s = v.add_parser("status-create", parents=[common], help="create a status list for an issuer")
    s.add_argument("--list", required=True)
    s.add_argument("--issuer", required=True)
    s.add_argument("--size", type=int, default=131072)
    s.add_argument("--purpose", default="revocation", choices=["revocation", "suspension"])
    cli.add_submit_options(s)
    s.set_defaults(func=cmd_status_create)


__all__ = ["register"]
