"""The ``transfer`` module: fungible transfers between chains over interchain channels, escrow on the source and
vouchers named by their path on the destination (docs/spec/transfer.md; ADR 0015 section 7).

One shape, like every module (docs/guides/writing-a-module.md), plus ``denom.py`` (pure denomination-trace rules)
and ``app.py`` (the packet application the interchain module calls). The package imports nothing eagerly.
"""
