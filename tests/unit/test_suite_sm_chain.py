"""A chain whose genesis says ``suite: "sm"`` hashes with SM3 and verifies SM2 signatures everywhere: blocks,
Merkle roots, the state tree, addresses, transaction and vote signatures. Keys of the other suite are refused."""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from trellis.core.codec import encode
from trellis.core.crypto.merkle import merkle_root
from trellis.core.crypto.sm import Sm2PrivateKey, sm2_keypair_from_secret
from trellis.core.crypto.suite import ED25519, SM, address_of
from trellis.core.errors import InvalidTransaction
from trellis.core.execution.block import check_block
from trellis.core.ledger.block import Commit, CommitSig, block_hash, verify_commit
from trellis.core.ledger.state_tree import apply_updates
from trellis.core.ledger.tx import SignedTx, TxBody, check_tx_stateless, sign_tx, tx_hash, verify_tx_signature
from trellis.core.ledger.votes import PRECOMMIT, Vote, vote_signing_bytes
from trellis.core.modules.accounts.messages import Transfer
from trellis.core.params import Genesis, GenesisAccount, GenesisValidator, params_from_genesis

# The unit tests' chain-in-dicts helpers, loaded by path: a plain ``import conftest`` would find whichever
# test directory's conftest pytest imported last.
_spec = importlib.util.spec_from_file_location("_unit_conftest_for_sm", Path(__file__).with_name("conftest.py"))
assert _spec is not None and _spec.loader is not None
_unit = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = _unit  # dataclasses look their module up while the module runs
_spec.loader.exec_module(_unit)
CHAIN_ID, GENESIS_TIME_MS, MemoryChain = _unit.CHAIN_ID, _unit.GENESIS_TIME_MS, _unit.MemoryChain
make_key, start_chain = _unit.make_key, _unit.start_chain


@dataclass(frozen=True)
class SmKey:
    """A deterministic SM2 key pair and its address on an sm chain."""

    name: str
    key: Sm2PrivateKey
    public: bytes
    address: bytes

    def sign(self, message: bytes) -> bytes:
        return self.key.sign(message)


def make_sm_key(name: str) -> SmKey:
    """Return the SM2 key whose private scalar is SHA-256 of ``name`` (a valid scalar for these names)."""
    secret, public = sm2_keypair_from_secret(hashlib.sha256(name.encode()).digest())
    return SmKey(name=name, key=Sm2PrivateKey(secret), public=public, address=address_of(SM, public))


VALIDATORS = [make_sm_key(f"sm-validator-{i}") for i in range(4)]
ALICE = make_sm_key("sm-alice")
BOB = make_sm_key("sm-bob")


@pytest.fixture
def sm_chain() -> MemoryChain:
    genesis = Genesis(
        chain_id=CHAIN_ID,
        genesis_time_ms=GENESIS_TIME_MS,
        suite="sm",
        validators=[GenesisValidator(name=v.name, public_key=v.public.hex(), power=1) for v in VALIDATORS],
        mint_authority=ALICE.address.hex(),
        accounts=[GenesisAccount(address=ALICE.address.hex(), balance=1_000)],
    )
    return start_chain(params_from_genesis(genesis))


def _tx(key: SmKey, nonce: int, amount: int) -> SignedTx:
    body = TxBody(chain_id=CHAIN_ID, sender=key.public, nonce=nonce, payload=Transfer(to=BOB.address, amount=amount))
    return sign_tx(body, key.sign)


def test_an_sm_genesis_gives_the_sm_suite(sm_chain: MemoryChain) -> None:
    assert sm_chain.params.suite is SM


def test_an_sm_genesis_with_an_ed25519_validator_key_is_refused() -> None:
    from trellis.core.params import InvalidGenesis

    ed = make_key("ed-validator")
    genesis = Genesis(
        chain_id=CHAIN_ID,
        genesis_time_ms=GENESIS_TIME_MS,
        suite="sm",
        validators=[GenesisValidator(name="v", public_key=ed.public.hex(), power=1)],
        mint_authority=ALICE.address.hex(),
    )
    with pytest.raises(InvalidGenesis):
        params_from_genesis(genesis)


