"""``TrellisApp`` behind the ABCI boundary: admission checks, proposal building and checking, commit, queries."""

from __future__ import annotations

import msgspec
import pytest

from trellis.app.application import NotFound, TrellisApp
from trellis.core.codec import encode
from trellis.core.errors import InvalidBlock, InvalidTransaction
from trellis.core.ledger.block import Block
from trellis.core.ledger.tx import tx_hash
from trellis.core.modules.accounts.messages import Mint, Transfer
from trellis.core.modules.contracts.messages import ContractDeploy
from trellis.core.modules.kv.messages import KvPut
from trellis.storage.chain_store import ChainStore
from trellis.storage.kv import MemoryStore

from .conftest import Actors, AppChain, addr, make_app_chain, make_params, make_tx, raw_tx

replace = msgspec.structs.replace


def _transfer(actors: Actors, amount: int = 1) -> Transfer:
    return Transfer(to=addr(actors.bob), amount=amount)


def _check_code(app: TrellisApp, raw: bytes) -> str:
    with pytest.raises(InvalidTransaction) as info:
        app.check_tx(raw)
    return info.value.code


# -- check_tx ------------------------------------------------------------------------------------------------------
def test_check_tx_admits_a_valid_transaction_with_its_hash_and_sender(actors: Actors, chain: AppChain) -> None:
    raw = raw_tx(actors.alice, 0, _transfer(actors))
    c = chain.app.check_tx(raw)
    assert c.raw == raw
    assert c.hash == tx_hash(chain.app.suite, raw)
    assert c.sender == addr(actors.alice)
    assert c.tx.body.nonce == 0


def test_check_tx_does_not_judge_the_nonce(actors: Actors, chain: AppChain) -> None:
    # Nonces are the mempool's business: the application admits any nonce of a well-formed transaction.
    assert chain.app.check_tx(raw_tx(actors.alice, 7, _transfer(actors))).tx.body.nonce == 7


def test_check_tx_refuses_another_chains_transaction_with_wrong_chain_id(actors: Actors, chain: AppChain) -> None:
    raw = raw_tx(actors.alice, 0, _transfer(actors), chain_id="another-chain")
    assert _check_code(chain.app, raw) == "wrong_chain_id"


def test_check_tx_refuses_a_bad_signature_with_bad_signature(actors: Actors, chain: AppChain) -> None:
    tx = make_tx(actors.alice, 0, _transfer(actors))
    forged = replace(tx, signature=bytes(64))
    assert _check_code(chain.app, encode(forged)) == "bad_signature"


def test_check_tx_refuses_a_signature_by_another_key_with_bad_signature(actors: Actors, chain: AppChain) -> None:
    tx = make_tx(actors.alice, 0, _transfer(actors))
    by_bob = make_tx(actors.bob, 0, _transfer(actors))
    assert _check_code(chain.app, encode(replace(tx, signature=by_bob.signature))) == "bad_signature"


def test_check_tx_refuses_a_transaction_over_max_tx_bytes_with_too_large(actors: Actors) -> None:
    chain = make_app_chain(make_params(actors, max_tx_bytes=512), actors)
    raw = raw_tx(actors.alice, 0, KvPut(namespace="ns", key=b"k", value=b"x" * 600))
    assert len(raw) > 512
    assert _check_code(chain.app, raw) == "too_large"


@pytest.mark.parametrize("raw", [b"", b"\x00", b"\xc1", b"not msgpack at all", encode([1, 2, 3]), encode({"a": 1})])
def test_check_tx_refuses_bytes_that_are_not_a_transaction_with_malformed(chain: AppChain, raw: bytes) -> None:
    assert _check_code(chain.app, raw) == "malformed"


def test_check_tx_refuses_a_non_canonical_encoding_with_malformed(actors: Actors, chain: AppChain) -> None:
    tx = make_tx(actors.alice, 0, _transfer(actors))
    body = msgspec.msgpack.decode(encode(tx.body))
    enc = msgspec.msgpack.encode
    # The same value with the nonce written as a 64-bit integer instead of a fixint: decodes, but not canonical.
    loose_body = b"\x95" + enc(body[0]) + enc(body[1]) + b"\xcf" + bytes(8) + enc(body[3]) + enc(body[4])
    loose = b"\x92" + loose_body + enc(tx.signature)
    assert msgspec.msgpack.decode(loose) == msgspec.msgpack.decode(encode(tx))
    with pytest.raises(InvalidTransaction, match="canonical") as info:
        chain.app.check_tx(loose)
    assert info.value.code == "malformed"


