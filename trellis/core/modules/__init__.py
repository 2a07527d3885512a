"""Consensus modules, one folder per module, each of the same shape: messages, state records, handlers.

Each module's rules are pure and deterministic like the rest of ``trellis.core``.

May import: ``trellis.core.*`` outside ``trellis.core.consensus``; a module may import another module's
public API (its package ``__all__``), never the shell.
"""
