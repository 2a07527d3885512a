"""Hub changes inside membership governance (docs/spec/hub.md 3; ADR 0016 section 1).

``membership`` dispatches a ``hub.*`` change here, as it dispatches ``interchain.*`` changes: checked when proposed
(``precheck_change``), applied when the approvals reach the threshold (``apply_change_in_block``), keyed to the
interchain governance version (``interchain/governance_version``). Only a hub (genesis ``hub`` member) takes
them.

- ``hub.register`` writes the ``SubChain`` record (status registered), its by-operator index entry, the count, and
  ``interchain/trusted/<chain_id>`` (as ``interchain.trust_chain`` would): on a hub (governed client policy) only
  registered sub-chains get clients. A chain id is registered at most once, ever: a retired one is not reused; a
  chain trusted outside the registry (a trust record or a client of it) is refused. It does not increment the
  governance version: registering one chain leaves the other pending registrations valid (applying re-runs the
  whole precheck).
- ``hub.retire`` sets the status to retired and runs the ``interchain.untrust_chain`` step
  (``interchain.governance.untrust_step``) over the chain's clients from the hub's client index (at most
  ``MAX_CLIENTS_PER_SUBCHAIN``): the trust record goes and every live client of the chain freezes, so no packet of
  the retired chain is received again (no voucher of it is minted). It increments the governance version.
"""

from __future__ import annotations

from typing import TypeGuard

import msgspec

from trellis.core.codec import encode
from trellis.core.execution.context import TxContext
from trellis.core.execution.results import ResultCode, TxFailure
from trellis.core.ledger.block import Event
from trellis.core.modules.hub.messages import HubChange, HubRegister, HubRetire
from trellis.core.modules.hub.state import (
    COUNT_KEY,
    REGISTERED,
    RETIRED,
    SubChain,
    by_org_key,
    chain_key,
    indexed_clients,
    read_count,
    read_subchain,
)
from trellis.core.modules.interchain.governance import trust_step, untrust_step
from trellis.core.modules.interchain.state import (
    GOVERNANCE_VERSION_KEY,
    ClientState,
    governance_version,
    read_client,
    read_trusted,
)
from trellis.core.modules.membership.state import read_config
from trellis.core.types import ZERO_HASH

HUB_CHANGES = (HubRegister, HubRetire)
"""The hub members of ``MembershipChange``."""


def is_hub_change(change: object) -> TypeGuard[HubChange]:
    """Whether ``change`` (a ``MembershipChange``) is ``hub.register`` or ``hub.retire``."""
    return isinstance(change, HUB_CHANGES)


def _invalid(reason: str) -> TxFailure:
    return TxFailure(ResultCode.INVALID_CHANGE, reason)


def _event(type_: str, **attrs: str | bytes) -> Event:
    return Event(type=type_, attributes=[(k, v.encode() if isinstance(v, str) else v) for k, v in attrs.items()])


def _check_register(ctx: TxContext, change: HubRegister) -> None:
    if change.chain_id == ctx.params.chain_id:
        raise _invalid(f"chain {change.chain_id!r} is this chain: a hub does not register itself")
    current = read_subchain(ctx, change.chain_id)
    if current is not None:
        if current.status == RETIRED:
            raise _invalid(
                f"chain {change.chain_id!r} was retired at height {current.retired_height}: a chain id is never "
                "registered again"
            )
        raise _invalid(f"chain {change.chain_id!r} is already registered (at height {current.registered_height})")
    if read_trusted(ctx, change.chain_id) is not None or indexed_clients(ctx, change.chain_id, 1):
        # Trust and clients of a registered chain come from the registry alone, so retiring it reaches them all.
        raise _invalid(
            f"chain {change.chain_id!r} is trusted outside the registry (interchain.trust_chain, or a client of it "
            "exists): untrust it first"
        )
    cfg = read_config(ctx)
    orgs = [] if cfg is None else [o.name for o in cfg.orgs]
    if change.operator_org not in orgs:
        raise _invalid(f"operator {change.operator_org!r} is not a member organisation (members: {', '.join(orgs)})")
    if (change.checkpoint_height == 0) != (change.checkpoint_block_id == ZERO_HASH):
        raise _invalid("a checkpoint needs both its height and its block id (or neither)")


