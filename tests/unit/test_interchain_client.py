"""Light clients of other Trellis chains through the interchain handlers (docs/spec/interchain.md 2; ADR 0015
section 5): create from genesis, update (adjacent, skipping, across set changes, duplicates, fill-in), freezes on
conflict and on time, misbehaviour, expiry, pruning, and every refusal with the state unchanged.

Chain A (``SimChain``, real blocks through the executor) hosts the clients; the counterparties are the light-client
vector chain (set changes at 4, 6, 8, 9, 11; commit 12 lacks trust from 1) and ``SimChain`` chains whose headers
carry real state roots.
"""

from __future__ import annotations

import msgspec
import pytest

from tests.fixtures.chain_sim import SimChain
from tests.fixtures.interchain_clients import (
    DAY,
    DRIFT,
    HOUR,
    LC,
    LC_GENESIS,
    RELAYER,
    host,
    interchain_state,
    lc_create,
    lc_forged,
    lc_header_update,
    lc_update,
    refused,
    sign,
    sim_create,
    sim_update,
    submit,
)
from tests.vectors import light_client_vectors as lc
from trellis.core.codec import decode, encode
from trellis.core.crypto.suite import ED25519
from trellis.core.execution.results import ResultCode, TxFailure
from trellis.core.ledger.block import block_hash
from trellis.core.modules.interchain.client import (
    CONFLICT,
    TIME,
    Neighbours,
    judge_update,
    misbehaviour,
    prunable,
    status,
)
from trellis.core.modules.interchain.messages import Checkpoint, CreateClient, SubmitMisbehaviour
from trellis.core.modules.interchain.state import (
    ClientState,
    ConsensusState,
    NextIds,
    client_key,
    consensus_heights,
    consensus_key,
    read_client,
    read_consensus,
    read_misbehaviour,
    read_next_ids,
)

G = lc.GENESIS_TIME_MS


def _client(a: SimChain, cid: str = "client-0") -> ClientState:
    c = read_client(a.reader(), cid)
    assert c is not None
    return c


def _cs(a: SimChain, height: int, cid: str = "client-0") -> ConsensusState | None:
    return read_consensus(a.reader(), cid, height)


def _ok(a: SimChain, payload: object, step_ms: int | None = None) -> list[tuple[str, dict[str, bytes]]]:
    r = submit(a, payload, step_ms)  # type: ignore[arg-type]
    assert r.code == 0, r
    return [(e.type, dict(e.attributes)) for e in r.events]


def _lc_client(at_height: int = 1, host_ms: int = 20_000) -> SimChain:
    a = host(at_ms=host_ms)
    _ok(a, lc_create(at_height))
    return a


# -- create ------------------------------------------------------------------------------------------------------
def test_create_from_genesis_writes_client_consensus_ids_and_chain_client() -> None:
    b = SimChain("chain-b", accounts={"alice": 5})
    b.advance(3)
    a = host()
    events = _ok(a, sim_create(b, 3))
    assert events == [("interchain.client_created", {"client_id": b"client-0", "chain_id": b"chain-b", "height": b"3"})]
    assert _client(a) == ClientState(
        chain_id="chain-b",
        genesis_hash=b.params.genesis_hash,
        suite="ed25519",
        trusting_period_ms=DAY,
        max_clock_drift_ms=DRIFT,
        latest_height=3,
        frozen_height=0,
    )
    h = b.header(3)
    assert _cs(a, 3) == ConsensusState(
        time_ms=h.time_ms,
        state_root=h.state_root,
        block_id=block_hash(ED25519, h),
        validators_hash=h.validators_hash,
        next_validators_hash=h.next_validators_hash,
    )
    assert read_next_ids(a.reader()) == NextIds(client=1)
    # A second client of the same chain gets the next id.
    b.advance()
    assert _ok(a, sim_create(b, 4))[0][1]["client_id"] == b"client-1"
    assert read_next_ids(a.reader()).client == 2


