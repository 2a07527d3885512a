"""State sync (ADR 0018 section 3): serving snapshots to peers, and joining from one instead of replaying blocks.

Serving (``SnapshotServer``): every node answers ``SnapshotsRequestMsg``, ``ManifestRequestMsg``,
``ChunkRequestMsg`` and ``LightBlockRequestMsg`` from what it holds; requests are rate-limited per peer and at most
``MAX_CHUNKS_IN_FLIGHT`` chunk reads per peer are under way at once (more are dropped: the fetcher retries
elsewhere after its timeout).

Joining (``StateSyncFetcher``, run by ``trellis node start --state-sync`` on an empty data directory before the
node is assembled): ask every peer for its snapshots (an offer is taken only as the answer to such a request);
group the offers by (height, manifest id) and pick the highest height (ties: most peers); with a trusted height
``N`` and block id, offers below ``N`` are ignored, the header of ``N`` is fetched, verified from genesis and must
have that id, and the snapshot's header ``H`` is verified THROUGH it (its set changes below ``N`` must be those
that led to ``N``, the later ones are followed from the set of ``N``: ``verify_through_trusted``); without one,
``H`` is verified from genesis. Then fetch the manifest and check it against the verified state root; fetch
chunks from every peer that offers the snapshot in parallel (at most 2 requests in flight per peer, a per-request
timeout, a failed request retried at another peer), verifying each. A peer that sends a bad light block, manifest
or chunk is banned (disconnected and refused for ``[statesync] ban_s``), and so is one that offered a snapshot
but answered "not held" ``MAX_PEER_FAILURES`` times. Before each further try the offers are asked for again; at
most ``MAX_ATTEMPTS`` snapshots are tried, so the sync always ends. Verified chunks are staged on disk;
``restore`` writes them into the store. The node then block-syncs from ``H + 1`` like any follower.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import shutil
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from trellis.abci import Application
from trellis.core.codec import decode, encode
from trellis.core.crypto.merkle import merkle_root
from trellis.core.errors import DecodeError, InvalidBlock, TrellisError
from trellis.core.ledger.block import Block, Commit, Header, block_hash, verify_commit
from trellis.core.ledger.snapshot import (
    MAX_CHUNK_BYTES,
    MAX_MANIFEST_BYTES,
    Chunk,
    Manifest,
    ManifestIndex,
    SnapshotError,
    manifest_id,
    verify_chunk,
    verify_manifest,
    verify_total,
)
from trellis.core.lightclient import (
    LightClientError,
    SetChange,
    TrustedState,
    follow_set_changes,
    verify_from_genesis,
)
from trellis.core.params import ChainParams
from trellis.node.config import ConfigError, NodeConfig
from trellis.node.home import Home
from trellis.node.peers import peer_transport
from trellis.node.wire import (
    BlockRequestMsg,
    BlocksMsg,
    ChunkMsg,
    ChunkRequestMsg,
    LightBlockMsg,
    LightBlockRequestMsg,
    ManifestMsg,
    ManifestRequestMsg,
    SnapshotOffer,
    SnapshotsMsg,
    SnapshotsRequestMsg,
    WireMsg,
    decode_msg,
    encode_msg,
)
from trellis.p2p.tcp import TlsTransport
from trellis.storage.block_store import BlockStore
from trellis.storage.kv import KVStore, open_data_store
from trellis.storage.snapshots import (
    RestoredChain,
    SnapshotStore,
    decode_manifest,
    restore,
    restore_status,
    stage_verified_chunk,
    wipe_store,
)

log = logging.getLogger("trellis.statesync")

MAX_CHUNKS_IN_FLIGHT = 4
"""Chunk requests of one peer being served at once."""
REQUESTS_PER_S = 20.0
"""State-sync requests one peer may make per second (token bucket) ..."""
REQUEST_BURST = 40.0
"""... with this burst."""
FETCH_PER_PEER = 2
"""Chunk requests the fetcher keeps in flight per peer."""
MAX_PEER_FAILURES = 3
"""Timeouts after which the fetcher stops asking a peer; "not held" answers to requests for a snapshot the peer
offered after which it is banned."""
MAX_ATTEMPTS = 8
"""Snapshots tried (each from every peer offering it) before the sync gives up."""
MAX_BUCKETS = 4096
"""Peers whose request rates the server tracks; past it the least recently seen one is forgotten."""
_MAX_ANSWER_BYTES = max(MAX_CHUNK_BYTES, MAX_MANIFEST_BYTES) + 1024 * 1024
"""The largest frame the fetcher decodes (a manifest or chunk answer and its envelope)."""


class StateSyncError(TrellisError):
    """State sync cannot go on (no snapshot offered, every peer failed, the trusted block id differs)."""

    code = "state_sync_failed"


class Network(Protocol):
    """What the server and fetcher need of the peers."""

    def send(self, peer_id: str, frame: bytes) -> bool: ...
    def disconnect(self, peer_id: str, reason: str) -> None: ...


class BanningNetwork(Network, Protocol):
    """A network that can ban a peer (``TlsTransport.ban``)."""

    def ban(self, peer_id: str, seconds: float, reason: str) -> None: ...
    def connected_peers(self) -> list[str]: ...


# -- serving --------------------------------------------------------------------------------------------------
@dataclass
class _Bucket:
    tokens: float
    at: float


class SnapshotServer:
    """Answers peers' state-sync requests from this node's snapshots, blocks and application.

    Args:
        snapshots: the snapshot store (None: this node offers no snapshot, but still serves light blocks).
        app: the application (its tip and ``validator_changes``).
        blocks: the stored blocks and certificates.
        network: where answers go.
        clock: monotonic seconds (tests pass their own).
    """

    def __init__(
        self,
        snapshots: SnapshotStore | None,
        app: Application,
        blocks: BlockStore,
        network: Network,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.snapshots = snapshots
        self.app = app
        self.blocks = blocks
        self.network = network
        self.clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._chunks_in_flight: dict[str, int] = {}
        self.refused = 0
        """Requests dropped by the rate limit or the in-flight limit."""

    def peer_gone(self, peer_id: str) -> None:
        """Forget a disconnected peer's limits (the node calls it when a peer disconnects). Its chunk reads under
        way still end; their count is then dropped."""
        self._buckets.pop(peer_id, None)
        self._chunks_in_flight.pop(peer_id, None)

    def _allow(self, peer_id: str) -> bool:
        now = self.clock()
        b = self._buckets.pop(peer_id, None)
        if b is None:
            if len(self._buckets) >= MAX_BUCKETS:
                del self._buckets[next(iter(self._buckets))]  # the least recently seen peer
            b = _Bucket(REQUEST_BURST, now)
        self._buckets[peer_id] = b  # last in order: the most recently seen
        b.tokens = min(REQUEST_BURST, b.tokens + (now - b.at) * REQUESTS_PER_S)
        b.at = now
        if b.tokens < 1:
            self.refused += 1
            return False
        b.tokens -= 1
        return True

    def on_msg(self, peer_id: str, msg: WireMsg) -> None:
        """Handle a state-sync message from a peer (answers to our own requests are not expected here)."""
        if isinstance(msg, SnapshotsRequestMsg | ManifestRequestMsg | ChunkRequestMsg | LightBlockRequestMsg):
            if not self._allow(peer_id):
                return
        if isinstance(msg, SnapshotsRequestMsg):
            offers = [] if self.snapshots is None else self.snapshots.offered()
            out = [SnapshotOffer(height=s.height, manifest_id=s.manifest_id, chunk_count=s.chunk_count) for s in offers]
            self.network.send(peer_id, encode_msg(SnapshotsMsg(snapshots=out[:64])))
        elif isinstance(msg, ManifestRequestMsg):
            if self.snapshots is None:
                self.network.send(peer_id, encode_msg(ManifestMsg(height=msg.height, manifest=b"")))
                return
            snapshots, height = self.snapshots, msg.height
            self._serve_file(
                peer_id,
                lambda: snapshots.manifest_bytes(height),
                lambda raw: ManifestMsg(height=height, manifest=raw or b""),
            )
        elif isinstance(msg, ChunkRequestMsg):
            if self.snapshots is None:
                self.network.send(peer_id, encode_msg(ChunkMsg(height=msg.height, index=msg.index, chunk=b"")))
                return
            snapshots, height, index = self.snapshots, msg.height, msg.index
            self._serve_file(
                peer_id,
                lambda: snapshots.chunk_bytes(height, index),
                lambda raw: ChunkMsg(height=height, index=index, chunk=raw or b""),
            )
        elif isinstance(msg, LightBlockRequestMsg):
            self.network.send(peer_id, encode_msg(self.light_block(msg.height)))

    def light_block(self, height: int) -> LightBlockMsg:
        """Block ``height``, its certificate and the set changes up to it (``block`` None if not held)."""
        tip = self.app.info().height
        block = self.blocks.block(height) if 1 <= height <= tip else None
        commit = self.blocks.commit(height) if block is not None else None
        if block is None or commit is None:
            return LightBlockMsg(height=height, block=None, commit=None, set_changes=[])
        try:
            changes = self.app.validator_changes(height)
        except TrellisError:
            return LightBlockMsg(height=height, block=None, commit=None, set_changes=[])
        return LightBlockMsg(height=height, block=block, commit=commit, set_changes=changes)

    def _serve_file(
        self, peer_id: str, read: Callable[[], bytes | None], answer: Callable[[bytes | None], WireMsg]
    ) -> None:
        """Read a manifest or chunk file on a worker thread (not on the event loop) and send the answer; at most
        ``MAX_CHUNKS_IN_FLIGHT`` such reads per peer at once."""
        n = self._chunks_in_flight.get(peer_id, 0)
        if n >= MAX_CHUNKS_IN_FLIGHT:
            self.refused += 1
            log.debug("dropped a snapshot request of %s: %d already being served", peer_id, n)
            return
        self._chunks_in_flight[peer_id] = n + 1

        async def serve() -> None:
            try:
                raw = await asyncio.to_thread(read)
                self.network.send(peer_id, encode_msg(answer(raw)))
            finally:
                left = self._chunks_in_flight.get(peer_id, 1) - 1
                if left <= 0:
                    self._chunks_in_flight.pop(peer_id, None)
                else:
                    self._chunks_in_flight[peer_id] = left

        task = asyncio.get_running_loop().create_task(serve())
        _TASKS.add(task)
        task.add_done_callback(_TASKS.discard)


_TASKS: set[asyncio.Task[None]] = set()


# -- joining ----------------------------------------------------------------------------------------------------
@dataclass
class SyncResult:
    """A verified snapshot, staged: what ``trellis.storage.snapshots.restore`` writes."""

    manifest: Manifest
    upper_nodes: dict[bytes, bytes]
    chunk_files: list[Path]
    chain: RestoredChain
    seconds: float
    banned: dict[str, str] = field(default_factory=dict)
    """Peers banned during the sync, with the reason."""
    verified: dict[int, bytes] = field(default_factory=dict)
    """Chunk index -> proof of verification of its staged file (``stage_verified_chunk``), for ``restore``."""


@dataclass
class _Offer:
    """One snapshot, (height, manifest id), and the peers offering it (the chunk count is the verified
    manifest's, never an offer's)."""

    height: int
    manifest_id: bytes
    peers: list[str]


class _OtherHistory(Exception):
    """A peer's header of the trusted height verifies from genesis but is not the trusted block."""


