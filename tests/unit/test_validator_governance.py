"""Validator-set changes by membership governance (ADR 0014 section 3, docs/spec/membership.md 4.1).

The chain: four validators of powers 13, 14, 7 and 6 (total 40, so a step may change at most 13), owned by org1
(validator-0, -1) and org2 (validator-2, -3); org3 is a member owning none. Admins of org1 and org2 are registered;
the threshold is 2, so a change applies when the second org approves.
"""

from __future__ import annotations

import msgspec
import pytest

from tests.fixtures.governance import fixed_ca
from tests.unit.conftest import GENESIS_TIME_MS, Actors, Key, MemoryChain, TxFactory, make_key, start_chain
from trellis.core.codec import decode
from trellis.core.crypto.suite import ED25519, address_of, ed25519_sign
from trellis.core.execution.results import ResultCode, TxFailure
from trellis.core.ledger.block import Validator, ValidatorSet, make_validator_set, validators_hash
from trellis.core.ledger.tx import SignedTx
from trellis.core.ledger.votes import PREVOTE, DuplicateVoteEvidence, SignedVote, Vote, vote_signing_bytes
from trellis.core.modules.evidence.messages import SubmitEvidence
from trellis.core.modules.interchain.messages import TrustChain
from trellis.core.modules.interchain.state import encode, read_trusted
from trellis.core.modules.membership.messages import (
    ApproveMembership,
    MembershipChange,
    ProposeMembership,
    RegisterCert,
    RemoveOrg,
    SetThreshold,
)
from trellis.core.modules.membership.state import (
    MEMBERSHIP_KEY,
    MembershipConfig,
    MembershipProposal,
    membership_proposal_key,
)
from trellis.core.modules.validators.governance import is_validator_change, pending_entry
from trellis.core.modules.validators.messages import AddValidator, RemoveValidator, SetValidatorPower
from trellis.core.modules.validators.rules import (
    MAX_POWER,
    apply_validator_change,
    change_weight,
    edit_entry,
    total_power,
)
from trellis.core.modules.validators.state import (
    META_KEY,
    ValidatorSetEntry,
    ValidatorsMeta,
    ValidatorUpdate,
    read_entry,
    read_meta,
    set_key,
    sets_for_block,
)
from trellis.core.params import Genesis, GenesisMembership, GenesisOrg, GenesisValidator, params_from_genesis

POWERS = (13, 14, 7, 6)
ORGS = ("org1", "org1", "org2", "org2")


def _addr(key: Key) -> bytes:
    return key.address


class Gov:
    """The governance chain with per-key nonces."""

    def __init__(self, chain: MemoryChain, make_tx: TxFactory, actors: Actors) -> None:
        self.chain = chain
        self.make_tx = make_tx
        self.v = actors.validators
        self.admin1 = make_key("gov-admin1")
        self.admin2 = make_key("gov-admin2")
        self.nonces: dict[bytes, int] = {}
        self.outputs: list = []

    def tx(self, key: Key, payload: object) -> SignedTx:
        n = self.nonces.get(key.address, 0)
        self.nonces[key.address] = n + 1
        return self.make_tx(key, n, payload)

    def block(self, *txs: SignedTx) -> list[tuple[int, str]]:
        """Commit a block of ``txs``; return each receipt's (code, message)."""
        executed = self.chain.execute_and_commit(list(txs))
        self.outputs.append(executed)
        return [(r.code, r.message) for r in executed.output.receipts]

    @property
    def height(self) -> int:
        return self.chain.tip.height

    def next_id(self) -> int:
        return decode(self.chain.state[MEMBERSHIP_KEY], MembershipConfig).next_proposal

    def propose(self, change: MembershipChange) -> SignedTx:
        return self.tx(self.admin1, ProposeMembership(change=change))

    def approve(self, proposal_id: int) -> SignedTx:
        return self.tx(self.admin2, ApproveMembership(proposal_id=proposal_id))

    def decide(self, *changes: MembershipChange) -> list[tuple[int, str]]:
        """One block in which each change is proposed by org1 and approved by org2 (so applied), in order."""
        first = self.next_id()
        txs: list[SignedTx] = []
        for i, change in enumerate(changes):
            txs += [self.propose(change), self.approve(first + i)]
        return self.block(*txs)


