"""``trellis directory publish|update|withdraw|search|show|versions|request|decide|requests``: the cross-chain data
directory from the command line (ADR 0016 section 4).

``publish`` and ``request`` print the new entry's or request's id, computed here from the chain id, the sender and
the nonce exactly as the chain computes it (so it is known even with ``--no-wait``). ``update`` starts from the
entry's current fields on the node and changes those given. ``show --prove`` trusts the node only through proofs:
this chain's entry is checked against the header, the header's commit certificate from the genesis validators
through every validator-set change; a hub's mirror also has the hub's proofs of its client of the home chain and of
that client's consensus state checked the same way, and the home chain's proof of the entry checked against that
consensus state's state root. Every record printed is the proven one, decoded and rendered as the API renders it
(``entry_json``): any field the node sent that differs (``verified_against`` too) is refused, naming the fields; the
hub's client and consensus-state proofs must be at the mirror proof's height, the consensus state at the client's
latest height, the client not frozen; ``mirror_stale`` is computed from the proven versions. It prints VERIFIED,
or the check that failed (exit 1).
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

import msgspec

from trellis.api.directory import entry_json
from trellis.api.hexjson import unhex
from trellis.api.types import StateProofJson, proof_from_json
from trellis.cli import main as cli
from trellis.core.codec import decode
from trellis.core.crypto.suite import Suite, UnknownSuite, address_of, suite_by_name
from trellis.core.errors import DecodeError, ProofError
from trellis.core.ledger.state_tree import root_from_state_proof
from trellis.core.modules.directory.messages import (
    ACCESS_NAMES,
    CREDENTIAL_REQUIRED,
    DirectoryDecide,
    DirectoryPublish,
    DirectoryRequestAccess,
    DirectoryUpdate,
    DirectoryWithdraw,
    EntryFields,
)
from trellis.core.modules.directory.state import Entry, Mirror, entry_id, entry_key, mirror_key, request_id
from trellis.core.modules.interchain.state import ClientState, ConsensusState, client_key, consensus_key
from trellis.keys.signer import KeyStoreError

__all__ = ["register"]

_ACCESS = {name: code for code, name in ACCESS_NAMES.items()}
_ZERO = b"\x00" * 32


def _hex32(text: str, what: str) -> bytes:
    t = text.removeprefix("0x").removeprefix("0X")
    try:
        if len(t) == 64:
            return bytes.fromhex(t)
    except ValueError:
        pass
    raise cli.CliError(f"{what} {text!r} is not 64 hex digits")


def _suite_sender(args: argparse.Namespace) -> tuple[Suite, str, bytes]:
    """The chain's suite and id (from the node) and the sending key's address; fixes ``args.nonce``."""
    client = cli._client(args)
    status = client.get("/v1/status")
    try:
        suite = suite_by_name(str(status.get("suite", "ed25519")))
    except UnknownSuite as exc:
        raise cli.CliError(f"the node's chain uses a crypto suite this client does not know: {exc}") from None
    try:
        public_key = cli._keystore(args).info(args.sender).public_key
    except KeyStoreError as exc:
        raise cli.CliError(str(exc)) from None
    sender = address_of(suite, public_key)
    if args.nonce is None:  # fixed here, so the id computed is the one the chain computes
        args.nonce = client.get(f"/v1/accounts/0x{sender.hex()}")["next_nonce"]
    return suite, str(status["chain_id"]), sender


def _fields(args: argparse.Namespace, base: dict[str, Any]) -> EntryFields:
    """``base`` (field name -> value) with the options given, checked with the decoding bounds the node applies."""
    given = {
        "title": args.title,
        "type": args.type,
        "receipt_ref": args.receipt,
        "location": args.location,
        "licence": args.licence,
        "credential_type": args.credential_type,
    }
    for name, value in given.items():
        if value is not None:
            base[name] = value
    if args.keyword is not None:
        base["keywords"] = args.keyword
    if args.no_keywords:
        base["keywords"] = []
    if args.digest is not None:
        base["digest"] = _ZERO if args.digest == "" else _hex32(args.digest, "--digest")
    if args.access is not None:
        base["access"] = _ACCESS[args.access]
    order = EntryFields.__struct_fields__
    missing = [n for n in order if n not in base]
    if missing:
        raise cli.CliError("missing: " + ", ".join(f"--{n.replace('_', '-')}" for n in missing))
    try:
        fields = msgspec.convert([base[n] for n in order], EntryFields)
    except msgspec.ValidationError as exc:
        # msgspec names the place as a path into the array ("$[3][0]"): name the field instead ("keywords[0]")
        text = re.sub(r"`\$\[(\d+)\]((?:\[\d+\])*)`", lambda m: _field_path(order, m), str(exc))
        raise cli.CliError(f"not a valid directory entry: {text}") from None
    # the chain's rules the types cannot state (directory.handlers.check_fields, which the CLI may not import)
    if len(set(fields.keywords)) != len(fields.keywords):
        raise cli.CliError(f"not a valid directory entry: keywords repeat one another: {list(fields.keywords)}")
    if fields.access == CREDENTIAL_REQUIRED and not fields.credential_type:
        raise cli.CliError(
            "not a valid directory entry: access credential_required needs a credential_type (give --credential-type)"
        )
    if fields.access != CREDENTIAL_REQUIRED and fields.credential_type:
        raise cli.CliError(
            "not a valid directory entry: credential_type is only for access 3 (credential_required), not "
            f"{ACCESS_NAMES[fields.access]} (give --credential-type '' to clear it)"
        )
    return fields


def _field_path(order: tuple[str, ...], m: re.Match[str]) -> str:
    i = int(m.group(1))
    return (order[i] if i < len(order) else m.group(0)) + m.group(2)


def cmd_publish(args: argparse.Namespace) -> int:
    """Publish an entry; print its id."""
    base: dict[str, Any] = {
        "owner_did": args.owner_did,
        "keywords": [],
        "digest": _ZERO,
        "receipt_ref": "",
        "location": "",
        "licence": "",
        "credential_type": "",
    }
    f = _fields(args, base)
    suite, chain_id, sender = _suite_sender(args)
    ident = entry_id(suite, chain_id, sender, args.nonce)
    return cli.submit_and_report(args, DirectoryPublish(entry=f), f"entry 0x{ident.hex()}")


def cmd_update(args: argparse.Namespace) -> int:
    """Update an entry: its current fields with the options given."""
    ident = _hex32(args.id, "the entry id")
    cur = cli._client(args).get(f"/v1/directory/0x{ident.hex()}")["entry"]
    if cur["mirrored"]:
        raise cli.CliError(f"entry 0x{ident.hex()} is a mirror of chain {cur['chain_id']}: update it there")
    base = {
        "owner_did": cur["owner_did"],
        "title": cur["title"],
        "type": cur["type"],
        "keywords": cur["keywords"],
        "digest": _ZERO if cur["digest"] is None else unhex(cur["digest"]),
        "receipt_ref": cur["receipt_ref"],
        "location": cur["location"],
        "licence": cur["licence"],
        "access": _ACCESS[cur["access"]],
        "credential_type": cur["credential_type"],
    }
    f = _fields(args, base)
    return cli.submit_and_report(args, DirectoryUpdate(id=ident, entry=f), f"update 0x{ident.hex()}")


def cmd_withdraw(args: argparse.Namespace) -> int:
    """Withdraw an entry."""
    ident = _hex32(args.id, "the entry id")
    return cli.submit_and_report(
        args, DirectoryWithdraw(id=ident, reason=args.reason or ""), f"withdraw 0x{ident.hex()}"
    )


def _summary(e: dict[str, Any]) -> str:
    where = f"{e['chain_id']}" + (f" (mirrored, home height {e['home_height']})" if e["mirrored"] else "")
    state = " WITHDRAWN" if e["withdrawn"] else ""
    return f"  {e['id']}  v{e['version']}{state}  {e['type']}  {e['title']!r}  on {where}"


def cmd_search(args: argparse.Namespace) -> int:
    """Search the directory (one page; ``--cursor`` for the next)."""
    from urllib.parse import urlencode

    params = {"owner": args.owner, "type": args.type, "q": args.q, "chain": args.chain, "cursor": args.cursor}
    query = {k: v for k, v in params.items() if v}
    query["limit"] = str(args.limit)
    res = cli._client(args).get(f"/v1/directory?{urlencode(query)}")
    text = [f"{len(res['entries'])} entr{'y' if len(res['entries']) == 1 else 'ies'} at height {res['height']}"]
    text += [_summary(e) for e in res["entries"]]
    if res["next"]:
        text.append(f"  more: --cursor {res['next']}")
    cli._out(args, res, "\n".join(text))
    return 0


def _lines(e: dict[str, Any]) -> list[str]:
    out = [
        f"entry {e['id']}  v{e['version']}"
        + (
            "  [withdrawn" + (f": {e['withdraw_reason']}" if e["withdraw_reason"] else "") + "]"
            if e["withdrawn"]
            else ""
        ),
        f"  title       {e['title']}",
        f"  type        {e['type']}",
        f"  owner       {e['owner_did']} ({e['owner']})",
        f"  home chain  {e['chain_id']}, published at height {e['created_height']}, this version {e['updated_height']}",
        f"  access      {e['access']}" + (f" ({e['credential_type']})" if e["credential_type"] else ""),
    ]
    for name in ("keywords", "digest", "location", "licence", "receipt_ref"):
        value = e[name]
        if value:
            out.append(f"  {name:<11} {', '.join(value) if isinstance(value, list) else value}")
    if e["mirrored"]:
        out.append(
            f"  mirrored    over {e['channel']} at height {e['received_height']} (home height {e['home_height']})"
        )
    return out


def _as_json(e: Entry, mirror: Mirror | None = None) -> dict[str, Any]:
    """A proven record rendered exactly as the node's API renders it (``trellis.api.directory.entry_json``)."""
    out: dict[str, Any] = msgspec.json.decode(msgspec.json.encode(entry_json(e, mirror)))
    return out


