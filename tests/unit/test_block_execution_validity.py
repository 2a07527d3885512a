"""Block-level validity rules of ``apply_block``: a transaction with the wrong chain id or nonce invalidates
the whole block (``InvalidBlock``), unlike a failing handler, which only yields a failure receipt."""

from __future__ import annotations

import pytest

from trellis.core.errors import InvalidBlock
from trellis.core.modules.accounts.messages import Transfer
from trellis.core.modules.accounts.state import Account


def test_transaction_with_a_nonce_above_the_next_one_invalidates_the_block(chain, actors, make_tx) -> None:
    with pytest.raises(InvalidBlock) as err:
        chain.execute([make_tx(actors.alice, 1, Transfer(to=actors.bob.address, amount=1))])
    assert err.value.code == "bad_nonce"


def test_transaction_replaying_a_used_nonce_invalidates_the_block(chain, actors, make_tx) -> None:
    chain.execute_and_commit([make_tx(actors.alice, 0, Transfer(to=actors.bob.address, amount=1))])
    with pytest.raises(InvalidBlock) as err:
        chain.execute([make_tx(actors.alice, 0, Transfer(to=actors.bob.address, amount=2))])
    assert err.value.code == "bad_nonce"


def test_two_transactions_with_the_same_nonce_in_one_block_invalidate_it(chain, actors, make_tx) -> None:
    txs = [
        make_tx(actors.alice, 0, Transfer(to=actors.bob.address, amount=1)),
        make_tx(actors.alice, 0, Transfer(to=actors.bob.address, amount=2)),
    ]
    with pytest.raises(InvalidBlock) as err:
        chain.execute(txs)
    assert err.value.code == "bad_nonce"


def test_consecutive_nonces_from_one_sender_in_one_block_are_valid(chain, actors, make_tx) -> None:
    txs = [make_tx(actors.alice, n, Transfer(to=actors.bob.address, amount=1)) for n in range(3)]
    chain.execute_and_commit(txs)
    assert chain.account(actors.alice.address) == Account(balance=997, nonce=3)


def test_nonce_after_a_failed_transaction_is_still_consumed(chain, actors, make_tx) -> None:
    chain.execute_and_commit([make_tx(actors.alice, 0, Transfer(to=actors.bob.address, amount=10**6))])
    with pytest.raises(InvalidBlock) as err:
        chain.execute([make_tx(actors.alice, 0, Transfer(to=actors.bob.address, amount=1))])
    assert err.value.code == "bad_nonce"


def test_transaction_for_another_chain_invalidates_the_block(chain, actors, make_tx) -> None:
    tx = make_tx(actors.alice, 0, Transfer(to=actors.bob.address, amount=1), chain_id="another-chain")
    with pytest.raises(InvalidBlock) as err:
        chain.execute([tx])
    assert err.value.code == "wrong_chain_id"


def test_empty_block_executes_to_no_receipts_and_no_writes(chain) -> None:
    out = chain.execute([])
    assert out.receipts == []
    assert out.writes == {}


def test_receipts_carry_the_transaction_hashes_in_order(chain, actors, make_tx) -> None:
    txs = [make_tx(actors.alice, n, Transfer(to=actors.bob.address, amount=1)) for n in range(2)]
    out = chain.execute(txs)
    assert [r.tx_hash for r in out.receipts] == out.tx_hashes
    assert len(set(out.tx_hashes)) == 2
    assert out.senders == [actors.alice.address] * 2
