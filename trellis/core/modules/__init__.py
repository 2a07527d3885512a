"""Consensus modules, one folder per module, each of the same shape, and the two registries over them.

- ``<name>/messages.py``: the payload structs (tags ``<name>.<action>``); ``<name>/state.py``: key prefixes
  (``PREFIXES``), records, and reads taking a ``StateReader``; ``<name>/handlers.py``: pure
  ``handle_<action>(ctx: TxContext, msg) -> list[Event]``; ``<name>/module.py``: ``MODULE``, the declaration.
  A module may keep helpers beside them (``contracts/engine.py``, ``identity/did.py``, ``membership/view.py``,
  ``validators/rules.py``, ``validators/governance.py``). A module's package imports nothing eagerly.
- ``payload.py``: ``Payload``, the union of every module's messages that ``TxBody.payload`` carries; it imports
  only ``messages`` files, so the ledger can import it.
- ``registry.py``: ``MODULES`` and ``HANDLERS``, from every module's ``module.py``.

Each module's rules are pure and deterministic like the rest of ``trellis.core``.

May import: ``trellis.core.*`` outside ``trellis.core.consensus`` and ``trellis.core.lightclient``, never the
shell; by file (ADR 0013 section 1, checked by tests/unit/test_layering.py): ``messages`` only ``core.types``,
``codec``, ``crypto``, ``errors``, ``ledger.votes`` and other modules' ``messages``; ``state`` adds
``core.ledger``, ``params``, ``execution.context``, other modules' ``state`` and its own helpers; ``handlers``
adds ``execution.results`` and other modules' ``did``/``view``/``governance``; ``module`` only ``execution.module`` and its own
files. No module imports another module's ``handlers``; outside its module only the executor does.
"""
