"""The validator schedule: which set signs which height, as this node knows it (ADR 0014 section 5).

``set(h)`` is the set that signs the commit of block h: the entry with the greatest effective height ``<= h``.
A change applied in block H takes effect at H+2, so after committing block ``tip`` a node knows ``set(h)`` for
every ``h <= tip + 2``: that bound is ``known_until``. The application's state is the source of truth; the
schedule is a cache of it, built at start from ``Application.validator_entries()`` (after the application
replayed its blocks) and fed after every commit with the block's ``validator_update`` (``note_committed``).
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass

from trellis.abci import UnknownHeight
from trellis.core.crypto.suite import Suite, address_of
from trellis.core.errors import TrellisError
from trellis.core.ledger.block import ValidatorSet
from trellis.core.modules.validators.state import ValidatorUpdate


class ScheduleError(TrellisError):
    """An update the schedule cannot take: not after the newest entry, conflicting, or out of place."""

    code = "bad_validator_update"


@dataclass(frozen=True)
class _Entry:
    effective_height: int
    validators: ValidatorSet
    keys: dict[bytes, bytes]
    """Address -> public key."""
    order: list[bytes]
    """Addresses in ascending order (the proposer order of the consensus machine)."""


class ValidatorSchedule:
    """The validator sets in force from each effective height, as far as this node knows them.

    Args:
        suite: the chain's crypto suite (addresses are derived from public keys with it).
        entries: every entry of the application's state, genesis (effective height 1) first, ascending.
        tip: the height of the last committed block those entries were read after (``known_until`` is
            ``tip + 2``, or the newest entry's effective height if that is greater).

    Raises:
        ScheduleError: no entries, the first not effective at 1, or heights not strictly ascending.
    """

    def __init__(self, suite: Suite, entries: Sequence[ValidatorUpdate], tip: int = 0) -> None:
        self.suite = suite
        self._entries: list[_Entry] = []
        self._heights: list[int] = []
        if not entries:
            raise ScheduleError("a validator schedule needs the genesis entry")
        if entries[0].effective_height != 1:
            raise ScheduleError(f"the first entry is effective at {entries[0].effective_height}, not at 1")
        if tip < 0:
            raise ScheduleError(f"tip {tip} is negative")
        self._known_until = tip + 2
        for update in entries:
            self.note(update)

    @property
    def known_until(self) -> int:
        """The greatest height whose set this schedule knows (``tip + 2`` after committing ``tip``)."""
        return self._known_until

    @property
    def latest_effective_height(self) -> int:
        """Effective height of the newest entry."""
        return self._heights[-1]

    def entries(self) -> list[ValidatorUpdate]:
        """Return the entries noted so far, genesis first, ascending (to compare schedules of several nodes)."""
        return [ValidatorUpdate(effective_height=e.effective_height, validators=e.validators) for e in self._entries]

    def note(self, update: ValidatorUpdate) -> None:
        """Add the set in force from ``update.effective_height``.

        Idempotent: noting the newest entry again with the same set changes nothing.

        Raises:
            ScheduleError: the effective height is not above the newest entry's (or, for the newest entry's
                height, the set differs from the one noted).
        """
        h = update.effective_height
        if self._heights:
            last = self._entries[-1]
            if h == last.effective_height:
                if update.validators != last.validators:
                    raise ScheduleError(f"a different validator set was already noted as effective at height {h}")
                return
            if h < last.effective_height:
                raise ScheduleError(
                    f"validator update effective at {h} is not after the newest entry ({last.effective_height})"
                )
        if not update.validators.validators:
            raise ScheduleError(f"validator update effective at {h} has an empty set")
        keys = {address_of(self.suite, v.public_key): v.public_key for v in update.validators.validators}
        self._entries.append(_Entry(h, update.validators, keys, sorted(keys)))
        self._heights.append(h)
        self._known_until = max(self._known_until, h)

    def note_committed(self, height: int, update: ValidatorUpdate | None) -> None:
        """Record that block ``height`` was committed with ``update`` (its ``validator_update``, or None): the
        sets up to ``height + 2`` are now known.

        Raises:
            ScheduleError: ``update`` is not effective at ``height + 2``, or ``note`` refuses it.
        """
        if update is not None:
            if update.effective_height != height + 2:
                raise ScheduleError(
                    f"block {height} returned a validator update effective at {update.effective_height}, "
                    f"not at {height + 2}"
                )
            self.note(update)
        self._known_until = max(self._known_until, height + 2)

    def _entry(self, height: int) -> _Entry:
        if height < 1 or height > self._known_until:
            raise UnknownHeight(f"the validator set of height {height} is not known (known: 1..{self._known_until})")
        return self._entries[bisect.bisect_right(self._heights, height) - 1]

    def set_at(self, height: int) -> ValidatorSet:
        """Return ``set(height)``.

        Raises:
            UnknownHeight: ``height`` is not in ``1 .. known_until``.
        """
        return self._entry(height).validators

    def keys_at(self, height: int) -> dict[bytes, bytes]:
        """Return address -> public key of ``set(height)`` (do not modify). Raises ``UnknownHeight`` as
        ``set_at``."""
        return self._entry(height).keys

    def order_at(self, height: int) -> list[bytes]:
        """Return the addresses of ``set(height)`` in ascending order, the proposer order (do not modify).
        Raises ``UnknownHeight`` as ``set_at``."""
        return self._entry(height).order

    def is_member(self, address: bytes, height: int) -> bool:
        """Whether ``address`` is in ``set(height)``; False for a height outside ``1 .. known_until``."""
        try:
            return address in self._entry(height).keys
        except UnknownHeight:
            return False
