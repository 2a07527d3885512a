"""Batch signature verification: the worker pool agrees with in-process verification, admission checks whole
batches, and a transaction verified at admission is not verified again when its block arrives."""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence

import pytest

from trellis.app.application import TrellisApp
from trellis.core.codec import encode
from trellis.core.crypto.batch import SuiteVerifier
from trellis.core.crypto.suite import ED25519, address_of
from trellis.core.errors import InvalidBlock, InvalidTransaction
from trellis.core.ledger.tx import SignedTx, TxBody, sign_tx, tx_hash
from trellis.core.modules.kv.messages import KvPut
from trellis.core.params import Genesis, GenesisValidator, params_from_genesis
from trellis.keys.signer import MemorySigner
from trellis.node.verifier import CpuPoolVerifier, TrustingVerifier, measure_ceiling
from trellis.storage.chain_store import ChainStore
from trellis.storage.kv import MemoryStore

VAL = MemorySigner(b"\x07" * 32)
PARAMS = params_from_genesis(
    Genesis(
        chain_id="verify-test",
        genesis_time_ms=1,
        validators=[GenesisValidator(name="v", public_key=VAL.public_key.hex())],
        mint_authority=address_of(ED25519, VAL.public_key).hex(),
    )
)


@pytest.fixture(scope="module")
def pool() -> Iterator[CpuPoolVerifier]:
    p = CpuPoolVerifier(ED25519, 2, min_parallel=8)
    try:
        yield p
    finally:
        p.close()


def _items(n: int, bad: set[int]) -> list[tuple[bytes, bytes, bytes]]:
    out = []
    for i in range(n):
        s = MemorySigner(i.to_bytes(4, "big") * 8)
        msg = b"message %d" % i
        sig = s.sign(msg)
        if i in bad:
            sig = bytes([sig[0] ^ 1]) + sig[1:]
        out.append((s.public_key, msg, sig))
    return out


def test_the_worker_pool_agrees_with_in_process_verification(pool: CpuPoolVerifier) -> None:
    rng = random.Random(5)
    items = _items(301, {rng.randrange(301) for _ in range(40)})
    assert pool.verify_batch(items) == SuiteVerifier(ED25519).verify_batch(items)


def test_malformed_keys_and_signatures_fail_without_breaking_the_pool(pool: CpuPoolVerifier) -> None:
    items = _items(20, set())
    items[3] = (b"\xff" * 32, items[3][1], items[3][2])
    items[5] = (items[5][0], items[5][1], b"\x00" * 64)
    items[7] = (b"short", items[7][1], items[7][2])
    res = pool.verify_batch(items)
    assert [i for i, ok in enumerate(res) if not ok] == [3, 5, 7]
    assert all(pool.verify_batch(_items(50, set())))


def test_batches_larger_than_the_first_shared_memory_segment_grow_it(pool: CpuPoolVerifier) -> None:
    s = MemorySigner(b"\x01" * 32)
    big = b"x" * 40_000
    items = [(s.public_key, big + bytes([i]), s.sign(big + bytes([i]))) for i in range(64)]
    assert all(pool.verify_batch(items))


def test_the_ceiling_measurement_reports_a_positive_rate(pool: CpuPoolVerifier) -> None:
    assert measure_ceiling(pool, ED25519, seconds=0.2, batch=256) > 0


class CountingVerifier:
    name = "counting"
    checks_signatures = True

    def __init__(self) -> None:
        self.seen = 0

    def verify_batch(self, items: Sequence[tuple[bytes, bytes, bytes]]) -> list[bool]:
        self.seen += len(items)
        return ED25519.verify_many(items)


def _tx(i: int) -> SignedTx:
    s = MemorySigner(i.to_bytes(4, "big") * 8)
    body = TxBody(
        chain_id="verify-test", sender=s.public_key, nonce=0, payload=KvPut(namespace="n", key=b"k%d" % i, value=b"v")
    )
    return sign_tx(body, s.sign)


