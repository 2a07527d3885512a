"""Verifying credentials and presentations against the chain (docs/spec/credentials.md §5).

Every check is reported (``Check``: name, ok, code, reason); a result is verified only if all pass. Time is the
latest committed block's time, never the wall clock; the status bit and the trust registry are read from
committed state, so a revocation committed in block ``h`` is seen by every verification against ``h`` or later.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, runtime_checkable

from trellis.core.codec import decode
from trellis.core.errors import DecodeError
from trellis.core.execution.context import StateReader
from trellis.core.modules.credentials.state import (
    IssuerRecord,
    StatusListRecord,
    issuer_key,
    read_status_bit,
    status_list_key,
)
from trellis.vc.errors import VcError
from trellis.vc.proofs import ProofOptions, split_proof, verify_proof
from trellis.vc.resolver import DidResolver, ResolvedKey, split_vm
from trellis.vc.schemas import check_subject
from trellis.vc.sd import MAX_DISCLOSURES, digest_of, reveal, signed_digests

__all__ = [
    "CREDENTIALS_V2",
    "ChainView",
    "Check",
    "PresentationResult",
    "VerificationResult",
    "parse_time_ms",
    "status_list_id",
    "verify_credential",
    "verify_presentation",
]

CREDENTIALS_V2 = "https://www.w3.org/ns/credentials/v2"
MAX_CREDENTIALS = 16
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})\Z")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_LIST_URL = re.compile(r".*/status-lists/([A-Za-z0-9._-]{1,64})\Z")


class ChainView(StateReader, Protocol):
    """What a verifier reads: committed state (a ``StateReader``), and the latest committed block's height and
    time."""

    @property
    def height(self) -> int:
        """The latest committed block's height."""
        ...

    @property
    def time_ms(self) -> int:
        """The latest committed block's time (ms since the epoch)."""
        ...


@dataclass(frozen=True)
class Check:
    """One check: its name, whether it passed, and if not a stable ``code`` and a readable ``reason``."""

    name: str
    ok: bool
    code: str = ""
    reason: str = ""


@dataclass
class VerificationResult:
    """The outcome of verifying one credential."""

    checks: list[Check] = field(default_factory=list)
    subject: dict[str, Any] | None = None
    """``credentialSubject`` with the disclosed claims restored (None if the credential could not be read)."""
    issuer: str | None = None
    types: list[str] = field(default_factory=list)

    @property
    def verified(self) -> bool:
        """True iff every check passed."""
        return bool(self.checks) and all(c.ok for c in self.checks)

    @property
    def failures(self) -> list[Check]:
        """The checks that failed."""
        return [c for c in self.checks if not c.ok]


@dataclass
class PresentationResult:
    """The outcome of verifying a presentation: its own checks and one result per credential."""

    checks: list[Check] = field(default_factory=list)
    credentials: list[VerificationResult] = field(default_factory=list)

    @property
    def verified(self) -> bool:
        """True iff every check of the presentation and of every credential passed."""
        return (
            bool(self.checks)
            and all(c.ok for c in self.checks)
            and bool(self.credentials)
            and all(r.verified for r in self.credentials)
        )


def parse_time_ms(text: object) -> int:
    """Milliseconds since the epoch of an XML Schema / RFC 3339 dateTime with a zone. Raises ``VcError``."""
    if not isinstance(text, str) or not _DATE.match(text):
        raise VcError("invalid_date", f"{str(text)[:40]!r} is not a dateTime with a time zone")
    try:
        # Exact integer arithmetic: ``timestamp() * 1000`` is a float and read .023 s as 22.999... ms.
        return (datetime.fromisoformat(text.replace("Z", "+00:00")) - _EPOCH) // timedelta(milliseconds=1)
    except ValueError as exc:
        raise VcError("invalid_date", f"{text!r}: {exc}") from exc


def status_list_id(url: object) -> str:
    """The on-chain list id of a ``statusListCredential`` URL (``.../status-lists/<id>``). Raises ``VcError``."""
    m = _LIST_URL.match(url) if isinstance(url, str) and len(url) <= 512 else None
    if m is None:
        raise VcError("malformed_status", "statusListCredential must be a URL ending in /status-lists/<id>")
    return m.group(1)


def _verify_with_key(unsecured: dict[str, Any], parsed: ProofOptions, key: ResolvedKey) -> None:
    """Verify a proof under the resolved key, refusing a key of another suite than the proof's cryptosuite."""
    if key.suite != parsed.cryptosuite.suite.name:
        raise VcError("bad_signature", f"a {key.suite} key cannot verify {parsed.cryptosuite.name}")
    verify_proof(unsecured, parsed, key.public_key)


def _run(result_checks: list[Check], name: str, fn: Callable[[], None]) -> bool:
    try:
        fn()
    except VcError as exc:
        result_checks.append(Check(name, False, exc.code, exc.reason))
        return False
    result_checks.append(Check(name, True))
    return True


def _issuer_id(cred: Mapping[str, Any]) -> str:
    issuer = cred.get("issuer")
    if isinstance(issuer, dict):
        issuer = issuer.get("id")
    if not isinstance(issuer, str) or not issuer:
        raise VcError("malformed", "issuer must be a URL or an object with an id")
    return issuer


