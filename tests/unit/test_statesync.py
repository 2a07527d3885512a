"""State sync in process (ADR 0018 section 3): ``StateSyncFetcher`` against ``SnapshotServer`` peers over an
in-memory network, on a chain with real commit certificates (tests/fixtures/chain_sim.py). A peer that sends a bad
chunk, manifest or light block is banned and the sync completes from the others; a trusted block id that differs
stops the sync; the server's per-peer limits hold."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import msgspec
import pytest

from tests.fixtures.chain_sim import SimChain
from trellis.core.codec import decode, encode
from trellis.core.ledger.block import Block, Commit, Header, block_hash
from trellis.core.ledger.snapshot import Chunk, Manifest, SnapshotError
from trellis.core.ledger.state_tree import apply_updates
from trellis.core.lightclient import LightClientError, SetChange, set_change_from_bytes, verify_from_genesis
from trellis.core.types import ZERO_HASH
from trellis.node import statesync
from trellis.node.statesync import SnapshotServer, StateSyncError, StateSyncFetcher, SyncResult, prepare_store
from trellis.node.wire import (
    BlockRequestMsg,
    BlocksMsg,
    ChunkMsg,
    ChunkRequestMsg,
    CommittedBlock,
    LightBlockMsg,
    ManifestMsg,
    SnapshotOffer,
    SnapshotsMsg,
    SnapshotsRequestMsg,
    decode_msg,
    encode_msg,
)
from trellis.storage import snapshots
from trellis.storage.chain_store import ChainStore
from trellis.storage.kv import KVStore, MemoryStore, SplitStore, StorageError, open_data_store
from trellis.storage.power_loss import PowerLossDisk, SimulatedCrash
from trellis.storage.snapshots import (
    RESTORE_MARKER,
    SYNCED_AT,
    SnapshotStore,
    build_snapshot,
    check_restored,
    restore,
    restore_status,
    state_synced_at,
)

SNAP_HEIGHT = 4


@dataclass
class _Tip:
    height: int


class _App:
    """The part of the application a ``SnapshotServer`` reads."""

    def __init__(self, chain: SimChain) -> None:
        self.chain = chain

    def info(self) -> _Tip:
        return _Tip(self.chain.height)

    def validator_changes(self, to_height: int) -> list[SetChange]:
        return [set_change_from_bytes(c.header, c.commit, c.next_validators) for c in self.chain.set_changes(to_height)]


class _Blocks:
    def __init__(self, chain: SimChain) -> None:
        self.chain = chain

    def block(self, height: int) -> Block | None:
        return self.chain.block(height) if 1 <= height <= self.chain.height else None

    def commit(self, height: int) -> Commit | None:
        return self.chain.commit(height) if 1 <= height <= self.chain.height else None


class _Net:
    """An in-memory network: the fetcher ("joiner") and servers by peer id; frames are delivered on the loop."""

    def __init__(self) -> None:
        self.fetcher: StateSyncFetcher | None = None
        self.servers: dict[str, SnapshotServer] = {}
        self.tamper: dict[str, Callable[[bytes], bytes]] = {}
        self.bans: dict[str, str] = {}

    # the joiner's side
    def send(self, peer_id: str, frame: bytes) -> bool:
        if peer_id in self.bans:
            return False
        loop = asyncio.get_running_loop()
        loop.call_soon(self._deliver, peer_id, frame)
        return True

    def _deliver(self, peer_id: str, frame: bytes) -> None:
        msg = decode_msg(frame, 1 << 26)
        server = self.servers[peer_id]
        if isinstance(msg, BlockRequestMsg):  # block sync, as the consensus driver serves it
            blocks = server.blocks
            out = [CommittedBlock(block=blocks.block(msg.from_height), commit=blocks.commit(msg.from_height))]  # type: ignore[arg-type]
            self.server_side(peer_id).send("joiner", encode_msg(BlocksMsg(blocks=out)))
        else:
            server.on_msg("joiner", msg)

    def disconnect(self, peer_id: str, reason: str) -> None:
        raise AssertionError(f"disconnected {peer_id}: {reason}")

    def ban(self, peer_id: str, seconds: float, reason: str) -> None:
        self.bans[peer_id] = reason

    def connected_peers(self) -> list[str]:
        return sorted(p for p in self.servers if p not in self.bans)

    def server_side(self, peer_id: str) -> _ServerNet:
        return _ServerNet(self, peer_id)


class _ServerNet:
    def __init__(self, net: _Net, peer_id: str) -> None:
        self.net = net
        self.peer_id = peer_id

    def send(self, to: str, frame: bytes) -> bool:
        assert to == "joiner" and self.net.fetcher is not None
        tamper = self.net.tamper.get(self.peer_id)
        out = frame if tamper is None else tamper(frame)
        fetcher = self.net.fetcher
        asyncio.get_running_loop().call_soon(lambda: fetcher.on_frame(self.peer_id, out))
        return True

    def disconnect(self, peer_id: str, reason: str) -> None:
        raise AssertionError(reason)


@pytest.fixture(scope="module")
def chain() -> SimChain:
    c = SimChain("sync-chain", accounts={f"acct{i}": 1000 + i for i in range(300)})
    c.advance(SNAP_HEIGHT + 2)
    return c


def _snapshot_store(chain: SimChain, root: Path, chunk_target: int = 2000, height: int = SNAP_HEIGHT) -> SnapshotStore:
    """A snapshot store holding the snapshot of ``height`` (chunks cut small: several of them)."""
    state = chain._state(height)
    kv = MemoryStore()
    up = apply_updates(chain.params.suite, ChainStore(kv), ZERO_HASH, dict(state))
    assert up.root == chain.header(height).state_root
    kv.write_tables({"state": dict(state), "smt_nodes": up.nodes})
    work = root / f".tmp-{height}"
    work.mkdir(parents=True)
    with kv.read_view(("state", "smt_nodes")) as view:
        build_snapshot(chain.params.suite, chain.chain_id, view, height, up.root, work, chunk_target=chunk_target)
    work.rename(root / str(height))
    return SnapshotStore(root, chain.params.suite, chain.chain_id, 0, 2, kv)


def _setup(chain: SimChain, tmp_path: Path, peers: list[str]) -> _Net:
    net = _Net()
    store = _snapshot_store(chain, tmp_path / "snapshots")
    for pid in peers:
        net.servers[pid] = SnapshotServer(store, _App(chain), _Blocks(chain), net.server_side(pid))  # type: ignore[arg-type]
    return net


def _sync(
    chain: SimChain, net: _Net, tmp_path: Path, trust: tuple[int, bytes] | None = None, timeout: float = 60
) -> SyncResult:
    async def go() -> SyncResult:
        fetcher = StateSyncFetcher(
            chain.params, net, tmp_path / "staging", chunk_timeout_s=2.0, ban_s=60, discovery_s=0.2, trust=trust
        )
        net.fetcher = fetcher
        for pid in net.servers:
            fetcher.on_peer_connected(pid)
        return await asyncio.wait_for(fetcher.run(connect_timeout_s=10), timeout)

    return asyncio.run(go())


def _corrupt(msg_type: type, field: str) -> Callable[[bytes], bytes]:
    def tamper(frame: bytes) -> bytes:
        msg = decode_msg(frame, 1 << 26)
        if isinstance(msg, msg_type) and getattr(msg, field):
            raw = bytearray(frame)
            raw[-3] ^= 0x01  # the field is last in the frame: a byte inside it
            return bytes(raw)
        return frame

    return tamper


def _restored_state(chain: SimChain, result: SyncResult, *, reuse_verification: bool = True) -> MemoryStore:
    kv = MemoryStore()
    restore(
        kv,
        chain.params.suite,
        chain.params.genesis_hash,
        result.manifest,
        result.upper_nodes,
        result.chunk_files,
        result.chain,
        verified=result.verified if reuse_verification else None,
    )
    return kv


def _count_verify_chunk(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real = snapshots.verify_chunk

    def counting(*args: object) -> dict[bytes, bytes]:
        calls.append(1)
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(snapshots, "verify_chunk", counting)
    return calls


def test_restore_reuses_the_verification_done_at_fetch_time(
    chain: SimChain, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    net = _setup(chain, tmp_path, ["p1", "p2"])
    result = _sync(chain, net, tmp_path)
    assert sorted(result.verified) == list(range(result.manifest.chunk_count))
    calls = _count_verify_chunk(monkeypatch)
    kv = _restored_state(chain, result)
    assert calls == []  # every staged chunk was verified when fetched: not again
    assert dict(kv.scan("state", b"\x00", b"\xff" * 64, limit=10**6)) == chain._state(SNAP_HEIGHT)
    check_restored(kv)
    # Staged files whose verification is not known (after a restart: no proofs in memory) are verified again,
    # and restore the same tree.
    kv2 = _restored_state(chain, result, reuse_verification=False)
    assert len(calls) == result.manifest.chunk_count
    assert dict(kv2.scan("smt_nodes", b"", b"\xff" * 64, limit=10**7)) == dict(
        kv.scan("smt_nodes", b"", b"\xff" * 64, limit=10**7)
    )


def test_a_staged_chunk_changed_on_disk_after_it_was_verified_is_refused(chain: SimChain, tmp_path: Path) -> None:
    net = _setup(chain, tmp_path, ["p1", "p2"])
    result = _sync(chain, net, tmp_path)
    path = result.chunk_files[1]
    chunk = decode(path.read_bytes(), Chunk)
    key, value = chunk.entries[0]
    changed = msgspec.structs.replace(chunk, entries=[(key, value + b"x"), *chunk.entries[1:]])
    path.write_bytes(encode(changed))
    with pytest.raises(SnapshotError):
        _restored_state(chain, result)


def test_a_staged_nodes_file_changed_on_disk_is_not_trusted(chain: SimChain, tmp_path: Path) -> None:
    net = _setup(chain, tmp_path, ["p1", "p2"])
    result = _sync(chain, net, tmp_path)
    nodes_file = result.chunk_files[0].with_name(result.chunk_files[0].name + ".nodes")
    nodes_file.write_bytes(b"")  # the tree nodes of chunk 0 dropped: restore must rebuild them by verifying
    kv = _restored_state(chain, result)
    reference = _restored_state(chain, result, reuse_verification=False)
    nodes = dict(kv.scan("smt_nodes", b"", b"\xff" * 64, limit=10**7))
    assert nodes and nodes == dict(reference.scan("smt_nodes", b"", b"\xff" * 64, limit=10**7))


def test_sync_from_good_peers_restores_the_state_of_the_snapshot(chain: SimChain, tmp_path: Path) -> None:
    net = _setup(chain, tmp_path, ["p1", "p2", "p3"])
    result = _sync(chain, net, tmp_path)
    assert result.manifest.height == SNAP_HEIGHT and result.manifest.chunk_count >= 4
    assert net.bans == {} and result.banned == {}
    kv = _restored_state(chain, result)
    assert dict(kv.scan("state", b"\x00", b"\xff" * 64, limit=10**6)) == chain._state(SNAP_HEIGHT)
    store = ChainStore(kv)
    tip = store.tip()
    assert (
        tip is not None
        and tip.height == SNAP_HEIGHT
        and tip.block_id == block_hash(chain.params.suite, chain.header(SNAP_HEIGHT))
    )
    assert store.block(SNAP_HEIGHT) == chain.block(SNAP_HEIGHT) and store.commit(SNAP_HEIGHT) == chain.commit(
        SNAP_HEIGHT
    )
    assert state_synced_at(kv) == SNAP_HEIGHT and store.block(1) is None


def test_a_peer_sending_bad_chunks_is_banned_and_the_chunks_come_from_the_others(
    chain: SimChain, tmp_path: Path
) -> None:
    net = _setup(chain, tmp_path, ["p1", "p2", "p3"])
    net.tamper["p2"] = _corrupt(ChunkMsg, "chunk")
    result = _sync(chain, net, tmp_path)
    assert set(net.bans) == {"p2"} and "bad chunk" in net.bans["p2"]
    kv = _restored_state(chain, result)
    assert dict(kv.scan("state", b"\x00", b"\xff" * 64, limit=10**6)) == chain._state(SNAP_HEIGHT)


def test_a_peer_sending_a_bad_manifest_is_banned(chain: SimChain, tmp_path: Path) -> None:
    net = _setup(chain, tmp_path, ["p1", "p2"])
    net.tamper["p1"] = _corrupt(ManifestMsg, "manifest")  # p1 is asked first
    result = _sync(chain, net, tmp_path)
    assert set(net.bans) == {"p1"} and "bad manifest" in net.bans["p1"]
    kv = _restored_state(chain, result)
    assert dict(kv.scan("state", b"\x00", b"\xff" * 64, limit=10**6)) == chain._state(SNAP_HEIGHT)


def test_a_peer_sending_a_light_block_that_does_not_verify_is_banned(chain: SimChain, tmp_path: Path) -> None:
    net = _setup(chain, tmp_path, ["p1", "p2"])
    other = SimChain("sync-chain", accounts={"x": 1}, genesis_time_ms=5)  # another history of the same chain id
    other.advance(SNAP_HEIGHT)

    def forged(frame: bytes) -> bytes:
        msg = decode_msg(frame, 1 << 26)
        if isinstance(msg, LightBlockMsg):
            from trellis.node.wire import encode_msg

            return encode_msg(
                LightBlockMsg(
                    height=msg.height, block=other.block(msg.height), commit=chain.commit(msg.height), set_changes=[]
                )
            )
        return frame

    net.tamper["p1"] = forged
    _sync(chain, net, tmp_path)
    assert set(net.bans) == {"p1"} and "does not verify" in net.bans["p1"]


def test_a_trusted_block_id_that_differs_stops_the_sync(chain: SimChain, tmp_path: Path) -> None:
    net = _setup(chain, tmp_path, ["p1"])
    with pytest.raises(StateSyncError, match="another history"):
        _sync(chain, net, tmp_path, trust=(2, bytes(32)))
    above = (SNAP_HEIGHT + 1, block_hash(chain.params.suite, chain.header(SNAP_HEIGHT + 1)))
    with pytest.raises(StateSyncError, match="below the trusted height 5 are not taken"):
        _sync(chain, _setup(chain, tmp_path / "above", ["p1"]), tmp_path / "above", trust=above)
    good = (2, block_hash(chain.params.suite, chain.header(2)))
    assert (
        _sync(chain, _setup(chain, tmp_path / "again", ["p1"]), tmp_path / "again", trust=good).manifest.height
        == SNAP_HEIGHT
    )


def test_the_server_limits_requests_per_peer(chain: SimChain, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[tuple[str, bytes]] = []

    class Sink:
        def send(self, to: str, frame: bytes) -> bool:
            sent.append((to, frame))
            return True

        def disconnect(self, peer_id: str, reason: str) -> None:
            raise AssertionError(reason)

    store = _snapshot_store(chain, tmp_path / "snapshots")
    now = [0.0]
    server = SnapshotServer(store, _App(chain), _Blocks(chain), Sink(), clock=lambda: now[0])  # type: ignore[arg-type]
    # The token bucket: a burst of REQUEST_BURST, then nothing until time passes.
    for _ in range(100):
        server.on_msg("a", SnapshotsRequestMsg())
    assert len(sent) == statesync.REQUEST_BURST and server.refused == 100 - statesync.REQUEST_BURST
    server.on_msg("b", SnapshotsRequestMsg())  # another peer has its own bucket
    assert len(sent) == statesync.REQUEST_BURST + 1
    now[0] += 1.0
    server.on_msg("a", SnapshotsRequestMsg())
    assert len(sent) == statesync.REQUEST_BURST + 2

    # At most MAX_CHUNKS_IN_FLIGHT chunk reads per peer at once.
    async def burst() -> int:
        sent.clear()
        now[0] += 100.0
        for i in range(10):
            server.on_msg("c", ChunkRequestMsg(height=SNAP_HEIGHT, index=i % 3))
        await asyncio.sleep(0.5)
        return len(sent)

    refused_before = server.refused
    assert asyncio.run(burst()) == statesync.MAX_CHUNKS_IN_FLIGHT
    assert server.refused == refused_before + 10 - statesync.MAX_CHUNKS_IN_FLIGHT
    m = decode(store.manifest_bytes(SNAP_HEIGHT) or b"", Manifest)
    assert m.height == SNAP_HEIGHT and store.offered_heights() == frozenset({SNAP_HEIGHT})


def test_a_manifest_whose_total_the_chunks_contradict_is_dropped_and_its_sender_banned(
    chain: SimChain, tmp_path: Path
) -> None:
    good = _snapshot_store(chain, tmp_path / "good")
    lying_root = tmp_path / "lying"
    _snapshot_store(chain, lying_root)
    path = lying_root / str(SNAP_HEIGHT) / "manifest"
    m = decode(path.read_bytes(), Manifest)
    path.write_bytes(encode(msgspec.structs.replace(m, total_entries=m.total_entries + 1)))
    lying = SnapshotStore(lying_root, chain.params.suite, chain.chain_id, 0, 2, MemoryStore())
    net = _Net()
    for pid, store in (("p1", lying), ("p2", good), ("p3", lying)):
        net.servers[pid] = SnapshotServer(store, _App(chain), _Blocks(chain), net.server_side(pid))  # type: ignore[arg-type]
    result = _sync(chain, net, tmp_path)  # the lying offer (two peers) is tried first
    assert set(net.bans) == {"p1"} and "the chunks hold" in net.bans["p1"]
    assert result.manifest.total_entries == m.total_entries
    kv = _restored_state(chain, result)
    assert dict(kv.scan("state", b"\x00", b"\xff" * 64, limit=10**6)) == chain._state(SNAP_HEIGHT)


def test_the_blocks_of_set_changes_are_restored_so_the_node_can_serve_light_clients(tmp_path: Path) -> None:
    from trellis.app.modules.validators import set_changes
    from trellis.core.modules.membership.messages import ProposeMembership, RegisterCert
    from trellis.core.modules.validators.messages import AddValidator

    c = SimChain("sync-v", accounts={f"v{i}": i + 1 for i in range(50)})
    assert c.submit("org1-admin", RegisterCert(cert=c.admin_cert())).code == 0
    add = AddValidator(public_key=c.public_key("sync-v/validator-4"), power=1, name="validator-4", org="org1")
    assert c.submit("org1-admin", ProposeMembership(change=add)).code == 0
    c.advance(4)
    height = c.height - 1
    (change,) = c.set_changes(height)
    net = _Net()
    store = _snapshot_store(c, tmp_path / "snapshots", height=height)
    for pid in ("p1", "p2"):
        net.servers[pid] = SnapshotServer(store, _App(c), _Blocks(c), net.server_side(pid))  # type: ignore[arg-type]
    result = _sync(c, net, tmp_path)
    assert net.bans == {} and result.manifest.height == height
    kv = _restored_state(c, result)
    restored = ChainStore(kv)
    e_minus_1 = decode(change.header, Header).height
    assert restored.block(e_minus_1) == c.block(e_minus_1) and restored.commit(e_minus_1) == c.commit(e_minus_1)
    # What TrellisApp.validator_changes answers from the restored store: a light client verifies H from genesis.
    header_of = lambda h: restored.require_block(h).header  # noqa: E731
    changes = set_changes(restored, height, height, header_of, restored.commit)
    assert len(changes) == 1 and len(changes[0].next_validators.validators) == 5
    verify_from_genesis(c.params, c.header(height), c.commit(height), changes)


# -- review fixes: the trust hash pins the snapshot header; one peer cannot stop the sync; restore cut short -----
@pytest.fixture(scope="module")
def vchain() -> tuple[SimChain, int, int]:
    """A chain whose validator set changes (4 -> 5 validators) at height ``e``; (chain, e, snapshot height)."""
    from trellis.core.modules.membership.messages import ProposeMembership, RegisterCert
    from trellis.core.modules.validators.messages import AddValidator

    c = SimChain("sync-fork", accounts={f"v{i}": i + 1 for i in range(50)})
    assert c.submit("org1-admin", RegisterCert(cert=c.admin_cert())).code == 0
    add = AddValidator(public_key=c.public_key("sync-fork/validator-4"), power=1, name="validator-4", org="org1")
    assert c.submit("org1-admin", ProposeMembership(change=add)).code == 0
    c.advance(8)
    height = c.height - 1
    (change,) = c.set_changes(height)
    e = decode(change.header, Header).height + 1
    assert e + 1 < height
    return c, e, height


def test_a_forged_fork_of_set_changes_with_the_honest_trusted_header_is_refused(
    vchain: tuple[SimChain, int, int], tmp_path: Path
) -> None:
    """Finding 1: the holder of the genesis set's (old) keys forges a set change handing control to a set of its
    own, which signs a fake header at the snapshot height H, while serving the honest header at the trusted
    height N. Each verifies from genesis on its own; through the trusted block, H's does not."""
    from trellis.core.ledger.block import ValidatorSet, validators_hash

    c, e, h = vchain
    suite = c.params.suite
    genesis_set = c.params.validators
    attacker = ValidatorSet(validators=[genesis_set.validators[0]])
    honest_change = c.header(e - 1)
    fork_header = msgspec.structs.replace(honest_change, next_validators_hash=validators_hash(suite, attacker))
    fork_change = SetChange(
        header=fork_header,
        commit=c._sign_commit(Block(header=fork_header, txs=c.block(e - 1).txs), genesis_set),
        next_validators=attacker,
    )
    fake = msgspec.structs.replace(
        c.header(h),
        validators_hash=validators_hash(suite, attacker),
        next_validators_hash=validators_hash(suite, attacker),
    )
    fake_commit = c._sign_commit(Block(header=fake, txs=c.block(h).txs), attacker)
    verify_from_genesis(c.params, fake, fake_commit, [fork_change])  # the forgery passes the genesis-only check

    def forge(frame: bytes) -> bytes:
        msg = decode_msg(frame, 1 << 26)
        if isinstance(msg, LightBlockMsg) and msg.height == h:
            block = Block(header=fake, txs=c.block(h).txs)
            return encode_msg(LightBlockMsg(height=h, block=block, commit=fake_commit, set_changes=[fork_change]))
        if isinstance(msg, BlocksMsg) and msg.blocks[0].block.header.height == e - 1:
            forged = Block(header=fork_header, txs=c.block(e - 1).txs)
            return encode_msg(BlocksMsg(blocks=[CommittedBlock(block=forged, commit=fork_change.commit)]))
        return frame  # the honest header at the trusted height, manifest and chunks

    trusted = (e + 1, block_hash(suite, c.header(e + 1)))
    net = _Net()
    store = _snapshot_store(c, tmp_path / "snapshots", height=h)
    for pid in ("p1", "p2"):
        net.servers[pid] = SnapshotServer(store, _App(c), _Blocks(c), net.server_side(pid))  # type: ignore[arg-type]
    net.tamper["p1"] = forge  # asked first
    result = _sync(c, net, tmp_path, trust=trusted)
    assert result.chain.block_id == block_hash(suite, c.header(h))
    assert set(net.bans) == {"p1"} and "not those that lead to it" in net.bans["p1"]
    # With only the forger, the sync stops: the fake header is never accepted.
    alone = _Net()
    alone.servers["p1"] = SnapshotServer(store, _App(c), _Blocks(c), alone.server_side("p1"))  # type: ignore[arg-type]
    alone.tamper["p1"] = forge
    with pytest.raises(StateSyncError):
        _sync(c, alone, tmp_path / "alone", trust=trusted)


