"""Adversaries that target the locking rules of the consensus protocol (issue 13).

A correct machine keeps safety against all of them as long as the Byzantine validators hold less than a third
of the voting power; a machine that ignores its lock, skips the proof-of-lock check, unlocks too easily or counts
a quorum wrongly forks under them. Two parts:

- ``LockByzantine``: what a Byzantine validator in mode ``amnesia``, ``repropose`` or ``split_locks`` does with
  its own messages. *Amnesia*: every vote it casts names the block proposed in that round, whatever it is locked
  on or saw a polka for (it forgets its lock between rounds, and precommits without a polka). *Re-proposal*:
  in rounds after the first, as proposer it never re-proposes its valid block; it proposes a different block with
  no proof-of-lock, a forged one (a valid round with no +2/3 prevotes behind it), or a stale one (a block that
  had prevotes in an earlier round, completed into a polka by its own prevote signed now, older than the round
  honest validators locked in).
- ``LockSplitter``: the network adversary that works with ``split_locks`` validators at one height. It withholds
  prevotes for blocks from a set Y of honest validators (they never see a polka, so they never lock), delivers
  the Byzantine precommits for blocks to one honest validator P only (P alone sees +2/3 precommits and commits,
  the locked set X does not), and isolates P once it has committed. What is left, X (locked), Y (unlocked) and
  the Byzantine validators, holds more than 2/3 of the power, so a machine that lets X prevote against its lock
  commits a second block; a correct one cannot, since X and P together hold more than 1/3.
"""

from __future__ import annotations

import itertools
import random
from typing import TYPE_CHECKING

from trellis.core.consensus.messages import SignedProposal
from trellis.core.crypto.suite import ED25519, address_of
from trellis.core.ledger.block import Block, block_hash
from trellis.core.ledger.votes import (
    PRECOMMIT,
    PREVOTE,
    Proposal,
    SignedVote,
    Vote,
    proposal_signing_bytes,
    vote_signing_bytes,
)
from trellis.core.types import ZERO_HASH
from trellis.node.wire import BlocksMsg, CompactProposalMsg, ProposalMsg, StatusMsg, VoteMsg, WireMsg, encode_msg

if TYPE_CHECKING:
    from .simnet import SimNode, Simulation

NIL = ZERO_HASH

LOCK_MODES = ("amnesia", "repropose", "split_locks")
"""Byzantine modes handled here; ``split_locks`` does both of the others and arms a ``LockSplitter``."""