def _check_format(cred: Any, kind: str) -> None:
    if not isinstance(cred, dict):
        raise VcError("malformed", f"a {kind} must be a JSON object")
    ctx = cred.get("@context")
    if not isinstance(ctx, list) or not ctx or ctx[0] != CREDENTIALS_V2:
        raise VcError("malformed", f"@context must be a list starting with {CREDENTIALS_V2}")
    types = cred.get("type")
    expected = "VerifiableCredential" if kind == "credential" else "VerifiablePresentation"
    if not isinstance(types, list) or expected not in types or not all(isinstance(t, str) for t in types):
        raise VcError("malformed", f"type must be a list of strings containing {expected}")
    if kind == "credential":
        _issuer_id(cred)
        if not isinstance(cred.get("credentialSubject"), dict):
            raise VcError("malformed", "credentialSubject must be an object")


def _read_issuer(chain: ChainView, did: str) -> IssuerRecord | None:
    raw = chain.get(issuer_key(did))
    return None if raw is None else decode(raw, IssuerRecord)


@runtime_checkable
class StatusSource(Protocol):
    """A resolver that also says where an issuer's status lists are read: another chain's proven state for an
    issuer of that chain (``trellis.app.modules.interchain.CrossChainResolver``), None for this chain's."""

    def status_state(self, issuer: str) -> StateReader | None:
        """The state ``issuer``'s status lists are read from, or None: the verifier's chain."""
        ...


def _check_status(chain: ChainView, cred: Mapping[str, Any], issuer: str, resolver: DidResolver) -> None:
    src: StateReader = chain
    if isinstance(resolver, StatusSource):
        src = resolver.status_state(issuer) or chain
    entries = cred.get("credentialStatus")
    if entries is None:
        return
    if isinstance(entries, dict):
        entries = [entries]
    if not isinstance(entries, list) or len(entries) > 4:
        raise VcError("malformed_status", "credentialStatus must be an object or a list of at most 4")
    for entry in entries:
        if not isinstance(entry, dict) or entry.get("type") != "BitstringStatusListEntry":
            raise VcError("malformed_status", "credentialStatus entries must be BitstringStatusListEntry objects")
        list_id = status_list_id(entry.get("statusListCredential"))
        index_text = entry.get("statusListIndex")
        if not isinstance(index_text, str) or not index_text.isdigit() or len(index_text) > 10:
            raise VcError("malformed_status", "statusListIndex must be a string of decimal digits")
        index = int(index_text)
        raw = src.get(status_list_key(list_id))
        if raw is None:
            raise VcError("unknown_status_list", f"status list {list_id!r} does not exist on this chain")
        try:
            record = decode(raw, StatusListRecord)
        except DecodeError as exc:  # pragma: no cover - state written by the handler always decodes
            raise VcError("unknown_status_list", f"status list {list_id!r} is unreadable") from exc
        if record.issuer != issuer:
            raise VcError("status_list_not_issuers", f"status list {list_id!r} belongs to {record.issuer}")
        if entry.get("statusPurpose") != record.purpose:
            raise VcError("malformed_status", f"status list {list_id!r} is a {record.purpose} list")
        if index >= record.size:
            raise VcError("status_index_out_of_range", f"index {index} is past the list's {record.size} entries")
        if read_status_bit(src, list_id, index):
            code = "revoked" if record.purpose == "revocation" else "suspended"
            raise VcError(code, f"the credential is {code} (list {list_id!r}, index {index}, at height {chain.height})")


