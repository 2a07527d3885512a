"""Interchain changes inside membership governance (docs/spec/interchain.md 2.6; ADR 0015 section 4).

``membership.handle_propose`` / ``handle_approve`` / ``_approve`` dispatch an ``interchain.*`` change here, as they
dispatch validator changes to ``validators/governance.py``: it is checked when proposed (``precheck_change``) and
applied when the approvals reach the threshold (``apply_change_in_block``). An interchain proposal is keyed to the
membership version; applying one does not change the membership configuration.

- ``interchain.trust_chain`` writes ``interchain/trusted/<chain_id>`` (the governed client policy needs it).
- ``interchain.untrust_chain`` deletes it and freezes every client of that chain (kind ``untrusted``).
- On a hub (genesis ``hub`` member), both are refused for a chain id in the hub registry: ``hub.register`` and
  ``hub.retire`` alone govern a sub-chain's trust, so retiring reaches every trust and client of it.
- ``interchain.recover_client`` gives a frozen or expired client the latest consensus state of an active
  substitute of the same chain and genesis (ICS-02 recovery): its connections, channels and denoms survive. A
  client under which a packet expired (``interchain/expired/<client_id>``, interchain.md 5.5) is never recovered:
  its counterparty may hold value this chain already gave back.
"""

from __future__ import annotations

from typing import TypeGuard

from trellis.core.codec import decode, encode
from trellis.core.execution.context import StateReader, TxContext
from trellis.core.execution.results import ResultCode, TxFailure
from trellis.core.ledger.block import Event
from trellis.core.modules.hub.state import STATUS_NAMES, is_hub, read_subchain
from trellis.core.modules.interchain.client import (
    ACTIVE,
    UNTRUSTED,
    Freeze,
    frozen,
    recovered,
    status,
)
from trellis.core.modules.interchain.messages import InterchainChange, RecoverClient, TrustChain, UntrustChain
from trellis.core.modules.interchain.state import (
    CLIENT_PREFIX,
    GOVERNANCE_VERSION_KEY,
    ClientState,
    ConsensusState,
    TrustedChain,
    client_key,
    consensus_heights,
    consensus_key,
    expired_count,
    governance_version,
    misbehaviour_key,
    read_client,
    read_consensus,
    read_trusted,
    trusted_key,
)
from trellis.core.types import ZERO_HASH

INTERCHAIN_CHANGES = (TrustChain, UntrustChain, RecoverClient)
"""The interchain members of ``MembershipChange``."""
MAX_FROZEN_EVENTS = 32
"""``untrust_chain`` emits one ``interchain.client_frozen`` event for at most this many clients (a receipt holds
64 events); ``interchain.chain_untrusted`` always gives the count."""
_PAGE = 256


def is_interchain_change(change: object) -> TypeGuard[InterchainChange]:
    """Whether ``change`` (a ``MembershipChange``) is one of the three ``interchain.*`` members."""
    return isinstance(change, INTERCHAIN_CHANGES)


def _invalid(reason: str) -> TxFailure:
    return TxFailure(ResultCode.INVALID_CHANGE, reason)


def _event(type_: str, **attrs: str | bytes) -> Event:
    return Event(type=type_, attributes=[(k, v.encode() if isinstance(v, str) else v) for k, v in attrs.items()])


def clients_of(state: StateReader, chain_id: str) -> list[tuple[str, ClientState]]:
    """Every client of ``chain_id`` (a scan of ``interchain/client/``), in id order."""
    out: list[tuple[str, ClientState]] = []
    start = CLIENT_PREFIX
    end = CLIENT_PREFIX[:-1] + b"0"  # the byte after "/"
    while True:
        rows = state.scan(start, end, _PAGE)
        for k, v in rows:
            client = decode(v, ClientState)
            if client.chain_id == chain_id:
                out.append((k[len(CLIENT_PREFIX) :].decode(), client))
        if len(rows) < _PAGE:
            return out
        start = rows[-1][0] + b"\x00"


def _latest(state: StateReader, cid: str, client: ClientState) -> ConsensusState | None:
    return read_consensus(state, cid, client.latest_height)