def test_create_follows_the_set_changes_from_genesis() -> None:
    a = host()
    _ok(a, lc_create(12))  # through the changes at 4, 6, 8, 9 and 11
    assert _client(a).latest_height == 12
    # Without the changes, header 12's set is not the genesis set.
    code, msg = refused(a, lc_create(12, set_changes=[]))
    assert code == ResultCode.INVALID_HEADER and msg.startswith("invalid_commit:")
    # A change left out in the middle breaks the chain of sets.
    full = lc_create(12)
    code, msg = refused(a, lc_create(12, set_changes=full.set_changes[:2] + full.set_changes[3:]))
    assert code == ResultCode.INVALID_HEADER and msg.startswith("validator_changes:")


def test_governed_policy_needs_the_trusted_genesis_hash() -> None:
    b = SimChain("chain-b")
    b.advance(2)
    a = host(policy="governed")
    code, msg = refused(a, sim_create(b, 2))
    assert code == ResultCode.UNTRUSTED_CHAIN and "not trusted" in msg
    # Trusted with another genesis hash (written as governance would: see test_interchain_governance).
    from trellis.core.modules.interchain.state import TrustedChain, trusted_key

    a._st.state[trusted_key("chain-b")] = encode(TrustedChain(genesis_hash=b"\x01" * 32, added_height=1))
    code, msg = refused(a, sim_create(b, 2))
    assert code == ResultCode.UNTRUSTED_CHAIN and b.params.genesis_hash.hex() in msg
    a._st.state[trusted_key("chain-b")] = encode(TrustedChain(genesis_hash=b.params.genesis_hash, added_height=1))
    _ok(a, sim_create(b, 2))


def test_create_refuses_a_bad_genesis_and_the_wrong_chain() -> None:
    b = SimChain("chain-b")
    c = SimChain("chain-c")
    b.advance(2)
    c.advance(2)
    a = host()
    code, msg = refused(a, sim_create(b, 2, genesis=b"\x91\x01"))
    assert code == ResultCode.INVALID_HEADER and msg.startswith("invalid_genesis:")
    # Valid msgpack of the genesis, not canonical (a map with a key order the encoder does not write).
    noncanonical = msgspec.msgpack.encode(dict(reversed(list(msgspec.to_builtins(b.genesis).items()))))
    code, msg = refused(a, sim_create(b, 2, genesis=noncanonical))
    assert code == ResultCode.INVALID_HEADER and msg.startswith("invalid_genesis:")
    # The message names another chain than the genesis.
    code, msg = refused(a, sim_create(b, 2, chain_id="chain-c"))
    assert code == ResultCode.INVALID_HEADER and msg.startswith("wrong_chain:")
    # Chain c's genesis with chain b's header.
    code, msg = refused(a, sim_create(b, 2, chain_id="chain-c", genesis=c.genesis_bytes))
    assert code == ResultCode.INVALID_HEADER and msg.startswith("wrong_chain:")


def test_create_refuses_a_forged_header_and_a_commit_by_a_wrong_set() -> None:
    b = SimChain("chain-b")
    b.advance(2)
    a = host()
    forged = msgspec.structs.replace(b.header(2), state_root=b"\x07" * 32)
    # The genuine certificate does not cover the forged header.
    code, msg = refused(a, sim_create(b, 2, header=encode(forged)))
    assert code == ResultCode.INVALID_HEADER and msg.startswith("invalid_commit:")
    # A real certificate of the forged header, but by chain c's validators.
    wrong = sign(forged, [f"chain-c/validator-{i}" for i in range(4)])
    code, msg = refused(a, sim_create(b, 2, header=encode(forged), commit=encode(wrong)))
    assert code == ResultCode.INVALID_HEADER and msg.startswith("invalid_commit:")
    # Signed by b's own validators but only two of four: no quorum.
    weak = sign(forged, [f"chain-b/validator-{i}" for i in range(2)])
    code, msg = refused(a, sim_create(b, 2, header=encode(forged), commit=encode(weak)))
    assert code == ResultCode.INVALID_HEADER and msg.startswith("invalid_commit:")
    # Three of four is a quorum: the forged header is b's validators' word.
    strong = sign(forged, [f"chain-b/validator-{i}" for i in range(3)])
    _ok(a, sim_create(b, 2, header=encode(forged), commit=encode(strong)))