@pytest.fixture
def gov(actors: Actors, make_tx: TxFactory) -> Gov:
    cas = {o: fixed_ca(o) for o in ("org1", "org2", "org3")}
    genesis = Genesis(
        chain_id="unit-test-chain",
        genesis_time_ms=GENESIS_TIME_MS,
        validators=[
            GenesisValidator(name=k.name, public_key=k.public.hex(), power=p, org=o)
            for k, p, o in zip(actors.validators, POWERS, ORGS, strict=True)
        ],
        mint_authority=actors.mint.address.hex(),
        orgs=[GenesisOrg(name=o, ca_cert=ca.pem) for o, ca in cas.items()],
        membership=GenesisMembership(enforce=False, admin_threshold=2),
    )
    g = Gov(start_chain(params_from_genesis(genesis)), make_tx, actors)
    assert (
        g.block(
            g.tx(g.admin1, RegisterCert(cert=cas["org1"].issue(g.admin1.public, "admin", "admin1"))),
            g.tx(g.admin2, RegisterCert(cert=cas["org2"].issue(g.admin2.public, "admin", "admin2"))),
        )
        == [(0, "")] * 2
    )
    return g


def _new(name: str, power: int, org: str = "org1") -> tuple[Key, AddValidator]:
    k = make_key(name)
    return k, AddValidator(public_key=k.public, power=power, name=name, org=org)


def _powers(valset: ValidatorSet) -> dict[bytes, int]:
    return {address_of(ED25519, v.public_key): v.power for v in valset.validators}


# -- applying a change ---------------------------------------------------------------------------------------


def test_an_approved_change_writes_entry_h_plus_2_and_meta_and_reports_the_update(gov: Gov) -> None:
    genesis_set = gov.chain.params.validators
    k, add = _new("joiner", 5, "org2")
    assert gov.decide(add) == [(0, "")] * 2
    h = gov.height
    entry = read_entry(gov.chain, h + 2)
    assert entry.effective_height == h + 2 and entry.previous == 1
    assert _powers(entry.validators) == {**_powers(genesis_set), k.address: 5}
    owner = dict(zip((address_of(ED25519, v.public_key) for v in entry.validators.validators), entry.orgs, strict=True))
    assert owner[k.address] == "org2" and owner[gov.v[0].address] == "org1"
    assert read_meta(gov.chain) == ValidatorsMeta(version=1, latest=h + 2)
    out = gov.outputs[-1].output
    assert out.validator_update == ValidatorUpdate(effective_height=h + 2, validators=entry.validators)
    # The next block is still signed by the genesis set and announces the new one.
    assert sets_for_block(gov.chain, h + 1) == (genesis_set, entry.validators)
    assert sets_for_block(gov.chain, h + 2) == (entry.validators, entry.validators)
    nxt = gov.chain.build([]).block.header
    assert nxt.validators_hash == validators_hash(ED25519, genesis_set)
    assert nxt.next_validators_hash == validators_hash(ED25519, entry.validators)


def test_applying_emits_validators_changed_instead_of_membership_changed(gov: Gov) -> None:
    pid = gov.next_id()
    gov.decide(_new("joiner", 5)[1])
    h = gov.height
    entry = read_entry(gov.chain, h + 2)
    events = [e for r in gov.outputs[-1].output.receipts for e in r.events]
    assert [e.type for e in events] == [
        "membership.proposed",
        "membership.approved",
        "membership.approved",
        "validators.changed",
    ]
    assert events[-1].attributes == [
        ("proposal", str(pid).encode()),
        ("effective_height", str(h + 2).encode()),
        ("validators_hash", validators_hash(ED25519, entry.validators)),
    ]
    prop = decode(gov.chain.state[membership_proposal_key(pid)], MembershipProposal)
    assert prop.applied_height == h
    assert decode(gov.chain.state[MEMBERSHIP_KEY], MembershipConfig).version == 0  # not a membership change