def live_clients_of(state: StateReader, chain_id: str) -> list[tuple[str, ClientState]]:
    """Every client of ``chain_id`` that is not frozen, in id order."""
    return [(cid, c) for cid, c in clients_of(state, chain_id) if c.frozen_height == 0]


def untrust_step(
    ctx: TxContext, chain_id: str, live: list[tuple[str, ClientState]] | None = None
) -> tuple[int, list[Event]]:
    """The ``untrust_chain`` step (also ``hub.retire``'s): delete ``interchain/trusted/<chain_id>`` and freeze every
    live client of the chain (kind ``untrusted``, at its latest height).

    Args:
        live: the live clients of ``chain_id`` when the caller has read them already (``live_clients_of``).

    Returns:
        How many clients froze, and one ``interchain.client_frozen`` event for each of the first
        ``MAX_FROZEN_EVENTS``.
    """
    if live is None:
        live = live_clients_of(ctx, chain_id)
    ctx.put(trusted_key(chain_id), None)
    events: list[Event] = []
    for cid, client in live:
        latest = _latest(ctx, cid, client)
        bid = latest.block_id if latest is not None else bytes(32)
        new, record = frozen(client, Freeze(client.latest_height, UNTRUSTED, bid, bid), ctx.height)
        ctx.put(client_key(cid), encode(new))
        ctx.put(misbehaviour_key(cid), encode(record))
        if len(events) < MAX_FROZEN_EVENTS:
            events.append(
                _event("interchain.client_frozen", client_id=cid, height=str(new.frozen_height), kind=UNTRUSTED)
            )
    return len(live), events


def _to_untrust(ctx: TxContext, change: UntrustChain) -> list[tuple[str, ClientState]]:
    live = live_clients_of(ctx, change.chain_id)
    if read_trusted(ctx, change.chain_id) is None and not live:
        raise _invalid(f"chain {change.chain_id!r} is not trusted and has no unfrozen client: nothing to untrust")
    return live


def _recovery(ctx: TxContext, change: RecoverClient) -> tuple[ClientState, ClientState, ConsensusState]:
    """(subject, substitute, the substitute's latest consensus state), checked."""
    if change.subject == change.substitute:
        raise _invalid(f"client {change.subject} cannot substitute for itself")
    subject = read_client(ctx, change.subject)
    if subject is None:
        raise _invalid(f"no client {change.subject} to recover")
    substitute = read_client(ctx, change.substitute)
    if substitute is None:
        raise _invalid(f"no substitute client {change.substitute}")
    if status(subject, _latest(ctx, change.subject, subject), ctx.time_ms) == ACTIVE:
        raise _invalid(f"client {change.subject} is active: only a frozen or expired client is recovered")
    if expired_count(ctx, change.subject) > 0:
        # Its counterparty may hold value for packets this chain already undid (interchain.md 5.5, expiry).
        raise _invalid(
            f"{change.subject} has packets expired while it was frozen; recovering it could pay them twice: create "
            "a new client and channel instead"
        )
    latest = _latest(ctx, change.substitute, substitute)
    if status(substitute, latest, ctx.time_ms) != ACTIVE or latest is None:
        raise _invalid(f"substitute client {change.substitute} is not active")
    if (substitute.chain_id, substitute.genesis_hash) != (subject.chain_id, subject.genesis_hash):
        raise _invalid(
            f"substitute client {change.substitute} is of chain {substitute.chain_id!r} (genesis "
            f"{substitute.genesis_hash.hex()}), not of the subject's chain {subject.chain_id!r} (genesis "
            f"{subject.genesis_hash.hex()})"
        )
    if substitute.latest_height <= subject.latest_height:
        raise _invalid(
            f"substitute client {change.substitute} is at height {substitute.latest_height}, not above the "
            f"subject's {subject.latest_height}"
        )
    return subject, substitute, latest


