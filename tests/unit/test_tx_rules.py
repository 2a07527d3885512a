"""The rules a transaction must pass (``trellis.core.execution.rules``), and the three places that apply them.

``TxRules.check`` is asked directly for each rule at each stage where it applies (exact codes and texts, the
order of the rules, the membership exemptions); then the same transactions go through the three real callers —
admission (``TrellisApp.check_tx`` / ``check_txs``), the proposer (``TrellisApp.prepare_proposal``) and
execution (``apply_block``) — which must agree: refused at admission where the rule applies there, skipped by
the proposer, and a block holding it invalid with the refusal's code and text.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from trellis.abci import CheckedTx
from trellis.app.application import TrellisApp
from trellis.core.codec import encode
from trellis.core.crypto.suite import ED25519, address_of
from trellis.core.errors import InvalidBlock, InvalidTransaction
from trellis.core.execution.fast_path import apply_block
from trellis.core.execution.reference import BlockEnv
from trellis.core.execution.rules import Refusal, Rule, Stage, TxRules
from trellis.core.ledger.tx import SignedTx, TxBody, sign_tx, tx_hash
from trellis.core.ledger.votes import DuplicateVoteEvidence, SignedVote, Vote
from trellis.core.modules.accounts.messages import Transfer
from trellis.core.modules.contracts.messages import ContractCall
from trellis.core.modules.evidence.messages import SubmitEvidence
from trellis.core.modules.membership.messages import ProposeMembership, RegisterCert
from trellis.core.modules.membership.view import MembershipRefusal
from trellis.core.modules.payload import Payload
from trellis.core.modules.validators.messages import AddValidator
from trellis.core.params import (
    ChainParams,
    Genesis,
    GenesisAccount,
    GenesisContracts,
    GenesisMembership,
    GenesisOrg,
    GenesisValidator,
    params_from_genesis,
)
from trellis.keys.certs import create_org_ca, issue_identity_cert
from trellis.keys.signer import MemorySigner
from trellis.node.privval import solo_commit
from trellis.storage.chain_store import ChainStore
from trellis.storage.kv import MemoryStore

CHAIN = "rules-test"
GENESIS_TIME_MS = 1_700_000_000_000
MAX_BLOCK_GAS = 1_000_000
G0 = datetime.fromtimestamp(GENESIS_TIME_MS // 1000, UTC)
STAGES = (Stage.ADMISSION, Stage.PROPOSAL, Stage.EXECUTION)
IN_BLOCK = (Stage.PROPOSAL, Stage.EXECUTION)


def _signer(name: str) -> MemorySigner:
    return MemorySigner(name.encode().ljust(32, b"."))


def addr(signer: MemorySigner) -> bytes:
    return address_of(ED25519, signer.public_key)


VALIDATOR = _signer("validator")
ALICE = _signer("alice")  # admin
BOB = _signer("bob")  # client
CAROL = _signer("carol")  # no certificate
SINK = b"\x5a" * 20


def _params(ca_pem: bytes, *, enforce: bool = True) -> ChainParams:
    return params_from_genesis(
        Genesis(
            chain_id=CHAIN,
            genesis_time_ms=GENESIS_TIME_MS,
            validators=[GenesisValidator(name="v0", public_key=VALIDATOR.public_key.hex(), power=1)],
            mint_authority=addr(ALICE).hex(),
            accounts=[GenesisAccount(address=addr(s).hex(), balance=10**9) for s in (ALICE, BOB, CAROL)],
            contracts=GenesisContracts(max_block_gas=MAX_BLOCK_GAS),
            orgs=[GenesisOrg(name="acme", ca_cert=ca_pem.decode())],
            membership=GenesisMembership(enforce=enforce),
        )
    )


def _cert(ca: tuple[bytes, bytes], signer: MemorySigner, role: str) -> bytes:
    pem = issue_identity_cert(
        ca[0],
        ca[1],
        org="acme",
        role=role,
        public_key=signer.public_key,
        name=role,
        not_before=G0 - timedelta(minutes=1),
        not_after=G0 + timedelta(days=1),
    )
    return x509.load_pem_x509_certificate(pem).public_bytes(serialization.Encoding.DER)


def tx(signer: MemorySigner, nonce: int, payload: Payload, *, chain_id: str = CHAIN) -> SignedTx:
    return sign_tx(TxBody(chain_id=chain_id, sender=signer.public_key, nonce=nonce, payload=payload), signer.sign)


def pay(signer: MemorySigner, nonce: int = 0, **kw: str) -> SignedTx:
    return tx(signer, nonce, Transfer(to=SINK, amount=1), **kw)


def call(gas_limit: int) -> ContractCall:
    return ContractCall(contract=b"\xc0" * 20, method="run", args=b"", gas_limit=gas_limit)


def evidence() -> SubmitEvidence:
    """Evidence that decodes (its contents are the handler's business, not the rules')."""
    vote = Vote(chain_id=CHAIN, kind=1, height=1, round=0, block_hash=b"\x00" * 32)
    sv = SignedVote(vote=vote, validator=b"\x01" * 20, signature=b"\x02" * 64)
    return SubmitEvidence(evidence=DuplicateVoteEvidence(a=sv, b=sv))


def add_validator() -> ProposeMembership:
    """A validator-set change (ADR 0014): admins only."""
    return ProposeMembership(
        change=AddValidator(public_key=_signer("validator-2").public_key, power=1, name="v2", org="acme")
    )


@dataclass
class World:
    """A permissioned chain at height 1: alice (admin) and bob (client) hold certificates, carol none."""

    app: TrellisApp
    time_ms: int
    """The next block's time."""

    @property
    def params(self) -> ChainParams:
        return self.app.params

    def rules(self, time_ms: int | None = None) -> TxRules:
        return TxRules(
            self.params, self.app.store, self.time_ms if time_ms is None else time_ms, frozenset({addr(VALIDATOR)})
        )

    def admit(self, t: SignedTx) -> InvalidTransaction | None:
        """Admission of ``t`` alone (``check_tx``), checked against the batch path (``check_txs``)."""
        raw = encode(t)
        [batch] = self.app.check_txs([raw])
        try:
            self.app.check_tx(raw)
        except InvalidTransaction as exc:
            assert isinstance(batch, InvalidTransaction) and (batch.code, batch.reason) == (exc.code, exc.reason)
            return exc
        assert isinstance(batch, CheckedTx)
        return None

    def propose(self, txs: list[SignedTx]) -> list[SignedTx]:
        """What the proposer puts into the next block from ``txs`` (taken as admitted, in order)."""
        candidates = []
        for t in txs:
            raw = encode(t)
            candidates.append(CheckedTx(tx=t, raw=raw, hash=tx_hash(ED25519, raw), sender=addr_of(t)))
        return list(self.app.prepare_proposal(candidates, self.time_ms, addr(VALIDATOR)).block.txs)

    def execute(self, txs: list[SignedTx]) -> InvalidBlock | None:
        """Execute ``txs`` as the next block; the error that makes it invalid, or None."""
        env = BlockEnv(params=self.params, height=self.app.info().height + 1, time_ms=self.time_ms)
        try:
            apply_block(self.app.store, txs, [encode(t) for t in txs], env)
        except InvalidBlock as exc:
            return exc
        return None