def test_create_refuses_an_expired_or_future_header_and_bad_parameters() -> None:
    # Host at g + 1 s; header 12 at g + 12 s is beyond now + 10 s.
    a = host(at_ms=1000)
    code, msg = refused(a, lc_create(12), step_ms=1)
    assert code == ResultCode.INVALID_HEADER and msg.startswith("from_future:")
    _ok(a, lc_create(12, max_clock_drift_ms=HOUR), step_ms=1)
    # A header a trusting period old.
    a = host(at_ms=HOUR + 1000)
    code, msg = refused(a, lc_create(1, trusting_period_ms=HOUR), step_ms=1)
    assert code == ResultCode.INVALID_HEADER and msg.startswith("expired:")
    _ok(a, lc_create(1, trusting_period_ms=HOUR + 10), step_ms=1)
    code, msg = refused(a, lc_create(2, trusting_period_ms=HOUR - 1))
    assert code == ResultCode.INVALID_HEADER and msg.startswith("bad_trusting_period:")
    code, msg = refused(a, lc_create(2, trusting_period_ms=14 * DAY + 1))
    assert code == ResultCode.INVALID_HEADER and msg.startswith("bad_trusting_period:")
    code, msg = refused(a, lc_create(2, max_clock_drift_ms=HOUR + 1))
    assert code == ResultCode.INVALID_HEADER and msg.startswith("bad_clock_drift:")
    # Undecodable header or commit bytes.
    code, msg = refused(a, lc_create(2, header=b"\x00"))
    assert code == ResultCode.INVALID_HEADER and msg.startswith("invalid_header:")
    code, msg = refused(a, lc_create(2, commit=b"\x00"))
    assert code == ResultCode.INVALID_HEADER and msg.startswith("invalid_commit:")


# -- update ------------------------------------------------------------------------------------------------------
def test_adjacent_and_skipping_updates_follow_set_changes() -> None:
    a = _lc_client(1)
    # 1 -> 3 (skip), 3 -> 4 (adjacent across the change at 4), 4 -> 6 (skip across 6), 6 -> 12 (skip: v3, v4 of
    # set(6) sign 20 of 45 > 1/3) through the changes at 8, 9 and 11.
    for trusted, height in [(1, 3), (3, 4), (4, 6), (6, 12)]:
        events = _ok(a, lc_update("client-0", trusted, height))
        assert events == [("interchain.client_updated", {"client_id": b"client-0", "height": str(height).encode()})]
        assert _client(a).latest_height == height
        assert _cs(a, height) is not None and _cs(a, height).block_id == block_hash(ED25519, LC.headers[height])  # type: ignore[union-attr]
    # Filling in a lower height keeps the latest.
    _ok(a, lc_update("client-0", 6, 8))
    assert _client(a).latest_height == 12 and _cs(a, 8) is not None


def test_a_skip_without_enough_trust_is_refused() -> None:
    a = _lc_client(1)
    # From 1, commit 12 is signed by v3 alone of the trusted set: 10 of 40.
    code, msg = refused(a, lc_update("client-0", 1, 12))
    assert code == ResultCode.INVALID_HEADER and msg.startswith("not_enough_trust:")


def test_duplicate_update_is_a_no_op_success() -> None:
    a = _lc_client(1)
    _ok(a, lc_update("client-0", 1, 3))
    before = interchain_state(a)
    events = _ok(a, lc_update("client-0", 1, 3))
    assert events == [("interchain.client_update_duplicate", {"client_id": b"client-0", "height": b"3"})]
    assert interchain_state(a) == before


