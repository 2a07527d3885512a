"""Notarization receipts: building them from committed blocks and verifying them offline (docs/spec/receipt.md),
and the RFC 3161 time-stamping authority that answers from the chain.

May import: ``trellis.core`` (receipts), ``cryptography``/``asn1crypto`` (time stamps), ``trellis.keys``.
"""
