"""``trellis attest create|revoke|show|list``: attestations from the command line (docs/spec/attestations.md 5).

``create`` prints the new attestation's id, computed here from the sender, the nonce, the subject and the claim
type exactly as the chain computes it (so it is known even with ``--no-wait``). ``show --prove`` trusts the node
only through proofs: the record's state proof is checked against the header, and the header's commit certificate
from the genesis validators through every validator-set change (the checks of ``trellis query state --prove``).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import msgspec

from trellis.cli import main as cli
from trellis.core.codec import decode
from trellis.core.crypto.suite import UnknownSuite, address_of, suite_by_name
from trellis.core.errors import DecodeError
from trellis.core.modules.attestations.messages import MAX_STATEMENT, Attest, RevokeAttestation
from trellis.core.modules.attestations.state import Attestation, attestation_id, record_key
from trellis.keys.signer import KeyStoreError

__all__ = ["register"]


def _id_arg(text: str) -> bytes:
    t = text.removeprefix("0x").removeprefix("0X")
    if len(t) != 64:
        raise cli.CliError(f"{text!r} is not an attestation id (64 hex digits)")
    try:
        return bytes.fromhex(t)
    except ValueError:
        raise cli.CliError(f"{text!r} is not an attestation id (64 hex digits)") from None


def _statement(args: argparse.Namespace, suite: Any) -> bytes:
    given = [x for x in (args.statement, args.statement_file, args.statement_digest) if x is not None]
    if len(given) > 1:
        raise cli.CliError("give at most one of --statement, --statement-file and --statement-digest")
    if args.statement is not None:
        data: bytes = args.statement.encode()
    elif args.statement_file is not None or args.statement_digest is not None:
        path = Path(args.statement_file or args.statement_digest)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise cli.CliError(f"cannot read {path}: {exc.strerror or exc}") from None
        if args.statement_digest is not None:
            data = suite.hash(data)  # the file stays here; only its digest goes on chain
    else:
        data = b""
    if len(data) > MAX_STATEMENT:
        raise cli.CliError(
            f"the statement is {len(data)} bytes; at most {MAX_STATEMENT} (use --statement-digest for a larger file)"
        )
    return data


def _expiry(args: argparse.Namespace) -> int:
    if args.expires_at is not None and args.expires_in is not None:
        raise cli.CliError("give --expires-at or --expires-in, not both")
    if args.expires_in is not None:
        if args.expires_in <= 0:
            raise cli.CliError("--expires-in must be a positive number of seconds")
        return int(time.time() * 1000) + int(args.expires_in) * 1000
    if args.expires_at is not None and args.expires_at < 0:
        raise cli.CliError("--expires-at is a time in ms since the epoch")
    return int(args.expires_at or 0)


def cmd_create(args: argparse.Namespace) -> int:
    """Attest: sign and submit ``attestations.attest``; the id is computed here as the chain computes it."""
    client = cli._client(args)
    try:
        suite = suite_by_name(str(client.get("/v1/status").get("suite", "ed25519")))
    except UnknownSuite as exc:
        raise cli.CliError(f"the node's chain uses a crypto suite this client does not know: {exc}") from None
    try:
        public_key = cli._keystore(args).info(args.sender).public_key
    except KeyStoreError as exc:
        raise cli.CliError(str(exc)) from None
    sender = address_of(suite, public_key)
    if args.nonce is None:  # fixed here, so the id below is the one the chain computes
        args.nonce = client.get(f"/v1/accounts/0x{sender.hex()}")["next_nonce"]
    fields = [args.subject, args.claim_type, _statement(args, suite), _expiry(args), args.did or ""]
    try:  # the decoding bounds of docs/spec/attestations.md 1, as the node will apply them
        payload = msgspec.convert([Attest.__struct_config__.tag, *fields], Attest)
    except msgspec.ValidationError as exc:
        text = str(exc)
        for i, name in enumerate(Attest.__struct_fields__, 1):
            text = text.replace(f"`$[{i}]`", name)
        raise cli.CliError(f"not a valid attestation: {text}") from None
    ident = attestation_id(suite, sender, args.nonce, payload.subject, payload.claim_type)
    return cli.submit_and_report(args, payload, f"attestation 0x{ident.hex()}")


def cmd_revoke(args: argparse.Namespace) -> int:
    """Revoke an attestation (only its attester can)."""
    ident = _id_arg(args.id)
    return cli.submit_and_report(args, RevokeAttestation(id=ident), f"revoke 0x{ident.hex()}")


def _lines(a: dict[str, Any]) -> list[str]:
    out = [
        f"attestation {a['id']}  [{a['status']}]",
        f"  subject     {a['subject']}",
        f"  claim type  {a['claim_type']}",
        f"  attester    {a['attester']}" + (f" ({a['attester_did']})" if a["attester_did"] else ""),
        f"  statement   {a['statement']}",
        f"  made        height {a['height']}, {cli._fmt_time(a['time_ms'])}",
    ]
    if a["expires_at_ms"]:
        out.append(f"  expires     {cli._fmt_time(a['expires_at_ms'])}")
    if a["revoked_height"]:
        out.append(f"  revoked     height {a['revoked_height']}, {cli._fmt_time(a['revoked_ms'])}")
    return out


def _check_proof(args: argparse.Namespace, ident: bytes, res: dict[str, Any]) -> None:
    """The proven record must be the one shown, and the proof and the header must verify.

    Raises:
        cli.ProofFailure: naming the check that failed.
    """
    proof = res.get("proof")
    if not isinstance(proof, dict) or proof.get("value") is None:
        raise cli.ProofFailure("state_proof", "the node sent no proof of the record")
    if not cli._verify_state_answer(args, record_key(ident), proof):
        raise cli.ProofFailure("state_proof", "the proof shows no record at this id")
    try:
        rec = decode(bytes.fromhex(proof["value"][2:]), Attestation)
    except (DecodeError, ValueError) as exc:
        raise cli.ProofFailure("state_proof", f"the proven value is not an attestation: {exc}") from None
    shown = (res["subject"], res["claim_type"], res["attester"], res["statement"], res["revoked_height"])
    proven = (rec.subject, rec.claim_type, "0x" + rec.attester.hex(), "0x" + rec.statement.hex(), rec.revoked_height)
    if shown != proven:
        raise cli.ProofFailure("state_proof", "the attestation shown is not the proven record")


def cmd_show(args: argparse.Namespace) -> int:
    """Show one attestation (``--prove``: verified against the genesis)."""
    ident = _id_arg(args.id)
    res = cli._client(args).get(f"/v1/attestations/0x{ident.hex()}" + ("?prove=true" if args.prove else ""))
    text = _lines(res)
    if args.prove:
        try:
            _check_proof(args, ident, res)
        except cli.ProofFailure as exc:
            res["verified"] = False
            res["failed_check"] = exc.check
            cli._out(args, res, "\n".join([*text, f"  proof       INVALID: {exc}"]))
            return 1
        res["verified"] = True
        text.append(
            f"  proof       verified against block {res['proof']['height']}, final under its commit certificate "
            "from the genesis validators"
        )
    cli._out(args, res, "\n".join(text))
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    """List attestations about a subject or by an attester (one page; ``--after`` for the next)."""
    if (args.subject is None) == (args.attester is None):
        raise cli.CliError("give exactly one of --subject and --attester")
    if args.subject is not None:
        query = f"subject={args.subject}"
    else:
        query = f"attester=0x{cli._address_arg(args, args.attester).hex()}"
    query += f"&limit={args.limit}"
    if args.after:
        query += f"&after=0x{_id_arg(args.after).hex()}"
    res = cli._client(args).get(f"/v1/attestations?{query}")
    text = [f"{len(res['attestations'])} attestation(s) at height {res['height']}"]
    for a in res["attestations"]:
        text.append(f"  {a['id']}  {a['status']:<7}  {a['claim_type']}  {a['subject']}  by {a['attester']}")
    if res["next"]:
        text.append(f"  more: --after {res['next']}")
    cli._out(args, res, "\n".join(text))
    return 0


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``trellis attest ...`` to the CLI's subcommands."""
    a = sub.add_parser("attest", help="attestations: signed statements about a subject").add_subparsers(
        dest="attest_cmd", required=True
    )
    s = a.add_parser("create", parents=[common], help="attest a statement about a subject (prints its id)")
    s.add_argument("subject", help="a DID, or a 0x-hex 32-byte digest")
    s.add_argument("claim_type", help="what kind of statement, e.g. kyc.verified")
    s.add_argument("--statement", help="the statement as text")
    s.add_argument("--statement-file", help="a file whose bytes are the statement (at most 4096)")
    s.add_argument("--statement-digest", help="a file whose digest (the chain suite's hash) is the statement")
    s.add_argument("--expires-at", type=int, help="expiry: block time in ms since the epoch")
    s.add_argument("--expires-in", type=int, help="expiry: seconds from now")
    s.add_argument("--did", help="a did:trellis DID the sending key controls, named as the attester")
    cli.add_submit_options(s)
    s.set_defaults(func=cmd_create)
    s = a.add_parser("revoke", parents=[common], help="revoke an attestation you made")
    s.add_argument("id")
    cli.add_submit_options(s)
    s.set_defaults(func=cmd_revoke)
    s = a.add_parser("show", parents=[common], help="one attestation")
    s.add_argument("id")
    s.add_argument("--prove", action="store_true", help="fetch and verify its state proof and the header's commit")
    s.add_argument("--genesis", help="the chain's genesis.json to verify against (default: the home's)")
    s.set_defaults(func=cmd_show)
    s = a.add_parser("list", parents=[common], help="attestations about a subject or by an attester")
    s.add_argument("--subject")
    s.add_argument("--attester", help="an address or a key name")
    s.add_argument("--limit", type=int, default=100, help="page size, 1 to 100")
    s.add_argument("--after", help="the id printed as 'more' by the previous page")
    s.set_defaults(func=cmd_list)
