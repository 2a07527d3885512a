"""Receipt result codes and the exception handlers use to fail a transaction."""

from __future__ import annotations

from enum import IntEnum


class ResultCode(IntEnum):
    """Receipt codes. 0 is success; a failed transaction changes nothing but the sender's nonce."""

    OK = 0
    INSUFFICIENT_FUNDS = 1
    UNAUTHORIZED = 2
    NOT_OWNER = 3
    NOT_FOUND = 4
    INVALID_AMOUNT = 5
    OVERFLOW = 6
    DUPLICATE = 7
    INVALID_EVIDENCE = 8
    INVALID_CONTRACT = 9
    OUT_OF_GAS = 10
    CONTRACT_TRAP = 11
    REVERTED = 12
    UNKNOWN_METHOD = 13
    CALL_DEPTH = 14
    INVALID_CERTIFICATE = 15
    INVALID_CHANGE = 16
    INVALID_DID = 17
    """A malformed DID, or one of another method or chain (identity module)."""
    INVALID_DID_DOCUMENT = 18
    """A DID document that breaks the method's rules (identity module)."""
    DID_DEACTIVATED = 19
    """A change to a deactivated DID (identity module)."""
    UNKNOWN_STATUS_LIST = 20
    """A status list id that no ``credentials.status_create`` made (credentials module)."""
    STATUS_INDEX_OUT_OF_RANGE = 21
    """A status list index at or past the list's size (credentials module)."""
    EMPTY_BATCH = 22
    """A ``notary.anchor`` with no digest (notary module)."""
    TOO_MANY_DIGESTS = 23
    """A ``notary.anchor`` with more digests than one transaction may anchor (notary module)."""
    DUPLICATE_DIGEST = 24
    """The same digest twice in one ``notary.anchor`` batch (notary module)."""
    HANDLER_ERROR = 25
    """A module's handler raised something other than ``TxFailure`` on this transaction: a bug that hostile
    input found. The transaction fails like any other (every node fails it the same way) instead of halting
    the chain; the message names the exception class."""


class TxFailure(Exception):
    """Raised by a handler to fail the current transaction with a receipt code and message."""

    def __init__(self, code: ResultCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
