"""The rules of a validator-set change (ADR 0014 section 3, docs/spec/membership.md 4.1): pure functions.

A change is judged against the *pending* set (the entry ``set(H+2)`` as the block has left it so far) and the
whole step is bounded against the *base* set ``set(H+1)``::

    weight(base, new) = sum over addresses a in base | new of |power_new(a) - power_base(a)|   (absent = 0)
    refuse unless 3 * weight(base, new) <= total_power(base)

so an addition counts its power, a removal its power, a power change its difference, and several changes applied
in one block add up. The bound also makes an empty set impossible.
"""

from __future__ import annotations

from trellis.core.crypto.suite import Suite, address_of
from trellis.core.execution.results import ResultCode, TxFailure
from trellis.core.ledger.block import MAX_VALIDATORS, Validator, ValidatorSet, make_validator_set
from trellis.core.modules.validators.messages import (
    AddValidator,
    RemoveValidator,
    SetValidatorPower,
    ValidatorChange,
)
from trellis.core.modules.validators.state import ValidatorSetEntry

MAX_POWER = 2**40
"""Most voting power of one validator (so a total of ``MAX_VALIDATORS`` powers stays far inside a U64)."""


def total_power(s: ValidatorSet) -> int:
    """Return the sum of the powers of ``s``."""
    return sum(v.power for v in s.validators)


def _powers(suite: Suite, s: ValidatorSet) -> dict[bytes, int]:
    return {address_of(suite, v.public_key): v.power for v in s.validators}


def change_weight(suite: Suite, base: ValidatorSet, new: ValidatorSet) -> int:
    """Return how much power the step from ``base`` to ``new`` changes.

    The sum over every address of either set of ``|power in new - power in base|`` (an absent validator has power
    0): an addition weighs its power, a removal its power, a power change its difference.
    """
    before = _powers(suite, base)
    after = _powers(suite, new)
    return sum(abs(after.get(a, 0) - before.get(a, 0)) for a in before.keys() | after.keys())


def _invalid(reason: str) -> TxFailure:
    return TxFailure(ResultCode.INVALID_CHANGE, reason)


def _check_power(power: int) -> None:
    if not 1 <= power <= MAX_POWER:
        raise _invalid(f"power {power} is out of range; it must be 1 to 2^40")


def edit_entry(
    suite: Suite, pending: ValidatorSetEntry, change: ValidatorChange, member_orgs: frozenset[str]
) -> ValidatorSetEntry:
    """Return ``pending`` with ``change`` applied, if the change fits it (the one-third bound aside).

    This is what a proposal is checked with: whether the step bound holds depends on the block it applies in.

    Args:
        suite: the chain's suite (key size, addresses).
        pending: the entry ``set(H+2)`` as it stands (a copy of ``set(H+1)``'s entry before the block's first
            change); its ``effective_height`` and ``previous`` are kept.
        change: the change.
        member_orgs: the names of the member organisations (an added validator's ``org`` must be one).

    Returns:
        The new entry, validators sorted by address with ``orgs`` in the same order.

    Raises:
        TxFailure: ``INVALID_CHANGE`` — a key of the wrong size; an address already in the pending set (add) or
            not in it (remove, set_power); a power outside ``1 .. 2**40`` or equal to the current one; an empty
            name; an org that is not a member; more than ``MAX_VALIDATORS``; an empty set.
    """
    members = {
        address_of(suite, v.public_key): (v, org)
        for v, org in zip(pending.validators.validators, pending.orgs, strict=True)
    }
    if isinstance(change, AddValidator):
        if len(change.public_key) != suite.public_key_size:
            raise _invalid(
                f"the public key is {len(change.public_key)} bytes; suite {suite.name} uses {suite.public_key_size}"
            )
        address = address_of(suite, change.public_key)
        if address in members:
            raise _invalid(f"validator {address.hex()} is already in the pending set")
        _check_power(change.power)
        if not 1 <= len(change.name) <= 64:
            raise _invalid("a validator's name must be 1 to 64 characters")
        if change.org not in member_orgs:
            raise _invalid(f"organisation {change.org!r} is not a member")
        if len(members) >= MAX_VALIDATORS:
            raise _invalid(f"the pending set already has {MAX_VALIDATORS} validators")
        members[address] = (Validator(public_key=change.public_key, power=change.power, name=change.name), change.org)
    elif isinstance(change, RemoveValidator):
        if change.address not in members:
            raise _invalid(f"validator {change.address.hex()} is not in the pending set")
        del members[change.address]
    else:
        assert isinstance(change, SetValidatorPower)
        current = members.get(change.address)
        if current is None:
            raise _invalid(f"validator {change.address.hex()} is not in the pending set")
        _check_power(change.power)
        validator, org = current
        if change.power == validator.power:
            raise _invalid(f"validator {change.address.hex()} already has power {change.power}")
        members[change.address] = (
            Validator(public_key=validator.public_key, power=change.power, name=validator.name),
            org,
        )
    if not members:
        raise _invalid("the validator set cannot be empty")
    new_set = make_validator_set(suite, [v for v, _ in members.values()])
    org_of = {address_of(suite, v.public_key): org for v, org in members.values()}
    return ValidatorSetEntry(
        effective_height=pending.effective_height,
        previous=pending.previous,
        validators=new_set,
        orgs=[org_of[address_of(suite, v.public_key)] for v in new_set.validators],
    )


def check_step(suite: Suite, base: ValidatorSet, new: ValidatorSet) -> None:
    """Check the one-third bound: ``3 * change_weight(base, new) <= total_power(base)``.

    Raises:
        TxFailure: ``INVALID_CHANGE``, ``"step changes W of T power; at most floor(T/3)"``.
    """
    total = total_power(base)
    weight = change_weight(suite, base, new)
    if 3 * weight > total:
        raise _invalid(f"step changes {weight} of {total} power; at most {total // 3}")


def apply_validator_change(
    suite: Suite,
    base: ValidatorSet,
    pending: ValidatorSetEntry,
    change: ValidatorChange,
    member_orgs: frozenset[str],
) -> ValidatorSetEntry:
    """Return ``pending`` with ``change`` applied, if it fits (``edit_entry``) and the whole step from ``base``
    (``set(H+1)``) to the result stays within a third of ``base``'s power (``check_step``).

    Raises:
        TxFailure: ``INVALID_CHANGE`` (see ``edit_entry`` and ``check_step``).
    """
    entry = edit_entry(suite, pending, change, member_orgs)
    check_step(suite, base, entry.validators)
    return entry