def test_update_refusals_change_nothing() -> None:
    a = _lc_client(2)
    cases: list[tuple[object, ResultCode, str]] = [
        (lc_update("client-9", 2, 3), ResultCode.CLIENT_NOT_FOUND, "no client"),
        (lc_update("client-0", 1, 3), ResultCode.UNKNOWN_CONSENSUS_HEIGHT, "trusted height 1"),
        # A trusted set that is not the stored one.
        (
            lc_update("client-0", 2, 3, trusted_validators=LC.sets[5]),
            ResultCode.INVALID_HEADER,
            "trusted_validators_mismatch:",
        ),
        # The header's set given wrongly.
        (lc_update("client-0", 2, 3, validators=LC.sets[5]), ResultCode.INVALID_HEADER, "validators_mismatch:"),
        # A forged header under the genuine commit.
        (
            lc_update("client-0", 2, 3, header=msgspec.structs.replace(LC.headers[3], state_root=b"\x05" * 32)),
            ResultCode.INVALID_HEADER,
            "invalid_commit:",
        ),
        # A header at or below the trusted height.
        (lc_update("client-0", 2, 1), ResultCode.INVALID_HEADER, "not_after:"),
        (lc_update("client-0", 2, 3, header=b"\x01", commit=None), ResultCode.INVALID_HEADER, "invalid_header:"),  # type: ignore[arg-type]
    ]
    for payload, code, fragment in cases:
        got_code, got_msg = refused(a, payload)  # type: ignore[arg-type]
        assert got_code == code and fragment in got_msg, (got_code, got_msg)


def test_update_refuses_commits_by_a_wrong_set_and_headers_of_another_chain() -> None:
    a = _lc_client(2)
    # Header 3 re-rooted and certified by v4 and v5, who are not in set(3).
    header, commit = lc_forged(3, signers=["v4", "v5"], state_root=b"\x06" * 32)
    code, msg = refused(a, lc_update("client-0", 2, 3, header=header, commit=commit))
    assert code == ResultCode.INVALID_HEADER and msg.startswith("invalid_commit:")
    # Skipping: a header whose set is {v4, v5}, all signing, but the trusted set did not sign.
    from tests.vectors.light_client_vectors import valset

    rogue_set = valset({"v4": 10, "v5": 10})
    from trellis.core.ledger.block import validators_hash

    header, commit = lc_forged(5, signers=["v4", "v5"], validators_hash=validators_hash(ED25519, rogue_set))
    code, msg = refused(a, lc_update("client-0", 2, 5, header=header, commit=commit, validators=rogue_set))
    assert code == ResultCode.INVALID_HEADER and msg.startswith("not_enough_trust:")
    # The same validators' certificate of a header of another chain.
    header, commit = lc_forged(3, chain_id="other-chain")
    code, msg = refused(a, lc_update("client-0", 2, 3, header=header, commit=commit))
    assert code == ResultCode.INVALID_HEADER and msg.startswith("wrong_chain:")


def test_update_refuses_a_header_from_the_future() -> None:
    a = host(at_ms=1000)
    _ok(a, lc_create(1), step_ms=1)
    now = a.time_ms + 1
    # Block 3 dated exactly now + drift is from the future; one millisecond earlier it is accepted.
    header, commit = lc_forged(3, time_ms=now + DRIFT)
    code, msg = refused(a, lc_update("client-0", 1, 3, header=header, commit=commit), step_ms=1)
    assert code == ResultCode.INVALID_HEADER and msg.startswith("from_future:")
    header, commit = lc_forged(3, time_ms=now + 1 + DRIFT - 1)
    _ok(a, lc_update("client-0", 1, 3, header=header, commit=commit), step_ms=1)


# -- freezes -----------------------------------------------------------------------------------------------------
def test_a_conflicting_header_at_a_stored_height_freezes_the_client() -> None:
    a = _lc_client(1)
    _ok(a, lc_update("client-0", 1, 3))
    header, commit = lc_forged(3, state_root=b"\x09" * 32)  # a second block 3, certified by set(3)
    events = _ok(a, lc_update("client-0", 1, 3, header=header, commit=commit))
    assert events == [("interchain.client_frozen", {"client_id": b"client-0", "height": b"3", "kind": b"conflict"})]
    client = _client(a)
    assert client.frozen_height == 3 and client.latest_height == 3
    rec = read_misbehaviour(a.reader(), "client-0")
    assert rec is not None and rec.kind == CONFLICT and rec.height == 3 and rec.recorded_at == a.height
    assert rec.block_id_1 == block_hash(ED25519, LC.headers[3]) and rec.block_id_2 == block_hash(ED25519, header)
    assert _cs(a, 3).block_id == rec.block_id_1  # type: ignore[union-attr]
    # Frozen: every update is refused, even a genuine one.
    code, msg = refused(a, lc_update("client-0", 3, 4))
    assert code == ResultCode.CLIENT_FROZEN and "frozen" in msg


