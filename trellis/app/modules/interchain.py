"""interchain module: reading clients, connections, channels and packets (docs/spec/interchain.md 8), and reading
another chain's state through this chain's client of it (ADR 0015 section 9).

Reads committed state through a ``StateReader``; the rules that write it are in ``trellis.core.modules.interchain``.
A stored value that does not decode is the node's fault, never the caller's: it raises ``StorageError``.

Another chain's state is read with ``ProvenReader``: every value comes with a state proof at the height of the
client's latest consensus state and is checked against that consensus state's ``state_root`` before any code sees
it, so the transport that brings it (an HTTP endpoint of the other chain) is not trusted. ``anchor_for_chain``
finds that consensus state: the active client with the greatest height among those carrying the chain's expected
genesis hash (governance's trust record, else the operator's pin in the node config), never merely the first
client created under that chain id (``UnknownChain``, ``ClientNotActive``). The reader is synchronous and fetches nothing
itself: a key it has not been given raises ``KeyNeeded``; the caller fetches and proves it (``ProvenReader.accept``)
and runs the read again, so an asynchronous server never blocks on the network inside a read helper.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from trellis.core.codec import decode
from trellis.core.crypto.suite import Suite, UnknownSuite, suite_by_name
from trellis.core.errors import DecodeError, ProofError, TrellisError
from trellis.core.execution.context import StateReader
from trellis.core.ledger.state_tree import StateProof, root_from_state_proof
from trellis.core.modules.interchain.client import ACTIVE, EXPIRED, FROZEN, status
from trellis.core.modules.interchain.messages import Ack, Packet
from trellis.core.modules.interchain.state import (
    CLIENT_PREFIX,
    ChannelEnd,
    ClientState,
    ConnectionEnd,
    ConsensusState,
    MisbehaviourRecord,
    has_receipt,
    packet_prefix,
    read_ack,
    read_channel,
    read_client,
    read_connection,
    read_consensus,
    read_misbehaviour,
    read_packet,
    read_seq,
    read_trusted,
    seq_ack_key,
    seq_bytes,
    seq_recv_key,
    seq_send_key,
)
from trellis.storage.kv import StorageError
from trellis.vc.errors import VcError
from trellis.vc.resolver import DidResolver, ResolvedKey, TrellisDidResolver

__all__ = [
    "ACTIVE",
    "EXPIRED",
    "FROZEN",
    "MAX_CLIENTS_SCANNED",
    "MAX_PAGE",
    "Anchor",
    "ChannelView",
    "ClientNotActive",
    "ClientView",
    "CrossChainResolver",
    "EndpointUnavailable",
    "InvalidProof",
    "KeyNeeded",
    "PacketView",
    "ProvenReader",
    "UnknownChain",
    "anchor_for_chain",
    "channel",
    "channels",
    "client",
    "client_status",
    "clients",
    "connection",
    "did_chain",
    "expected_genesis",
    "packet",
    "packets",
    "run_proven",
]

MAX_PAGE = 100
"""Most records one list call returns."""
_CHANNEL_PREFIX = b"interchain/channel/"

T = TypeVar("T")


def _decoded(what: str, read: Callable[[], T]) -> T:
    try:
        return read()
    except DecodeError as exc:
        raise StorageError(f"the stored {what} does not decode: {exc.reason}") from exc


def _end(prefix: bytes) -> bytes:
    return prefix[:-1] + bytes((prefix[-1] + 1,))


# -- clients -----------------------------------------------------------------------------------------------------
def client_status(cs: ClientState, latest: ConsensusState | None, now_ms: int) -> str:
    """``frozen`` if the client froze; else ``expired`` if its latest consensus state is older than the trusting
    period at block time ``now_ms`` (or missing); else ``active``: the handlers' own rule
    (``trellis.core.modules.interchain.client.status``, docs/spec/interchain.md 2.5)."""
    return status(cs, latest, now_ms)


@dataclass(frozen=True)
class ClientView:
    """A client, its latest consensus state, its status at a block time, and why it froze (if it did)."""

    client_id: str
    state: ClientState
    latest: ConsensusState | None
    status: str
    misbehaviour: MisbehaviourRecord | None


def client(state: StateReader, client_id: str, now_ms: int) -> ClientView | None:
    """The client ``client_id`` with its status at block time ``now_ms``, or None.

    Raises:
        StorageError: a stored record does not decode.
    """
    cs = _decoded(f"client {client_id}", lambda: read_client(state, client_id))
    if cs is None:
        return None
    latest = _decoded(f"consensus state of {client_id}", lambda: read_consensus(state, client_id, cs.latest_height))
    mis = _decoded(f"misbehaviour of {client_id}", lambda: read_misbehaviour(state, client_id))
    return ClientView(client_id, cs, latest, client_status(cs, latest, now_ms), mis)


def clients(state: StateReader, now_ms: int, limit: int = MAX_PAGE) -> list[ClientView]:
    """Up to ``limit`` clients, in key order (``client-0``, ``client-1``, ``client-10``, ...)."""
    out: list[ClientView] = []
    for key, _ in state.scan(CLIENT_PREFIX, _end(CLIENT_PREFIX), limit):
        view = client(state, key[len(CLIENT_PREFIX) :].decode(), now_ms)
        assert view is not None, "a scanned client is readable"
        out.append(view)
    return out


def connection(state: StateReader, connection_id: str) -> ConnectionEnd | None:
    """A connection end, or None."""
    return _decoded(f"connection {connection_id}", lambda: read_connection(state, connection_id))


# -- channels and packets ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ChannelView:
    """A channel end and its next sequences (send, receive, acknowledge)."""

    port: str
    channel: str
    end: ChannelEnd
    next_send: int
    next_recv: int
    next_ack: int


def channel(state: StateReader, port: str, channel_id: str) -> ChannelView | None:
    """The channel end ``port``/``channel_id`` with its sequences, or None."""
    end = _decoded(f"channel {port}/{channel_id}", lambda: read_channel(state, port, channel_id))
    if end is None:
        return None
    return ChannelView(
        port=port,
        channel=channel_id,
        end=end,
        next_send=read_seq(state, seq_send_key(port, channel_id)),
        next_recv=read_seq(state, seq_recv_key(port, channel_id)),
        next_ack=read_seq(state, seq_ack_key(port, channel_id)),
    )


def channels(state: StateReader, limit: int = MAX_PAGE) -> list[ChannelView]:
    """Up to ``limit`` channel ends, in key order (by port, then channel id)."""
    out: list[ChannelView] = []
    for key, _ in state.scan(_CHANNEL_PREFIX, _end(_CHANNEL_PREFIX), limit):
        port, _, chan = key[len(_CHANNEL_PREFIX) :].decode().partition("/")
        view = channel(state, port, chan)
        assert view is not None, "a scanned channel is readable"
        out.append(view)
    return out


def packets(state: StateReader, port: str, channel_id: str, from_seq: int, limit: int) -> list[Packet]:
    """Up to ``limit`` (1..``MAX_PAGE``) packets a channel end sent that are still pending (neither acknowledged nor
    timed out), from sequence ``from_seq`` up: the relayer's recovery scan."""
    if not 1 <= limit <= MAX_PAGE:
        raise ValueError(f"limit {limit} is not 1 to {MAX_PAGE}")
    prefix = packet_prefix(port, channel_id)
    out: list[Packet] = []
    for key, value in state.scan(prefix + seq_bytes(from_seq), _end(prefix), limit):
        try:
            out.append(decode(value, Packet))
        except DecodeError as exc:
            raise StorageError(f"the stored packet 0x{key.hex()} does not decode: {exc.reason}") from exc
    return out


