"""The ``directory`` module: the cross-chain data directory (docs/spec/directory.md; ADR 0016 section 4)."""
