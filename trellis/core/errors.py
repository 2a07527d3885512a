"""Typed errors raised at the core's boundary.

A failed transaction inside a valid block is a receipt code, never an exception. These exceptions are for
inputs that are invalid as a whole: undecodable bytes, a transaction that can never be valid, a bad block,
a proof that does not verify.
"""

from __future__ import annotations


class TrellisError(Exception):
    """Base class of every error Trellis raises on purpose."""

    code: str = "error"

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class DecodeError(TrellisError):
    """Bytes that are not the canonical encoding of the expected type."""

    code = "malformed"


class InvalidTransaction(TrellisError):
    """A transaction that must not enter a mempool or a block.

    ``code`` names the rule that failed (``wrong_chain_id``, ``bad_signature``, ``nonce_replayed``,
    ``nonce_gap``, ``too_large``, ``unknown_module``, ``malformed``, ``duplicate``, ``mempool_full``).
    """

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code


class InvalidBlock(TrellisError):
    """A block that breaks a validity rule; ``code`` names the rule."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code


class ProofError(TrellisError):
    """A Merkle or state proof that does not verify; ``reason`` says which check failed."""

    code = "invalid_proof"
