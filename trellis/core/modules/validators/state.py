"""The validator set's state records (ADR 0014 section 2, docs/spec/encoding.md 2.8).

| key | value |
|---|---|
| ``validators/meta`` | ``ValidatorsMeta [version, latest]`` |
| ``validators/set/`` + effective height (8 bytes, big-endian) | ``ValidatorSetEntry [effective_height, previous, validators, orgs]`` |

``set(h)``, the set that signs the commit of block h, is the entry with the greatest ``effective_height <= h``,
found by walking ``previous`` from ``meta.latest``. Genesis writes entry 1 and ``meta = [0, 1]``; a change applied
in block H writes entry H+2 (so ``set(1) = set(2) = genesis``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

import msgspec

from trellis.core.codec import decode, encode
from trellis.core.execution.context import StateReader
from trellis.core.ledger.block import MAX_VALIDATORS, ValidatorSet
from trellis.core.params import ChainParams
from trellis.core.types import U64, CoreStruct

META_KEY = b"validators/meta"
"""State key of the ``ValidatorsMeta`` record."""
SET_PREFIX = b"validators/set/"
"""Prefix of the ``ValidatorSetEntry`` records, followed by the effective height (8 bytes, big-endian)."""

"""Reads one state value by key (None when absent)."""

OwnerOrg = Annotated[str, msgspec.Meta(max_length=64)]
"""The organisation owning a validator; ``""`` for a genesis validator without ``org``."""


class ValidatorsMeta(CoreStruct, frozen=True):
    """Where the validator-set entries stand."""

    version: U64
    """Number of validator changes applied since genesis (a change proposal is keyed to it)."""
    latest: U64
    """Effective height of the newest entry (1 at genesis)."""


class ValidatorSetEntry(CoreStruct, frozen=True):
    """A validator set and the height from which it signs commits."""

    effective_height: U64
    """The first height whose commit this set signs (1 for genesis)."""
    previous: U64
    """Effective height of the entry before this one (0 for genesis)."""
    validators: ValidatorSet
    """The set, sorted by address (the same struct and hash as everywhere else)."""
    orgs: Annotated[list[OwnerOrg], msgspec.Meta(max_length=MAX_VALIDATORS)]
    """``orgs[i]`` owns ``validators.validators[i]``; same length as the validators."""


class ValidatorUpdate(CoreStruct, frozen=True):
    """What a block tells the shell about the validator set: the full set in force from ``effective_height``."""

    effective_height: U64
    """The first height the set signs."""
    validators: ValidatorSet
    """The full new set (not a diff)."""


def set_key(effective_height: int) -> bytes:
    """Return the state key of the entry effective from ``effective_height`` (``SET_PREFIX`` + 8 bytes BE).

    Raises:
        ValueError: a height outside ``1 .. 2**64 - 1``.
    """
    if not 1 <= effective_height < 2**64:
        raise ValueError(f"effective height {effective_height} is out of range")
    return SET_PREFIX + effective_height.to_bytes(8, "big")


def read_meta(state: StateReader) -> ValidatorsMeta:
    """Return the ``validators/meta`` record; it exists on every chain since genesis (assert)."""
    raw = state.get(META_KEY)
    assert raw is not None, "validators/meta is written at genesis"
    return decode(raw, ValidatorsMeta)


def read_entry(state: StateReader, effective_height: int) -> ValidatorSetEntry:
    """Return the entry effective from ``effective_height``; it must exist (assert)."""
    raw = state.get(set_key(effective_height))
    assert raw is not None, f"validators/set/{effective_height} is missing"
    return decode(raw, ValidatorSetEntry)


def entry_in_force(state: StateReader, height: int) -> ValidatorSetEntry:
    """Return the entry of ``set(height)``: the one with the greatest ``effective_height <= height``.

    Walks ``previous`` from ``meta.latest`` (at block execution at most one hop).

    Raises:
        ValueError: ``height < 1``.
    """
    if height < 1:
        raise ValueError(f"no validator set for height {height}")
    entry = read_entry(state, read_meta(state).latest)
    while entry.effective_height > height:
        assert entry.previous >= 1, "the genesis entry is effective from height 1"
        entry = read_entry(state, entry.previous)
    return entry


def sets_for_block(state: StateReader, height: int) -> tuple[ValidatorSet, ValidatorSet]:
    """Return ``(set(height), set(height + 1))`` read from the state after block ``height - 1`` (the parent's).

    Both are known there: a change applied in block ``height - 1`` is effective from ``height + 1``.
    """
    current = entry_in_force(state, height)
    nxt = entry_in_force(state, height + 1)
    return current.validators, nxt.validators


def genesis_entry(params: ChainParams) -> ValidatorSetEntry:
    """Return the genesis entry: ``params.validators`` from height 1, with each validator's genesis ``org``."""
    org_of = {bytes.fromhex(gv.public_key): _org_or_empty(gv.org) for gv in params.genesis.validators}
    orgs = [org_of[v.public_key] for v in params.validators.validators]
    return ValidatorSetEntry(effective_height=1, previous=0, validators=params.validators, orgs=orgs)


def genesis_validator_writes(params: ChainParams) -> dict[bytes, bytes]:
    """Return the state writes of genesis for the validator set: entry 1 and ``meta = [0, 1]``."""
    return {
        set_key(1): encode(genesis_entry(params)),
        META_KEY: encode(ValidatorsMeta(version=0, latest=1)),
    }


def update_of(writes: Mapping[bytes, bytes | None], height: int) -> ValidatorUpdate | None:
    """Return the set change block ``height`` wrote (its entry ``height + 2``), or None when it wrote none."""
    raw = writes.get(set_key(height + 2))
    if raw is None:
        return None
    entry = decode(raw, ValidatorSetEntry)
    return ValidatorUpdate(effective_height=entry.effective_height, validators=entry.validators)


def _org_or_empty(org: str | msgspec.UnsetType) -> str:
    return "" if org is msgspec.UNSET else str(org)


PREFIXES = (META_KEY, SET_PREFIX)
"""The state-key prefixes the validators module owns."""
