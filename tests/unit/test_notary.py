"""The notary module's rules: batches anchor digests under a Merkle root, first anchoring wins, bad batches fail
with precise receipt codes and change nothing."""

from __future__ import annotations

import hashlib

from trellis.core.codec import decode
from trellis.core.crypto.merkle import verify_merkle_proof
from trellis.core.crypto.suite import ED25519
from trellis.core.execution import ResultCode
from trellis.core.modules.notary.messages import MAX_ANCHOR_DIGESTS, NotaryAnchor
from trellis.core.modules.notary.state import (
    LEAF_PREFIX,
    OWNER_PREFIX,
    REF_PREFIX,
    NotaryBatch,
    batch_key,
    batch_proof,
    batch_root,
    index_prefix,
    read_record,
    record_key,
)


def digests(n: int, salt: str = "") -> list[bytes]:
    return [hashlib.sha256(f"{salt}record-{i}".encode()).digest() for i in range(n)]


def anchor(chain, make_tx, key, nonce, msg):
    executed = chain.execute_and_commit([make_tx(key, nonce, msg)])
    return executed, executed.output.receipts[0]


def test_anchor_stores_the_batch_root_and_metadata(chain, actors, make_tx) -> None:
    ds = digests(5)
    msg = NotaryAnchor(digests=ds, record_type="invoice", owner="did:trellis:x:abc", ref="case-7")
    executed, receipt = anchor(chain, make_tx, actors.alice, 0, msg)
    assert receipt.code == ResultCode.OK, receipt.message
    raw = chain.get(batch_key(actors.alice.address, 0))
    assert raw is not None
    batch = decode(raw, NotaryBatch)
    assert batch.root == batch_root(ED25519, ds) and batch.size == 5
    assert (batch.record_type, batch.owner, batch.ref) == ("invoice", "did:trellis:x:abc", "case-7")
    assert batch.height == executed.block.header.height and batch.time_ms == executed.block.header.time_ms


def test_each_digest_gets_a_first_anchoring_record(chain, actors, make_tx) -> None:
    ds = digests(3)
    executed, _ = anchor(chain, make_tx, actors.alice, 0, NotaryAnchor(digests=ds))
    for i, d in enumerate(ds):
        rec = read_record(chain, d)
        assert rec is not None and rec.index == i and rec.sender == actors.alice.address
        assert rec.height == executed.block.header.height


def test_re_anchoring_keeps_the_first_record(chain, actors, make_tx) -> None:
    ds = digests(2)
    first, _ = anchor(chain, make_tx, actors.alice, 0, NotaryAnchor(digests=ds))
    _, receipt = anchor(chain, make_tx, actors.bob, 0, NotaryAnchor(digests=[ds[1], *digests(1, "b")]))
    assert receipt.code == ResultCode.OK
    rec = read_record(chain, ds[1])
    assert rec is not None and rec.sender == actors.alice.address and rec.height == first.block.header.height


def test_empty_batch_fails_with_empty_batch(chain, actors, make_tx) -> None:
    _, receipt = anchor(chain, make_tx, actors.alice, 0, NotaryAnchor(digests=[]))
    assert receipt.code == ResultCode.EMPTY_BATCH
    assert chain.get(batch_key(actors.alice.address, 0)) is None


def test_too_many_digests_fails_with_too_many_digests(chain, actors, make_tx) -> None:
    ds = digests(MAX_ANCHOR_DIGESTS + 1)
    _, receipt = anchor(chain, make_tx, actors.alice, 0, NotaryAnchor(digests=ds))
    assert receipt.code == ResultCode.TOO_MANY_DIGESTS
    assert read_record(chain, ds[0]) is None


def test_duplicate_digest_in_a_batch_fails_and_names_both_indexes(chain, actors, make_tx) -> None:
    ds = digests(4)
    _, receipt = anchor(chain, make_tx, actors.alice, 0, NotaryAnchor(digests=[*ds, ds[1]]))
    assert receipt.code == ResultCode.DUPLICATE_DIGEST
    assert "indexes 1 and 4" in receipt.message
    assert chain.get(record_key(ds[0])) is None


def test_owner_that_is_not_a_did_fails_with_invalid_did(chain, actors, make_tx) -> None:
    _, receipt = anchor(chain, make_tx, actors.alice, 0, NotaryAnchor(digests=digests(1), owner="alice"))
    assert receipt.code == ResultCode.INVALID_DID


def test_owner_and_reference_indexes_get_one_entry_per_batch(chain, actors, make_tx) -> None:
    anchor(chain, make_tx, actors.alice, 0, NotaryAnchor(digests=digests(3), owner="did:web:a", ref="r1"))
    anchor(chain, make_tx, actors.alice, 1, NotaryAnchor(digests=digests(3, "x"), owner="did:web:a"))
    p = index_prefix(ED25519, OWNER_PREFIX, "did:web:a")
    assert len(chain.scan(p, p + b"\xff" * 40, 100)) == 2
    r = index_prefix(ED25519, REF_PREFIX, "r1")
    assert len(chain.scan(r, r + b"\xff" * 40, 100)) == 1


def test_batch_proofs_verify_against_the_root_for_every_size() -> None:
    for n in (1, 2, 3, 5, 8, 13):
        ds = digests(n)
        root = batch_root(ED25519, ds)
        for i, d in enumerate(ds):
            verify_merkle_proof(ED25519, LEAF_PREFIX + d, batch_proof(ED25519, ds, i), root, size=n)