def verify_through_trusted(
    params: ChainParams,
    trusted: TrustedState,
    trusted_changes: Sequence[SetChange],
    header: Header,
    commit: Commit,
    changes: Sequence[SetChange],
) -> None:
    """Verify ``header`` (height ``H >= N``) and its certificate through the trusted block ``N`` (``trusted``,
    verified from genesis along ``trusted_changes`` and checked against the trusted block id): the set changes
    of ``changes`` below ``N`` must be, by block id, exactly ``trusted_changes``; a change at ``N`` must be the
    trusted block; the changes from ``N`` on are followed from the set of ``N``; and ``header`` must be signed by
    the set so reached (at ``H = N``: be the trusted block). So a fork of set changes signed by an old set (whose
    keys may leak) cannot reach ``H``: everything up to ``N`` is pinned by the trusted id.

    Raises:
        LightClientError: the header does not verify through the trusted block.
    """
    suite = params.suite
    n = trusted.height
    h = header.height
    if h < n:
        raise LightClientError("not_after", f"height {h} is below the trusted height {n}", h)
    heights = [c.header.height for c in changes]
    if any(a >= b for a, b in itertools.pairwise(heights)):
        raise LightClientError("validator_changes", "the set changes are not in increasing height order", h)
    below = [block_hash(suite, c.header) for c in changes if c.header.height < n]
    if below != [block_hash(suite, c.header) for c in trusted_changes]:
        raise LightClientError(
            "validator_changes", f"the set changes below the trusted height {n} are not those that lead to it", h
        )
    rest = [c for c in changes if c.header.height >= n]
    if rest and rest[0].header.height == n and block_hash(suite, rest[0].header) != trusted.block_id:
        raise LightClientError("validator_changes", f"the set change at {n} is not the trusted block", n)
    if header.chain_id != trusted.chain_id:
        raise LightClientError("wrong_chain", f"header is for chain {header.chain_id!r}", h)
    if h == n:
        if rest or block_hash(suite, header) != trusted.block_id:
            raise LightClientError("invalid_header", f"block {n} is not the trusted block", n)
        s = trusted.validators
    else:
        s, start = follow_set_changes(trusted, rest, h)
        if h < start:
            raise LightClientError("validator_changes", f"height {h} is before the last change", h)
    try:
        verify_commit(suite, trusted.chain_id, s, header, commit)
    except InvalidBlock as exc:
        raise LightClientError("invalid_commit", exc.reason, h) from None