def test_time_going_backwards_between_stored_neighbours_freezes_the_client() -> None:
    a = _lc_client(1)
    _ok(a, lc_update("client-0", 1, 6))
    # Block 3 with a time after block 6's: verifies from 1, but cannot sit below 6.
    header, commit = lc_forged(3, time_ms=LC.headers[6].time_ms + 5)
    events = _ok(a, lc_update("client-0", 1, 3, header=header, commit=commit))
    assert events == [("interchain.client_frozen", {"client_id": b"client-0", "height": b"3", "kind": b"time"})]
    rec = read_misbehaviour(a.reader(), "client-0")
    assert rec is not None and rec.kind == TIME and _cs(a, 3) is None
    code, _ = refused(a, lc_update("client-0", 6, 7))
    assert code == ResultCode.CLIENT_FROZEN

    # Below: stored 1 and 3. An update verifies from the nearest stored height below (one bounded read however
    # many states the client holds), which refuses block 5 with block 3's time; the two signed headers are still
    # misbehaviour evidence, and that freezes the client.
    a = _lc_client(1)
    _ok(a, lc_update("client-0", 1, 3))
    header, commit = lc_forged(5, time_ms=LC.headers[3].time_ms)
    code, msg = refused(a, lc_update("client-0", 1, 5, header=header, commit=commit))
    assert code == ResultCode.INVALID_HEADER and msg.startswith("not_nearest:"), msg
    code, _ = refused(a, lc_update("client-0", 3, 5, header=header, commit=commit))
    assert code == ResultCode.INVALID_HEADER
    evidence = SubmitMisbehaviour(
        client_id="client-0",
        first=lc_header_update(1, 3),
        second=lc_header_update(1, 5, header=header, commit=commit),
    )
    events = _ok(a, evidence)
    assert events[0][0] == "interchain.client_frozen" and events[0][1]["height"] == b"3"
    assert _client(a).frozen_height == 3


def test_misbehaviour_freezes_on_two_blocks_at_one_height_or_time_reversal() -> None:
    a = _lc_client(1)
    _ok(a, lc_update("client-0", 1, 2))
    h3, c3 = lc_forged(3, state_root=b"\x0a" * 32)
    first = lc_header_update(1, 3)
    second = lc_header_update(2, 3, header=h3, commit=c3)
    # Two consistent headers are not misbehaviour.
    code, msg = refused(a, SubmitMisbehaviour(client_id="client-0", first=first, second=lc_header_update(2, 4)))
    assert code == ResultCode.INVALID_EVIDENCE
    code, _ = refused(a, SubmitMisbehaviour(client_id="client-0", first=first, second=first))
    assert code == ResultCode.INVALID_EVIDENCE
    # A forged second header is refused as a header, not taken as evidence.
    bad = lc_header_update(2, 3, header=h3)  # genuine commit of another block
    code, msg = refused(a, SubmitMisbehaviour(client_id="client-0", first=first, second=bad))
    assert code == ResultCode.INVALID_HEADER and msg.startswith("invalid_commit:")
    events = _ok(a, SubmitMisbehaviour(client_id="client-0", first=first, second=second))
    assert events == [("interchain.client_frozen", {"client_id": b"client-0", "height": b"3", "kind": b"conflict"})]
    code, _ = refused(a, SubmitMisbehaviour(client_id="client-0", first=first, second=second))
    assert code == ResultCode.CLIENT_FROZEN

    a = _lc_client(1)
    h5, c5 = lc_forged(5, time_ms=LC.headers[3].time_ms)  # block 5 no later than block 3
    events = _ok(
        a,
        SubmitMisbehaviour(
            client_id="client-0", first=lc_header_update(1, 5, header=h5, commit=c5), second=lc_header_update(1, 3)
        ),
    )
    assert events[0][1]["kind"] == b"time" and events[0][1]["height"] == b"3"
    code, _ = refused(a, SubmitMisbehaviour(client_id="client-9", first=first, second=second))
    assert code == ResultCode.CLIENT_NOT_FOUND


