"""The pure, deterministic core of Trellis.

Everything consensus-critical lives here: types, the canonical encoding, crypto suites, ledger objects,
the authenticated state tree and its proofs, the consensus state machine (``consensus``), the modules (one
folder each in ``modules``: messages, state records, handlers), block execution (``execution``) and the light
client.

May import: the rest of ``trellis.core``, the standard library's pure modules, ``msgspec`` and the crypto
libraries; each subpackage narrows that (its ``__init__`` says how). Must not import anything outside
``trellis.core`` (``abci``, ``app``, ``node``, ``p2p``, ``storage``, ``api``, ``cli``, ...), ``asyncio``,
``socket``, ``time``, ``random``, ``os`` or anything else that does I/O or reads a clock (enforced by
tests/unit/test_layering.py).
"""