def verify_credential(
    cred: Any, chain: ChainView, resolver: DidResolver, *, disclosures: list[str] | None = None
) -> VerificationResult:
    """Verify a credential: format, proof, issuer authority, validity period, disclosures, schema, status.

    ``cred`` is checked exactly as given: every member but ``proof`` is covered by the issuer's proof (a
    ``disclosures`` member inside a credential is not removed, so it breaks the proof, as it would in any
    standard verifier). ``disclosures`` are the selectively disclosed claims given beside the credential (a
    presentation carries them in its own ``disclosures`` member, under the holder's proof).
    """
    result = VerificationResult()
    checks = result.checks
    if not _run(checks, "format", lambda: _check_format(cred, "credential")):
        return result
    if disclosures is None:
        disclosures = []
    issuer = result.issuer = _issuer_id(cred)
    types = result.types = [t for t in cred["type"] if t != "VerifiableCredential"]

    def proof() -> None:
        unsecured, parsed = split_proof(cred)
        if parsed.purpose != "assertionMethod":
            raise VcError("wrong_proof_purpose", "a credential's proof must have proofPurpose assertionMethod")
        did, _ = split_vm(parsed.verification_method)
        created = parsed.options.get("created")
        at_ms = parse_time_ms(created) if created is not None else None
        if at_ms is not None and at_ms > chain.time_ms:
            raise VcError("proof_in_future", "the proof was created after the latest block's time")
        key = resolver.resolve_key(parsed.verification_method, at_ms)
        if did != issuer or key.controller != issuer:
            raise VcError("key_not_issuers", f"the proof's key belongs to {key.controller}, not the issuer {issuer}")
        if "assertionMethod" not in key.purposes:
            raise VcError("key_not_authorised", "the key is not an assertionMethod of the issuer")
        _verify_with_key(unsecured, parsed, key)

    _run(checks, "proof", proof)

    def authority() -> None:
        record = _read_issuer(chain, issuer)
        if record is None:
            raise VcError("issuer_not_registered", f"{issuer} is not in the trust registry")
        missing = [t for t in types if t not in record.types]
        if missing:
            raise VcError("type_not_authorised", f"{issuer} may not issue {', '.join(missing)}")

    _run(checks, "issuer", authority)

    def validity() -> None:
        now = chain.time_ms
        if "validFrom" in cred and parse_time_ms(cred["validFrom"]) > now:
            raise VcError("not_yet_valid", f"validFrom {cred['validFrom']} is after the latest block's time")
        if "validUntil" in cred and parse_time_ms(cred["validUntil"]) <= now:
            raise VcError("expired", f"validUntil {cred['validUntil']} has passed at the latest block's time")

    _run(checks, "validity", validity)

    def disclosed() -> None:
        result.subject = reveal(cred["credentialSubject"], disclosures)

    if _run(checks, "disclosures", disclosed):
        subject = result.subject
        assert subject is not None
        _run(checks, "schema", lambda: check_subject(types, subject))
    _run(checks, "status", lambda: _check_status(chain, cred, issuer, resolver))
    return result


def _assign_disclosures(disclosures: object, creds: list[Any], out: list[list[str]]) -> None:
    """Give each of a presentation's disclosures to the credential whose signed ``_sd`` holds its digest.

    Raises:
        VcError: ``malformed_disclosure`` (not a list of at most ``MAX_DISCLOSURES`` strings),
            ``tampered_disclosure`` (a disclosure whose digest no credential of the presentation signed).
    """
    if not isinstance(disclosures, list) or len(disclosures) > MAX_DISCLOSURES:
        raise VcError("malformed_disclosure", f"disclosures must be a list of at most {MAX_DISCLOSURES} strings")
    signed = [signed_digests(c.get("credentialSubject")) if isinstance(c, dict) else None for c in creds]
    for disclosure in disclosures:
        for i, sd in enumerate(signed):
            if sd is not None and digest_of(sd[0], disclosure) in sd[1]:
                out[i].append(disclosure)
                break
        else:
            raise VcError(
                "tampered_disclosure", "a disclosure matches no digest signed by a presented credential's issuer"
            )


def verify_presentation(
    vp: Any, chain: ChainView, resolver: DidResolver, *, challenge: str, domain: str
) -> PresentationResult:
    """Verify a holder-signed presentation: format, holder proof (challenge, domain, authentication key), the
    disclosures (each matched to the credential whose issuer signed its digest), each credential exactly as its
    issuer signed it, and that the holder is each credential's subject."""
    result = PresentationResult()
    checks = result.checks
    if not _run(checks, "format", lambda: _check_format(vp, "presentation")):
        return result
    holder = vp.get("holder")
    creds = vp.get("verifiableCredential")

    def shape() -> None:
        if not isinstance(holder, str) or not holder:
            raise VcError("malformed", "holder must be the holder's DID")
        if not isinstance(creds, list) or not 1 <= len(creds) <= MAX_CREDENTIALS:
            raise VcError("malformed", f"verifiableCredential must hold 1 to {MAX_CREDENTIALS} credentials")

    if not _run(checks, "holder", shape):
        return result

    def proof() -> None:
        unsecured, parsed = split_proof(vp)
        if parsed.purpose != "authentication":
            raise VcError("wrong_proof_purpose", "a presentation's proof must have proofPurpose authentication")
        if parsed.options.get("challenge") != challenge:
            raise VcError("wrong_challenge", "the proof's challenge is not the one this verifier issued")
        if parsed.options.get("domain") != domain:
            raise VcError("wrong_domain", "the proof's domain is not this verifier's")
        key = resolver.resolve_key(parsed.verification_method, None)
        if key.controller != holder:
            raise VcError("key_not_holders", f"the proof's key belongs to {key.controller}, not the holder {holder}")
        if "authentication" not in key.purposes:
            raise VcError("key_not_authorised", "the key is not an authentication key of the holder")
        _verify_with_key(unsecured, parsed, key)

    _run(checks, "holder_proof", proof)
    per_credential: list[list[str]] = [[] for _ in creds]
    _run(checks, "disclosures", lambda: _assign_disclosures(vp.get("disclosures", []), creds, per_credential))
    for cred, chosen in zip(creds, per_credential, strict=True):
        result.credentials.append(verify_credential(cred, chain, resolver, disclosures=chosen))

    def binding() -> None:
        for r in result.credentials:
            if r.subject is not None and r.subject.get("id") != holder:
                raise VcError("holder_not_subject", f"the holder {holder} is not the subject of a credential")

    _run(checks, "holder_binding", binding)
    return result