def addr_of(t: SignedTx) -> bytes:
    return address_of(ED25519, t.body.sender)


@pytest.fixture(scope="module")
def ca() -> tuple[bytes, bytes]:
    return create_org_ca("acme", now=G0)


@pytest.fixture(scope="module")
def world(ca: tuple[bytes, bytes]) -> World:
    params = _params(ca[1])
    app = TrellisApp(params, ChainStore(MemoryStore()))
    regs = [
        tx(ALICE, 0, RegisterCert(cert=_cert(ca, ALICE, "admin"))),
        tx(BOB, 0, RegisterCert(cert=_cert(ca, BOB, "client"))),
    ]
    executed = app.prepare_proposal([app.check_tx(encode(t)) for t in regs], GENESIS_TIME_MS + 1000, addr(VALIDATOR))
    assert [r.code for r in executed.output.receipts] == [0, 0]
    app.commit(executed, solo_commit(params.suite, CHAIN, VALIDATOR, executed))
    return World(app=app, time_ms=GENESIS_TIME_MS + 2000)


def check(world: World, stage: Stage, t: SignedTx, *, nonce: int | None = 0, block_gas: int = 0) -> Refusal | None:
    """``TxRules.check`` as ``stage`` calls it (admission passes no nonce)."""
    expected = None if stage is Stage.ADMISSION else nonce
    return world.rules().check(stage, t.body, addr_of(t), expected_nonce=expected, block_gas=block_gas)


