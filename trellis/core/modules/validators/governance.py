"""Validator-set changes inside membership governance (ADR 0014 section 3, docs/spec/membership.md 4.1).

``membership.handle_propose`` / ``handle_approve`` / ``_approve`` dispatch a ``validators.*`` change here: it is
checked when proposed (``precheck_change``) and applied when the approvals reach the threshold in block H
(``apply_change_in_block``), which writes the entry ``validators/set/<H+2>`` and ``validators/meta``. A validator
proposal is keyed to ``validators/meta.version`` (``validators_version``), not to the membership version.
"""

from __future__ import annotations

from typing import TypeGuard

from trellis.core.codec import decode, encode
from trellis.core.execution.context import StateReader, TxContext
from trellis.core.ledger.block import Event, validators_hash
from trellis.core.modules.membership.state import MEMBERSHIP_KEY, MembershipConfig
from trellis.core.modules.validators.messages import VALIDATOR_CHANGES, ValidatorChange
from trellis.core.modules.validators.rules import apply_validator_change, edit_entry
from trellis.core.modules.validators.state import (
    META_KEY,
    ValidatorSetEntry,
    ValidatorsMeta,
    entry_in_force,
    read_entry,
    read_meta,
    set_key,
)


def is_validator_change(change: object) -> TypeGuard[ValidatorChange]:
    """Whether ``change`` (a ``MembershipChange``) is one of the three ``validators.*`` members."""
    return isinstance(change, VALIDATOR_CHANGES)


def validators_version(state: StateReader) -> int:
    """The number of validator changes applied so far: the version a validator proposal is keyed to."""
    return read_meta(state).version


def pending_entry(state: StateReader, height: int) -> ValidatorSetEntry:
    """Return the entry ``set(height + 2)`` as the state read by ``state`` has it, inside block ``height``.

    When block ``height`` has not changed the set yet, that is a copy of ``set(height + 1)`` re-dated to
    ``height + 2`` with ``previous = meta.latest``: what the block's first change starts from.
    """
    meta = read_meta(state)
    if meta.latest == height + 2:
        return read_entry(state, height + 2)
    base = entry_in_force(state, height + 1)
    return ValidatorSetEntry(
        effective_height=height + 2, previous=meta.latest, validators=base.validators, orgs=base.orgs
    )


def _member_orgs(state: StateReader) -> frozenset[str]:
    raw = state.get(MEMBERSHIP_KEY)
    return frozenset() if raw is None else frozenset(o.name for o in decode(raw, MembershipConfig).orgs)


def _judge(ctx: TxContext, change: ValidatorChange) -> ValidatorSetEntry:
    base = entry_in_force(ctx, ctx.height + 1).validators
    return apply_validator_change(ctx.suite, base, pending_entry(ctx, ctx.height), change, _member_orgs(ctx))


def precheck_change(ctx: TxContext, change: ValidatorChange) -> None:
    """Check a proposed validator change against the pending set (reads only).

    The one-third bound is not checked here: it depends on the block the change applies in (a proposal that
    would overload this block's step may apply in the next one).

    Raises:
        TxFailure: ``INVALID_CHANGE`` (see ``rules.edit_entry``).
    """
    edit_entry(ctx.suite, pending_entry(ctx, ctx.height), change, _member_orgs(ctx))


def apply_change_in_block(ctx: TxContext, proposal_id: int, change: ValidatorChange) -> list[Event]:
    """Apply an approved validator change in block ``ctx.height`` (H): write entry H+2 and the meta.

    The entry H+2 is created by the block's first change (``pending_entry``) and edited by the later ones;
    ``meta`` becomes ``[version + 1, H + 2]``.

    Returns:
        The ``validators.changed`` event: ``proposal``, ``effective_height`` (decimal), ``validators_hash``.

    Raises:
        TxFailure: ``INVALID_CHANGE`` (see ``rules.apply_validator_change``); nothing is written.
    """
    entry = _judge(ctx, change)
    meta = read_meta(ctx)
    ctx.put(set_key(entry.effective_height), encode(entry))
    ctx.put(META_KEY, encode(ValidatorsMeta(version=meta.version + 1, latest=entry.effective_height)))
    return [
        Event(
            type="validators.changed",
            attributes=[
                ("proposal", str(proposal_id).encode()),
                ("effective_height", str(entry.effective_height).encode()),
                ("validators_hash", validators_hash(ctx.suite, entry.validators)),
            ],
        )
    ]


def orgs_with_validators(state: StateReader, height: int) -> frozenset[str]:
    """The organisations owning a validator of the pending set inside block ``height`` (``remove_org`` guard)."""
    return frozenset(o for o in pending_entry(state, height).orgs if o)
