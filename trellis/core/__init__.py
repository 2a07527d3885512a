"""The pure, deterministic core of Trellis.

Everything consensus-critical lives here: types, the canonical encoding, crypto suites, ledger objects,
the authenticated state tree and its proofs, and block execution.

May import: the standard library's pure modules, ``msgspec`` and the crypto libraries.
Must not import: ``trellis.node``, ``p2p``, ``storage``, ``api``, ``cli``, ``asyncio``, ``socket``, ``time``,
``random``, ``os`` or anything else that does I/O or reads a clock (enforced by tests/unit/test_layering.py).
"""
