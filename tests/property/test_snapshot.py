"""State snapshots (ADR 0018 section 2, docs/spec/snapshot.md): over random states, a snapshot's manifest and
chunks verify against the state root and restore the very same state; any tampering with the manifest or a
chunk is refused."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trellis.core.codec import decode, encode
from trellis.core.crypto.suite import ED25519
from trellis.core.errors import DecodeError
from trellis.core.ledger import snapshot as snap
from trellis.core.ledger.block import Block, Commit, Header
from trellis.core.ledger.snapshot import (
    Chunk,
    Manifest,
    ManifestIndex,
    SnapshotError,
    SnapshotItem,
    verify_chunk,
    verify_manifest,
    verify_total,
)
from trellis.core.ledger.state_tree import apply_updates, prove, root_from_state_proof
from trellis.core.types import ZERO_HASH
from trellis.storage.chain_store import ChainStore
from trellis.storage.kv import MemoryStore
from trellis.storage.snapshots import RestoredChain, build_snapshot, restore

SUITE = ED25519
SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
STATES = st.dictionaries(
    st.binary(min_size=1, max_size=24), st.binary(min_size=0, max_size=40), min_size=0, max_size=160
)


def _store_state(state: dict[bytes, bytes]) -> tuple[MemoryStore, bytes]:
    kv = MemoryStore()
    store = ChainStore(kv)
    up = apply_updates(SUITE, store, ZERO_HASH, dict(state))
    kv.write_tables({"state": dict(state), "smt_nodes": up.nodes})
    return kv, up.root


def _snapshot(state: dict[bytes, bytes], target: int) -> tuple[bytes, bytes, Manifest, list[bytes], Path]:
    kv, root = _store_state(state)
    work = Path(tempfile.mkdtemp())
    with kv.read_view(("state", "smt_nodes")) as view:
        build_snapshot(SUITE, "chain-x", view, 7, root, work, chunk_target=target)
    enc = (work / "manifest").read_bytes()
    m = decode(enc, Manifest)
    chunks = [(work / f"chunk-{i}").read_bytes() for i in range(m.chunk_count)]
    return root, enc, m, chunks, work


@pytest.fixture(params=[4096, 2], ids=["spec-frontier", "deep-frontier"])
def frontier(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> int:
    """The spec's frontier (depth 1 for these sizes), and a deep one (FRONTIER_KEYS = 2: items at depths 1-8 and
    leaves above the frontier)."""
    monkeypatch.setattr(snap, "FRONTIER_KEYS", request.param)
    return int(request.param)


@SETTINGS
@given(state=STATES, target=st.sampled_from([1, 200, 1 << 20]))
def test_snapshot_verifies_and_restores_the_same_state(frontier: int, state: dict[bytes, bytes], target: int) -> None:
    root, _enc, m, chunks, _ = _snapshot(state, target)
    assert m.total_entries == len(state) and m.depth == snap.frontier_depth(len(state))
    upper = verify_manifest(SUITE, m, "chain-x", 7, root)
    index = ManifestIndex(m)
    entries: dict[bytes, bytes] = {}
    for i, raw in enumerate(chunks):
        chunk = decode(raw, Chunk)  # the producer writes canonical encodings
        verify_chunk(SUITE, index, chunk, i)
        entries.update(chunk.entries)
    assert entries == state
    # Restore into an empty store: every key proves against the root from the restored nodes alone.
    kv2 = MemoryStore()
    files = []
    tmp = Path(tempfile.mkdtemp())
    for i, raw in enumerate(chunks):
        (tmp / f"c{i}").write_bytes(raw)
        files.append(tmp / f"c{i}")
    chain = RestoredChain(block=_block(root), block_id=b"b" * 32, commit=_commit(), set_change_blocks=[])
    restore(kv2, SUITE, b"g" * 32, m, upper, files, chain)
    restored = ChainStore(kv2)
    assert dict(kv2.scan("state", b"\x00", b"\xff" * 512, limit=10**6)) == state
    assert restored.state_root_at(7) == root
    assert restored.tip() is not None and restored.tip().height == 7  # type: ignore[union-attr]
    for key, value in list(state.items())[:20]:
        assert root_from_state_proof(SUITE, key, value, prove(SUITE, restored, root, key, 7)) == root
    assert root_from_state_proof(SUITE, b"absent-key", None, prove(SUITE, restored, root, b"absent-key", 7)) == root
    born = kv2.scan("smt_born", b"\x00", b"\xff" * 64, limit=10**6)
    nodes = kv2.scan("smt_nodes", b"\x00", b"\xff" * 64, limit=10**6)
    assert len(born) == len(nodes) and all(k[32:] == (7).to_bytes(8, "big") for k, _ in born)


def _block(root: bytes) -> Block:
    z = bytes(32)
    header = Header(
        chain_id="chain-x",
        height=7,
        time_ms=1000,
        parent_hash=z,
        tx_root=z,
        results_root=z,
        state_root=root,
        tx_count=0,
        proposer=bytes(20),
        validators_hash=z,
        next_validators_hash=z,
    )
    return Block(header=header, txs=[])


def _commit() -> Commit:
    return Commit(height=7, round=0, block_hash=b"b" * 32, signatures=[])


def _refused_manifest(enc: bytes, root: bytes, chunks: list[bytes]) -> bool:
    """Whether the snapshot of manifest ``enc`` and the (good) ``chunks`` is refused: the manifest's own checks, or
    those of a chunk against it, or the entries' total."""
    try:
        m = decode(enc, Manifest)
        verify_manifest(SUITE, m, "chain-x", 7, root)
        index = ManifestIndex(m)
        total = 0
        for i, raw in enumerate(chunks):
            chunk = decode(raw, Chunk)
            verify_chunk(SUITE, index, chunk, i)
            total += len(chunk.entries)
        if len(chunks) != m.chunk_count:
            return True
        verify_total(m, total)
    except (DecodeError, SnapshotError):
        return True
    return False


