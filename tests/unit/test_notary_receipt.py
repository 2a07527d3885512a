"""Notary receipts verify offline against the genesis alone; every broken receipt names the failed check."""

from __future__ import annotations

import msgspec
import pytest

from tests.notary_fixture import FILES, VECTOR_DIR, anchored_chain, receipt_with_changes, sign_commit, vector_files
from trellis.app.modules.notary import batches_by, receipt_for, record_of
from trellis.core.codec import decode, encode
from trellis.core.crypto.suite import ED25519
from trellis.core.ledger.block import Commit, Header, Receipt, ValidatorSet
from trellis.core.params import load_genesis
from trellis.notary.receipt import (
    ReceiptError,
    ReceiptV2,
    decode_receipt,
    receipt_from_binary,
    receipt_from_json,
    receipt_to_binary,
    receipt_to_json,
    set_changes_from_store,
    verify_receipt,
)


@pytest.fixture(scope="module")
def chain():
    return anchored_chain()


@pytest.fixture(scope="module")
def receipt(chain) -> ReceiptV2:
    r = receipt_for(chain, chain.params, ED25519.hash(FILES[1]))
    assert r is not None
    return r


def failed_check(data: bytes, params, file_digest: bytes | None = None) -> str:
    with pytest.raises(ReceiptError) as info:
        verify_receipt(decode_receipt(data), params, file_digest)
    return info.value.check


def test_receipt_verifies_with_the_file_and_names_height_time_and_metadata(chain, receipt) -> None:
    v = verify_receipt(receipt, chain.params, ED25519.hash(FILES[1]))
    assert (v.height, v.time_ms) == (1, chain.blocks[1].header.time_ms)
    assert (v.batch_index, v.batch_size, v.owner, v.ref) == (1, 4, "did:web:example.org", "case-42")


def test_json_and_binary_forms_round_trip(receipt) -> None:
    assert receipt_from_json(receipt_to_json(receipt)) == receipt
    assert receipt_from_binary(receipt_to_binary(receipt)) == receipt


def test_a_wrong_file_fails_file_digest(chain, receipt) -> None:
    assert failed_check(receipt_to_json(receipt), chain.params, ED25519.hash(b"another file")) == "file_digest"


def test_a_receipt_from_another_chain_fails_wrong_chain(chain) -> None:
    other = anchored_chain("another-chain")
    r = receipt_for(other, other.params, ED25519.hash(FILES[0]))
    assert r is not None
    assert failed_check(receipt_to_binary(r), chain.params) == "wrong_chain"


def test_an_unknown_version_fails_unsupported_version(chain, receipt) -> None:
    data = receipt_to_json(receipt).replace(b'"version": 2', b'"version": 1')
    assert failed_check(data, chain.params) == "unsupported_version"
    assert failed_check((VECTOR_DIR / "v1-file0.receipt.json").read_bytes(), chain.params) == "unsupported_version"
    assert failed_check(receipt_to_binary(msgspec.structs.replace(receipt, version=7)), chain.params) == (
        "unsupported_version"
    )


def test_an_unknown_digest_algorithm_fails_unsupported_digest_algorithm(chain, receipt) -> None:
    r = msgspec.structs.replace(receipt, digest_alg="md5")
    assert failed_check(receipt_to_json(r), chain.params) == "unsupported_digest_algorithm"


def test_a_foreign_validator_set_fails_validator_set(chain, receipt) -> None:
    other = anchored_chain("x")
    r = msgspec.structs.replace(receipt, validators=encode(other.params.validators)[:-1] + b"\x02")
    assert failed_check(receipt_to_binary(r), chain.params) in ("validator_set",)


def test_a_failed_anchoring_fails_tx_result(chain, receipt) -> None:
    res = chain.results[1][1]
    failed = Receipt(tx_hash=res.tx_hash, code=24, message="duplicate", events=[])
    r = msgspec.structs.replace(receipt, result=encode(failed))
    assert failed_check(receipt_to_binary(r), chain.params) == "tx_result"


