"""Block execution: the per-transaction reference executor, the block-level fast path, and what both share (the
transaction context, results, rules). The modules' handlers live in ``trellis.core.modules``.

The executor's names load on first use (PEP 562): ``trellis.core.modules.<name>.handlers`` import
``trellis.core.execution.context``, and the executor imports the handler table, so importing it eagerly here
would be a cycle.

May import: ``trellis.core.*`` outside ``trellis.core.consensus``.
"""

from typing import TYPE_CHECKING, Any

from trellis.core.execution.results import ResultCode

if TYPE_CHECKING:
    from trellis.core.execution.apply import BlockEnv, BlockOutput, StateReader, apply_block, genesis_writes

__all__ = ["BlockEnv", "BlockOutput", "ResultCode", "StateReader", "apply_block", "genesis_writes"]


def __getattr__(name: str) -> Any:
    """Load the executor's names on first use."""
    if name in __all__:
        from trellis.core.execution import apply

        return getattr(apply, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