def test_verify_through_trusted_pins_the_changes_and_the_trusted_block(vchain: tuple[SimChain, int, int]) -> None:
    c, e, h = vchain
    suite = c.params.suite
    changes = _App(c).validator_changes(h)
    n = e + 1
    trusted = verify_from_genesis(c.params, c.header(n), c.commit(n), _App(c).validator_changes(n))
    n_changes = _App(c).validator_changes(n)
    statesync.verify_through_trusted(c.params, trusted, n_changes, c.header(h), c.commit(h), changes)
    statesync.verify_through_trusted(c.params, trusted, n_changes, c.header(n), c.commit(n), n_changes)
    with pytest.raises(LightClientError, match="below the trusted height"):
        statesync.verify_through_trusted(c.params, trusted, n_changes, c.header(n - 1), c.commit(n - 1), changes)
    # H would verify from the set of N alone, but the change below N is left out: the restored chain would lack
    # its block (light clients verify from genesis along it).
    with pytest.raises(LightClientError, match="not those that lead to it"):
        statesync.verify_through_trusted(c.params, trusted, n_changes, c.header(h), c.commit(h), [])
    # A trusted height before the change: the change is followed from the trusted set.
    t2 = verify_from_genesis(c.params, c.header(e - 1), c.commit(e - 1), [])
    statesync.verify_through_trusted(c.params, t2, [], c.header(h), c.commit(h), changes)
    with pytest.raises(LightClientError):  # the change omitted: H is not signed by the set reached
        statesync.verify_through_trusted(c.params, t2, [], c.header(h), c.commit(h), [])
    other = msgspec.structs.replace(c.header(e - 1), time_ms=c.header(e - 1).time_ms + 1)
    assert block_hash(suite, other) != trusted.block_id


