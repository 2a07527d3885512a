"""The imperative shell: node configuration, home and network directories, mempool, the consensus driver and
its validator schedule, the private validator and its write-ahead log, batch signature verifiers, wire
messages, commit notifications and the assembly that wires real adapters together.

May import: ``trellis.core``, ``trellis.abci``, ``trellis.storage``, ``trellis.keys``, ``trellis.p2p``,
``trellis.blobs``, ``trellis.notary``; ``trellis.app`` only in ``assembly`` (everything else drives the
application through ``trellis.abci.Application``). Must not import ``trellis.api`` or ``trellis.cli``.
"""