class StateSyncFetcher:
    """Fetches and verifies a snapshot from the peers of ``network`` (see the module docstring).

    Args:
        params: the chain (genesis: every light block is verified from it).
        network: the peers; its frames and peer events must be routed to ``on_frame``, ``on_peer_connected`` and
            ``on_peer_disconnected``.
        staging: an empty directory for verified chunks.
        chunk_timeout_s, ban_s, discovery_s: ``[statesync]``.
        trust: (height, block id) the chain must have, or None.
    """

    def __init__(
        self,
        params: ChainParams,
        network: BanningNetwork,
        staging: Path,
        *,
        chunk_timeout_s: float,
        ban_s: float,
        discovery_s: float,
        trust: tuple[int, bytes] | None = None,
    ) -> None:
        self.params = params
        self.suite = params.suite
        self.network = network
        self.staging = staging
        self.chunk_timeout_s = chunk_timeout_s
        self.ban_s = ban_s
        self.discovery_s = discovery_s
        self.trust = trust
        self.offers: dict[str, list[SnapshotOffer]] = {}
        self.banned: dict[str, str] = {}
        self._asked: dict[str, float] = {}
        """Peers asked for their snapshots and not yet answered: when (only their answer is taken)."""
        self._cannot_serve: dict[str, int] = {}
        """Peer -> "not held" answers for a snapshot it offered."""
        self.attempts = 0
        """Snapshots tried."""
        self._waiting: dict[tuple[str, str, int, int], asyncio.Future[WireMsg]] = {}
        self._connected = asyncio.Event()
        self._manifest_from = ""
        """The peer whose manifest is being fetched against."""
        self._entries = 0
        self._verified: dict[int, bytes] = {}
        """Entries in the chunks verified so far."""

    # -- transport callbacks ---------------------------------------------------------------------------------
    def on_peer_connected(self, peer_id: str) -> None:
        self._connected.set()
        self._request_offers(peer_id)

    def _request_offers(self, peer_id: str) -> None:
        if peer_id in self.banned:
            return
        self._asked[peer_id] = time.monotonic()
        self.network.send(peer_id, encode_msg(SnapshotsRequestMsg()))

    def on_peer_disconnected(self, peer_id: str) -> None:
        self.offers.pop(peer_id, None)
        self._asked.pop(peer_id, None)
        for key, fut in list(self._waiting.items()):
            if key[0] == peer_id and not fut.done():
                fut.set_exception(ConnectionError(f"{peer_id} disconnected"))

    def on_frame(self, peer_id: str, frame: bytes) -> None:
        if len(frame) > _MAX_ANSWER_BYTES:
            return  # a large consensus frame (a proposal): nothing this node asked for
        try:
            msg = decode_msg(frame, _MAX_ANSWER_BYTES)
        except DecodeError as exc:
            self.network.disconnect(peer_id, f"undecodable frame: {exc.reason}")
            return
        key: tuple[str, str, int, int] | None = None
        if isinstance(msg, SnapshotsMsg):
            # Only the answer to a request: an unsolicited list cannot replace what a peer offered.
            if self._asked.pop(peer_id, None) is not None and peer_id not in self.banned:
                self.offers[peer_id] = list(msg.snapshots[:64])
            return
        if isinstance(msg, ManifestMsg):
            key = (peer_id, "manifest", msg.height, 0)
        elif isinstance(msg, ChunkMsg):
            key = (peer_id, "chunk", msg.height, msg.index)
        elif isinstance(msg, LightBlockMsg):
            key = (peer_id, "light", msg.height, 0)
        elif isinstance(msg, BlocksMsg) and msg.blocks:
            key = (peer_id, "block", msg.blocks[0].block.header.height, 0)
        if key is None:
            return  # consensus traffic and requests: this node has nothing to serve yet
        fut = self._waiting.pop(key, None)
        if fut is not None and not fut.done():
            fut.set_result(msg)

    # -- requests --------------------------------------------------------------------------------------------
    async def _ask(self, peer_id: str, kind: str, height: int, index: int, request: bytes) -> WireMsg:
        key = (peer_id, kind, height, index)
        fut: asyncio.Future[WireMsg] = asyncio.get_running_loop().create_future()
        self._waiting[key] = fut
        try:
            if not self.network.send(peer_id, request):
                raise ConnectionError(f"cannot send to {peer_id}")
            async with asyncio.timeout(self.chunk_timeout_s):
                return await fut
        finally:
            if self._waiting.get(key) is fut:
                del self._waiting[key]

    def _ban(self, peer_id: str, reason: str) -> None:
        if peer_id in self.banned:
            return
        self.banned[peer_id] = reason
        self.offers.pop(peer_id, None)
        self._asked.pop(peer_id, None)
        log.warning("state sync: banning peer %s: %s", peer_id, reason)
        self.network.ban(peer_id, self.ban_s, reason)

    def _could_not_serve(self, peer_id: str, what: str) -> None:
        """``peer_id`` offered a snapshot but answered "not held" for ``what``: a failure; banned after
        ``MAX_PEER_FAILURES``."""
        n = self._cannot_serve[peer_id] = self._cannot_serve.get(peer_id, 0) + 1
        log.info("state sync: %s offered a snapshot but does not hold %s", peer_id, what)
        if n >= MAX_PEER_FAILURES:
            self._ban(peer_id, f"offered snapshots it could not serve ({n} times; last: {what})")

    async def _refresh_offers(self) -> None:
        """Ask every connected peer for its snapshots again (a server may have deleted or added some) and wait
        for the answers, at most ``chunk_timeout_s``."""
        self.offers.clear()
        for pid in self._live(self.network.connected_peers()):
            self._request_offers(pid)
        deadline = time.monotonic() + self.chunk_timeout_s
        while self._asked and time.monotonic() < deadline:
            await asyncio.sleep(0.05)

    # -- the sync --------------------------------------------------------------------------------------------
    async def run(self, connect_timeout_s: float = 60.0) -> SyncResult:
        """Fetch and verify a snapshot; return it staged.

        Raises:
            StateSyncError: no peer, no snapshot, the trusted block differs, or every peer failed.
        """
        t0 = time.monotonic()
        try:
            async with asyncio.timeout(connect_timeout_s):
                await self._connected.wait()
        except TimeoutError:
            raise StateSyncError(f"no peer connected within {connect_timeout_s:.0f}s") from None
        deadline = time.monotonic() + self.discovery_s
        while time.monotonic() < deadline or not self.offers:
            if time.monotonic() > t0 + connect_timeout_s:
                raise StateSyncError(f"no peer offered a snapshot within {connect_timeout_s:.0f}s")
            await asyncio.sleep(0.1)
            now = time.monotonic()
            for pid in self.network.connected_peers():
                if pid not in self.offers and now - self._asked.get(pid, 0.0) >= 1.0:
                    self._request_offers(pid)  # asked again if unanswered for a second (a dropped request)
            if time.monotonic() >= deadline and not any(self.offers.values()):
                deadline = time.monotonic() + self.discovery_s
        tried: set[tuple[int, bytes]] = set()
        while True:
            if self.attempts > 0:
                await self._refresh_offers()
            offer = self._choose(tried)
            if offer is None:
                below = self.trust is not None and any(
                    0 < o.height < self.trust[0] for offers in self.offers.values() for o in offers
                )
                raise StateSyncError(
                    "no peer offers a snapshot this node could verify"
                    + (f" ({len(tried)} tried)" if tried else "")
                    + (
                        f"; snapshots below the trusted height {self.trust[0]} are not taken: trust a block at or "
                        "below the height of a snapshot offered"
                        if below and self.trust is not None
                        else ""
                    )
                    + (
                        "; banned: " + ", ".join(f"{p} ({why})" for p, why in self.banned.items())
                        if self.banned
                        else ""
                    )
                )
            if self.attempts >= MAX_ATTEMPTS:
                raise StateSyncError(f"{MAX_ATTEMPTS} snapshots tried and none could be fetched and verified")
            self.attempts += 1
            tried.add((offer.height, offer.manifest_id))
            log.info(
                "state sync: snapshot of height %d (manifest %s) offered by %s",
                offer.height,
                offer.manifest_id.hex()[:16],
                ", ".join(offer.peers),
            )
            result = await self._sync(offer, t0)
            if result is not None:
                return result

    def _choose(self, tried: set[tuple[int, bytes]]) -> _Offer | None:
        """The snapshot to try: offers grouped by (height, manifest id), every peer offering one in its group;
        the highest (ties: most peers). With a trusted height, none below it (its header could not be tied to
        the trusted block)."""
        floor = 1 if self.trust is None else max(1, self.trust[0])
        by: dict[tuple[int, bytes], _Offer] = {}
        for pid, offers in self.offers.items():
            if pid in self.banned:
                continue
            for o in offers:
                key = (o.height, o.manifest_id)
                if key in tried or o.height < floor:
                    continue
                got = by.setdefault(key, _Offer(o.height, o.manifest_id, []))
                if pid not in got.peers:
                    got.peers.append(pid)
        if not by:
            return None
        return max(by.values(), key=lambda o: (o.height, len(o.peers), o.manifest_id))

    def _offering(self, offer: _Offer) -> list[str]:
        """The peers offering ``offer``'s snapshot now: those it was chosen with, and any that offered it since."""
        later = [
            pid
            for pid, offers in self.offers.items()
            if pid not in offer.peers
            and any(o.height == offer.height and o.manifest_id == offer.manifest_id for o in offers)
        ]
        return [*offer.peers, *later]

    def _live(self, peers: list[str]) -> list[str]:
        connected = set(self.network.connected_peers())
        return [p for p in peers if p not in self.banned and p in connected]

    async def _light_block(
        self,
        height: int,
        peers: list[str],
        check: Callable[[Header, Commit, list[SetChange]], None],
        *,
        offered: bool,
    ) -> tuple[LightBlockMsg, Block, Commit] | None:
        """A light block of ``height`` that passes ``check`` (header, commit, set changes), with its block's
        transactions checked against the header, from the first of ``peers`` that sends a good one; a peer that
        sends a bad one is banned, one that does not hold it (``offered``: the block of a snapshot it offered)
        counts a failure. ``check`` raising ``_OtherHistory`` skips the peer (the caller keeps the reason)."""
        for pid in self._live(peers):
            try:
                msg = await self._ask(pid, "light", height, 0, encode_msg(LightBlockRequestMsg(height=height)))
            except (TimeoutError, ConnectionError):
                continue
            assert isinstance(msg, LightBlockMsg)
            if msg.block is None or msg.commit is None:
                if offered:
                    self._could_not_serve(pid, f"the light block of height {height}")
                continue
            try:
                if msg.block.header.height != height:
                    raise LightClientError("invalid_header", f"a block of height {msg.block.header.height}", height)
                if merkle_root(self.suite, [encode(tx) for tx in msg.block.txs]) != msg.block.header.tx_root:
                    raise LightClientError("invalid_header", "the block's transactions do not match its tx_root")
                check(msg.block.header, msg.commit, msg.set_changes)
            except _OtherHistory:
                continue
            except LightClientError as exc:
                self._ban(pid, f"sent a light block of height {height} that does not verify: {exc}")
                continue
            return msg, msg.block, msg.commit
        return None

    async def _verified_header(self, offer: _Offer) -> tuple[LightBlockMsg, Block, Commit] | None:
        """The light block of the snapshot's height: verified from genesis, or, with a trusted block, through it
        (``verify_through_trusted``; its own light block verified from genesis and checked against the id first).

        Raises:
            StateSyncError: no peer sent the trusted block; some sent another block of the trusted height.
        """
        h = offer.height
        params = self.params

        def from_genesis(header: Header, commit: Commit, changes: list[SetChange]) -> None:
            verify_from_genesis(params, header, commit, changes)

        if self.trust is None:
            return await self._light_block(h, offer.peers, from_genesis, offered=True)
        th, tid = self.trust
        others: list[bytes] = []

        def trusted_block(header: Header, commit: Commit, changes: list[SetChange]) -> None:
            verify_from_genesis(params, header, commit, changes)
            got = block_hash(self.suite, header)
            if got != tid:
                others.append(got)
                raise _OtherHistory(got.hex())

        peers = [*offer.peers, *(p for p in self.network.connected_peers() if p not in offer.peers)]
        tb = await self._light_block(th, peers, trusted_block, offered=th == h)
        if tb is None:
            if others:
                raise StateSyncError(
                    f"the block at the trusted height {th} is {others[0].hex()}, not {tid.hex()}: "
                    "the peers are on another history"
                )
            if th == h:
                return None
            raise StateSyncError(f"no peer sent a verifiable header of the trusted height {th}")
        log.info("state sync: the trusted block %d (%s) matches", th, tid.hex()[:16])
        if th == h:
            return tb
        tlb, tblock, tcommit = tb
        trusted = verify_from_genesis(params, tblock.header, tcommit, tlb.set_changes)

        def through(header: Header, commit: Commit, changes: list[SetChange]) -> None:
            verify_through_trusted(params, trusted, tlb.set_changes, header, commit, changes)

        return await self._light_block(h, offer.peers, through, offered=True)

    async def _sync(self, offer: _Offer, t0: float) -> SyncResult | None:
        h = offer.height
        got = await self._verified_header(offer)
        if got is None:
            log.warning("state sync: no peer sent a verifiable light block of height %d", h)
            return None
        lb, block, commit = got
        header = block.header
        manifest, upper = await self._manifest(offer, header.chain_id, h, header.state_root)
        if manifest is None:
            return None
        files = await self._chunks(offer, manifest)
        if files is None:
            return None
        try:
            verify_total(manifest, self._entries)
        except SnapshotError as exc:
            self._ban(self._manifest_from, f"sent a bad manifest of snapshot {h}: {exc}")
            return None
        set_blocks: list[tuple[int, bytes, bytes, bytes]] = []
        for sc in lb.set_changes:
            sh = sc.header.height
            raw = await self._set_change_block(sh, offer.peers, block_hash(self.suite, sc.header))
            if raw is None:
                log.warning("state sync: no peer sent block %d (a validator-set change)", sh)
                return None
            set_blocks.append((sh, block_hash(self.suite, sc.header), raw, encode(sc.commit)))
        chain = RestoredChain(
            block=block, block_id=block_hash(self.suite, header), commit=commit, set_change_blocks=set_blocks
        )
        seconds = time.monotonic() - t0
        log.info(
            "state sync: snapshot of height %d verified (%d entries, %d chunks) in %.1fs",
            h,
            manifest.total_entries,
            manifest.chunk_count,
            seconds,
        )
        return SyncResult(manifest, upper, files, chain, seconds, dict(self.banned), dict(self._verified))

    async def _set_change_block(self, height: int, peers: list[str], block_id: bytes) -> bytes | None:
        for pid in self._live(peers):
            try:
                msg = await self._ask(
                    pid, "block", height, 0, encode_msg(BlockRequestMsg(from_height=height, max_blocks=1))
                )
            except (TimeoutError, ConnectionError):
                continue
            assert isinstance(msg, BlocksMsg)
            b = msg.blocks[0].block
            if block_hash(self.suite, b.header) != block_id or b.header.tx_root != merkle_root(
                self.suite, [encode(tx) for tx in b.txs]
            ):
                self._ban(pid, f"sent a block {height} that is not the verified one")
                continue
            return encode(b)
        return None

    async def _manifest(
        self, offer: _Offer, chain_id: str, height: int, state_root: bytes
    ) -> tuple[Manifest | None, dict[bytes, bytes]]:
        for pid in self._live(offer.peers):
            try:
                msg = await self._ask(pid, "manifest", height, 0, encode_msg(ManifestRequestMsg(height=height)))
            except (TimeoutError, ConnectionError):
                continue
            assert isinstance(msg, ManifestMsg)
            if not msg.manifest:
                self._could_not_serve(pid, f"the manifest of snapshot {height}")
                continue
            try:
                if manifest_id(self.suite, msg.manifest) != offer.manifest_id:
                    raise SnapshotError("wrong_id", "the manifest is not the one offered")
                m = decode_manifest(msg.manifest)
                upper = await asyncio.to_thread(verify_manifest, self.suite, m, chain_id, height, state_root)
            except (DecodeError, SnapshotError) as exc:
                self._ban(pid, f"sent a bad manifest of snapshot {height}: {exc}")
                continue
            self._manifest_from = pid
            return m, upper
        return None, {}

    async def _chunks(self, offer: _Offer, manifest: Manifest) -> list[Path] | None:
        """Every chunk, verified and staged, fetched from the offering peers in parallel."""
        index = ManifestIndex(manifest)
        h = manifest.height
        self._entries = 0
        self._verified = {}
        self.staging.mkdir(parents=True, exist_ok=True)
        todo: deque[int] = deque(range(manifest.chunk_count))
        tried: dict[int, set[str]] = {}
        failures: dict[str, int] = {}
        in_flight: dict[str, int] = {}
        tasks: dict[asyncio.Task[bool], tuple[str, int]] = {}
        done: set[int] = set()

        async def fetch(pid: str, i: int) -> bool:
            msg = await self._ask(pid, "chunk", h, i, encode_msg(ChunkRequestMsg(height=h, index=i)))
            assert isinstance(msg, ChunkMsg)
            if not msg.chunk:
                self._could_not_serve(pid, f"chunk {i} of snapshot {h}")
                return False
            try:
                chunk = decode(msg.chunk, Chunk, max_size=MAX_CHUNK_BYTES)
                nodes = await asyncio.to_thread(verify_chunk, self.suite, index, chunk, i)
            except (DecodeError, SnapshotError) as exc:
                self._ban(pid, f"sent a bad chunk {i} of snapshot {h}: {exc}")
                return False
            self._verified[i] = stage_verified_chunk(self.staging / f"chunk-{i}", msg.chunk, nodes)
            self._entries += len(chunk.entries)
            return True

        while len(done) < manifest.chunk_count:
            peers = [p for p in self._live(self._offering(offer)) if failures.get(p, 0) < MAX_PEER_FAILURES]
            # Hand out work: round-robin over the peers, each up to FETCH_PER_PEER requests, a chunk preferably to
            # a peer that has not failed it.
            progressed = True
            while todo and progressed:
                progressed = False
                for pid in peers:
                    if not todo or in_flight.get(pid, 0) >= FETCH_PER_PEER:
                        continue
                    i = next((c for c in todo if pid not in tried.get(c, set())), todo[0])
                    todo.remove(i)
                    tried.setdefault(i, set()).add(pid)
                    in_flight[pid] = in_flight.get(pid, 0) + 1
                    tasks[asyncio.get_running_loop().create_task(fetch(pid, i))] = (pid, i)
                    progressed = True
            if not tasks:
                log.warning(
                    "state sync: no peer left to fetch snapshot %d from (%d of %d chunks)",
                    h,
                    len(done),
                    manifest.chunk_count,
                )
                return None
            finished, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in finished:
                pid, i = tasks.pop(task)
                in_flight[pid] -= 1
                ok = False
                try:
                    ok = task.result()
                except (TimeoutError, ConnectionError) as exc:
                    failures[pid] = failures.get(pid, 0) + 1
                    log.info("state sync: chunk %d from %s failed (%s); asking another peer", i, pid, exc or "timeout")
                if ok:
                    done.add(i)
                else:
                    todo.appendleft(i)
        return [self.staging / f"chunk-{i}" for i in range(manifest.chunk_count)]


