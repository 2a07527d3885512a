"""The in-process chain fixture (tests/fixtures/chain_sim.py): its blocks verify with the light client, its
proofs verify against old headers after later blocks, its genesis bytes hash to the genesis hash."""

from __future__ import annotations

import pytest

from tests.fixtures.chain_sim import SimChain
from trellis.core.codec import decode, encode
from trellis.core.errors import ProofError
from trellis.core.ledger.block import Commit, Header, ValidatorSet
from trellis.core.ledger.state_tree import StateProof, verify_state_proof
from trellis.core.lightclient import (
    LightClientError,
    TrustedState,
    light_block_from_bytes,
    verify,
    verify_from_genesis,
)
from trellis.core.modules.accounts.messages import Transfer
from trellis.core.modules.accounts.state import Account, account_key
from trellis.core.params import Genesis, params_from_genesis


@pytest.fixture(scope="module")
def chain() -> SimChain:
    c = SimChain("sim-a", accounts={"alice": 1000, "bob": 5})
    r = c.submit("alice", Transfer(to=c.address("bob"), amount=100))
    assert r.code == 0, r.message
    c.advance(2)
    r = c.submit("bob", Transfer(to=c.address("alice"), amount=30))
    assert r.code == 0, r.message
    return c


def test_genesis_bytes_and_rules() -> None:
    c = SimChain("sim-g", client_policy="governed", accounts={"alice": 7})
    g = decode(c.genesis_bytes, Genesis)
    assert params_from_genesis(g).genesis_hash == c.params.genesis_hash
    assert c.params.genesis.interchain_rules.client_policy == "governed"
    assert SimChain("sim-o").params.genesis.interchain_rules.client_policy == "open"
    assert c.height == 0 and c.time_ms == 1_700_000_000_000
    assert c.balance("alice") == 7
    assert c.params.mint_authority == c.address("mint")


def test_heights_times_and_nonces(chain: SimChain) -> None:
    assert chain.height == 4
    assert chain.time_ms == 1_700_000_000_000 + 4 * 1000
    assert chain.balance("alice") == 930 and chain.balance("bob") == 75
    assert chain.balance("alice", 1) == 900 and chain.balance("bob", 0) == 5
    # Several transactions of one account in one block take consecutive nonces.
    c = SimChain("sim-n", accounts={"alice": 10})
    rs = c.commit_block([c.sign("alice", Transfer(to=c.address("bob"), amount=1)) for _ in range(3)], 250)
    assert [r.code for r in rs] == [0, 0, 0]
    assert c.time_ms == 1_700_000_000_250
    assert decode(c.get(account_key(c.address("alice"))) or b"", Account).nonce == 3
    # A signed transaction that is never committed does not burn a nonce.
    c.sign("alice", Transfer(to=c.address("bob"), amount=1))
    c.advance()
    assert c.submit("alice", Transfer(to=c.address("bob"), amount=1)).code == 0


def test_headers_verify_with_the_light_client(chain: SimChain) -> None:
    # From genesis (no set change), and adjacent / skipping from the previous trusted state.
    lb1 = chain.light_block(1)
    trusted = verify_from_genesis(chain.params, lb1.header, lb1.commit, [])
    assert trusted.height == 1
    now = chain.time_ms
    after = verify(trusted, chain.light_block(2), now)
    assert after.height == 2
    skip = verify(after, light_block_from_bytes(*chain.encoded_light_block(4)), now)
    assert skip.block_id == chain.commit(4).block_hash
    assert verify(TrustedState.from_genesis(chain.params), chain.light_block(1), now).height == 1
    assert chain.set_changes(chain.height) == []
    h, c, v = chain.encoded_light_block(3)
    assert decode(h, Header).height == 3 and decode(c, Commit).height == 3
    assert decode(v, ValidatorSet) == chain.params.validators
    assert chain.header(3).parent_hash == chain.commit(2).block_hash


def test_a_header_of_another_chain_is_refused(chain: SimChain) -> None:
    other = SimChain("sim-b")
    other.advance()
    lb = other.light_block(1)
    with pytest.raises(LightClientError) as exc:
        verify_from_genesis(chain.params, lb.header, lb.commit, [])
    assert exc.value.code == "wrong_chain"


def test_old_proofs_verify_after_later_blocks(chain: SimChain) -> None:
    key = account_key(chain.address("bob"))
    suite = chain.params.suite
    old = decode(chain.prove(key, 1), StateProof)
    assert old.height == 1
    value1 = chain.get(key, 1)
    assert value1 is not None and decode(value1, Account).balance == 105
    verify_state_proof(suite, key, value1, old, chain.header(1))
    # The latest value is not what height 1 committed, and a proof does not carry over to another height.
    latest = chain.get(key)
    assert latest != value1
    with pytest.raises(ProofError):
        verify_state_proof(suite, key, latest, old, chain.header(1))
    with pytest.raises(ProofError):
        verify_state_proof(suite, key, value1, old, chain.header(4))
    verify_state_proof(suite, key, latest, decode(chain.prove(key), StateProof), chain.header(4))
    # Non-inclusion at an old height.
    missing = account_key(chain.address("carol"))
    verify_state_proof(suite, missing, None, decode(chain.prove(missing, 2), StateProof), chain.header(2))
    with pytest.raises(ProofError):
        verify_state_proof(suite, key, None, decode(chain.prove(key, 2), StateProof), chain.header(2))
    assert encode(old) == chain.prove(key, 1)


def test_reads_receipts_and_events(chain: SimChain) -> None:
    assert chain.reader(1).get(account_key(chain.address("bob"))) == chain.get(account_key(chain.address("bob")), 1)
    rows = chain.reader(0).scan(b"acct/", b"acct0", 10)
    assert {k for k, _ in rows} >= {account_key(chain.address("alice")), account_key(chain.address("bob"))}
    assert [r.code for r in chain.receipts(1)] == [0] and chain.receipts(2) == []
    assert [e.type for e in chain.events(1)] == [e.type for e in chain.receipts(1)[0].events]
    assert chain.events(1, "no-such-event") == []
    with pytest.raises(KeyError):
        chain.light_block(99)


def test_set_changes_are_reported() -> None:
    """A governance validator change (org1's admin adds a validator) shows up as one set change, and the
    header after it verifies from genesis along it."""
    from trellis.core.lightclient import set_change_from_bytes
    from trellis.core.modules.membership.messages import ProposeMembership, RegisterCert
    from trellis.core.modules.validators.messages import AddValidator

    c = SimChain("sim-v")
    assert c.submit("org1-admin", RegisterCert(cert=c.admin_cert())).code == 0
    add = AddValidator(public_key=c.public_key("sim-v/validator-4"), power=1, name="validator-4", org="org1")
    r = c.submit("org1-admin", ProposeMembership(change=add))
    assert r.code == 0, r.message
    c.advance(3)
    changes = c.set_changes(c.height)
    assert len(changes) == 1
    ch = set_change_from_bytes(changes[0].header, changes[0].commit, changes[0].next_validators)
    assert len(ch.next_validators.validators) == 5
    assert c.set_changes(ch.header.height) == []
    lb = c.light_block(c.height)
    assert len(lb.commit.signatures) == 5
    verify_from_genesis(c.params, lb.header, lb.commit, [ch])
    with pytest.raises(LightClientError):
        verify_from_genesis(c.params, lb.header, lb.commit, [])
