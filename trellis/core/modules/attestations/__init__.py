"""The ``attestations`` module: a registered party signs a statement about a subject (docs/spec/attestations.md).

One shape, like every module (docs/guides/writing-a-module.md): ``messages`` (the payload structs, tags
``attestations.<action>``), ``state`` (key layout, records, reads taking a ``StateReader``), ``handlers`` (pure
functions of a ``TxContext`` and a message), ``module`` (the declaration listed in ``trellis.core.modules.registry``).
The package imports nothing eagerly: the ledger imports ``messages`` and ``handlers`` import the ledger.
Imports follow ``trellis.core.modules``' rule for each file; no other module's ``handlers``.
"""
