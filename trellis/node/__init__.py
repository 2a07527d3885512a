"""The imperative shell: node configuration, home and network directories, mempool, the consensus driver,
the private validator and its write-ahead log, batch signature verifiers, wire messages, commit
notifications and the assembly that wires real adapters together.

May import: ``trellis.core``, ``trellis.abci``, ``trellis.app``, ``trellis.storage``, ``trellis.keys``,
``trellis.p2p``. Must not import ``trellis.api`` or ``trellis.cli``.
"""
