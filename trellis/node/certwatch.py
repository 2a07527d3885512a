"""Certificate rotation without a restart: watch the node's TLS certificate and key files.

An operator (or an ACME-style renewal job) replaces ``tls/node.crt`` and ``tls/node.key``; within
``[p2p] cert_reload_s`` the node presents the new certificate to every new connection, while open links stay
up. A replacement that does not load (half-written files, a certificate for another node, one no member CA
issued) is logged and ignored: the node keeps its current certificate and tries again on the next change.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Protocol

from trellis.keys.certs import CertError

logger = logging.getLogger("trellis.node")


class Reloadable(Protocol):
    """A transport that can switch to a new certificate (``TlsTransport``)."""

    def reload_identity(self, cert_pem: bytes, key_pem: bytes) -> None:
        """Use the new certificate and key for new connections."""
        ...


class CertWatcher:
    """Polls two files' modification times and reloads the transport's identity when they change."""

    def __init__(self, transport: Reloadable, cert_path: Path, key_path: Path, interval_s: float) -> None:
        self.transport = transport
        self.cert_path = cert_path
        self.key_path = key_path
        self.interval_s = interval_s
        self.reloads = 0
        """How many new certificates were taken up (for tests and status)."""
        self._seen = self._stamp()
        self._task: asyncio.Task[None] | None = None

    def _stamp(self) -> tuple[int, int] | None:
        try:
            return self.cert_path.stat().st_mtime_ns, self.key_path.stat().st_mtime_ns
        except OSError:
            return None

    def check(self) -> bool:
        """Reload if the files changed since the last look; return True when a new certificate was taken up."""
        stamp = self._stamp()
        if stamp is None or stamp == self._seen:
            return False
        self._seen = stamp
        try:
            cert, key = self.cert_path.read_bytes(), self.key_path.read_bytes()
            self.transport.reload_identity(cert, key)
        except (OSError, CertError) as exc:
            logger.warning("new TLS certificate in %s not taken up: %s", self.cert_path, exc)
            return False
        self.reloads += 1
        logger.info("took up the new TLS certificate in %s", self.cert_path)
        return True

    def start(self) -> None:
        """Start polling on the running event loop."""
        self._task = asyncio.get_running_loop().create_task(self._run(), name="cert-watch")

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            self.check()

    def stop(self) -> None:
        """Stop polling."""
        if self._task is not None:
            self._task.cancel()
            self._task = None
