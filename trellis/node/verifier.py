"""Signature verification backends: the node verifies each transaction's signature once, in batches.

The port is ``trellis.core.crypto.batch.BatchVerifier``; ``SuiteVerifier`` there verifies in the calling
process. ``CpuPoolVerifier`` here spreads a batch over worker processes: the batch is written once into a
shared-memory segment per worker (no pickling of transaction objects), each worker verifies its slice with
the chain suite's native verifier (workers are told the suite's name: Ed25519 or SM2) and writes one result byte per signature back into shared memory, and a pipe
carries only "go"/"done" notifications. An accelerator backend (a GPU batch verifier) plugs in behind the
same port; nothing requires one.

Shared-memory layout of a worker's request region (little-endian)::

    u32 count, then per item: u16 public key length, public key, u16 signature length, signature,
    u32 message length, message
and its result region: ``count`` bytes, 1 = valid.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import struct
import threading
import time
from collections.abc import Sequence
from multiprocessing.connection import Connection
from multiprocessing.shared_memory import SharedMemory

from trellis.core.crypto.batch import BatchVerifier, SuiteVerifier
from trellis.core.crypto.suite import Suite, suite_by_name
from trellis.core.params import Genesis
from trellis.keys.signer import MemorySigner
from trellis.node.config import ConfigError

_ITEM_HDR = struct.Struct("<H")
_MSG_LEN = struct.Struct("<I")
_COUNT = struct.Struct("<I")


def _view(seg: SharedMemory) -> memoryview:
    buf = seg.buf
    assert buf is not None, "shared memory segment is closed"
    return buf


def _pack(items: Sequence[tuple[bytes, bytes, bytes]], buf: memoryview) -> None:
    pos = _COUNT.size
    _COUNT.pack_into(buf, 0, len(items))
    for pk, msg, sig in items:
        _ITEM_HDR.pack_into(buf, pos, len(pk))
        pos += 2
        buf[pos : pos + len(pk)] = pk
        pos += len(pk)
        _ITEM_HDR.pack_into(buf, pos, len(sig))
        pos += 2
        buf[pos : pos + len(sig)] = sig
        pos += len(sig)
        _MSG_LEN.pack_into(buf, pos, len(msg))
        pos += 4
        buf[pos : pos + len(msg)] = msg
        pos += len(msg)


def _packed_size(items: Sequence[tuple[bytes, bytes, bytes]]) -> int:
    return _COUNT.size + sum(8 + len(pk) + len(sig) + len(msg) for pk, msg, sig in items)


def _worker(suite_name: str, conn: Connection) -> None:  # runs in a child process
    verify = suite_by_name(suite_name).verify
    shm: SharedMemory | None = None
    out: SharedMemory | None = None
    try:
        while True:
            req = conn.recv()
            if req is None:
                return
            in_name, out_name = req
            if shm is None or shm.name != in_name:
                if shm is not None:
                    shm.close()
                shm = SharedMemory(name=in_name)
            if out is None or out.name != out_name:
                if out is not None:
                    out.close()
                out = SharedMemory(name=out_name)
            buf, res = _view(shm), _view(out)
            (count,) = _COUNT.unpack_from(buf, 0)
            pos = _COUNT.size
            for i in range(count):
                (n,) = _ITEM_HDR.unpack_from(buf, pos)
                pos += 2
                pk = bytes(buf[pos : pos + n])
                pos += n
                (n,) = _ITEM_HDR.unpack_from(buf, pos)
                pos += 2
                sig = bytes(buf[pos : pos + n])
                pos += n
                (n,) = _MSG_LEN.unpack_from(buf, pos)
                pos += 4
                msg = bytes(buf[pos : pos + n])
                pos += n
                res[i] = 1 if verify(pk, msg, sig) else 0
            conn.send(count)
    except (EOFError, KeyboardInterrupt):
        return
    finally:
        for seg in (shm, out):
            if seg is not None:
                seg.close()


class _Worker:
    def __init__(self, ctx: mp.context.BaseContext, suite_name: str) -> None:
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker, args=(suite_name, child), daemon=True)  # type: ignore[attr-defined]
        self.proc.start()
        child.close()
        self.inp: SharedMemory | None = None
        self.out: SharedMemory | None = None

    def ensure(self, in_size: int, count: int) -> tuple[SharedMemory, SharedMemory]:
        if self.inp is None or self.inp.size < in_size:
            if self.inp is not None:
                self.inp.close()
                self.inp.unlink()
            self.inp = SharedMemory(create=True, size=max(in_size, 1 << 20))
        if self.out is None or self.out.size < count:
            if self.out is not None:
                self.out.close()
                self.out.unlink()
            self.out = SharedMemory(create=True, size=max(count, 1 << 14))
        return self.inp, self.out

    def close(self) -> None:
        try:
            self.conn.send(None)
        except (BrokenPipeError, OSError):
            pass
        self.proc.join(timeout=5)
        if self.proc.is_alive():
            self.proc.kill()
        for seg in (self.inp, self.out):
            if seg is not None:
                seg.close()
                seg.unlink()
        self.inp = self.out = None


class CpuPoolVerifier:
    """Verifies batches on ``workers`` processes (default: one per CPU core).

    Batches smaller than ``min_parallel`` are verified inline: handing them to workers costs more than it saves.
    """

    def __init__(self, suite: Suite, workers: int | None = None, *, min_parallel: int = 64) -> None:
        self.suite = suite
        self.workers_count = workers or os.cpu_count() or 1
        self.min_parallel = min_parallel
        self.name = f"cpu-pool-{suite.name}x{self.workers_count}"
        self.checks_signatures = True
        ctx = mp.get_context("spawn")
        self._workers = [_Worker(ctx, suite.name) for _ in range(self.workers_count)]
        self._inline = SuiteVerifier(suite)
        self._lock = threading.Lock()  # one batch at a time on the workers' pipes and shared memory

    def verify_batch(self, items: Sequence[tuple[bytes, bytes, bytes]]) -> list[bool]:
        n = len(items)
        if n < self.min_parallel or (self.workers_count == 1 and n < 4 * self.min_parallel):
            return self._inline.verify_batch(items)
        with self._lock:
            return self._verify_on_workers(items)

    def _verify_on_workers(self, items: Sequence[tuple[bytes, bytes, bytes]]) -> list[bool]:
        n = len(items)
        per = -(-n // len(self._workers))
        used = []
        for w_i, start in enumerate(range(0, n, per)):
            chunk = items[start : start + per]
            w = self._workers[w_i]
            inp, out = w.ensure(_packed_size(chunk), len(chunk))
            _pack(chunk, _view(inp))
            w.conn.send((inp.name, out.name))
            used.append((w, len(chunk)))
        results: list[bool] = []
        for w, count in used:
            done = w.conn.recv()
            assert done == count
            assert w.out is not None
            results.extend(b == 1 for b in bytes(_view(w.out)[:count]))
        return results

    def close(self) -> None:
        for w in self._workers:
            w.close()
        self._workers = []


class TrustingVerifier:
    """BENCH ONLY: reports every signature valid without checking it (``[bench] skip_signature_checks``).

    Made only for a chain whose genesis carries the bench-network marker (``bench_network: true``, written
    only by ``trellis bench``): a node of a real chain cannot get one.
    """

    name = "NONE-bench-only-signatures-not-checked"
    checks_signatures = False

    def __init__(self, genesis: Genesis) -> None:
        """Raises ``ConfigError`` unless ``genesis`` is a bench network's."""
        if not genesis.is_bench_network:
            raise ConfigError(
                "a verifier that skips signature checks is only for a network made by `trellis bench` "
                "(genesis bench_network: true); this chain's genesis has no such marker"
            )

    def verify_batch(self, items: Sequence[tuple[bytes, bytes, bytes]]) -> list[bool]:
        return [True] * len(items)

    def close(self) -> None:
        pass


def measure_ceiling(backend: BatchVerifier, suite: Suite, seconds: float = 2.0, batch: int = 4096) -> float:
    """Signature verifications per second that ``backend`` sustains (valid signatures of ``suite`` over 150-byte
    messages, in batches of ``batch``)."""

    signer = MemorySigner(b"\x42" * 32, suite)
    items = []
    for i in range(batch):
        msg = i.to_bytes(4, "big") * 38
        items.append((signer.public_key, msg, signer.sign(msg)))
    backend.verify_batch(items)  # warm up (workers start, shared memory allocated)
    done = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        res = backend.verify_batch(items)
        if not all(res):
            raise AssertionError("a valid signature failed verification while measuring")
        done += len(items)
    return done / (time.perf_counter() - start)
