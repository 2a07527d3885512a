"""Interchain handlers: light clients of other Trellis chains (docs/spec/interchain.md 2; ADR 0015 section 5).

Thin: read the records, let ``interchain/client.py`` judge, write the result. A freeze (conflicting header, time
going backwards, submitted misbehaviour) is a *successful* transaction: the client's state changes and the event
``interchain.client_frozen`` says why.
"""

from __future__ import annotations

from trellis.core.codec import encode
from trellis.core.execution.context import TxContext
from trellis.core.execution.results import ResultCode, TxFailure
from trellis.core.ledger.block import Event, block_hash
from trellis.core.modules.hub.state import MAX_CLIENTS_PER_SUBCHAIN, hub_client_key, indexed_clients, is_hub
from trellis.core.modules.interchain.client import (
    DUPLICATE,
    Freeze,
    Neighbours,
    check_client_params,
    checkpoint_client,
    counterparty_params,
    decode_set_changes,
    decode_update,
    frozen,
    judge_update,
    misbehaviour,
    new_client,
    prunable,
    require_active,
    suite_of,
    verify_header,
    with_height,
)
from trellis.core.modules.interchain.messages import CreateClient, HeaderUpdate, SubmitMisbehaviour, UpdateClient
from trellis.core.modules.interchain.state import (
    NEXT_IDS_KEY,
    ClientState,
    ConsensusState,
    NextIds,
    TrustedChain,
    client_id,
    client_key,
    consensus_heights,
    consensus_key,
    misbehaviour_key,
    read_client,
    read_consensus,
    read_next_ids,
    read_trusted,
)

_PAGE = 64
"""Rows per scan page when looking for a height's neighbours."""


def _event(type_: str, **attrs: str) -> Event:
    return Event(type=type_, attributes=[(k, v.encode()) for k, v in attrs.items()])


def _client(ctx: TxContext, cid: str) -> ClientState:
    client = read_client(ctx, cid)
    if client is None:
        raise TxFailure(ResultCode.CLIENT_NOT_FOUND, f"no client {cid}")
    return client


def _active(ctx: TxContext, cid: str) -> ClientState:
    client = _client(ctx, cid)
    require_active(cid, client, read_consensus(ctx, cid, client.latest_height), ctx.time_ms)
    return client


def _trusted_consensus(ctx: TxContext, cid: str, height: int) -> ConsensusState:
    cs = read_consensus(ctx, cid, height)
    if cs is None:
        raise TxFailure(
            ResultCode.UNKNOWN_CONSENSUS_HEIGHT, f"client {cid} has no consensus state at trusted height {height}"
        )
    return cs


def _freeze(ctx: TxContext, cid: str, client: ClientState, freeze: Freeze) -> list[Event]:
    new, record = frozen(client, freeze, ctx.height)
    ctx.put(client_key(cid), encode(new))
    ctx.put(misbehaviour_key(cid), encode(record))
    return [_event("interchain.client_frozen", client_id=cid, height=str(new.frozen_height), kind=freeze.kind)]


# -- create --------------------------------------------------------------------------------------------------------
def _trusted_for(ctx: TxContext, chain_id: str, genesis_hash: bytes) -> TrustedChain:
    """The governed trust record of ``chain_id``, which must name ``genesis_hash``."""
    trusted = read_trusted(ctx, chain_id)
    if trusted is None:
        raise TxFailure(ResultCode.UNTRUSTED_CHAIN, f"chain {chain_id!r} is not trusted (no interchain.trust_chain)")
    if trusted.genesis_hash != genesis_hash:
        raise TxFailure(
            ResultCode.UNTRUSTED_CHAIN,
            f"the genesis of chain {chain_id!r} hashes to {genesis_hash.hex()}, governance trusts "
            f"{trusted.genesis_hash.hex()}",
        )
    return trusted


