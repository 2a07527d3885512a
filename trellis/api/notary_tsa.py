"""``POST /v1/notary/tsa``: the RFC 3161 time-stamping endpoint (``application/timestamp-query`` in,
``application/timestamp-reply`` out), answering from the chain (see ``trellis.notary.tsa``).

The digest in the request's message imprint is looked up on chain; if no block anchored it yet, the TSA
anchors it (one ``notary.anchor`` from the TSA's chain account, type ``rfc3161``) and waits for the commit. The
token's ``genTime`` is the anchoring block's time. A refused request gets HTTP 400 with a ``rejection``
TimeStampResp whose ``failInfo`` says why; an oversized body gets 413.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from trellis.app.modules.notary import RecordView, record_of
from trellis.core.codec import encode
from trellis.core.crypto.suite import address_of
from trellis.core.errors import InvalidTransaction
from trellis.core.ledger.tx import TxBody, sign_tx, tx_hash
from trellis.core.modules.notary.messages import NotaryAnchor
from trellis.keys.signer import Signer
from trellis.node.node import Node
from trellis.notary.receipt import DIGEST_ALGORITHMS
from trellis.notary.tsa import MAX_REQUEST_BYTES, TsaError, TsaIdentity, build_response, parse_request, rejection

__all__ = ["QUERY_MEDIA_TYPE", "REPLY_MEDIA_TYPE", "TsaEndpoint", "tsa_routes"]

QUERY_MEDIA_TYPE = "application/timestamp-query"
REPLY_MEDIA_TYPE = "application/timestamp-reply"
_COMMIT_WAIT_S = 20.0


def _reply(body: bytes, status: int = 200) -> web.Response:
    return web.Response(status=status, body=body, content_type=REPLY_MEDIA_TYPE)


class TsaEndpoint:
    """The TSA handler of one node: its TSA identity and the chain account that anchors new digests."""

    def __init__(self, node: Node, identity: TsaIdentity, signer: Signer) -> None:
        self.node = node
        self.identity = identity
        self.signer = signer
        self._submit = asyncio.Lock()

    async def _anchor(self, digest: bytes) -> RecordView | None:
        node = self.node
        suite = node.app.params.suite
        async with self._submit:  # one nonce at a time for the TSA account
            view = record_of(node.app.reader(), digest)
            if view is not None:
                return view
            sender = address_of(suite, self.signer.public_key)
            body = TxBody(
                chain_id=node.app.params.chain_id,
                sender=self.signer.public_key,
                nonce=node.mempool.next_nonce(sender),
                payload=NotaryAnchor(digests=[digest], record_type="rfc3161"),
            )
            checked = node.submit(encode(sign_tx(body, self.signer.sign)))
        st = await node.wait_committed(checked.hash, _COMMIT_WAIT_S)
        if st.state != "committed":
            return None
        return record_of(node.app.reader(), digest)

    def _reference(self, view: RecordView) -> dict[str, object]:
        node = self.node
        params = node.app.params
        rec = view.record
        ref: dict[str, object] = {
            "chain_id": params.chain_id,
            "genesis_hash": "0x" + params.genesis_hash.hex(),
            "height": rec.height,
            "digest": "0x" + view.digest.hex(),
            "receipt": f"/v1/notary/receipts/0x{view.digest.hex()}",
        }
        block = node.blocks.block(rec.height)
        if block is not None:
            for tx in block.txs:
                if tx.body.nonce == rec.nonce and address_of(params.suite, tx.body.sender) == rec.sender:
                    ref["tx"] = "0x" + tx_hash(params.suite, encode(tx)).hex()
                    break
        return ref

    async def timestamp(self, request: web.Request) -> web.Response:
        """POST /v1/notary/tsa."""
        if request.content_type != QUERY_MEDIA_TYPE:
            err = TsaError("bad_data_format", f"send {QUERY_MEDIA_TYPE}, not {request.content_type}")
            return _reply(rejection(err), 415)
        body = await request.content.read(MAX_REQUEST_BYTES + 1)
        if len(body) > MAX_REQUEST_BYTES:
            err = TsaError("bad_data_format", f"a time-stamp request is at most {MAX_REQUEST_BYTES} bytes")
            return _reply(rejection(err), 413)
        alg = DIGEST_ALGORITHMS[self.node.app.params.suite.name]
        try:
            req = parse_request(body, alg)
        except TsaError as err:
            return _reply(rejection(err), 400)
        view = record_of(self.node.app.reader(), req.digest)
        if view is None:
            try:
                view = await self._anchor(req.digest)
            except InvalidTransaction as exc:
                return _reply(rejection(TsaError("system_failure", f"the chain refused the anchoring: {exc}")), 503)
            if view is None:
                return _reply(rejection(TsaError("time_not_available", "the anchoring was not committed in time")), 503)
        token = build_response(req, self.identity, time_ms=view.record.time_ms, reference=self._reference(view))
        return _reply(token)


def tsa_routes(node: Node, identity: TsaIdentity, signer: Signer) -> list[web.RouteDef]:
    """The TSA route of ``node``, signing tokens with ``identity`` and anchoring with ``signer``'s account."""
    return [web.post("/v1/notary/tsa", TsaEndpoint(node, identity, signer).timestamp)]
