"""``build_block`` fills in a header from execution; ``check_block`` re-executes and checks every field."""

from __future__ import annotations

import msgspec
import pytest

from trellis.core.codec import encode
from trellis.core.crypto.merkle import merkle_root
from trellis.core.crypto.suite import ED25519, address_of
from trellis.core.errors import InvalidBlock
from trellis.core.execution.block import build_block, check_block
from trellis.core.ledger.block import Block, block_hash, validators_hash
from trellis.core.ledger.state_tree import apply_updates
from trellis.core.modules.accounts.messages import Transfer
from trellis.core.modules.kv.messages import KvPut
from trellis.core.modules.validators.state import META_KEY, ValidatorSetEntry, ValidatorsMeta, set_key

OTHER_HASH = b"\x5a" * 32


@pytest.fixture
def block_txs(actors, make_tx):
    alice, bob = actors.alice, actors.bob
    return [
        make_tx(alice, 0, Transfer(to=bob.address, amount=10)),
        make_tx(alice, 1, Transfer(to=bob.address, amount=10**9)),  # fails: a receipt with code 1
        make_tx(bob, 0, KvPut(namespace="ns", key=b"k", value=b"v")),
    ]


@pytest.fixture
def built(chain, block_txs):
    return chain.build(block_txs)


def _check(chain, block: Block):
    return check_block(chain.params, chain, chain, chain.tip, block, [encode(t) for t in block.txs])


def _with_header(block: Block, **changes) -> Block:
    return Block(header=msgspec.structs.replace(block.header, **changes), txs=block.txs)


def test_check_block_accepts_the_block_build_block_made(chain, built) -> None:
    checked = _check(chain, built.block)
    assert checked.block_id == built.block_id
    assert checked.tree.root == built.block.header.state_root
    assert checked.output.receipts == built.output.receipts


def test_built_header_links_to_the_tip_and_is_one_height_above_it(chain, built) -> None:
    h = built.block.header
    assert h.height == chain.tip.height + 1 == 1
    assert h.parent_hash == chain.tip.block_id
    assert h.chain_id == chain.params.chain_id


def test_built_header_commits_to_the_transactions_receipts_and_validators(chain, built) -> None:
    h = built.block.header
    assert h.tx_count == 3
    assert h.tx_root == merkle_root(ED25519, [encode(t) for t in built.block.txs])
    assert h.results_root == merkle_root(ED25519, [encode(r) for r in built.output.receipts])
    assert h.validators_hash == validators_hash(ED25519, chain.params.validators)
    assert h.next_validators_hash == validators_hash(ED25519, chain.params.validators)  # set(2) = genesis


def test_built_state_root_is_the_tip_root_updated_with_the_block_writes(chain, built) -> None:
    expected = apply_updates(ED25519, chain, chain.tip.state_root, built.output.writes).root
    assert built.block.header.state_root == expected != chain.tip.state_root


def test_block_id_is_the_hash_of_the_header(built) -> None:
    assert built.block_id == block_hash(ED25519, built.block.header)


def test_build_block_refuses_a_time_not_after_the_parent(chain, block_txs) -> None:
    with pytest.raises(InvalidBlock) as err:
        build_block(
            chain.params,
            chain,
            chain,
            chain.tip,
            block_txs,
            [encode(t) for t in block_txs],
            chain.tip.time_ms,
            b"\0" * 20,
        )
    assert err.value.code == "bad_time"


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("chain_id", "another-chain", "wrong_chain_id"),
        ("height", 2, "bad_height"),
        ("time_ms", "tip", "bad_time"),
        ("parent_hash", OTHER_HASH, "bad_parent"),
        ("tx_root", OTHER_HASH, "bad_tx_root"),
        ("results_root", OTHER_HASH, "bad_results_root"),
        ("state_root", OTHER_HASH, "bad_state_root"),
        ("tx_count", 2, "bad_tx_count"),
        ("proposer", b"\x77" * 20, "bad_proposer"),
        ("validators_hash", OTHER_HASH, "bad_validators_hash"),
        ("next_validators_hash", OTHER_HASH, "bad_next_validators_hash"),
    ],
)
def test_check_block_refuses_a_tampered_header_field_with_the_fields_code(chain, built, field, value, code) -> None:
    if value == "tip":
        value = chain.tip.time_ms
    with pytest.raises(InvalidBlock) as err:
        _check(chain, _with_header(built.block, **{field: value}))
    assert err.value.code == code


