"""A Byzantine relay in the deterministic simulation: a validator close to the others (its links are faster
than theirs) that, on receiving an honest compact proposal, at once relays a copy to everyone with the genuine
signed header and block header but references to a batch that does not exist, and withholds its own votes.

A receiver that keyed the proposals it holds while fetching batches by the signed header alone held the forged
copy first and then ignored the genuine one for the round: the chain stalled. Held proposals are now keyed by
their whole content, several candidates per (height, round, proposer), and whichever body resolves and matches
the signed header's ``tx_root`` is taken.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator

import pytest

from trellis.core.errors import DecodeError
from trellis.node.wire import REF_WIDTH, CompactProposalMsg, VoteMsg, decode_msg, encode_msg

from .simnet import SimNode, Simulation

FAST_LINK_MS = 0.2
"""One-way delay of the relay's links (the honest links take 1 to 30 ms)."""


class RelaySimulation(Simulation):
    """A simulation whose node ``relay`` forges every honest compact proposal it receives (see module doc)."""

    def __init__(self, seed: int, relay: int, n: int = 4, *, forge: bool = True) -> None:
        self.relay = relay
        self.forge = forge
        self.forged = 0
        super().__init__(seed, n=n)

    def transmit(self, src: int, dst: int, frame: bytes) -> None:
        """Frames to and from the relay take the fast link; the relay forges compact proposals on receipt and
        sends none of its own votes."""
        if src == self.relay:
            try:
                if isinstance(decode_msg(frame, 1 << 30), VoteMsg):
                    return
            except DecodeError:
                pass
            self._deliver(dst, src, frame)
        elif dst == self.relay:
            self._deliver(dst, src, frame)
            self._forge(src, frame)
        else:
            super().transmit(src, dst, frame)

    def _deliver(self, dst: int, src: int, frame: bytes) -> None:
        target: SimNode = self.nodes[dst]

        def deliver() -> None:
            if target.alive and target.driver is not None:
                target.driver.on_frame(str(src), frame)

        self.schedule(FAST_LINK_MS, deliver)

    def _forge(self, src: int, frame: bytes) -> None:
        try:
            msg = decode_msg(frame, 1 << 30)
        except DecodeError:
            return
        if not self.forge or not isinstance(msg, CompactProposalMsg) or msg.block_header.tx_count == 0:
            return  # an empty block has no references to forge
        # Every transaction referenced in one batch nobody holds; the signed header and block header untouched.
        ghost = hashlib.sha256(b"ghost" + frame).digest()
        count = msg.block_header.tx_count
        refs = b"".join((0).to_bytes(2, "big") + pos.to_bytes(2, "big") for pos in range(count))
        assert len(refs) == count * REF_WIDTH
        fake = CompactProposalMsg(
            header=msg.header, block_header=msg.block_header, batches=[ghost], refs=refs, inline=[]
        )
        self.forged += 1
        data = encode_msg(fake)
        for other in self.nodes:
            if other.index not in (self.relay, src):
                self._deliver(other.index, self.relay, data)


@pytest.fixture(autouse=True)
def _quiet() -> Iterator[None]:
    root = logging.getLogger("trellis")
    level = root.level
    root.setLevel(logging.CRITICAL)
    yield
    root.setLevel(level)


def _run(sim: Simulation, ms: float) -> None:
    for _ in range(int(ms // 50)):
        sim.submit_tx_to(sim.rng.choice([n.index for n in sim.honest() if n.index != getattr(sim, "relay", -1)]))
        sim.run_for(50)


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_a_relay_forging_batch_references_of_honest_proposals_cannot_stall_the_chain(seed: int) -> None:
    sim = RelaySimulation(seed, relay=3)
    _run(sim, 4000)
    assert sim.forged > 0
    honest = [sim.heights()[i] for i in range(3)]
    # The control run (no forgery) commits about 25 blocks in 4 s; a stalled one commits 0 or 1.
    assert min(honest) >= 10, f"seed {seed}: honest heights {honest} after 4 s with forged relays"