# -- expiry and pruning ------------------------------------------------------------------------------------------
def test_an_expired_client_refuses_updates_and_misbehaviour() -> None:
    a = _lc_client(1)
    _ok(a, lc_create(1, trusting_period_ms=HOUR))  # client-1, latest at g + 1 s
    # client-1's latest is exactly a trusting period old at the next block: expired.
    step = G + 1000 + HOUR - a.time_ms
    code, msg = refused(a, lc_update("client-1", 1, 2), step_ms=step)
    assert code == ResultCode.CLIENT_EXPIRED and "expired" in msg
    code, _ = refused(
        a, SubmitMisbehaviour(client_id="client-1", first=lc_header_update(1, 2), second=lc_header_update(1, 3))
    )
    assert code == ResultCode.CLIENT_EXPIRED
    # client-0 (a day) is still active.
    _ok(a, lc_update("client-0", 1, 2))


def test_an_update_within_the_last_moment_of_the_period_is_accepted() -> None:
    a = _lc_client(1)
    _ok(a, lc_create(1, trusting_period_ms=HOUR, max_clock_drift_ms=0))
    step = G + 1000 + HOUR - 1 - a.time_ms
    _ok(a, lc_update("client-1", 1, 2), step_ms=step)


def test_an_update_prunes_at_most_two_consensus_states_out_of_the_period() -> None:
    a = host()
    _ok(a, lc_create(1, trusting_period_ms=HOUR))
    for trusted, height in [(1, 2), (2, 3), (3, 4), (4, 9)]:
        _ok(a, lc_update("client-0", trusted, height))
    # Now g + 4 s + 1 h + 1: heights 1..4 are out of the period, 9 is not.
    step = G + 4000 + HOUR + 1 - a.time_ms
    _ok(a, lc_update("client-0", 9, 10), step_ms=step)
    assert consensus_heights(a.reader(), "client-0", 10) == [3, 4, 9, 10]
    _ok(a, lc_update("client-0", 10, 11), step_ms=1)
    assert consensus_heights(a.reader(), "client-0", 10) == [9, 10, 11]


# -- the pure rules ----------------------------------------------------------------------------------------------
def _state(t: int, bid: bytes = b"\x01" * 32) -> ConsensusState:
    return ConsensusState(
        time_ms=t,
        state_root=b"\x00" * 32,
        block_id=bid,
        validators_hash=b"\x00" * 32,
        next_validators_hash=b"\x00" * 32,
    )


def _rec(latest: int = 5, frozen: int = 0, period: int = 100) -> ClientState:
    return ClientState(
        chain_id="c",
        genesis_hash=b"\x00" * 32,
        suite="ed25519",
        trusting_period_ms=period,
        max_clock_drift_ms=0,
        latest_height=latest,
        frozen_height=frozen,
    )


def test_status_boundaries() -> None:
    assert status(_rec(), _state(1000), 1099) == "active"
    assert status(_rec(), _state(1000), 1100) == "expired"
    assert status(_rec(), None, 0) == "expired"
    assert status(_rec(frozen=3), _state(1000), 1000) == "frozen"


