"""Ledger objects: transactions, blocks, headers, receipts, events, votes, evidence, commit certificates,
validator sets, and the authenticated state tree with its proofs.

May import: ``trellis.core.types``, ``codec``, ``errors``, ``crypto``, and of the modules only
``trellis.core.modules.payload`` (the ``Payload`` union a ``TxBody`` carries). Never ``trellis.core.execution``
or ``trellis.core.consensus``: they import the ledger.
"""
