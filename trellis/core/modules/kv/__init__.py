"""The ``kv`` module: a namespaced key-value store (docs/spec/encoding.md).

One shape, like every module (docs/guides/writing-a-module.md): ``messages`` (the payload structs, tags
``kv.<action>``), ``state`` (key layout, records, reads taking a ``StateReader``), ``handlers`` (pure functions of a
``TxContext`` and a message), ``module`` (the declaration listed in ``trellis.core.modules.registry``).
The package imports nothing eagerly: the ledger imports ``messages`` and ``handlers`` import the ledger.
Imports follow ``trellis.core.modules``' rule for each file; no other module's ``handlers``.
"""
