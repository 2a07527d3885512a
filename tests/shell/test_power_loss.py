"""Power loss and crashes at every step of a commit (ADR 0011), on the power-loss twin of the disk
(``trellis.storage.power_loss``) under the real ``SplitStore`` and ``TrellisApp`` recovery; and the sync flags
LMDB itself reports for the environments a node opens.

The rule: whatever instant the process dies or the power goes, the node reopens at its last committed block
(or the one whose commit was under way, when its chain rows were already durable), never ahead of its chain,
with every table equal to what executing the blocks from genesis produces.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass
from pathlib import Path

import pytest

from trellis.app.application import TrellisApp
from trellis.core.modules.accounts.messages import Transfer
from trellis.core.modules.kv.messages import KvPut
from trellis.node.assembly import assemble_node
from trellis.node.config import NodeConfig, NodeSection
from trellis.node.home import init_home
from trellis.storage.chain_store import ChainStore
from trellis.storage.kv import TABLES, KVStore, LmdbStore, MemoryStore, SplitStore
from trellis.storage.power_loss import PowerLossDisk, SimulatedCrash

from .conftest import GENESIS_TIME_MS, Actors, AppChain, addr, make_params, raw_tx

BLOCKS = 4
TXS_PER_BLOCK = 4


def _txs(actors: Actors, height: int) -> list[bytes]:
    """The transactions of block ``height`` (the same in every run)."""
    raws = []
    for i in range(TXS_PER_BLOCK):
        nonce = (height - 1) * TXS_PER_BLOCK + i
        payload = (
            Transfer(to=addr(actors.bob), amount=1 + nonce)
            if i % 2
            else KvPut(namespace="pl", key=b"k%d" % (nonce % 3), value=b"v%d" % nonce)
        )
        raws.append(raw_tx(actors.alice, nonce, payload))
    return raws


def _dump(kv: KVStore) -> dict[str, list[tuple[bytes, bytes]]]:
    """Every row of every table."""
    return {t: kv.scan(t, b"", b"\xff" * 600, limit=10**6) for t in TABLES}


def _commit_up_to(chain: AppChain, actors: Actors, last: int, on_commit: list[int] | None = None) -> None:
    """Commit the blocks after the chain's height up to ``last``; list each height whose commit returned."""
    for height in range(chain.app.info().height + 1, last + 1):
        chain.time_ms = GENESIS_TIME_MS + 1000 * (height - 1)
        chain.commit_txs(_txs(actors, height))
        if on_commit is not None:
            on_commit.append(height)


@pytest.fixture(scope="module")
def reference(actors: Actors) -> list[dict[str, list[tuple[bytes, bytes]]]]:
    """The tables after each height 0..BLOCKS, executed once on the in-memory store, never interrupted."""
    kv = MemoryStore()
    chain = AppChain(app=TrellisApp(make_params(actors), ChainStore(kv)), validator=actors.validator)
    dumps = [_dump(kv)]
    for height in range(1, BLOCKS + 1):
        _commit_up_to(chain, actors, height)
        dumps.append(_dump(kv))
    return dumps


@dataclass
class Crash:
    """How the machine stops: the process is killed (page cache kept) or the power goes (``flush_seed``: what
    the operating system wrote back is drawn from it; None: nothing unsynced survives)."""

    kind: str
    flush_seed: int | None = None

    def apply(self, disk: PowerLossDisk) -> None:
        if self.kind == "kill":
            disk.kill()
        else:
            disk.power_loss(None if self.flush_seed is None else random.Random(self.flush_seed))


CRASHES = [Crash("kill"), Crash("power_loss"), *(Crash("power_loss", seed) for seed in (0, 5, 6))]
"""Seed 0 flushes a prefix of the unsynced transactions, 5 and 6 a random subset of their rows (torn)."""


def _open(disk: PowerLossDisk, actors: Actors, durable_state: bool) -> tuple[SplitStore, AppChain]:
    kv = SplitStore(Path("twin"), durable_state=durable_state, environments=disk)
    return kv, AppChain(app=TrellisApp(make_params(actors), ChainStore(kv)), validator=actors.validator)


def _run_until_crash(disk: PowerLossDisk, actors: Actors, durable_state: bool) -> list[int]:
    """Open the node and commit every block, stopping where an armed crash fires; return the heights whose
    commit returned."""
    committed: list[int] = []
    try:
        _kv, chain = _open(disk, actors, durable_state)
        _commit_up_to(chain, actors, BLOCKS, committed)
    except SimulatedCrash:
        pass
    return committed