def test_check_tx_refuses_an_unknown_module_message_with_unknown_module(actors: Actors, chain: AppChain) -> None:
    obj = msgspec.msgpack.decode(raw_tx(actors.alice, 0, _transfer(actors)))
    obj[0][3][0] = "nosuch.action"
    assert _check_code(chain.app, msgspec.msgpack.encode(obj)) == "unknown_module"


def test_check_tx_refuses_a_sender_key_of_the_wrong_length_with_malformed(actors: Actors, chain: AppChain) -> None:
    tx = make_tx(actors.alice, 0, _transfer(actors))
    odd = replace(tx, body=replace(tx.body, sender=actors.alice.public_key + b"\x00"))
    assert _check_code(chain.app, encode(odd)) == "malformed"


def test_check_tx_refuses_an_already_committed_transaction_with_duplicate(actors: Actors, chain: AppChain) -> None:
    raw = raw_tx(actors.alice, 0, _transfer(actors))
    chain.commit_txs([raw])
    assert _check_code(chain.app, raw) == "duplicate"


def test_account_nonce_counts_committed_transactions(actors: Actors, chain: AppChain) -> None:
    alice = addr(actors.alice)
    assert chain.app.account_nonce(alice) == 0
    chain.commit_txs([raw_tx(actors.alice, 0, _transfer(actors)), raw_tx(actors.alice, 1, _transfer(actors))])
    assert chain.app.account_nonce(alice) == 2
    assert chain.app.account_nonce(addr(actors.carol)) == 0


# -- prepare_proposal ------------------------------------------------------------------------------------------------
def test_prepare_proposal_skips_a_candidate_with_a_wrong_nonce(actors: Actors, chain: AppChain) -> None:
    good0 = raw_tx(actors.alice, 0, _transfer(actors))
    gap = raw_tx(actors.bob, 3, _transfer(actors))
    good1 = raw_tx(actors.alice, 1, _transfer(actors))
    executed = chain.build([good0, gap, good1])
    assert [encode(t) for t in executed.block.txs] == [good0, good1]


def test_prepare_proposal_skips_a_replayed_nonce(actors: Actors, chain: AppChain) -> None:
    first = raw_tx(actors.alice, 0, _transfer(actors))
    replay = raw_tx(actors.alice, 0, _transfer(actors, 2))
    executed = chain.build([first, replay])
    assert [encode(t) for t in executed.block.txs] == [first]


def test_prepare_proposal_stops_at_max_block_txs(actors: Actors) -> None:
    chain = make_app_chain(make_params(actors, max_block_txs=2), actors)
    raws = [raw_tx(actors.alice, n, _transfer(actors)) for n in range(3)]
    assert len(chain.build(raws).block.txs) == 2


def test_prepare_proposal_stops_at_max_block_bytes(actors: Actors) -> None:
    chain = make_app_chain(make_params(actors, max_block_bytes=1024), actors)
    raws = [raw_tx(actors.alice, n, KvPut(namespace="ns", key=b"k%d" % n, value=b"x" * 300)) for n in range(4)]
    executed = chain.build(raws)
    assert 0 < len(executed.block.txs) < 4
    assert sum(len(r) for r in executed.tx_bytes) <= 1024


def test_prepare_proposal_does_not_change_committed_state(actors: Actors, chain: AppChain) -> None:
    before = chain.app.info()
    chain.build([raw_tx(actors.alice, 0, _transfer(actors))])
    assert chain.app.info() == before
    assert chain.app.account(addr(actors.bob)).balance == 0


def test_a_failing_transaction_is_committed_with_a_failure_code_and_advances_the_nonce(
    actors: Actors, chain: AppChain
) -> None:
    executed = chain.commit_txs([raw_tx(actors.bob, 0, Transfer(to=addr(actors.alice), amount=5))])
    assert executed.output.receipts[0].code == 1  # insufficient funds
    assert chain.app.account(addr(actors.bob)).nonce == 1


def test_mint_by_the_mint_authority_credits_the_recipient(actors: Actors, chain: AppChain) -> None:
    chain.commit_txs([raw_tx(actors.alice, 0, Mint(to=addr(actors.carol), amount=77))])
    assert chain.app.account(addr(actors.carol)).balance == 77


# -- process_proposal / finalize / commit --------------------------------------------------------------------------
@pytest.fixture
def replica(actors: Actors) -> TrellisApp:
    """A second application on the same genesis: a validator checking the proposer's blocks."""
    return TrellisApp(make_params(actors), ChainStore(MemoryStore()))