def _same(proven: dict[str, Any], shown: Any, check: str, what: str) -> None:
    """Refuse unless the record the node sent is, field by field, the proven one (naming the fields that differ)."""
    if not isinstance(shown, dict):
        raise cli.ProofFailure(check, f"the node sent no {what}")
    diff = sorted(k for k in proven.keys() | shown.keys() if proven.get(k, _MISSING) != shown.get(k, _MISSING))
    if diff:
        raise cli.ProofFailure(check, f"the {what} shown is not the proven record: {', '.join(diff)} differ")


_MISSING = object()


def _proven_value(args: argparse.Namespace, key: bytes, proof: Any, what: str) -> bytes:
    if not isinstance(proof, dict) or proof.get("value") is None:
        raise cli.ProofFailure("state_proof", f"the node sent no proof of {what}")
    if not cli._verify_state_answer(args, key, proof):
        raise cli.ProofFailure("state_proof", f"the proof shows no {what}")
    return unhex(proof["value"])


def _decoded(raw: bytes, type_: type[Any], what: str) -> Any:
    try:
        return decode(raw, type_)
    except DecodeError as exc:
        raise cli.ProofFailure("state_proof", f"the proven {what} does not decode: {exc}") from None


def _height(proof: Any, what: str) -> int:
    try:
        return int(proof["height"])
    except (KeyError, TypeError, ValueError):
        raise cli.ProofFailure("home_proof", f"the {what} names no height") from None


