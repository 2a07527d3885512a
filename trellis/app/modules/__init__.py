"""Per-module query and presentation helpers (the consensus-critical handlers are in
``trellis.core.execution``, see docs/adr/0003-module-handlers-in-core.md).

May import: ``trellis.core``.
"""
