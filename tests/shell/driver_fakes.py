"""Fakes a ``ConsensusDriver`` runs against in the shell tests: a network that records what is sent, and a clock
that moves only when told to."""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass, field

from trellis.node.wire import WireMsg, decode_msg


@dataclass
class FakeNetwork:
    """Records every frame the driver sends (decoded) and every disconnect."""

    sent: list[tuple[str, WireMsg]] = field(default_factory=list)
    broadcasts: list[WireMsg] = field(default_factory=list)
    disconnects: list[tuple[str, str]] = field(default_factory=list)

    def send(self, peer_id: str, frame: bytes) -> bool:
        self.sent.append((peer_id, decode_msg(frame, 1 << 30)))
        return True

    def broadcast(self, frame: bytes) -> None:
        self.broadcasts.append(decode_msg(frame, 1 << 30))

    def disconnect(self, peer_id: str, reason: str) -> None:
        self.disconnects.append((peer_id, reason))

    def sent_to(self, peer_id: str, kind: type) -> list:  # type: ignore[type-arg]
        return [m for p, m in self.sent if p == peer_id and isinstance(m, kind)]

    def broadcast_of(self, kind: type) -> list:  # type: ignore[type-arg]
        return [m for m in self.broadcasts if isinstance(m, kind)]


class ManualTimers:
    """A clock that moves only when ``advance`` is called; due callbacks run then, in time order."""

    def __init__(self, now_ms: int) -> None:
        self.now = now_ms
        self._queue: list[tuple[int, int, Callable[[], None]]] = []
        self._seq = 0

    def call_later(self, delay_s: float, callback: Callable[[], None]) -> object:
        self._seq += 1
        heapq.heappush(self._queue, (self.now + round(delay_s * 1000), self._seq, callback))
        return None

    def now_ms(self) -> int:
        return self.now

    def advance(self, ms: int) -> None:
        end = self.now + ms
        while self._queue and self._queue[0][0] <= end:
            due, _, callback = heapq.heappop(self._queue)
            self.now = max(self.now, due)
            callback()
        self.now = end
