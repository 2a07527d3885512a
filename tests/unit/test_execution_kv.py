"""The kv module's rules: the first writer owns a record; only the owner may overwrite or delete it."""

from __future__ import annotations

from trellis.core.codec import encode
from trellis.core.execution import ResultCode
from trellis.core.modules.accounts.state import Account, account_key
from trellis.core.modules.kv.messages import KvDelete, KvPut
from trellis.core.modules.kv.state import KvRecord, kv_key

NS = "registry"
KEY = b"doc-1"


def test_kv_put_of_a_new_record_makes_the_sender_its_owner(chain, actors, make_tx) -> None:
    executed = chain.execute_and_commit([make_tx(actors.alice, 0, KvPut(namespace=NS, key=KEY, value=b"v1"))])
    assert executed.output.receipts[0].code == ResultCode.OK
    assert chain.kv_record(NS, KEY) == KvRecord(owner=actors.alice.address, value=b"v1")


def test_kv_put_emits_an_event_naming_namespace_and_key(chain, actors, make_tx) -> None:
    out = chain.execute([make_tx(actors.alice, 0, KvPut(namespace=NS, key=KEY, value=b"v1"))])
    (event,) = out.receipts[0].events
    assert event.type == "kv.put"
    assert event.attributes == [("namespace", NS.encode()), ("key", KEY)]


def test_kv_put_by_the_owner_overwrites_the_value(chain, actors, make_tx) -> None:
    alice = actors.alice
    chain.execute_and_commit([make_tx(alice, 0, KvPut(namespace=NS, key=KEY, value=b"v1"))])
    executed = chain.execute_and_commit([make_tx(alice, 1, KvPut(namespace=NS, key=KEY, value=b"v2"))])
    assert executed.output.receipts[0].code == ResultCode.OK
    assert chain.kv_record(NS, KEY) == KvRecord(owner=alice.address, value=b"v2")


def test_kv_put_by_a_non_owner_fails_and_leaves_the_record(chain, actors, make_tx) -> None:
    chain.execute_and_commit([make_tx(actors.alice, 0, KvPut(namespace=NS, key=KEY, value=b"v1"))])
    out = chain.execute([make_tx(actors.bob, 0, KvPut(namespace=NS, key=KEY, value=b"stolen"))])
    assert out.receipts[0].code == ResultCode.NOT_OWNER
    assert out.writes == {account_key(actors.bob.address): encode(Account(balance=0, nonce=1))}


def test_kv_same_key_in_another_namespace_is_a_different_record(chain, actors, make_tx) -> None:
    chain.execute_and_commit([make_tx(actors.alice, 0, KvPut(namespace=NS, key=KEY, value=b"v1"))])
    executed = chain.execute_and_commit([make_tx(actors.bob, 0, KvPut(namespace="other", key=KEY, value=b"b"))])
    assert executed.output.receipts[0].code == ResultCode.OK
    assert chain.kv_record("other", KEY) == KvRecord(owner=actors.bob.address, value=b"b")


def test_kv_delete_by_the_owner_removes_the_record(chain, actors, make_tx) -> None:
    alice = actors.alice
    chain.execute_and_commit([make_tx(alice, 0, KvPut(namespace=NS, key=KEY, value=b"v1"))])
    executed = chain.execute_and_commit([make_tx(alice, 1, KvDelete(namespace=NS, key=KEY))])
    assert executed.output.receipts[0].code == ResultCode.OK
    assert executed.output.writes[kv_key(NS, KEY)] is None
    assert chain.kv_record(NS, KEY) is None


def test_kv_delete_by_a_non_owner_fails_and_leaves_the_record(chain, actors, make_tx) -> None:
    chain.execute_and_commit([make_tx(actors.alice, 0, KvPut(namespace=NS, key=KEY, value=b"v1"))])
    out = chain.execute([make_tx(actors.bob, 0, KvDelete(namespace=NS, key=KEY))])
    assert out.receipts[0].code == ResultCode.NOT_OWNER
    assert kv_key(NS, KEY) not in out.writes


def test_kv_delete_of_a_missing_record_fails_not_found(chain, actors, make_tx) -> None:
    out = chain.execute([make_tx(actors.alice, 0, KvDelete(namespace=NS, key=KEY))])
    assert out.receipts[0].code == ResultCode.NOT_FOUND


def test_kv_record_deleted_by_its_owner_can_be_claimed_by_anyone(chain, actors, make_tx) -> None:
    alice, bob = actors.alice, actors.bob
    chain.execute_and_commit([make_tx(alice, 0, KvPut(namespace=NS, key=KEY, value=b"v1"))])
    chain.execute_and_commit([make_tx(alice, 1, KvDelete(namespace=NS, key=KEY))])
    executed = chain.execute_and_commit([make_tx(bob, 0, KvPut(namespace=NS, key=KEY, value=b"mine"))])
    assert executed.output.receipts[0].code == ResultCode.OK
    assert chain.kv_record(NS, KEY) == KvRecord(owner=bob.address, value=b"mine")


def test_kv_put_then_delete_in_one_block_leaves_no_record(chain, actors, make_tx) -> None:
    alice = actors.alice
    txs = [
        make_tx(alice, 0, KvPut(namespace=NS, key=KEY, value=b"v1")),
        make_tx(alice, 1, KvDelete(namespace=NS, key=KEY)),
    ]
    executed = chain.execute_and_commit(txs)
    assert [r.code for r in executed.output.receipts] == [ResultCode.OK, ResultCode.OK]
    assert chain.kv_record(NS, KEY) is None