def _offers_tamper(
    chunk_count: int | None = None, manifest: bool = True, chunks: bool = True
) -> Callable[[bytes], bytes]:
    """A peer that lies about its offer's chunk count and/or answers "not held" for the manifest or chunks."""

    def tamper(frame: bytes) -> bytes:
        msg = decode_msg(frame, 1 << 26)
        if isinstance(msg, SnapshotsMsg) and chunk_count is not None:
            return encode_msg(
                SnapshotsMsg(snapshots=[msgspec.structs.replace(o, chunk_count=chunk_count) for o in msg.snapshots])
            )
        if isinstance(msg, ManifestMsg) and not manifest:
            return encode_msg(ManifestMsg(height=msg.height, manifest=b""))
        if isinstance(msg, ChunkMsg) and not chunks:
            return encode_msg(ChunkMsg(height=msg.height, index=msg.index, chunk=b""))
        return frame

    return tamper


def test_a_peer_lying_about_the_chunk_count_does_not_hide_the_honest_peers(chain: SimChain, tmp_path: Path) -> None:
    """Finding 3: offers are grouped by (height, manifest id), whatever chunk count each states."""
    net = _setup(chain, tmp_path, ["p1", "p2", "p3"])
    net.tamper["p1"] = _offers_tamper(chunk_count=1, manifest=False)  # its offer arrives first
    result = _sync(chain, net, tmp_path)
    assert result.manifest.height == SNAP_HEIGHT and result.manifest.chunk_count >= 4
    kv = _restored_state(chain, result)
    assert dict(kv.scan("state", b"\x00", b"\xff" * 64, limit=10**6)) == chain._state(SNAP_HEIGHT)


