"""What a module declares: its name, its messages and their handlers (docs/guides/writing-a-module.md).

Every module's package (``trellis/core/modules/<name>/__init__.py``) defines ``MODULE = Module(...)``;
``trellis.core.modules.registry`` lists them once and builds the handler table from them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from trellis.core.execution.context import StateReader, TxContext
from trellis.core.ledger.block import Event
from trellis.core.modules.interchain.messages import Ack, Packet
from trellis.core.params import ChainParams

Handler = Callable[[TxContext, Any], list[Event]]
"""A message handler: runs one message against the transaction's context and returns its events, or raises
``TxFailure`` (the transaction fails with a receipt code; its writes are discarded)."""


class BlockContext:
    """What a module's ``begin_block`` sees: the chain parameters, the block's height, time and parent block id, and
    a read/write view of the state before the block's first transaction (a ``StateReader``; ``put(key, None)``
    deletes). Its writes are part of the block's writes, before every transaction's."""

    __slots__ = ("_put", "_state", "height", "params", "parent_id", "time_ms")

    def __init__(
        self,
        params: ChainParams,
        height: int,
        time_ms: int,
        parent_id: bytes,
        state: StateReader,
        put: Callable[[bytes, bytes | None], None],
    ) -> None:
        self.params = params
        self.height = height
        self.time_ms = time_ms
        self.parent_id = parent_id
        """The previous block's id (32 zero bytes before block 1)."""
        self._state = state
        self._put = put

    def get(self, key: bytes) -> bytes | None:
        """The value at ``key`` as the block has left it so far, or None."""
        return self._state.get(key)

    def scan(self, start: bytes, end: bytes, limit: int) -> list[tuple[bytes, bytes]]:
        """Up to ``limit`` entries with ``start <= key < end``, in key order, as the block has left them so far
        (writes under the executor's scanned prefixes included; a hook runs before any transaction)."""
        return self._state.scan(start, end, limit)

    def put(self, key: bytes, value: bytes | None) -> None:
        """Write ``key`` (None: delete it)."""
        self._put(key, value)


BlockHook = Callable[[BlockContext], None]
"""A module's work at the start of every block, before its transactions (custody's challenge rounds and expiries).
It must do bounded work and must not raise: a hook that raises makes the block impossible to build."""


class PacketApp(Protocol):
    """What a module that takes packets on its port gives the interchain module (ADR 0015 section 1; the port is
    the module's name). Every callback runs inside the transaction that carries the packet, on its context."""

    version: str
    """The channel version the application speaks (``trellis-transfer-1``)."""

    def on_chan_open(self, ctx: TxContext, order: int, counterparty_port: str, version: str) -> None:
        """Accept a channel handshake step (init or try) for this port, or raise ``TxFailure`` to refuse it."""
        ...

    def on_chan_close(self, ctx: TxContext, channel: str) -> None:
        """Accept a user's ``chan_close_init`` of one of this port's channels, or raise ``TxFailure`` to refuse it
        (transfer refuses: its vouchers need the channel). A close proven from the counterparty is not refusable."""
        ...

    def on_recv(self, ctx: TxContext, packet: Packet) -> tuple[Ack | None, list[Event]]:
        """Take a received packet and answer its acknowledgement, or None to answer later (a pending ack: the
        application writes it with ``interchain.packets.write_ack``), with the events of what it did (a forward's
        second-hop ``interchain.send_packet``): the receive's receipt carries them after its
        ``interchain.recv_packet``. It runs in a savepoint: an error ack (code not 0) or a ``TxFailure`` (turned
        into ``Ack(code, reason=message)``) undoes its writes and drops its events; a success ack or None keeps
        both."""
        ...

    def on_ack(self, ctx: TxContext, packet: Packet, ack: Ack) -> list[Event]:
        """The destination acknowledged ``packet`` with ``ack`` (refund on an error ack)."""
        ...

    def on_timeout(self, ctx: TxContext, packet: Packet) -> list[Event]:
        """``packet`` timed out before the destination received it (refund)."""
        ...


@dataclass(frozen=True)
class Module:
    """A consensus module: the messages it adds to the payload union, each with its handler, and the state-key
    prefixes it owns (no two modules share one)."""

    name: str
    """The module's name: every message's tag is ``"<name>.<action>"``."""
    handlers: Mapping[type, Handler]
    """Each message type of the module, mapped to its handler. The message types are the keys."""
    prefixes: tuple[bytes, ...] = field(default=())
    """The state-key prefixes the module's records live under."""
    packet_app: PacketApp | None = None
    """The module's packet application, when it takes interchain packets on its port (its name)."""
    begin_block: BlockHook | None = None
    """The module's work at the start of every block (``BlockHook``), or None."""

    @property
    def messages(self) -> tuple[type, ...]:
        """The module's message types, in declaration order."""
        return tuple(self.handlers)
