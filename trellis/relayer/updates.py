"""Client updates: the ``interchain.update_client`` messages that bring a chain's client of a counterparty to a
height, bisecting off chain with ``lightclient.verify_to_height`` where one skip lacks trust (ADR 0015 section 5).

The destination verifies every update itself; the local verification only chooses the intermediate heights (and
refuses early what the chain would refuse: an expired client, a header from the future).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from trellis.core.codec import decode, encode
from trellis.core.crypto.suite import suite_by_name
from trellis.core.errors import DecodeError
from trellis.core.ledger.block import block_hash
from trellis.core.lightclient import LightBlock, LightClientError, TrustedState, TrustOptions, verify_to_height
from trellis.core.modules.interchain.messages import HeaderUpdate, UpdateClient
from trellis.core.modules.interchain.state import ClientState, ConsensusState, client_key, consensus_key
from trellis.relayer.endpoint import ChainEndpoint, EndpointError

NO_DRIFT_CHECK = 2**62
"""A clock drift no header passes: the local check leaves "from the future" to the destination."""


class UpdateError(Exception):
    """A client cannot be updated (frozen, expired, unknown, or the source's blocks do not verify)."""


@dataclass(frozen=True)
class ClientView:
    """A destination's client of a source, read from the destination's state."""

    client_id: str
    state: ClientState
    latest: ConsensusState

    @property
    def frozen(self) -> bool:
        """The client froze (misbehaviour or governance)."""
        return self.state.frozen_height != 0


async def read_client(dst: ChainEndpoint, client_id: str) -> ClientView:
    """The client ``client_id`` of ``dst`` and its latest consensus state (from ``dst``'s state).

    Raises:
        UpdateError: no such client, or records that do not decode.
    """
    raw = (await dst.state(client_key(client_id))).value
    if raw is None:
        raise UpdateError(f"{dst.name} has no client {client_id}")
    try:
        cs = decode(raw, ClientState)
        raw_cons = (await dst.state(consensus_key(client_id, cs.latest_height))).value
        if raw_cons is None:
            raise UpdateError(f"{dst.name}: client {client_id} has no consensus state at its latest height")
        return ClientView(client_id, cs, decode(raw_cons, ConsensusState))
    except DecodeError as exc:
        raise UpdateError(f"{dst.name}: client {client_id} does not decode: {exc}") from None


class _SyncProvider:
    """``lightclient.HeaderProvider`` for a worker thread: each light block fetched on the event loop."""

    def __init__(self, src: ChainEndpoint, loop: asyncio.AbstractEventLoop, cache: dict[int, LightBlock]) -> None:
        self.src, self.loop, self.cache = src, loop, cache

    def light_block(self, height: int) -> LightBlock:
        if height not in self.cache:
            self.cache[height] = asyncio.run_coroutine_threadsafe(self.src.light_block(height), self.loop).result()
        return self.cache[height]

    def latest_height(self) -> int:
        return asyncio.run_coroutine_threadsafe(self.src.head(), self.loop).result().height


def header_update(trusted: LightBlock, lb: LightBlock) -> HeaderUpdate:
    """The update of ``lb`` verified from the stored consensus state at ``trusted``'s height."""
    return HeaderUpdate(
        trusted_height=trusted.header.height,
        header=encode(lb.header),
        commit=encode(lb.commit),
        validators=encode(lb.validators),
        trusted_validators=encode(trusted.validators),
    )


async def plan_update(
    src: ChainEndpoint,
    client: ClientView,
    target: int,
    now_ms: int,
    cache: dict[int, LightBlock] | None = None,
) -> list[UpdateClient]:
    """The updates that bring ``client`` (a client of ``src``) from its latest height to ``target``, in order: one
    when a skip verifies, more when ``verify_to_height`` bisects (each trusted from the one before). Empty when the
    client is already at or past ``target``. ``now_ms``: the destination's time (its latest block time).

    Raises:
        UpdateError: frozen client, a source block that does not match the client's consensus state, or a light
            client error other than lacking trust (the message starts with its code, e.g. ``expired: ...``).
    """
    if client.frozen:
        raise UpdateError(f"client {client.client_id} is frozen at height {client.state.frozen_height}")
    trusted_h = client.state.latest_height
    if target <= trusted_h:
        return []
    cache = {} if cache is None else cache
    try:
        if trusted_h not in cache:
            cache[trusted_h] = await src.light_block(trusted_h)
    except EndpointError as exc:
        raise UpdateError(f"cannot fetch {src.name} block {trusted_h}: {exc.message}") from None
    lb_t = cache[trusted_h]
    suite = suite_by_name(client.state.suite)
    bid = block_hash(suite, lb_t.header)
    if bid != client.latest.block_id:
        raise UpdateError(
            f"{src.name} block {trusted_h} is 0x{bid.hex()}, but client {client.client_id} holds "
            f"0x{client.latest.block_id.hex()} (a lying endpoint, or a fork: submit misbehaviour)"
        )
    trusted = TrustedState(
        chain_id=client.state.chain_id,
        suite=suite,
        height=trusted_h,
        block_id=bid,
        time_ms=lb_t.header.time_ms,
        validators=lb_t.validators,
        next_validators_hash=lb_t.header.next_validators_hash,
    )
    # The destination judges the header's time against the block that executes the update, later than its latest
    # block: checking "from the future" here against that latest block would refuse what the chain accepts (and
    # deadlock a destination that makes blocks only for transactions). Expiry is checked (it only gets worse).
    opts = TrustOptions(trusting_period_ms=client.state.trusting_period_ms, max_clock_drift_ms=NO_DRIFT_CHECK)
    provider = _SyncProvider(src, asyncio.get_running_loop(), cache)
    try:
        _, blocks = await asyncio.to_thread(verify_to_height, trusted, target, provider, now_ms, opts)
    except LightClientError as exc:
        raise UpdateError(f"{exc.code}: updating {client.client_id} to {target}: {exc.reason}") from None
    out: list[UpdateClient] = []
    prev = lb_t
    for lb in blocks:
        out.append(UpdateClient(client_id=client.client_id, update=header_update(prev, lb)))
        prev = lb
    return out