def test_a_proposal_below_the_threshold_changes_no_validator(gov: Gov) -> None:
    assert gov.block(gov.propose(_new("joiner", 5)[1])) == [(0, "")]
    assert gov.chain.get(set_key(gov.height + 2)) is None
    assert read_meta(gov.chain) == ValidatorsMeta(version=0, latest=1)
    assert gov.outputs[-1].output.validator_update is None


def test_remove_and_set_power_apply_to_the_entry(gov: Gov) -> None:
    assert (
        gov.decide(RemoveValidator(address=gov.v[3].address), SetValidatorPower(address=gov.v[2].address, power=10))
        == [(0, "")] * 4
    )
    entry = read_entry(gov.chain, gov.height + 2)
    assert _powers(entry.validators) == {gov.v[0].address: 13, gov.v[1].address: 14, gov.v[2].address: 10}
    assert read_meta(gov.chain).version == 2


def test_a_change_in_the_next_block_chains_its_entry_to_the_pending_one(gov: Gov) -> None:
    gov.decide(_new("joiner", 5)[1])
    first = gov.height + 2
    gov.decide(SetValidatorPower(address=gov.v[3].address, power=1))
    entry = read_entry(gov.chain, gov.height + 2)
    assert (entry.effective_height, entry.previous) == (first + 1, first)
    assert read_meta(gov.chain) == ValidatorsMeta(version=2, latest=first + 1)


def test_a_chain_without_orgs_keeps_its_genesis_set(chain: MemoryChain, actors: Actors, make_tx: TxFactory) -> None:
    before = dict(chain.state)
    change = AddValidator(public_key=actors.alice.public, power=1, name="alice", org="org1")
    executed = chain.execute_and_commit([make_tx(actors.validators[0], 0, ProposeMembership(change=change))])
    [receipt] = executed.output.receipts
    assert receipt.code == ResultCode.NOT_FOUND and "no_membership" in receipt.message
    assert executed.output.validator_update is None
    assert chain.state[META_KEY] == before[META_KEY] and chain.get(set_key(3)) is None


# -- refusals ------------------------------------------------------------------------------------------------


def _refusals(gov: Gov) -> list[tuple[MembershipChange, str]]:
    v = gov.v
    joiner = make_key("joiner")
    return [
        (AddValidator(public_key=b"\x01" * 33, power=1, name="x", org="org1"), "public key is 33 bytes"),
        (AddValidator(public_key=v[0].public, power=1, name="x", org="org1"), "already in the pending set"),
        (AddValidator(public_key=joiner.public, power=0, name="x", org="org1"), "power 0 is out of range"),
        (AddValidator(public_key=joiner.public, power=MAX_POWER + 1, name="x", org="org1"), "out of range"),
        (AddValidator(public_key=joiner.public, power=1, name="", org="org1"), "name must be 1 to 64"),
        (AddValidator(public_key=joiner.public, power=1, name="x", org="org9"), "'org9' is not a member"),
        (RemoveValidator(address=joiner.address), "not in the pending set"),
        (SetValidatorPower(address=joiner.address, power=3), "not in the pending set"),
        (SetValidatorPower(address=v[2].address, power=7), "already has power 7"),
        (SetValidatorPower(address=v[2].address, power=0), "power 0 is out of range"),
    ]


def test_each_invalid_change_is_refused_when_proposed(gov: Gov) -> None:
    for change, why in _refusals(gov):
        [(code, message)] = gov.block(gov.propose(change))
        assert code == ResultCode.INVALID_CHANGE, (change, message)
        assert why in message, (change, message)
    assert read_meta(gov.chain) == ValidatorsMeta(version=0, latest=1)


