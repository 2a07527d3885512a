"""The read side of each module: queries and presentation over committed state (records read through a
``StateReader``, history indexes, DID resolution, status lists, notary receipts, the contract query host),
one file per module. The consensus side (messages, state records, handlers) of module ``<name>`` is
``trellis.core.modules.<name>`` (docs/adr/0003-module-handlers-in-core.md, ADR 0013).

May import: ``trellis.core``, ``trellis.abci``, ``trellis.vc``, ``trellis.notary`` and ``trellis.storage.kv``
(for ``StorageError`` only: a stored record that does not decode is the node's fault). Never
``trellis.app.application``: the API imports this package, and reaches the application only through the boundary.
"""