class LockByzantine:
    """The lock-targeting behaviour of one Byzantine validator (its own votes and proposals)."""

    def __init__(self, sim: Simulation, node: SimNode) -> None:
        self.sim, self.node = sim, node
        self.me = address_of(ED25519, node.signer.public_key)
        self.votes: dict[tuple[int, int, int], SignedVote] = {}
        self.proposals: dict[tuple[int, int], list[bytes]] = {}
        self.proposed: dict[tuple[int, int], bytes] = {}
        """(height, round) -> the block this validator proposed there instead of its valid block."""
        self.stale_used = 0
        """How many stale re-proposals (an old block with a polka completed by this validator) were sent."""

    @property
    def amnesic(self) -> bool:
        return self.node.byzantine in ("amnesia", "split_locks")

    @property
    def reproposes(self) -> bool:
        return self.node.byzantine in ("repropose", "split_locks")

    def outgoing(self, msg: WireMsg, frame: bytes, others: list[int]) -> list[tuple[int, bytes]]:
        """The (destination, frame) pairs to send in place of broadcasting ``frame`` to ``others``."""
        frames = [frame]
        if self.amnesic and isinstance(msg, VoteMsg) and msg.vote.validator == self.me:
            sv = self._amnesic_vote(msg.vote)
            splitter = self.sim.splitter
            v = sv.vote
            if (
                splitter is not None
                and (v.height, v.kind) == (splitter.height, PRECOMMIT)
                and v.block_hash != NIL
                and splitter.splitting(v.round)
            ):
                # A precommit for a block goes to P alone; everyone else gets a nil precommit, so that they see
                # +2/3 precommits and move on to the next round without seeing a commit.
                nil = self._sign_vote(_with_hash(v, NIL))
                mine, other = encode_msg(VoteMsg(vote=sv)), encode_msg(VoteMsg(vote=nil))
                return [(o, mine if o == splitter.p else other) for o in others]
            frames = [encode_msg(VoteMsg(vote=sv))]
        elif (
            self.reproposes
            and isinstance(msg, CompactProposalMsg)
            and msg.header.proposer == self.me
            and msg.header.proposal.round > 0
        ):
            frames = self._repropose(msg)
        return [(o, f) for f in frames for o in others]

    def _sign_vote(self, v: Vote) -> SignedVote:
        return SignedVote(vote=v, validator=self.me, signature=self.node.signer.sign(vote_signing_bytes(v)))

    def _amnesic_vote(self, sv: SignedVote) -> SignedVote:
        """This validator's vote at (height, round, kind), for the round's proposal whatever its lock says."""
        v = sv.vote
        key = (v.height, v.round, v.kind)
        cached = self.votes.get(key)
        if cached is not None:
            return cached
        target = v.block_hash
        own = self.proposed.get((v.height, v.round))
        driver = self.node.driver
        splitter = self.sim.splitter
        if splitter is not None and (v.height, v.round) == (splitter.height, splitter.stale_round):
            target = NIL  # the hidden polka: this validator's prevote for the block is kept for later
        elif own is not None:
            target = own
        elif driver is not None and driver.state.height == v.height and v.round in driver.state.proposals:
            target = driver.state.proposals[v.round].proposal.block_hash
            if splitter is not None and v.height == splitter.height and target == splitter.committed_block:
                target = NIL  # never help the others to the block P committed: the attack wants another one
        out = sv if target == v.block_hash else self._sign_vote(_with_hash(v, target))
        self.votes[key] = out
        return out

    def _repropose(self, msg: CompactProposalMsg) -> list[bytes]:
        """Frames proposing, instead of this validator's valid block, a block that conflicts with the locks."""
        p = msg.header.proposal
        key = (p.height, p.round)
        cached = self.proposals.get(key)
        if cached is not None:
            return cached
        frames: list[bytes] = []
        stale = self._stale_polka(p.height, p.round)
        rng = self.sim.rng
        app = self.node.app
        assert app is not None
        if stale is not None and rng.random() < 0.8:
            vr, block, prevotes = stale
            pol_round = vr
            # Complete the old polka with this validator's own prevote, signed now (an equivocation), and pass
            # on the honest prevotes behind it, so every receiver holds +2/3 prevotes for the block at vr.
            mine = self._sign_vote(
                Vote(
                    chain_id=p.chain_id, kind=PREVOTE, height=p.height, round=vr, block_hash=prevotes[0].vote.block_hash
                )
            )
            frames += [encode_msg(VoteMsg(vote=sv)) for sv in [*prevotes, mine]]
            self.stale_used += 1
        else:
            # A new block (a later time makes it differ from anything proposed before) with no proof-of-lock,
            # or with a valid round that no +2/3 prevotes back.
            block = app.prepare_proposal([], msg.block_header.time_ms + 1 + p.round, self.me).block
            # The lock attack prefers a forged proof-of-lock: honest proposers already offer unlocked blocks.
            forged = 0.8 if self.node.byzantine == "split_locks" else 0.5
            pol_round = p.round - 1 if rng.random() < forged else -1
        bid = block_hash(ED25519, block.header)
        alt = Proposal(chain_id=p.chain_id, height=p.height, round=p.round, pol_round=pol_round, block_hash=bid)
        sp = SignedProposal(
            proposal=alt,
            proposer=self.me,
            signature=self.node.signer.sign(proposal_signing_bytes(alt)),
            block=block,
        )
        frames.append(encode_msg(ProposalMsg(proposal=sp)))
        self.proposed[key] = bid
        self.proposals[key] = frames
        return frames

    def _stale_polka(self, height: int, round_: int) -> tuple[int, Block, list[SignedVote]] | None:
        """An earlier round whose proposal, with this validator's prevote added, has +2/3 prevotes, for a block
        other than the one of the latest polka this validator saw (which honest validators may be locked on)."""
        driver = self.node.driver
        if driver is None or driver.state.height != height:
            return None
        st = driver.state
        latest: tuple[int, bytes] | None = None
        for (r, kind), box in st.votes.items():
            if kind != PREVOTE or r >= round_:
                continue
            tally: dict[bytes, int] = {}
            for addr, by_block in box.items():
                for bid in by_block:
                    tally[bid] = tally.get(bid, 0) + st.power[addr]
            for bid, pw in tally.items():
                if bid != NIL and 3 * pw > 2 * st.total_power and (latest is None or r > latest[0]):
                    latest = (r, bid)
        if latest is None:
            return None
        for vr in range(latest[0]):
            sp = st.proposals.get(vr)
            if sp is None or sp.proposal.block_hash == latest[1]:
                continue
            bid = sp.proposal.block_hash
            honest = [
                by_block[bid]
                for addr, by_block in st.votes.get((vr, PREVOTE), {}).items()
                if addr != self.me and bid in by_block
            ]
            pw = sum(st.power[sv.validator] for sv in honest) + st.power[self.me]
            if honest and 3 * pw > 2 * st.total_power:
                return vr, sp.block, honest
        return None