def clear_staging(staging: Path) -> None:
    """Remove the staged chunks."""
    shutil.rmtree(staging, ignore_errors=True)


# -- the node's start -----------------------------------------------------------------------------------------------
def _sync_transport(home: Home, cfg: NodeConfig, params: ChainParams) -> TlsTransport:
    """The peer transport of the sync phase: as the node's own (``assembly``), but redialing quickly (the sync
    dials the peers; they do not know this node yet)."""
    if not cfg.p2p.node_id or not cfg.p2p.peers:
        raise ConfigError(f"{home.config}: state sync needs [p2p] node_id and peers")
    return peer_transport(home, cfg, params, backoff_initial_s=0.1, backoff_max_s=1.0)


def prepare_store(data: Path, *, durable_state: bool) -> KVStore | None:
    """The store of the data directory ``data`` to restore into, empty; None (logged) when it holds a chain. A
    restore cut short or a store whose state was lost and cannot be rebuilt (``restore_status``) is wiped first
    (``wipe_store``: the consensus WAL and the snapshots stay)."""
    kv = open_data_store(data, durable_state=durable_state)
    try:
        status = restore_status(kv)
    except BaseException:
        kv.close()
        raise
    if status == "empty":
        return kv
    kv.close()
    if status == "held":
        log.warning("state sync skipped: the data directory %s already holds a chain", data)
        return None
    why = "a restore that did not finish" if status == "incomplete" else "a store whose state was lost"
    log.warning("state sync: the data directory %s holds %s: wiping its store and syncing again", data, why)
    wipe_store(data)
    return open_data_store(data, durable_state=durable_state)


