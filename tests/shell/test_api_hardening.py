"""The REST API under hostile or unlucky input: memory stays bounded, bodies are bounded in size and time,
storage failures are 5xx, a 202 means what the API promises, and the answers conform to the OpenAPI document."""

from __future__ import annotations

import gc
import random
from collections.abc import Iterator

import pytest

from trellis.abci import CheckedTx
from trellis.core.errors import InvalidTransaction
from trellis.core.ledger.tx import KvPut
from trellis.node.mempool import Mempool

from .conftest import Actors, AppChain, checked, make_signer, raw_tx


# -- memory: refusals are values that keep nothing alive ---------------------------------------------------------
@pytest.fixture
def no_cyclic_gc() -> Iterator[None]:
    """The cyclic collector off, as good as the node's rarely-running tuned one (``gc_tuning``)."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _live_refusals() -> int:
    return sum(1 for o in gc.get_objects() if isinstance(o, InvalidTransaction))


def _junk(n: int, seed: int) -> list[bytes]:
    rnd = random.Random(seed)
    return [rnd.randbytes(rnd.randrange(1, 300)) for _ in range(n)]


def _assert_detached(results: list[CheckedTx | InvalidTransaction]) -> None:
    for r in results:
        if isinstance(r, InvalidTransaction):
            assert r.__traceback__ is None and r.__cause__ is None and r.__context__ is None, r


def test_a_junk_batch_leaves_no_refusal_alive_once_its_answer_is_dropped(chain: AppChain, no_cyclic_gc: None) -> None:
    before = _live_refusals()
    for seed in range(3):
        results = chain.app.check_txs(_junk(2000, seed))
        assert all(isinstance(r, InvalidTransaction) for r in results)
        _assert_detached(results)
        del results
    assert _live_refusals() == before


def test_refusals_of_every_admission_rule_carry_no_traceback(chain: AppChain, actors: Actors) -> None:
    other_chain = raw_tx(make_signer("x"), 0, KvPut(namespace="n", key=b"k", value=b"v"), chain_id="elsewhere")
    forged = bytearray(raw_tx(actors.alice, 0, KvPut(namespace="n", key=b"k", value=b"v")))
    forged[-1] ^= 1
    good = raw_tx(actors.alice, 0, KvPut(namespace="n", key=b"k", value=b"v"))
    big = b"\x00" * (chain.app.params.limits.max_tx_bytes + 1)
    results = chain.app.check_txs([b"\x92junk", other_chain, bytes(forged), good, big], known={_hash_of(chain, good)})
    assert [r.code for r in results if isinstance(r, InvalidTransaction)] == [
        "malformed",
        "wrong_chain_id",
        "bad_signature",
        "duplicate",
        "too_large",
    ]
    _assert_detached(results)


def _hash_of(chain: AppChain, raw: bytes) -> bytes:
    return chain.app.check_tx(raw).hash


def test_mempool_refusals_of_a_batch_keep_nothing_alive(actors: Actors, no_cyclic_gc: None) -> None:
    pool = Mempool(lambda _a: 0, max_txs=10, max_bytes=1 << 20)
    txs = [checked(actors.alice, 0, KvPut(namespace="n", key=b"%d" % i, value=b"v")) for i in range(50)]
    before = _live_refusals()
    refusals = pool.add_many(txs)
    assert [r is None for r in refusals].count(True) == 1
    assert all(r is None or (r.__traceback__ is None and r.__context__ is None) for r in refusals)
    del refusals
    assert _live_refusals() == before