def test_a_peer_that_offers_but_serves_no_chunk_ends_the_sync_and_is_banned(chain: SimChain, tmp_path: Path) -> None:
    """Finding 3: an empty chunk answer is a failure: the sync ends (no endless loop) with a clear error."""
    net = _setup(chain, tmp_path, ["p1"])
    net.tamper["p1"] = _offers_tamper(chunks=False)

    with pytest.raises(StateSyncError, match="no peer offers"):
        _sync(chain, net, tmp_path, timeout=20)  # TimeoutError if the fetcher kept asking
    assert "could not serve" in net.bans["p1"]


def test_offers_are_taken_only_in_reply_to_a_request(chain: SimChain, tmp_path: Path) -> None:
    class Quiet(_Net):
        def send(self, peer_id: str, frame: bytes) -> bool:
            return True  # the request goes nowhere: the test delivers the answers

    fetcher = StateSyncFetcher(
        chain.params, Quiet(), tmp_path / "staging", chunk_timeout_s=1, ban_s=60, discovery_s=0.1
    )
    bogus = SnapshotsMsg(snapshots=[SnapshotOffer(height=99, manifest_id=bytes(32), chunk_count=1)])
    fetcher.on_frame("p1", encode_msg(bogus))
    assert fetcher.offers == {}
    fetcher._request_offers("p1")
    fetcher.on_frame("p1", encode_msg(bogus))
    assert [o.height for o in fetcher.offers["p1"]] == [99]
    fetcher.on_frame("p1", encode_msg(SnapshotsMsg(snapshots=[])))  # a second, unsolicited list
    assert [o.height for o in fetcher.offers["p1"]] == [99]


