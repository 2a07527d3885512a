"""What a module declares: its name, its messages and their handlers (docs/guides/writing-a-module.md).

Every module's package (``trellis/core/modules/<name>/__init__.py``) defines ``MODULE = Module(...)``;
``trellis.core.modules.registry`` lists them once and builds the handler table from them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from trellis.core.execution.context import TxContext
from trellis.core.ledger.block import Event

Handler = Callable[[TxContext, Any], list[Event]]
"""A message handler: runs one message against the transaction's context and returns its events, or raises
``TxFailure`` (the transaction fails with a receipt code; its writes are discarded)."""


@dataclass(frozen=True)
class Module:
    """A consensus module: the messages it adds to the payload union, each with its handler, and the state-key
    prefixes it owns (no two modules share one)."""

    name: str
    """The module's name: every message's tag is ``"<name>.<action>"``."""
    handlers: Mapping[type, Handler]
    """Each message type of the module, mapped to its handler. The message types are the keys."""
    prefixes: tuple[bytes, ...] = field(default=())
    """The state-key prefixes the module's records live under."""

    @property
    def messages(self) -> tuple[type, ...]:
        """The module's message types, in declaration order."""
        return tuple(self.handlers)