def test_check_block_refuses_a_block_with_a_transaction_removed(chain, built) -> None:
    block = Block(header=built.block.header, txs=built.block.txs[:2])
    with pytest.raises(InvalidBlock) as err:
        _check(chain, block)
    assert err.value.code == "bad_tx_count"


def test_check_block_refuses_reordered_transactions(chain, built) -> None:
    txs = built.block.txs
    block = Block(header=built.block.header, txs=[txs[0], txs[2], txs[1]])
    with pytest.raises(InvalidBlock) as err:
        _check(chain, block)
    assert err.value.code == "bad_tx_root"


def test_check_block_refuses_more_transactions_than_the_genesis_limit(make_chain, actors, make_tx) -> None:
    chain = make_chain(max_block_txs=1)
    txs = [make_tx(actors.alice, n, Transfer(to=actors.bob.address, amount=1)) for n in range(2)]
    block = chain.build(txs).block
    with pytest.raises(InvalidBlock) as err:
        _check(chain, block)
    assert err.value.code == "too_many_txs"


def test_check_block_refuses_transactions_over_the_block_byte_limit(make_chain, actors, make_tx) -> None:
    chain = make_chain(max_block_bytes=1024)
    value = b"x" * 600
    txs = [make_tx(actors.alice, n, KvPut(namespace="ns", key=bytes([n + 1]), value=value)) for n in range(2)]
    block = chain.build(txs).block
    with pytest.raises(InvalidBlock) as err:
        _check(chain, block)
    assert err.value.code == "too_large"


def test_check_block_refuses_a_block_whose_transaction_has_a_bad_nonce(chain, actors, make_tx, built) -> None:
    bad = make_tx(actors.carol, 5, Transfer(to=actors.bob.address, amount=1))
    txs = [*built.block.txs, bad]
    header = msgspec.structs.replace(
        built.block.header, tx_count=4, tx_root=merkle_root(ED25519, [encode(t) for t in txs])
    )
    with pytest.raises(InvalidBlock) as err:
        _check(chain, Block(header=header, txs=txs))
    assert err.value.code == "bad_nonce"


def test_second_block_builds_on_the_first(chain, built, actors, make_tx) -> None:
    chain.commit(built)
    second = chain.build([make_tx(actors.alice, 2, Transfer(to=actors.carol.address, amount=1))])
    assert second.block.header.parent_hash == built.block_id
    assert _check(chain, second.block).block_id == second.block_id


def _schedule_change_at_height_3(chain) -> ValidatorSetEntry:
    """Write into the state after block 1 what a validator change applied in block 1 writes: entry 3, the first
    validator removed (the tree is not touched: build and check both read ``chain.state``)."""
    new = type(chain.params.validators)(validators=chain.params.validators.validators[1:])
    entry = ValidatorSetEntry(effective_height=3, previous=1, validators=new, orgs=[""] * 3)
    chain.state[set_key(3)] = encode(entry)
    chain.state[META_KEY] = encode(ValidatorsMeta(version=1, latest=3))
    return entry


def test_the_header_before_a_change_announces_the_next_set(chain, built) -> None:
    chain.commit(built)
    entry = _schedule_change_at_height_3(chain)
    block2 = chain.build([])
    h = block2.block.header
    assert h.validators_hash == validators_hash(ED25519, chain.params.validators)
    assert h.next_validators_hash == validators_hash(ED25519, entry.validators)
    assert _check(chain, block2.block).block_id == block2.block_id


def test_check_block_refuses_a_header_that_announces_the_current_set_before_a_change(chain, built) -> None:
    chain.commit(built)
    _schedule_change_at_height_3(chain)
    block2 = chain.build([])
    stale = _with_header(block2.block, next_validators_hash=block2.block.header.validators_hash)
    with pytest.raises(InvalidBlock) as err:
        _check(chain, stale)
    assert err.value.code == "bad_next_validators_hash"


def test_from_its_effective_height_the_new_set_signs_and_a_removed_validator_may_not_propose(chain, built) -> None:
    chain.commit(built)
    entry = _schedule_change_at_height_3(chain)
    chain.commit(chain.build([]))
    removed = chain.params.validators.validators[0]
    block3 = chain.build([], proposer=address_of(ED25519, entry.validators.validators[0].public_key))
    assert block3.block.header.validators_hash == validators_hash(ED25519, entry.validators)
    with pytest.raises(InvalidBlock) as err:
        _check(chain, _with_header(block3.block, proposer=address_of(ED25519, removed.public_key)))
    assert err.value.code == "bad_proposer"