def _created(ctx: TxContext, msg: CreateClient) -> tuple[ClientState, ConsensusState]:
    """The new client's records: from the genesis (verified along the set changes), or from a checkpoint."""
    rules = ctx.params.genesis.interchain_rules
    governed = rules.client_policy == "governed"
    if msg.checkpoint is None:
        if not msg.genesis:
            raise TxFailure(ResultCode.INVALID_HEADER, "invalid_genesis: give the genesis or a checkpoint")
        params = counterparty_params(msg.genesis, msg.chain_id)
        if governed:
            _trusted_for(ctx, msg.chain_id, params.genesis_hash)
        changes = decode_set_changes(msg.set_changes)
        return new_client(
            params, changes, msg.header, msg.commit, msg.trusting_period_ms, msg.max_clock_drift_ms, ctx.time_ms
        )
    if msg.genesis or msg.set_changes:
        raise TxFailure(ResultCode.INVALID_HEADER, "invalid_genesis: a checkpoint comes without genesis or set changes")
    if not governed:
        # A checkpoint only asserts its genesis hash; under the open policy nothing vouches for it, and a client that
        # merely claims a chain's genesis could pass that chain's self-client check (interchain.md 2.2.1).
        raise TxFailure(
            ResultCode.UNTRUSTED_CHAIN,
            f"a client of {msg.chain_id!r} from a checkpoint needs governance to trust that checkpoint (the open "
            "policy creates clients from the genesis only)",
        )
    client, cs, block_id = checkpoint_client(
        msg.chain_id,
        msg.checkpoint,
        msg.header,
        msg.commit,
        msg.trusting_period_ms,
        msg.max_clock_drift_ms,
        ctx.time_ms,
    )
    trusted = _trusted_for(ctx, msg.chain_id, msg.checkpoint.genesis_hash)
    if trusted.checkpoint_height == 0:
        raise TxFailure(
            ResultCode.UNTRUSTED_CHAIN,
            f"governance trusts chain {msg.chain_id!r} from its genesis only (no checkpoint)",
        )
    if (client.latest_height, block_id) != (trusted.checkpoint_height, trusted.checkpoint_block_id):
        raise TxFailure(
            ResultCode.UNTRUSTED_CHAIN,
            f"the header is block {block_id.hex()} at height {client.latest_height}; governance trusts block "
            f"{trusted.checkpoint_block_id.hex()} at height {trusted.checkpoint_height}",
        )
    return client, cs


def handle_create_client(ctx: TxContext, msg: CreateClient) -> list[Event]:
    """Create a client of ``msg.chain_id`` from its genesis, set changes and a header, or from a checkpoint header
    (interchain.md 2.2). On a hub (genesis ``hub`` member) also write its entry in the hub's client index, and
    refuse (``DUPLICATE``) a client of a chain the hub has ``MAX_CLIENTS_PER_SUBCHAIN`` clients of already
    (docs/spec/hub.md 2.1)."""
    rules = ctx.params.genesis.interchain_rules
    check_client_params(msg.trusting_period_ms, msg.max_clock_drift_ms, rules.max_trusting_period_ms)
    hub = is_hub(ctx.params)
    if hub and len(indexed_clients(ctx, msg.chain_id, MAX_CLIENTS_PER_SUBCHAIN)) >= MAX_CLIENTS_PER_SUBCHAIN:
        raise TxFailure(
            ResultCode.DUPLICATE,
            f"this hub has {MAX_CLIENTS_PER_SUBCHAIN} clients of chain {msg.chain_id!r} already, the most it keeps "
            "of one chain: update or recover one of them",
        )
    client, cs = _created(ctx, msg)
    ids = read_next_ids(ctx)
    cid = client_id(ids.client)
    if hub:  # the hub's client index (hub/state.py); no other chain writes it
        ctx.put(hub_client_key(msg.chain_id, cid), b"\x01")
    ctx.put(NEXT_IDS_KEY, encode(NextIds(client=ids.client + 1, connection=ids.connection, channel=ids.channel)))
    ctx.put(client_key(cid), encode(client))
    ctx.put(consensus_key(cid, client.latest_height), encode(cs))
    return [_event("interchain.client_created", client_id=cid, chain_id=msg.chain_id, height=str(client.latest_height))]


# -- update --------------------------------------------------------------------------------------------------------
def _below(
    ctx: TxContext, cid: str, trusted: int, trusted_cs: ConsensusState, height: int
) -> tuple[int, ConsensusState]:
    """The stored neighbour below ``height``, which must be the trusted height itself: one bounded read, however
    many consensus states the client holds (a scan from an old trusted height would walk them all).

    Raises:
        TxFailure: ``INVALID_HEADER`` (``not_nearest``: a consensus state is stored between the trusted height and
            ``height``; verify from that one).
    """
    nxt = consensus_heights(ctx, cid, 1, trusted + 1)
    if nxt and nxt[0] < height:
        raise TxFailure(
            ResultCode.INVALID_HEADER,
            f"not_nearest: the client holds height {nxt[0]} between the trusted height {trusted} and {height}; "
            "update from the nearest stored height below",
        )
    return trusted, trusted_cs


