"""The hub module's state records, keys and reads (docs/spec/hub.md 2; ADR 0016 section 1).

| key | value |
|---|---|
| ``hub/chain/`` + chain id | ``SubChain`` |
| ``hub/by_org/`` + tagged_hash(org) (32) + chain id | ``b"\\x01"`` (an operator's chains: a prefix scan) |
| ``hub/count`` | registered and not retired (8 bytes, BE) |
| ``hub/clients/`` + chain id + ``/`` + client id | ``b"\x01"`` (the hub's clients of a chain: a bounded prefix scan) |

The client index is written by ``interchain.create_client`` on a hub only (genesis ``hub`` member): no other chain
gains a key. It lists every client the hub creates, of any chain, so ``hub.retire`` freezes a sub-chain's clients
from it (at most ``MAX_CLIENTS_PER_SUBCHAIN``) instead of scanning ``interchain/client/``, and ``hub.register``
sees a client made before registration with one bounded read.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from trellis.core.codec import decode, encode
from trellis.core.crypto.suite import Suite
from trellis.core.execution.context import StateReader
from trellis.core.modules.hub.messages import OrgName, PortChannel
from trellis.core.modules.interchain.messages import OptConnectionId
from trellis.core.modules.interchain.state import TrustedChain, trusted_key
from trellis.core.params import ChainParams
from trellis.core.types import U64, CoreStruct, Hash32

CHAIN_PREFIX = b"hub/chain/"
"""Prefix of the ``SubChain`` records, followed by the chain id."""
BY_ORG_PREFIX = b"hub/by_org/"
"""Prefix of the by-operator index."""
COUNT_KEY = b"hub/count"
"""Key of the number of registered, not retired sub-chains (8 bytes, BE)."""
CLIENTS_PREFIX = b"hub/clients/"
"""Prefix of the client index (``hub/clients/<chain_id>/<client_id>``)."""
PREFIXES = (CHAIN_PREFIX, BY_ORG_PREFIX, COUNT_KEY, CLIENTS_PREFIX)
"""Every state-key prefix this module writes under."""

MAX_CLIENTS_PER_SUBCHAIN = 8
"""Most clients a hub creates of one chain (``interchain.create_client`` refuses more, ``DUPLICATE``): retiring a
chain freezes at most this many, and a member cannot make that step unbounded by creating clients."""

ORG_DOMAIN = b"trellis/hub/org/v1"
"""Tag of the organisation hash in the by-operator index keys."""

REGISTERED, CONNECTED, RETIRED = 1, 2, 3
"""A sub-chain's statuses."""
STATUS_NAMES = {REGISTERED: "registered", CONNECTED: "connected", RETIRED: "retired"}
"""Status -> its name in events, the API and the CLI."""


class SubChain(CoreStruct, frozen=True):
    """A registered sub-chain, at ``hub/chain/`` + chain id."""

    operator_org: OrgName
    """The member organisation that runs it."""
    genesis_hash: Hash32
    """Its genesis hash (also in ``interchain/trusted/<chain_id>`` while it is not retired)."""
    status: Annotated[int, msgspec.Meta(ge=REGISTERED, le=RETIRED)]
    """``1`` registered, ``2`` connected (``hub.connected`` recorded), ``3`` retired."""
    registered_height: U64
    """Height of the block that registered it (0: in the hub's genesis)."""
    retired_height: U64 = 0
    """Height of the block that retired it; 0: not retired."""
    client_id: Annotated[str, msgspec.Meta(max_length=27)] = ""
    """The hub's client of it, once connected."""
    connection_id: OptConnectionId = ""
    """The hub's connection end over that client, once connected."""
    channels: Annotated[list[PortChannel], msgspec.Meta(max_length=8)] = []
    """The hub's channel ends to it, once connected."""


def chain_key(chain_id: str) -> bytes:
    """Key of the ``SubChain`` of ``chain_id``."""
    return CHAIN_PREFIX + chain_id.encode()


