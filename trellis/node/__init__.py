"""The imperative shell: node configuration and home directory, mempool, the block producer (consensus
driver), commit notifications and the assembly that wires real adapters together.

May import: ``trellis.core``, ``trellis.abci``, ``trellis.app``, ``trellis.storage``, ``trellis.keys``,
``trellis.p2p``. Must not import ``trellis.api`` or ``trellis.cli``.
"""
