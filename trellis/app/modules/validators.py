"""Read side of the validator set in state (ADR 0014): which set signs a height, every entry since genesis, and
the proven set changes a light client follows from genesis (docs/spec/light-client.md section 6).

Everything here reads the committed state through a ``StateReader`` and the block store through two small
callables, so the functions serve the application, the API and tests alike.
"""

from __future__ import annotations

from collections.abc import Callable

from trellis.abci import UnknownHeight
from trellis.core.execution.context import StateReader
from trellis.core.ledger.block import Commit, Header
from trellis.core.lightclient import SetChange
from trellis.core.modules.validators.state import (
    ValidatorSetEntry,
    entry_in_force,
    read_entry,
    read_meta,
)

__all__ = ["entries", "entry_at", "set_changes"]


def entry_at(state: StateReader, tip_height: int, height: int) -> ValidatorSetEntry:
    """Return the entry of ``set(height)`` as the state after block ``tip_height`` decides it.

    That state knows every set up to ``tip_height + 2`` (a change applied in the tip block is effective two
    heights later); beyond, a change applied in a block not yet committed could still intervene.

    Raises:
        UnknownHeight: ``height`` is not in ``1 .. tip_height + 2``.
    """
    if not 1 <= height <= tip_height + 2:
        raise UnknownHeight(
            f"the validator set of height {height} is not known: the chain is at height {tip_height}, "
            f"so sets are known for heights 1 to {tip_height + 2}"
        )
    return entry_in_force(state, height)


def entries(state: StateReader) -> list[ValidatorSetEntry]:
    """Return every validator-set entry of the state, genesis (effective height 1) first, ascending."""
    out = [read_entry(state, read_meta(state).latest)]
    while out[-1].previous != 0:
        out.append(read_entry(state, out[-1].previous))
    out.reverse()
    return out


def set_changes(
    state: StateReader,
    tip_height: int,
    to_height: int,
    header_of: Callable[[int], Header],
    commit_of: Callable[[int], Commit | None],
) -> list[SetChange]:
    """Return one ``SetChange`` per entry effective at ``3 <= e <= to_height``, ascending: the header of ``e - 1``,
    its commit and ``set(e)`` (light-client.md section 6: what ``verify_from_genesis`` takes for a header of
    ``to_height``).

    Args:
        state: reads the committed state (after block ``tip_height``).
        tip_height: the committed tip.
        to_height: the height of the header the client will verify; ``1 .. tip_height + 1`` (the header of
            ``to_height - 1`` must be committed).
        header_of: the committed header at a height.
        commit_of: the stored commit certificate of a height (None if missing).

    Raises:
        UnknownHeight: ``to_height`` out of range, or a certificate the changes need is not stored.
    """
    if not 1 <= to_height <= tip_height + 1:
        raise UnknownHeight(
            f"set changes up to height {to_height} are not known: the chain is at height {tip_height}, "
            f"so to_height may be 1 to {tip_height + 1}"
        )
    out: list[SetChange] = []
    for entry in entries(state):
        e = entry.effective_height
        if e < 3 or e > to_height:
            continue
        commit = commit_of(e - 1)
        if commit is None:
            raise UnknownHeight(f"the commit certificate of block {e - 1} is not stored on this node")
        out.append(SetChange(header=header_of(e - 1), commit=commit, next_validators=entry.validators))
    return out