def org_prefix(suite: Suite, org: str) -> bytes:
    """Prefix of the by-operator index entries of ``org`` (``hub/by_org/`` + its 32-byte tagged hash)."""
    return BY_ORG_PREFIX + suite.tagged_hash(ORG_DOMAIN, org.encode())


def by_org_key(suite: Suite, org: str, chain_id: str) -> bytes:
    """Key of the by-operator index entry of ``chain_id``."""
    return org_prefix(suite, org) + chain_id.encode()


def is_hub(params: ChainParams) -> bool:
    """Whether this chain is a hub: its genesis has a ``hub`` member (its ``subchains`` possibly empty)."""
    return not isinstance(params.genesis.hub, msgspec.UnsetType)


def clients_prefix(chain_id: str) -> bytes:
    """Prefix of the client index entries of ``chain_id``."""
    return CLIENTS_PREFIX + chain_id.encode() + b"/"


def hub_client_key(chain_id: str, client_id: str) -> bytes:
    """Key of the client index entry of ``client_id``, a client of ``chain_id``."""
    return clients_prefix(chain_id) + client_id.encode()


def indexed_clients(state: StateReader, chain_id: str, limit: int = MAX_CLIENTS_PER_SUBCHAIN + 1) -> list[str]:
    """The ids of the hub's clients of ``chain_id`` (from the index; at most ``limit``), in creation order."""
    prefix = clients_prefix(chain_id)
    end = prefix[:-1] + b"0"  # the byte after "/"
    ids = [k[len(prefix) :].decode() for k, _ in state.scan(prefix, end, limit)]
    return sorted(ids, key=lambda cid: (len(cid), cid))  # client-<n>: by n


def read_subchain(state: StateReader, chain_id: str) -> SubChain | None:
    """The ``SubChain`` record of ``chain_id``, or None if it was never registered."""
    raw = state.get(chain_key(chain_id))
    return None if raw is None else decode(raw, SubChain)


def read_count(state: StateReader) -> int:
    """Registered, not retired sub-chains."""
    raw = state.get(COUNT_KEY)
    return 0 if raw is None else int.from_bytes(raw, "big")


def channel_of(sub: SubChain, port: str) -> str | None:
    """The hub's channel to ``sub`` on ``port``, if ``hub.connected`` recorded one."""
    for pc in sub.channels:
        if pc.port == port:
            return pc.channel
    return None


def genesis_hub_writes(params: ChainParams) -> dict[bytes, bytes | None]:
    """The state writes of a hub genesis (``hub.subchains``): each sub-chain's ``SubChain`` (registered at height 0),
    its by-operator index entry and ``interchain/trusted/<chain_id>``, and the count; and, for a sub-chain genesis
    naming its hub (``interchain.hub``), the hub's ``interchain/trusted`` record."""
    out: dict[bytes, bytes | None] = {}
    genesis = params.genesis
    if not isinstance(genesis.hub, msgspec.UnsetType):
        for sc in genesis.hub.subchains:
            ghash = bytes.fromhex(sc.genesis_hash)
            out[chain_key(sc.chain_id)] = encode(
                SubChain(operator_org=sc.operator_org, genesis_hash=ghash, status=REGISTERED, registered_height=0)
            )
            out[by_org_key(params.suite, sc.operator_org, sc.chain_id)] = b"\x01"
            out[trusted_key(sc.chain_id)] = encode(TrustedChain(genesis_hash=ghash, added_height=0))
        out[COUNT_KEY] = len(genesis.hub.subchains).to_bytes(8, "big")
    rules = genesis.interchain_rules
    if not isinstance(rules.hub, msgspec.UnsetType):
        out[trusted_key(rules.hub.chain_id)] = encode(
            TrustedChain(genesis_hash=bytes.fromhex(rules.hub.genesis_hash), added_height=0)
        )
    return out
