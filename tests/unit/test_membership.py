"""The membership module: identity certificates judged at block time, revocation, governance by admin threshold."""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from trellis.core.codec import decode, encode
from trellis.core.crypto.suite import ED25519, address_of
from trellis.core.execution.block import check_block
from trellis.core.execution.fast_path import apply_block
from trellis.core.execution.reference import BlockEnv
from trellis.core.execution.results import ResultCode
from trellis.core.ledger.tx import SignedTx
from trellis.core.ledger.votes import DuplicateVoteEvidence, SignedVote, Vote
from trellis.core.modules.accounts.messages import Transfer
from trellis.core.modules.evidence.messages import SubmitEvidence
from trellis.core.modules.kv.messages import KvPut
from trellis.core.modules.membership.messages import (
    AddCa,
    ApproveMembership,
    ProposeMembership,
    RegisterCert,
    RemoveCa,
    RevokeCert,
    SetThreshold,
)
from trellis.core.modules.membership.state import MEMBERSHIP_KEY, CertRecord, MembershipConfig, cert_key
from trellis.core.modules.membership.view import MembershipRefusal, ca_fingerprint
from trellis.core.params import Genesis, GenesisMembership, GenesisOrg, params_from_genesis
from trellis.keys.certs import create_org_ca, issue_identity_cert

# The unit tests' chain-in-dicts helpers, loaded by path (see test_suite_sm_chain.py for why).
_spec = importlib.util.spec_from_file_location("_unit_conftest_for_membership", Path(__file__).with_name("conftest.py"))
assert _spec is not None and _spec.loader is not None
_unit = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = _unit
_spec.loader.exec_module(_unit)
GENESIS_TIME_MS = _unit.GENESIS_TIME_MS
Actors = _unit.Actors
Key = _unit.Key
MemoryChain = _unit.MemoryChain
TxFactory = _unit.TxFactory
make_genesis = _unit.make_genesis
make_key = _unit.make_key
start_chain = _unit.start_chain