def _steps_of_a_whole_run(actors: Actors, durable_state: bool) -> int:
    disk = PowerLossDisk()
    assert len(_run_until_crash(disk, actors, durable_state)) == BLOCKS
    return disk.steps


@pytest.mark.parametrize("durable_state", [False, True], ids=["unsynced-state", "durable-state"])
def test_a_crash_at_any_step_reopens_at_the_last_committed_block_with_the_state_of_re_execution(
    actors: Actors, reference: list[dict[str, list[tuple[bytes, bytes]]]], durable_state: bool
) -> None:
    steps = _steps_of_a_whole_run(actors, durable_state)
    assert steps == 2 * (BLOCKS + 1)  # genesis and each block: the chain transaction, then the derived one
    points = [(point, done) for point in range(steps + 1) for done in (False, True)]
    for (point, done), crash in itertools.product(points, CRASHES):
        where = f"crash point {point} of {steps} ({'after' if done else 'before'} it took effect), {crash}"
        disk = PowerLossDisk()
        disk.crash_after(point, done=done)
        committed = _run_until_crash(disk, actors, durable_state)
        last = committed[-1] if committed else 0
        crash.apply(disk)

        kv, chain = _open(disk, actors, durable_state)
        store = chain.app.store
        height = chain.app.info().height
        # Nothing committed is lost; at most the block being committed is also there (its chain rows were
        # durable), and the state is never ahead of the chain.
        assert last <= height <= last + 1, where
        assert store.top() == store.tip() == chain.app.info(), where
        if height:
            assert store.require_block(height).header.state_root == chain.app.info().state_root, where
        assert store.block(height + 1) is None, where
        assert _dump(kv) == reference[height], where
        # and it goes on from there to the same chain as a node that never crashed
        _commit_up_to(chain, actors, BLOCKS)
        assert _dump(kv) == reference[BLOCKS], where
        kv.close()


def _reopen_and_check(
    disk: PowerLossDisk,
    actors: Actors,
    durable_state: bool,
    last: int,
    reference: list[dict[str, list[tuple[bytes, bytes]]]],
    where: str,
) -> tuple[SplitStore, AppChain]:
    """Reopen after a crash and check the node is at its last committed block or the next, never ahead of its
    chain, with the tables of re-execution."""
    kv, chain = _open(disk, actors, durable_state)
    store, height = chain.app.store, chain.app.info().height
    assert last <= height <= last + 1, where
    assert store.top() == store.tip() == chain.app.info(), where
    assert store.block(height + 1) is None, where
    assert _dump(kv) == reference[height], where
    return kv, chain


@pytest.mark.parametrize("durable_state", [False, True], ids=["unsynced-state", "durable-state"])
def test_crashes_during_recovery_too_still_reopen_at_the_last_committed_block(
    actors: Actors, reference: list[dict[str, list[tuple[bytes, bytes]]]], durable_state: bool
) -> None:
    """Several crashes in a row, each at a random step of opening, re-executing or committing."""
    for run in range(30):
        rng = random.Random(run)
        disk = PowerLossDisk()
        last = 0
        for crash_no in range(3):
            where = f"run {run}, crash {crash_no}"
            disk.crash_after(rng.randrange(2 * (BLOCKS + 1) + 1), done=rng.random() < 0.5)
            try:
                if disk.steps == 0:
                    _kv, chain = _open(disk, actors, durable_state)
                else:
                    _kv, chain = _reopen_and_check(disk, actors, durable_state, last, reference, where)
                    last = chain.app.info().height
                committed: list[int] = []
                try:
                    _commit_up_to(chain, actors, BLOCKS, committed)
                finally:
                    last = max([last, *committed])
            except SimulatedCrash:
                pass
            rng.choice(CRASHES).apply(disk)
        kv, chain = _reopen_and_check(disk, actors, durable_state, last, reference, f"run {run}, at the end")
        _commit_up_to(chain, actors, BLOCKS)
        assert _dump(kv) == reference[BLOCKS], run


@pytest.mark.parametrize("how", ["write", "write_tables"])
def test_a_batch_of_chain_and_derived_rows_reaches_the_chain_environment_first(how: str) -> None:
    disk = PowerLossDisk()
    kv = SplitStore(Path("twin"), environments=disk)
    disk.crash_after(1)
    with pytest.raises(SimulatedCrash):
        if how == "write":
            kv.write([("state", b"s", b"1"), ("blocks", b"b", b"1"), ("meta", b"m", b"1")])
        else:
            kv.write_tables({"state": {b"s": b"1"}, "blocks": {b"b": b"1"}, "meta": {b"m": b"1"}})
    disk.kill()
    kv = SplitStore(Path("twin"), environments=disk)
    assert (kv.get("blocks", b"b"), kv.get("state", b"s"), kv.get("meta", b"m")) == (b"1", None, None)


