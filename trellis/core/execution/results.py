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
    # The interchain and transfer modules (docs/spec/interchain.md 7).
    CLIENT_NOT_FOUND = 26
    """No light client with that id."""
    CLIENT_FROZEN = 27
    """The client froze on misbehaviour (or its chain was untrusted): it proves nothing."""
    CLIENT_EXPIRED = 28
    """The client's latest consensus state is older than its trusting period: it proves nothing."""
    INVALID_HEADER = 29
    """A header or commit the client cannot accept (the message starts with the light client's code)."""
    UNKNOWN_CONSENSUS_HEIGHT = 30
    """The client holds no consensus state at the proof's (or trusted) height."""
    INVALID_PROOF = 31
    """A state proof that does not lead to the consensus state's root (the message names the check)."""
    INVALID_HANDSHAKE = 32
    """A connection or channel handshake step in the wrong state, or naming the wrong counterparty, client,
    order or version."""
    CHANNEL_NOT_OPEN = 33
    """The channel does not exist or is not OPEN."""
    PORT_NOT_BOUND = 34
    """No module takes packets on that port."""
    ALREADY_RECEIVED = 35
    """The packet was already received (receipt or ordered sequence)."""
    OUT_OF_ORDER = 36
    """An ordered channel's packet ahead of the next expected sequence."""
    PACKET_TIMED_OUT = 37
    """The packet's timeout height or time has passed at the destination."""
    TIMEOUT_NOT_DUE = 38
    """A timeout claimed at a proof height and time before the packet's timeout."""
    PACKET_NOT_PENDING = 39
    """No such packet is pending at the source (already acknowledged or timed out, or never sent)."""
    COMMITMENT_MISMATCH = 40
    """The relayed packet differs from the one the source stored."""
    UNTRUSTED_CHAIN = 41
    """A client of a chain (or genesis) governance does not trust."""
    INVALID_DENOM = 42
    """A denomination that cannot be sent, received or moved here."""
    # The custody module (docs/spec/custody.md 5).
    CHALLENGE_EXPIRED = 43
    """A custody challenge answered after its deadline (or already recorded missed)."""


class TxFailure(Exception):
    """Raised by a handler to fail the current transaction with a receipt code and message."""

    def __init__(self, code: ResultCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
