"""Block execution: the reference executor (``reference``: ``BlockEnv``, ``BlockOutput``,
``apply_block_reference``, one transaction at a time), the fast path every block runs through
(``fast_path.apply_block``, held equal to the reference by a property test), and what both share: the
transaction context and the one state reader (``context``: ``TxContext``, ``StateReader``), result codes
(``results``), the rules a transaction must pass, which admission and the proposer apply too (``rules``), a
module's declaration (``module``), and building and checking whole blocks (``block``: ``ExecutedBlock`` with its
``BlockEffects``, ``ChainTip``). The modules' handlers live in ``trellis.core.modules``.

The executor's names load on first use (PEP 562): ``trellis.core.modules.<name>.handlers`` import
``trellis.core.execution.context``, and the executor imports the handler table, so importing it eagerly here
would be a cycle.

May import: ``trellis.core.*`` outside ``trellis.core.consensus`` and ``trellis.core.lightclient``. It is the one
place outside a module that imports a module's handlers (through ``trellis.core.modules.registry``; the fast
path calls ``accounts.handlers`` directly).
"""

from typing import TYPE_CHECKING, Any

from trellis.core.execution.results import ResultCode

if TYPE_CHECKING:
    from trellis.core.execution.context import StateReader
    from trellis.core.execution.fast_path import apply_block
    from trellis.core.execution.reference import BlockEnv, BlockOutput, apply_block_reference, genesis_writes
    from trellis.core.execution.rules import Refusal, Rule, Stage, TxRules

_HOME = {
    "StateReader": "context",
    "apply_block": "fast_path",
    "BlockEnv": "reference",
    "BlockOutput": "reference",
    "apply_block_reference": "reference",
    "genesis_writes": "reference",
    "Refusal": "rules",
    "Rule": "rules",
    "Stage": "rules",
    "TxRules": "rules",
}
"""Where each lazily loaded name lives, under ``trellis.core.execution``."""

__all__ = [
    "BlockEnv",
    "BlockOutput",
    "Refusal",
    "ResultCode",
    "Rule",
    "Stage",
    "StateReader",
    "TxRules",
    "apply_block",
    "apply_block_reference",
    "genesis_writes",
]


def __getattr__(name: str) -> Any:
    """Load the executor's names on first use."""
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from trellis.core.execution import context, fast_path, reference, rules

    modules = {"context": context, "fast_path": fast_path, "reference": reference, "rules": rules}
    return getattr(modules[home], name)