def test_a_power_loss_drops_every_unsynced_state_write_and_the_blocks_rebuild_it(
    actors: Actors, reference: list[dict[str, list[tuple[bytes, bytes]]]]
) -> None:
    disk = PowerLossDisk()
    assert len(_run_until_crash(disk, actors, False)) == BLOCKS
    assert disk.unsynced("chain") == 0  # every chain transaction was on the disk when it returned
    assert disk.unsynced("state") == BLOCKS + 1
    disk.power_loss()
    kv, chain = _open(disk, actors, False)
    assert kv.rebuilt and chain.app.replayed == BLOCKS
    assert _dump(kv) == reference[BLOCKS]


def test_a_state_left_unsynced_by_a_power_loss_is_rebuilt_even_when_reopened_durable(
    actors: Actors, reference: list[dict[str, list[tuple[bytes, bytes]]]]
) -> None:
    """[node] durable_state switched on after a power loss: the damaged derived tables are still rebuilt."""
    for seed in range(6):
        disk = PowerLossDisk()
        _run_until_crash(disk, actors, False)
        disk.power_loss(random.Random(seed))
        kv, _chain = _open(disk, actors, True)
        assert kv.rebuilt, seed
        assert _dump(kv) == reference[BLOCKS], seed
        kv.close()


def test_a_killed_unsynced_state_reopened_durable_is_synced_before_its_marker_goes(
    actors: Actors, reference: list[dict[str, list[tuple[bytes, bytes]]]]
) -> None:
    disk = PowerLossDisk()
    _run_until_crash(disk, actors, False)
    disk.kill()
    kv, _chain = _open(disk, actors, True)
    assert not kv.rebuilt and disk.unsynced("state") == 0
    disk.power_loss()  # nothing it relies on was left in the page cache
    kv, _chain = _open(disk, actors, True)
    assert not kv.rebuilt
    assert _dump(kv) == reference[BLOCKS]


def test_a_real_lmdb_store_with_another_boot_s_marker_is_rebuilt_even_when_opened_durable(tmp_path: Path) -> None:
    kv = SplitStore(tmp_path / "data")
    kv.write_tables({"blocks": {b"b": b"1"}, "state": {b"s": b"1"}})
    kv.state.abandon()
    kv.chain.close()
    (tmp_path / "data" / "state" / LmdbStore.MARKER).write_text("a-boot-before-the-power-loss\n")
    again = SplitStore(tmp_path / "data", durable_state=True)
    try:
        assert again.rebuilt
        assert again.get("state", b"s") is None and again.get("blocks", b"b") == b"1"
        assert not (tmp_path / "data" / "state" / LmdbStore.MARKER).exists()
    finally:
        again.close()


def _assembled_flags(root: Path, durable_state: bool) -> tuple[dict[str, bool], dict[str, bool]]:
    """The LMDB flags of the chain and state environments of a node assembled from a home."""
    node = assemble_node(root, NodeConfig(node=NodeSection(verifier_workers=0, durable_state=durable_state)))
    try:
        assert isinstance(node.blocks, ChainStore)  # assembly's block store: the chain store over the data store
        kv = node.blocks.kv
        assert isinstance(kv, SplitStore)
        assert isinstance(kv.chain, LmdbStore) and isinstance(kv.state, LmdbStore)
        return kv.chain.flags(), kv.state.flags()
    finally:
        node.close()


def test_lmdb_itself_reports_sync_on_for_the_chain_and_off_for_the_derived_tables(tmp_path: Path) -> None:
    init_home(tmp_path / "home")
    chain, state = _assembled_flags(tmp_path / "home", durable_state=False)
    assert chain["sync"] and chain["metasync"], chain
    assert not state["sync"] and not state["metasync"], state
    for flags in (chain, state):  # no asynchronous or write-through mapping that would undo either
        assert not flags["map_async"] and not flags["writemap"] and not flags["readonly"], flags


def test_with_durable_state_lmdb_reports_sync_on_for_both_environments(tmp_path: Path) -> None:
    init_home(tmp_path / "home")
    chain, state = _assembled_flags(tmp_path / "home", durable_state=True)
    assert chain["sync"] and chain["metasync"], chain
    assert state["sync"] and state["metasync"], state
