"""TlsTransport under an unauthenticated connection flood: the log stays bounded and a member still links at once.

The flood runs in its own process from another loopback address (127.0.0.2, as an attacker's host would be
another address than the validators'): it holds hundreds of silent connections (never starting TLS), and keeps
opening new ones that send bytes that are not TLS or complete TLS with a certificate from outside the membership.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import tempfile
from collections import Counter
from pathlib import Path

import pytest

from trellis.keys.certs import write_private_key
from trellis.p2p.tcp import _HOST_BURST, _HOST_RATE_PER_S, _MAX_PENDING_PER_HOST, _HostLimits, _LogLimiter

from . import HOST, Net, closed_by_server, creds, members, org, run, wait_until

FLOOD_SOURCE = "127.0.0.2"
FLOOD_S = 4.0

_FLOOD = r"""
import socket, ssl, sys, time
host, port, seconds, src, cert, key, ca = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), *sys.argv[4:8]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.load_verify_locations(ca)
ctx.load_cert_chain(cert, key)
held, opened, end, n = [], 0, time.monotonic() + seconds, 0
while time.monotonic() < end:
    try:
        s = socket.create_connection((host, port), timeout=1, source_address=(src, 0))
    except OSError:
        time.sleep(0.005)
        continue
    opened += 1
    if len(held) < 300:
        held.append(s)  # silent: holds a handshake slot until the server gives up on it
        continue
    n += 1
    try:
        if n % 2:
            s.sendall(b"\x16\x03\x01 not a client hello " * 8)
            s.recv(1)
        else:
            with ctx.wrap_socket(s) as t:
                t.recv(1)
    except (OSError, ssl.SSLError):
        pass
    s.close()
print(opened)
"""


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.mark.timeout(60)
def test_a_connection_flood_logs_a_bounded_summary_and_a_member_still_links_within_two_seconds() -> None:
    outsider = creds("mallory", "initech", members() + org("initech").cert_pem)
    handler = _Lines()
    p2p_log = logging.getLogger("trellis.p2p")
    p2p_log.addHandler(handler)
    level = p2p_log.level
    p2p_log.setLevel(logging.WARNING)

    async def scenario(tmp: Path) -> tuple[float, int, dict[str, int]]:
        cert, key, ca = tmp / "cert.pem", tmp / "key.pem", tmp / "ca.pem"
        cert.write_bytes(outsider.cert_pem)
        write_private_key(key, outsider.key_pem)
        ca.write_bytes(outsider.ca_bundle)
        async with Net() as net:
            # Production backoff: a refused dialer waits longer and longer.
            defaults = {"backoff_initial_s": 0.1, "backoff_max_s": 5.0}
            m1 = await net.start(creds("m1"), **defaults)
            flood = await asyncio.create_subprocess_exec(
                sys.executable,
                "-c",
                _FLOOD,
                HOST,
                str(m1.port),
                str(FLOOD_S),
                FLOOD_SOURCE,
                str(cert),
                str(key),
                str(ca),
                stdout=asyncio.subprocess.PIPE,
            )
            try:
                await wait_until(lambda: sum(m1.transport.stats()["refused"].values()) >= 50, "the flood under way")
                loop = asyncio.get_running_loop()
                t0 = loop.time()
                m0 = await net.start(creds("m0"), dial=[m1], **defaults)  # a validator restarting mid-flood
                await wait_until(lambda: m1.peers() == ["m0"] and m0.peers() == ["m1"], "m0 linking", timeout=10)
                took = loop.time() - t0
                out, _ = await flood.communicate()
            finally:
                if flood.returncode is None:
                    flood.kill()
                    await flood.wait()
            return took, int(out or 0), dict(m1.transport.stats()["refused"])

    try:
        with tempfile.TemporaryDirectory() as tmp:
            took, opened, refused = run(scenario(Path(tmp)), timeout=40)
    finally:
        p2p_log.removeHandler(handler)
        p2p_log.setLevel(level)
    refusal_lines = [line for line in handler.lines if "refus" in line]
    assert opened >= 300 and sum(refused.values()) >= 300, (opened, refused)
    assert took < 2.0, f"m0 linked only after {took:.1f}s (refusals: {refused})"
    # A handful of lines per interval, each naming how many were not logged, instead of one line per refusal.
    assert len(refusal_lines) <= 40, f"{len(refusal_lines)} refusal lines for {sum(refused.values())} refusals"
    assert any("not logged" in line for line in refusal_lines)
    print(f"linked in {took:.2f}s; {len(refusal_lines)} lines for {refused}")


def test_one_host_may_hold_only_a_few_handshakes_open_and_others_are_unaffected() -> None:
    limits = _HostLimits()
    codes = [limits.admit("10.0.0.9", 0.0) for _ in range(_MAX_PENDING_PER_HOST + 2)]
    assert codes == [None] * _MAX_PENDING_PER_HOST + ["host_handshakes"] * 2
    assert limits.admit("10.0.0.7", 0.0) is None  # another host
    limits.done("10.0.0.9")
    assert limits.admit("10.0.0.9", 0.0) is None  # a place freed


def test_one_host_opening_connections_too_fast_is_refused_until_its_bucket_refills() -> None:
    limits = _HostLimits()
    refused = 0
    for _ in range(_HOST_BURST + 10):
        code = limits.admit("10.0.0.9", 0.0)
        if code is None:
            limits.done("10.0.0.9")
        else:
            assert code == "host_rate"
            refused += 1
    assert refused == 10
    assert limits.admit("10.0.0.9", 1.0 / _HOST_RATE_PER_S) is None  # one token back after its interval
    assert limits.admit("10.0.0.8", 0.0) is None


def test_the_refusal_log_allows_a_burst_per_interval_and_counts_the_rest() -> None:
    log = _LogLimiter(burst=3, interval_s=10.0)
    allowed = [log.allow("tls_handshake", t / 10) for t in range(10)]
    assert allowed == [True] * 3 + [False] * 7
    assert log.take_suppressed() == {"tls_handshake": 7}
    assert log.allow("host_rate", 10.5)  # a new interval
    assert log.take_suppressed() == {}


def test_an_inbound_connection_that_never_starts_tls_is_closed_after_the_inbound_handshake_timeout() -> None:
    async def scenario() -> None:
        async with Net() as net:
            b = await net.start(creds("b"), inbound_handshake_timeout_s=0.3, handshake_timeout_s=10.0)
            reader, writer = await asyncio.open_connection(HOST, b.port)
            loop = asyncio.get_running_loop()
            t0 = loop.time()
            assert await closed_by_server(reader)
            assert loop.time() - t0 < 2.0
            writer.close()
            await wait_until(lambda: b.transport.stats()["refused"].get("tls_handshake") == 1, "b counting it")

    run(scenario())


def test_a_host_where_configured_peers_live_gets_limits_scaled_by_their_number() -> None:
    limits = _HostLimits(Counter({"127.0.0.1": 3}))
    codes = [limits.admit("127.0.0.1", 0.0) for _ in range(4 * _MAX_PENDING_PER_HOST + 1)]
    assert codes == [None] * (4 * _MAX_PENDING_PER_HOST) + ["host_handshakes"]
    assert [limits.admit("127.0.0.9", 0.0) for _ in range(_MAX_PENDING_PER_HOST + 1)][-1] == "host_handshakes"