def _with_hash(v: Vote, block_hash: bytes) -> Vote:
    return Vote(chain_id=v.chain_id, kind=v.kind, height=v.height, round=v.round, block_hash=block_hash)


class LockSplitter:
    """The network adversary of a ``split_locks`` run at one height (see the module docstring)."""

    def __init__(
        self, sim: Simulation, height: int, p: int, x: list[int], y: list[int], byz: list[int], hide_polka: bool
    ) -> None:
        self.sim, self.height, self.p, self.x, self.y = sim, height, p, set(x), set(y)
        self.byz = set(byz)
        self.byz_addrs = {address_of(ED25519, sim.nodes[i].signer.public_key) for i in byz}
        self.committed_round: int | None = None
        """The round in which P committed (from then on P is cut off and the split is done)."""
        self.committed_block: bytes | None = None
        """The block P committed."""
        order = sorted((address_of(ED25519, n.signer.public_key), n.index) for n in sim.nodes)
        proposers = [order[(height + r) % len(order)][1] for r in range(len(order))]
        self.stale_round: int | None = (
            next(r for r, i in enumerate(proposers) if i == p or i in self.x) if hide_polka else None
        )
        """With ``hide_polka``, the first round that P or X proposes gets a polka that only the Byzantine
        validators hold: Y never receives the proposal, so P and X prevote it alone (at most 2/3) and the
        Byzantine validators prevote nil in public; their own prevote for the block completes a polka that a
        stale re-proposal shows later, older than the round X locks in. No proposal of an earlier round is
        delivered to anyone honest."""

    @staticmethod
    def roles(
        rng: random.Random, powers: list[int], honest: list[int], byz: list[int]
    ) -> tuple[int, list[int], list[int]] | None:
        """Pick (P, X, Y) among the honest validators such that P, X and the Byzantine ones commit (> 2/3), P and X alone do
        not, and X, Y and the Byzantine ones, what remains once P is cut off, holds more than 2/3; None if no split fits."""
        total = sum(powers)
        bp = sum(powers[i] for i in byz)
        options: list[tuple[int, list[int], list[int]]] = []
        for p in honest:
            rest = [i for i in honest if i != p]
            for labels in itertools.product((0, 1), repeat=len(rest)):
                x = [i for i, lab in zip(rest, labels, strict=True) if lab == 0]
                y = [i for i, lab in zip(rest, labels, strict=True) if lab == 1]
                px = powers[p] + sum(powers[i] for i in x)
                xy = sum(powers[i] for i in x + y)
                if y and x and 3 * (px + bp) > 2 * total and 3 * px <= 2 * total and 3 * (xy + bp) > 2 * total:
                    options.append((p, x, y))
        return rng.choice(options) if options else None

    def drops(self, src: int, dst: int, msg: WireMsg) -> bool:
        """Whether the adversary loses this frame."""
        if self.committed_round is not None and self.p in (src, dst):
            return True
        if src in self.byz and isinstance(msg, (BlocksMsg, StatusMsg)):
            return True  # the Byzantine validators never help anyone sync the block P committed
        if isinstance(msg, (ProposalMsg, CompactProposalMsg)):
            p = msg.proposal.proposal if isinstance(msg, ProposalMsg) else msg.header.proposal
            if p.height != self.height or self.stale_round is None or dst in self.byz:
                return False
            return p.round < self.stale_round or (p.round == self.stale_round and dst in self.y)
        if not isinstance(msg, VoteMsg):
            return False
        v = msg.vote.vote
        if v.height != self.height or v.block_hash == NIL:
            return False
        if v.kind == PREVOTE:
            return (
                dst in self.y
                and v.round != self.stale_round
                and (self.committed_round is None or v.round <= self.committed_round)
            )
        # Byzantine precommits for blocks reach P alone (also when P relays them) and the Byzantine validators
        # take no precommits for blocks, so that they do not decide this height with P.
        return (
            v.kind == PRECOMMIT
            and self.splitting(v.round)
            and ((msg.vote.validator in self.byz_addrs and dst != self.p) or dst in self.byz)
        )

    def splitting(self, round_: int) -> bool:
        """Whether precommits of ``round_`` at the attacked height are being split: every round until P commits,
        and afterwards the rounds up to the one P committed in (resent later, they would finish the job)."""
        return self.committed_round is None or round_ <= self.committed_round

    def on_commit(self, node: SimNode, height: int, round_: int, block_id: bytes) -> None:
        """P committed the attacked height: cut it off from everyone."""
        if node.index == self.p and height == self.height and self.committed_round is None:
            self.committed_round, self.committed_block = round_, block_id


__all__ = ["LOCK_MODES", "LockByzantine", "LockSplitter"]