def _check_proof(args: argparse.Namespace, ident: bytes, res: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """Verify the answer's proofs (see the module docstring); return what was verified and the answer rebuilt from
    the proven records only (``entry``, ``home_proof.entry``, ``mirror_stale`` computed here).

    Raises:
        cli.ProofFailure: naming the check that failed.
    """
    shown = res["entry"]
    out = dict(res)
    if not isinstance(shown, dict) or not shown.get("mirrored"):
        rec = _decoded(_proven_value(args, entry_key(ident), res.get("proof"), "entry"), Entry, "entry")
        out["entry"] = _as_json(rec)
        _same(out["entry"], shown, "state_proof", "entry")
        return f"VERIFIED against block {res['proof']['height']}, final under its commit certificate", out
    mirror = _decoded(_proven_value(args, mirror_key(ident), res.get("proof"), "mirror"), Mirror, "mirror")
    rec = _decoded(mirror.entry, Entry, "mirrored entry")
    if rec.id != ident or mirror.chain_id != rec.chain_id:
        raise cli.ProofFailure("state_proof", "the proven mirror is not of this entry or of its home chain")
    out["entry"] = _as_json(rec, mirror)
    _same(out["entry"], shown, "state_proof", "mirror")
    height = _height(res["proof"], "mirror's proof")
    home = res.get("home_proof")
    if not isinstance(home, dict):
        raise cli.ProofFailure("home_proof", "the node sent no proof from the home chain")
    try:
        against = home["verified_against"]
        client_id, anchor = str(against["client_id"]), int(against["height"])
        client_proof, consensus_proof = home["client_proof"], home["consensus_proof"]
    except (KeyError, TypeError, ValueError):
        raise cli.ProofFailure("home_proof", "malformed home chain proof: no verified_against") from None
    # the client and its consensus state as the hub holds them at the mirror's height, not at some other height
    for name, p in (("client", client_proof), ("consensus state", consensus_proof)):
        if _height(p, f"proof of the {name}") != height:
            raise cli.ProofFailure(
                "home_proof", f"the proof of the {name} is at height {p['height']}, not the mirror's {height}"
            )
    cs = _decoded(_proven_value(args, client_key(client_id), client_proof, "client"), ClientState, "client")
    if cs.chain_id != mirror.chain_id:
        raise cli.ProofFailure("home_proof", f"client {client_id} is of chain {cs.chain_id!r}, not {mirror.chain_id!r}")
    if cs.frozen_height != 0:
        raise cli.ProofFailure("home_proof", f"client {client_id} is frozen (at height {cs.frozen_height})")
    if anchor != cs.latest_height:
        raise cli.ProofFailure(
            "home_proof", f"the home proof is at height {anchor}, not the client's latest {cs.latest_height}"
        )
    cons_raw = _proven_value(args, consensus_key(client_id, anchor), consensus_proof, "consensus state")
    cons = _decoded(cons_raw, ConsensusState, "consensus state")
    expected = {
        "chain_id": cs.chain_id,
        "client_id": client_id,
        "height": anchor,
        "state_root": "0x" + cons.state_root.hex(),
        "block_id": "0x" + cons.block_id.hex(),
    }
    _same(expected, against, "home_proof", "verified_against")
    try:
        suite = suite_by_name(cs.suite)
        proof = proof_from_json(msgspec.convert(home["proof"], StateProofJson))
        value = None if home["value"] is None else unhex(home["value"])
    except (UnknownSuite, DecodeError, msgspec.ValidationError, KeyError, TypeError, ValueError) as exc:
        raise cli.ProofFailure("home_proof", f"malformed home chain proof: {exc}") from None
    if proof.height != anchor:
        raise cli.ProofFailure("home_proof", f"the home chain's proof is at height {proof.height}, not {anchor}")
    try:
        root = root_from_state_proof(suite, entry_key(ident), value, proof)
    except ProofError as exc:
        raise cli.ProofFailure("home_proof", f"the home chain's proof is refused: {exc}") from None
    if root != cons.state_root:
        raise cli.ProofFailure("home_proof", "the home chain's proof does not reach the client's consensus state root")
    out_home = dict(home)
    out["home_proof"] = out_home
    if value is None:
        if home.get("entry") is not None:
            raise cli.ProofFailure("home_proof", "the home chain entry shown is proven absent")
        out["mirror_stale"] = False
        return (f"VERIFIED the hub's mirror; the home chain {cs.chain_id} has NO such entry at height {anchor} (proven "
                "absent)"), out  # fmt: skip
    home_rec = _decoded(value, Entry, "home chain entry")
    out_home["entry"] = _as_json(home_rec)
    _same(out_home["entry"], home.get("entry"), "home_proof", "home chain entry")
    stale = home_rec.version > rec.version  # computed from the proven versions: the node's flag is not trusted
    out["mirror_stale"] = stale
    if res.get("mirror_stale") is not None and bool(res["mirror_stale"]) != stale:
        raise cli.ProofFailure("home_proof", "mirror_stale does not match the proven versions")
    return (
        f"VERIFIED: the hub's mirror (block {height}, final under its commit certificate) and the "
        f"home chain {cs.chain_id}'s entry v{home_rec.version} at height {anchor}, against the hub's client "
        f"{client_id}" + ("; the mirror is STALE (home has a newer version)" if stale else ""),
        out,
    )


def cmd_show(args: argparse.Namespace) -> int:
    """Show one entry (``--prove``: verified)."""
    ident = _hex32(args.id, "the entry id")
    res = cli._client(args).get(f"/v1/directory/0x{ident.hex()}" + ("?prove=true" if args.prove else ""))
    text = _lines(res["entry"])
    if args.prove:
        try:
            said, proven = _check_proof(args, ident, res)
        except cli.ProofFailure as exc:
            res["verified"] = False
            res["failed_check"] = exc.check
            cli._out(args, res, "\n".join([*text, f"  proof       NOT VERIFIED: {exc}"]))
            return 1
        res = {**proven, "verified": True}  # only what was proven is printed
        text = [*_lines(res["entry"]), f"  proof       {said}"]
    cli._out(args, res, "\n".join(text))
    return 0


def cmd_versions(args: argparse.Namespace) -> int:
    """An entry's versions, oldest first."""
    ident = _hex32(args.id, "the entry id")
    res = cli._client(args).get(f"/v1/directory/0x{ident.hex()}/versions?limit={args.limit}&after={args.after}")
    text = [f"entry {res['id']}: {len(res['versions'])} version(s)"]
    for e in res["versions"]:
        text.append(
            f"  v{e['version']}  height {e['updated_height']}  {e['title']!r}"
            + ("  withdrawn" if e["withdrawn"] else "")
        )
    if res["next"] is not None:
        text.append(f"  more: --after {res['next']}")
    cli._out(args, res, "\n".join(text))
    return 0


def cmd_request(args: argparse.Namespace) -> int:
    """Ask for access to an entry's resource; print the request's id."""
    entry = _hex32(args.entry_id, "the entry id")
    suite, _, sender = _suite_sender(args)
    digest = _ZERO
    if args.presentation is not None:
        try:
            digest = suite.hash(Path(args.presentation).read_bytes())  # only its digest goes on chain
        except OSError as exc:
            raise cli.CliError(f"cannot read {args.presentation}: {exc.strerror or exc}") from None
    try:
        msg = msgspec.convert(
            [DirectoryRequestAccess.__struct_config__.tag, entry, digest, args.purpose], DirectoryRequestAccess
        )
    except msgspec.ValidationError as exc:
        raise cli.CliError(f"not a valid access request: {exc}") from None
    ident = request_id(suite, entry, sender, args.nonce)
    return cli.submit_and_report(args, msg, f"request 0x{ident.hex()}")


def cmd_decide(args: argparse.Namespace) -> int:
    """Grant or refuse an access request (the entry's owner)."""
    ident = _hex32(args.request_id, "the request id")
    if args.expires_at is not None and args.refuse:
        raise cli.CliError("a refusal has no expiry: --expires-at goes with --grant")
    if args.expires_at is not None and args.expires_at < 0:
        raise cli.CliError("--expires-at is a block time in ms since the epoch")
    try:
        msg = DirectoryDecide(
            request_id=ident, grant=args.grant, expires_at_ms=args.expires_at or 0, reason=args.reason or ""
        )
        msg = msgspec.convert(msgspec.to_builtins(msg), DirectoryDecide)
    except msgspec.ValidationError as exc:
        raise cli.CliError(f"not a valid decision: {exc}") from None
    return cli.submit_and_report(args, msg, f"{'grant' if args.grant else 'refuse'} 0x{ident.hex()}")


def cmd_requests(args: argparse.Namespace) -> int:
    """Access requests for an entry or by a requester (one page; ``--cursor`` for the next)."""
    if (args.entry is None) == (args.requester is None):
        raise cli.CliError("give exactly one of --entry and --requester")
    if args.entry is not None:
        query = f"entry=0x{_hex32(args.entry, '--entry').hex()}"
    else:
        query = f"requester=0x{cli._address_arg(args, args.requester).hex()}"
    query += f"&limit={args.limit}"
    if args.cursor:
        query += f"&cursor=0x{_hex32(args.cursor, '--cursor').hex()}"
    res = cli._client(args).get(f"/v1/directory/requests?{query}")
    text = [f"{len(res['requests'])} request(s) at height {res['height']}"]
    for r in res["requests"]:
        text.append(
            f"  {r['id']}  {r['status']:<8}  entry {r['entry_id']}  by {r['requester']}  purpose {r['purpose']!r}"
            + (f"  until {cli._fmt_time(r['expires_at_ms'])}" if r["expires_at_ms"] else "")
        )
    if res["next"]:
        text.append(f"  more: --cursor {res['next']}")
    cli._out(args, res, "\n".join(text))
    return 0


def _field_options(s: argparse.ArgumentParser, publish: bool) -> None:
    s.add_argument("--title", required=publish, help="a human title (at most 200 characters)")
    s.add_argument("--type", required=publish, help="the resource's schema IRI or type token")
    s.add_argument("--keyword", action="append", help="a lower-case keyword (repeat; at most 16)")
    s.add_argument("--digest", help="the resource's digest, 64 hex digits ('' clears it on update)")
    s.add_argument("--receipt", help="a notary receipt reference for the resource")
    s.add_argument("--location", help="where the resource is (a URI)")
    s.add_argument("--licence", help="its licence (SPDX id or URI)")
    s.add_argument("--access", choices=sorted(_ACCESS), required=publish, help="the access policy")
    s.add_argument("--credential-type", help="the credential a request must present (credential_required)")
    if not publish:
        s.add_argument("--no-keywords", action="store_true", help="drop every keyword")
    else:
        s.set_defaults(no_keywords=False)
    cli.add_submit_options(s)


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``trellis directory ...`` to the CLI's subcommands."""
    d = sub.add_parser("directory", help="the cross-chain data directory").add_subparsers(
        dest="directory_cmd", required=True
    )
    s = d.add_parser("publish", parents=[common], help="publish an entry describing a data resource (prints its id)")
    s.add_argument("--owner-did", required=True, help="a did:trellis DID of this chain that the sending key controls")
    _field_options(s, publish=True)
    s.set_defaults(func=cmd_publish)
    s = d.add_parser("update", parents=[common], help="change an entry you own (the options given)")
    s.add_argument("id")
    _field_options(s, publish=False)
    s.set_defaults(func=cmd_update)
    s = d.add_parser("withdraw", parents=[common], help="withdraw an entry you own")
    s.add_argument("id")
    s.add_argument("--reason", help="why")
    cli.add_submit_options(s)
    s.set_defaults(func=cmd_withdraw)
    s = d.add_parser("search", parents=[common], help="search entries (every filter given must hold)")
    s.add_argument("--owner", help="the owner's DID")
    s.add_argument("--type", help="the resource type")
    s.add_argument("--q", help="words: each a keyword or a title word")
    s.add_argument("--chain", help="the home chain (default: every chain)")
    s.add_argument("--limit", type=int, default=20, help="page size, 1 to 100")
    s.add_argument("--cursor", help="the id printed as 'more' by the previous page")
    s.set_defaults(func=cmd_search)
    s = d.add_parser("show", parents=[common], help="one entry")
    s.add_argument("id")
    s.add_argument("--prove", action="store_true", help="fetch and verify its proofs (a mirror's: both chains')")
    s.add_argument("--genesis", help="the chain's genesis.json to verify against (default: the home's)")
    s.set_defaults(func=cmd_show)
    s = d.add_parser("versions", parents=[common], help="an entry's versions, oldest first")
    s.add_argument("id")
    s.add_argument("--limit", type=int, default=100, help="page size, 1 to 100")
    s.add_argument("--after", type=int, default=0, help="the version printed as 'more' by the previous page")
    s.set_defaults(func=cmd_versions)
    s = d.add_parser("request", parents=[common], help="ask an entry's owner for access (prints the request id)")
    s.add_argument("entry_id")
    s.add_argument("--purpose", required=True, help="what the data will be used for")
    s.add_argument("--presentation", help="a presentation file given to the owner's service: its digest goes on chain")
    cli.add_submit_options(s)
    s.set_defaults(func=cmd_request)
    s = d.add_parser("decide", parents=[common], help="grant or refuse an access request to your entry")
    s.add_argument("request_id")
    g = s.add_mutually_exclusive_group(required=True)
    g.add_argument("--grant", action="store_true")
    g.add_argument("--refuse", action="store_true")
    s.add_argument("--expires-at", type=int, help="a grant's end: block time in ms since the epoch")
    s.add_argument("--reason", help="why")
    cli.add_submit_options(s)
    s.set_defaults(func=cmd_decide)
    s = d.add_parser("requests", parents=[common], help="access requests for an entry or by a requester")
    s.add_argument("--entry", help="an entry id")
    s.add_argument("--requester", help="an address or a key name")
    s.add_argument("--limit", type=int, default=100, help="page size, 1 to 100")
    s.add_argument("--cursor", help="the id printed as 'more' by the previous page")
    s.set_defaults(func=cmd_requests)