def test_a_peer_offering_snapshots_it_cannot_serve_is_banned_and_the_sync_completes(
    chain: SimChain, tmp_path: Path
) -> None:
    """Finding 3: "offered but cannot serve" counts; after MAX_PEER_FAILURES the peer is banned."""
    net = _setup(chain, tmp_path, ["p1", "p2"])
    fake = [SnapshotOffer(height=100 + i, manifest_id=bytes([i]) * 32, chunk_count=1) for i in range(64)]

    def liar(frame: bytes) -> bytes:
        msg = decode_msg(frame, 1 << 26)
        if isinstance(msg, SnapshotsMsg):
            return encode_msg(SnapshotsMsg(snapshots=fake))
        return frame

    net.tamper["p1"] = liar
    result = _sync(chain, net, tmp_path)
    assert result.manifest.height == SNAP_HEIGHT
    assert set(net.bans) == {"p1"} and "could not serve" in net.bans["p1"]


def test_the_offers_are_asked_again_before_each_new_try(chain: SimChain, tmp_path: Path) -> None:
    """Finding 4: a server replaced its snapshot during a failed try; the next try sees the new one."""
    net = _setup(chain, tmp_path, ["p1", "p2"])
    newer = _snapshot_store(chain, tmp_path / "newer", height=SNAP_HEIGHT + 1)
    fake = SnapshotOffer(height=99, manifest_id=bytes(32), chunk_count=1)
    first = [True]

    def liar(frame: bytes) -> bytes:
        msg = decode_msg(frame, 1 << 26)
        if isinstance(msg, SnapshotsMsg) and first[0]:
            return encode_msg(SnapshotsMsg(snapshots=[fake, *msg.snapshots]))
        if isinstance(msg, LightBlockMsg) and msg.height == 99:
            first[0] = False
            for server in net.servers.values():  # meanwhile the servers replaced snapshot 4 by 5
                server.snapshots = newer
        return frame

    net.tamper["p1"] = liar
    result = _sync(chain, net, tmp_path)
    assert result.manifest.height == SNAP_HEIGHT + 1