def test_process_proposal_accepts_a_valid_block_and_commit_reaches_the_same_tip(
    actors: Actors, chain: AppChain, replica: TrellisApp
) -> None:
    executed = chain.commit_txs([raw_tx(actors.alice, 0, _transfer(actors, 9))])
    checked = replica.process_proposal(executed.block)
    assert checked.block_id == executed.block_id
    assert checked.block.header.state_root == executed.block.header.state_root
    commit = chain.app.store.commit(1)
    assert commit is not None
    assert replica.commit(checked, commit) == chain.app.info()
    assert replica.account(addr(actors.bob)).balance == 9


def test_process_proposal_refuses_a_tampered_state_root_with_bad_state_root(
    actors: Actors, chain: AppChain, replica: TrellisApp
) -> None:
    block = chain.build([raw_tx(actors.alice, 0, _transfer(actors))]).block
    tampered = replace(block, header=replace(block.header, state_root=bytes(32)))
    with pytest.raises(InvalidBlock) as info:
        replica.process_proposal(tampered)
    assert info.value.code == "bad_state_root"


def test_process_proposal_refuses_a_tampered_state_root_even_on_the_proposer(actors: Actors, chain: AppChain) -> None:
    block = chain.build([raw_tx(actors.alice, 0, _transfer(actors))]).block
    tampered = replace(block, header=replace(block.header, state_root=b"\x01" * 32))
    with pytest.raises(InvalidBlock) as info:
        chain.app.process_proposal(tampered)
    assert info.value.code == "bad_state_root"


def test_process_proposal_refuses_a_transaction_with_a_bad_signature(
    actors: Actors, chain: AppChain, replica: TrellisApp
) -> None:
    block = chain.build([raw_tx(actors.alice, 0, _transfer(actors))]).block
    forged = replace(block.txs[0], signature=bytes(64))
    with pytest.raises(InvalidBlock) as info:
        replica.process_proposal(replace(block, txs=[forged]))
    assert info.value.code == "bad_signature"


def test_process_proposal_refuses_a_transaction_of_another_chain(
    actors: Actors, chain: AppChain, replica: TrellisApp
) -> None:
    block = chain.build([]).block
    foreign = make_tx(actors.alice, 0, _transfer(actors), chain_id="another-chain")
    with pytest.raises(InvalidBlock) as info:
        replica.process_proposal(replace(block, txs=[foreign], header=replace(block.header, tx_count=1)))
    assert info.value.code == "wrong_chain_id"


def test_process_proposal_refuses_an_oversized_transaction(
    actors: Actors, chain: AppChain, replica: TrellisApp
) -> None:
    block = chain.build([]).block
    big = make_tx(actors.alice, 0, ContractDeploy(code=b"\x00asm" + b"x" * 60_000, args=b"y" * 10_000))
    assert len(encode(big)) > replica.params.limits.max_tx_bytes
    with pytest.raises(InvalidBlock) as info:
        replica.process_proposal(Block(header=replace(block.header, tx_count=1), txs=[big]))
    assert info.value.code == "tx_too_large"


def test_process_proposal_refuses_a_block_at_the_wrong_height(
    actors: Actors, chain: AppChain, replica: TrellisApp
) -> None:
    block = chain.build([]).block
    with pytest.raises(InvalidBlock) as info:
        replica.process_proposal(replace(block, header=replace(block.header, height=2)))
    assert info.value.code == "bad_height"


def test_a_refused_proposal_changes_nothing(actors: Actors, chain: AppChain, replica: TrellisApp) -> None:
    before = replica.info()
    block = chain.build([raw_tx(actors.alice, 0, _transfer(actors))]).block
    with pytest.raises(InvalidBlock):
        replica.process_proposal(replace(block, header=replace(block.header, state_root=bytes(32))))
    assert replica.info() == before
    assert replica.store.block(1) is None


def test_finalize_block_returns_the_execution_cached_by_prepare_proposal(actors: Actors, chain: AppChain) -> None:
    executed = chain.build([raw_tx(actors.alice, 0, _transfer(actors))])
    assert chain.app.finalize_block(executed.block) is executed


def test_finalize_block_of_an_unseen_block_executes_it(actors: Actors, chain: AppChain, replica: TrellisApp) -> None:
    executed = chain.build([raw_tx(actors.alice, 0, _transfer(actors))])
    assert replica.finalize_block(executed.block).block_id == executed.block_id


def test_header_of_a_missing_height_is_not_found(chain: AppChain) -> None:
    with pytest.raises(NotFound):
        chain.app.header(1)


def test_commit_advances_the_tip_by_one(actors: Actors, chain: AppChain) -> None:
    before = chain.app.info()
    executed = chain.commit_txs([])
    tip = chain.app.info()
    assert tip.height == before.height + 1
    assert tip.block_id == executed.block_id
    assert executed.block.header.parent_hash == before.block_id
    # an empty block leaves the state untouched
    assert tip.state_root == before.state_root
