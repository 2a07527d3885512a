"""Block execution: ``apply_block(state, txs, env) -> BlockOutput`` and the modules' pure handlers.

The handlers (``accounts``, ``kv``) live here rather than in ``trellis/app`` because they are consensus-critical
and must stay pure (docs/adr/0003-module-handlers-in-core.md).

May import: ``trellis.core.*`` below this package.
"""

from trellis.core.execution.apply import BlockEnv, BlockOutput, StateReader, apply_block, genesis_writes
from trellis.core.execution.results import ResultCode

__all__ = ["BlockEnv", "BlockOutput", "ResultCode", "StateReader", "apply_block", "genesis_writes"]
