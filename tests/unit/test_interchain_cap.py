"""The cap on consensus states per client (docs/spec/interchain.md 2.3; ADR 0016 section 3): genesis
``interchain.max_consensus_states``; an update that stores a state past it deletes the lowest stored height (never
the latest); a proof at a deleted height fails ``UNKNOWN_CONSENSUS_HEIGHT``.
"""

from __future__ import annotations

import msgspec
import pytest

from tests.fixtures.chain_sim import SimChain
from tests.fixtures.interchain_clients import RELAYER, sim_create, sim_update, submit
from trellis.core.codec import encode
from trellis.core.execution.context import TxContext
from trellis.core.execution.results import ResultCode, TxFailure
from trellis.core.modules.accounts.state import account_key
from trellis.core.modules.interchain.proofs import verify_membership
from trellis.core.modules.interchain.state import consensus_heights, read_client
from trellis.core.params import GenesisInterchain, params_from_genesis


def host(cap: int | None) -> SimChain:
    """Chain A with ``interchain.max_consensus_states = cap`` (None: absent, no cap)."""
    a = SimChain("chain-a", accounts={RELAYER: 10**6})
    if cap is not None:
        genesis = msgspec.structs.replace(
            a.genesis, interchain=GenesisInterchain(client_policy="open", max_consensus_states=cap)
        )
        a.genesis, a.params, a.genesis_bytes = genesis, params_from_genesis(genesis), encode(genesis)
    a.advance(1, time_step_ms=20_000)
    return a


def stored(a: SimChain) -> list[int]:
    return consensus_heights(a.reader(), "client-0", 1000)


def test_absent_from_genesis_there_is_no_cap() -> None:
    assert GenesisInterchain().consensus_state_cap is None
    assert GenesisInterchain(max_consensus_states=3).consensus_state_cap == 3
    # Absent, the genesis encodes as before the field existed.
    assert b"max_consensus_states" not in encode(GenesisInterchain())


def test_absent_means_unbounded_300_updates_keep_every_state() -> None:
    """A chain whose genesis predates the cap keeps every consensus state within the trusting period, as the code
    before the cap did: a default cap would delete states old nodes keep and fork the state root."""
    a = host(None)
    b = SimChain("chain-b")
    b.advance(301)
    assert submit(a, sim_create(b, 1)).code == 0
    for h in range(2, 302):
        assert submit(a, sim_update(b, "client-0", h - 1, h)).code == 0
    assert stored(a) == list(range(1, 302))


def test_with_cap_3_five_updates_keep_the_3_latest_heights() -> None:
    a = host(3)
    b = SimChain("chain-b", accounts={"alice": 5})
    b.advance(6)
    assert submit(a, sim_create(b, 1)).code == 0
    after = []
    for h in range(2, 7):
        r = submit(a, sim_update(b, "client-0", h - 1, h))
        assert r.code == 0, r
        after.append(stored(a))
    assert after == [[1, 2], [1, 2, 3], [2, 3, 4], [3, 4, 5], [4, 5, 6]]
    client = read_client(a.reader(), "client-0")
    assert client is not None and client.latest_height == 6
    # A proof at a kept height verifies; at a deleted height it fails UNKNOWN_CONSENSUS_HEIGHT.
    state = a.reader()
    ctx = TxContext(b"\x00" * 20, a.params, a.height + 1, state.get, lambda k, v: None, time_ms=a.time_ms)
    alice = account_key(b.address("alice"))
    for h in (4, 6):
        value = b.get(alice, h)
        assert value is not None
        assert verify_membership(ctx, "client-0", alice, value, b.prove(alice, h)) == h
    value = b.get(alice, 2)
    assert value is not None
    with pytest.raises(TxFailure) as refused:
        verify_membership(ctx, "client-0", alice, value, b.prove(alice, 2))
    assert refused.value.code == ResultCode.UNKNOWN_CONSENSUS_HEIGHT


def test_an_update_between_stored_heights_deletes_the_lowest() -> None:
    a = host(3)
    b = SimChain("chain-b")
    b.advance(8)
    assert submit(a, sim_create(b, 1)).code == 0
    for trusted, h in ((1, 3), (3, 5), (5, 8)):
        assert submit(a, sim_update(b, "client-0", trusted, h)).code == 0
    assert stored(a) == [3, 5, 8]
    assert submit(a, sim_update(b, "client-0", 5, 6)).code == 0  # below the latest: the lowest (3) goes
    assert stored(a) == [5, 6, 8]
    client = read_client(a.reader(), "client-0")
    assert client is not None and client.latest_height == 8


def test_below_the_cap_nothing_is_deleted_and_the_state_is_as_without_a_cap() -> None:
    """The same updates with no cap (absent) and under a cap they never reach write the same state."""
    states = []
    for cap in (None, 10):
        a = host(cap)
        b = SimChain("chain-b")
        b.advance(6)
        assert submit(a, sim_create(b, 1)).code == 0
        for h in range(2, 7):
            assert submit(a, sim_update(b, "client-0", h - 1, h)).code == 0
        assert stored(a) == [1, 2, 3, 4, 5, 6]
        states.append(dict(a.reader().scan(b"interchain/", b"interchain0", 1 << 30)))
    assert states[0] == states[1]
