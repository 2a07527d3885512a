"""The validator-set changes: three members of the ``MembershipChange`` union (ADR 0014 section 3).

They travel inside ``membership.propose`` and are approved with ``membership.approve`` by the same admins and
threshold as every membership change; their rules are in ``rules.py`` and docs/spec/membership.md 4.1. Decoding
bounds only the sizes (``power`` is a ``U64``, ``name`` at most 64 characters); the rules refuse a power outside
``1 .. 2**40`` or an empty name with ``INVALID_CHANGE``, so a bad value fails in a receipt that says why.

This file imports only ``msgspec`` and ``trellis.core.types``: ``trellis.core.modules.membership.messages``
builds its union from these classes.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from trellis.core.types import U64, Address, CoreStruct, PublicKey

ValidatorName = Annotated[str, msgspec.Meta(max_length=64)]
"""A validator's human-readable name as decoded (the rules require 1 to 64 characters)."""
ValidatorOrg = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
"""The member organisation that owns a validator (as ``OrgName`` in ``trellis.core.modules.membership.messages``)."""


class AddValidator(CoreStruct, frozen=True, tag="validators.add"):
    """Validator change: add a validator, owned by a member organisation, from the height the change names."""

    public_key: PublicKey
    """The validator's consensus public key (the suite's raw form and size)."""
    power: U64
    """Its voting power, ``1 .. 2**40``."""
    name: ValidatorName
    """Its human-readable name, 1 to 64 characters."""
    org: ValidatorOrg
    """The member organisation that owns it."""


class RemoveValidator(CoreStruct, frozen=True, tag="validators.remove"):
    """Validator change: remove a validator of the pending set."""

    address: Address
    """The validator's address."""


class SetValidatorPower(CoreStruct, frozen=True, tag="validators.set_power"):
    """Validator change: give a validator of the pending set another voting power."""

    address: Address
    """The validator's address."""
    power: U64
    """The new power, ``1 .. 2**40`` and different from the current one."""


ValidatorChange = AddValidator | RemoveValidator | SetValidatorPower
"""The three validator-set changes."""

VALIDATOR_CHANGES: tuple[type, ...] = (AddValidator, RemoveValidator, SetValidatorPower)
"""The classes of ``ValidatorChange``, for ``isinstance``."""