def test_at_most_max_validators() -> None:
    suite = ED25519
    vals = [Validator(public_key=i.to_bytes(32, "big"), power=1, name=str(i)) for i in range(1000)]
    base = make_validator_set(suite, vals)
    pending = ValidatorSetEntry(effective_height=5, previous=1, validators=base, orgs=["o"] * 1000)
    add = AddValidator(public_key=b"\xff" * 32, power=1, name="one-too-many", org="o")
    with pytest.raises(TxFailure, match="already has 1000 validators"):
        apply_validator_change(suite, base, pending, add, frozenset({"o"}))


# -- the one-third bound -------------------------------------------------------------------------------------


def test_a_step_of_exactly_floor_t_over_3_applies_and_one_more_is_refused(gov: Gov) -> None:
    [_, (code, message)] = gov.decide(_new("too-heavy", 14)[1])
    assert (code, message) == (ResultCode.INVALID_CHANGE, "step changes 14 of 40 power; at most 13")
    assert gov.decide(_new("just-right", 13)[1]) == [(0, "")] * 2


def test_a_removal_counts_its_whole_power(gov: Gov) -> None:
    [_, (code, message)] = gov.decide(RemoveValidator(address=gov.v[1].address))  # power 14
    assert (code, message) == (ResultCode.INVALID_CHANGE, "step changes 14 of 40 power; at most 13")
    assert gov.decide(RemoveValidator(address=gov.v[0].address)) == [(0, "")] * 2  # power 13


def test_a_power_change_counts_its_difference(gov: Gov) -> None:
    [_, (code, message)] = gov.decide(SetValidatorPower(address=gov.v[3].address, power=20))  # 6 -> 20: 14
    assert (code, message) == (ResultCode.INVALID_CHANGE, "step changes 14 of 40 power; at most 13")
    assert gov.decide(SetValidatorPower(address=gov.v[3].address, power=19)) == [(0, "")] * 2


def test_changes_applied_in_one_block_add_up(gov: Gov) -> None:
    codes = gov.decide(_new("a", 6)[1], _new("b", 8)[1])
    assert codes[:3] == [(0, "")] * 3
    assert codes[3] == (ResultCode.INVALID_CHANGE, "step changes 14 of 40 power; at most 13")
    entry = read_entry(gov.chain, gov.height + 2)
    assert sorted(_powers(entry.validators).values()) == [6, 6, 7, 13, 14]  # only "a" joined
    assert gov.decide(_new("c", 7)[1]) == [(0, "")] * 2  # a new block, a new step


def test_a_change_refused_by_the_step_bound_applies_in_a_later_block(gov: Gov) -> None:
    first = gov.next_id()
    codes = gov.decide(_new("a", 6)[1], _new("b", 8)[1])
    assert codes[2] == (0, "")  # proposing "b" is fine: the bound is not checked then
    assert codes[3] == (ResultCode.INVALID_CHANGE, "step changes 14 of 40 power; at most 13")
    [(code, message)] = gov.block(gov.approve(first + 1))  # a new block: base is now set(H+2) with "a", T = 46
    assert (code, message) == (0, "")
    assert sorted(_powers(read_entry(gov.chain, gov.height + 2).validators).values()) == [6, 6, 7, 8, 13, 14]


def test_the_bound_allows_a_weight_of_exactly_a_third() -> None:
    vals = [Validator(public_key=bytes([i]) * 32, power=10, name=str(i)) for i in range(3)]  # T = 30
    base = make_validator_set(ED25519, vals)
    pending = ValidatorSetEntry(effective_height=4, previous=1, validators=base, orgs=["o"] * 3)
    ten = AddValidator(public_key=b"\x09" * 32, power=10, name="ten", org="o")
    assert total_power(apply_validator_change(ED25519, base, pending, ten, frozenset({"o"})).validators) == 40
    eleven = AddValidator(public_key=b"\x09" * 32, power=11, name="eleven", org="o")
    with pytest.raises(TxFailure, match="step changes 11 of 30 power; at most 10"):
        apply_validator_change(ED25519, base, pending, eleven, frozenset({"o"}))