def test_admission_checks_a_batch_and_names_each_failure() -> None:
    counting = CountingVerifier()
    app = TrellisApp(PARAMS, ChainStore(MemoryStore()), verifier=counting)
    good = [encode(_tx(i)) for i in range(5)]
    forged = _tx(9)
    forged = SignedTx(body=forged.body, signature=bytes([forged.signature[0] ^ 1]) + forged.signature[1:])
    res = app.check_txs([good[0], b"\x00garbage", encode(forged), *good[1:]])
    assert [type(r).__name__ for r in res] == ["CheckedTx", "InvalidTransaction", "InvalidTransaction"] + [
        "CheckedTx"
    ] * 4
    assert isinstance(res[1], InvalidTransaction) and res[1].code == "malformed"
    assert isinstance(res[2], InvalidTransaction) and res[2].code == "bad_signature"
    assert counting.seen == 6  # one batch: every decodable transaction, nothing twice


def test_a_transaction_verified_at_admission_is_not_verified_again_in_its_block() -> None:
    proposer = TrellisApp(PARAMS, ChainStore(MemoryStore()))
    counting = CountingVerifier()
    follower = TrellisApp(PARAMS, ChainStore(MemoryStore()), verifier=counting)
    checked = proposer.check_txs([encode(_tx(i)) for i in range(6)])
    executed = proposer.prepare_proposal(checked, 10, address_of(ED25519, VAL.public_key))  # type: ignore[arg-type]
    admitted = {c.hash for c in checked[:4]}  # the follower's mempool held four of the six
    follower.process_proposal(executed.block, admitted)
    assert counting.seen == 2


def test_a_forged_signature_in_a_proposed_block_is_caught_by_the_batch_check() -> None:
    proposer = TrellisApp(PARAMS, ChainStore(MemoryStore()))
    txs = [_tx(i) for i in range(3)]
    raws = [encode(t) for t in txs]
    checked = proposer.check_txs(raws)
    executed = proposer.prepare_proposal(checked, 10, address_of(ED25519, VAL.public_key))  # type: ignore[arg-type]
    forged_tx = SignedTx(body=txs[1].body, signature=bytes(64))
    block = executed.block
    forged = type(block)(header=block.header, txs=[block.txs[0], forged_tx, block.txs[2]])
    follower = TrellisApp(PARAMS, ChainStore(MemoryStore()))
    with pytest.raises(InvalidBlock) as err:
        follower.process_proposal(forged)
    assert err.value.code == "bad_signature"


def test_the_bench_only_trusting_verifier_admits_a_forged_signature_and_gets_no_signing_bytes() -> None:
    class RecordingTrust(TrustingVerifier):
        def __init__(self) -> None:
            self.items: list[tuple[bytes, bytes, bytes]] = []

        def verify_batch(self, items: Sequence[tuple[bytes, bytes, bytes]]) -> list[bool]:
            self.items.extend(items)
            return super().verify_batch(items)

    trusting = RecordingTrust()
    app = TrellisApp(PARAMS, ChainStore(MemoryStore()), verifier=trusting)
    forged = _tx(3)
    forged = SignedTx(body=forged.body, signature=bytes([forged.signature[0] ^ 1]) + forged.signature[1:])
    (res,) = app.check_txs([encode(forged)])
    assert not isinstance(res, InvalidTransaction)
    assert trusting.items == [(b"", b"", b"")]  # nothing built for a check that is not made
    (refused,) = TrellisApp(PARAMS, ChainStore(MemoryStore())).check_txs([encode(forged)])
    assert isinstance(refused, InvalidTransaction) and refused.code == "bad_signature"


def test_admission_given_the_hashes_of_a_batch_checks_it_as_when_it_hashes_them_itself() -> None:
    app = TrellisApp(PARAMS, ChainStore(MemoryStore()))
    raws = [encode(_tx(i)) for i in range(4)] + [b"\x00garbage"]
    hashes = [tx_hash(ED25519, r) for r in raws]
    with_hashes = app.check_txs(raws, (), hashes)
    assert [type(r) for r in with_hashes] == [type(r) for r in app.check_txs(raws)]
    assert [r.hash for r in with_hashes if not isinstance(r, InvalidTransaction)] == hashes[:4]