def trust_step(
    ctx: TxContext, chain_id: str, genesis_hash: bytes, checkpoint_height: int, checkpoint_block_id: bytes
) -> None:
    """Write ``interchain/trusted/<chain_id>`` (added at ``ctx.height``): the step of ``interchain.trust_chain``, and of
    ``hub.register``."""
    ctx.put(
        trusted_key(chain_id),
        encode(
            TrustedChain(
                genesis_hash=genesis_hash,
                added_height=ctx.height,
                checkpoint_height=checkpoint_height,
                checkpoint_block_id=checkpoint_block_id,
            )
        ),
    )


def precheck_change(ctx: TxContext, change: InterchainChange) -> None:
    """Check a proposed interchain change against the state (reads only).

    Raises:
        TxFailure: ``INVALID_CHANGE`` (on a hub, a trust or untrust of a chain in the hub registry; a trust already
            in force, an untrust with nothing to do, a recovery whose subject is active or had packets expired
            under it, or whose substitute is missing, inactive, of another chain or genesis, or not ahead).
    """
    if isinstance(change, TrustChain | UntrustChain) and is_hub(ctx.params):
        sub = read_subchain(ctx, change.chain_id)
        if sub is not None:
            # The registry owns that chain's trust: retiring it must reach every trust and client of it.
            raise _invalid(
                f"chain {change.chain_id!r} is in this hub's registry ({STATUS_NAMES[sub.status]}): use hub.register "
                "/ hub.retire"
            )
    if isinstance(change, TrustChain):
        if (change.checkpoint_height == 0) != (change.checkpoint_block_id == ZERO_HASH):
            raise _invalid("a checkpoint needs both its height and its block id (or neither)")
        current = read_trusted(ctx, change.chain_id)
        if current is not None and (
            current.genesis_hash,
            current.checkpoint_height,
            current.checkpoint_block_id,
        ) == (change.genesis_hash, change.checkpoint_height, change.checkpoint_block_id):
            raise _invalid(f"chain {change.chain_id!r} is already trusted with this genesis hash and checkpoint")
    elif isinstance(change, UntrustChain):
        _to_untrust(ctx, change)
    else:
        _recovery(ctx, change)


def apply_change_in_block(ctx: TxContext, proposal_id: int, change: InterchainChange) -> list[Event]:
    """Apply an approved interchain change in block ``ctx.height`` (at the block's time).

    Returns:
        ``interchain.chain_trusted`` / ``interchain.chain_untrusted`` (with ``interchain.client_frozen`` per
        frozen client, at most ``MAX_FROZEN_EVENTS``) / ``interchain.client_recovered``; each names the proposal.

    Raises:
        TxFailure: ``INVALID_CHANGE`` (as ``precheck_change``); nothing is written.
    """
    precheck_change(ctx, change)
    ctx.put(GOVERNANCE_VERSION_KEY, (governance_version(ctx) + 1).to_bytes(8, "big"))
    pid = str(proposal_id)
    if isinstance(change, TrustChain):
        trust_step(ctx, change.chain_id, change.genesis_hash, change.checkpoint_height, change.checkpoint_block_id)
        return [
            _event(
                "interchain.chain_trusted",
                proposal=pid,
                chain_id=change.chain_id,
                genesis_hash=change.genesis_hash,
            )
        ]
    if isinstance(change, UntrustChain):
        count, events = untrust_step(ctx, change.chain_id, _to_untrust(ctx, change))
        summary = _event("interchain.chain_untrusted", proposal=pid, chain_id=change.chain_id, frozen=str(count))
        return [summary, *events]
    subject, substitute, latest = _recovery(ctx, change)
    new = recovered(subject, substitute)
    # The subject's own consensus states go: a frozen client's may rest on a forged header, and an expired one's
    # are past their trust. After recovery it proves only from what the substitute verified.
    start = 0
    while heights := consensus_heights(ctx, change.subject, _PAGE, start):
        for height in heights:
            ctx.put(consensus_key(change.subject, height), None)
        start = heights[-1] + 1
    ctx.put(consensus_key(change.subject, new.latest_height), encode(latest))
    ctx.put(client_key(change.subject), encode(new))
    ctx.put(misbehaviour_key(change.subject), None)
    return [
        _event(
            "interchain.client_recovered",
            proposal=pid,
            subject=change.subject,
            substitute=change.substitute,
            height=str(new.latest_height),
        )
    ]