def test_the_server_forgets_the_least_recently_seen_peer_not_every_peer(chain: SimChain, tmp_path: Path) -> None:
    """Finding 6: past MAX_BUCKETS peers the oldest bucket goes; a limited peer stays limited."""
    now = [0.0]

    class Sink:
        def send(self, to: str, frame: bytes) -> bool:
            return True

        def disconnect(self, peer_id: str, reason: str) -> None:
            raise AssertionError(reason)

    server = SnapshotServer(None, _App(chain), _Blocks(chain), Sink(), clock=lambda: now[0])  # type: ignore[arg-type]
    for _ in range(int(statesync.REQUEST_BURST)):
        server.on_msg("a", SnapshotsRequestMsg())
    for i in range(statesync.MAX_BUCKETS - 1):
        server.on_msg(f"peer-{i}", SnapshotsRequestMsg())
    refused = server.refused
    server.on_msg("a", SnapshotsRequestMsg())  # refused, and "a" is now the most recently seen
    server.on_msg("z", SnapshotsRequestMsg())  # a new peer: one bucket must go
    server.on_msg("a", SnapshotsRequestMsg())
    assert server.refused == refused + 2 and len(server._buckets) == statesync.MAX_BUCKETS
    server.peer_gone("a")
    server.on_msg("a", SnapshotsRequestMsg())
    assert server.refused == refused + 2