# --- each rule, at each stage where it applies -----------------------------------------------------------------


@pytest.mark.parametrize("stage", STAGES)
def test_a_transaction_of_another_chain_is_refused_at_every_stage(world: World, stage: Stage) -> None:
    shown = "'other', this is 'rules-test'" if stage is not Stage.EXECUTION else "'other'"
    assert check(world, stage, pay(BOB, chain_id="other")) == Refusal(
        Rule.CHAIN_ID, "wrong_chain_id", f"is for chain {shown}"
    )


@pytest.mark.parametrize("stage", STAGES)
def test_a_sender_without_a_certificate_is_refused_at_every_stage(world: World, stage: Stage) -> None:
    assert check(world, stage, pay(CAROL)) == Refusal(
        Rule.MEMBERSHIP, "unknown_certificate", f"no certificate is registered for {addr(CAROL).hex()}"
    )


@pytest.mark.parametrize("stage", STAGES)
def test_a_client_proposing_a_validator_change_is_refused_at_every_stage(world: World, stage: Stage) -> None:
    assert check(world, stage, tx(BOB, 0, add_validator())) == Refusal(
        Rule.MEMBERSHIP, "role_not_permitted", "role client may not send ProposeMembership"
    )


@pytest.mark.parametrize("stage", STAGES)
def test_an_admin_proposing_a_validator_change_passes_every_stage(world: World, stage: Stage) -> None:
    assert check(world, stage, tx(ALICE, 0, add_validator())) is None


@pytest.mark.parametrize("stage", STAGES)
def test_an_expired_certificate_is_refused_at_the_time_judged(world: World, stage: Stage) -> None:
    late = world.rules(GENESIS_TIME_MS + 2 * 86_400_000)
    expected = None if stage is Stage.ADMISSION else 0
    refusal = late.check(stage, pay(BOB).body, addr(BOB), expected_nonce=expected, block_gas=0)
    assert refusal is not None and (refusal.rule, refusal.code) == (Rule.MEMBERSHIP, "certificate_expired")


@pytest.mark.parametrize("stage", STAGES)
def test_registering_a_certificate_needs_none(world: World, stage: Stage) -> None:
    assert check(world, stage, tx(CAROL, 0, RegisterCert(cert=b"\x30\x00"))) is None


@pytest.mark.parametrize("stage", STAGES)
def test_a_validator_reports_evidence_without_a_certificate(world: World, stage: Stage) -> None:
    assert check(world, stage, tx(VALIDATOR, 0, evidence())) is None


@pytest.mark.parametrize("stage", STAGES)
def test_a_non_validator_needs_a_certificate_to_report_evidence(world: World, stage: Stage) -> None:
    refusal = check(world, stage, tx(CAROL, 0, evidence()))
    assert refusal is not None and (refusal.rule, refusal.code) == (Rule.MEMBERSHIP, "unknown_certificate")