def test_judge_update_and_misbehaviour_rules() -> None:
    new = _state(50, b"\x02" * 32)
    assert judge_update(5, new, Neighbours()) == "store"
    assert judge_update(5, new, Neighbours(at=_state(50, b"\x02" * 32))) == "duplicate"
    assert judge_update(5, new, Neighbours(below=(4, _state(49)), above=(6, _state(51)))) == "store"
    f = judge_update(5, new, Neighbours(below=(4, _state(50))))
    assert not isinstance(f, str) and (f.kind, f.frozen_height) == ("time", 4)
    f = judge_update(5, new, Neighbours(above=(6, _state(50))))
    assert not isinstance(f, str) and (f.kind, f.frozen_height) == ("time", 5)
    f = judge_update(5, new, Neighbours(at=_state(50)))
    assert not isinstance(f, str) and f.kind == "conflict"
    assert misbehaviour(7, _state(10), 3, _state(10, b"\x03" * 32)).frozen_height == 3
    with pytest.raises(TxFailure):
        misbehaviour(3, _state(10), 7, _state(11))


def test_prunable_keeps_the_latest_and_stops_at_a_fresh_state() -> None:
    c = _rec(latest=9, period=100)
    assert prunable(c, [(1, _state(0)), (2, _state(0))], 100) == [1, 2]
    assert prunable(c, [(1, _state(0)), (2, _state(1))], 100) == [1]
    assert prunable(c, [(1, _state(1)), (2, _state(0))], 100) == []
    assert prunable(_rec(latest=2, period=100), [(1, _state(0)), (2, _state(0))], 500) == [1]


def test_client_records_round_trip() -> None:
    a = _lc_client(1)
    raw = a.get(client_key("client-0"))
    assert raw is not None and encode(decode(raw, ClientState)) == raw
    assert a.get(consensus_key("client-0", 1)) is not None
    assert LC_GENESIS == encode(lc.genesis())


def test_transactions_of_one_block_see_each_others_consensus_states() -> None:
    a = host()
    header, commit = lc_forged(3, time_ms=LC.headers[6].time_ms + 1)
    txs = [
        a.sign(RELAYER, lc_create(1)),
        a.sign(RELAYER, lc_update("client-0", 1, 2)),
        a.sign(RELAYER, lc_update("client-0", 2, 6)),
        # Found by the neighbour scan over this block's own writes: block 3 dated after block 6.
        a.sign(RELAYER, lc_update("client-0", 2, 3, header=header, commit=commit)),
    ]
    receipts = a.commit_block(txs)
    assert [r.code for r in receipts] == [0, 0, 0, 0]
    assert receipts[-1].events[0].type == "interchain.client_frozen"
    assert dict(receipts[-1].events[0].attributes)["kind"] == b"time"
    assert consensus_heights(a.reader(), "client-0", 10) == [1, 2, 6]


# -- from a checkpoint (interchain.md 2.2) -------------------------------------------------------------------------
def _checkpoint(b: SimChain, height: int, **kw: object) -> CreateClient:
    """Create a client of ``b`` from its header at ``height`` as a checkpoint (no genesis, no set changes)."""
    header, commit, validators = b.encoded_light_block(height)
    fields: dict[str, object] = {
        "chain_id": b.chain_id,
        "genesis": b"",
        "set_changes": [],
        "header": header,
        "commit": commit,
        "trusting_period_ms": DAY,
        "max_clock_drift_ms": DRIFT,
        "checkpoint": Checkpoint(genesis_hash=b.params.genesis_hash, suite=b.params.suite.name, validators=validators),
    }
    fields.update(kw)
    return CreateClient(**fields)  # type: ignore[arg-type]


def _trusting_checkpoint(b: SimChain, height: int) -> SimChain:
    """A governed host whose governance trusts ``b`` with its block at ``height`` as the checkpoint (the record
    written as governance writes it: test_interchain_governance covers the proposal)."""
    from trellis.core.modules.interchain.state import TrustedChain, trusted_key

    a = host(policy="governed")
    block = block_hash(b.params.suite, b.light_block(height).header)
    trusted = TrustedChain(
        genesis_hash=b.params.genesis_hash, added_height=1, checkpoint_height=height, checkpoint_block_id=block
    )
    a._st.state[trusted_key(b.chain_id)] = encode(trusted)
    return a