def test_change_weight_sums_absolute_differences_over_both_sets() -> None:
    suite = ED25519
    a, b, c = (Validator(public_key=bytes([i]) * 32, power=p, name=str(i)) for i, p in ((1, 5), (2, 9), (3, 4)))
    base = make_validator_set(suite, [a, b])
    new = make_validator_set(suite, [msgspec.structs.replace(b, power=3), c])
    assert change_weight(suite, base, new) == 5 + 6 + 4
    assert total_power(base) == 14


# -- versions and the pending set ----------------------------------------------------------------------------


def test_approving_after_another_validator_change_applied_is_refused(gov: Gov) -> None:
    first = gov.next_id()
    gov.block(gov.propose(_new("a", 3)[1]), gov.propose(_new("b", 3)[1]))
    assert gov.block(gov.approve(first)) == [(0, "")]
    [(code, message)] = gov.block(gov.approve(first + 1))
    assert code == ResultCode.INVALID_CHANGE
    assert message == f"proposal {first + 1} was made for validators version 0; it is now 1: propose it again"


def test_validator_and_membership_versions_are_independent(gov: Gov) -> None:
    first = gov.next_id()
    gov.block(gov.propose(_new("a", 3)[1]), gov.propose(SetThreshold(threshold=1)))
    assert gov.block(gov.approve(first + 1)) == [(0, "")]  # membership version 0 -> 1
    assert gov.block(gov.approve(first)) == [(0, "")]  # the validator proposal still applies
    assert read_meta(gov.chain).version == 1


def test_a_proposal_is_checked_against_the_pending_set(gov: Gov) -> None:
    joiner, add = _new("joiner", 5)
    gov.decide(add, RemoveValidator(address=gov.v[3].address))
    # Neither change is in force at the next height, but both are pending.
    assert joiner.address not in _powers(sets_for_block(gov.chain, gov.height + 1)[0])
    [(code, message)] = gov.block(gov.propose(add))
    assert code == ResultCode.INVALID_CHANGE and "already in the pending set" in message
    [(code, message)] = gov.block(gov.propose(SetValidatorPower(address=gov.v[3].address, power=2)))
    assert code == ResultCode.INVALID_CHANGE and "not in the pending set" in message
    assert gov.block(gov.propose(SetValidatorPower(address=joiner.address, power=2))) == [(0, "")]


def test_pending_entry_is_a_redated_copy_until_the_block_changes_the_set(gov: Gov) -> None:
    h = gov.height
    pending = pending_entry(gov.chain, h)
    assert (pending.effective_height, pending.previous) == (h + 2, 1)
    assert pending.validators == gov.chain.params.validators


def test_is_validator_change() -> None:
    assert is_validator_change(RemoveValidator(address=b"\x00" * 20))
    assert not is_validator_change(RemoveOrg(name="org1"))


# -- remove_org ----------------------------------------------------------------------------------------------


def test_remove_org_of_an_org_owning_a_pending_validator_is_refused(gov: Gov) -> None:
    [(code, message)] = gov.block(gov.propose(RemoveOrg(name="org2")))
    assert code == ResultCode.INVALID_CHANGE and "owns a validator of the pending set" in message
    assert gov.block(gov.propose(RemoveOrg(name="org3"))) == [(0, "")]


def test_remove_org_is_refused_at_approval_once_the_org_owns_a_pending_validator(gov: Gov) -> None:
    pid = gov.next_id()
    assert gov.block(gov.propose(RemoveOrg(name="org3"))) == [(0, "")]
    # The same block adds org3's validator (pending, not yet in set(H+1)) and then approves the removal.
    add = _new("org3-node", 2, "org3")[1]
    codes = gov.block(gov.propose(add), gov.approve(pid + 1), gov.approve(pid))
    assert codes[:2] == [(0, "")] * 2
    assert codes[2][0] == ResultCode.INVALID_CHANGE and "owns a validator of the pending set" in codes[2][1]


# -- evidence at the set of its height -----------------------------------------------------------------------


