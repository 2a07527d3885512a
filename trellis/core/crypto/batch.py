"""The batch-verification port: the node verifies signatures in batches through a ``BatchVerifier``
(worker processes, or an accelerator) instead of one at a time. Implementations live in the shell
(``trellis.node.verifier``); ``SuiteVerifier`` is the plain in-process one."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from trellis.core.crypto.suite import Suite


class BatchVerifier(Protocol):
    """Verifies (public key, message, signature) triples in batches."""

    name: str
    checks_signatures: bool
    """False only for the bench-only verifier that accepts everything: callers need not build what it would
    check (each transaction's signing bytes)."""

    def verify_batch(self, items: Sequence[tuple[bytes, bytes, bytes]]) -> list[bool]:
        """Return one result per item, in order."""
        ...


class SuiteVerifier:
    """Verifies in the calling process with the suite's own verifier."""

    def __init__(self, suite: Suite) -> None:
        self.suite = suite
        self.name = f"inline-{suite.name}"
        self.checks_signatures = True

    def verify_batch(self, items: Sequence[tuple[bytes, bytes, bytes]]) -> list[bool]:
        """Return one result per item, in order."""
        return self.suite.verify_many(items)
