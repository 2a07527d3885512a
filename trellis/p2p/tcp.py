"""``TlsTransport``: the ``Transport`` port over TCP with mutual TLS 1.3.

Membership and identity
    Both sides present a certificate and require one (``CERT_REQUIRED``), trusting exactly the member CA
    certificates in ``ca_bundle_pem``: a certificate that does not chain to a member CA, or that has expired,
    fails the TLS handshake. Host names are not checked; a peer's identity is the node id in its certificate
    (``node_id_of_cert``), and a peer is refused when that id is our own, is missing from ``allowed_node_ids``
    (when given), or is not the id we dialed.

One link per pair
    A node dials only the configured peers whose id sorts above its own (Python string order) and accepts
    everyone else inbound; it refuses an inbound link from a peer it is supposed to dial itself, and when a
    second link to an already connected peer appears, the existing one is kept and the newcomer closed.

Wire protocol, after the TLS handshake
    In TLS 1.3 a client finishes its handshake before the server has judged the client's certificate, so the
    dialer cannot tell from the handshake alone that it was admitted. The accepting side therefore writes the
    8 bytes ``TRELLIS1`` once it has authenticated and admitted the dialer, and the dialer counts the link as up
    only after reading them. From then on both directions carry frames: a 4-byte big-endian length ``n``
    (``1 <= n <= max_frame_bytes``) followed by ``n`` payload bytes. A zero or oversized length, a truncated
    frame or any TLS or socket error closes that link, with its reason logged and counted; nothing a peer sends
    raises into the owner or stops the node.

Bans
    ``ban(node_id, seconds, reason)`` drops a peer's link and refuses that node id (after the TLS handshake, by
    its certificate) until the ban ends: state sync bans a peer that sent a bad snapshot chunk or manifest.

Floods
    Before any TLS work, an inbound connection is closed at once when 128 handshakes are already pending, when
    its source address already has 8 pending, or when that address opens connections faster than 16 a second
    (burst 32), each limit times ``1 + k`` for an address where ``k`` configured peers live. An inbound
    handshake must finish within ``inbound_handshake_timeout_s`` (3 s). Refusals are counted in ``stats()``;
    the log gets at most 5 refusal lines per 10 s and then one line with the counts of those not logged, so a
    flood of bad connections neither fills the disk nor keeps a member from linking.

Tasks
    A reader callback on the listening socket accepts connections; there is one dial task per peer we dial
    (reconnecting with exponential backoff and jitter while the peer is away), one task per inbound link
    (handshake, then reading), and one writer task per link draining a bounded queue: it writes every queued
    frame (up to a batch limit) and then waits for one drain. ``stop()`` cancels and awaits all of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import socket
import ssl
import struct
import tempfile
import time
from collections import Counter, OrderedDict
from collections.abc import Coroutine, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypedDict

from cryptography import x509
from cryptography.exceptions import InvalidSignature

from trellis.keys.certs import CertError, is_valid_node_id, node_id_of_cert, write_private_key
from trellis.p2p.address import PeerAddress
from trellis.p2p.transport import FrameHandler, PeerHandler, ignore_frame, ignore_peer

__all__ = ["ACCEPT_PREAMBLE", "MAX_FRAME_LIMIT", "TlsTransport", "TransportStats"]

logger = logging.getLogger(__name__)

ACCEPT_PREAMBLE = b"TRELLIS1"
"""Written by the accepting side once it has admitted the dialer; the dialer waits for it."""

MAX_FRAME_LIMIT = 2**32 - 1
"""The largest ``max_frame_bytes`` the 4-byte length prefix can express."""

_HEADER = struct.Struct(">I")
_READ_CHUNK = 256 * 1024  # bytes asked of the stream per read
_STREAM_LIMIT = 1024 * 1024  # StreamReader pauses the socket above twice this much unread data
_BATCH_BYTES = 1024 * 1024  # the writer stops batching once this many payload bytes are gathered
_JOIN_LIMIT = 64 * 1024  # frames below this are copied into one buffer; larger ones are written as they are
_MAX_PENDING_HANDSHAKES = 128  # inbound connections still in their TLS handshake; more are closed at once
_MAX_PENDING_PER_HOST = 8  # of those, from one source address: a flood from one host cannot take them all
_HOST_RATE_PER_S = 16.0  # new inbound connections per second one source address may open (token bucket) ...
_HOST_BURST = 32  # ... with this burst; more are closed at once, before any TLS work
_MAX_HOSTS_TRACKED = 4096  # source addresses whose buckets are remembered (least recently seen forgotten first)
_REFUSAL_LOG_BURST = 5  # refusals logged one line each per interval; the rest are counted ...
_REFUSAL_LOG_INTERVAL_S = 10.0  # ... and reported in one line at the end of the interval
_ACCEPT_BATCH = 64  # connections accepted per wake-up of the listener
_ACCEPT_PAUSE_S = 0.1  # after accept() fails (out of file descriptors), wait this long before accepting again
_MAX_BANS = 4096  # banned node ids remembered at once
_STOP_GRACE_S = 1.0  # how long stop() waits for TLS close_notify exchanges before aborting


class TransportStats(TypedDict):
    """Counters of a ``TlsTransport`` since it was created (``stats()`` returns a fresh copy).

    ``bytes_in``/``bytes_out`` count frame payload bytes (not length prefixes or TLS overhead); ``frames_out``
    and ``bytes_out`` count frames handed to the socket, ``frames_dropped`` frames that ``send``/``broadcast``
    could not queue (queue full). ``refused`` counts connection attempts turned away, by reason code
    (``tls_handshake``, ``bad_certificate``, ``own_id``, ``not_allowed``, ``wrong_id``, ``wrong_direction``,
    ``duplicate``, ``refused_by_peer``, ``bad_preamble``, ``too_many_handshakes``, ``host_handshakes``,
    ``host_rate``, ``stopping``); every
    ``tls_handshake`` refusal is also counted in ``handshake_failures``. ``disconnects`` counts links closed
    after they were up, by reason code (``closed_by_peer``, ``connection_error``, ``write_error``,
    ``frame_too_large``, ``zero_length_frame``, ``truncated_frame``, ``disconnected``, ``stopping``,
    ``internal_error``).
    """

    connected: int
    frames_in: int
    bytes_in: int
    frames_out: int
    bytes_out: int
    frames_dropped: int
    links_in: int
    links_out: int
    dial_failures: int
    handshake_failures: int
    refused: dict[str, int]
    disconnects: dict[str, int]


class _Refusal(Exception):
    """A connection we (or the peer) turned away before it became a link."""

    def __init__(self, code: str, reason: str, peer_id: str | None = None) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason
        self.peer_id = peer_id


class _HostLimits:
    """Per source address: handshakes in progress and a token bucket of new connections, for at most
    ``_MAX_HOSTS_TRACKED`` addresses (the least recently seen forgotten first). An address where ``k`` configured
    peers live gets ``1 + k`` times the limits (a local network runs every node on 127.0.0.1)."""

    def __init__(self, peers_at: Counter[str] | None = None) -> None:
        self._peers_at: Counter[str] = peers_at if peers_at is not None else Counter()
        self._pending: Counter[str] = Counter()
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # host -> (tokens, at)

    def admit(self, host: str, now: float) -> str | None:
        """Count a new connection from ``host``; the refusal code if it must be closed at once, else None (then
        call ``done`` when its handshake is over)."""
        scale = 1 + self._peers_at[host]
        burst = float(_HOST_BURST * scale)
        tokens, at = self._buckets.pop(host, (burst, now))
        tokens = min(burst, tokens + (now - at) * _HOST_RATE_PER_S * scale)
        code = None
        if tokens < 1.0:
            code = "host_rate"
        else:
            tokens -= 1.0  # every attempt counts, refused or not
            if self._pending[host] >= _MAX_PENDING_PER_HOST * scale:
                code = "host_handshakes"
            else:
                self._pending[host] += 1
        self._buckets[host] = (tokens, now)
        while len(self._buckets) > _MAX_HOSTS_TRACKED:
            self._buckets.popitem(last=False)
        return code

    def done(self, host: str) -> None:
        """A handshake admitted by ``admit`` is over."""
        self._pending[host] -= 1
        if self._pending[host] <= 0:
            del self._pending[host]


class _LogLimiter:
    """At most ``burst`` lines per ``interval_s``; what it holds back is counted by code for one summary line."""

    def __init__(self, burst: int, interval_s: float) -> None:
        self.burst = burst
        self.interval_s = interval_s
        self._window_start = float("-inf")
        self._logged = 0
        self.suppressed: Counter[str] = Counter()

    def allow(self, code: str, now: float) -> bool:
        """Whether to log a line now (a new interval starts once the last one is over)."""
        if now - self._window_start >= self.interval_s:
            self._window_start = now
            self._logged = 0
        if self._logged < self.burst:
            self._logged += 1
            return True
        self.suppressed[code] += 1
        return False

    def window_end(self) -> float:
        """When the current interval ends."""
        return self._window_start + self.interval_s

    def take_suppressed(self) -> Counter[str]:
        """The counts held back since the last call, cleared."""
        out, self.suppressed = self.suppressed, Counter()
        return out


@dataclass(eq=False)
class _Link:
    """One authenticated connection to a peer."""

    peer_id: str
    outbound: bool
    remote: str
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    queue: asyncio.Queue[bytes]
    opened_at: float
    writer_task: asyncio.Task[None] | None = None
    queued_bytes: int = 0
    closed: bool = False
    close_code: str = field(default="")
    peer_cert: x509.Certificate | None = None


def _read_pem(value: bytes | os.PathLike[str], what: str) -> bytes:
    if isinstance(value, bytes):
        return value
    try:
        return Path(value).read_bytes()
    except OSError as exc:
        raise CertError(f"cannot read the {what} file {os.fspath(value)!s}: {exc.strerror or exc}") from exc


def _tune_socket(sock: socket.socket | Any) -> None:
    """Turn on TCP keepalive, so a link to a vanished host is noticed even when idle, and turn off Nagle's
    algorithm: asyncio does that only for sockets whose ``proto`` is IPPROTO_TCP, which an accepted socket of a
    ``socket.create_server`` listener (proto 0) is not, so a vote written while the previous one is unacknowledged
    waited for its ACK (up to a round trip plus the peer's delayed ACK; invisible on 127.0.0.1, ~90 ms per step on
    50 ms links: tests/e2e/test_netns.py)."""
    with contextlib.suppress(OSError, AttributeError):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        for name, value in (("TCP_KEEPIDLE", 30), ("TCP_KEEPINTVL", 10), ("TCP_KEEPCNT", 3)):
            option = getattr(socket, name, None)
            if option is not None:
                sock.setsockopt(socket.IPPROTO_TCP, option, value)


def _remote_of(address: Any) -> str:
    if isinstance(address, tuple) and len(address) >= 2:
        host, port = address[0], address[1]
        return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
    return str(address)


class TlsTransport:
    """A ``Transport`` over TCP and mutual TLS 1.3 (see the module docstring for the rules it enforces).

    Args:
        node_id: this node's id; it must be the id in ``cert_pem``.
        listen_host, listen_port: where to accept peers; port 0 picks a free port, readable as ``port`` after
            ``start()``.
        peers: the configured peers. We dial those whose id sorts above ``node_id``; entries for lower ids and
            for our own id are kept only as documentation of the network.
        ca_bundle_pem: the concatenated member CA certificates (PEM), or a path to such a file: the membership.
        cert_pem, key_pem: this node's certificate (optionally followed by intermediates) and private key, as
            PEM bytes or paths to PEM files.
        max_frame_bytes: the largest frame payload sent or accepted; a peer announcing a larger one is dropped.
        send_queue_frames: the capacity of each peer's send queue, in frames.
        send_queue_bytes: the capacity of each peer's send queue, in bytes (frames beyond it are dropped).
        allowed_node_ids: if given, only these peers are admitted (on top of holding a member certificate).
        backoff_initial_s, backoff_max_s: the reconnect delay starts at the first and doubles up to the second,
            with jitter (each delay is drawn from the upper half of its step).
        handshake_timeout_s: bound on TCP connect plus TLS handshake plus admission, each way.
        inbound_handshake_timeout_s: bound on an inbound connection's TLS handshake (a connection that sends
            nothing holds one of the few handshake places until then).
        rng: the source of backoff jitter (a fresh ``random.Random()`` by default).

    Raises:
        ValueError: a malformed argument (bad id, limits, duplicate peers, a dialed peer outside
            ``allowed_node_ids``).
        CertError: certificates or key that cannot be loaded, a certificate naming another node id, or a
            certificate that no member CA issued.
    """

    def __init__(
        self,
        node_id: str,
        listen_host: str,
        listen_port: int,
        peers: Iterable[PeerAddress],
        ca_bundle_pem: bytes | os.PathLike[str],
        cert_pem: bytes | os.PathLike[str],
        key_pem: bytes | os.PathLike[str],
        *,
        max_frame_bytes: int = 64 * 1024 * 1024,
        send_queue_frames: int = 10_000,
        send_queue_bytes: int = 256 * 1024 * 1024,
        allowed_node_ids: set[str] | None = None,
        backoff_initial_s: float = 0.1,
        backoff_max_s: float = 5.0,
        handshake_timeout_s: float = 10.0,
        inbound_handshake_timeout_s: float = 3.0,
        rng: random.Random | None = None,
    ) -> None:
        if not is_valid_node_id(node_id):
            raise ValueError(f"invalid node id {node_id!r}: use 1-64 letters, digits, '.', '_' or '-'")
        if isinstance(listen_port, bool) or not isinstance(listen_port, int) or not 0 <= listen_port <= 65535:
            raise ValueError(f"listen_port must be an integer from 0 to 65535, got {listen_port!r}")
        if not 1 <= max_frame_bytes <= MAX_FRAME_LIMIT:
            raise ValueError(f"max_frame_bytes must be from 1 to {MAX_FRAME_LIMIT}, got {max_frame_bytes}")
        if send_queue_frames < 1:
            raise ValueError(f"send_queue_frames must be at least 1, got {send_queue_frames}")
        if not 0 < backoff_initial_s <= backoff_max_s:
            raise ValueError(
                f"need 0 < backoff_initial_s <= backoff_max_s, got {backoff_initial_s} and {backoff_max_s}"
            )
        if handshake_timeout_s <= 0:
            raise ValueError(f"handshake_timeout_s must be positive, got {handshake_timeout_s}")
        if inbound_handshake_timeout_s <= 0:
            raise ValueError(f"inbound_handshake_timeout_s must be positive, got {inbound_handshake_timeout_s}")

        self.node_id = node_id
        self.listen_host = listen_host
        self.port = listen_port
        self.on_frame: FrameHandler = ignore_frame
        self.on_peer_connected: PeerHandler = ignore_peer
        self.on_peer_disconnected: PeerHandler = ignore_peer

        self._peers: dict[str, PeerAddress] = {}
        for peer in peers:
            if peer.node_id in self._peers:
                raise ValueError(f"peer {peer.node_id!r} is configured twice")
            self._peers[peer.node_id] = peer
        self._allowed = frozenset(allowed_node_ids) if allowed_node_ids is not None else None
        self._dial_ids = sorted(pid for pid in self._peers if pid > node_id)
        # A configured peer whose id sorts below ours normally dials us; one that does not list us (a node added
        # to a running network lists the old nodes, which do not list it) never would, so we dial it ourselves
        # whenever no link to it exists after a grace period (a duplicate link is refused, the first one kept).
        self._fallback_ids = sorted(pid for pid in self._peers if pid < node_id)
        if self._allowed is not None:
            outside = [pid for pid in self._dial_ids if pid not in self._allowed]
            if outside:
                raise ValueError(f"peers {outside} are configured to be dialed but are not in allowed_node_ids")

        self._max_frame = max_frame_bytes
        self._queue_frames = send_queue_frames
        self._queue_bytes = send_queue_bytes
        self._backoff_initial = backoff_initial_s
        self._backoff_max = backoff_max_s
        self._handshake_timeout = handshake_timeout_s
        self._inbound_timeout = inbound_handshake_timeout_s
        self._hosts = _HostLimits(Counter(peer.host for peer in self._peers.values()))
        self._refusal_log = _LogLimiter(_REFUSAL_LOG_BURST, _REFUSAL_LOG_INTERVAL_S)
        self._refusal_summary: asyncio.TimerHandle | None = None
        self._rng = rng if rng is not None else random.Random()

        self._ca_bundle = _read_pem(ca_bundle_pem, "CA bundle")
        self._cas: list[x509.Certificate] = []
        self._revoked: frozenset[int] = frozenset()
        self._cert = _read_pem(cert_pem, "certificate")
        self._key = _read_pem(key_pem, "key")
        self._server_ctx, self._client_ctx = self._make_contexts(self._ca_bundle, self._cert, self._key)

        self._links: dict[str, _Link] = {}
        self._banned: dict[str, float] = {}  # node id -> time.monotonic() at which its ban ends
        self._ban_reasons: dict[str, str] = {}  # node id -> why it is banned (bounded: _MAX_BANS, 200 chars)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._listen_sock: socket.socket | None = None
        self._accept_retry: asyncio.TimerHandle | None = None
        self._unwrapped: set[socket.socket] = set()  # accepted sockets whose TLS handshake has not finished
        self._started = False
        self._stopping = False

        self._frames_in = 0
        self._bytes_in = 0
        self._frames_out = 0
        self._bytes_out = 0
        self._frames_dropped = 0
        self._links_in = 0
        self._links_out = 0
        self._dial_failures = 0
        self._handshake_failures = 0
        self._refused: Counter[str] = Counter()
        self._disconnects: Counter[str] = Counter()

    # -- TLS setup --------------------------------------------------------------------------------------------
    def _make_contexts(self, ca_bundle: bytes, cert: bytes, key: bytes) -> tuple[ssl.SSLContext, ssl.SSLContext]:
        own_id = node_id_of_cert(cert)
        if own_id != self.node_id:
            raise CertError(f"the certificate names node {own_id!r}, but this node is {self.node_id!r}")
        try:
            cas = x509.load_pem_x509_certificates(ca_bundle)
        except ValueError as exc:
            raise CertError(f"cannot parse the CA bundle: {exc}") from exc
        self._cas = cas
        try:
            own = x509.load_pem_x509_certificates(cert)
        except ValueError as exc:
            raise CertError(f"the node certificate must be PEM: {exc}") from exc
        if not any(_issued_by(own[-1], ca) or own[-1] == ca for ca in cas):
            raise CertError(f"no CA in the bundle issued this node's certificate ({own[-1].issuer.rfc4514_string()})")
        now = datetime.now(UTC)
        if not own[0].not_valid_before_utc <= now <= own[0].not_valid_after_utc:
            logger.warning(
                "[%s] this node's certificate is not valid now (valid %s to %s): peers will refuse it",
                self.node_id,
                own[0].not_valid_before_utc.isoformat(),
                own[0].not_valid_after_utc.isoformat(),
            )

        server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        client.check_hostname = False  # identity is the node id in the certificate, checked after the handshake
        with tempfile.TemporaryDirectory(prefix="trellis-tls-") as tmp:  # created 0700
            cert_path = Path(tmp) / "cert.pem"
            key_path = Path(tmp) / "key.pem"
            cert_path.write_bytes(cert)
            write_private_key(key_path, key)
            for ctx in (server, client):
                ctx.minimum_version = ssl.TLSVersion.TLSv1_3
                ctx.verify_mode = ssl.CERT_REQUIRED
                try:
                    ctx.load_verify_locations(cadata=ca_bundle.decode("ascii"))
                    ctx.load_cert_chain(cert_path, key_path)
                except (ssl.SSLError, UnicodeDecodeError) as exc:
                    raise CertError(f"cannot load the TLS certificate, key or CA bundle: {exc}") from exc
        server.num_tickets = 0  # no session resumption: every link authenticates afresh
        return server, client

    def reload_identity(self, cert_pem: bytes | os.PathLike[str], key_pem: bytes | os.PathLike[str]) -> None:
        """Use a new certificate and key (a rotation) for every connection from now on.

        Links already open stay up: a node rolls to a new certificate without dropping its peers, and the old
        one keeps working for peers that have not reconnected until it expires (the overlap window).

        Raises:
            CertError: the new certificate names another node, no member CA issued it, or it does not load.
        """
        cert, key = _read_pem(cert_pem, "certificate"), _read_pem(key_pem, "key")
        self._server_ctx, self._client_ctx = self._make_contexts(self._ca_bundle, cert, key)
        self._cert, self._key = cert, key
        logger.info("[%s] now presenting a new certificate to new connections", self.node_id)

    def update_membership(self, ca_bundle_pem: bytes, revoked_serials: Iterable[int] = ()) -> None:
        """Apply a new membership: the member CAs (a CA rollover adds one, removing an org drops one) and the
        revoked certificate serial numbers.

        New connections are checked against it; open links whose peer certificate is revoked, or no longer
        issued by a member CA, are closed with the reason.

        Raises:
            CertError: the bundle does not parse, or no longer contains the CA that issued our own certificate.
        """
        server, client = self._make_contexts(ca_bundle_pem, self._cert, self._key)
        self._ca_bundle = ca_bundle_pem
        self._revoked = frozenset(revoked_serials)
        self._server_ctx, self._client_ctx = server, client
        for link in list(self._links.values()):
            if link.peer_cert is None:
                continue
            why = self._membership_refusal(link.peer_cert)
            if why is not None:
                self._refused[why[0]] += 1
                self._close(link, why[0], why[1])

    def _membership_refusal(self, cert: x509.Certificate) -> tuple[str, str] | None:
        """Why the membership refuses a peer certificate (code, reason), or None."""
        if cert.serial_number in self._revoked:
            return "revoked", f"certificate serial {cert.serial_number:x} is revoked"
        if not any(_issued_by(cert, ca) for ca in self._cas):
            return "unknown_ca", f"no member CA issued the certificate ({cert.issuer.rfc4514_string()})"
        return None

    # -- lifecycle --------------------------------------------------------------------------------------------
    async def start(self) -> None:
        """Bind the listener (``port`` then holds the bound port) and start dialing the peers above our id (and
        those below it that do not dial us: ``_fallback_dial_loop``).

        Raises:
            RuntimeError: the transport was already started.
            OSError: the listen address cannot be bound.
        """
        if self._started:
            raise RuntimeError("the transport was already started; create a new one to start again")
        self._started = True
        loop = asyncio.get_running_loop()
        infos = await loop.getaddrinfo(self.listen_host, self.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family, _, _, _, sockaddr = infos[0]
        sock = socket.create_server(sockaddr[:2], family=family, backlog=128)
        sock.setblocking(False)
        self._listen_sock = sock
        self.port = sock.getsockname()[1]
        # A reader callback rather than loop.sock_accept: cancelling sock_accept in 3.11 can lose (and leak) a
        # connection accepted in the same loop iteration; remove_reader cannot.
        loop.add_reader(sock.fileno(), self._accept_ready)
        for peer_id in self._dial_ids:
            self._spawn(self._dial_loop(self._peers[peer_id]), f"dial-{peer_id}")
        for peer_id in self._fallback_ids:
            self._spawn(self._fallback_dial_loop(self._peers[peer_id]), f"fallback-dial-{peer_id}")
        logger.info(
            "[%s] listening on %s:%d; dialing %s%s",
            self.node_id,
            self.listen_host,
            self.port,
            self._dial_ids or "no one",
            f"; and {self._fallback_ids} when they do not dial us" if self._fallback_ids else "",
        )

    async def stop(self) -> None:
        """Close the listener and every link (TLS close_notify, bounded wait), and cancel and await every task
        the transport started. Idempotent; a stopped transport cannot be started again."""
        if not self._started or self._stopping:
            return
        self._stopping = True
        self._stop_accepting()
        if self._refusal_summary is not None:
            self._refusal_summary.cancel()
            self._log_refusal_summary()
        links = list(self._links.values())
        for link in links:
            self._close(link, "stopping", "transport stopping", level=logging.INFO, graceful=True)
        current = asyncio.current_task()
        pending = {t for t in self._tasks if t is not current}
        while pending:
            # Cancel again whatever is still running: library code may swallow one cancellation.
            for task in pending:
                task.cancel()
            _, pending = await asyncio.wait(pending, timeout=_STOP_GRACE_S)
        if self._listen_sock is not None:
            self._listen_sock.close()
        for sock in self._unwrapped:  # accepted, but its task was cancelled before it could take the socket over
            sock.close()
        self._unwrapped.clear()
        if links:
            try:
                async with asyncio.timeout(_STOP_GRACE_S):
                    await asyncio.gather(*(link.writer.wait_closed() for link in links), return_exceptions=True)
            except TimeoutError:  # a peer that does not answer close_notify
                for link in links:
                    link.writer.transport.abort()
        logger.info("[%s] transport stopped", self.node_id)

    # -- the port ---------------------------------------------------------------------------------------------
    def send(self, peer_id: str, frame: bytes) -> bool:
        """Queue ``frame`` for ``peer_id``; False (never an exception) when the peer is not connected, its queue
        is full, or the frame is not 1 to ``max_frame_bytes`` bytes."""
        link = self._links.get(peer_id)
        if link is None or link.closed or not self._frame_ok(frame):
            return False
        return self._enqueue(link, frame)

    def _enqueue(self, link: _Link, frame: bytes) -> bool:
        # Bounded in frames and in bytes: a slow peer costs at most send_queue_bytes of memory.
        if link.queued_bytes + len(frame) > self._queue_bytes:
            self._frames_dropped += 1
            return False
        try:
            link.queue.put_nowait(frame)
        except asyncio.QueueFull:
            self._frames_dropped += 1
            return False
        link.queued_bytes += len(frame)
        return True

    def broadcast(self, frame: bytes) -> None:
        """Queue ``frame`` for every connected peer; a peer whose queue is full misses it (counted as dropped)."""
        if not self._frame_ok(frame):
            return
        for link in list(self._links.values()):
            if link.closed:
                continue
            self._enqueue(link, frame)

    def connected_peers(self) -> list[str]:
        """The ids of the peers with a link up now, sorted."""
        return sorted(pid for pid, link in self._links.items() if not link.closed)

    def disconnect(self, peer_id: str, reason: str) -> None:
        """Drop ``peer_id``'s link now, logging ``reason``; queued frames to it are discarded. If we dial that
        peer we reconnect after backoff; otherwise it may dial us again."""
        link = self._links.get(peer_id)
        if link is not None:
            self._close(link, "disconnected", reason)

    def ban(self, peer_id: str, seconds: float, reason: str) -> None:
        """Drop ``peer_id``'s link and refuse that node id for ``seconds`` (logged with ``reason``). At most
        ``_MAX_BANS`` bans are held; expired ones are forgotten first, then the one ending soonest."""
        now = time.monotonic()
        self._banned = {pid: end for pid, end in self._banned.items() if end > now}
        while len(self._banned) >= _MAX_BANS and peer_id not in self._banned:
            del self._banned[min(self._banned, key=self._banned.__getitem__)]
        self._banned[peer_id] = max(now + seconds, self._banned.get(peer_id, 0.0))
        self._ban_reasons = {pid: why for pid, why in self._ban_reasons.items() if pid in self._banned}
        self._ban_reasons[peer_id] = reason[:200]
        logger.warning("[%s] banned peer %s for %.0fs: %s", self.node_id, peer_id, seconds, reason)
        link = self._links.get(peer_id)
        if link is not None:
            self._close(link, "banned", reason)

    def bans(self) -> dict[str, float]:
        """The banned node ids and the seconds left on each ban."""
        now = time.monotonic()
        return {pid: end - now for pid, end in self._banned.items() if end > now}

    def banned_peers(self) -> list[tuple[str, str, float]]:
        """(node id, reason, seconds left) of each peer banned now, sorted by node id."""
        now = time.monotonic()
        return sorted(
            (pid, self._ban_reasons.get(pid, ""), end - now) for pid, end in self._banned.items() if end > now
        )

    def stats(self) -> TransportStats:
        """A snapshot of the transport's counters (see ``TransportStats``)."""
        return TransportStats(
            connected=len(self._links),
            frames_in=self._frames_in,
            bytes_in=self._bytes_in,
            frames_out=self._frames_out,
            bytes_out=self._bytes_out,
            frames_dropped=self._frames_dropped,
            links_in=self._links_in,
            links_out=self._links_out,
            dial_failures=self._dial_failures,
            handshake_failures=self._handshake_failures,
            refused=dict(self._refused),
            disconnects=dict(self._disconnects),
        )

    # -- accepting --------------------------------------------------------------------------------------------
    def _accept_ready(self) -> None:
        listener = self._listen_sock
        if listener is None or self._stopping:
            return
        for _ in range(_ACCEPT_BATCH):
            try:
                sock, address = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # out of file descriptors and the like: pause rather than spin
                logger.warning("[%s] accept failed, pausing %.1fs: %s", self.node_id, _ACCEPT_PAUSE_S, exc)
                loop = asyncio.get_running_loop()
                loop.remove_reader(listener.fileno())
                self._accept_retry = loop.call_later(_ACCEPT_PAUSE_S, self._resume_accepting)
                return
            sock.setblocking(False)
            remote = _remote_of(address)
            if len(self._unwrapped) >= _MAX_PENDING_HANDSHAKES:
                sock.close()
                self._refuse("too_many_handshakes", remote, f"{_MAX_PENDING_HANDSHAKES} handshakes already pending")
                continue
            # Cheap early refusals, before any TLS work: one host opening connections too fast, or holding too
            # many handshakes open, is closed at once and cannot take the places a member needs.
            host = str(address[0]) if isinstance(address, tuple) and address else remote
            code = self._hosts.admit(host, asyncio.get_running_loop().time())
            if code is not None:
                sock.close()
                why = "opens connections too fast" if code == "host_rate" else "has too many handshakes pending"
                self._refuse(code, remote, f"the host {why}")
                continue
            self._unwrapped.add(sock)
            self._spawn(self._serve_inbound(sock, remote, host), f"inbound-{remote}")

    def _resume_accepting(self) -> None:
        self._accept_retry = None
        if self._listen_sock is not None and not self._stopping:
            asyncio.get_running_loop().add_reader(self._listen_sock.fileno(), self._accept_ready)
            self._accept_ready()

    def _stop_accepting(self) -> None:
        if self._accept_retry is not None:
            self._accept_retry.cancel()
            self._accept_retry = None
        if self._listen_sock is not None and self._listen_sock.fileno() >= 0:
            asyncio.get_running_loop().remove_reader(self._listen_sock.fileno())

    async def _serve_inbound(self, sock: socket.socket, remote: str, host: str) -> None:
        loop = asyncio.get_running_loop()
        try:
            _tune_socket(sock)
            reader = asyncio.StreamReader(limit=_STREAM_LIMIT, loop=loop)
            protocol = asyncio.StreamReaderProtocol(reader, loop=loop)
            try:
                transport, _ = await loop.connect_accepted_socket(
                    lambda: protocol, sock, ssl=self._server_ctx, ssl_handshake_timeout=self._inbound_timeout
                )
            except (OSError, TimeoutError) as exc:  # ssl.SSLError is an OSError
                self._refuse("tls_handshake", remote, f"TLS handshake failed: {exc}")
                return
        finally:
            self._unwrapped.discard(sock)
            self._hosts.done(host)
        writer = asyncio.StreamWriter(transport, protocol, reader, loop)
        try:
            peer_id = self._authenticate(writer, expected=None)
            if peer_id in self._peers and peer_id > self.node_id:
                raise _Refusal("wrong_direction", f"we dial {peer_id!r} ourselves; it must not dial us", peer_id)
            link = self._admit(peer_id, reader, writer, remote, outbound=False)
            link.peer_cert = _peer_cert(writer)
        except _Refusal as refusal:
            transport.abort()
            self._refuse(refusal.code, remote, refusal.reason, refusal.peer_id)
            return
        writer.write(ACCEPT_PREAMBLE)
        self._announce(link)
        await self._read_frames(link)

    # -- dialing ----------------------------------------------------------------------------------------------
    async def _dial_loop(self, peer: PeerAddress) -> None:
        loop = asyncio.get_running_loop()
        failures = 0
        while not self._stopping:
            try:
                opened = await self._dial_once(peer)
            except Exception:  # a bug here must not end the redialing for good
                logger.exception("[%s] dialing %s failed", self.node_id, peer.node_id)
                opened = None
            # A link that lived long enough resets the backoff; one that dies at once (refused, or dropped by a
            # peer that dislikes us) keeps growing it, so we never hammer a peer.
            lasted = opened is not None and loop.time() - opened >= self._backoff_max
            failures = 0 if lasted else failures + 1
            await asyncio.sleep(self._backoff_delay(failures))

    async def _fallback_dial_loop(self, peer: PeerAddress) -> None:
        """Dial a peer whose id sorts below ours, but only while it has not linked to us for a grace period
        (``backoff_max_s`` plus jitter): a peer that lists us dials us first, so this adds no link in a network
        whose nodes all list each other."""
        while not self._stopping:
            await asyncio.sleep(self._backoff_max + self._rng.uniform(0, self._backoff_max))
            link = self._links.get(peer.node_id)
            if self._stopping or (link is not None and not link.closed):
                continue
            if self._allowed is not None and peer.node_id not in self._allowed:
                continue  # not a member now: its link would be refused anyway
            try:
                await self._dial_once(peer)
            except Exception:  # a bug here must not end the redialing for good
                logger.exception("[%s] dialing %s failed", self.node_id, peer.node_id)

    def _backoff_delay(self, failures: int) -> float:
        step = min(self._backoff_max, self._backoff_initial * 2.0 ** min(max(failures - 1, 0), 40))
        return step / 2 + self._rng.uniform(0, step / 2)

    async def _dial_once(self, peer: PeerAddress) -> float | None:
        """Connect to ``peer`` and serve the link until it closes. Returns when the link opened, or None."""
        remote = f"{peer.host}:{peer.port}"
        try:
            # asyncio.timeout, not wait_for: in 3.11 wait_for can swallow a cancellation (stop()) that races
            # with the connection completing.
            async with asyncio.timeout(self._handshake_timeout):
                reader, writer = await asyncio.open_connection(
                    peer.host,
                    peer.port,
                    ssl=self._client_ctx,
                    ssl_handshake_timeout=self._handshake_timeout,
                    limit=_STREAM_LIMIT,
                )
        except ssl.SSLError as exc:
            self._refuse("tls_handshake", remote, f"TLS handshake failed: {exc}", peer.node_id)
            return None
        except (OSError, TimeoutError) as exc:
            self._dial_failures += 1
            logger.debug("[%s] cannot reach %s at %s: %s", self.node_id, peer.node_id, remote, exc or "timeout")
            return None
        link: _Link | None = None
        try:
            _tune_socket(writer.get_extra_info("socket"))
            try:
                self._authenticate(writer, expected=peer.node_id)
                await self._await_admission(reader, peer.node_id)
                link = self._admit(peer.node_id, reader, writer, remote, outbound=True)
                link.peer_cert = _peer_cert(writer)
            except _Refusal as refusal:
                self._refuse(refusal.code, remote, refusal.reason, refusal.peer_id)
                return None
            self._announce(link)
            await self._read_frames(link)
            return link.opened_at
        finally:
            if link is None:
                writer.transport.abort()

    async def _await_admission(self, reader: asyncio.StreamReader, peer_id: str) -> None:
        try:
            async with asyncio.timeout(self._handshake_timeout):
                preamble = await reader.readexactly(len(ACCEPT_PREAMBLE))
        except asyncio.IncompleteReadError:
            raise _Refusal(
                "refused_by_peer", "the peer closed the connection without admitting us (see its log)", peer_id
            ) from None
        except ssl.SSLError as exc:
            self._handshake_failures += 1
            raise _Refusal("refused_by_peer", f"the peer rejected our certificate: {exc}", peer_id) from None
        except TimeoutError:
            raise _Refusal("refused_by_peer", f"not admitted within {self._handshake_timeout}s", peer_id) from None
        except OSError as exc:
            raise _Refusal("refused_by_peer", f"connection failed while awaiting admission: {exc}", peer_id) from None
        if preamble != ACCEPT_PREAMBLE:
            raise _Refusal("bad_preamble", f"expected {ACCEPT_PREAMBLE!r}, got {preamble!r}", peer_id)

    # -- admission --------------------------------------------------------------------------------------------
    def _authenticate(self, writer: asyncio.StreamWriter, *, expected: str | None) -> str:
        ssl_object = writer.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        if not der:
            raise _Refusal("bad_certificate", "the peer presented no certificate", expected)
        try:
            peer_id = node_id_of_cert(der)
        except CertError as exc:
            raise _Refusal("bad_certificate", exc.reason, expected) from None
        why = self._membership_refusal(x509.load_der_x509_certificate(der))
        if why is not None:
            raise _Refusal(why[0], why[1], peer_id)
        if peer_id == self.node_id:
            raise _Refusal("own_id", f"the peer's certificate carries our own node id {peer_id!r}", peer_id)
        end = self._banned.get(peer_id)
        if end is not None and end > time.monotonic():
            raise _Refusal("banned", f"node {peer_id!r} is banned for {end - time.monotonic():.0f}s more", peer_id)
        if expected is not None and peer_id != expected:
            raise _Refusal("wrong_id", f"we dialed {expected!r} but its certificate names {peer_id!r}", peer_id)
        if self._allowed is not None and peer_id not in self._allowed:
            raise _Refusal("not_allowed", f"node id {peer_id!r} is not in allowed_node_ids", peer_id)
        return peer_id

    def _admit(
        self,
        peer_id: str,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        remote: str,
        *,
        outbound: bool,
    ) -> _Link:
        if self._stopping:
            raise _Refusal("stopping", "the transport is stopping", peer_id)
        existing = self._links.get(peer_id)
        if existing is not None and not existing.closed:
            raise _Refusal("duplicate", f"already linked to {peer_id!r} via {existing.remote}; keeping that", peer_id)
        link = _Link(
            peer_id=peer_id,
            outbound=outbound,
            remote=remote,
            reader=reader,
            writer=writer,
            queue=asyncio.Queue(self._queue_frames),
            opened_at=asyncio.get_running_loop().time(),
        )
        self._links[peer_id] = link
        if outbound:
            self._links_out += 1
        else:
            self._links_in += 1
        link.writer_task = self._spawn(self._write_frames(link), f"writer-{peer_id}")
        logger.info("[%s] linked to %s (%s %s)", self.node_id, peer_id, "dialed" if outbound else "from", remote)
        return link

    def _announce(self, link: _Link) -> None:
        try:
            self.on_peer_connected(link.peer_id)
        except Exception:
            logger.exception("[%s] on_peer_connected(%r) failed", self.node_id, link.peer_id)

    def _refuse(self, code: str, remote: str, reason: str, peer_id: str | None = None) -> None:
        self._refused[code] += 1
        if code == "tls_handshake":
            self._handshake_failures += 1
        # A flood of refusals must not flood the log: a few lines per interval, then one line with the counts.
        loop = asyncio.get_running_loop()
        limiter = self._refusal_log
        if limiter.allow(code, loop.time()):
            who = f"{peer_id!r} at {remote}" if peer_id else remote
            logger.warning("[%s] refused %s (%s): %s", self.node_id, who, code, reason)
        elif self._refusal_summary is None:
            self._refusal_summary = loop.call_at(limiter.window_end(), self._log_refusal_summary)

    def _log_refusal_summary(self) -> None:
        self._refusal_summary = None
        held = self._refusal_log.take_suppressed()
        if held:
            counts = ", ".join(f"{code} {n}" for code, n in sorted(held.items()))
            logger.warning(
                "[%s] %d more refusals not logged in the last %.0fs (%s)",
                self.node_id,
                sum(held.values()),
                self._refusal_log.interval_s,
                counts,
            )

    # -- frames -----------------------------------------------------------------------------------------------
    def _frame_ok(self, frame: bytes) -> bool:
        return isinstance(frame, bytes) and 0 < len(frame) <= self._max_frame

    async def _read_frames(self, link: _Link) -> None:
        reader = link.reader
        max_frame = self._max_frame
        unpack = _HEADER.unpack_from
        buf = bytearray()
        try:
            while not link.closed:
                chunk = await reader.read(_READ_CHUNK)
                if link.closed:
                    return
                if not chunk:
                    if buf:
                        self._close(link, "truncated_frame", f"connection ended inside a frame ({len(buf)} bytes)")
                    else:
                        self._close(link, "closed_by_peer", "the peer closed the connection", level=logging.INFO)
                    return
                buf += chunk
                pos, end = 0, len(buf)
                while end - pos >= 4:
                    (size,) = unpack(buf, pos)
                    if size == 0:
                        self._close(link, "zero_length_frame", "the peer sent a frame of length 0")
                        return
                    if size > max_frame:
                        self._close(link, "frame_too_large", f"frame of {size} bytes exceeds the limit of {max_frame}")
                        return
                    if end - pos - 4 < size:
                        break
                    frame = bytes(buf[pos + 4 : pos + 4 + size])
                    pos += 4 + size
                    self._deliver(link, frame)
                    if link.closed:
                        return
                if pos:
                    del buf[:pos]
                if len(buf) >= 4:
                    # A large frame is under way: read the rest in one call instead of chunk by chunk.
                    (size,) = unpack(buf, 0)
                    missing = 4 + size - len(buf)
                    if missing > _READ_CHUNK:
                        rest = await reader.readexactly(missing)
                        if link.closed:
                            return
                        frame = bytes(buf[4:]) + rest
                        buf.clear()
                        self._deliver(link, frame)
        except asyncio.IncompleteReadError as exc:
            short = (exc.expected or 0) - len(exc.partial)
            self._close(link, "truncated_frame", f"connection ended inside a frame ({short} bytes short)")
        except OSError as exc:  # includes ssl.SSLError and ConnectionResetError
            self._close(link, "connection_error", str(exc) or type(exc).__name__)
        except asyncio.CancelledError:
            self._close(link, "stopping", "reader cancelled", level=logging.INFO)
            raise
        except Exception as exc:  # a bug here must cost one link, not the node
            logger.exception("[%s] reading from %s failed", self.node_id, link.peer_id)
            self._close(link, "internal_error", repr(exc))

    def _deliver(self, link: _Link, frame: bytes) -> None:
        self._frames_in += 1
        self._bytes_in += len(frame)
        try:
            self.on_frame(link.peer_id, frame)
        except Exception:
            logger.exception("[%s] on_frame handler failed on a frame from %s", self.node_id, link.peer_id)

    async def _write_frames(self, link: _Link) -> None:
        queue = link.queue
        writer = link.writer
        pack = _HEADER.pack
        try:
            while True:
                frame = await queue.get()
                chunks: list[bytes] = []
                small: list[bytes] = []
                count = 0
                payload = 0
                while True:
                    size = len(frame)
                    link.queued_bytes -= size
                    small.append(pack(size))
                    if size >= _JOIN_LIMIT:
                        chunks.append(b"".join(small))
                        small.clear()
                        chunks.append(frame)
                    else:
                        small.append(frame)
                    count += 1
                    payload += size
                    if payload >= _BATCH_BYTES or queue.empty():
                        break
                    frame = queue.get_nowait()
                if small:
                    chunks.append(b"".join(small))
                writer.writelines(chunks)
                await writer.drain()
                self._frames_out += count
                self._bytes_out += payload
        except OSError as exc:  # includes ssl.SSLError and ConnectionResetError
            self._close(link, "write_error", str(exc) or type(exc).__name__)

    def _close(
        self, link: _Link, code: str, detail: str, *, level: int = logging.WARNING, graceful: bool = False
    ) -> None:
        if link.closed:
            return
        link.closed = True
        link.close_code = code
        if self._links.get(link.peer_id) is link:
            del self._links[link.peer_id]
        self._disconnects[code] += 1
        logger.log(level, "[%s] disconnected %s at %s (%s): %s", self.node_id, link.peer_id, link.remote, code, detail)
        task = link.writer_task
        if task is not None and task is not asyncio.current_task():
            task.cancel()
        if graceful:
            link.writer.close()
        else:
            link.writer.transport.abort()
        try:
            self.on_peer_disconnected(link.peer_id)
        except Exception:
            logger.exception("[%s] on_peer_disconnected(%r) failed", self.node_id, link.peer_id)

    # -- tasks ------------------------------------------------------------------------------------------------
    def _spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro, name=f"p2p-{self.node_id}-{name}")
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("[%s] task %s failed", self.node_id, task.get_name(), exc_info=task.exception())


def _peer_cert(writer: asyncio.StreamWriter) -> x509.Certificate | None:
    ssl_object = writer.get_extra_info("ssl_object")
    der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
    return x509.load_der_x509_certificate(der) if der else None


def _issued_by(cert: x509.Certificate, ca: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True
