"""``trellis vc issue|verify|revoke|suspend|present`` (and ``authorise``, ``status-create``, ``status-publish``):
verifiable credentials.

A credential is written to a *wallet file*: ``{"credential": {...}, "disclosures": {"claim": "..."}}`` (the
holder keeps it). ``present`` makes a holder-signed presentation from a wallet file, revealing only the claims
named; ``verify`` sends a credential, a wallet file or a presentation to the node's verifier; ``status-publish``
signs a status list as its issuer for standard verifiers. ``issue`` and ``present`` refuse, before signing, a key
that is not the named verification method's key in the DID (as resolved now). Times are the
chain's latest block time, never this machine's clock. See docs/spec/credentials.md.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

from trellis.cli import main as cli
from trellis.cli.client import ClientError, NodeClient
from trellis.core.modules.credentials.messages import MIN_STATUS_LIST_BITS, SetIssuer, StatusCreate, StatusSet
from trellis.vc.errors import VcError
from trellis.vc.issue import issue_credential, issue_status_list_credential, make_presentation, status_entry
from trellis.vc.multibase import MultibaseError, multikey_decode, multikey_encode
from trellis.vc.proofs import cryptosuite_for_chain
from trellis.vc.resolver import DidKeyResolver, split_vm
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


def _subject(text: str) -> dict[str, Any]:
    """``--subject``: inline JSON, or the path of a JSON file; anything else is refused in one line."""
    try:
        value = json.loads(text)
    except ValueError as exc:
        if text.lstrip().startswith(("{", "[")) or not Path(text).is_file():
            msg = getattr(exc, "msg", str(exc))
            raise cli.CliError(
                f"--subject is neither JSON ({msg}) nor a readable file: give a JSON object such as "
                '\'{"id": "did:..."}\' or a file holding one'
            ) from None
        value = _read_json(text)
    if not isinstance(value, dict):
        raise cli.CliError("--subject must be a JSON object (inline or in a file), not " + type(value).__name__)
    return value


def _vm_key(client: NodeClient, vm: str) -> tuple[str, bytes, set[str]]:
    """(suite, public key, purposes) of verification method ``vm``: did:key from the DID itself, did:trellis from
    the node's resolver (the current document). Raises ``CliError`` when it does not resolve."""
    try:
        did, fragment = split_vm(vm)
    except VcError as exc:
        raise cli.CliError(f"{vm!r}: {exc.reason}") from None
    if did.startswith("did:key:"):
        if fragment != did[8:]:
            raise cli.CliError(f"{did} has no verification method {fragment!r}: its one method is #{did[8:]}")
        try:
            key = DidKeyResolver().resolve_key(vm)
        except VcError as exc:
            raise cli.CliError(f"{did} is not a valid did:key: {exc.reason}") from None
        return key.suite, key.public_key, set(key.purposes)
    if not did.startswith("did:trellis:"):
        raise cli.CliError(f"cannot check keys of {did}: only did:trellis and did:key DIDs are supported")
    try:
        result = client.get(f"/1.0/identifiers/{quote(did, safe=':')}")
    except ClientError as exc:
        why = {404: "is not registered", 410: "is deactivated", 400: "is not a valid DID", 501: "is of another chain"}
        raise cli.CliError(f"{did} {why.get(exc.status or 0, 'does not resolve: ' + exc.message)}") from None
    doc = result.get("didDocument") or {}
    for method in doc.get("verificationMethod", []):
        if method.get("id") == vm:
            try:
                suite, public = multikey_decode(str(method.get("publicKeyMultibase", "")))
            except MultibaseError as exc:
                raise cli.CliError(f"{vm}: unreadable publicKeyMultibase: {exc}") from None
            purposes = {p for p in ("assertionMethod", "authentication") if vm in doc.get(p, [])}
            return suite, public, purposes
    raise cli.CliError(f"{did} has no verification method {vm.partition('#')[2]!r}")


def _check_signing_key(client: NodeClient, signer: Any, key_name: str, did: str, vm: str, purpose: str) -> None:
    """Refuse, before signing, a key that is not ``vm``'s key, a ``vm`` of another DID than ``did``, or a ``vm``
    not allowed for ``purpose``: what a verifier would refuse later (``key_not_issuers``, ``bad_signature``...)."""
    vm_did, _ = split_vm(vm) if "#" in vm else (vm, "")
    if vm_did != did:
        raise cli.CliError(f"--vm {vm} is not a verification method of {did}")
    suite, public, purposes = _vm_key(client, vm)
    if bytes(signer.public_key) != public:
        raise cli.CliError(
            f"key {key_name!r} is not the key of {vm}: the DID document holds {multikey_encode(suite, public)}"
        )
    if purpose not in purposes:
        raise cli.CliError(f"{vm} is not an {purpose} method of {did}: a verifier would refuse its signature")


def _write(path: str | None, obj: Any) -> str:
    text = json.dumps(obj, indent=2, ensure_ascii=False)
    if path:
        Path(path).write_text(text + "\n")
    return text


def _signer(args: argparse.Namespace) -> Any:
    return cli._keystore(args).signer(args.key, cli._passphrase(args))


