"""The ``hub`` module: a main chain's registry of its sub-chains (docs/spec/hub.md; ADR 0016 section 1)."""