def test_a_non_canonical_json_rendering_is_malformed(chain, receipt) -> None:
    data = receipt_to_json(receipt).replace(b"\n  ", b"\n   ", 1)
    assert failed_check(data, chain.params) == "malformed"


def test_oversized_and_truncated_receipts_are_malformed(chain, receipt) -> None:
    assert failed_check(b"{" + b" " * (2 * 1024 * 1024), chain.params) == "malformed"
    assert failed_check(receipt_to_binary(receipt)[:-5], chain.params) == "malformed"
    assert failed_check(receipt_to_json(receipt)[:100], chain.params) == "malformed"


def test_record_lookup_names_first_anchoring_and_owner_and_ref_indexes_find_the_batch(chain) -> None:
    view = record_of(chain, ED25519.hash(FILES[2]))
    assert view is not None and view.record.height == 1 and view.record.index == 2
    assert view.batch.owner == "did:web:example.org"
    assert [b.ref for b in batches_by(chain, chain.params, "owner", "did:web:example.org", 10)] == ["case-42"]
    assert len(batches_by(chain, chain.params, "ref", "case-42", 10)) == 1
    assert batches_by(chain, chain.params, "ref", "nope", 10) == []


def test_vectors_are_current_and_verify_against_their_genesis() -> None:
    files = vector_files()
    for name, data in files.items():
        assert (VECTOR_DIR / name).read_bytes() == data, f"{name} is stale: python -m tests.notary_fixture"
    params = load_genesis(files["genesis.json"])
    for i in range(len(FILES)):
        for form in ("json", "msgpack"):
            r = decode_receipt(files[f"file{i}.receipt.{form}"])
            assert verify_receipt(r, params, ED25519.hash(files[f"file{i}.bin"])).height == 1
    assert failed_check(files["other-chain.receipt.json"], params) == "wrong_chain"
    changed = load_genesis(files["set-change.genesis.json"])
    for form in ("json", "msgpack"):
        r = decode_receipt(files[f"set-change.receipt.{form}"])
        assert len(r.set_changes) == 1
        assert verify_receipt(r, changed, ED25519.hash(FILES[1])).height == 4
    assert failed_check((VECTOR_DIR / "v1-file0.receipt.json").read_bytes(), params) == "unsupported_version"


# -- version 2: a receipt after a validator-set change (ADR 0014) --------------------------------------------
@pytest.fixture(scope="module")
def changed():
    return anchored_chain(set_change=True)


@pytest.fixture(scope="module")
def changed_receipt(changed):
    return receipt_with_changes(changed, ED25519.hash(FILES[1]))


def test_a_receipt_after_a_set_change_verifies_with_the_genesis_and_the_change(changed, changed_receipt) -> None:
    r = changed_receipt
    assert decode(r.validators, ValidatorSet) == changed.sets_at(4)
    assert decode(r.set_changes[0].header, Header).height == 3
    assert verify_receipt(receipt_from_json(receipt_to_json(r)), changed.params).height == 4


def test_leaving_the_change_out_fails(changed, changed_receipt) -> None:
    r = msgspec.structs.replace(changed_receipt, set_changes=[])
    assert failed_check(receipt_to_binary(r), changed.params) == "validator_set"
    genesis_set = encode(changed.sets_at(1))
    r = msgspec.structs.replace(r, validators=genesis_set)
    assert failed_check(receipt_to_binary(r), changed.params) == "commit_certificate"


def test_an_altered_or_unsigned_change_fails_validator_changes(changed, changed_receipt) -> None:
    c = changed_receipt.set_changes[0]
    altered = msgspec.structs.replace(c, next_validators=encode(changed.sets_at(1)))
    r = msgspec.structs.replace(changed_receipt, set_changes=[altered], validators=encode(changed.sets_at(1)))
    assert failed_check(receipt_to_binary(r), changed.params) == "validator_changes"
    unsigned = msgspec.structs.replace(
        c, commit=encode(msgspec.structs.replace(decode(c.commit, Commit), signatures=[]))
    )
    r = msgspec.structs.replace(changed_receipt, set_changes=[unsigned])
    assert failed_check(receipt_to_binary(r), changed.params) == "validator_changes"
    r = msgspec.structs.replace(changed_receipt, set_changes=[c, c])
    assert failed_check(receipt_to_binary(r), changed.params) == "validator_changes"
    r = msgspec.structs.replace(changed_receipt, set_changes=[msgspec.structs.replace(c, header=c.header + b"\x00")])
    assert failed_check(receipt_to_binary(r), changed.params) == "validator_changes"