def cmd_issue(args: argparse.Namespace) -> int:
    """Sign a credential with the issuer's key; the proof's time and validFrom are the latest block's time."""
    subject = _subject(args.subject)
    client = cli._client(args)
    status = client.get("/v1/status")
    signer = _signer(args)
    vm = args.vm or f"{args.issuer}#key-1"
    _check_signing_key(client, signer, args.key, args.issuer, vm, "assertionMethod")
    entries = []
    if args.status_list:
        if args.status_index is None:
            raise cli.CliError("--status-list needs --status-index")
        base = args.status_base or client.base_url
        entries.append(status_entry(base, args.status_list, args.status_index, args.status_purpose))
    cred, disclosures = issue_credential(
        issuer=args.issuer,
        verification_method=vm,
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
    client = cli._client(args)
    status = client.get("/v1/status")
    signer = _signer(args)
    vm = args.vm or f"{args.holder}#key-1"
    _check_signing_key(client, signer, args.key, args.holder, vm, "authentication")
    vp = make_presentation(
        [(wallet["credential"], [disclosures[n] for n in chosen])],
        holder=args.holder,
        verification_method=vm,
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
    return cli.submit_and_report(args, StatusSet(list_id=args.list, set_indexes=[args.index]), "revoke")


def cmd_suspend(args: argparse.Namespace) -> int:
    """Set (or with --lift clear) a suspension bit."""
    msg = (
        StatusSet(list_id=args.list, clear_indexes=[args.index])
        if args.lift
        else StatusSet(list_id=args.list, set_indexes=[args.index])
    )
    return cli.submit_and_report(args, msg, "lift suspension" if args.lift else "suspend")


def cmd_authorise(args: argparse.Namespace) -> int:
    """Governance: put an issuer in the trust registry (or remove it with no --type)."""
    controller = cli._address_arg(args, args.controller)
    return cli.submit_and_report(
        args, SetIssuer(did=args.did, types=args.type or [], controller=controller), "authorise"
    )


def cmd_status_create(args: argparse.Namespace) -> int:
    """Create a status list for an issuer (its controller sends it)."""
    if args.size < MIN_STATUS_LIST_BITS or args.size % 8:
        raise cli.CliError(
            f"--size must be a multiple of 8 of at least {MIN_STATUS_LIST_BITS} "
            "(the W3C Bitstring Status List minimum, 16 KiB, for herd privacy)"
        )
    return cli.submit_and_report(
        args, StatusCreate(list_id=args.list, size=args.size, purpose=args.purpose, issuer=args.issuer), "status-create"
    )


def cmd_status_publish(args: argparse.Namespace) -> int:
    """Sign the on-chain status list as its issuer: a ``BitstringStatusListCredential`` for standard verifiers,
    to publish at ``--url`` (the ``statusListCredential`` URL of the issuer's credentials)."""
    client = cli._client(args)
    try:
        body = client.get(f"/v1/status-lists/{quote(args.list, safe='')}")
    except ClientError as exc:
        raise cli.CliError(f"status list {args.list!r}: {exc.message}") from None
    if body.get("issuer") != args.issuer:
        raise cli.CliError(f"status list {args.list!r} belongs to {body.get('issuer')}, not {args.issuer}")
    if args.valid_for <= 0:
        raise cli.CliError("--valid-for must be a positive number of seconds")
    status = client.get("/v1/status")
    signer = _signer(args)
    vm = args.vm or f"{args.issuer}#key-1"
    _check_signing_key(client, signer, args.key, args.issuer, vm, "assertionMethod")
    now = int(status["time_ms"])
    cred = issue_status_list_credential(
        url=args.url or str(body["id"]),
        issuer=args.issuer,
        verification_method=vm,
        sign=signer.sign,
        cryptosuite=cryptosuite_for_chain(str(status.get("suite", "ed25519"))),
        purpose=str(body["credentialSubject"]["statusPurpose"]),
        encoded_list=str(body["credentialSubject"]["encodedList"]),
        valid_from_ms=now,
        valid_until_ms=now + args.valid_for * 1000,
    )
    text = _write(args.out, cred)
    cli._out(
        args, cred, f"signed status list {args.list!r} at height {body['height']}: {args.out}" if args.out else text
    )
    return 0


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
    s.add_argument(
        "--status-base",
        help="base URL where the issuer publishes its signed status lists (vc status-publish); default: the node",
    )
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
    s.add_argument("--size", type=int, default=MIN_STATUS_LIST_BITS, help="entries (at least 131072)")
    s.add_argument("--purpose", default="revocation", choices=["revocation", "suspension"])
    cli.add_submit_options(s)
    s.set_defaults(func=cmd_status_create)

    s = v.add_parser(
        "status-publish", parents=[common], help="sign a status list as its issuer, for standard verifiers"
    )
    s.add_argument("--list", required=True, help="status list id")
    s.add_argument("--issuer", required=True, help="the list's issuer DID")
    s.add_argument("--key", required=True, help="the issuer's signing key (key store name)")
    s.add_argument("--vm", help="verification method URL (default: <issuer>#key-1)")
    s.add_argument("--url", help="where it will be published (default: the node's /v1/status-lists/<list>)")
    s.add_argument("--valid-for", type=int, default=86400, help="seconds a verifier may rely on it (default 1 day)")
    s.add_argument("--out", help="file to write")
    s.add_argument("--passphrase-file", help="passphrase of an encrypted key")
    s.set_defaults(func=cmd_status_publish)


__all__ = ["register"]
