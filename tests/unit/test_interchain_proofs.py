"""State proofs of another chain checked through a light client (docs/spec/interchain.md 6; ADR 0015 section 6):
inclusion and non-inclusion against the consensus state at the proof height (no +1), and the refusals — another
key, value, height or root, an unknown height, an undecodable proof, a missing, frozen or expired client.

Chain B (``SimChain``) has real state roots; chain A holds a client of B, and the checks run in a transaction
context over A's state at A's next block time.
"""

from __future__ import annotations

import pytest

from tests.fixtures.chain_sim import SimChain
from tests.fixtures.interchain_clients import DAY, host, sim_create, sim_update, submit
from trellis.core.codec import decode, encode
from trellis.core.execution.context import TxContext
from trellis.core.execution.results import ResultCode, TxFailure
from trellis.core.ledger.state_tree import StateProof
from trellis.core.modules.accounts.messages import Transfer
from trellis.core.modules.accounts.state import account_key
from trellis.core.modules.interchain.proofs import (
    active_client,
    client_status,
    consensus_at,
    verify_membership,
    verify_non_membership,
)
from trellis.core.modules.interchain.state import ClientState, client_key


class Chains:
    """A with client-0 of B at heights 2 (alice 100) and 4 (alice 60 after a transfer of 40 to bob)."""

    def __init__(self) -> None:
        self.b = SimChain("chain-b", accounts={"alice": 100})
        self.b.advance(2)
        self.a = host()
        assert submit(self.a, sim_create(self.b, 2)).code == 0
        assert self.b.submit("alice", Transfer(to=self.b.address("bob"), amount=40)).code == 0
        self.b.advance()
        assert submit(self.a, sim_update(self.b, "client-0", 2, 4)).code == 0
        self.alice = account_key(self.b.address("alice"))
        self.bob = account_key(self.b.address("bob"))
        self.carol = account_key(self.b.address("carol"))

    def ctx(self, later_ms: int = 1000) -> TxContext:
        snap = self.a.reader()
        writes: dict[bytes, bytes | None] = {}
        return TxContext(
            b"\x00" * 20,
            self.a.params,
            self.a.height + 1,
            snap.get,
            writes.__setitem__,
            time_ms=self.a.time_ms + later_ms,
        )

    def value(self, key: bytes, height: int) -> bytes:
        v = self.b.get(key, height)
        assert v is not None
        return v


@pytest.fixture
def ch() -> Chains:
    return Chains()


def _fails(code: ResultCode, fragment: str, fn: object, *args: object) -> None:
    with pytest.raises(TxFailure) as info:
        fn(*args)  # type: ignore[operator]
    assert info.value.code == code and fragment in info.value.message, (info.value.code, info.value.message)


def test_membership_at_each_verified_height_returns_the_proof_height(ch: Chains) -> None:
    ctx = ch.ctx()
    for h in (2, 4):
        assert verify_membership(ctx, "client-0", ch.alice, ch.value(ch.alice, h), ch.b.prove(ch.alice, h)) == h
    # The state after block 4 itself (no +1): bob exists at 4, not at 2.
    assert verify_membership(ctx, "client-0", ch.bob, ch.value(ch.bob, 4), ch.b.prove(ch.bob, 4)) == 4
    assert verify_non_membership(ctx, "client-0", ch.bob, ch.b.prove(ch.bob, 2)) == 2
    assert verify_non_membership(ctx, "client-0", ch.carol, ch.b.prove(ch.carol, 4)) == 4


def test_a_proof_for_another_value_or_key_is_refused(ch: Chains) -> None:
    ctx = ch.ctx()
    proof = ch.b.prove(ch.alice, 4)
    _fails(
        ResultCode.INVALID_PROOF,
        "value does not match",
        verify_membership,
        ctx,
        "client-0",
        ch.alice,
        ch.value(ch.alice, 2),
        proof,
    )
    # Alice's proof presented for bob's key.
    _fails(
        ResultCode.INVALID_PROOF,
        "different key",
        verify_membership,
        ctx,
        "client-0",
        ch.bob,
        ch.value(ch.alice, 4),
        proof,
    )
    # Alice's inclusion proof presented as carol's absence.
    _fails(ResultCode.INVALID_PROOF, "lie on the key's path", verify_non_membership, ctx, "client-0", ch.carol, proof)
    # Absence claimed of a present key; presence claimed with an absence proof.
    _fails(ResultCode.INVALID_PROOF, "absence was claimed", verify_non_membership, ctx, "client-0", ch.alice, proof)
    _fails(
        ResultCode.INVALID_PROOF,
        "key absent",
        verify_membership,
        ctx,
        "client-0",
        ch.bob,
        ch.value(ch.bob, 4),
        ch.b.prove(ch.bob, 2),
    )