def state_sync_home(home: Home, cfg: NodeConfig, trust: tuple[int, bytes] | None = None) -> dict[str, float]:
    """Join by state sync into the home's empty data directory: fetch, verify and restore a snapshot (the node is
    assembled afterwards and block-syncs from its height). A data directory that already holds a chain is left
    alone (logged); one whose restore was cut short, or whose state-synced state was lost (``restore_status``),
    has its store wiped (``wipe_store``: the consensus WAL stays) and is synced again. Returns the peers banned meanwhile and the seconds left on each ban, for the node's transport.

    Raises:
        StateSyncError: the sync failed (see ``StateSyncFetcher.run``).
        ConfigError: no peers, or the TLS identity cannot be read.
    """
    params = home.load_params()
    data = home.data_dir(cfg)
    transport = _sync_transport(home, cfg, params)  # checks the configuration before anything is opened
    kv = prepare_store(data, durable_state=cfg.node.durable_state)
    if kv is None:
        return {}
    staging = data / "statesync"
    clear_staging(staging)
    section = cfg.statesync
    fetcher = StateSyncFetcher(
        params,
        transport,
        staging,
        chunk_timeout_s=section.chunk_timeout_s,
        ban_s=section.ban_s,
        discovery_s=section.discovery_s,
        trust=trust,
    )
    transport.on_frame = fetcher.on_frame
    transport.on_peer_connected = fetcher.on_peer_connected
    transport.on_peer_disconnected = fetcher.on_peer_disconnected

    async def run() -> tuple[SyncResult, dict[str, float]]:
        await transport.start()
        try:
            return await fetcher.run(), transport.bans()
        finally:
            await transport.stop()

    try:
        log.info("state sync: asking %d peers for snapshots", len(cfg.p2p.peers))
        result, bans = asyncio.run(run())
        t = time.monotonic()
        restore(
            kv,
            params.suite,
            params.genesis_hash,
            result.manifest,
            result.upper_nodes,
            result.chunk_files,
            result.chain,
            verified=result.verified,
        )
        log.info(
            "state sync: restored the state of height %d (%d entries) in %.1fs; fetched and verified in %.1fs; "
            "%d blocks not replayed; banned peers: %s",
            result.manifest.height,
            result.manifest.total_entries,
            time.monotonic() - t,
            result.seconds,
            result.manifest.height,
            ", ".join(f"{p} ({why})" for p, why in result.banned.items()) or "none",
        )
        return bans
    finally:
        clear_staging(staging)
        kv.close()
