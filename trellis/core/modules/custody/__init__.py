"""The ``custody`` module: proofs of retrievability for stored files (docs/spec/custody.md; ADR 0018 section 7).

One shape, like every module (docs/guides/writing-a-module.md): ``messages`` (the payload structs, tags
``custody.<action>``), ``state`` (key layout, records, the segment tree and the challenge derivation, reads taking a
``StateReader``), ``handlers`` (register, respond, release, and the ``begin_block`` hook that opens challenge rounds
and records missed challenges), ``module`` (the declaration listed in ``trellis.core.modules.registry``).
The package imports nothing eagerly: the ledger imports ``messages`` and ``handlers`` import the ledger.
"""