# -- restore cut short, power loss (finding 2) ----------------------------------------------------------------
def _twin_restore(chain: SimChain, result: SyncResult, disk: PowerLossDisk) -> None:
    kv = SplitStore(Path("twin"), durable_state=False, environments=disk)
    restore(
        kv,
        chain.params.suite,
        chain.params.genesis_hash,
        result.manifest,
        result.upper_nodes,
        result.chunk_files,
        result.chain,
    )
    kv.close()


def _complete(chain: SimChain, kv: KVStore) -> bool:
    store = ChainStore(kv)
    return (
        store.block(SNAP_HEIGHT) == chain.block(SNAP_HEIGHT)
        and state_synced_at(kv) == SNAP_HEIGHT
        and dict(kv.scan("state", b"\x00", b"\xff" * 64, limit=10**6)) == chain._state(SNAP_HEIGHT)
    )


def test_a_restore_cut_short_anywhere_is_told_and_never_runs_half_written(chain: SimChain, tmp_path: Path) -> None:
    result = _sync(chain, _setup(chain, tmp_path, ["p1"]), tmp_path)
    seen: set[str] = set()
    for point, done, power in itertools.product(range(6), (False, True), (False, True)):
        disk = PowerLossDisk()
        disk.crash_after(point, done=done)
        try:
            _twin_restore(chain, result, disk)
        except SimulatedCrash:
            pass
        disk.power_loss() if power else disk.kill()
        kv = SplitStore(Path("twin"), durable_state=False, environments=disk)
        status = restore_status(kv)
        seen.add(status)
        case = f"crash after {point} steps (done={done}), {'power loss' if power else 'killed'}: {status}"
        if status == "held":
            assert _complete(chain, kv), case
            check_restored(kv)
        elif status in ("incomplete", "state_lost"):
            with pytest.raises(StorageError, match="--state-sync"):
                check_restored(kv)
        else:
            assert status == "empty" and kv.get("chain_meta", b"genesis") is None, case
        kv.close()
    assert seen == {"empty", "incomplete", "held", "state_lost"}


