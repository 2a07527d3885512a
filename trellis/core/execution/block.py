"""Build and check whole blocks: execute, update the state tree once, fill in the header's roots."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import msgspec

from trellis.core.codec import encode
from trellis.core.crypto.merkle import merkle_root
from trellis.core.crypto.suite import Suite, address_of
from trellis.core.errors import InvalidBlock
from trellis.core.execution.context import StateReader
from trellis.core.execution.fast_path import apply_block
from trellis.core.execution.reference import BlockEnv, BlockOutput, genesis_writes
from trellis.core.ledger.block import Block, Header, ValidatorSet, block_hash, validators_hash
from trellis.core.ledger.state_tree import NodeReader, TreeUpdate, apply_updates
from trellis.core.ledger.tx import SignedTx
from trellis.core.modules.contracts.engine import ContractEngine
from trellis.core.modules.membership.state import changed as membership_changed
from trellis.core.modules.validators.state import ValidatorUpdate, sets_for_block
from trellis.core.params import ChainParams
from trellis.core.types import ZERO_HASH


@dataclass(frozen=True)
class ChainTip:
    """What the next block builds on.

    Attributes:
        height: the last committed height (0 before block 1).
        time_ms: its time (the genesis time before block 1).
        block_id: its block id (32 zero bytes before block 1).
        state_root: the state root after it.
    """

    height: int
    time_ms: int
    block_id: bytes
    state_root: bytes


class BlockEffects(msgspec.Struct, frozen=True):
    """What a block did that the shell acts on (ADR 0013 section 6), computed when it is executed.

    Attributes:
        membership_changed: the block wrote the membership record, a revocation or a proposal: the node applies
            the committed membership to its peer connections again.
        validator_update: the validator set the block scheduled (effective ``height + 2``, ADR 0014), or None:
            the consensus driver feeds it to its validator schedule.
    """

    membership_changed: bool = False
    validator_update: ValidatorUpdate | None = None


def effects_of(output: BlockOutput) -> BlockEffects:
    """The effects of a block from its execution output."""
    return BlockEffects(membership_changed=membership_changed(output.writes), validator_update=output.validator_update)


@dataclass(frozen=True)
class ExecutedBlock:
    """A block together with the results of executing it.

    Attributes:
        block: the block (header roots filled in).
        block_id: its id.
        tx_bytes: canonical bytes of each transaction.
        output: receipts and state writes.
        tree: the state tree update (new root, nodes and values to store).
        receipt_bytes: the canonical encoding of each receipt (computed for ``results_root``; the store reuses
            them), or None when not at hand.
        effects: what the block did that the shell acts on (never stored: the store writes ``block`` and the
            results, not this object).
    """

    block: Block
    block_id: bytes
    tx_bytes: list[bytes]
    output: BlockOutput
    tree: TreeUpdate
    receipt_bytes: list[bytes] | None = None
    effects: BlockEffects = field(default_factory=BlockEffects)

    @classmethod
    def of(
        cls,
        suite: Suite,
        block: Block,
        tx_bytes: Sequence[bytes],
        output: BlockOutput,
        tree: TreeUpdate,
        receipt_bytes: list[bytes],
    ) -> ExecutedBlock:
        """The executed ``block`` with its id computed from its header, and its effects."""
        return cls(
            block, block_hash(suite, block.header), list(tx_bytes), output, tree, receipt_bytes, effects_of(output)
        )


def genesis_tip(params: ChainParams, nodes: NodeReader) -> tuple[ChainTip, TreeUpdate]:
    """Return the tip before block 1 and the genesis state tree."""
    tree = apply_updates(params.suite, nodes, ZERO_HASH, genesis_writes(params))
    tip = ChainTip(height=0, time_ms=params.genesis.genesis_time_ms, block_id=ZERO_HASH, state_root=tree.root)
    return tip, tree


def _execute(
    params: ChainParams,
    state: StateReader,
    nodes: NodeReader,
    tip: ChainTip,
    txs: Sequence[SignedTx],
    tx_bytes: Sequence[bytes],
    time_ms: int,
    mark: Callable[[str], None] | None = None,
    tx_hashes: Sequence[bytes] | None = None,
    senders: Sequence[bytes] | None = None,
    contracts: ContractEngine | None = None,
    validators: ValidatorSet | None = None,
) -> tuple[BlockOutput, TreeUpdate, list[bytes]]:
    env = BlockEnv(
        params=params,
        height=tip.height + 1,
        time_ms=time_ms,
        contracts=contracts,
        validators=validators,
        parent_id=tip.block_id,
    )
    output = apply_block(state, txs, tx_bytes, env, tx_hashes, senders)
    if mark is not None:
        mark("execute")
    tree = apply_updates(params.suite, nodes, tip.state_root, output.writes)
    if mark is not None:
        mark("state_commitment")
    receipt_bytes = [encode(r) for r in output.receipts]
    return output, tree, receipt_bytes


def build_block(
    params: ChainParams,
    state: StateReader,
    nodes: NodeReader,
    tip: ChainTip,
    txs: Sequence[SignedTx],
    tx_bytes: Sequence[bytes],
    time_ms: int,
    proposer: bytes,
    mark: Callable[[str], None] | None = None,
    tx_hashes: Sequence[bytes] | None = None,
    senders: Sequence[bytes] | None = None,
    contracts: ContractEngine | None = None,
) -> ExecutedBlock:
    """Execute ``txs`` on top of ``tip`` and return the complete block.

    The caller has already checked signatures and nonces (a mempool's job) and picked ``time_ms`` greater
    than ``tip.time_ms``. ``mark``, if given, is called with a stage name as each stage ends ("execute",
    "state_commitment", "header"): the shell uses it to time stages; it does not affect the result.
    ``tx_hashes`` and ``senders``, if given, are what admission already computed (see ``apply_block``).
    ``contracts`` runs contract code (see ``BlockEnv``).

    Raises:
        InvalidBlock: a transaction breaks a block-validity rule (see ``apply_block``) or the time is not
            after the parent's.
    """
    if time_ms <= tip.time_ms:
        raise InvalidBlock("bad_time", f"block time {time_ms} is not after the parent's {tip.time_ms}")
    suite = params.suite
    current, nxt = sets_for_block(state, tip.height + 1)
    output, tree, receipt_bytes = _execute(
        params, state, nodes, tip, txs, tx_bytes, time_ms, mark, tx_hashes, senders, contracts, current
    )
    header = Header(
        chain_id=params.chain_id,
        height=tip.height + 1,
        time_ms=time_ms,
        parent_hash=tip.block_id,
        tx_root=merkle_root(suite, tx_bytes),
        results_root=merkle_root(suite, receipt_bytes),
        state_root=tree.root,
        tx_count=len(txs),
        proposer=proposer,
        validators_hash=validators_hash(suite, current),
        next_validators_hash=validators_hash(suite, nxt),
    )
    executed = ExecutedBlock.of(suite, Block(header=header, txs=list(txs)), tx_bytes, output, tree, receipt_bytes)
    if mark is not None:
        mark("header")
    return executed


def check_block(
    params: ChainParams,
    state: StateReader,
    nodes: NodeReader,
    tip: ChainTip,
    block: Block,
    tx_bytes: Sequence[bytes],
    tx_hashes: Sequence[bytes] | None = None,
    contracts: ContractEngine | None = None,
    *,
    tx_root_checked: bool = False,
) -> ExecutedBlock:
    """Check a proposed block against ``tip`` by re-executing it; return the executed block.
    ``tx_hashes``, if given, are the hashes of ``tx_bytes`` (computed once by the caller); ``contracts`` runs
    contract code; ``tx_root_checked``: the caller has already checked ``tx_root`` against these very
    ``tx_bytes`` (a node checks a proposal's body against its signed header as it arrives), so it is not
    hashed again.

    Signatures are checked by the caller (in batches). Every header field is checked here.

    Raises:
        InvalidBlock: with ``code`` naming the header field or rule that failed.
    """
    h = block.header
    suite = params.suite
    if h.chain_id != params.chain_id:
        raise InvalidBlock("wrong_chain_id", f"block is for chain {h.chain_id!r}")
    if h.height != tip.height + 1:
        raise InvalidBlock("bad_height", f"block height {h.height}, expected {tip.height + 1}")
    if h.parent_hash != tip.block_id:
        raise InvalidBlock("bad_parent", "parent hash is not the previous block's id")
    if h.time_ms <= tip.time_ms:
        raise InvalidBlock("bad_time", f"block time {h.time_ms} is not after the parent's {tip.time_ms}")
    if h.tx_count != len(block.txs) or len(tx_bytes) != len(block.txs):
        raise InvalidBlock("bad_tx_count", "tx_count does not match the transactions")
    if len(block.txs) > params.limits.max_block_txs:
        raise InvalidBlock("too_many_txs", f"{len(block.txs)} transactions; the limit is {params.limits.max_block_txs}")
    if sum(len(b) for b in tx_bytes) > params.limits.max_block_bytes:
        raise InvalidBlock("too_large", "transactions exceed max_block_bytes")
    current, nxt = sets_for_block(state, h.height)
    if all(address_of(suite, v.public_key) != h.proposer for v in current.validators):
        raise InvalidBlock("bad_proposer", "proposer is not a validator at this height")
    if h.validators_hash != validators_hash(suite, current):
        raise InvalidBlock("bad_validators_hash", "validators_hash is not the validator set of this height")
    if h.next_validators_hash != validators_hash(suite, nxt):
        raise InvalidBlock("bad_next_validators_hash", "next_validators_hash is not the next height's validator set")
    if not tx_root_checked and h.tx_root != merkle_root(suite, tx_bytes):
        raise InvalidBlock("bad_tx_root", "tx_root does not match the transactions")
    output, tree, receipt_bytes = _execute(
        params, state, nodes, tip, block.txs, tx_bytes, h.time_ms, None, tx_hashes, None, contracts, current
    )
    if h.results_root != merkle_root(suite, receipt_bytes):
        raise InvalidBlock("bad_results_root", "results_root does not match the execution results")
    if h.state_root != tree.root:
        raise InvalidBlock("bad_state_root", "state_root does not match the state after execution")
    return ExecutedBlock.of(suite, block, tx_bytes, output, tree, receipt_bytes)
