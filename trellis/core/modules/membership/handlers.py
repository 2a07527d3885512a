"""Transaction handlers of the ``membership`` module: certificate registration, revocation, and the
admin-threshold governance of proposals and approvals (docs/spec/membership.md; ADR 0009).
"""

from __future__ import annotations

from trellis.core.codec import decode, encode
from trellis.core.execution.context import TxContext
from trellis.core.execution.results import ResultCode, TxFailure
from trellis.core.ledger.block import Event
from trellis.core.modules.hub.governance import apply_change_in_block as apply_hub_change
from trellis.core.modules.hub.governance import is_hub_change
from trellis.core.modules.hub.governance import precheck_change as precheck_hub_change
from trellis.core.modules.interchain.governance import apply_change_in_block as apply_interchain_change
from trellis.core.modules.interchain.governance import is_interchain_change
from trellis.core.modules.interchain.governance import precheck_change as precheck_interchain_change
from trellis.core.modules.interchain.state import governance_version as interchain_version
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
from trellis.core.modules.membership.state import (
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
    read_certs,
    read_config,
    revoked_key,
)
from trellis.core.modules.membership.view import (
    MAX_ORGS,
    CertificateRefused,
    ca_fingerprint,
    check_ca_cert,
    check_registration,
    entry_refusal,
)
from trellis.core.modules.validators.governance import (
    apply_change_in_block,
    is_validator_change,
    orgs_with_validators,
    precheck_change,
    validators_version,
)


def _fail(why: CertificateRefused) -> TxFailure:
    code = ResultCode.UNAUTHORIZED if why.code == "role_not_permitted" else ResultCode.INVALID_CERTIFICATE
    return TxFailure(code, f"{why.code}: {why.reason}")


def _config(ctx: TxContext) -> MembershipConfig:
    cfg = read_config(ctx)
    if cfg is None:
        raise TxFailure(ResultCode.NOT_FOUND, "no_membership: this chain has no member organisations")
    return cfg


def _admin(ctx: TxContext, cfg: MembershipConfig) -> CertEntry:
    for entry in read_certs(ctx, ctx.sender):
        if entry.role == "admin" and entry_refusal(ctx, cfg, entry, ctx.time_ms) is None:
            return entry
    raise TxFailure(ResultCode.UNAUTHORIZED, "role_not_permitted: the sender holds no valid admin certificate")


def handle_register_cert(ctx: TxContext, msg: RegisterCert) -> list[Event]:
    """Register the sender's identity certificate (keeping at most two per address)."""
    _config(ctx)
    try:
        entry = check_registration(ctx, ctx.suite, ctx.sender, msg.cert, ctx.time_ms, ctx.height)
    except CertificateRefused as exc:
        raise _fail(exc) from exc
    entries = read_certs(ctx, ctx.sender)
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


def handle_revoke(ctx: TxContext, msg: RevokeCert) -> list[Event]:
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
        elif isinstance(change, SetThreshold):
            if change.threshold > len(orgs):
                raise _invalid(f"threshold {change.threshold} exceeds the {len(orgs)} member organisations")
            threshold = change.threshold
        else:
            raise _invalid(f"{type(change).__name__} does not change the membership configuration")
    except CertificateRefused as exc:
        raise _invalid(f"{exc.code}: {exc.reason}") from exc
    return MembershipConfig(version=cfg.version + 1, orgs=orgs, threshold=threshold, next_proposal=cfg.next_proposal)


def _apply_in_context(ctx: TxContext, cfg: MembershipConfig, change: MembershipChange) -> MembershipConfig:
    """``apply_change``, plus the rule that needs the state: ``remove_org`` of an org that owns a validator of
    the pending set (docs/spec/membership.md 4.1) is refused."""
    new = apply_change(cfg, change)
    if isinstance(change, RemoveOrg) and change.name in orgs_with_validators(ctx, ctx.height):
        raise _invalid(f"organisation {change.name!r} owns a validator of the pending set; remove it first")
    return new


def _approve(ctx: TxContext, cfg: MembershipConfig, prop: MembershipProposal) -> list[Event]:
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
        elif is_interchain_change(prop.change):
            changed = apply_interchain_change(ctx, prop.id, prop.change)
        elif is_hub_change(prop.change):
            changed = apply_hub_change(ctx, prop.id, prop.change)
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


def handle_propose(ctx: TxContext, msg: ProposeMembership) -> list[Event]:
    """Propose a membership change; the proposer's organisation approves it at once."""
    cfg = _config(ctx)
    admin = _admin(ctx, cfg)
    # Refuse now what could never apply; a validator change is keyed to the validator version.
    if is_validator_change(msg.change):
        precheck_change(ctx, msg.change)
        version = validators_version(ctx)
    elif is_interchain_change(msg.change):
        precheck_interchain_change(ctx, msg.change)
        version = interchain_version(ctx)
    elif is_hub_change(msg.change):
        precheck_hub_change(ctx, msg.change)
        version = interchain_version(ctx)
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


def handle_approve(ctx: TxContext, msg: ApproveMembership) -> list[Event]:
    """Approve a pending proposal for the sending admin's organisation; applies it at the threshold."""
    cfg = _config(ctx)
    admin = _admin(ctx, cfg)
    raw = ctx.get(membership_proposal_key(msg.proposal_id))
    if raw is None:
        raise TxFailure(ResultCode.NOT_FOUND, f"no membership proposal {msg.proposal_id}")
    prop = decode(raw, MembershipProposal)
    if prop.applied_height is not None:
        raise TxFailure(ResultCode.DUPLICATE, f"proposal {prop.id} was applied at height {prop.applied_height}")
    if is_validator_change(prop.change):
        kind, current = "validators", validators_version(ctx)
    elif is_interchain_change(prop.change) or is_hub_change(prop.change):
        kind, current = "interchain", interchain_version(ctx)
    else:
        kind, current = "membership", cfg.version
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
