"""``trellis certs ca-new|issue|register|revoke|propose|approve|status``: identity certificates and the membership.

An organisation's CA lives in the home (``trellis init``: ``<home>/ca``; ``trellis net init``:
``<dir>/orgs/<org>``). ``issue`` signs a certificate for a key of the key store and writes it to
``<home>/certs/<key>.crt``; ``register`` puts it on chain; ``status`` lists the home's certificates with their
expiry and what the chain says of each identity certificate. ``ca-new`` makes a new organisation CA (for
``propose add-ca`` / ``add-org``, then ``issue --ca-dir``). See docs/spec/membership.md and
docs/guides/membership.md.
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.x509.oid import NameOID

from trellis.cli import main as cli
from trellis.cli.client import ClientError
from trellis.core.crypto.suite import ED25519, address_of
from trellis.core.modules.membership.messages import (
    AddCa,
    AddOrg,
    ApproveMembership,
    MembershipChange,
    ProposeMembership,
    RegisterCert,
    RemoveCa,
    RemoveOrg,
    RevokeCert,
    SetThreshold,
)
from trellis.keys.certs import IDENTITY_ROLES, CertError, create_org_ca, issue_identity_cert, write_private_key

_DAY_MS = 86_400_000


def _root(args: argparse.Namespace) -> Path:
    return cli._root(args)


def _ca_dirs(args: argparse.Namespace) -> list[Path]:
    """Every CA directory the home holds (``ca.crt`` present)."""
    root, home = _root(args), cli._home(args)
    found = [home / "ca", *sorted((root / "orgs").glob("*"))]
    return [d for d in found if (d / "ca.crt").is_file()]


def _org_of(cert: x509.Certificate) -> str:
    values = cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    return str(values[0].value) if len(values) == 1 else "?"


def _read_cert(path: Path) -> x509.Certificate:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise cli.CliError(f"cannot read {path}: {exc.strerror}") from None
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            return x509.load_pem_x509_certificate(data)
        return x509.load_der_x509_certificate(data)
    except ValueError as exc:
        raise cli.CliError(f"{path} is not an X.509 certificate: {exc}") from None


def _der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def _find_ca(args: argparse.Namespace, org: str) -> Path:
    if args.ca_dir:
        return Path(args.ca_dir)
    for d in _ca_dirs(args):
        if _org_of(_read_cert(d / "ca.crt")) == org:
            return d
    raise cli.CliError(f"no CA of organisation {org!r} in {_root(args)} (give --ca-dir)")


def _certs_dir(args: argparse.Namespace) -> Path:
    return cli._home(args) / "certs"


def cmd_issue(args: argparse.Namespace) -> int:
    ca = _find_ca(args, args.org)
    try:
        ca_key, ca_cert = (ca / "ca.key").read_bytes(), (ca / "ca.crt").read_bytes()
    except OSError as exc:
        raise cli.CliError(
            f"cannot read the CA in {ca}: {exc.strerror} (only the organisation holds its key)"
        ) from None
    info = cli._keystore(args).info(args.key)
    if info.suite != ED25519.name:
        raise cli.CliError(f"key {args.key!r} is a {info.suite} key: identity certificates bind Ed25519 keys")
    start = datetime.now(UTC) - timedelta(minutes=5)
    try:
        pem = issue_identity_cert(
            ca_key,
            ca_cert,
            org=args.org,
            role=args.role,
            public_key=info.public_key,
            name=args.name or args.key,
            not_before=start,
            not_after=start + timedelta(days=args.days),
        )
    except CertError as exc:
        raise cli.CliError(str(exc)) from None
    out = Path(args.out) if args.out else _certs_dir(args) / f"{args.key}.crt"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(pem)
    cert = x509.load_pem_x509_certificate(pem)
    data = {
        "file": str(out),
        "org": args.org,
        "role": args.role,
        "address": "0x" + info.address.hex(),
        "serial": f"0x{cert.serial_number:x}",
        "not_after": cert.not_valid_after_utc.isoformat(),
    }
    cli._out(
        args,
        data,
        f"issued {args.role} certificate for {args.key} ({data['address']}) by {args.org}\n"
        f"  serial {data['serial']}, valid until {data['not_after']}\n  written to {out}\n"
        f"register it with: trellis certs register --from {args.key} --cert {out}",
    )
    return 0


def cmd_register(args: argparse.Namespace) -> int:
    return cli.submit_and_report(args, RegisterCert(cert=_der(_read_cert(Path(args.cert)))), "register")


def _serial(text: str) -> bytes:
    t = text[2:] if text.lower().startswith("0x") else text
    try:
        n = int(t, 16)
    except ValueError:
        raise cli.CliError(f"{text!r} is not a hex serial number") from None
    if n <= 0 or n.bit_length() > 160:
        raise cli.CliError("a serial number is positive and at most 20 bytes")
    return n.to_bytes((n.bit_length() + 7) // 8, "big")


def cmd_revoke(args: argparse.Namespace) -> int:
    if (args.serial is None) == (args.cert is None):
        raise cli.CliError("give exactly one of --serial and --cert")
    serial = _serial(args.serial) if args.serial else _serial(f"{_read_cert(Path(args.cert)).serial_number:x}")
    return cli.submit_and_report(args, RevokeCert(serial=serial), "revoke")


def _change(args: argparse.Namespace) -> MembershipChange:
    kind = args.change
    if kind == "add-ca":
        return AddCa(org=args.org, ca_cert=_der(_read_cert(Path(args.ca_cert))))
    if kind == "remove-ca":
        return RemoveCa(org=args.org, fingerprint=_fingerprint(_read_cert(Path(args.ca_cert))))
    if kind == "add-org":
        return AddOrg(name=args.org, ca_certs=[_der(_read_cert(Path(args.ca_cert)))])
    if kind == "remove-org":
        return RemoveOrg(name=args.org)
    return SetThreshold(threshold=args.threshold)


def _fingerprint(cert: x509.Certificate) -> bytes:
    import hashlib

    return hashlib.sha256(_der(cert)).digest()


def cmd_ca_new(args: argparse.Namespace) -> int:
    """Create an organisation CA in ``--out`` (``ca.key``, mode 0600, and ``ca.crt``), refusing to overwrite."""
    out = Path(args.out)
    key_path, cert_path = out / "ca.key", out / "ca.crt"
    for path in (key_path, cert_path):
        if path.exists():
            raise cli.CliError(f"{path} exists: not overwriting a CA")
    try:
        key_pem, cert_pem = create_org_ca(args.org, valid_days=args.days)
    except CertError as exc:
        raise cli.CliError(str(exc)) from None
    try:
        out.mkdir(parents=True, exist_ok=True)
        write_private_key(key_path, key_pem)
        cert_path.write_bytes(cert_pem)
    except OSError as exc:
        raise cli.CliError(f"cannot write the CA into {out}: {exc.strerror or exc}") from None
    cert = x509.load_pem_x509_certificate(cert_pem)
    data = {
        "org": args.org,
        "key": str(key_path),
        "cert": str(cert_path),
        "not_after": cert.not_valid_after_utc.isoformat(),
    }
    cli._out(
        args,
        data,
        f"created the CA of {args.org}\n  key  {key_path} (keep it private)\n  cert {cert_path}\n"
        f"propose it with: trellis certs propose add-ca --org {args.org} --ca-cert {cert_path} --from <admin>",
    )
    return 0


def cmd_propose(args: argparse.Namespace) -> int:
    if args.change in ("add-ca", "remove-ca", "add-org") and not (args.org and args.ca_cert):
        raise cli.CliError(f"{args.change} needs --org and --ca-cert")
    if args.change == "remove-org" and not args.org:
        raise cli.CliError("remove-org needs --org")
    if args.change == "set-threshold" and not args.threshold:
        raise cli.CliError("set-threshold needs --threshold")
    return cli.submit_and_report(args, ProposeMembership(change=_change(args)), "propose")


def cmd_approve(args: argparse.Namespace) -> int:
    return cli.submit_and_report(args, ApproveMembership(proposal_id=args.proposal), "approve")


def _expiry_line(
    kind: str, path: Path, cert: x509.Certificate, now_ms: int, warn_ms: int
) -> tuple[dict[str, Any], str]:
    end_ms = int(cert.not_valid_after_utc.timestamp() * 1000)
    left = end_ms - now_ms
    state = "EXPIRED" if left < 0 else ("EXPIRING" if left < warn_ms else "ok")
    data: dict[str, Any] = {
        "kind": kind,
        "file": str(path),
        "org": _org_of(cert),
        "serial": f"0x{cert.serial_number:x}",
        "not_after": cert.not_valid_after_utc.isoformat(),
        "days_left": left // _DAY_MS,
        "state": state,
    }
    flag = "" if state == "ok" else f"  <-- {state}"
    text = f"  {kind:<9} {data['org']:<8} {data['not_after'][:19]}Z  {left // _DAY_MS:>5} days  {path}{flag}"
    return data, text


def cmd_status(args: argparse.Namespace) -> int:
    now_ms = time.time_ns() // 1_000_000
    warn_ms = args.warn_days * _DAY_MS
    home, root = cli._home(args), _root(args)
    rows: list[tuple[str, Path]] = [("ca", d / "ca.crt") for d in _ca_dirs(args)]
    for tls in sorted({home / "tls" / "node.crt", *root.glob("*/tls/node.crt")}):
        if tls.is_file():
            rows.append(("node", tls))
    certs_dir = _certs_dir(args)
    idents = sorted(certs_dir.glob("*.crt")) if certs_dir.is_dir() else []
    rows += [("identity", p) for p in idents]
    out: list[dict[str, Any]] = []
    lines = [f"certificates in {root} (warning within {args.warn_days} days):"]
    warnings = 0
    client = cli._client(args)
    for kind, path in rows:
        cert = _read_cert(path)
        data, text = _expiry_line(kind, path, cert, now_ms, warn_ms)
        warnings += data["state"] != "ok"
        lines.append(text)
        key = cert.public_key()
        if kind == "identity" and isinstance(key, ed25519.Ed25519PublicKey):
            addr = address_of(ED25519, key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))
            data["address"] = "0x" + addr.hex()
            data["chain"] = _chain_view(client, addr, cert.serial_number)
            lines.append(f"            address {data['address']}  on chain: {data['chain']}")
        out.append(data)
    result: dict[str, Any] = {"certs": out, "warnings": warnings}
    if args.key:
        addr = cli._address_arg(args, args.key)
        try:
            chain = client.get(f"/v1/certs/0x{addr.hex()}")
        except ClientError as exc:
            raise cli.CliError(f"cannot ask the chain about {args.key}: {exc.code}: {exc.message}") from None
        result["chain"] = chain
        lines.append(f"on chain for {args.key} (0x{addr.hex()}) at height {chain['height']}:")
        for c in chain["certs"]:
            left = (c["not_after_ms"] - chain["time_ms"]) // _DAY_MS
            why = f" ({c['reason']})" if c["reason"] else ""
            lines.append(f"  {c['role']:<9} {c['org']:<8} serial {c['serial']}  {left:>5} days  {c['status']}{why}")
        if not chain["certs"]:
            lines.append("  no certificate registered")
    cli._out(args, result, "\n".join(lines))
    return 0


def _chain_view(client: Any, addr: bytes, serial: int) -> str:
    try:
        res = client.get(f"/v1/certs/0x{addr.hex()}")
    except ClientError as exc:
        return f"unknown ({exc.code})"
    for c in res["certs"]:
        if int(c["serial"].removeprefix("0x") or "0", 16) == serial:
            return str(c["status"]) + (f" ({c['reason']})" if c["reason"] else "")
    return "not registered"


def cmd_membership(args: argparse.Namespace) -> int:
    m = cli._client(args).get("/v1/membership")
    if m["version"] is None:
        cli._out(args, m, "this chain has no member organisations")
        return 0
    lines = [
        f"membership version {m['version']} at height {m['height']}: "
        f"{'enforced' if m['enforce'] else 'not enforced'}, admin threshold {m['threshold']} of {len(m['orgs'])}"
    ]
    for o in m["orgs"]:
        lines.append(f"  org {o['name']}: CA " + ", ".join(fp[:18] + "…" for fp in o["ca_fingerprints"]))
    for r in m["revoked"]:
        lines.append(f"  revoked {r['org']} serial {r['serial']} at height {r['height']}")
    for p in m["proposals"]:
        state = f"applied at {p['applied_height']}" if p["applied_height"] is not None else "pending"
        lines.append(f"  proposal {p['id']} {p['change_type']}: approved by {', '.join(p['approvals'])} ({state})")
    cli._out(args, m, "\n".join(lines))
    return 0


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``trellis certs ...`` to the CLI's subcommands."""
    c = sub.add_parser("certs", help="identity certificates and the on-chain membership").add_subparsers(
        dest="certs_cmd", required=True
    )
    s = c.add_parser("ca-new", parents=[common], help="create an organisation CA (ca.key, ca.crt) for add-ca/add-org")
    s.add_argument("--org", required=True, help="the organisation's name (the CA's subject O=)")
    s.add_argument("--out", required=True, help="directory to write ca.key and ca.crt into")
    s.add_argument("--days", type=int, default=3650, help="validity in days (default 3650)")
    s.set_defaults(func=cmd_ca_new, creates_home=True)

    s = c.add_parser("issue", parents=[common], help="issue an identity certificate for a key, with an org's CA")
    s.add_argument("--org", required=True, help="the issuing organisation (its CA must be in the home)")
    s.add_argument("--role", required=True, choices=IDENTITY_ROLES)
    s.add_argument("--key", required=True, help="name of the key in the home's key store")
    s.add_argument("--days", type=int, default=365, help="validity in days (default 365)")
    s.add_argument("--name", help="the certificate's common name (default: the key's name)")
    s.add_argument("--ca-dir", help="directory with ca.key and ca.crt (default: found in the home)")
    s.add_argument("--out", help="output PEM file (default: <home>/certs/<key>.crt)")
    s.set_defaults(func=cmd_issue)

    s = c.add_parser("register", parents=[common], help="register a certificate on chain for the --from key")
    s.add_argument("--cert", required=True, help="the certificate (PEM or DER)")
    cli.add_submit_options(s)
    s.set_defaults(func=cmd_register)

    s = c.add_parser("revoke", parents=[common], help="revoke a certificate of your organisation (admins)")
    s.add_argument("--serial", help="the serial number, hex")
    s.add_argument("--cert", help="or the certificate file")
    cli.add_submit_options(s)
    s.set_defaults(func=cmd_revoke)

    s = c.add_parser("propose", parents=[common], help="propose a membership change (admins)")
    s.add_argument("change", choices=["add-ca", "remove-ca", "add-org", "remove-org", "set-threshold"])
    s.add_argument("--org", help="the organisation")
    s.add_argument("--ca-cert", help="the CA certificate (add-ca, remove-ca, add-org)")
    s.add_argument("--threshold", type=int, help="the new threshold (set-threshold)")
    cli.add_submit_options(s)
    s.set_defaults(func=cmd_propose)

    s = c.add_parser("approve", parents=[common], help="approve a membership proposal for your organisation (admins)")
    s.add_argument("proposal", type=int, help="the proposal id")
    cli.add_submit_options(s)
    s.set_defaults(func=cmd_approve)

    s = c.add_parser("membership", parents=[common], help="the on-chain membership: orgs, CAs, revocations, proposals")
    s.set_defaults(func=cmd_membership)

    s = c.add_parser("status", parents=[common], help="the home's certificates, expiries and on-chain status")
    s.add_argument("--warn-days", type=int, default=30, help="warn of certificates expiring within this many days")
    s.add_argument("--key", help="also show what the chain holds for this key (name or address)")
    s.set_defaults(func=cmd_status)
