"""The relay loop (ADR 0015 section 8): per path, one task per destination chain.

The task that relays *into* chain D from its counterparty S carries everything proven by S's state at one height
P: S's pending packets that D has not received (``recv``), and D's own pending packets that S acknowledged
(``acknowledge``) or can no longer receive (``timeout``: the receipt's absence, or ``seq_recv`` on an ordered
channel, at a P past the timeout). One update of D's client of S to P goes first (bisected off chain when a skip
lacks trust). So every transaction of the task goes to D, signed with the relayer's key on D, and one update
covers all its items. A cycle's transactions (at most ``MAX_BATCHES`` of items, closings included) are submitted
together with consecutive nonces, so they usually share a block. A cycle's item budget goes to acknowledgements and
timeouts first (receives keep at least half when they need it), the channel that goes first turns every cycle, and
a scan lists only this shard's packets; another cycle follows at once only when the budget cut work that was due.

A task wakes on S's blocks with transactions (a send or an ack may be in them), on an S height or time that makes a
waiting timeout provable, after a reconnect of S's commit stream, and every ``scan_interval_s`` (the recovery scan;
also at start). The follower of the commit stream outlives any failure of it (logged, reopened with backoff, then a
scan), and the task starts it again should it ever end. Nothing is kept between runs: the chains' stored packets are the queue. Item codes
``ALREADY_RECEIVED`` and ``PACKET_NOT_PENDING`` (another relayer was first) count as done. When D's client is idle
it is still refreshed once a third of its trusting period has passed since its latest consensus state.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from trellis.core.codec import decode
from trellis.core.crypto.suite import suite_by_name
from trellis.core.errors import DecodeError
from trellis.core.execution.results import ResultCode
from trellis.core.modules.interchain.messages import (
    ORDERED,
    Ack,
    Acknowledge,
    ChanCloseConfirm,
    Packet,
    RecvPacket,
    Relay,
    RelayItem,
    Timeout,
    TimeoutOnClose,
    UpdateClient,
)
from trellis.core.modules.interchain.state import (
    CLOSED,
    OPEN,
    ChannelEnd,
    ack_key,
    channel_key,
    packet_id,
    packet_key,
    receipt_key,
    seq_recv_key,
)
from trellis.core.modules.payload import Payload
from trellis.relayer import plan
from trellis.relayer.config import PathConfig, RelayerConfig
from trellis.relayer.endpoint import ChainEndpoint, ChainHead, CommitSeen, EndpointError, StateRead, TxResult
from trellis.relayer.metrics import Metrics
from trellis.relayer.submit import Submitter, TxSigner, signed_size
from trellis.relayer.updates import ClientView, UpdateError, plan_update, read_client

log = logging.getLogger("trellis.relayer")

PAGE = 256
"""Pending packets read per request."""
SCAN_LIMIT = 4096
"""Most pending packets of one channel end listed per cycle (the rest in the next one, at once)."""
MAX_BATCHES = 8
"""Most relay transactions one cycle builds and submits together; the items beyond wait for the next cycle, which
runs at once."""
FOLLOW_BACKOFF_S = 0.5
"""First wait before a failed or ended commit stream is opened again (doubling up to ``FOLLOW_BACKOFF_MAX_S``)."""
FOLLOW_BACKOFF_MAX_S = 10.0
READ_CONCURRENCY = 16
"""Most state reads (receipts, proofs) one direction has in flight at once: a cycle reads two values per packet,
and one at a time they took most of its time."""


async def _read_all(reads: list[Callable[[], Awaitable[StateRead]]], limit: int = READ_CONCURRENCY) -> list[StateRead]:
    """Run ``reads`` with at most ``limit`` in flight; the results in order (the first failure is raised)."""
    sem = asyncio.Semaphore(limit)

    async def one(read: Callable[[], Awaitable[StateRead]]) -> StateRead:
        async with sem:
            return await read()

    return list(await asyncio.gather(*(one(r) for r in reads)))


class RelayError(Exception):
    """A cycle could not complete (recorded as the path's last error; the next cycle retries)."""


@dataclass(frozen=True)
class ChannelLeg:
    """A channel seen from one task: the source end (S) and the destination end (D)."""

    src_port: str
    src_channel: str
    dst_port: str
    dst_channel: str


@dataclass
class PathStatus:
    """What ``/status`` shows of one path."""

    name: str
    heights: dict[str, dict[str, int]] = field(default_factory=dict)
    pending: dict[str, int] = field(default_factory=dict)
    clients: dict[str, dict[str, Any]] = field(default_factory=dict)
    relayed: dict[str, int] = field(default_factory=dict)
    last_error: dict[str, Any] | None = None
    last_relay_at: float | None = None

    def as_json(self) -> dict[str, Any]:
        """The JSON object of this path."""
        return {
            "path": self.name,
            "heights": self.heights,
            "pending": self.pending,
            "clients": self.clients,
            "relayed": self.relayed,
            "last_error": self.last_error,
            "last_relay_at": self.last_relay_at,
        }


@dataclass
class CycleReport:
    """What one cycle did (tests and logs)."""

    proof_height: int = 0
    updates: int = 0
    items: dict[str, int] = field(default_factory=dict)
    outcomes: dict[str, int] = field(default_factory=dict)
    more: bool = False


def _u64(raw: bytes | None, default: int) -> int:
    return default if raw is None else int.from_bytes(raw, "big")


class Direction:
    """Relays into ``dst`` what ``src``'s state proves (see the module docstring)."""

    def __init__(
        self,
        *,
        src: ChainEndpoint,
        dst: ChainEndpoint,
        dst_client: str,
        legs: list[ChannelLeg],
        submitter: Submitter,
        metrics: Metrics,
        status: PathStatus,
        shard: tuple[int, int] = (0, 1),
        max_tx_bytes: int = 65_536,
        max_items: int = 256,
        scan_interval_s: float = 30.0,
        scan_limit: int = SCAN_LIMIT,
        max_batches: int = MAX_BATCHES,
    ) -> None:
        self.src, self.dst, self.dst_client, self.legs = src, dst, dst_client, legs
        self.max_batches = max(1, max_batches)
        self._budget = 0
        self.submitter, self.metrics, self.status = submitter, metrics, status
        self.shard, self.max_tx_bytes = shard, max_tx_bytes
        self.max_items = max(1, min(max_items, plan.ITEMS_PER_RECEIPT))
        self.scan_interval_s, self.scan_limit = scan_interval_s, scan_limit
        self._first_seen: dict[bytes, float] = {}
        self._received: dict[tuple[str, str], set[int]] = {}
        """Per destination end, the sequences of S's pending packets already seen received there (receipts are
        permanent; the set keeps only sequences still pending, so it is bounded by the listing)."""
        self._trigger_seen_at: float | None = None
        self._due_height = 0
        self._due_time_ms = 0
        self._size_info: tuple[str, bytes] | None = None
        self._turn = 0

    @property
    def name(self) -> str:
        """``S->D`` (logs)."""
        return f"{self.src.name}->{self.dst.name}"

    # -- reads ---------------------------------------------------------------------------------------------------
    async def _dst_end(self, leg: ChannelLeg) -> ChannelEnd:
        raw = (await self.dst.state(channel_key(leg.dst_port, leg.dst_channel))).value
        if raw is None:
            raise RelayError(f"{self.dst.name} has no channel {leg.dst_port}/{leg.dst_channel}")
        return decode(raw, ChannelEnd)

    async def _pending(self, chain: ChainEndpoint, port: str, channel: str) -> tuple[list[Packet], bool]:
        """This shard's stored packets of a channel end, in order: pages are filtered by shard as they come, and the
        listing goes on until ``scan_limit`` of them (or the end). Also whether it stopped before the end (the rest
        waits for a later scan: a long listing alone is no reason to cycle again)."""
        out: list[Packet] = []
        start = 1
        while True:
            page = await chain.pending_packets(port, channel, start, PAGE)
            if not page:  # endpoints may answer shorter pages than asked: the end is an empty one
                return out, False
            for pkt in page:
                if plan.in_shard(pkt.sequence, self.shard):
                    out.append(pkt)
                    if len(out) >= self.scan_limit:
                        return out, True
            start = page[-1].sequence + 1

    # -- one cycle -----------------------------------------------------------------------------------------------
    async def cycle(self) -> CycleReport:
        """Scan every channel, relay what is due, refresh the client if idle. Raises on a failure to read or an
        update that cannot be built; item refusals are counted, not raised."""
        report = CycleReport()
        src_head = await self.src.head()
        dst_head = await self.dst.head()
        self.status.heights[self.src.name] = {"height": src_head.height, "time_ms": src_head.time_ms}
        self.status.heights[self.dst.name] = {"height": dst_head.height, "time_ms": dst_head.time_ms}
        client = await read_client(self.dst, self.dst_client)
        self._client_metrics(client, dst_head)
        p = max(src_head.height, client.state.latest_height)
        report.proof_height = p
        cache = {p: await self.src.light_block(p)}
        t_p = cache[p].header.time_ms
        due_h, due_t = 0, 0
        total = self.max_items * self.max_batches
        extras: list[TimeoutOnClose | ChanCloseConfirm] = []
        # The leg that goes first turns with every cycle, so a busy channel cannot starve the ones after it.
        k = self._turn % len(self.legs) if self.legs else 0
        self._turn += 1
        legs = self.legs[k:] + self.legs[:k]
        views: list[tuple[ChannelLeg, bool, StateRead, bool, ChannelEnd]] = []
        wanted: list[tuple[ChannelLeg, list[Packet]]] = []
        for leg in legs:
            dst_end = await self._dst_end(leg)
            ordered = dst_end.order == ORDERED
            # The source end at p: CLOSED means D's packets end by timeout_on_close and D's end closes too.
            src_ch = await self.src.state(channel_key(leg.src_port, leg.src_channel), p, prove=True)
            src_closed = src_ch.value is not None and decode(src_ch.value, ChannelEnd).state == CLOSED
            views.append((leg, ordered, src_ch, src_closed, dst_end))
            if dst_end.state == OPEN:
                wanted.append((leg, await self._recv_candidates(leg, ordered, dst_head)))
        # Acknowledgements and timeouts first (they free state and refund the senders); receives keep at least half
        # of the budget when they have that much to carry, and take whatever the others leave.
        demand = sum(len(pkts) for _, pkts in wanted)
        back_cap = total - min(demand, total // 2)
        self._budget = back_cap
        items: list[RelayItem] = []
        for leg, ordered, src_ch, src_closed, dst_end in views:
            back, cut, (dh, dt) = await self._back_items(
                leg, ordered, p, t_p, src_ch.proof if src_closed else None, extras
            )
            items += back
            if src_closed and dst_end.state == OPEN:
                extras.append(ChanCloseConfirm(port=leg.dst_port, channel=leg.dst_channel, proof_init=src_ch.proof))
            report.more = report.more or cut
            due_h = dh if not due_h or (dh and dh < due_h) else due_h
            due_t = dt if not due_t or (dt and dt < due_t) else due_t
        self._due_height, self._due_time_ms = due_h, due_t
        self._budget = total - (back_cap - self._budget)
        for leg, pkts in wanted:
            chosen = pkts[: max(0, self._budget)]
            if len(chosen) < len(pkts):
                report.more = True
            self._budget -= len(chosen)
            items += await self._recv_proofs(leg, chosen, p)
        if not items and not extras:
            await self._refresh(client, src_head, dst_head, report)
            return report
        updates = await plan_update(self.src, client, p, dst_head.time_ms, cache)
        info = await self.submitter.info()
        self._size_info = (info.chain_id, self.submitter.signer.public_key)
        final = updates[-1] if updates else None
        batches = plan.batch_items(final, items, self._tx_size, max_bytes=self.max_tx_bytes, max_items=self.max_items)
        for it in batches.oversized:
            self._count(report, plan.REFUSED)
            self._error(f"a {type(it).__name__} of seq {it.packet.sequence} does not fit a transaction")
        # At most max_batches transactions of items (and closings); the rest waits for the next cycle, at once.
        carried: list[UpdateClient | Relay | TimeoutOnClose | ChanCloseConfirm] = [*batches.payloads, *extras]
        if len(carried) > self.max_batches:
            carried = carried[: self.max_batches]
            report.more = True
        for x in carried:
            for kind in [type(it).__name__ for it in x.items] if isinstance(x, Relay) else [type(x).__name__]:
                if kind != "UpdateClient":
                    report.items[kind] = report.items.get(kind, 0) + 1
        # Bisection steps (each from the one before), then the batches: consecutive nonces, submitted together.
        # Then what cannot ride in a relay: timeouts on close and the closing of D's end.
        payloads: list[Payload] = [*updates[:-1], *carried]
        results = await self.submitter.submit_many(payloads)
        for payload, res in zip(payloads, results, strict=True):
            if isinstance(payload, TimeoutOnClose):
                outcome = plan.outcome_of_code(res.code) if res.status == "committed" else plan.TX_FAILED
                self._count(report, outcome)
                if outcome in (plan.REFUSED, plan.TX_FAILED):
                    self._error(f"timeout_on_close of seq {payload.packet.sequence}: {res.status} {res.message}")
                continue
            if isinstance(payload, ChanCloseConfirm):
                if not res.ok and res.code != int(ResultCode.INVALID_HANDSHAKE):  # another relayer closed it
                    self._error(f"closing {payload.port}/{payload.channel}: {res.status} {res.message}")
                continue
            if isinstance(payload, UpdateClient):
                report.updates += 1
                if not res.ok:
                    self._error(
                        f"updating {self.dst.name}'s {payload.client_id} to {decode_height(payload)} failed: "
                        f"{res.status} code {res.code} {res.message}"
                    )
                continue
            assert isinstance(payload, Relay)
            if payload.update is not None and res.ok:
                report.updates += 1
            await self._relay_result(payload, res, report)
        self.status.last_relay_at = time.time()
        return report

    async def _recv_candidates(self, leg: ChannelLeg, ordered: bool, dst_head: ChainHead) -> list[Packet]:
        """S's pending packets of this shard that D has not received and can still receive (in order)."""
        pkts, _ = await self._pending(self.src, leg.src_port, leg.src_channel)
        label = f"{leg.src_port}/{leg.src_channel}"
        self.metrics.set_pending(self.src.name, label, len(pkts))
        self.status.pending[f"{self.src.name}/{label}"] = len(pkts)
        seen = time.monotonic() if self._trigger_seen_at is None else self._trigger_seen_at
        suite = suite_by_name((await self.submitter.info()).suite)
        live = set()
        next_recv = 0
        if ordered:
            next_recv = _u64((await self.dst.state(seq_recv_key(leg.dst_port, leg.dst_channel))).value, 1)
        for pkt in pkts:
            pid = packet_id(suite, pkt)
            live.add(pid)
            self._first_seen.setdefault(pid, seen)
        if ordered:
            received = [pkt.sequence < next_recv for pkt in pkts]
        else:
            # A receipt is never deleted: a packet seen received stays received, so only the packets not yet seen
            # received are asked about (under load most pending packets are received and wait for their ack; asking
            # about all of them every cycle made a cycle's cost grow with the backlog).
            known = self._received.setdefault((leg.dst_port, leg.dst_channel), set())
            known.intersection_update(pkt.sequence for pkt in pkts)
            unknown = [pkt for pkt in pkts if pkt.sequence not in known]
            receipts = await _read_all(
                [
                    functools.partial(self.dst.state, receipt_key(leg.dst_port, leg.dst_channel, pkt.sequence))
                    for pkt in unknown
                ]
            )
            known.update(pkt.sequence for pkt, r in zip(unknown, receipts, strict=True) if r.value is not None)
            received = [pkt.sequence in known for pkt in pkts]
        for pid in [k for k in self._first_seen if k not in live]:
            if len(self._first_seen) > 4 * self.scan_limit:
                self._first_seen.pop(pid, None)
        return [
            pkt
            for pkt, got in zip(pkts, received, strict=True)
            if plan.decide(
                pkt, received=got, ack_written=False, dest_height=dst_head.height, dest_time_ms=dst_head.time_ms
            )
            == plan.RECV
        ]

    async def _recv_proofs(self, leg: ChannelLeg, chosen: list[Packet], p: int) -> list[RelayItem]:
        """``recv_packet`` items of ``chosen``, each proven at ``p`` (a packet gone since the listing is skipped)."""
        proofs = await _read_all(
            [
                functools.partial(
                    self.src.state, packet_key(leg.src_port, leg.src_channel, pkt.sequence), p, prove=True
                )
                for pkt in chosen
            ]
        )
        out: list[RelayItem] = []
        for proven in proofs:
            if proven.value is None:
                continue  # acknowledged or timed out since the listing
            out.append(RecvPacket(packet=decode(proven.value, Packet), proof=proven.proof))
        return out

    async def _back_items(
        self,
        leg: ChannelLeg,
        ordered: bool,
        p: int,
        t_p: int,
        close_proof: bytes | None,
        extras: list[TimeoutOnClose | ChanCloseConfirm],
    ) -> tuple[list[RelayItem], bool, tuple[int, int]]:
        """D's pending packets: ``acknowledge`` when S wrote an ack, ``timeout`` when due at p; with S's end
        CLOSED at p (``close_proof``), ``timeout_on_close`` (into ``extras``) for any S did not receive."""
        pkts, _ = await self._pending(self.dst, leg.dst_port, leg.dst_channel)
        more = False
        label = f"{leg.dst_port}/{leg.dst_channel}"
        self.metrics.set_pending(self.dst.name, label, len(pkts))
        self.status.pending[f"{self.dst.name}/{label}"] = len(pkts)
        out: list[RelayItem] = []
        due_h, due_t = 0, 0
        seq_recv: tuple[int, bytes] | None = None
        for pkt, acked in await self._acks_of(leg, pkts, p):
            if acked.value is not None:
                if self._budget <= 0:  # an acknowledgement the budget cannot carry: another cycle, at once
                    more = True
                    break
                out.append(Acknowledge(packet=pkt, ack=decode(acked.value, Ack), proof=acked.proof))
                self._budget -= 1
                continue
            if close_proof is None and not plan.timeout_provable(pkt, p, t_p):
                if pkt.timeout_height:
                    due_h = pkt.timeout_height if not due_h else min(due_h, pkt.timeout_height)
                if pkt.timeout_time_ms:
                    due_t = pkt.timeout_time_ms if not due_t else min(due_t, pkt.timeout_time_ms)
                continue
            if ordered:
                if seq_recv is None:
                    got = await self.src.state(seq_recv_key(leg.src_port, leg.src_channel), p, prove=True)
                    seq_recv = (_u64(got.value, 1), got.proof)
                if seq_recv[0] > pkt.sequence:
                    continue  # received, its ack not yet proven at p
                next_seq, proof = seq_recv
            else:
                rc = await self.src.state(receipt_key(leg.src_port, leg.src_channel, pkt.sequence), p, prove=True)
                if rc.value is not None:
                    continue
                next_seq, proof = 0, rc.proof
            if self._budget <= 0:  # a provable timeout the budget cannot carry
                more = True
                break
            self._budget -= 1
            if close_proof is not None:
                extras.append(TimeoutOnClose(packet=pkt, next_seq_recv=next_seq, proof=proof, proof_close=close_proof))
            else:
                out.append(Timeout(packet=pkt, next_seq_recv=next_seq, proof=proof))
        return out, more, (due_h, due_t)

    async def _acks_of(self, leg: ChannelLeg, pkts: list[Packet], p: int) -> list[tuple[Packet, StateRead]]:
        """Each of D's pending packets with S's ack of it proven at ``p`` (or its absence), read ``READ_CONCURRENCY``
        at a time, in chunks that stop once the cycle's item budget is spent (a packet not yet acknowledged and not
        yet due takes no budget)."""
        out: list[tuple[Packet, StateRead]] = []
        chunk = 4 * READ_CONCURRENCY
        found = 0
        for i in range(0, len(pkts), chunk):
            part = pkts[i : i + chunk]
            reads = await _read_all(
                [
                    functools.partial(self.src.state, ack_key(leg.src_port, leg.src_channel, pkt.sequence), p, True)
                    for pkt in part
                ]
            )
            out.extend(zip(part, reads, strict=True))
            found += sum(1 for r in reads if r.value is not None)
            if found > self._budget:  # one past the budget: the caller sees it and asks for another cycle
                break
        return out

    # -- submitting ----------------------------------------------------------------------------------------------
    def _tx_size(self, payload: UpdateClient | Relay) -> int:
        assert self._size_info is not None, "set by cycle() before batching"
        return signed_size(self._size_info[0], self._size_info[1], payload)

    async def _submit_update(self, u: UpdateClient) -> None:
        res = await self.submitter.submit(u)
        if not res.ok:
            raise RelayError(
                f"updating {self.dst.name}'s {u.client_id} to {decode_height(u)} failed: "
                f"{res.status} code {res.code} {res.message}"
            )

    async def _relay_result(self, relay: Relay, res: TxResult, report: CycleReport) -> None:
        """Count a relay's items by their codes (every item ``tx_failed`` when the transaction did not commit or
        failed as a whole)."""
        n = len(relay.items)
        if res.status != "committed" or res.code != 0:
            self._count(report, plan.TX_FAILED, n)
            why = f"code {res.code} {res.message}" if res.status == "committed" else f"{res.status} {res.message}"
            self._error(f"relay of {n} item(s) to {self.dst.name} failed: {why}")
            return
        now = time.monotonic()
        suite = suite_by_name((await self.submitter.info()).suite)
        messages = plan.item_messages(res.events)
        for index, (item, code) in enumerate(zip(relay.items, plan.item_codes(res.events, n), strict=True)):
            outcome = plan.DEFERRED if code is None else plan.outcome_of_code(code)
            if outcome == plan.DEFERRED:
                report.more = True  # the receipt's event budget ran out: the next cycle carries the rest
            self._count(report, outcome)
            if outcome == plan.REFUSED:
                self._error(
                    f"{type(item).__name__} of {item.packet.source_port}/{item.packet.source_channel} "
                    f"seq {item.packet.sequence} refused by {self.dst.name}: code {code} {messages.get(index, '')}"
                )
            if isinstance(item, RecvPacket) and outcome in (plan.OK, plan.DUPLICATE):
                # Committed: its receipt exists now (receipts are permanent), no need to ask about it again.
                dest = (item.packet.dest_port, item.packet.dest_channel)
                self._received.setdefault(dest, set()).add(item.packet.sequence)
            if isinstance(item, RecvPacket) and outcome == plan.OK:
                first = self._first_seen.pop(packet_id(suite, item.packet), None)
                if first is not None:
                    self.metrics.observe_latency(max(0.0, now - first))

    def _count(self, report: CycleReport, outcome: str, n: int = 1) -> None:
        report.outcomes[outcome] = report.outcomes.get(outcome, 0) + n
        self.metrics.count_item(outcome, n)
        self.status.relayed[outcome] = self.status.relayed.get(outcome, 0) + n

    def _error(self, message: str) -> None:
        log.warning("%s: %s", self.name, message)
        self.status.last_error = {"direction": self.name, "message": message, "at": time.time()}

    # -- client --------------------------------------------------------------------------------------------------
    def _client_metrics(self, client: ClientView, dst_head: ChainHead) -> None:
        age = max(0.0, (dst_head.time_ms - client.latest.time_ms) / 1000)
        label = f"{self.dst.name}/{client.client_id}"
        self.metrics.set_client_age(label, age)
        self.status.clients[label] = {
            "chain_id": client.state.chain_id,
            "latest_height": client.state.latest_height,
            "age_s": age,
            "frozen": client.frozen,
        }

    async def _refresh(self, client: ClientView, src_head: ChainHead, dst_head: ChainHead, report: CycleReport) -> None:
        """An idle client is updated once a third of its trusting period has passed (it never expires idle)."""
        age_ms = dst_head.time_ms - client.latest.time_ms
        if age_ms * 3 < client.state.trusting_period_ms or src_head.height <= client.state.latest_height:
            return
        for u in await plan_update(self.src, client, src_head.height, dst_head.time_ms):
            await self._submit_update(u)
            report.updates += 1

    # -- the task ------------------------------------------------------------------------------------------------
    async def _follow(self, wake: asyncio.Event) -> None:
        """Wake the task on S's commits. Never ends by itself: whatever ends or breaks the stream (an endpoint bug,
        an answer nobody foresaw) is logged, and after a backoff the stream is opened again and a recovery scan
        runs (blocks may have been missed)."""
        backoff = FOLLOW_BACKOFF_S
        while True:
            try:
                async for c in self.src.commits():
                    backoff = FOLLOW_BACKOFF_S
                    if c.tx_count > 0 or c.reconnected or self._due(c):
                        self._trigger_seen_at = c.seen_at
                        wake.set()
                log.warning("%s: the commit stream of %s ended; reopening it", self.name, self.src.name)
            except Exception as exc:  # the follower must outlive any failure of the stream
                log.warning(
                    "%s: the commit stream of %s failed (%s: %s); reopening it in %.1fs",
                    self.name,
                    self.src.name,
                    type(exc).__name__,
                    exc,
                    backoff,
                )
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, FOLLOW_BACKOFF_MAX_S)
            wake.set()  # the recovery scan: commits may have been missed meanwhile

    def _due(self, c: CommitSeen) -> bool:
        return bool(
            (self._due_height and c.height >= self._due_height)
            or (self._due_time_ms and c.time_ms >= self._due_time_ms)
        )

    def _watch(self, follower: asyncio.Task[None] | None, wake: asyncio.Event) -> asyncio.Task[None]:
        """The follower task, started again (with a recovery scan) if it has ended."""
        if follower is not None and not follower.done():
            return follower
        if follower is not None:
            exc = None if follower.cancelled() else follower.exception()
            log.warning("%s: the commit follower ended (%r); restarting it", self.name, exc)
            wake.set()
        task = asyncio.create_task(self._follow(wake), name=f"{self.name} commits")
        task.add_done_callback(lambda _t: wake.set())  # an ended follower wakes the loop, which restarts it
        return task

    async def run(self, stop: asyncio.Event) -> None:
        """Cycle until ``stop``: at start (the recovery scan), when woken, and every ``scan_interval_s``."""
        wake = asyncio.Event()
        wake.set()
        follower = self._watch(None, wake)
        try:
            while not stop.is_set():
                follower = self._watch(follower, wake)
                if not wake.is_set():
                    await _wait_any(wake, stop, self.scan_interval_s)
                if stop.is_set():
                    break
                follower = self._watch(follower, wake)
                wake.clear()
                try:
                    report = await self.cycle()
                    log.debug("%s: cycle %s", self.name, report)
                    self._trigger_seen_at = None
                    if report.more:
                        wake.set()
                except (EndpointError, UpdateError, RelayError, DecodeError) as exc:
                    self._error(str(exc))
                    await _wait_any(stop, stop, min(5.0, self.scan_interval_s))
                except Exception as exc:  # a bug or an answer nobody foresaw: keep the task alive, say what
                    log.exception("%s: cycle failed", self.name)
                    self._error(f"{type(exc).__name__}: {exc}")
                    await _wait_any(stop, stop, min(5.0, self.scan_interval_s))
        finally:
            follower.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await follower


def decode_height(u: UpdateClient) -> int:
    """The height an update brings its client to (for messages)."""
    from trellis.core.ledger.block import Header

    try:
        return decode(u.update.header, Header).height
    except DecodeError:
        return 0


async def _wait_any(a: asyncio.Event, b: asyncio.Event, timeout: float) -> None:
    tasks = [asyncio.create_task(a.wait()), asyncio.create_task(b.wait())]
    try:
        await asyncio.wait(tasks, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in tasks:
            t.cancel()


class Relayer:
    """Every path of a configuration: two directions each, sharing one submitter per chain."""

    def __init__(
        self,
        cfg: RelayerConfig,
        endpoints: Mapping[str, ChainEndpoint],
        signers: Mapping[str, TxSigner],
        *,
        metrics: Metrics | None = None,
        shard: tuple[int, int] | None = None,
        scan_limit: int = SCAN_LIMIT,
    ) -> None:
        self.cfg = cfg
        self.metrics = metrics or Metrics()
        self.endpoints = endpoints
        self.submitters = {cid: Submitter(endpoints[cid], signers[cid]) for cid in cfg.chains}
        self.paths: list[PathStatus] = []
        self.directions: list[Direction] = []
        for p in cfg.paths:
            st = PathStatus(p.name)
            self.paths.append(st)
            for src, dst, client, legs in _sides(p):
                chain = cfg.chains[dst]
                self.directions.append(
                    Direction(
                        src=endpoints[src],
                        dst=endpoints[dst],
                        dst_client=client,
                        legs=legs,
                        submitter=self.submitters[dst],
                        metrics=self.metrics,
                        status=st,
                        shard=shard or cfg.shard,
                        max_tx_bytes=chain.max_tx_bytes,
                        max_items=chain.max_items,
                        scan_interval_s=cfg.scan_interval_s,
                        scan_limit=scan_limit,
                    )
                )

    def status(self) -> dict[str, Any]:
        """``/status``: every path."""
        return {"paths": [p.as_json() for p in self.paths], "time": time.time()}

    async def run(self, stop: asyncio.Event) -> None:
        """Run every direction until ``stop`` is set."""
        tasks = [asyncio.create_task(d.run(stop), name=d.name) for d in self.directions]
        try:
            await stop.wait()
        finally:
            for t in tasks:
                t.cancel()
            for t in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await t


def _sides(p: PathConfig) -> list[tuple[str, str, str, list[ChannelLeg]]]:
    """(source, destination, the destination's client of the source, legs) for both directions of a path."""
    into_b = [ChannelLeg(c.port, c.a_channel, c.counterparty_port, c.b_channel) for c in p.channels]
    into_a = [ChannelLeg(c.counterparty_port, c.b_channel, c.port, c.a_channel) for c in p.channels]
    return [(p.a, p.b, p.b_client, into_b), (p.b, p.a, p.a_client, into_a)]