def test_blocks_of_sm2_signed_transfers_build_check_and_commit(sm_chain: MemoryChain) -> None:
    txs = [_tx(ALICE, 0, 10), _tx(ALICE, 1, 20)]
    for tx in txs:
        check_tx_stateless(SM, tx, CHAIN_ID)
        verify_tx_signature(SM, tx)
    proposer = address_of(SM, sm_chain.params.validators.validators[0].public_key)
    built = sm_chain.build(txs, proposer=proposer)
    checked = check_block(sm_chain.params, sm_chain, sm_chain, sm_chain.tip, built.block, built.tx_bytes)
    assert checked.block_id == built.block_id
    sm_chain.commit(built)
    assert sm_chain.account(BOB.address).balance == 30
    assert sm_chain.account(ALICE.address).balance == 970
    assert sm_chain.tip.height == 1

    # Every hash is SM3: the tx root, the block id, the tx hashes and the state root.
    h = built.block.header
    tx_bytes = [encode(t) for t in txs]
    assert h.tx_root == merkle_root(SM, tx_bytes) != merkle_root(ED25519, tx_bytes)
    assert built.block_id == block_hash(SM, h) != block_hash(ED25519, h)
    assert tx_hash(SM, tx_bytes[0]) == SM.tagged_hash(b"trellis/tx/v1", tx_bytes[0])
    assert h.state_root == apply_updates(SM, {}, b"\x00" * 32, dict(sm_chain.state)).root


def test_a_commit_certificate_of_sm2_precommits_verifies(sm_chain: MemoryChain) -> None:
    proposer = address_of(SM, sm_chain.params.validators.validators[0].public_key)
    built = sm_chain.build([_tx(ALICE, 0, 1)], proposer=proposer)
    header = built.block.header
    bid = block_hash(SM, header)
    vote = Vote(chain_id=CHAIN_ID, kind=PRECOMMIT, height=header.height, round=0, block_hash=bid)
    by_address = {v.address: v for v in VALIDATORS}
    sigs = [
        CommitSig(
            validator=address_of(SM, v.public_key),
            signature=by_address[address_of(SM, v.public_key)].sign(vote_signing_bytes(vote)),
        )
        for v in sm_chain.params.validators.validators
    ]
    commit = Commit(height=header.height, round=0, block_hash=bid, signatures=sigs)
    verify_commit(SM, CHAIN_ID, sm_chain.params.validators, header, commit)


def test_an_ed25519_signed_transaction_is_refused_on_an_sm_chain_as_malformed() -> None:
    ed = make_key("ed-alice")
    body = TxBody(chain_id=CHAIN_ID, sender=ed.public, nonce=0, payload=Transfer(to=BOB.address, amount=1))
    tx = sign_tx(body, ed.sign)
    with pytest.raises(InvalidTransaction) as err:
        check_tx_stateless(SM, tx, CHAIN_ID)
    assert err.value.code == "malformed"
    with pytest.raises(InvalidTransaction) as err:
        verify_tx_signature(SM, tx)
    assert err.value.code == "bad_signature"


def test_an_sm2_signed_transaction_is_refused_on_an_ed25519_chain_as_malformed() -> None:
    tx = _tx(ALICE, 0, 1)
    with pytest.raises(InvalidTransaction) as err:
        check_tx_stateless(ED25519, tx, CHAIN_ID)
    assert err.value.code == "malformed"
    with pytest.raises(InvalidTransaction) as err:
        verify_tx_signature(ED25519, tx)
    assert err.value.code == "bad_signature"


def test_an_sm2_key_with_an_ed25519_signature_is_a_bad_signature_on_an_sm_chain() -> None:
    ed = make_key("ed-forger")
    body = TxBody(chain_id=CHAIN_ID, sender=ALICE.public, nonce=0, payload=Transfer(to=BOB.address, amount=1))
    tx = sign_tx(body, ed.sign)
    check_tx_stateless(SM, tx, CHAIN_ID)
    with pytest.raises(InvalidTransaction) as err:
        verify_tx_signature(SM, tx)
    assert err.value.code == "bad_signature"
