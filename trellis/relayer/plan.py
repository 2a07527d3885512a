"""The relayer's pure decisions: what to do about a pending packet, how to cut items into transactions, what an item's
result code means, which sequences a shard handles.

Nothing here does I/O, so each rule is tested on its own (``tests/unit/test_relayer_plan.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from trellis.core.codec import encode
from trellis.core.execution.results import ResultCode
from trellis.core.ledger.block import MAX_EVENTS
from trellis.core.modules.interchain.messages import (
    MAX_RELAY_ITEMS,
    Packet,
    Relay,
    RelayItem,
    UpdateClient,
)

OK = "ok"
"""The item was applied."""
DUPLICATE = "duplicate"
"""Another relayer (or an earlier try) got there first: ``ALREADY_RECEIVED`` / ``PACKET_NOT_PENDING``. Done."""
TIMED_OUT = "timed_out"
"""A receive arrived too late (``PACKET_TIMED_OUT``): the next scan proves the timeout instead."""
REFUSED = "refused"
"""Any other item code: an error (logged, counted, retried by the next scan)."""
TX_FAILED = "tx_failed"
"""The whole transaction failed (its update, or admission): every item counts so."""
DEFERRED = "deferred"
"""The chain did not start the item (the receipt's event budget ran out: ``interchain.relay_deferred``); it
changed nothing and the next cycle carries it."""

DONE_CODES = frozenset({int(ResultCode.ALREADY_RECEIVED), int(ResultCode.PACKET_NOT_PENDING)})
"""Item codes that mean the work is already done."""

ITEMS_PER_RECEIPT = (MAX_EVENTS - 2) // 3
"""Items one relay can hold before its receipt's events run out (``MAX_EVENTS``, an update's event, and at least
three per item: the packet's, the write-ack's or the app's, and ``interchain.item``); the chain defers the rest."""

ITEM_EVENT = "interchain.item"
"""The event ``interchain.relay`` emits per item: ``index`` and ``code``."""


def outcome_of_code(code: int) -> str:
    """The metrics outcome of an item's result code."""
    if code == 0:
        return OK
    if code in DONE_CODES:
        return DUPLICATE
    if code == int(ResultCode.PACKET_TIMED_OUT):
        return TIMED_OUT
    return REFUSED


def parse_code(text: str) -> int | None:
    """An event's code attribute: a decimal number or a ``ResultCode`` name; None if neither."""
    t = text.strip()
    if t.isdigit():
        return int(t)
    try:
        return int(ResultCode[t.upper()])
    except KeyError:
        return None


def item_codes(events: Sequence[tuple[str, dict[str, str]]], n_items: int) -> list[int | None]:
    """Each item's code from a relay receipt's ``interchain.item`` events (None where no event names it)."""
    codes: list[int | None] = [None] * n_items
    for kind, attrs in events:
        if kind != ITEM_EVENT:
            continue
        idx, code = attrs.get("index", ""), parse_code(attrs.get("code", ""))
        if idx.isdigit() and int(idx) < n_items and code is not None:
            codes[int(idx)] = code
    return codes


def item_messages(events: Sequence[tuple[str, dict[str, str]]]) -> dict[int, str]:
    """Each refused item's message (``interchain.item``'s ``message``), by index."""
    out: dict[int, str] = {}
    for kind, attrs in events:
        idx = attrs.get("index", "")
        if kind == ITEM_EVENT and idx.isdigit() and attrs.get("message"):
            out[int(idx)] = attrs["message"]
    return out


# -- per-packet decisions (ADR 0015 section 3) -----------------------------------------------------------------
def timeout_provable(packet: Packet, height: int, time_ms: int) -> bool:
    """A destination state at ``height`` (block time ``time_ms``) proves the packet can no longer be received
    there: ``timeout_height != 0 and height >= timeout_height`` or ``timeout_time_ms != 0 and time_ms >=
    timeout_time_ms`` (the timeout rule's condition, checked against the consensus state at the proof height)."""
    return (packet.timeout_height != 0 and height >= packet.timeout_height) or (
        packet.timeout_time_ms != 0 and time_ms >= packet.timeout_time_ms
    )


def receivable(packet: Packet, dest_height: int, dest_time_ms: int) -> bool:
    """The destination's next block (height ``dest_height + 1``, time after ``dest_time_ms``) may still receive the
    packet. A packet neither receivable nor provably timed out waits for the destination's next blocks."""
    return (packet.timeout_height == 0 or dest_height + 1 < packet.timeout_height) and (
        packet.timeout_time_ms == 0 or dest_time_ms < packet.timeout_time_ms
    )


RECV, ACK, TIMEOUT, WAIT, SKIP = "recv", "ack", "timeout", "wait", "skip"
"""What to do about a pending packet."""


def decide(
    packet: Packet,
    *,
    received: bool,
    ack_written: bool,
    dest_height: int,
    dest_time_ms: int,
) -> str:
    """What to do about ``packet``, pending at its source, given the destination's state at ``dest_height``:

    - ``ack`` (to the source): the destination wrote an acknowledgement;
    - ``skip``: received but no acknowledgement yet: the destination's application left it pending (an
      asynchronous ack, interchain.md 5.4: a hub forwarding a transfer waits for the next hop). Nothing to carry
      now, not an error, and never a timeout (the receipt exists); a later scan finds the ack once written;
    - ``timeout`` (to the source): not received and the timeout is provable at ``dest_height``;
    - ``recv`` (to the destination): not received and still receivable;
    - ``wait``: not receivable by the next block, not yet provably timed out.
    """
    if ack_written:
        return ACK
    if received:
        return SKIP
    if timeout_provable(packet, dest_height, dest_time_ms):
        return TIMEOUT
    if receivable(packet, dest_height, dest_time_ms):
        return RECV
    return WAIT


def in_shard(sequence: int, shard: tuple[int, int]) -> bool:
    """This relayer's share of the sequences (``--shard i/n``: ``sequence % n == i``)."""
    i, n = shard
    return sequence % n == i


# -- batching (ADR 0015 section 4: <= 256 items and the signed tx <= MAX_TX_BYTES) ------------------------------
class ItemTooLarge(ValueError):
    """One item alone does not fit a transaction."""


@dataclass(frozen=True)
class Batches:
    """What to submit, in order: a standalone update (when it does not fit beside an item), then the relays."""

    payloads: list[UpdateClient | Relay]
    oversized: list[RelayItem]
    """Items that fit no transaction at all (reported, never submitted)."""


def _array_header(n: int) -> int:
    return 1 if n <= 15 else 3 if n <= 0xFFFF else 5


def batch_items(
    update: UpdateClient | None,
    items: Sequence[RelayItem],
    tx_size: Callable[[UpdateClient | Relay], int],
    *,
    max_bytes: int,
    max_items: int = MAX_RELAY_ITEMS,
) -> Batches:
    """Cut ``items`` (kept in order) into ``interchain.relay`` payloads whose signed transaction (``tx_size``) is at
    most ``max_bytes`` and that hold at most ``max_items`` items each. The first relay carries ``update``; if the
    update does not fit beside the first item it goes alone, as an ``interchain.update_client``, before them."""
    max_items = max(1, min(max_items, MAX_RELAY_ITEMS))
    payloads: list[UpdateClient | Relay] = []
    oversized: list[RelayItem] = []
    if not items:
        return Batches([update] if update is not None else [], [])
    sizes = [len(encode(it)) for it in items]
    base_none = tx_size(Relay(update=None, items=[])) - 1  # minus the empty array's header
    base_upd = base_none if update is None else tx_size(Relay(update=update, items=[])) - 1
    pending_update = update
    if update is not None:
        first_fit = next((i for i, s in enumerate(sizes) if base_none + 1 + s <= max_bytes), None)
        if first_fit is None or base_upd + 1 + sizes[first_fit] > max_bytes:
            payloads.append(update)
            pending_update = None
    cur: list[RelayItem] = []
    cur_bytes = 0

    def flush() -> None:
        nonlocal cur, cur_bytes, pending_update
        if cur:
            payloads.append(Relay(update=pending_update, items=cur))
            pending_update = None
            cur, cur_bytes = [], 0

    for item, size in zip(items, sizes, strict=True):
        if base_none + 1 + size > max_bytes:
            oversized.append(item)
            continue
        base = base_upd if pending_update is not None else base_none
        if cur and (len(cur) + 1 > max_items or base + _array_header(len(cur) + 1) + cur_bytes + size > max_bytes):
            flush()
            base = base_none
        cur.append(item)
        cur_bytes += size
    flush()
    if pending_update is not None:  # every item was oversized
        payloads.insert(0, pending_update)
    # The sizes above are exact for msgpack; check each payload anyway and split any that is over.
    checked: list[UpdateClient | Relay] = []
    for p in payloads:
        checked.extend(_split_if_over(p, tx_size, max_bytes))
    return Batches(checked, oversized)


def _split_if_over(
    p: UpdateClient | Relay, tx_size: Callable[[UpdateClient | Relay], int], max_bytes: int
) -> list[UpdateClient | Relay]:
    if isinstance(p, UpdateClient) or tx_size(p) <= max_bytes or len(p.items) == 1:
        return [p]
    half = len(p.items) // 2
    return _split_if_over(Relay(update=p.update, items=p.items[:half]), tx_size, max_bytes) + _split_if_over(
        Relay(update=None, items=p.items[half:]), tx_size, max_bytes
    )
