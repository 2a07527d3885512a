"""A power-loss twin of a node's storage: a simulated disk whose environments keep only what was synced when
the machine goes down (storage faults in the manner of TigerBeetle's simulator).

``PowerLossDisk`` stands in for ``LmdbEnvironments`` under a ``SplitStore`` (``SplitStore(path,
environments=disk)``), so the routing, the write order, the rebuild decision and ``TrellisApp``'s re-execution
on opening are the real code; only LMDB is modelled, as ``LmdbStore`` uses it (ADR 0011):

- every ``write``/``write_tables`` is one transaction, atomic;
- a *durable* environment (LMDB ``sync``/``metasync`` on: the chain tables, and the derived ones under
  ``[node] durable_state``) is on the disk when the call returns;
- an *unsynced* one (``sync``/``metasync`` off) is in the page cache only, until ``sync`` or a clean ``close``;
  while open it holds a marker naming the boot it was opened in, fsynced at opening and removed by a clean close.
  A durable opening of an environment that still holds a marker from this boot syncs it and removes the marker.

Faults, injected by the test or the simulation:

- ``crash_after(n)``: the ``n+1``-th step from now (a transaction or a sync) raises ``SimulatedCrash`` without
  taking effect (``done=True``: after taking effect, before returning, as when LMDB's last write landed and the
  process died in the ``fsync`` that follows), and so does everything after it until ``kill`` or
  ``power_loss``: a crash point anywhere in a commit sequence;
- ``kill()``: the process dies; the page cache survives (every returned transaction is visible on reopening),
  but nothing more reaches the disk;
- ``power_loss(rng)``: the machine goes down: every write not yet synced is dropped, except, when ``rng`` is
  given, what the operating system happened to flush — a prefix of the unsynced transactions, or a random
  subset of their rows (a torn B-tree) — and the next opening is in another boot.

Reopening after either gives exactly the durable image (plus, after a kill, the page cache).
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from trellis.storage.kv import (
    TABLES,
    MemoryStore,
    ReadTxn,
    StorageError,
    TableKeys,
    TableRows,
    WriteBatch,
    WriteTxn,
    copied_view,
    overlay_transact,
)

T = TypeVar("T")


class SimulatedCrash(BaseException):
    """The simulated machine stopped at an armed crash point: the step being attempted did not happen, and no
    storage call succeeds until ``PowerLossDisk.kill`` or ``power_loss``. A ``BaseException``, as a process death
    is: no ``except Exception`` in the code under test may swallow it."""


@dataclass
class _Image:
    """One environment on the simulated disk."""

    durable: dict[str, dict[bytes, bytes]] = field(default_factory=lambda: {name: {} for name in TABLES})
    pending: list[WriteBatch] = field(default_factory=list)
    """Transactions in the page cache only, oldest first."""
    marker: int | None = None
    """The boot recorded by the open marker of an unsynced opening (on the disk), or None."""

    def apply(self, batch: WriteBatch) -> None:
        """Put ``batch`` on the disk."""
        tables = self.durable
        for table, key, value in batch:
            if value is None:
                tables[table].pop(key, None)
            else:
                tables[table][key] = value

    def sync(self) -> None:
        for batch in self.pending:
            self.apply(batch)
        self.pending.clear()


class PowerLossDisk:
    """A simulated machine's disk holding named environments (an ``Environments`` for ``SplitStore``)."""

    def __init__(self) -> None:
        self.boot = 0
        """The current boot of the machine (a power loss starts the next one)."""
        self.steps = 0
        """Transactions and syncs performed so far (the crash points ``crash_after`` counts)."""
        self._images: dict[str, _Image] = {}
        self._open: list[PowerLossEnvironment] = []
        self._crash_in: int | None = None
        self._crash_done = False
        self._down = False

    # -- Environments ------------------------------------------------------------------------------------
    def open(self, name: str, *, durable: bool) -> PowerLossEnvironment:
        """Open (creating if missing) the environment ``name``; ``durable`` as LMDB's ``sync``/``metasync``."""
        if self._down:
            raise SimulatedCrash("the machine is down")
        if any(env.name == name for env in self._open):
            raise StorageError(f"the environment {name!r} is already open")
        env = PowerLossEnvironment(self, name, self._images.setdefault(name, _Image()), durable=durable)
        self._open.append(env)
        return env

    def discard(self, name: str) -> None:
        """Delete the environment ``name`` (it must not be open)."""
        if any(env.name == name for env in self._open):
            raise StorageError(f"the environment {name!r} is open")
        self._images.pop(name, None)

    # -- faults ------------------------------------------------------------------------------------------
    def crash_after(self, steps: int, *, done: bool = False) -> None:
        """Let ``steps`` more transactions or syncs happen; the next one raises ``SimulatedCrash`` instead of
        taking effect (``done``: after taking effect, before returning)."""
        if steps < 0:
            raise ValueError(f"steps must be 0 or more, not {steps}")
        self._crash_in = steps
        self._crash_done = done

    def kill(self) -> None:
        """The process dies at this instant: its open environments are gone (not closed: no sync, markers
        stay); the page cache, and so every returned transaction, survives it."""
        for env in self._open:
            env._lost = True
        self._open.clear()
        self._crash_in = None
        self._down = False

    def power_loss(self, rng: random.Random | None = None) -> None:
        """The machine goes down: the process dies and every write not yet synced is lost, except, with
        ``rng``, what the operating system happened to write back (chosen from ``rng``: nothing, a prefix of
        the unsynced transactions, or a random subset of their rows). The machine comes back in a new boot."""
        self.kill()
        for image in self._images.values():
            for batch in _flushed(image.pending, rng):
                image.apply(batch)
            image.pending.clear()
        self.boot += 1

    def unsynced(self, name: str) -> int:
        """How many transactions of the environment ``name`` are in the page cache only."""
        image = self._images.get(name)
        return 0 if image is None else len(image.pending)

    def _step(self) -> bool:
        """Called before each transaction or sync: the armed crash point fires here, or (True returned) the
        caller raises ``SimulatedCrash`` once the step has taken effect."""
        if self._down:
            raise SimulatedCrash("the machine is down")
        self.steps += 1
        if self._crash_in is not None:
            if self._crash_in == 0:
                self._crash_in = None
                self._down = True
                if self._crash_done:
                    return True
                self.steps -= 1
                raise SimulatedCrash(f"simulated crash before step {self.steps + 1}")
            self._crash_in -= 1
        return False

    def _crashed_after(self) -> None:
        raise SimulatedCrash(f"simulated crash after step {self.steps}, before it returned")