@dataclass(frozen=True)
class PacketView:
    """What a chain holds of one sequence of a channel end: the packet while pending (sending end), whether it
    received it (receiving end, unordered channels), and the acknowledgement it wrote (receiving end)."""

    packet: Packet | None
    receipt: bool
    ack: Ack | None


def packet(state: StateReader, port: str, channel_id: str, seq: int) -> PacketView:
    """Sequence ``seq`` of the channel end ``port``/``channel_id``."""
    return PacketView(
        packet=_decoded("packet", lambda: read_packet(state, port, channel_id, seq)),
        receipt=has_receipt(state, port, channel_id, seq),
        ack=_decoded("ack", lambda: read_ack(state, port, channel_id, seq)),
    )


# -- another chain's state, proven ---------------------------------------------------------------------------------
class UnknownChain(TrellisError):
    """No client answers for that chain here."""

    code = "unknown_chain"


class ClientNotActive(TrellisError):
    """The client that answers for the chain is frozen or expired: it proves nothing."""

    code = "client_not_active"


class InvalidProof(TrellisError):
    """A value from the other chain does not match its proof, or its proof does not reach the trusted root."""

    code = "invalid_proof"


class EndpointUnavailable(TrellisError):
    """No endpoint of that chain is configured, or it did not answer a proven read."""

    code = "endpoint_unavailable"


