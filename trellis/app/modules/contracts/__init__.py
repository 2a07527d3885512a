"""The contract engine (wasmtime), the module validator, the ABI codec and the AssemblyScript toolchain.

May import: ``trellis.core``.
"""
