"""Ledger objects: transactions, blocks, headers, receipts, commit certificates, validator sets, and the
authenticated state tree with its proofs.

May import: ``trellis.core.types``, ``codec``, ``errors``, ``crypto``.
"""