@dataclass(frozen=True)
class Anchor:
    """What another chain's state is proven against: this chain's client of it and its latest consensus state."""

    chain_id: str
    client_id: str
    height: int
    state_root: bytes
    suite: Suite


MAX_CLIENTS_SCANNED = 4096
"""Most client records one cross-chain read scans for the client that answers for a chain."""


def expected_genesis(state: StateReader, chain_id: str, pinned: Mapping[str, str]) -> bytes:
    """The genesis hash a client must carry to answer for ``chain_id`` in cross-chain reads: governance's
    (``interchain/trusted/<chain_id>``) when it trusts the chain, else the one the operator pins in the node
    config (``[interchain] genesis_hashes``, 64 hex digits per chain id).

    Raises:
        UnknownChain: neither governance nor the node config names a genesis hash for ``chain_id``.
        StorageError: a stored record does not decode.
    """
    trusted = _decoded(f"trust record of {chain_id}", lambda: read_trusted(state, chain_id))
    if trusted is not None:
        return trusted.genesis_hash
    text = pinned.get(chain_id)
    if text is None:
        raise UnknownChain(
            f"chain {chain_id!r} has no known genesis hash: governance does not trust it (interchain.trust_chain, "
            f"interchain/trusted/{chain_id}) and the node config pins none ([interchain] genesis_hashes)"
        )
    try:
        expected = bytes.fromhex(text.removeprefix("0x"))
    except ValueError:
        expected = b""
    if len(expected) != 32:
        raise UnknownChain(f"the node config's genesis hash of chain {chain_id!r} is not 64 hex digits")
    return expected


def anchor_for_chain(state: StateReader, chain_id: str, now_ms: int, pinned: Mapping[str, str]) -> Anchor:
    """The client that answers for ``chain_id`` and its latest consensus state: of the clients of ``chain_id``
    whose genesis hash is the expected one (``expected_genesis``), the active one with the greatest latest
    height (ties: the first in key order). A client that calls itself ``chain_id`` but was created from another
    genesis (anyone may create one under the ``open`` policy) never answers.

    Raises:
        UnknownChain: no genesis hash of ``chain_id`` is known (neither trusted nor pinned).
        ClientNotActive: no client of that genesis is active at block time ``now_ms``.
        StorageError: a stored record does not decode.
    """
    expected = expected_genesis(state, chain_id, pinned)
    best: ClientView | None = None
    seen: list[str] = []
    start = CLIENT_PREFIX
    scanned = 0
    while scanned < MAX_CLIENTS_SCANNED:
        rows = state.scan(start, _end(CLIENT_PREFIX), min(MAX_PAGE, MAX_CLIENTS_SCANNED - scanned))
        for key, raw in rows:
            cid = key[len(CLIENT_PREFIX) :].decode()
            try:
                cs = decode(raw, ClientState)
            except DecodeError as exc:
                raise StorageError(f"the stored client {cid} does not decode: {exc.reason}") from exc
            if cs.chain_id != chain_id or cs.genesis_hash != expected:
                continue
            view = client(state, cid, now_ms)
            assert view is not None, "a scanned client is readable"
            seen.append(f"{cid} {view.status}")
            if view.status != ACTIVE or view.latest is None:
                continue
            if best is None or cs.latest_height > best.state.latest_height:
                best = view
        scanned += len(rows)
        if len(rows) < MAX_PAGE:
            break
        start = rows[-1][0] + b"\x00"
    if best is None:
        which = ", ".join(seen) if seen else "none"
        raise ClientNotActive(
            f"no active client of chain {chain_id!r} with genesis hash 0x{expected.hex()} on this chain "
            f"(clients of that genesis: {which}): nothing proves its state"
        )
    try:
        suite = suite_by_name(best.state.suite)
    except UnknownSuite as exc:
        raise StorageError(f"client {best.client_id} names an unknown suite {best.state.suite!r}") from exc
    assert best.latest is not None
    return Anchor(chain_id, best.client_id, best.state.latest_height, best.latest.state_root, suite)


