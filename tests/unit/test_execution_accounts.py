"""The accounts module's rules: transfers and minting (trellis/core/modules/accounts/handlers.py)."""

from __future__ import annotations

from trellis.core.codec import encode
from trellis.core.execution import ResultCode
from trellis.core.modules.accounts.messages import Mint, Transfer
from trellis.core.modules.accounts.state import Account, account_key
from trellis.core.types import U64_MAX


def test_transfer_moves_the_amount_from_sender_to_recipient(chain, actors, make_tx) -> None:
    alice, bob = actors.alice, actors.bob
    executed = chain.execute_and_commit([make_tx(alice, 0, Transfer(to=bob.address, amount=300))])
    assert executed.output.receipts[0].code == ResultCode.OK
    assert chain.account(alice.address) == Account(balance=700, nonce=1)
    assert chain.account(bob.address) == Account(balance=300, nonce=0)


def test_transfer_emits_a_transfer_event_naming_sender_recipient_and_amount(chain, actors, make_tx) -> None:
    alice, bob = actors.alice, actors.bob
    out = chain.execute([make_tx(alice, 0, Transfer(to=bob.address, amount=300))])
    (event,) = out.receipts[0].events
    assert event.type == "transfer"
    assert event.attributes == [("from", alice.address), ("to", bob.address), ("amount", b"300")]


def test_transfer_with_insufficient_funds_fails_and_only_bumps_nonce(chain, actors, make_tx) -> None:
    alice, bob = actors.alice, actors.bob
    out = chain.execute([make_tx(alice, 0, Transfer(to=bob.address, amount=1_001))])
    receipt = out.receipts[0]
    assert receipt.code == ResultCode.INSUFFICIENT_FUNDS == 1
    assert receipt.message
    assert receipt.events == []
    assert out.writes == {account_key(alice.address): encode(Account(balance=1_000, nonce=1))}


def test_transfer_of_the_whole_balance_succeeds(chain, actors, make_tx) -> None:
    alice, bob = actors.alice, actors.bob
    chain.execute_and_commit([make_tx(alice, 0, Transfer(to=bob.address, amount=1_000))])
    assert chain.account(alice.address) == Account(balance=0, nonce=1)
    assert chain.account(bob.address).balance == 1_000


def test_transfer_of_zero_fails_with_invalid_amount(chain, actors, make_tx) -> None:
    out = chain.execute([make_tx(actors.alice, 0, Transfer(to=actors.bob.address, amount=0))])
    assert out.receipts[0].code == ResultCode.INVALID_AMOUNT


def test_transfer_to_self_leaves_the_balance_unchanged(chain, actors, make_tx) -> None:
    alice = actors.alice
    chain.execute_and_commit([make_tx(alice, 0, Transfer(to=alice.address, amount=400))])
    assert chain.account(alice.address) == Account(balance=1_000, nonce=1)


def test_transfer_that_would_overflow_the_recipient_fails_and_changes_no_balance(make_chain, actors, make_tx) -> None:
    alice, bob = actors.alice, actors.bob
    chain = make_chain(accounts=[(alice.address, 10), (bob.address, U64_MAX - 5)])
    out = chain.execute([make_tx(alice, 0, Transfer(to=bob.address, amount=6))])
    assert out.receipts[0].code == ResultCode.OVERFLOW
    assert out.writes == {account_key(alice.address): encode(Account(balance=10, nonce=1))}


def test_transfer_from_an_account_never_funded_fails_with_insufficient_funds(chain, actors, make_tx) -> None:
    carol = actors.carol
    out = chain.execute([make_tx(carol, 0, Transfer(to=actors.bob.address, amount=1))])
    assert out.receipts[0].code == ResultCode.INSUFFICIENT_FUNDS
    assert out.writes == {account_key(carol.address): encode(Account(balance=0, nonce=1))}


def test_later_transaction_in_a_block_sees_an_earlier_ones_effects(chain, actors, make_tx) -> None:
    alice, bob, carol = actors.alice, actors.bob, actors.carol
    txs = [
        make_tx(alice, 0, Transfer(to=bob.address, amount=600)),
        make_tx(bob, 0, Transfer(to=carol.address, amount=500)),
    ]
    executed = chain.execute_and_commit(txs)
    assert [r.code for r in executed.output.receipts] == [ResultCode.OK, ResultCode.OK]
    assert chain.account(bob.address) == Account(balance=100, nonce=1)
    assert chain.account(carol.address) == Account(balance=500, nonce=0)


def test_failed_transaction_does_not_affect_the_next_one_in_the_block(chain, actors, make_tx) -> None:
    alice, bob = actors.alice, actors.bob
    txs = [
        make_tx(alice, 0, Transfer(to=bob.address, amount=5_000)),
        make_tx(alice, 1, Transfer(to=bob.address, amount=250)),
    ]
    executed = chain.execute_and_commit(txs)
    assert [r.code for r in executed.output.receipts] == [ResultCode.INSUFFICIENT_FUNDS, ResultCode.OK]
    assert chain.account(alice.address) == Account(balance=750, nonce=2)


def test_mint_by_the_mint_authority_credits_the_recipient(chain, actors, make_tx) -> None:
    executed = chain.execute_and_commit([make_tx(actors.mint, 0, Mint(to=actors.carol.address, amount=77))])
    assert executed.output.receipts[0].code == ResultCode.OK
    assert chain.account(actors.carol.address) == Account(balance=77, nonce=0)


def test_mint_by_the_mint_authority_emits_a_mint_event(chain, actors, make_tx) -> None:
    out = chain.execute([make_tx(actors.mint, 0, Mint(to=actors.carol.address, amount=77))])
    (event,) = out.receipts[0].events
    assert event.type == "mint"
    assert event.attributes == [("to", actors.carol.address), ("amount", b"77")]


def test_mint_by_any_other_sender_fails_unauthorized_and_creates_nothing(chain, actors, make_tx) -> None:
    alice = actors.alice
    out = chain.execute([make_tx(alice, 0, Mint(to=alice.address, amount=77))])
    assert out.receipts[0].code == ResultCode.UNAUTHORIZED
    assert out.writes == {account_key(alice.address): encode(Account(balance=1_000, nonce=1))}


def test_mint_of_zero_fails_with_invalid_amount(chain, actors, make_tx) -> None:
    out = chain.execute([make_tx(actors.mint, 0, Mint(to=actors.carol.address, amount=0))])
    assert out.receipts[0].code == ResultCode.INVALID_AMOUNT


def test_mint_that_would_overflow_the_recipient_fails(make_chain, actors, make_tx) -> None:
    chain = make_chain(accounts=[(actors.bob.address, U64_MAX)])
    out = chain.execute([make_tx(actors.mint, 0, Mint(to=actors.bob.address, amount=1))])
    assert out.receipts[0].code == ResultCode.OVERFLOW


def test_genesis_funds_the_accounts_it_lists(chain, actors) -> None:
    assert chain.account(actors.alice.address) == Account(balance=1_000, nonce=0)
    assert chain.account(actors.bob.address) == Account(balance=0, nonce=0)