def _registered(ctx: TxContext, chain_id: str) -> SubChain:
    """The ``SubChain`` of ``chain_id``, registered and not retired."""
    sub = read_subchain(ctx, chain_id)
    if sub is None:
        raise _invalid(f"chain {chain_id!r} is not a registered sub-chain")
    if sub.status == RETIRED:
        raise _invalid(f"chain {chain_id!r} was retired already (at height {sub.retired_height})")
    return sub


def _live_indexed(ctx: TxContext, chain_id: str) -> list[tuple[str, ClientState]]:
    """The unfrozen clients of ``chain_id`` from the hub's client index: at most ``MAX_CLIENTS_PER_SUBCHAIN``
    reads, however many clients the hub has (every client of a registered chain is in it: ``hub.register`` refuses
    a chain with a client, and ``interchain.create_client`` writes the entry on a hub)."""
    live: list[tuple[str, ClientState]] = []
    for cid in indexed_clients(ctx, chain_id):
        client = read_client(ctx, cid)
        if client is not None and client.frozen_height == 0:
            live.append((cid, client))
    return live


def precheck_change(ctx: TxContext, change: HubChange) -> None:
    """Check a proposed hub change against the state (reads only).

    Raises:
        TxFailure: ``INVALID_CHANGE`` (either change on a chain whose genesis has no ``hub`` member.
            ``hub.register``: the chain id is this chain's, or registered before, retired or not; it is trusted or
            has a client already (outside the registry); the operator is not a member organisation; a checkpoint
            with only one of its height and block id. ``hub.retire``: the chain is not registered, or is retired
            already).
    """
    if isinstance(ctx.params.genesis.hub, msgspec.UnsetType):
        # On another chain the registry means nothing (its client policy may be open: retiring would drop a trust
        # that anyone can route around by creating a new client).
        raise _invalid("this chain is not a hub: its genesis has no hub member")
    if isinstance(change, HubRegister):
        _check_register(ctx, change)
    else:
        _registered(ctx, change.chain_id)


def apply_change_in_block(ctx: TxContext, proposal_id: int, change: HubChange) -> list[Event]:
    """Apply an approved hub change in block ``ctx.height``.

    Returns:
        ``hub.registered``; or ``hub.retired`` followed by one ``interchain.client_frozen`` per frozen client (at
        most ``interchain.governance.MAX_FROZEN_EVENTS``). Each names the proposal.

    Raises:
        TxFailure: ``INVALID_CHANGE`` (as ``precheck_change``: the state may have changed since the proposal);
            nothing is written.
    """
    precheck_change(ctx, change)
    pid = str(proposal_id)
    if isinstance(change, HubRegister):
        # No version bump: registering one chain leaves other pending registrations valid (this apply re-ran the
        # whole precheck, which is what protects it).
        sub = SubChain(
            operator_org=change.operator_org,
            genesis_hash=change.genesis_hash,
            status=REGISTERED,
            registered_height=ctx.height,
        )
        ctx.put(chain_key(change.chain_id), encode(sub))
        ctx.put(by_org_key(ctx.suite, change.operator_org, change.chain_id), b"\x01")
        ctx.put(COUNT_KEY, (read_count(ctx) + 1).to_bytes(8, "big"))
        trust_step(ctx, change.chain_id, change.genesis_hash, change.checkpoint_height, change.checkpoint_block_id)
        return [
            _event(
                "hub.registered",
                proposal=pid,
                chain_id=change.chain_id,
                operator_org=change.operator_org,
                genesis_hash=change.genesis_hash,
            )
        ]
    assert isinstance(change, HubRetire)
    ctx.put(GOVERNANCE_VERSION_KEY, (governance_version(ctx) + 1).to_bytes(8, "big"))
    sub = _registered(ctx, change.chain_id)
    ctx.put(chain_key(change.chain_id), encode(msgspec.structs.replace(sub, status=RETIRED, retired_height=ctx.height)))
    ctx.put(COUNT_KEY, (read_count(ctx) - 1).to_bytes(8, "big"))
    count, frozen_events = untrust_step(ctx, change.chain_id, _live_indexed(ctx, change.chain_id))
    summary = _event("hub.retired", proposal=pid, chain_id=change.chain_id, frozen=str(count))
    return [summary, *frozen_events]
