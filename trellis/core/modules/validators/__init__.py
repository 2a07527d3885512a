"""The ``validators`` module: the validator set as state records, changed by admin governance (ADR 0014).

``state`` holds the records (``validators/meta``, ``validators/set/<effective height>``) and the reads every
consumer of the set uses (``sets_for_block``, ``entry_in_force``); ``messages`` the three changes, members of
membership's ``MembershipChange`` (the module has no payload of its own: a change travels inside
``membership.propose``); ``rules`` the pure rules of a change; ``governance`` the steps membership's propose and
approve handlers call to check and apply one (a library of governance steps, not payload handlers: the module
has none); ``module`` the declaration (state prefixes, no handlers).

Imports follow ``trellis.core.modules``' rule for each file (``rules`` and ``governance`` like a handler; another
module's handlers may import a module's ``governance``, never its ``handlers``: tests/unit/test_layering.py).
"""

from typing import TYPE_CHECKING, Any

# ``trellis.core.modules.membership.messages`` builds the ``MembershipChange`` union from ``messages``, and ``state`` imports the
# ledger: importing ``state`` here eagerly would be a cycle. The names load on first use (PEP 562).
if TYPE_CHECKING:
    from trellis.core.modules.validators.state import (
        META_KEY,
        SET_PREFIX,
        OwnerOrg,
        ValidatorSetEntry,
        ValidatorsMeta,
        ValidatorUpdate,
        entry_in_force,
        genesis_entry,
        genesis_validator_writes,
        read_entry,
        read_meta,
        set_key,
        sets_for_block,
        update_of,
    )


__all__ = [
    "META_KEY",
    "SET_PREFIX",
    "OwnerOrg",
    "ValidatorSetEntry",
    "ValidatorUpdate",
    "ValidatorsMeta",
    "entry_in_force",
    "genesis_entry",
    "genesis_validator_writes",
    "read_entry",
    "read_meta",
    "set_key",
    "sets_for_block",
    "update_of",
]


def __getattr__(name: str) -> Any:
    """Load the state API's names on first use."""
    if name in __all__:
        from trellis.core.modules.validators import state

        return getattr(state, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
