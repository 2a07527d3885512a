"""Checks other modules' handlers make against the DID registry (docs/spec/did-method.md 5)."""

from __future__ import annotations

from trellis.core.execution.context import TxContext
from trellis.core.execution.results import ResultCode, TxFailure
from trellis.core.modules.identity.did import DidError, parse_did
from trellis.core.modules.identity.state import current_document, may_control


def require_controlled_did(ctx: TxContext, did: str, field: str) -> None:
    """The sender's key must control ``did``, an active ``did:trellis`` DID of this chain (as for a DID update);
    ``field`` names the message field in the failure messages.

    Raises:
        TxFailure: ``INVALID_DID`` (not a DID of this chain), ``NOT_FOUND``, ``DID_DEACTIVATED``, ``UNAUTHORIZED``.
    """
    chain_id = ctx.params.chain_id
    try:
        did_id = parse_did(did, chain_id)
    except DidError as exc:
        raise TxFailure(ResultCode.INVALID_DID, f"{field}: {exc.code}: {exc.reason}") from exc
    cur = current_document(ctx, did_id)
    if cur is None:
        raise TxFailure(ResultCode.NOT_FOUND, f"{field} {did} does not exist")
    rec, doc = cur
    if rec.deactivated or doc is None:
        raise TxFailure(ResultCode.DID_DEACTIVATED, f"{field} {did} is deactivated")
    if not may_control(ctx, chain_id, doc, ctx.sender_key):
        raise TxFailure(
            ResultCode.UNAUTHORIZED,
            f"the sender's key is not an authentication key of {did} or of one of its controllers",
        )
