"""The ``contracts`` module: WebAssembly contracts: deploy, call, upgrade (docs/spec/contracts.md).

One shape, like every module (docs/guides/writing-a-module.md): ``messages`` (the payload structs, tags
``contracts.<action>``), ``state`` (key layout, records, reads taking a ``StateReader``), ``handlers`` (pure functions of a
``TxContext`` and a message), ``module`` (the declaration listed in ``trellis.core.modules.registry``).
``engine`` (gas, addresses, the ``ContractEngine``/``ContractHost`` ports, ``StateContractHost``) sits beside
them. The package imports nothing eagerly: the ledger imports ``messages`` and ``handlers`` import the ledger.
Imports follow ``trellis.core.modules``' rule for each file; no other module's ``handlers``.
"""
