"""Proofs of a counterparty's state through a light client (docs/spec/interchain.md 6; ADR 0015 section 6).

A proof is the canonical encoding of the counterparty's ``StateProof`` (``core/ledger/state_tree.py``); its
``height`` is the proof height P. It is accepted when the client is active, holds a consensus state at P, and
``root_from_state_proof(suite, key, value | None, proof)`` equals that consensus state's ``state_root``. Header P
commits the state *after* block P (ADR 0004): there is no ``+1``. Keys are the counterparty's own keys (every
Trellis chain uses the same ``interchain/`` keys), so no prefix is negotiated.

The connection, channel and packet handlers call these; so does the read side (``client_status``).
"""

from __future__ import annotations

from trellis.core.codec import decode
from trellis.core.errors import DecodeError, ProofError
from trellis.core.execution.context import StateReader, TxContext
from trellis.core.execution.results import ResultCode, TxFailure
from trellis.core.ledger.state_tree import StateProof, root_from_state_proof
from trellis.core.modules.interchain.client import require_active, status, suite_of
from trellis.core.modules.interchain.state import ClientState, ConsensusState, read_client, read_consensus

__all__ = [
    "active_client",
    "client_status",
    "consensus_at",
    "decode_proof",
    "verify_membership",
    "verify_non_membership",
]


def client_status(state: StateReader, client_id: str, now_ms: int) -> str | None:
    """``"active"``, ``"frozen"`` or ``"expired"`` at ``now_ms``; None when there is no such client."""
    client = read_client(state, client_id)
    if client is None:
        return None
    return status(client, read_consensus(state, client_id, client.latest_height), now_ms)


def active_client(ctx: TxContext, client_id: str) -> ClientState:
    """The client, which must be active at the block's time (``ctx.time_ms``).

    Raises:
        TxFailure: ``CLIENT_NOT_FOUND``, ``CLIENT_FROZEN`` or ``CLIENT_EXPIRED``.
    """
    client = read_client(ctx, client_id)
    if client is None:
        raise TxFailure(ResultCode.CLIENT_NOT_FOUND, f"no client {client_id}")
    require_active(client_id, client, read_consensus(ctx, client_id, client.latest_height), ctx.time_ms)
    return client


def consensus_at(ctx: TxContext, client_id: str, height: int) -> ConsensusState:
    """The client's consensus state at ``height``.

    Raises:
        TxFailure: ``UNKNOWN_CONSENSUS_HEIGHT``.
    """
    cs = read_consensus(ctx, client_id, height)
    if cs is None:
        raise TxFailure(ResultCode.UNKNOWN_CONSENSUS_HEIGHT, f"client {client_id} has no consensus state at {height}")
    return cs


def decode_proof(proof: bytes) -> StateProof:
    """A ``StateProof`` from its canonical encoding.

    Raises:
        TxFailure: ``INVALID_PROOF`` (``undecodable``).
    """
    try:
        return decode(proof, StateProof)
    except DecodeError as exc:
        raise TxFailure(
            ResultCode.INVALID_PROOF, f"undecodable: the proof is not a canonical StateProof: {exc}"
        ) from None


def _verify(ctx: TxContext, client_id: str, key: bytes, value: bytes | None, proof: bytes) -> int:
    client = active_client(ctx, client_id)
    sp = decode_proof(proof)
    cs = consensus_at(ctx, client_id, sp.height)
    try:
        root = root_from_state_proof(suite_of(client), key, value, sp)
    except ProofError as exc:
        raise TxFailure(ResultCode.INVALID_PROOF, f"{exc.reason} (key {key!r}, height {sp.height})") from None
    if root != cs.state_root:
        what = "value" if value is not None else "absence"
        raise TxFailure(
            ResultCode.INVALID_PROOF,
            f"root_mismatch: the proof of the {what} of key {key!r} does not lead to the state root of client "
            f"{client_id} at height {sp.height}",
        )
    return sp.height


def verify_membership(ctx: TxContext, client_id: str, key: bytes, value: bytes, proof: bytes) -> int:
    """Check that the counterparty's state held ``value`` at ``key`` after block P; return P (the proof height).

    Raises:
        TxFailure: ``CLIENT_NOT_FOUND``, ``CLIENT_FROZEN``, ``CLIENT_EXPIRED``, ``INVALID_PROOF`` (undecodable or
            non-canonical proof, a ``ProofError`` check, or ``root_mismatch``), ``UNKNOWN_CONSENSUS_HEIGHT``.
    """
    return _verify(ctx, client_id, key, value, proof)


def verify_non_membership(ctx: TxContext, client_id: str, key: bytes, proof: bytes) -> int:
    """Check that the counterparty's state had no ``key`` after block P; return P (the proof height).

    Raises:
        TxFailure: as ``verify_membership``.
    """
    return _verify(ctx, client_id, key, None, proof)