def _refused_chunk(m: Manifest, raw: bytes, i: int) -> bool:
    try:
        verify_chunk(SUITE, ManifestIndex(m), decode(raw, Chunk), i)
    except (DecodeError, SnapshotError):
        return True
    return False


NONEMPTY = st.dictionaries(
    st.binary(min_size=1, max_size=24), st.binary(min_size=0, max_size=40), min_size=1, max_size=120
)


@SETTINGS
@given(state=NONEMPTY, data=st.data())
def test_any_byte_of_the_manifest_changed_is_refused(
    frontier: int, state: dict[bytes, bytes], data: st.DataObject
) -> None:
    root, enc, _m, chunks, _ = _snapshot(state, 300)
    assert not _refused_manifest(enc, root, chunks)
    pos = data.draw(st.integers(0, len(enc) - 1))
    flip = data.draw(st.integers(1, 255))
    bad = enc[:pos] + bytes((enc[pos] ^ flip,)) + enc[pos + 1 :]
    assert _refused_manifest(bad, root, chunks)


@SETTINGS
@given(state=NONEMPTY, data=st.data())
def test_any_byte_of_a_chunk_changed_is_refused(frontier: int, state: dict[bytes, bytes], data: st.DataObject) -> None:
    _root, _, m, chunks, _ = _snapshot(state, 300)
    i = data.draw(st.integers(0, len(chunks) - 1))
    raw = chunks[i]
    pos = data.draw(st.integers(0, len(raw) - 1))
    flip = data.draw(st.integers(1, 255))
    bad = raw[:pos] + bytes((raw[pos] ^ flip,)) + raw[pos + 1 :]
    assert _refused_chunk(m, bad, i)
    # The right chunk under another index is refused too.
    if len(chunks) > 1:
        assert _refused_chunk(m, raw, (i + 1) % len(chunks))


@SETTINGS
@given(state=NONEMPTY, data=st.data())
def test_structured_chunk_tampering_is_refused(frontier: int, state: dict[bytes, bytes], data: st.DataObject) -> None:
    _root, _, m, chunks, _ = _snapshot(state, 300)
    i = data.draw(st.integers(0, len(chunks) - 1))
    chunk = decode(chunks[i], Chunk)
    entries = list(chunk.entries)
    j = data.draw(st.integers(0, len(entries) - 1))
    how = data.draw(st.sampled_from(["drop", "add", "value", "dup", "swap"]))
    if how == "drop":
        del entries[j]
    elif how == "add":
        entries.append((b"extra-key-" + bytes([j % 256]), b"v"))
        entries.sort(key=lambda e: SUITE.tagged_hash(b"trellis/state/key", e[0]))
    elif how == "value":
        entries[j] = (entries[j][0], entries[j][1] + b"!")
    elif how == "dup":
        entries.insert(j, entries[j])
    elif len(entries) > 1:
        entries[0], entries[-1] = entries[-1], entries[0]
    else:
        entries = []
    bad = encode(Chunk(version=chunk.version, height=chunk.height, index=chunk.index, entries=entries))
    assert _refused_chunk(m, bad, i)


@SETTINGS
@given(state=NONEMPTY, data=st.data())
def test_structured_manifest_tampering_is_refused(
    frontier: int, state: dict[bytes, bytes], data: st.DataObject
) -> None:
    root, _, m, chunks, _ = _snapshot(state, 300)
    items = list(m.items)
    j = data.draw(st.integers(0, len(items) - 1))
    how = data.draw(st.sampled_from(["drop", "hash", "dup", "depth", "root", "height", "chain", "chunks", "total"]))
    fields = {f: getattr(m, f) for f in Manifest.__struct_fields__}
    it = items[j]
    if how == "drop":
        del items[j]
    elif how == "hash":
        items[j] = SnapshotItem(depth=it.depth, prefix=it.prefix, hash=bytes(32), chunk=it.chunk)
    elif how == "dup":
        items.insert(j, it)
    elif how == "depth":
        fields["depth"] = m.depth + 1
    elif how == "root":
        fields["state_root"] = bytes(32)
    elif how == "height":
        fields["height"] = 8
    elif how == "chain":
        fields["chain_id"] = "chain-y"
    elif how == "total":
        fields["total_entries"] = m.total_entries + 1
    else:
        fields["chunk_count"] = m.chunk_count + 1
    fields["items"] = items
    assert _refused_manifest(encode(Manifest(**fields)), root, chunks)