@pytest.mark.parametrize("stage", STAGES)
def test_without_enforcement_no_certificate_is_needed(world: World, ca: tuple[bytes, bytes], stage: Stage) -> None:
    rules = TxRules(_params(ca[1], enforce=False), world.app.store, world.time_ms, frozenset())
    expected = None if stage is Stage.ADMISSION else 0
    assert rules.check(stage, pay(CAROL).body, addr(CAROL), expected_nonce=expected, block_gas=0) is None


@pytest.mark.parametrize("stage", IN_BLOCK)
@pytest.mark.parametrize(("nonce", "expected"), [(1, 0), (0, 1), (7, 3)])
def test_a_nonce_other_than_the_next_is_refused_in_a_block(
    world: World, stage: Stage, nonce: int, expected: int
) -> None:
    assert check(world, stage, pay(BOB, nonce), nonce=expected) == Refusal(
        Rule.NONCE, "bad_nonce", f"has nonce {nonce}; the sender's next nonce is {expected}"
    )


@pytest.mark.parametrize("stage", IN_BLOCK)
def test_the_next_nonce_passes_in_a_block(world: World, stage: Stage) -> None:
    assert check(world, stage, pay(BOB, 4), nonce=4) is None


def test_admission_does_not_judge_the_nonce(world: World) -> None:
    assert check(world, Stage.ADMISSION, pay(BOB, 9)) is None


@pytest.mark.parametrize("stage", IN_BLOCK)
def test_gas_beyond_the_block_limit_is_refused_in_a_block(world: World, stage: Stage) -> None:
    refusal = Refusal(Rule.GAS, "too_much_gas", f"the block's transactions declare more than {MAX_BLOCK_GAS} gas")
    assert check(world, stage, tx(BOB, 0, call(MAX_BLOCK_GAS + 1))) == refusal
    assert check(world, stage, tx(BOB, 0, call(600_000)), block_gas=400_001) == refusal


@pytest.mark.parametrize("stage", IN_BLOCK)
def test_gas_up_to_the_block_limit_passes(world: World, stage: Stage) -> None:
    assert check(world, stage, tx(BOB, 0, call(600_000)), block_gas=400_000) is None
    assert check(world, stage, pay(BOB), block_gas=MAX_BLOCK_GAS) is None  # declares none


def test_admission_does_not_judge_gas(world: World) -> None:
    assert check(world, Stage.ADMISSION, tx(BOB, 0, call(MAX_BLOCK_GAS + 1)), block_gas=MAX_BLOCK_GAS) is None


# --- the order of the rules: execution's ------------------------------------------------------------------------


@pytest.mark.parametrize("stage", IN_BLOCK)
def test_the_rules_are_checked_in_order(world: World, stage: Stage) -> None:
    def rule(t: SignedTx) -> Rule | None:
        refusal = check(world, stage, t)
        return None if refusal is None else refusal.rule

    too_much = call(MAX_BLOCK_GAS + 1)
    assert rule(tx(CAROL, 5, too_much, chain_id="other")) is Rule.CHAIN_ID
    assert rule(tx(CAROL, 5, too_much)) is Rule.MEMBERSHIP
    assert rule(tx(BOB, 5, too_much)) is Rule.NONCE
    assert rule(tx(BOB, 0, too_much)) is Rule.GAS


# --- what each caller makes of a refusal -----------------------------------------------------------------------


def test_a_refusal_at_admission_reads_as_the_stateless_check_does() -> None:
    chain = Refusal(Rule.CHAIN_ID, "wrong_chain_id", "is for chain 'other', this is 'rules-test'")
    exc = chain.invalid_transaction()
    assert (exc.code, exc.reason) == ("wrong_chain_id", "transaction is for chain 'other', this is 'rules-test'")
    member = Refusal(Rule.MEMBERSHIP, "unknown_certificate", "no certificate is registered for 00")
    exc = member.invalid_transaction()
    assert (exc.code, exc.reason) == ("unknown_certificate", "no certificate is registered for 00")