G0 = datetime.fromtimestamp(GENESIS_TIME_MS // 1000, UTC)


@dataclass(frozen=True)
class Ca:
    org: str
    key: bytes
    cert: bytes

    @property
    def der(self) -> bytes:
        return x509.load_pem_x509_certificate(self.cert).public_bytes(serialization.Encoding.DER)

    def issue(self, holder: Key, role: str, start_s: int = -60, end_s: int = 86_400) -> bytes:
        """A DER identity certificate for ``holder``, valid from genesis+start_s to genesis+end_s."""
        pem = issue_identity_cert(
            self.key,
            self.cert,
            org=self.org,
            role=role,
            public_key=holder.public,
            name=holder.name,
            not_before=G0 + timedelta(seconds=start_s),
            not_after=G0 + timedelta(seconds=end_s),
        )
        return x509.load_pem_x509_certificate(pem).public_bytes(serialization.Encoding.DER)


def _ca(org: str) -> Ca:
    key, cert = create_org_ca(org, now=G0)
    return Ca(org=org, key=key, cert=cert)


@pytest.fixture(scope="module")
def cas() -> dict[str, Ca]:
    return {"org1": _ca("org1"), "org2": _ca("org2"), "org1-next": _ca("org1"), "org3": _ca("org3")}


@dataclass(frozen=True)
class People:
    admin1: Key
    admin2: Key
    alice: Key
    bob: Key


@pytest.fixture(scope="module")
def people() -> People:
    return People(admin1=make_key("admin1"), admin2=make_key("admin2"), alice=make_key("alice"), bob=make_key("bob"))


def _chain(actors: Actors, cas: dict[str, Ca], people: People, *, enforce: bool = True) -> MemoryChain:
    base = make_genesis(actors, accounts=[(people.alice.address, 1000), (people.bob.address, 1000)])
    genesis = Genesis(
        chain_id=base.chain_id,
        genesis_time_ms=base.genesis_time_ms,
        validators=base.validators,
        mint_authority=base.mint_authority,
        accounts=base.accounts,
        orgs=[GenesisOrg(name=o, ca_cert=cas[o].cert.decode()) for o in ("org1", "org2")],
        membership=GenesisMembership(enforce=enforce, admin_threshold=2),
    )
    return start_chain(params_from_genesis(genesis))


class Harness:
    """A membership chain with nonces tracked per key."""

    def __init__(self, chain: MemoryChain, make_tx: TxFactory) -> None:
        self.chain = chain
        self.make_tx = make_tx
        self.nonces: dict[bytes, int] = {}

    def tx(self, key: Key, payload: object):
        n = self.nonces.get(key.address, 0)
        self.nonces[key.address] = n + 1
        return self.make_tx(key, n, payload)

    def block(self, *txs) -> list[tuple[int, str]]:
        """Commit a block of ``txs``; return each receipt's (code, message)."""
        executed = self.chain.execute_and_commit(list(txs))
        return [(r.code, r.message) for r in executed.output.receipts]

    def refused(self, *txs, time_ms: int | None = None) -> MembershipRefusal:
        """Execute ``txs`` as the next block (at ``time_ms``) and return the membership refusal it raises."""
        t = self.chain.tip.time_ms + 1000 if time_ms is None else time_ms
        env = BlockEnv(params=self.chain.params, height=self.chain.tip.height + 1, time_ms=t)
        with pytest.raises(MembershipRefusal) as info:
            apply_block(self.chain, list(txs), [encode(t) for t in txs], env)
        for tx in txs:  # the block never happened
            self.nonces[_address(tx)] -= 1
        return info.value

    def config(self) -> MembershipConfig:
        return decode(self.chain.state[MEMBERSHIP_KEY], MembershipConfig)


def _address(tx: SignedTx) -> bytes:
    return address_of(ED25519, tx.body.sender)


@pytest.fixture
def h(actors: Actors, cas: dict[str, Ca], people: People, make_tx: TxFactory) -> Harness:
    """A permissioned chain where admin1 (org1), admin2 (org2) and alice (client, org1) are registered."""
    hh = Harness(_chain(actors, cas, people), make_tx)
    codes = hh.block(
        hh.tx(people.admin1, RegisterCert(cert=cas["org1"].issue(people.admin1, "admin"))),
        hh.tx(people.admin2, RegisterCert(cert=cas["org2"].issue(people.admin2, "admin"))),
        hh.tx(people.alice, RegisterCert(cert=cas["org1"].issue(people.alice, "client"))),
    )
    assert codes == [(0, "")] * 3
    return hh


def _pay(h: Harness, key: Key, amount: int = 1):
    return h.tx(key, Transfer(to=make_key("sink").address, amount=amount))


def test_genesis_writes_the_membership_of_the_genesis_orgs(h: Harness, cas: dict[str, Ca]) -> None:
    cfg = h.config()
    assert [o.name for o in cfg.orgs] == ["org1", "org2"]
    assert cfg.orgs[0].ca_certs == [cas["org1"].der]
    assert (cfg.version, cfg.threshold) == (0, 2)


def test_a_registered_client_sends_transactions(h: Harness, people: People) -> None:
    assert h.block(_pay(h, people.alice)) == [(0, "")]


def test_a_sender_without_certificate_is_refused_with_unknown_certificate(h: Harness, people: People) -> None:
    err = h.refused(_pay(h, people.bob))
    assert (err.code, err.tx_index) == ("unknown_certificate", 0)


def test_check_block_refuses_a_block_with_a_refused_sender(h: Harness, people: People) -> None:
    # A proposer that ignores the rule: build the block on a twin chain without enforcement, same state.
    lax = _chain_like(h, enforce=False)
    block = lax.build([_pay(h, people.bob)]).block
    c = h.chain
    with pytest.raises(MembershipRefusal) as info:
        check_block(c.params, c, c, c.tip, block, [encode(t) for t in block.txs])
    assert info.value.code == "unknown_certificate"
    assert info.value.tx_hash.hex() in info.value.reason


def _chain_like(h: Harness, *, enforce: bool) -> MemoryChain:
    g = h.chain.params.genesis
    genesis = Genesis(
        chain_id=g.chain_id,
        genesis_time_ms=g.genesis_time_ms,
        validators=g.validators,
        mint_authority=g.mint_authority,
        accounts=g.accounts,
        orgs=g.orgs,
        membership=GenesisMembership(enforce=enforce, admin_threshold=g.membership.admin_threshold),
    )
    twin = MemoryChain(params=params_from_genesis(genesis), tip=h.chain.tip, state=dict(h.chain.state))
    twin.nodes = dict(h.chain.nodes)
    return twin


def test_a_revoked_certificate_is_refused_from_the_next_block_on(h: Harness, people: People) -> None:
    serial = decode(h.chain.state[cert_key(people.alice.address)], CertRecord).certs[0].serial
    # Same block: the revocation takes effect only after it, so alice's transfer still goes through.
    assert h.block(h.tx(people.admin1, RevokeCert(serial=serial)), _pay(h, people.alice)) == [(0, "")] * 2
    err = h.refused(_pay(h, people.alice))
    assert err.code == "certificate_revoked"


def test_an_admin_cannot_revoke_another_orgs_certificate(h: Harness, people: People) -> None:
    serial = decode(h.chain.state[cert_key(people.alice.address)], CertRecord).certs[0].serial
    assert h.block(h.tx(people.admin2, RevokeCert(serial=serial))) == [(0, "")]  # revokes org2's serial, not org1's
    assert h.block(_pay(h, people.alice)) == [(0, "")]


def test_an_expired_certificate_is_refused_at_block_time(h: Harness, people: People, cas: dict[str, Ca]) -> None:
    bob = people.bob
    assert h.block(h.tx(bob, RegisterCert(cert=cas["org2"].issue(bob, "client", end_s=3600)))) == [(0, "")]
    assert h.block(_pay(h, bob)) == [(0, "")]
    err = h.refused(_pay(h, bob), time_ms=GENESIS_TIME_MS + 3601 * 1000)
    assert err.code == "certificate_expired"


def test_a_certificate_not_yet_valid_cannot_be_registered(h: Harness, people: People, cas: dict[str, Ca]) -> None:
    bob = people.bob
    [(code, message)] = h.block(h.tx(bob, RegisterCert(cert=cas["org2"].issue(bob, "client", start_s=3600))))
    assert code == ResultCode.INVALID_CERTIFICATE
    assert message.startswith("certificate_not_yet_valid")


def test_rolling_to_a_new_certificate_keeps_transactions_flowing(
    h: Harness, people: People, cas: dict[str, Ca]
) -> None:
    bob = people.bob
    old = cas["org2"].issue(bob, "client", end_s=3600)
    new = cas["org2"].issue(bob, "client", start_s=0, end_s=86_400)
    assert h.block(h.tx(bob, RegisterCert(cert=old))) == [(0, "")]
    assert h.block(h.tx(bob, RegisterCert(cert=new)), _pay(h, bob)) == [(0, "")] * 2
    assert len(decode(h.chain.state[cert_key(bob.address)], CertRecord).certs) == 2
    # After the old one expired the new one carries on.
    later = GENESIS_TIME_MS + 7200 * 1000
    env = BlockEnv(params=h.chain.params, height=h.chain.tip.height + 1, time_ms=later)
    tx = _pay(h, bob)
    out = apply_block(h.chain, [tx], [encode(tx)], env)
    assert out.receipts[0].code == 0


def test_a_third_certificate_replaces_the_one_ending_first(h: Harness, people: People, cas: dict[str, Ca]) -> None:
    bob = people.bob
    ends = [3600, 7200, 10_800]
    for end in ends:
        assert h.block(h.tx(bob, RegisterCert(cert=cas["org2"].issue(bob, "client", end_s=end)))) == [(0, "")]
    kept = decode(h.chain.state[cert_key(bob.address)], CertRecord).certs
    assert [c.not_after_ms for c in kept] == [GENESIS_TIME_MS + e * 1000 for e in ends[1:]]


def test_a_certificate_for_another_key_is_refused(h: Harness, people: People, cas: dict[str, Ca]) -> None:
    [(code, message)] = h.block(h.tx(people.bob, RegisterCert(cert=cas["org1"].issue(people.alice, "client"))))
    assert code == ResultCode.INVALID_CERTIFICATE and message.startswith("key_mismatch")


def test_a_certificate_of_an_unknown_ca_is_refused(h: Harness, people: People, cas: dict[str, Ca]) -> None:
    [(code, message)] = h.block(h.tx(people.bob, RegisterCert(cert=cas["org3"].issue(people.bob, "client"))))
    assert code == ResultCode.INVALID_CERTIFICATE and message.startswith("unknown_ca")


def test_a_proposal_below_threshold_changes_nothing(h: Harness, people: People, cas: dict[str, Ca]) -> None:
    before = h.config()
    assert h.block(h.tx(people.admin1, ProposeMembership(change=SetThreshold(threshold=1)))) == [(0, "")]
    assert h.config().orgs == before.orgs and h.config().threshold == 2 and h.config().version == 0


def test_a_ca_rollover_by_governance_accepts_the_new_cas_certificates(
    h: Harness, people: People, cas: dict[str, Ca]
) -> None:
    bob, nxt = people.bob, cas["org1-next"]
    assert h.block(h.tx(people.admin1, ProposeMembership(change=AddCa(org="org1", ca_cert=nxt.der)))) == [(0, "")]
    [(_, message)] = h.block(h.tx(bob, RegisterCert(cert=nxt.issue(bob, "client"))))
    assert message.startswith("unknown_ca")  # not yet: one approval of two
    assert h.block(h.tx(people.admin2, ApproveMembership(proposal_id=0))) == [(0, "")]
    cfg = h.config()
    assert cfg.version == 1 and cfg.orgs[0].ca_certs == [cas["org1"].der, nxt.der]
    assert h.block(h.tx(bob, RegisterCert(cert=nxt.issue(bob, "client")))) == [(0, "")]
    assert h.block(_pay(h, bob)) == [(0, "")]
    # Completing the rollover: the old CA goes, and the certificates it issued stop being valid.
    fp = ca_fingerprint(cas["org1"].der)
    assert h.block(h.tx(people.admin2, ProposeMembership(change=RemoveCa(org="org1", fingerprint=fp)))) == [(0, "")]
    assert h.block(h.tx(people.admin1, ApproveMembership(proposal_id=1))) == [(0, "")]
    assert h.refused(_pay(h, people.alice)).code == "unknown_ca"
    assert h.block(_pay(h, bob)) == [(0, "")]


def test_the_same_org_cannot_approve_twice(h: Harness, people: People) -> None:
    h.block(h.tx(people.admin1, ProposeMembership(change=SetThreshold(threshold=1))))
    [(code, _)] = h.block(h.tx(people.admin1, ApproveMembership(proposal_id=0)))
    assert code == ResultCode.DUPLICATE and h.config().threshold == 2


@pytest.mark.parametrize(
    "payload",
    [ProposeMembership(change=SetThreshold(threshold=1)), ApproveMembership(proposal_id=0), RevokeCert(serial=b"\x01")],
)
def test_a_client_cannot_propose_approve_or_revoke(h: Harness, people: People, payload: object) -> None:
    assert h.refused(h.tx(people.alice, payload)).code == "role_not_permitted"


def test_without_enforcement_a_client_governance_message_fails_as_unauthorized(
    actors: Actors, cas: dict[str, Ca], people: People, make_tx: TxFactory
) -> None:
    hh = Harness(_chain(actors, cas, people, enforce=False), make_tx)
    alice = people.alice
    hh.block(hh.tx(alice, RegisterCert(cert=cas["org1"].issue(alice, "client"))))
    [(code, message)] = hh.block(hh.tx(alice, ProposeMembership(change=SetThreshold(threshold=1))))
    assert code == ResultCode.UNAUTHORIZED and message.startswith("role_not_permitted")
    assert hh.block(_pay(hh, people.bob)) == [(0, "")]  # no certificate needed without enforcement


@pytest.mark.parametrize("role", ["regulator", "node"])
def test_regulators_and_nodes_may_not_write(h: Harness, people: People, cas: dict[str, Ca], role: str) -> None:
    bob = people.bob
    h.block(h.tx(bob, RegisterCert(cert=cas["org2"].issue(bob, role))))
    err = h.refused(h.tx(bob, KvPut(namespace="n", key=b"k", value=b"v")))
    assert err.code == "role_not_permitted"


def test_enforcement_without_orgs_is_an_invalid_genesis(actors: Actors) -> None:
    from trellis.core.params import InvalidGenesis

    base = make_genesis(actors)
    with pytest.raises(InvalidGenesis):
        params_from_genesis(
            Genesis(
                chain_id=base.chain_id,
                genesis_time_ms=base.genesis_time_ms,
                validators=base.validators,
                mint_authority=base.mint_authority,
                membership=GenesisMembership(enforce=True),
            )
        )


def test_enforcement_on_an_sm_chain_is_an_invalid_genesis(actors: Actors, cas: dict[str, Ca]) -> None:
    from trellis.core.params import InvalidGenesis

    base = make_genesis(actors)
    with pytest.raises(InvalidGenesis, match="ed25519"):
        params_from_genesis(
            Genesis(
                chain_id=base.chain_id,
                genesis_time_ms=base.genesis_time_ms,
                suite="sm",
                validators=base.validators,
                mint_authority=base.mint_authority,
                orgs=[GenesisOrg(name="org1", ca_cert=cas["org1"].cert.decode())],
                membership=GenesisMembership(enforce=True),
            )
        )


def _bogus_evidence() -> SubmitEvidence:
    vote = Vote(chain_id="unit-test-chain", kind=1, height=1, round=0, block_hash=b"\x00" * 32)
    sv = SignedVote(vote=vote, validator=b"\x01" * 20, signature=b"\x02" * 64)
    return SubmitEvidence(evidence=DuplicateVoteEvidence(a=sv, b=sv))


def test_a_validator_reports_evidence_without_a_certificate(h: Harness, actors: Actors) -> None:
    # The block is valid; the (bogus) evidence itself fails in its receipt.
    [(code, _)] = h.block(h.tx(actors.validators[0], _bogus_evidence()))
    assert code == ResultCode.INVALID_EVIDENCE


def test_a_non_validator_needs_a_certificate_to_report_evidence(h: Harness, people: People) -> None:
    assert h.refused(h.tx(people.bob, _bogus_evidence())).code == "unknown_certificate"
