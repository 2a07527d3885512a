"""Block execution: the per-transaction reference executor (``reference``), the block-level fast path
(``fast_path.apply_block``, what blocks run through), and what both share (the transaction context, results, and
the rules a transaction must pass, ``rules``, which admission and the proposer apply too). The modules' handlers
live in ``trellis.core.modules``.

The executor's names load on first use (PEP 562): ``trellis.core.modules.<name>.handlers`` import
``trellis.core.execution.context``, and the executor imports the handler table, so importing it eagerly here
would be a cycle.

May import: ``trellis.core.*`` outside ``trellis.core.consensus``.
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
