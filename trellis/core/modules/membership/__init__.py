"""The ``membership`` module: identity certificates, revocations and governance of the member organisations (docs/spec/membership.md).

One shape, like every module (docs/guides/writing-a-module.md): ``messages`` (the payload structs, tags
``membership.<action>``), ``state`` (key layout, records, reads taking a ``StateReader``), ``handlers`` (pure functions of a
``TxContext`` and a message), ``module`` (the declaration listed in ``trellis.core.modules.registry``).
``view`` (certificate parsing and checks, ``MembershipView``, ``PeerMembership``) sits beside them. The package imports nothing eagerly: the ledger imports ``messages`` and ``handlers`` import the ledger.
Imports follow ``trellis.core.modules``' rule for each file; no other module's ``handlers``.
"""
