"""The validators module's declaration. Its changes travel inside membership governance (``membership.propose``
with a ``validators.*`` change, ADR 0014), so it adds no payload message of its own: only its state prefixes."""

from __future__ import annotations

from trellis.core.execution.module import Module
from trellis.core.modules.validators.state import PREFIXES

MODULE = Module(name="validators", handlers={}, prefixes=PREFIXES)