class KeyNeeded(Exception):
    """A ``ProvenReader`` was asked for a key it has not been given: fetch it, ``accept`` it, read again."""

    def __init__(self, reader: ProvenReader, key: bytes) -> None:
        super().__init__(f"key 0x{key.hex()} of chain {reader.anchor.chain_id!r} is needed")
        self.reader = reader
        self.key = key


class ProvenReader:
    """A ``StateReader`` of another chain's state at ``anchor.height``: only values whose state proofs reach
    ``anchor.state_root``. It has no ranges (``scan`` raises ``LookupError``, as ``PointReader``)."""

    def __init__(self, anchor: Anchor) -> None:
        self.anchor = anchor
        self._values: dict[bytes, bytes | None] = {}
        self._failed: dict[bytes, TrellisError] = {}
        self.entries: list[tuple[bytes, bytes | None, StateProof]] = []
        """Every key proven, its value and its proof, in the order they were proven."""

    def accept(self, key: bytes, value: bytes | None, proof: StateProof) -> None:
        """Accept ``value`` (None: absent) for ``key`` if ``proof`` shows it at the anchor's root and height.

        Raises:
            InvalidProof: the proof is for another height, contradicts the value, or reaches another root.
        """
        a = self.anchor
        if proof.height != a.height:
            raise InvalidProof(f"the proof of 0x{key.hex()} is at height {proof.height}, not {a.height}")
        try:
            root = root_from_state_proof(a.suite, key, value, proof)
        except ProofError as exc:
            raise InvalidProof(f"the proof of 0x{key.hex()} is refused: {exc}") from exc
        if root != a.state_root:
            raise InvalidProof(
                f"the value of 0x{key.hex()} is not proven by client {a.client_id}'s consensus state at height "
                f"{a.height} (the proof reaches another state root)"
            )
        self._values[key] = value
        self.entries.append((key, value, proof))

    def fail(self, key: bytes, error: TrellisError) -> None:
        """Record that ``key`` could not be proven (``InvalidProof``, ``EndpointUnavailable``): reading it raises
        ``error``, so a rerun fails where the read needed it."""
        self._failed[key] = error

    def get(self, key: bytes) -> bytes | None:
        """The proven value at ``key`` (None: proven absent); ``KeyNeeded`` if it has not been fetched yet; the
        recorded error if it could not be proven."""
        if key in self._values:
            return self._values[key]
        if key in self._failed:
            raise self._failed[key]
        raise KeyNeeded(self, key)

    def scan(self, start: bytes, end: bytes, limit: int) -> list[tuple[bytes, bytes]]:
        """Refused: single keys only."""
        raise LookupError(f"a proven reader cannot scan [0x{start.hex()}, 0x{end.hex()})")


MAX_PROVEN_KEYS = 256
"""Most keys one read of another chain may prove (a DID resolution reads O(log versions))."""


