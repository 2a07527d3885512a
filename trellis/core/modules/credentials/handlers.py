"""The ``credentials`` module: the issuer trust registry and W3C Bitstring Status Lists (docs/spec/credentials.md).

Only what verifiers must agree on lives on chain: which issuer DIDs may issue which credential types (changed
by the genesis governance address), and the bits of each status list. A list's bits are stored in chunks of
``CHUNK_BYTES`` so a verifier can fetch one chunk with a state proof against a committed header; the state
root is the lists' commitment. A change is committed with its block and so is seen by every verifier that
reads committed state from the next block on.
"""

from __future__ import annotations

import msgspec

from trellis.core.codec import decode, encode
from trellis.core.execution.context import StateReader, TxContext
from trellis.core.execution.results import ResultCode, TxFailure
from trellis.core.ledger.block import Event
from trellis.core.modules.credentials.messages import (
    SetIssuer,
    StatusCreate,
    StatusSet,
)
from trellis.core.modules.credentials.state import (
    CHUNK_BITS,
    CHUNK_BYTES,
    IssuerRecord,
    StatusListRecord,
    issuer_key,
    status_chunk_key,
    status_list_key,
)


def _governance_only(ctx: TxContext) -> None:
    gov = ctx.governance
    if gov is None or ctx.sender != gov:
        raise TxFailure(ResultCode.UNAUTHORIZED, "only the genesis governance address may change the issuer registry")


def handle_set_issuer(ctx: TxContext, msg: SetIssuer) -> list[Event]:
    """Authorise an issuer DID for credential types, or remove it (empty ``types``). Governance only."""
    _governance_only(ctx)
    get, put = ctx.get, ctx.put
    key = issuer_key(msg.did)
    if not msg.types:
        if get(key) is None:
            raise TxFailure(ResultCode.NOT_FOUND, f"issuer {msg.did} is not in the registry")
        put(key, None)
        return [Event(type="credentials.issuer_removed", attributes=[("did", msg.did.encode())])]
    types = sorted(set(msg.types))
    record = IssuerRecord(did=msg.did, types=types, controller=msg.controller, updated_height=ctx.height)
    put(key, encode(record))
    return [
        Event(
            type="credentials.issuer_set",
            attributes=[("did", msg.did.encode()), ("types", ",".join(types).encode()), ("controller", msg.controller)],
        )
    ]


def _controller_of(state: StateReader, did: str, sender: bytes) -> None:
    raw = state.get(issuer_key(did))
    if raw is None:
        raise TxFailure(ResultCode.UNAUTHORIZED, f"issuer {did} is not in the trust registry")
    if decode(raw, IssuerRecord).controller != sender:
        raise TxFailure(ResultCode.NOT_OWNER, f"the sender is not the controller of issuer {did}")


def handle_status_create(ctx: TxContext, msg: StatusCreate) -> list[Event]:
    """Create an all-zero status list owned by a registered issuer; only the issuer's controller may."""
    get, put = ctx.get, ctx.put
    key = status_list_key(msg.list_id)
    if get(key) is not None:
        raise TxFailure(ResultCode.DUPLICATE, f"status list {msg.list_id!r} already exists")
    _controller_of(ctx, msg.issuer, ctx.sender)
    height = ctx.height
    record = StatusListRecord(
        list_id=msg.list_id,
        issuer=msg.issuer,
        purpose=msg.purpose,
        size=msg.size,
        created_height=height,
        updated_height=height,
        version=0,
    )
    put(key, encode(record))
    return [
        Event(
            type="credentials.status_created",
            attributes=[
                ("list", msg.list_id.encode()),
                ("issuer", msg.issuer.encode()),
                ("size", str(msg.size).encode()),
            ],
        )
    ]


def handle_status_set(ctx: TxContext, msg: StatusSet) -> list[Event]:
    """Set and clear entries of a status list; only its issuer's controller may.

    Fails with ``UNKNOWN_STATUS_LIST``, ``NOT_OWNER``, ``STATUS_INDEX_OUT_OF_RANGE`` (an index at or past the
    list's size) or ``INVALID_CHANGE`` (a clear on a revocation list, or an index both set and cleared).
    """
    get, put = ctx.get, ctx.put
    raw = get(status_list_key(msg.list_id))
    if raw is None:
        raise TxFailure(ResultCode.UNKNOWN_STATUS_LIST, f"unknown status list {msg.list_id!r}")
    record = decode(raw, StatusListRecord)
    _controller_of(ctx, record.issuer, ctx.sender)
    for index in (*msg.set_indexes, *msg.clear_indexes):
        if index >= record.size:
            raise TxFailure(
                ResultCode.STATUS_INDEX_OUT_OF_RANGE,
                f"index {index} is out of range: list {msg.list_id!r} has {record.size} entries",
            )
    if msg.clear_indexes and record.purpose == "revocation":
        raise TxFailure(
            ResultCode.INVALID_CHANGE, "a revocation cannot be undone: clear is refused on a revocation list"
        )
    if set(msg.set_indexes) & set(msg.clear_indexes):
        raise TxFailure(ResultCode.INVALID_CHANGE, "an index is both set and cleared")
    chunks: dict[int, bytearray] = {}
    for index, on in sorted([(i, True) for i in msg.set_indexes] + [(i, False) for i in msg.clear_indexes]):
        n = index // CHUNK_BITS
        chunk = chunks.get(n)
        if chunk is None:
            stored = get(status_chunk_key(msg.list_id, n))
            chunk_len = min(CHUNK_BYTES, record.size // 8 - n * CHUNK_BYTES)
            chunk = chunks[n] = bytearray(stored) if stored is not None else bytearray(chunk_len)
        offset = index % CHUNK_BITS
        mask = 0x80 >> (offset % 8)
        if on:
            chunk[offset // 8] |= mask
        else:
            chunk[offset // 8] &= ~mask & 0xFF
    for n in sorted(chunks):
        put(status_chunk_key(msg.list_id, n), bytes(chunks[n]))
    height = ctx.height
    put(
        status_list_key(msg.list_id),
        encode(msgspec.structs.replace(record, updated_height=height, version=record.version + 1)),
    )
    return [
        Event(
            type="credentials.status_set",
            attributes=[
                ("list", msg.list_id.encode()),
                ("set", ",".join(map(str, sorted(msg.set_indexes))).encode()),
                ("clear", ",".join(map(str, sorted(msg.clear_indexes))).encode()),
            ],
        )
    ]
