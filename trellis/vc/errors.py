"""The one error type of the credentials package: a precise, machine-readable refusal."""

from __future__ import annotations

__all__ = ["VcError"]


class VcError(ValueError):
    """A credential, presentation, proof or disclosure refused, with a stable ``code`` and a readable ``reason``."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason
