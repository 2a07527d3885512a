"""Read-only contract queries against committed state (docs/spec/contracts.md section 6).

Nothing is written and no event is kept: the host refuses writes (``storage_set``, ``storage_delete`` and
``emit`` trap with "read-only", in nested calls too) and the gas is capped by the node's configuration.
"""

from __future__ import annotations

from trellis.core.execution.context import StateReader
from trellis.core.modules.contracts.engine import (
    CallOutcome,
    ContractEngine,
    ContractHost,
    StateContractHost,
    plain_scan,
)
from trellis.core.params import ChainParams

QUERY_CALLER = bytes(20)
"""The caller (and origin) a query runs as: no account."""


def query_host(
    state: StateReader,
    params: ChainParams,
    height: int,
    time_ms: int,
) -> StateContractHost:
    """A read-only host over committed state for a query (writes and events trap with "read-only").

    Args:
        state: the committed state.
        params: the chain's parameters (suite and contract limits).
        height: the height of the state (the latest committed block).
        time_ms: that block's time.
    """
    return StateContractHost(
        params.suite,
        params.genesis.contracts,
        height,
        time_ms,
        QUERY_CALLER,
        state,
        None,
        plain_scan(state.scan),
    )


def run_query(
    engine: ContractEngine, host: ContractHost, contract: bytes, method: str, args: bytes, gas_cap: int
) -> CallOutcome:
    """Run ``method`` of ``contract`` read-only on ``host`` with at most ``gas_cap`` gas; nothing is kept.

    The outcome's events are dropped (a query keeps none). ``init`` cannot be queried.
    """
    outcome = engine.call(host, contract, QUERY_CALLER, method, args, gas_cap)
    outcome.events = []
    return outcome