def test_a_state_synced_store_whose_state_was_lost_is_refused_and_wiped_by_state_sync(
    chain: SimChain, tmp_path: Path
) -> None:
    """Power loss with durable_state = false after the restore: the derived environment is discarded, and the
    blocks below H are not held to rebuild it. The node refuses to start (naming --state-sync) instead of
    failing at block 1; ``prepare_store`` (the --state-sync start) wipes the store, keeping the consensus WAL."""
    result = _sync(chain, _setup(chain, tmp_path, ["p1"]), tmp_path)
    disk = PowerLossDisk()
    _twin_restore(chain, result, disk)
    kv = SplitStore(Path("twin"), durable_state=False, environments=disk)
    assert restore_status(kv) == "held" and _complete(chain, kv)
    kv.state.write_tables({"meta": {b"x": b"1"}})  # the node runs: the unsynced environment is open
    disk.power_loss()
    kv = SplitStore(Path("twin"), durable_state=False, environments=disk)
    assert kv.rebuilt and restore_status(kv) == "state_lost"
    with pytest.raises(StorageError, match=r"restored from the snapshot of height 4, was lost.*--state-sync"):
        check_restored(kv)
    kv.close()
    # On disk (LMDB): an interrupted restore and a lost state are wiped by the --state-sync start.
    data = tmp_path / "data"
    for marker in (RESTORE_MARKER, None):
        lm = open_data_store(data)
        if marker is not None:
            lm.write_tables({"chain_meta": {marker: b"\x00" * 8}})
        else:
            lm.write_tables({"chain_meta": {b"genesis": b"g", SYNCED_AT: b"\x00" * 7 + b"\x04"}})
        lm.close()
        (data / "consensus.wal").write_bytes(b"wal")
        fresh = prepare_store(data, durable_state=False)
        assert fresh is not None and restore_status(fresh) == "empty"
        fresh.close()
        assert (data / "consensus.wal").read_bytes() == b"wal"
    held = open_data_store(data)
    held.write_tables({"chain_meta": {b"genesis": b"g"}})
    held.close()
    assert prepare_store(data, durable_state=False) is None
