"""``TxContext.savepoint``: writes stay apart until ``commit``; dropping the savepoint undoes them; reads and scans
see the savepoint's own writes over its parent's (ADR 0015 section 1)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.memory_state import MemoryState
from tests.notary_fixture import genesis
from trellis.core.execution.context import TxContext
from trellis.core.execution.reference import BlockEnv, BlockRun, GuardedState
from trellis.core.params import params_from_genesis

PARAMS = params_from_genesis(genesis())


def _ctx(store: dict[bytes, bytes | None]) -> TxContext:
    def scan(start: bytes, end: bytes, limit: int) -> tuple[list[tuple[bytes, bytes]], int]:
        rows = sorted((k, v) for k, v in store.items() if start <= k < end and v is not None)
        return rows[:limit], 0

    return TxContext(b"\x01" * 20, PARAMS, 5, store.get, store.__setitem__, scan=scan)


def test_rollback_by_dropping_and_commit_in_order() -> None:
    store: dict[bytes, bytes | None] = {b"a": b"1"}
    ctx = _ctx(store)
    sp = ctx.savepoint()
    sp.put(b"a", b"2")
    sp.put(b"b", b"3")
    assert sp.get(b"a") == b"2" and ctx.get(b"a") == b"1" and ctx.get(b"b") is None
    del sp  # dropped: nothing reached the parent
    assert store == {b"a": b"1"}
    sp = ctx.savepoint()
    sp.put(b"a", None)
    sp.put(b"c", b"4")
    sp.commit()
    assert store == {b"a": None, b"c": b"4"}


def test_nested_savepoints() -> None:
    store: dict[bytes, bytes | None] = {}
    ctx = _ctx(store)
    outer = ctx.savepoint()
    outer.put(b"x", b"1")
    inner = outer.savepoint()
    inner.put(b"y", b"2")
    assert inner.get(b"x") == b"1"
    inner.commit()
    assert outer.get(b"y") == b"2" and store == {}
    outer.commit()
    assert store == {b"x": b"1", b"y": b"2"}


def test_commit_of_a_plain_context_is_refused() -> None:
    with pytest.raises(RuntimeError):
        _ctx({}).commit()


keys = st.binary(min_size=1, max_size=2)


@given(
    base=st.dictionaries(keys, st.binary(min_size=1, max_size=2), max_size=12),
    writes=st.lists(st.tuples(keys, st.one_of(st.none(), st.binary(min_size=1, max_size=2))), max_size=12),
    start=keys,
    end=keys,
    limit=st.integers(0, 8),
)
def test_scan_sees_the_savepoint_writes(
    base: dict[bytes, bytes], writes: list[tuple[bytes, bytes | None]], start: bytes, end: bytes, limit: int
) -> None:
    """A savepoint's scan equals a scan of the state with its writes applied."""
    store: dict[bytes, bytes | None] = dict(base)
    sp = _ctx(store).savepoint()
    expected: dict[bytes, bytes | None] = dict(base)
    for k, v in writes:
        sp.put(k, v)
        expected[k] = v
    want = sorted((k, v) for k, v in expected.items() if start <= k < end and v is not None)[: max(limit, 0)]
    assert sp.scan(start, end, limit) == (want if start < end else [])


def test_interchain_consensus_writes_are_scannable_inside_a_block() -> None:
    """The executor indexes interchain client and consensus keys, so a handler's scan sees the block's writes."""
    run = BlockRun(GuardedState(MemoryState()), BlockEnv(params=PARAMS, height=1, time_ms=1))
    key = b"interchain/consensus/client-0/" + (7).to_bytes(8, "big")
    run.block_layer.put(key, b"v")
    assert run.block_layer.keys_in(b"interchain/consensus/", b"interchain/consensus/\xff") == [key]