def test_too_little_of_the_new_sets_power_fails_commit_certificate(changed, changed_receipt) -> None:
    block = changed.blocks[4]
    old = sign_commit(changed.params, block, 4)  # validator-0..3: 4 of 5, but the header names the new set
    r = msgspec.structs.replace(changed_receipt, commit=encode(old))
    assert verify_receipt(r, changed.params).height == 4  # 4 of 5 is more than 2/3 of the new set
    three = sign_commit(changed.params, block, 3)  # 3 of 5
    r = msgspec.structs.replace(changed_receipt, commit=encode(three))
    assert failed_check(receipt_to_binary(r), changed.params) == "commit_certificate"


def test_verify_receipt_itself_refuses_another_version(chain, receipt) -> None:
    with pytest.raises(ReceiptError) as info:
        verify_receipt(msgspec.structs.replace(receipt, version=1), chain.params)
    assert info.value.check == "unsupported_version"


def test_set_changes_from_store_are_ascending(changed) -> None:
    # Two more entries on top of the real one (effective 4): 6 and 9, with blocks 5 and 8 faked from block 3.
    from trellis.core.modules.validators.state import META_KEY, ValidatorSetEntry, ValidatorsMeta, set_key

    st = dict(changed.st.state)
    s4, s1 = changed.sets_at(4), changed.sets_at(1)
    s3 = msgspec.structs.replace(s4, validators=s4.validators[:3])
    for e, prev, vs in ((6, 4, s1), (9, 6, s3)):
        entry = ValidatorSetEntry(effective_height=e, previous=prev, validators=vs, orgs=[""] * len(vs.validators))
        st[set_key(e)] = encode(entry)
    st[META_KEY] = encode(ValidatorsMeta(version=3, latest=9))
    blocks = {**changed.blocks, 5: changed.blocks[3], 8: changed.blocks[3]}

    class Store:
        get = staticmethod(st.get)
        block = staticmethod(blocks.get)
        commit = staticmethod(lambda h: changed.commits.get(3 if h in (5, 8) else h))

    got = set_changes_from_store(Store(), 9)
    assert got is not None and len(got) == 3
    assert [c.header.height for c in got] == [3, 3, 3]  # blocks 5 and 8 are block 3's copies
    assert [c.next_validators for c in got] == [s4, s1, s3]
    assert len(set_changes_from_store(Store(), 8) or []) == 2
    assert set_changes_from_store(Store(), 6) == got[:2]


def test_set_changes_from_store_names_header_e_minus_1_and_stops_at_the_height(changed) -> None:
    assert set_changes_from_store(changed, 3) == []
    [ch] = set_changes_from_store(changed, 4)
    assert ch.header == changed.blocks[3].header and ch.next_validators == changed.sets_at(4)


def test_on_an_sm_chain_receipts_use_sm3_and_verify_against_the_sm_genesis() -> None:
    from trellis.core.crypto.suite import SM

    sm = anchored_chain("notary-sm", suite="sm")
    r = receipt_for(sm, sm.params, SM.hash(FILES[3]))
    assert r is not None and r.digest_alg == "sm3"
    v = verify_receipt(receipt_from_json(receipt_to_json(r)), sm.params, SM.hash(FILES[3]))
    assert v.batch_index == 3
    assert failed_check(receipt_to_binary(r), sm.params, ED25519.hash(FILES[3])) == "file_digest"
    assert failed_check(receipt_to_binary(r), anchored_chain().params) == "wrong_chain"