def _double_vote(key: Key, height: int) -> SubmitEvidence:
    def signed(block_hash: bytes) -> SignedVote:
        vote = Vote(chain_id="unit-test-chain", kind=PREVOTE, height=height, round=0, block_hash=block_hash)
        return SignedVote(
            vote=vote, validator=key.address, signature=ed25519_sign(key.secret, vote_signing_bytes(vote))
        )

    return SubmitEvidence(evidence=DuplicateVoteEvidence(a=signed(b"\x01" * 32), b=signed(b"\x02" * 32)))


def test_evidence_is_checked_against_the_set_in_force_at_its_height(gov: Gov) -> None:
    leaver = gov.v[3]
    joiner, add = _new("joiner", 5)
    gov.decide(RemoveValidator(address=leaver.address), add)
    effective = gov.height + 2
    gov.block()
    gov.block()
    assert gov.height == effective
    reporter = make_key("reporter")
    # The leaver was a validator at effective - 1, no longer at effective; the joiner is one from effective.
    assert gov.block(gov.tx(reporter, _double_vote(leaver, effective - 1))) == [(0, "")]
    assert gov.block(gov.tx(reporter, _double_vote(joiner, effective))) == [(0, "")]
    [(code, message)] = gov.block(gov.tx(reporter, _double_vote(leaver, effective)))
    assert code == ResultCode.INVALID_EVIDENCE and "not a validator" in message
    [(code, message)] = gov.block(gov.tx(reporter, _double_vote(joiner, effective - 1)))
    assert code == ResultCode.INVALID_EVIDENCE and "not a validator" in message


def test_evidence_for_a_height_above_the_block_is_refused(gov: Gov) -> None:
    reporter = make_key("reporter")
    [(code, message)] = gov.block(gov.tx(reporter, _double_vote(gov.v[0], gov.height + 2)))
    assert code == ResultCode.INVALID_EVIDENCE and "is not between 1 and this block's" in message
    [(code, message)] = gov.block(gov.tx(reporter, _double_vote(gov.v[0], 0)))
    assert code == ResultCode.INVALID_EVIDENCE and "is not between 1" in message


def test_encoded_changes_round_trip_inside_a_proposal() -> None:
    change = SetValidatorPower(address=b"\x07" * 20, power=9)
    raw = encode(ProposeMembership(change=change))
    assert msgspec.msgpack.decode(raw) == ["membership.propose", ["validators.set_power", b"\x07" * 20, 9]]
    assert decode(raw, ProposeMembership).change == change


def test_the_only_validator_cannot_be_removed_even_when_proposed() -> None:
    only = Validator(public_key=b"\x05" * 32, power=3, name="only")
    base = make_validator_set(ED25519, [only])
    pending = ValidatorSetEntry(effective_height=4, previous=1, validators=base, orgs=["o"])
    remove = RemoveValidator(address=address_of(ED25519, only.public_key))
    with pytest.raises(TxFailure, match="cannot be empty"):
        edit_entry(ED25519, pending, remove, frozenset({"o"}))


def test_an_interchain_proposal_goes_stale_once_another_interchain_change_applies(gov: Gov) -> None:
    """Interchain changes have their own version (interchain/governance_version): a trust proposal one approval
    short cannot be completed after governance applied another interchain change (say, untrusting that chain),
    while membership and validator proposals are unaffected."""
    first = gov.next_id()
    trust_x = TrustChain(chain_id="chain-x", genesis_hash=b"\x01" * 32)
    trust_y = TrustChain(chain_id="chain-y", genesis_hash=b"\x02" * 32)
    assert gov.block(gov.propose(trust_x), gov.propose(trust_y)) == [(0, "")] * 2
    assert gov.block(gov.approve(first + 1)) == [(0, "")]  # chain-y trusted: interchain version 0 -> 1
    [(code, message)] = gov.block(gov.approve(first))
    assert code == ResultCode.INVALID_CHANGE
    assert message == f"proposal {first} was made for interchain version 0; it is now 1: propose it again"
    assert read_trusted(gov.chain, "chain-x") is None and read_trusted(gov.chain, "chain-y") is not None
