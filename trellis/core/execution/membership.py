"""The ``membership`` module: identity certificates, revocations and governance of the member organisations.

Everything is judged at the block's time (``time_ms``), never a clock. X.509 parsing and the CA signature check
are pure calls into ``cryptography``; its exceptions are translated here into ``CertificateRefused`` with a
precise code. See docs/spec/membership.md for the rules and docs/adr/0009-membership.md for the design.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.x509.oid import NameOID

from trellis.core.codec import decode, encode
from trellis.core.crypto.suite import Suite, address_of
from trellis.core.errors import InvalidBlock, TrellisError
from trellis.core.execution.results import ResultCode, TxFailure
from trellis.core.execution.state_keys import (
    MAX_CERTS_PER_ADDRESS,
    MEMBERSHIP_KEY,
    CertEntry,
    CertRecord,
    MemberOrg,
    MembershipConfig,
    MembershipProposal,
    RevokedCert,
    cert_key,
    membership_proposal_key,
    revoked_key,
)
from trellis.core.ledger.block import Event
from trellis.core.ledger.tx import (
    AddCa,
    AddOrg,
    ApproveMembership,
    MembershipChange,
    Payload,
    ProposeMembership,
    RegisterCert,
    RemoveCa,
    RemoveOrg,
    RevokeCert,
    SetThreshold,
    SubmitEvidence,
)
from trellis.core.modules.validators.handlers import (
    apply_change_in_block,
    is_validator_change,
    orgs_with_validators,
    precheck_change,
    validators_version,
)

ROLES = ("admin", "client", "node", "regulator")
"""The roles an identity certificate may carry (its subject's ``OU``)."""

GOVERNANCE_MESSAGES = (ProposeMembership, ApproveMembership, RevokeCert)
"""Messages only an ``admin`` may send."""

MAX_ORGS = 64
"""Most member organisations."""

GetFn = Callable[[bytes], bytes | None]


class CertificateRefused(TrellisError):
    """A certificate (or a sender's lack of one) that the membership rules refuse; ``code`` names the rule.

    Codes: ``malformed_certificate``, ``unsupported_key``, ``no_role``, ``unknown_ca``, ``wrong_org``,
    ``certificate_not_yet_valid``, ``certificate_expired``, ``certificate_revoked``, ``unknown_certificate``,
    ``key_mismatch``, ``role_not_permitted``, ``no_membership``.
    """

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code


class MembershipRefusal(InvalidBlock):
    """A block with a transaction whose sender the membership refuses.

    Attributes:
        code: the rule (a ``CertificateRefused`` code).
        tx_index: the transaction's position in the block.
        tx_hash: its hash.
    """

    def __init__(self, code: str, reason: str, tx_index: int, tx_hash: bytes) -> None:
        super().__init__(code, f"transaction {tx_index} ({tx_hash.hex()}): {reason}")
        self.tx_index = tx_index
        self.tx_hash = tx_hash


@dataclass(frozen=True)
class IdentityCert:
    """An identity certificate's facts, as parsed (not yet checked against a CA or a time).

    Attributes:
        der: the certificate's DER bytes.
        public_key: the subject's raw Ed25519 public key.
        org: the subject's ``O``.
        role: the subject's ``OU`` (one of ``ROLES``).
        serial: the serial number, unsigned big-endian.
        not_before_ms, not_after_ms: validity, in ms since the epoch.
    """

    der: bytes
    public_key: bytes
    org: str
    role: str
    serial: bytes
    not_before_ms: int
    not_after_ms: int


_PARSE_ERRORS = (
    ValueError,
    TypeError,
    OverflowError,
    UnsupportedAlgorithm,
    x509.InvalidVersion,
    x509.ExtensionNotFound,
    x509.DuplicateExtension,
)
"""Everything ``cryptography`` raises on hostile certificate bytes (``InvalidVersion`` and
``DuplicateExtension``, raised when the extensions are first read, are no ValueError)."""


def _load_der(der: bytes) -> x509.Certificate:
    try:
        return x509.load_der_x509_certificate(der)
    except _PARSE_ERRORS as exc:
        raise CertificateRefused("malformed_certificate", "not a DER-encoded X.509 certificate") from exc


def _single_attr(name: x509.Name, oid: x509.ObjectIdentifier) -> str | None:
    values = name.get_attributes_for_oid(oid)
    if len(values) != 1 or not isinstance(values[0].value, str):
        return None
    return values[0].value


def _serial_bytes(n: int) -> bytes:
    if n <= 0 or n.bit_length() > 160:
        raise CertificateRefused("malformed_certificate", "the serial number must be positive and at most 20 bytes")
    return n.to_bytes((n.bit_length() + 7) // 8, "big")


def _validity_ms(cert: x509.Certificate) -> tuple[int, int]:
    # timestamp() of an aware datetime is arithmetic on its fields, no clock; X.509 times are whole seconds.
    start = int(cert.not_valid_before_utc.timestamp()) * 1000
    end = int(cert.not_valid_after_utc.timestamp()) * 1000
    return max(start, 0), max(end, 0)


def parse_identity_cert(der: bytes) -> IdentityCert:
    """Parse an identity certificate: an Ed25519 subject key, one ``O``, one ``OU`` naming a role.

    Args:
        der: the certificate's DER bytes.

    Returns:
        The certificate's facts.

    Raises:
        CertificateRefused: ``malformed_certificate`` (not X.509, or no single ``O``), ``unsupported_key``
            (the subject key is not Ed25519), ``no_role`` (no ``OU`` naming one of ``ROLES``).
    """
    cert = _load_der(der)
    try:
        key = cert.public_key()
        subject = cert.subject
        serial_int = cert.serial_number
        not_before, not_after = _validity_ms(cert)
        org = _single_attr(subject, NameOID.ORGANIZATION_NAME)
        role = _single_attr(subject, NameOID.ORGANIZATIONAL_UNIT_NAME)
    except _PARSE_ERRORS as exc:
        raise CertificateRefused("malformed_certificate", "the certificate's fields cannot be read") from exc
    if not isinstance(key, ed25519.Ed25519PublicKey):
        raise CertificateRefused("unsupported_key", "the certificate's subject key is not an Ed25519 key")
    if org is None or not 1 <= len(org) <= 64:
        raise CertificateRefused("malformed_certificate", "the certificate's subject must have exactly one O")
    if role not in ROLES:
        raise CertificateRefused("no_role", f"the subject's OU must be one of {', '.join(ROLES)}")
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return IdentityCert(
        der=der,
        public_key=raw,
        org=org,
        role=role,
        serial=_serial_bytes(serial_int),
        not_before_ms=not_before,
        not_after_ms=not_after,
    )


def ca_fingerprint(ca_der: bytes) -> bytes:
    """SHA-256 of a CA certificate's DER: how cert records and ``remove_ca`` name a CA."""
    return hashlib.sha256(ca_der).digest()


def check_ca_cert(ca_der: bytes) -> None:
    """Check that ``ca_der`` is a CA certificate (``basicConstraints CA:true``) with an ``O``.

    Raises:
        CertificateRefused: ``malformed_certificate`` otherwise.
    """
    cert = _load_der(ca_der)
    try:
        bc = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
        org = _single_attr(cert.subject, NameOID.ORGANIZATION_NAME)
        cert.public_key()
    except _PARSE_ERRORS as exc:
        raise CertificateRefused("malformed_certificate", "not a CA certificate (no basicConstraints)") from exc
    if not bc.ca or org is None:
        raise CertificateRefused("malformed_certificate", "not a CA certificate (CA:false or no O)")


def find_issuer(cert_der: bytes, config: MembershipConfig) -> tuple[MemberOrg, bytes, x509.Certificate]:
    """Find the member CA that issued ``cert_der``.

    Returns:
        (the organisation, the CA certificate's DER, the parsed CA certificate).

    Raises:
        CertificateRefused: ``malformed_certificate`` or ``unknown_ca`` (no member CA's signature verifies).
    """
    cert = _load_der(cert_der)
    for org in config.orgs:
        for ca_der in org.ca_certs:
            try:
                ca = x509.load_der_x509_certificate(ca_der)
                if cert.issuer != ca.subject:
                    continue
                cert.verify_directly_issued_by(ca)
            except (InvalidSignature, *_PARSE_ERRORS):
                continue
            return org, ca_der, ca
    raise CertificateRefused("unknown_ca", "the certificate was not issued by a member organisation's CA")


def _time_refusal(not_before_ms: int, not_after_ms: int, time_ms: int) -> CertificateRefused | None:
    if time_ms < not_before_ms:
        return CertificateRefused("certificate_not_yet_valid", f"the certificate is valid from {not_before_ms} ms")
    if time_ms > not_after_ms:
        return CertificateRefused("certificate_expired", f"the certificate expired at {not_after_ms} ms")
    return None


def read_config(get: GetFn) -> MembershipConfig | None:
    """The membership record, or None on a chain without member organisations."""
    raw = get(MEMBERSHIP_KEY)
    return None if raw is None else decode(raw, MembershipConfig)


def read_certs(get: GetFn, address: bytes) -> list[CertEntry]:
    """The identity certificates registered for ``address`` (oldest first)."""
    raw = get(cert_key(address))
    return [] if raw is None else decode(raw, CertRecord).certs


def member_cas(config: MembershipConfig) -> frozenset[tuple[str, bytes]]:
    """Every (organisation, CA fingerprint) pair of the membership."""
    return frozenset((o.name, ca_fingerprint(c)) for o in config.orgs for c in o.ca_certs)


def entry_refusal(
    get: GetFn,
    config: MembershipConfig,
    entry: CertEntry,
    time_ms: int,
    members: frozenset[tuple[str, bytes]] | None = None,
) -> CertificateRefused | None:
    """Why ``entry`` is not valid at ``time_ms`` (None: it is valid).

    Valid means: its CA is still a member CA of its organisation, it is not revoked, and ``time_ms`` lies in its
    validity (``not_before_ms <= time_ms <= not_after_ms``). ``members`` is ``member_cas(config)`` when the
    caller has it already.
    """
    if (entry.org, entry.ca_fingerprint) not in (member_cas(config) if members is None else members):
        return CertificateRefused("unknown_ca", "the certificate's CA is no longer a member CA")
    if get(revoked_key(entry.org, entry.serial)) is not None:
        return CertificateRefused("certificate_revoked", f"certificate {entry.serial.hex()} of {entry.org} is revoked")
    return _time_refusal(entry.not_before_ms, entry.not_after_ms, time_ms)


def role_permits(role: str, payload: Payload) -> bool:
    """Whether a sender with ``role`` may send ``payload`` (``register_cert`` is always allowed).

    ``admin``: everything. ``client``: everything but membership governance (propose, approve, revoke).
    ``node``: only ``evidence.submit`` (validators report equivocation). ``regulator``: nothing — read-only,
    through queries.
    """
    if isinstance(payload, RegisterCert) or role == "admin":
        return True
    if role == "client":
        return not isinstance(payload, GOVERNANCE_MESSAGES)
    if role == "node":
        return isinstance(payload, SubmitEvidence)
    return False


class MembershipView:
    """Judges senders against a fixed state (the parent block's) at one time, caching per sender.

    Args:
        get: reads the state the judgement is made against.
        time_ms: the block's time (or, at admission, the latest block's).
        validators: the validators' addresses: they may report equivocation (``evidence.submit``) without a
            certificate, since the validator set is itself on-chain configuration.
    """

    def __init__(self, get: GetFn, time_ms: int, validators: frozenset[bytes] = frozenset()) -> None:
        self.get = get
        self.time_ms = time_ms
        self.validators = validators
        self.config = read_config(get)
        self._members = frozenset() if self.config is None else member_cas(self.config)
        self._valid: dict[bytes, list[CertEntry] | CertificateRefused] = {}

    def valid_certs(self, address: bytes) -> list[CertEntry]:
        """The certificates of ``address`` valid now.

        Raises:
            CertificateRefused: none is (the code of the newest-registered one's refusal, or
                ``unknown_certificate`` if none is registered, ``no_membership`` on a chain without members).
        """
        cached = self._valid.get(address)
        if cached is None:
            cached = self._judge(address)
            self._valid[address] = cached
        if isinstance(cached, CertificateRefused):
            raise cached
        return cached

    def _judge(self, address: bytes) -> list[CertEntry] | CertificateRefused:
        if self.config is None:
            return CertificateRefused("no_membership", "this chain has no member organisations")
        entries = read_certs(self.get, address)
        if not entries:
            return CertificateRefused("unknown_certificate", f"no certificate is registered for {address.hex()}")
        valid: list[CertEntry] = []
        last: CertificateRefused | None = None
        for entry in entries:
            why = entry_refusal(self.get, self.config, entry, self.time_ms, self._members)
            if why is None:
                valid.append(entry)
            else:
                last = why
        if not valid:
            assert last is not None
            return last
        return valid

    def check_sender(self, address: bytes, payload: Payload) -> None:
        """Check that ``address`` may send ``payload`` now (``register_cert`` needs no certificate, nor a
        validator's ``evidence.submit``).

        Raises:
            CertificateRefused: no valid certificate (see ``valid_certs``) or ``role_not_permitted``.
        """
        if isinstance(payload, RegisterCert):
            return
        if isinstance(payload, SubmitEvidence) and address in self.validators:
            return
        certs = self.valid_certs(address)
        if not any(role_permits(c.role, payload) for c in certs):
            roles = ", ".join(sorted({c.role for c in certs}))
            raise CertificateRefused("role_not_permitted", f"role {roles} may not send {type(payload).__name__}")


def genesis_membership(orgs: Sequence[tuple[str, bytes]], threshold: int | None) -> MembershipConfig:
    """The membership record at genesis: one org per (name, CA DER); threshold defaults to a majority."""
    members = [MemberOrg(name=name, ca_certs=[der]) for name, der in orgs]
    t = threshold if threshold is not None else len(members) // 2 + 1
    return MembershipConfig(version=0, orgs=members, threshold=min(max(t, 1), len(members)), next_proposal=0)


# -- handlers ------------------------------------------------------------------------------------------------


class _Ctx(Protocol):
    """The part of ``TxContext`` the membership handlers use (structural: ``modules.py`` imports this module)."""

    sender: bytes
    height: int
    time_ms: int
    suite: Suite
    get: GetFn
    put: Callable[[bytes, bytes | None], None]


def _fail(why: CertificateRefused) -> TxFailure:
    code = ResultCode.UNAUTHORIZED if why.code == "role_not_permitted" else ResultCode.INVALID_CERTIFICATE
    return TxFailure(code, f"{why.code}: {why.reason}")


def _config(ctx: _Ctx) -> MembershipConfig:
    cfg = read_config(ctx.get)
    if cfg is None:
        raise TxFailure(ResultCode.NOT_FOUND, "no_membership: this chain has no member organisations")
    return cfg


def _admin(ctx: _Ctx, cfg: MembershipConfig) -> CertEntry:
    for entry in read_certs(ctx.get, ctx.sender):
        if entry.role == "admin" and entry_refusal(ctx.get, cfg, entry, ctx.time_ms) is None:
            return entry
    raise TxFailure(ResultCode.UNAUTHORIZED, "role_not_permitted: the sender holds no valid admin certificate")


def check_registration(
    get: GetFn, suite: Suite, sender: bytes, cert_der: bytes, time_ms: int, height: int
) -> CertEntry:
    """Judge an identity certificate for registration by ``sender`` at ``time_ms`` (reads only).

    Returns:
        The ``CertEntry`` to store.

    Raises:
        CertificateRefused: ``no_membership``, a parsing code (``parse_identity_cert``), ``key_mismatch`` (the
            subject key is not the sender's), ``unknown_ca``, ``wrong_org``, or a validity code
            (``entry_refusal``).
    """
    cfg = read_config(get)
    if cfg is None:
        raise CertificateRefused("no_membership", "this chain has no member organisations")
    ident = parse_identity_cert(cert_der)
    if address_of(suite, ident.public_key) != sender:
        raise CertificateRefused("key_mismatch", "the certificate's subject key is not the sender's key")
    org, ca_der, ca = find_issuer(cert_der, cfg)
    if ident.org != org.name:
        raise CertificateRefused("wrong_org", f"the subject's O is {ident.org!r}; its CA is {org.name!r}'s")
    _, ca_end = _validity_ms(ca)
    entry = CertEntry(
        org=org.name,
        serial=ident.serial,
        role=ident.role,
        not_before_ms=ident.not_before_ms,
        not_after_ms=min(ident.not_after_ms, ca_end),
        ca_fingerprint=ca_fingerprint(ca_der),
        cert_hash=hashlib.sha256(cert_der).digest(),
        registered_height=height,
    )
    why = entry_refusal(get, cfg, entry, time_ms)
    if why is not None:
        raise why
    return entry


def handle_register_cert(ctx: _Ctx, msg: RegisterCert) -> list[Event]:
    """Register the sender's identity certificate (keeping at most two per address)."""
    _config(ctx)
    try:
        entry = check_registration(ctx.get, ctx.suite, ctx.sender, msg.cert, ctx.time_ms, ctx.height)
    except CertificateRefused as exc:
        raise _fail(exc) from exc
    entries = read_certs(ctx.get, ctx.sender)
    if any(e.cert_hash == entry.cert_hash for e in entries):
        raise TxFailure(ResultCode.DUPLICATE, "this certificate is already registered for the sender")
    entries = [*entries, entry]
    while len(entries) > MAX_CERTS_PER_ADDRESS:
        # Drop the one that ends first: a roll keeps the newer certificate and the overlap's other one.
        entries.remove(min(entries, key=lambda e: (e.not_after_ms, e.registered_height)))
    ctx.put(cert_key(ctx.sender), encode(CertRecord(certs=entries)))
    return [
        Event(
            type="membership.cert_registered",
            attributes=[
                ("address", ctx.sender),
                ("org", entry.org.encode()),
                ("serial", entry.serial),
                ("role", entry.role.encode()),
            ],
        )
    ]


def handle_revoke(ctx: _Ctx, msg: RevokeCert) -> list[Event]:
    """Revoke a certificate of the sending admin's organisation; refused from the next block on."""
    cfg = _config(ctx)
    admin = _admin(ctx, cfg)
    key = revoked_key(admin.org, msg.serial)
    if ctx.get(key) is not None:
        raise TxFailure(ResultCode.DUPLICATE, "this certificate is already revoked")
    ctx.put(key, encode(RevokedCert(org=admin.org, serial=msg.serial, revoked_by=ctx.sender, height=ctx.height)))
    return [Event(type="membership.revoked", attributes=[("org", admin.org.encode()), ("serial", msg.serial)])]


def _invalid(reason: str) -> TxFailure:
    return TxFailure(ResultCode.INVALID_CHANGE, reason)


def apply_change(cfg: MembershipConfig, change: MembershipChange) -> MembershipConfig:
    """Return ``cfg`` with ``change`` applied and its version incremented.

    Raises:
        TxFailure: ``INVALID_CHANGE`` for a change that does not fit ``cfg`` (unknown or duplicate org, too
            many CAs, a removal that would leave an org without CA or the chain without orgs, a threshold
            above the number of orgs, a certificate that is not a CA).
    """
    orgs = list(cfg.orgs)
    names = [o.name for o in orgs]
    threshold = cfg.threshold
    try:
        if isinstance(change, AddOrg):
            if change.name in names:
                raise _invalid(f"organisation {change.name!r} is already a member")
            if len(orgs) >= MAX_ORGS:
                raise _invalid(f"the membership already has {MAX_ORGS} organisations")
            for der in change.ca_certs:
                check_ca_cert(der)
            orgs.append(MemberOrg(name=change.name, ca_certs=list(change.ca_certs)))
        elif isinstance(change, RemoveOrg):
            if change.name not in names:
                raise _invalid(f"organisation {change.name!r} is not a member")
            if len(orgs) == 1:
                raise _invalid("the last organisation cannot be removed")
            orgs = [o for o in orgs if o.name != change.name]
            threshold = min(threshold, len(orgs))
        elif isinstance(change, AddCa):
            if change.org not in names:
                raise _invalid(f"organisation {change.org!r} is not a member")
            check_ca_cert(change.ca_cert)
            i = names.index(change.org)
            if any(ca_fingerprint(c) == ca_fingerprint(change.ca_cert) for c in orgs[i].ca_certs):
                raise _invalid("this CA certificate is already a member CA")
            if len(orgs[i].ca_certs) >= 4:
                raise _invalid("an organisation has at most 4 CA certificates")
            orgs[i] = MemberOrg(name=change.org, ca_certs=[*orgs[i].ca_certs, change.ca_cert])
        elif isinstance(change, RemoveCa):
            if change.org not in names:
                raise _invalid(f"organisation {change.org!r} is not a member")
            i = names.index(change.org)
            kept = [c for c in orgs[i].ca_certs if ca_fingerprint(c) != change.fingerprint]
            if len(kept) == len(orgs[i].ca_certs):
                raise _invalid("no CA certificate of the organisation has this fingerprint")
            if not kept:
                raise _invalid("an organisation keeps at least one CA certificate")
            orgs[i] = MemberOrg(name=change.org, ca_certs=kept)
        else:
            assert isinstance(change, SetThreshold)
            if change.threshold > len(orgs):
                raise _invalid(f"threshold {change.threshold} exceeds the {len(orgs)} member organisations")
            threshold = change.threshold
    except CertificateRefused as exc:
        raise _invalid(f"{exc.code}: {exc.reason}") from exc
    return MembershipConfig(version=cfg.version + 1, orgs=orgs, threshold=threshold, next_proposal=cfg.next_proposal)


def _apply_in_context(ctx: _Ctx, cfg: MembershipConfig, change: MembershipChange) -> MembershipConfig:
    """``apply_change``, plus the rule that needs the state: ``remove_org`` of an org that owns a validator of
    the pending set (docs/spec/membership.md 4.1) is refused."""
    new = apply_change(cfg, change)
    if isinstance(change, RemoveOrg) and change.name in orgs_with_validators(ctx.get, ctx.height):
        raise _invalid(f"organisation {change.name!r} owns a validator of the pending set; remove it first")
    return new


def _approve(ctx: _Ctx, cfg: MembershipConfig, prop: MembershipProposal) -> list[Event]:
    """Store ``prop``; apply its change if its member approvals reach the threshold."""
    names = {o.name for o in cfg.orgs}
    count = len([o for o in prop.approvals if o in names])
    events = [
        Event(
            type="membership.approved",
            attributes=[("proposal", str(prop.id).encode()), ("approvals", str(count).encode())],
        )
    ]
    if count >= cfg.threshold:
        if is_validator_change(prop.change):
            changed = apply_change_in_block(ctx, prop.id, prop.change)
        else:
            cfg = _apply_in_context(ctx, cfg, prop.change)
            changed = [
                Event(
                    type="membership.changed",
                    attributes=[("proposal", str(prop.id).encode()), ("version", str(cfg.version).encode())],
                )
            ]
        prop = MembershipProposal(
            id=prop.id,
            change=prop.change,
            proposer=prop.proposer,
            config_version=prop.config_version,
            approvals=prop.approvals,
            created_height=prop.created_height,
            applied_height=ctx.height,
        )
        events.extend(changed)
    ctx.put(MEMBERSHIP_KEY, encode(cfg))
    ctx.put(membership_proposal_key(prop.id), encode(prop))
    return events


def handle_propose(ctx: _Ctx, msg: ProposeMembership) -> list[Event]:
    """Propose a membership change; the proposer's organisation approves it at once."""
    cfg = _config(ctx)
    admin = _admin(ctx, cfg)
    # Refuse now what could never apply; a validator change is keyed to the validator version.
    if is_validator_change(msg.change):
        precheck_change(ctx, msg.change)
        version = validators_version(ctx.get)
    else:
        _apply_in_context(ctx, cfg, msg.change)
        version = cfg.version
    prop = MembershipProposal(
        id=cfg.next_proposal,
        change=msg.change,
        proposer=ctx.sender,
        config_version=version,
        approvals=[admin.org],
        created_height=ctx.height,
    )
    cfg = MembershipConfig(
        version=cfg.version, orgs=cfg.orgs, threshold=cfg.threshold, next_proposal=cfg.next_proposal + 1
    )
    proposed = Event(type="membership.proposed", attributes=[("proposal", str(prop.id).encode())])
    return [proposed, *_approve(ctx, cfg, prop)]


def handle_approve(ctx: _Ctx, msg: ApproveMembership) -> list[Event]:
    """Approve a pending proposal for the sending admin's organisation; applies it at the threshold."""
    cfg = _config(ctx)
    admin = _admin(ctx, cfg)
    raw = ctx.get(membership_proposal_key(msg.proposal_id))
    if raw is None:
        raise TxFailure(ResultCode.NOT_FOUND, f"no membership proposal {msg.proposal_id}")
    prop = decode(raw, MembershipProposal)
    if prop.applied_height is not None:
        raise TxFailure(ResultCode.DUPLICATE, f"proposal {prop.id} was applied at height {prop.applied_height}")
    kind, current = (
        ("validators", validators_version(ctx.get)) if is_validator_change(prop.change) else ("membership", cfg.version)
    )
    if prop.config_version != current:
        raise _invalid(
            f"proposal {prop.id} was made for {kind} version {prop.config_version}; it is now "
            f"{current}: propose it again"
        )
    if admin.org in prop.approvals:
        raise TxFailure(ResultCode.DUPLICATE, f"{admin.org} has already approved proposal {prop.id}")
    prop = MembershipProposal(
        id=prop.id,
        change=prop.change,
        proposer=prop.proposer,
        config_version=prop.config_version,
        approvals=[*prop.approvals, admin.org],
        created_height=prop.created_height,
    )
    return _approve(ctx, cfg, prop)
