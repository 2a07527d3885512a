"""The interchain module's rules, one file per subject: ``clients``, ``connections``, ``channels``, ``packets``
(docs/spec/interchain.md 2, 5). ``module.py`` maps every message to its handler."""