def test_a_refusal_in_a_block_names_the_transaction() -> None:
    h = b"\xab" * 32
    nonce = Refusal(Rule.NONCE, "bad_nonce", "has nonce 1; the sender's next nonce is 0").invalid_block(3, h)
    assert type(nonce) is InvalidBlock
    assert (nonce.code, nonce.reason) == ("bad_nonce", "transaction 3 has nonce 1; the sender's next nonce is 0")
    chain = Refusal(Rule.CHAIN_ID, "wrong_chain_id", "is for chain 'other'").invalid_block(0, h)
    assert (chain.code, chain.reason) == ("wrong_chain_id", "transaction 0 is for chain 'other'")
    gas = Refusal(Rule.GAS, "too_much_gas", "the block's transactions declare more than 5 gas").invalid_block(2, h)
    assert (gas.code, gas.reason) == ("too_much_gas", "the block's transactions declare more than 5 gas")
    member = Refusal(Rule.MEMBERSHIP, "unknown_certificate", "none").invalid_block(1, h)
    assert isinstance(member, MembershipRefusal)
    assert (member.code, member.reason, member.tx_index, member.tx_hash) == (
        "unknown_certificate",
        f"transaction 1 ({h.hex()}): none",
        1,
        h,
    )


# --- the three callers agree ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """A transaction breaking ``rule`` (alice and bob are at nonce 1 after registering, carol at 0)."""

    tx: SignedTx
    rule: Rule
    admission_refuses: bool


CASES = {
    "chain_id": Case(pay(BOB, 1, chain_id="other"), Rule.CHAIN_ID, True),
    "no_certificate": Case(pay(CAROL), Rule.MEMBERSHIP, True),
    "role": Case(tx(BOB, 1, add_validator()), Rule.MEMBERSHIP, True),
    "non_validator_evidence": Case(tx(CAROL, 0, evidence()), Rule.MEMBERSHIP, True),
    "nonce": Case(pay(BOB, 2), Rule.NONCE, False),
    "gas": Case(tx(BOB, 1, call(MAX_BLOCK_GAS + 1)), Rule.GAS, False),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_admission_the_proposer_and_execution_agree(world: World, name: str) -> None:
    case = CASES[name]
    t = case.tx
    sender = addr_of(t)
    expected = world.app.account_nonce(sender)
    at_admission = world.rules(world.app.info().time_ms).check(
        Stage.ADMISSION, t.body, sender, expected_nonce=None, block_gas=0
    )
    in_block = world.rules().check(Stage.EXECUTION, t.body, sender, expected_nonce=expected, block_gas=0)
    assert in_block is not None and in_block.rule is case.rule

    refused = world.admit(t)
    if case.admission_refuses:
        assert at_admission is not None and refused is not None
        want = at_admission.invalid_transaction()
        assert (refused.code, refused.reason) == (want.code, want.reason)
    else:
        assert at_admission is None and refused is None

    good = pay(ALICE, world.app.account_nonce(addr(ALICE)))
    assert world.propose([t, good]) == [good]  # skipped; the rest of the block goes on

    err = world.execute([t])
    want_block = in_block.invalid_block(0, tx_hash(ED25519, encode(t)))
    assert err is not None and type(err) is type(want_block)
    assert (err.code, err.reason) == (want_block.code, want_block.reason)


@pytest.mark.parametrize("name", ["validator_evidence", "admin_validator_change", "register_cert"])
def test_the_exemptions_hold_for_all_three_callers(world: World, ca: tuple[bytes, bytes], name: str) -> None:
    t = {
        "validator_evidence": lambda: tx(VALIDATOR, 0, evidence()),
        "admin_validator_change": lambda: tx(ALICE, 1, add_validator()),
        "register_cert": lambda: tx(CAROL, 0, RegisterCert(cert=_cert(ca, CAROL, "client"))),
    }[name]()
    assert world.admit(t) is None
    assert world.propose([t]) == [t]
    assert world.execute([t]) is None