def run_proven(fn: Callable[[], T], fetch: Callable[[ProvenReader, bytes], None]) -> T:
    """Run ``fn`` (which reads through ``ProvenReader`` s) to the end, proving each key it needs with ``fetch``
    (which must call ``reader.accept`` or ``reader.fail``) and running it again: reads are pure, so a rerun reads the same
    keys up to the first new one. The synchronous form, for callers that may block (the CLI, tests)."""
    for _ in range(MAX_PROVEN_KEYS):
        try:
            return fn()
        except KeyNeeded as need:
            fetch(need.reader, need.key)
    raise InvalidProof(f"the read needed more than {MAX_PROVEN_KEYS} proven keys")


# -- credentials issued on another chain ---------------------------------------------------------------------------
_TRELLIS_DID = re.compile(r"did:trellis:([a-z0-9][a-z0-9._-]{0,63}):")


def did_chain(did: str) -> str | None:
    """The chain id a ``did:trellis:<chain>:<id>`` DID (or DID URL) names, or None for another method."""
    m = _TRELLIS_DID.match(did)
    return None if m is None else m.group(1)


class _VcReader:
    """A proven reader whose failures read as verification errors (``VcError`` with the failure's code)."""

    def __init__(self, reader: ProvenReader) -> None:
        self._reader = reader

    def get(self, key: bytes) -> bytes | None:
        try:
            return self._reader.get(key)
        except TrellisError as exc:
            raise VcError(exc.code, str(exc)) from exc

    def scan(self, start: bytes, end: bytes, limit: int) -> list[tuple[bytes, bytes]]:
        return self._reader.scan(start, end, limit)


class CrossChainResolver:
    """The verifier's resolver with ``did:trellis`` DIDs of other chains resolved by proof (ADR 0015 section 9).

    A DID of this chain (and every other method) goes to ``local``. A ``did:trellis:<other>:...`` DID is resolved
    from the other chain's state at the latest consensus state of this chain's client of it (``anchor_for_chain``:
    the client must carry the genesis hash governance trusts or ``pinned`` names), through a
    ``ProvenReader`` per chain; the issuer's status lists are read the same way (``status_state``). Reads that
    need a key not yet proven raise ``KeyNeeded`` (the caller fetches and reruns); a chain without an active
    client, or a value that fails its proof, is a ``VcError`` with the code ``unknown_chain``,
    ``client_not_active``, ``invalid_proof`` or ``endpoint_unavailable``.
    """

    def __init__(
        self, local: DidResolver, state: StateReader, chain_id: str, now_ms: int, pinned: Mapping[str, str]
    ) -> None:
        self._local = local
        self._pinned = pinned
        self._state = state
        self._chain_id = chain_id
        self._now_ms = now_ms
        self.readers: dict[str, ProvenReader] = {}
        """The proven reader of each other chain read so far."""

    def reader(self, chain_id: str) -> ProvenReader:
        """The proven reader of ``chain_id``'s state (``VcError`` if no active client answers for it)."""
        if chain_id not in self.readers:
            try:
                self.readers[chain_id] = ProvenReader(
                    anchor_for_chain(self._state, chain_id, self._now_ms, self._pinned)
                )
            except (UnknownChain, ClientNotActive) as exc:
                raise VcError(exc.code, str(exc)) from exc
        return self.readers[chain_id]

    def _other(self, did: str) -> str | None:
        chain = did_chain(did)
        return None if chain is None or chain == self._chain_id else chain

    def resolve_key(self, verification_method: str, at_ms: int | None = None) -> ResolvedKey:
        """Resolve with ``local``, or from the other chain's proven state."""
        chain = self._other(verification_method)
        if chain is None:
            return self._local.resolve_key(verification_method, at_ms)
        reader = self.reader(chain)
        return TrellisDidResolver(_VcReader(reader), chain, reader.anchor.suite.name).resolve_key(
            verification_method, at_ms
        )

    def status_state(self, issuer: str) -> StateReader | None:
        """Where ``issuer``'s status lists are read: the other chain's proven state, or None (this chain's)."""
        chain = self._other(issuer)
        return None if chain is None else _VcReader(self.reader(chain))