def _flushed(pending: Sequence[WriteBatch], rng: random.Random | None) -> list[WriteBatch]:
    """What of ``pending`` the operating system wrote back before the power went."""
    if rng is None or not pending:
        return []
    mode = rng.randrange(3)
    if mode == 0:
        return []
    if mode == 1:  # written back in order, whole transactions
        return list(pending[: rng.randint(0, len(pending))])
    # torn: pages written back in any order, so any mix of old and new rows
    return [[row for row in batch if rng.random() < 0.5] for batch in pending]


class PowerLossEnvironment:
    """One environment of a ``PowerLossDisk``: a ``KVStore`` (reads from what this process sees: the disk plus
    the page cache), whose writes reach the disk as LMDB's would (see the module docstring)."""

    def __init__(self, disk: PowerLossDisk, name: str, image: _Image, *, durable: bool) -> None:
        self.name = name
        self.durable = durable
        self._disk = disk
        self._image = image
        self._lost = False
        view = MemoryStore(image.durable)
        for batch in image.pending:  # the page cache of an earlier process of this boot
            view.write(batch)
        self._view = view
        self.was_interrupted_by_reboot = image.marker is not None and image.marker != disk.boot
        if not durable:
            image.marker = disk.boot
        elif not self.was_interrupted_by_reboot and image.marker is not None:
            image.sync()
            image.marker = None

    def _live(self) -> MemoryStore:
        if self._lost:
            raise StorageError(f"the environment {self.name!r} was lost with its process")
        return self._view

    def get(self, table: str, key: bytes) -> bytes | None:
        return self._live().get(table, key)

    def get_many(self, table: str, keys: Sequence[bytes]) -> list[bytes | None]:
        return self._live().get_many(table, keys)

    def scan(
        self, table: str, start: bytes, end: bytes, *, limit: int = 1000, reverse: bool = False
    ) -> list[tuple[bytes, bytes]]:
        return self._live().scan(table, start, end, limit=limit, reverse=reverse)

    def write(self, batch: WriteBatch) -> None:
        view = self._live()
        batch = list(batch)
        crash = self._disk._step()
        view.write(batch)  # checks every row before applying any
        if self.durable:
            self._image.apply(batch)
        else:
            self._image.pending.append(batch)
        if crash:
            self._disk._crashed_after()

    def write_tables(self, puts: TableRows, deletes: TableKeys | None = None) -> None:
        batch: WriteBatch = [(table, key, None) for table, keys in (deletes or {}).items() for key in keys]
        batch += [(table, key, value) for table, rows in puts.items() for key, value in rows.items()]
        self.write(batch)

    def transact(self, tables: Sequence[str], fn: Callable[[WriteTxn], T]) -> T:
        """One transaction, as ``write`` is (single-threaded simulation: reads see this environment's live
        contents, the writes land in one step)."""
        return overlay_transact(self, fn)

    def read_view(self, tables: Sequence[str]) -> contextlib.AbstractContextManager[ReadTxn]:
        return copied_view(self, tables)

    def sync(self) -> None:
        """Put every write so far on the disk; a no-op for a durable environment."""
        self._live()
        if not self.durable and self._image.pending:
            crash = self._disk._step()
            self._image.sync()
            if crash:
                self._disk._crashed_after()

    def abandon(self) -> None:
        """Close without syncing; the marker stays."""
        self._close()

    def close(self) -> None:
        """A clean close: an unsynced environment is synced and its marker removed."""
        if self._lost:
            return
        if not self.durable:
            self.sync()
            self._image.marker = None
        self._close()

    def _close(self) -> None:
        self._lost = True
        if self in self._disk._open:
            self._disk._open.remove(self)
