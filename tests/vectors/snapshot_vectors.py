"""Test vectors of state snapshots (docs/spec/snapshot.md): frontier depths, and snapshots of small states (their
manifests, ids and chunks), with tampered manifests and chunks and the check that refuses each.

The states are small, so their chunks are cut with a smaller chunk target than the spec's (``chunk_target`` in each
case; the rule is the same). Written by ``python -m tests.vectors.generate``; deterministic.
"""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path
from typing import Any

from trellis.core.codec import decode, encode
from trellis.core.crypto.suite import ED25519
from trellis.core.errors import DecodeError
from trellis.core.ledger.snapshot import (
    Chunk,
    Manifest,
    ManifestIndex,
    SnapshotError,
    SnapshotItem,
    frontier_depth,
    manifest_id,
    verify_chunk,
    verify_manifest,
)
from trellis.core.ledger.state_tree import apply_updates
from trellis.core.types import ZERO_HASH
from trellis.storage.chain_store import ChainStore
from trellis.storage.kv import MemoryStore
from trellis.storage.snapshots import build_snapshot

CHAIN_ID = "trellis-vectors"
HEIGHT = 12


def _hex(b: bytes) -> str:
    return "0x" + b.hex()


def _state(n: int, seed: str) -> dict[bytes, bytes]:
    out: dict[bytes, bytes] = {}
    for i in range(n):
        d = hashlib.sha256(f"{seed}/{i}".encode()).digest()
        out[b"account:" + d[:20]] = d[20 : 20 + (i % 12)] + bytes([i % 256])
    return out


def _snapshot(state: dict[bytes, bytes], target: int) -> tuple[bytes, bytes, list[bytes]]:
    kv = MemoryStore()
    up = apply_updates(ED25519, ChainStore(kv), ZERO_HASH, dict(state))
    kv.write_tables({"state": dict(state), "smt_nodes": up.nodes})
    work = Path(tempfile.mkdtemp())
    with kv.read_view(("state", "smt_nodes")) as view:
        build_snapshot(ED25519, CHAIN_ID, view, HEIGHT, up.root, work, chunk_target=target)
    enc = (work / "manifest").read_bytes()
    m = decode(enc, Manifest)
    return up.root, enc, [(work / f"chunk-{i}").read_bytes() for i in range(m.chunk_count)]


def _refusal_manifest(enc: bytes, root: bytes) -> str:
    try:
        verify_manifest(ED25519, decode(enc, Manifest), CHAIN_ID, HEIGHT, root)
    except DecodeError:
        return "malformed"
    except SnapshotError as exc:
        return exc.code
    raise AssertionError("a tampered manifest was accepted")


def _refusal_chunk(m: Manifest, raw: bytes, i: int) -> str:
    try:
        verify_chunk(ED25519, ManifestIndex(m), decode(raw, Chunk), i)
    except DecodeError:
        return "malformed"
    except SnapshotError as exc:
        return exc.code
    raise AssertionError("a tampered chunk was accepted")


def _case(name: str, n: int, target: int) -> dict[str, Any]:
    state = _state(n, name)
    root, enc, chunks = _snapshot(state, target)
    m = decode(enc, Manifest)
    case: dict[str, Any] = {
        "name": name,
        "chain_id": CHAIN_ID,
        "height": HEIGHT,
        "chunk_target": target,
        "entries": [[_hex(k), _hex(v)] for k, v in sorted(state.items())],
        "state_root": _hex(root),
        "manifest": _hex(enc),
        "manifest_id": _hex(manifest_id(ED25519, enc)),
        "chunks": [_hex(c) for c in chunks],
    }
    if not m.items:
        return case
    fields = {f: getattr(m, f) for f in Manifest.__struct_fields__}
    it = m.items[-1]
    bad_hash = [*m.items[:-1], SnapshotItem(depth=it.depth, prefix=it.prefix, hash=bytes(32), chunk=it.chunk)]
    tampered = [
        ("item hash zeroed", {**fields, "items": bad_hash}),
        ("item dropped", {**fields, "items": m.items[:-1]}),
        ("other root", {**fields, "state_root": bytes(32)}),
        ("depth + 1", {**fields, "depth": m.depth + 1}),
    ]
    case["bad_manifests"] = [
        {"why": why, "manifest": _hex(encode(Manifest(**f))), "refused": _refusal_manifest(encode(Manifest(**f)), root)}
        for why, f in tampered
    ]
    c0 = decode(chunks[0], Chunk)
    entries = list(c0.entries)
    variants = [("value changed", [(entries[0][0], entries[0][1] + b"!"), *entries[1:]])]
    if len(entries) > 1:
        variants.append(("entry dropped", entries[1:]))
        variants.append(("order swapped", [entries[1], entries[0], *entries[2:]]))
    variants.append(("entry added", sorted([*entries, (b"account:extra", b"x")], key=_kp)))
    case["bad_chunks"] = []
    for why, es in variants:
        raw = encode(Chunk(version=1, height=HEIGHT, index=0, entries=es))
        case["bad_chunks"].append({"why": why, "index": 0, "chunk": _hex(raw), "refused": _refusal_chunk(m, raw, 0)})
    return case


def _kp(e: tuple[bytes, bytes]) -> bytes:
    return ED25519.tagged_hash(b"trellis/state/key", e[0])


def snapshot_vectors() -> dict[str, Any]:
    return {
        "description": "State snapshots (docs/spec/snapshot.md): frontier depths; snapshots of small states (entries "
        "sorted by key) with their manifest, manifest id and chunks (cut with the case's chunk_target instead of "
        "CHUNK_TARGET_BYTES); tampered manifests and chunks with the code of the check that refuses them",
        "suite": "ed25519",
        "frontier_depth": [
            {"n": n, "d": frontier_depth(n)}
            for n in (0, 1, 4096, 65536, 65537, 1048576, 1048577, 100_000_000, 10**13, 10**15)
        ],
        "cases": [
            _case("empty", 0, 400),
            _case("one-key", 1, 400),
            _case("forty-keys", 40, 400),
            _case("three-hundred-keys", 300, 2000),
        ],
    }


FILES = {"snapshot.json": snapshot_vectors}