def test_the_open_policy_refuses_a_checkpoint() -> None:
    """Nothing would vouch for the genesis hash a checkpoint asserts: a client that only claims a chain's genesis
    could pass that chain's self-client check."""
    b = SimChain("chain-b")
    b.advance(3)
    a = host()
    code, msg = refused(a, _checkpoint(b, 3))
    assert code == ResultCode.UNTRUSTED_CHAIN and "needs governance" in msg


def test_a_client_from_the_trusted_checkpoint_follows_the_chain() -> None:
    b = SimChain("chain-b", accounts={"alice": 5})
    b.advance(3)
    a = _trusting_checkpoint(b, 3)
    _ok(a, _checkpoint(b, 3))
    client = read_client(a.reader(), "client-0")
    assert client is not None and client.latest_height == 3 and client.genesis_hash == b.params.genesis_hash
    b.advance(2)
    _ok(a, sim_update(b, "client-0", 3, 5))
    assert read_client(a.reader(), "client-0").latest_height == 5  # type: ignore[union-attr]


def test_a_checkpoint_must_be_certified_by_the_set_it_names() -> None:
    b = SimChain("chain-b")
    c = SimChain("chain-c", validators=3)
    b.advance(3)
    c.advance(3)
    a = _trusting_checkpoint(b, 3)
    before = interchain_state(a)
    _, _, c_validators = c.encoded_light_block(3)
    wrong_set = Checkpoint(genesis_hash=b.params.genesis_hash, suite="ed25519", validators=c_validators)
    code, msg = refused(a, _checkpoint(b, 3, checkpoint=wrong_set))
    assert code == ResultCode.INVALID_HEADER and msg.startswith("validators_mismatch:"), msg
    _, c_commit, _ = c.encoded_light_block(3)
    code, msg = refused(a, _checkpoint(b, 3, commit=c_commit))
    assert code == ResultCode.INVALID_HEADER and msg.startswith("invalid_commit:"), msg
    code, msg = refused(a, _checkpoint(b, 3, chain_id="chain-x"))
    assert code == ResultCode.INVALID_HEADER and msg.startswith("wrong_chain:"), msg
    bad_suite = Checkpoint(genesis_hash=b.params.genesis_hash, suite="rsa", validators=b.encoded_light_block(3)[2])
    code, msg = refused(a, _checkpoint(b, 3, checkpoint=bad_suite))
    assert code == ResultCode.INVALID_HEADER and msg.startswith("unknown_suite:"), msg
    code, msg = refused(a, _checkpoint(b, 3, genesis=b.genesis_bytes))
    assert code == ResultCode.INVALID_HEADER and "without genesis" in msg
    code, msg = refused(a, sim_create(b, 3, genesis=b""))
    assert code == ResultCode.INVALID_HEADER and "genesis or a checkpoint" in msg
    assert interchain_state(a) == before


def test_governed_policy_takes_only_the_trusted_checkpoint() -> None:
    from trellis.core.modules.interchain.state import TrustedChain, trusted_key

    b = SimChain("chain-b")
    b.advance(4)
    a = host(policy="governed")
    g = b.params.genesis_hash
    a._st.state[trusted_key("chain-b")] = encode(TrustedChain(genesis_hash=g, added_height=1))
    code, msg = refused(a, _checkpoint(b, 3))
    assert code == ResultCode.UNTRUSTED_CHAIN and "genesis only" in msg
    block_3 = block_hash(b.params.suite, b.light_block(3).header)
    trusted = TrustedChain(genesis_hash=g, added_height=1, checkpoint_height=3, checkpoint_block_id=block_3)
    a._st.state[trusted_key("chain-b")] = encode(trusted)
    code, msg = refused(a, _checkpoint(b, 4))
    assert code == ResultCode.UNTRUSTED_CHAIN and "height 3" in msg
    other = Checkpoint(genesis_hash=b"\x05" * 32, suite="ed25519", validators=b.encoded_light_block(3)[2])
    code, _ = refused(a, _checkpoint(b, 3, checkpoint=other))
    assert code == ResultCode.UNTRUSTED_CHAIN
    _ok(a, _checkpoint(b, 3))
    # The genesis route stays open under the same trust record.
    _ok(a, sim_create(b, 4))