def _above(ctx: TxContext, cid: str, height: int) -> tuple[int, ConsensusState] | None:
    """The stored consensus state with the least height above ``height``."""
    heights = consensus_heights(ctx, cid, 1, height + 1)
    if not heights:
        return None
    cs = read_consensus(ctx, cid, heights[0])
    assert cs is not None
    return heights[0], cs


def _prune(ctx: TxContext, cid: str, client: ClientState) -> None:
    oldest = []
    for h in consensus_heights(ctx, cid, 2, 0):
        cs = read_consensus(ctx, cid, h)
        assert cs is not None
        oldest.append((h, cs))
    for h in prunable(client, oldest, ctx.time_ms):
        ctx.put(consensus_key(cid, h), None)


def _cap(ctx: TxContext, cid: str, client: ClientState) -> None:
    """Keep at most ``interchain.max_consensus_states`` consensus states (interchain.md 2.3): past it, delete the
    lowest stored height other than ``latest_height``. Absent from genesis: no cap, nothing read or deleted (the
    behaviour before the cap existed, so existing chains replay to the same state roots). Counted by one scan
    bounded by the cap (no counter key, so the state of a client below the cap is what it was before the cap
    existed). ``latest_height`` is the highest stored height, so with more than one stored (the cap is at least 2)
    the lowest is never it."""
    cap = ctx.params.genesis.interchain_rules.consensus_state_cap
    if cap is None:
        return
    heights = consensus_heights(ctx, cid, cap + 1, 0)
    if len(heights) <= cap:
        return
    assert heights[0] != client.latest_height
    ctx.put(consensus_key(cid, heights[0]), None)


def update_client(ctx: TxContext, cid: str, update: HeaderUpdate) -> list[Event]:
    """Verify ``update`` against client ``cid`` and store its consensus state, or freeze the client on
    misbehaviour, or do nothing for a header already stored (interchain.md 2.3). ``interchain.relay`` calls this
    for its optional update.

    Raises:
        TxFailure: ``CLIENT_NOT_FOUND``, ``CLIENT_FROZEN``, ``CLIENT_EXPIRED``, ``UNKNOWN_CONSENSUS_HEIGHT``,
            ``INVALID_HEADER``.
    """
    client = _active(ctx, cid)
    lb, trusted_validators = decode_update(update)
    height = lb.header.height
    at = read_consensus(ctx, cid, height)
    if at is not None and at.block_id == block_hash(suite_of(client), lb.header):
        return [_event("interchain.client_update_duplicate", client_id=cid, height=str(height))]
    trusted_cs = _trusted_consensus(ctx, cid, update.trusted_height)
    new = verify_header(client, update.trusted_height, trusted_cs, trusted_validators, lb, ctx.time_ms)
    below = _below(ctx, cid, update.trusted_height, trusted_cs, height)
    around = Neighbours(at=at, below=below, above=_above(ctx, cid, height))
    verdict = judge_update(height, new, around)
    if isinstance(verdict, Freeze):
        return _freeze(ctx, cid, client, verdict)
    assert verdict != DUPLICATE  # the same block id was answered above
    client = with_height(client, height)
    ctx.put(consensus_key(cid, height), encode(new))
    ctx.put(client_key(cid), encode(client))
    _prune(ctx, cid, client)
    _cap(ctx, cid, client)
    return [_event("interchain.client_updated", client_id=cid, height=str(height))]


def handle_update_client(ctx: TxContext, msg: UpdateClient) -> list[Event]:
    """Add a verified consensus state to a client (interchain.md 2.3)."""
    return update_client(ctx, msg.client_id, msg.update)


# -- misbehaviour --------------------------------------------------------------------------------------------------
def handle_submit_misbehaviour(ctx: TxContext, msg: SubmitMisbehaviour) -> list[Event]:
    """Freeze an active client on two verified headers that cannot both be true (interchain.md 2.4)."""
    cid = msg.client_id
    client = _active(ctx, cid)
    verified: list[tuple[int, ConsensusState]] = []
    for update in (msg.first, msg.second):
        lb, trusted_validators = decode_update(update)
        trusted_cs = _trusted_consensus(ctx, cid, update.trusted_height)
        cs = verify_header(client, update.trusted_height, trusted_cs, trusted_validators, lb, ctx.time_ms)
        verified.append((lb.header.height, cs))
    (h1, cs1), (h2, cs2) = verified
    return _freeze(ctx, cid, client, misbehaviour(h1, cs1, h2, cs2))