def test_a_proof_relabelled_to_another_height_or_root_is_refused(ch: Chains) -> None:
    ctx = ch.ctx()
    at2 = decode(ch.b.prove(ch.alice, 2), StateProof)
    # The value and proof of height 2 claimed at height 4: another root.
    relabelled = encode(StateProof(height=4, steps=at2.steps, leaf=at2.leaf))
    _fails(
        ResultCode.INVALID_PROOF,
        "root_mismatch",
        verify_membership,
        ctx,
        "client-0",
        ch.alice,
        ch.value(ch.alice, 2),
        relabelled,
    )
    # A sibling hash changed: the path leads to another root.
    at4 = decode(ch.b.prove(ch.alice, 4), StateProof)
    step = at4.steps[0]
    bad_sibling = bytes([step.siblings[0][0] ^ 1]) + step.siblings[0][1:]
    tampered = StateProof(
        height=4,
        steps=[type(step)(bitmap=step.bitmap, siblings=[bad_sibling, *step.siblings[1:]]), *at4.steps[1:]],
        leaf=at4.leaf,
    )
    _fails(
        ResultCode.INVALID_PROOF,
        "root_mismatch",
        verify_membership,
        ctx,
        "client-0",
        ch.alice,
        ch.value(ch.alice, 4),
        encode(tampered),
    )
    # A height the client never stored.
    _fails(
        ResultCode.UNKNOWN_CONSENSUS_HEIGHT,
        "at 3",
        verify_membership,
        ctx,
        "client-0",
        ch.alice,
        ch.value(ch.alice, 3),
        ch.b.prove(ch.alice, 3),
    )
    _fails(ResultCode.UNKNOWN_CONSENSUS_HEIGHT, "at 3", consensus_at, ctx, "client-0", 3)
    assert consensus_at(ctx, "client-0", 4).state_root == ch.b.header(4).state_root


def test_an_undecodable_or_non_canonical_proof_is_refused(ch: Chains) -> None:
    ctx = ch.ctx()
    _fails(ResultCode.INVALID_PROOF, "undecodable", verify_membership, ctx, "client-0", ch.alice, b"x", b"\xc1")
    proof = ch.b.prove(ch.alice, 4)
    # A non-minimal integer for the height (0xcf + 8 bytes where one byte suffices).
    assert proof[1] == 4
    long_height = proof[:1] + b"\xcf" + (4).to_bytes(8, "big") + proof[2:]
    _fails(ResultCode.INVALID_PROOF, "undecodable", verify_non_membership, ctx, "client-0", ch.carol, long_height)


def test_no_client_frozen_or_expired_proves_nothing(ch: Chains) -> None:
    proof = ch.b.prove(ch.alice, 4)
    value = ch.value(ch.alice, 4)
    _fails(ResultCode.CLIENT_NOT_FOUND, "client-7", verify_membership, ch.ctx(), "client-7", ch.alice, value, proof)
    assert client_status(ch.a.reader(), "client-7", 0) is None
    # Expired: the latest consensus state (block 4 of B) is a day old at A's block time.
    latest = ch.b.header(4).time_ms
    expired = ch.ctx(later_ms=latest + DAY - ch.a.time_ms)
    assert client_status(ch.a.reader(), "client-0", latest + DAY - 1) == "active"
    assert client_status(ch.a.reader(), "client-0", latest + DAY) == "expired"
    _fails(ResultCode.CLIENT_EXPIRED, "expired", verify_membership, expired, "client-0", ch.alice, value, proof)
    _fails(
        ResultCode.CLIENT_EXPIRED,
        "expired",
        verify_non_membership,
        expired,
        "client-0",
        ch.carol,
        ch.b.prove(ch.carol, 4),
    )
    assert verify_membership(ch.ctx(later_ms=latest + DAY - 1 - ch.a.time_ms), "client-0", ch.alice, value, proof) == 4
    # Frozen: refuses at every height, the stored ones included.
    raw = ch.a.get(client_key("client-0"))
    assert raw is not None
    c = decode(raw, ClientState)
    ch.a._st.state[client_key("client-0")] = encode(
        ClientState(
            chain_id=c.chain_id,
            genesis_hash=c.genesis_hash,
            suite=c.suite,
            trusting_period_ms=c.trusting_period_ms,
            max_clock_drift_ms=c.max_clock_drift_ms,
            latest_height=c.latest_height,
            frozen_height=4,
        )
    )
    assert client_status(ch.a.reader(), "client-0", 0) == "frozen"
    for h in (2, 4):
        _fails(
            ResultCode.CLIENT_FROZEN,
            "frozen",
            verify_membership,
            ch.ctx(),
            "client-0",
            ch.alice,
            ch.value(ch.alice, h),
            ch.b.prove(ch.alice, h),
        )
    _fails(ResultCode.CLIENT_FROZEN, "frozen", active_client, ch.ctx(), "client-0")


def test_active_client_returns_the_record(ch: Chains) -> None:
    c = active_client(ch.ctx(), "client-0")
    assert c.chain_id == "chain-b" and c.latest_height == 4
    assert client_status(ch.a.reader(), "client-0", ch.a.time_ms) == "active"
