"""The contract engine (wasmtime), the module validator, the ABI codec and the AssemblyScript toolchain.

- ``engine``: ``WasmEngine``, the core's ``ContractEngine`` under wasmtime, and ``measure_call_overhead``.
- ``validate``: the module rules of docs/spec/contracts.md section 3 (``validate_module``).
- ``memhost``: ``MemoryContractHost``, an in-memory ``ContractHost`` for tests and tools.
- ``query``: ``query_host`` and ``run_query``, read-only queries against committed state.
- ``abi``, ``toolchain``: the ABI codec and the AssemblyScript build (import them as modules).

May import: ``trellis.core``.
"""

from trellis.app.modules.contracts.engine import WasmEngine, measure_call_overhead
from trellis.app.modules.contracts.memhost import MemoryContractHost
from trellis.app.modules.contracts.query import query_host, run_query
from trellis.app.modules.contracts.validate import HOST_IMPORTS, ModuleInfo, validate_module

__all__ = [
    "HOST_IMPORTS",
    "MemoryContractHost",
    "ModuleInfo",
    "WasmEngine",
    "measure_call_overhead",
    "query_host",
    "run_query",
    "validate_module",
]
