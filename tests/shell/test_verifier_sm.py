"""The node's batch verifier follows the chain's suite: on an sm chain its worker processes verify SM2, agree
with in-process verification, and refuse Ed25519 signatures."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from trellis.app.application import TrellisApp
from trellis.core.codec import encode
from trellis.core.crypto.batch import SuiteVerifier
from trellis.core.crypto.suite import ED25519, SM, address_of
from trellis.core.errors import InvalidTransaction
from trellis.core.ledger.tx import SignedTx, TxBody, sign_tx
from trellis.core.modules.kv.messages import KvPut
from trellis.core.params import Genesis, GenesisValidator, params_from_genesis
from trellis.keys.signer import MemorySigner
from trellis.node.verifier import CpuPoolVerifier, measure_ceiling
from trellis.storage.chain_store import ChainStore
from trellis.storage.kv import MemoryStore

VAL = MemorySigner(b"\x07" * 32, SM)
PARAMS = params_from_genesis(
    Genesis(
        chain_id="verify-sm",
        genesis_time_ms=1,
        suite="sm",
        validators=[GenesisValidator(name="v", public_key=VAL.public_key.hex())],
        mint_authority=address_of(SM, VAL.public_key).hex(),
    )
)


@pytest.fixture(scope="module")
def pool() -> Iterator[CpuPoolVerifier]:
    p = CpuPoolVerifier(SM, 2, min_parallel=8)
    try:
        yield p
    finally:
        p.close()


def _items(n: int, bad: set[int]) -> list[tuple[bytes, bytes, bytes]]:
    out = []
    for i in range(n):
        s = MemorySigner((i + 1).to_bytes(4, "big") * 8, SM)
        msg = b"message %d" % i
        sig = s.sign(msg)
        if i in bad:
            sig = bytes([sig[0] ^ 1]) + sig[1:]
        out.append((s.public_key, msg, sig))
    return out


def test_the_pool_of_an_sm_chain_is_named_for_the_sm_suite(pool: CpuPoolVerifier) -> None:
    assert pool.name.startswith("cpu-pool-sm")


def test_the_sm_worker_pool_agrees_with_in_process_verification(pool: CpuPoolVerifier) -> None:
    items = _items(40, {1, 17, 33})
    res = pool.verify_batch(items)
    assert res == SuiteVerifier(SM).verify_batch(items)
    assert [i for i, ok in enumerate(res) if not ok] == [1, 17, 33]


def test_the_sm_worker_pool_refuses_ed25519_signatures_and_malformed_keys(pool: CpuPoolVerifier) -> None:
    items = _items(12, set())
    ed = MemorySigner(b"\x05" * 32)
    items[2] = (ed.public_key, b"m", ed.sign(b"m"))
    items[4] = (b"\x04" + b"\x01" * 64, items[4][1], items[4][2])
    items[6] = (items[6][0], items[6][1], b"\xff" * 64)
    assert [i for i, ok in enumerate(pool.verify_batch(items)) if not ok] == [2, 4, 6]


def test_the_ed25519_worker_pool_refuses_sm2_signatures() -> None:
    ed_pool = CpuPoolVerifier(ED25519, 1, min_parallel=1)
    try:
        items = _items(8, set())
        assert ed_pool._verify_on_workers(items) == [False] * 8
    finally:
        ed_pool.close()


def test_the_ceiling_of_the_sm_suite_is_measured_with_sm2_signatures(pool: CpuPoolVerifier) -> None:
    assert measure_ceiling(pool, SM, seconds=0.2, batch=64) > 0


def _tx(signer: MemorySigner, i: int) -> SignedTx:
    body = TxBody(
        chain_id="verify-sm",
        sender=signer.public_key,
        nonce=0,
        payload=KvPut(namespace="n", key=b"k%d" % i, value=b"v"),
    )
    return sign_tx(body, signer.sign)


def test_admission_on_an_sm_chain_takes_sm2_and_refuses_ed25519_transactions(pool: CpuPoolVerifier) -> None:
    app = TrellisApp(PARAMS, ChainStore(MemoryStore()), verifier=pool)
    sm_txs = [encode(_tx(MemorySigner((i + 1).to_bytes(4, "big") * 8, SM), i)) for i in range(3)]
    ed_tx = encode(_tx(MemorySigner(b"\x09" * 32), 9))
    res = app.check_txs([*sm_txs, ed_tx])
    assert [type(r).__name__ for r in res] == ["CheckedTx"] * 3 + ["InvalidTransaction"]
    assert isinstance(res[3], InvalidTransaction) and res[3].code == "malformed"
