"""The client rules of the interchain module, pure (docs/spec/interchain.md 2; ADR 0015 section 5).

Functions of records (``ClientState``, ``ConsensusState``), light blocks and the block time to new records or a
``TxFailure``: no state access, no clock. The handlers (``handlers/clients.py``), the proof checks
(``proofs.py``) and the governance steps (``governance.py``) read and write state around them.

Every header is checked by ``core/lightclient.py``: ``verify_from_genesis`` when a client is created from the
counterparty's genesis (or, from a checkpoint, the header's commit under the set it names: governance or the open
policy supplies the trust), ``verify`` (adjacent or skipping, trust level 1/3) for each update, with the executing
block's time as *now*.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from trellis.core.codec import decode, encode
from trellis.core.crypto.suite import Suite, suite_by_name
from trellis.core.errors import DecodeError, InvalidBlock, TrellisError
from trellis.core.execution.results import ResultCode, TxFailure
from trellis.core.ledger.block import Commit, Header, ValidatorSet, block_hash, validators_hash, verify_commit
from trellis.core.lightclient import (
    LightBlock,
    LightClientError,
    SetChange,
    TrustedState,
    TrustOptions,
    light_block_from_bytes,
    set_change_from_bytes,
    verify,
    verify_from_genesis,
)
from trellis.core.modules.interchain.messages import Checkpoint, EncodedSetChange, HeaderUpdate
from trellis.core.modules.interchain.state import ClientState, ConsensusState, MisbehaviourRecord
from trellis.core.params import ChainParams, Genesis, params_from_genesis

ACTIVE, FROZEN, EXPIRED = "active", "frozen", "expired"
"""A client's status (section 2.5)."""
MIN_TRUSTING_PERIOD_MS = 3_600_000
"""The shortest trusting period a client may ask for (one hour)."""
MAX_CLOCK_DRIFT_MS = 3_600_000
"""The largest clock drift a client may allow (one hour)."""
TRUST_LEVEL = (1, 3)
"""A skipping update needs more than this fraction of the trusted set's power."""
T = TypeVar("T")
CONFLICT, TIME, UNTRUSTED = "conflict", "time", "untrusted"
"""Kinds of ``MisbehaviourRecord``."""


def _invalid_header(exc: LightClientError) -> TxFailure:
    return TxFailure(ResultCode.INVALID_HEADER, f"{exc.code}: {exc.reason}")


def status(client: ClientState, latest: ConsensusState | None, now_ms: int) -> str:
    """``frozen`` if the client froze; else ``expired`` if its latest consensus state is at least a trusting period
    older than ``now_ms`` (or missing); else ``active``."""
    if client.frozen_height != 0:
        return FROZEN
    if latest is None or latest.time_ms + client.trusting_period_ms <= now_ms:
        return EXPIRED
    return ACTIVE


def require_active(client_id: str, client: ClientState, latest: ConsensusState | None, now_ms: int) -> None:
    """Refuse a client that is not active.

    Raises:
        TxFailure: ``CLIENT_FROZEN`` or ``CLIENT_EXPIRED``.
    """
    st = status(client, latest, now_ms)
    if st == FROZEN:
        raise TxFailure(
            ResultCode.CLIENT_FROZEN,
            f"client {client_id} is frozen (at height {client.frozen_height}): it proves nothing",
        )
    if st == EXPIRED:
        when = "none" if latest is None else str(latest.time_ms)
        raise TxFailure(
            ResultCode.CLIENT_EXPIRED,
            f"client {client_id} expired: its latest consensus state (height {client.latest_height}, time {when}) "
            f"is not within the trusting period {client.trusting_period_ms} ms of {now_ms}",
        )


def suite_of(client: ClientState) -> Suite:
    """The counterparty's crypto suite (the client was created from a genesis naming a known suite)."""
    return suite_by_name(client.suite)


def consensus_of(suite: Suite, header: Header) -> ConsensusState:
    """What a client keeps of a verified header."""
    return ConsensusState(
        time_ms=header.time_ms,
        state_root=header.state_root,
        block_id=block_hash(suite, header),
        validators_hash=header.validators_hash,
        next_validators_hash=header.next_validators_hash,
    )


# -- create (section 2.2) ----------------------------------------------------------------------------------------
def check_client_params(trusting_period_ms: int, max_clock_drift_ms: int, max_trusting_period_ms: int) -> None:
    """A trusting period in ``[1 h, max_trusting_period_ms]`` and a clock drift of at most 1 h.

    Raises:
        TxFailure: ``INVALID_HEADER`` (``bad_trusting_period`` / ``bad_clock_drift``).
    """
    if not MIN_TRUSTING_PERIOD_MS <= trusting_period_ms <= max_trusting_period_ms:
        raise TxFailure(
            ResultCode.INVALID_HEADER,
            f"bad_trusting_period: {trusting_period_ms} ms is not in [{MIN_TRUSTING_PERIOD_MS}, "
            f"{max_trusting_period_ms}] ms",
        )
    if max_clock_drift_ms > MAX_CLOCK_DRIFT_MS:
        raise TxFailure(
            ResultCode.INVALID_HEADER,
            f"bad_clock_drift: {max_clock_drift_ms} ms is more than {MAX_CLOCK_DRIFT_MS} ms",
        )


def counterparty_params(genesis: bytes, chain_id: str) -> ChainParams:
    """The counterparty's chain parameters from its genesis document's canonical msgpack.

    Raises:
        TxFailure: ``INVALID_HEADER`` (``invalid_genesis``: not canonical msgpack of a genesis, or a genesis no
            chain could start from; ``wrong_chain``: its chain id is not ``chain_id``).
    """
    try:
        doc = decode(genesis, Genesis)
        if encode(doc) != genesis:
            raise DecodeError("not in canonical encoding")
        params = params_from_genesis(doc)
    except (TrellisError, ValueError) as exc:
        raise TxFailure(ResultCode.INVALID_HEADER, f"invalid_genesis: {exc}") from None
    if params.chain_id != chain_id:
        raise TxFailure(
            ResultCode.INVALID_HEADER, f"wrong_chain: the genesis is of chain {params.chain_id!r}, not {chain_id!r}"
        )
    return params


def decode_set_changes(changes: Sequence[EncodedSetChange]) -> list[SetChange]:
    """The set changes of a ``create_client``.

    Raises:
        TxFailure: ``INVALID_HEADER`` (``validator_changes``: a member does not decode canonically).
    """
    try:
        return [set_change_from_bytes(c.header, c.commit, c.next_validators) for c in changes]
    except LightClientError as exc:
        raise _invalid_header(exc) from None


def _canonical(data: bytes, type_: type[T], code: str, what: str) -> T:
    try:
        return decode(data, type_)
    except DecodeError as exc:
        raise TxFailure(ResultCode.INVALID_HEADER, f"{code}: {what} does not decode: {exc}") from None


def new_client(
    params: ChainParams,
    changes: Sequence[SetChange],
    header_bytes: bytes,
    commit_bytes: bytes,
    trusting_period_ms: int,
    max_clock_drift_ms: int,
    now_ms: int,
) -> tuple[ClientState, ConsensusState]:
    """Verify a counterparty header from its genesis along ``changes`` and return the new client's records.

    The header must be within the trusting period of ``now_ms`` and not beyond ``now_ms + max_clock_drift_ms``.

    Raises:
        TxFailure: ``INVALID_HEADER`` with the light client's code (``invalid_header``, ``invalid_commit``,
            ``wrong_chain``, ``validator_changes``, ``expired``, ``from_future``).
    """
    header = _canonical(header_bytes, Header, "invalid_header", "the header")
    commit = _canonical(commit_bytes, Commit, "invalid_commit", "the commit")
    try:
        verify_from_genesis(params, header, commit, changes)
    except LightClientError as exc:
        raise _invalid_header(exc) from None
    _check_fresh(header, trusting_period_ms, max_clock_drift_ms, now_ms)
    client = ClientState(
        chain_id=params.chain_id,
        genesis_hash=params.genesis_hash,
        suite=params.suite.name,
        trusting_period_ms=trusting_period_ms,
        max_clock_drift_ms=max_clock_drift_ms,
        latest_height=header.height,
        frozen_height=0,
    )
    return client, consensus_of(params.suite, header)


def checkpoint_client(
    chain_id: str,
    checkpoint: Checkpoint,
    header_bytes: bytes,
    commit_bytes: bytes,
    trusting_period_ms: int,
    max_clock_drift_ms: int,
    now_ms: int,
) -> tuple[ClientState, ConsensusState, bytes]:
    """Verify a counterparty header as a checkpoint: of ``chain_id``, naming ``checkpoint.validators`` and
    certified by more than 2/3 of their power. Returns the new client's records and the header's block id (the
    handler matches it against a governed checkpoint).

    Raises:
        TxFailure: ``INVALID_HEADER`` (``invalid_header``, ``invalid_commit``, ``wrong_chain``, ``unknown_suite``,
            ``validators_mismatch``, ``expired``, ``from_future``).
    """
    try:
        suite = suite_by_name(checkpoint.suite)
    except TrellisError as exc:
        raise TxFailure(ResultCode.INVALID_HEADER, f"unknown_suite: {exc}") from None
    try:
        lb = light_block_from_bytes(header_bytes, commit_bytes, checkpoint.validators)
    except LightClientError as exc:
        raise _invalid_header(exc) from None
    header = lb.header
    if header.chain_id != chain_id:
        raise TxFailure(ResultCode.INVALID_HEADER, f"wrong_chain: the header is of chain {header.chain_id!r}")
    if header.validators_hash != validators_hash(suite, lb.validators):
        raise TxFailure(ResultCode.INVALID_HEADER, "validators_mismatch: the header names another validator set")
    try:
        verify_commit(suite, chain_id, lb.validators, header, lb.commit)
    except InvalidBlock as exc:
        raise TxFailure(ResultCode.INVALID_HEADER, f"invalid_commit: {exc.reason}") from None
    _check_fresh(header, trusting_period_ms, max_clock_drift_ms, now_ms)
    client = ClientState(
        chain_id=chain_id,
        genesis_hash=checkpoint.genesis_hash,
        suite=suite.name,
        trusting_period_ms=trusting_period_ms,
        max_clock_drift_ms=max_clock_drift_ms,
        latest_height=header.height,
        frozen_height=0,
    )
    return client, consensus_of(suite, header), block_hash(suite, header)


def _check_fresh(header: Header, trusting_period_ms: int, max_clock_drift_ms: int, now_ms: int) -> None:
    """A first header must be within the trusting period of ``now_ms`` and not beyond ``now_ms + drift``."""
    if header.time_ms + trusting_period_ms <= now_ms:
        raise TxFailure(
            ResultCode.INVALID_HEADER,
            f"expired: header time {header.time_ms} is not within the trusting period {trusting_period_ms} ms "
            f"of {now_ms}",
        )
    if header.time_ms >= now_ms + max_clock_drift_ms:
        raise TxFailure(
            ResultCode.INVALID_HEADER,
            f"from_future: header time {header.time_ms} is beyond now {now_ms} + drift {max_clock_drift_ms}",
        )


# -- update (section 2.3) ----------------------------------------------------------------------------------------
def decode_update(update: HeaderUpdate) -> tuple[LightBlock, ValidatorSet]:
    """The light block and the trusted set an update carries.

    Raises:
        TxFailure: ``INVALID_HEADER`` (``invalid_header``, ``invalid_commit``, ``validators_mismatch``,
            ``trusted_validators_mismatch``: a member does not decode canonically).
    """
    try:
        lb = light_block_from_bytes(update.header, update.commit, update.validators)
    except LightClientError as exc:
        raise _invalid_header(exc) from None
    trusted = _canonical(
        update.trusted_validators, ValidatorSet, "trusted_validators_mismatch", "the trusted validator set"
    )
    return lb, trusted


def verify_header(
    client: ClientState,
    trusted_height: int,
    trusted_cs: ConsensusState,
    trusted_validators: ValidatorSet,
    lb: LightBlock,
    now_ms: int,
) -> ConsensusState:
    """Verify ``lb`` from the stored consensus state at ``trusted_height`` and return its consensus state.

    ``trusted_validators`` must hash to that state's ``validators_hash``; then ``lightclient.verify`` with trust
    level 1/3, the client's trusting period and drift, at ``now_ms``: adjacent headers need more than 2/3 of the
    announced set, skipping ones more than 1/3 of the trusted set too.

    Raises:
        TxFailure: ``INVALID_HEADER`` (``trusted_validators_mismatch`` or the light client's code).
    """
    suite = suite_of(client)
    if validators_hash(suite, trusted_validators) != trusted_cs.validators_hash:
        raise TxFailure(
            ResultCode.INVALID_HEADER,
            f"trusted_validators_mismatch: the trusted validator set does not hash to the validators_hash of the "
            f"consensus state at height {trusted_height}",
        )
    trusted = TrustedState(
        chain_id=client.chain_id,
        suite=suite,
        height=trusted_height,
        block_id=trusted_cs.block_id,
        time_ms=trusted_cs.time_ms,
        validators=trusted_validators,
        next_validators_hash=trusted_cs.next_validators_hash,
    )
    opts = TrustOptions(
        trust_level=TRUST_LEVEL,
        trusting_period_ms=client.trusting_period_ms,
        max_clock_drift_ms=client.max_clock_drift_ms,
    )
    try:
        verify(trusted, lb, now_ms, opts)
    except LightClientError as exc:
        raise _invalid_header(exc) from None
    return consensus_of(suite, lb.header)


@dataclass(frozen=True)
class Neighbours:
    """The stored consensus states around a height (``None``: none on that side) and the one at it."""

    at: ConsensusState | None = None
    below: tuple[int, ConsensusState] | None = None
    above: tuple[int, ConsensusState] | None = None


@dataclass(frozen=True)
class Freeze:
    """A verified update that shows misbehaviour: the client freezes with this record."""

    frozen_height: int
    """The height the client freezes at."""
    kind: str
    """``conflict`` or ``time``."""
    block_id_1: bytes
    """The stored block id."""
    block_id_2: bytes
    """The new one."""


DUPLICATE = "duplicate"
"""``judge_update``: the header is already stored (a no-op success)."""
STORE = "store"
"""``judge_update``: store the new consensus state."""


def judge_update(height: int, new: ConsensusState, around: Neighbours) -> str | Freeze:
    """What a verified consensus state at ``height`` does to a client: ``DUPLICATE`` (same block already stored),
    ``STORE``, or a ``Freeze`` (another block at that height: ``conflict``; time not strictly increasing with
    height against the stored neighbours: ``time``)."""
    if around.at is not None:
        if around.at.block_id == new.block_id:
            return DUPLICATE
        return Freeze(height, CONFLICT, around.at.block_id, new.block_id)
    if around.below is not None and new.time_ms <= around.below[1].time_ms:
        h, cs = around.below
        return Freeze(h, TIME, cs.block_id, new.block_id)
    if around.above is not None and new.time_ms >= around.above[1].time_ms:
        h, cs = around.above
        return Freeze(height, TIME, cs.block_id, new.block_id)
    return STORE


def misbehaviour(height_1: int, cs_1: ConsensusState, height_2: int, cs_2: ConsensusState) -> Freeze:
    """Judge two verified consensus states of one client: the same height with different blocks (``conflict``), or
    a higher height with a time not after the lower's (``time``).

    Raises:
        TxFailure: ``INVALID_EVIDENCE`` (the two can both be true).
    """
    if height_1 == height_2:
        if cs_1.block_id == cs_2.block_id:
            raise TxFailure(ResultCode.INVALID_EVIDENCE, f"both headers are the same block at height {height_1}")
        return Freeze(height_1, CONFLICT, cs_1.block_id, cs_2.block_id)
    (lo, lo_cs), (hi, hi_cs) = sorted([(height_1, cs_1), (height_2, cs_2)], key=lambda p: p[0])
    if lo_cs.time_ms >= hi_cs.time_ms:
        return Freeze(lo, TIME, lo_cs.block_id, hi_cs.block_id)
    raise TxFailure(
        ResultCode.INVALID_EVIDENCE,
        f"no misbehaviour: heights {lo} < {hi} with times {lo_cs.time_ms} < {hi_cs.time_ms}",
    )


def frozen(client: ClientState, freeze: Freeze, at_height: int) -> tuple[ClientState, MisbehaviourRecord]:
    """The client frozen by ``freeze`` in block ``at_height``, and the record of why."""
    record = MisbehaviourRecord(
        height=freeze.frozen_height,
        block_id_1=freeze.block_id_1,
        block_id_2=freeze.block_id_2,
        kind=freeze.kind,
        recorded_at=at_height,
    )
    return _replace(client, frozen_height=max(freeze.frozen_height, 1)), record


def with_height(client: ClientState, height: int) -> ClientState:
    """The client after storing a consensus state at ``height`` (``latest_height`` only grows)."""
    return _replace(client, latest_height=max(client.latest_height, height))


def prunable(client: ClientState, stored: Sequence[tuple[int, ConsensusState]], now_ms: int) -> list[int]:
    """Of the oldest stored consensus states ``stored`` (ascending), the heights an update deletes: at most 2,
    each older than ``now_ms - trusting_period``, never the latest."""
    out: list[int] = []
    for height, cs in stored:
        if len(out) == 2 or height >= client.latest_height:
            break
        if cs.time_ms + client.trusting_period_ms > now_ms:
            break
        out.append(height)
    return out


# -- recovery (section 2.6) --------------------------------------------------------------------------------------
def recovered(subject: ClientState, substitute: ClientState) -> ClientState:
    """The subject after governance recovery: unfrozen, at the substitute's latest height, with its parameters."""
    return _replace(
        subject,
        trusting_period_ms=substitute.trusting_period_ms,
        max_clock_drift_ms=substitute.max_clock_drift_ms,
        latest_height=substitute.latest_height,
        frozen_height=0,
    )


def _replace(
    client: ClientState,
    *,
    trusting_period_ms: int | None = None,
    max_clock_drift_ms: int | None = None,
    latest_height: int | None = None,
    frozen_height: int | None = None,
) -> ClientState:
    return ClientState(
        chain_id=client.chain_id,
        genesis_hash=client.genesis_hash,
        suite=client.suite,
        trusting_period_ms=client.trusting_period_ms if trusting_period_ms is None else trusting_period_ms,
        max_clock_drift_ms=client.max_clock_drift_ms if max_clock_drift_ms is None else max_clock_drift_ms,
        latest_height=client.latest_height if latest_height is None else latest_height,
        frozen_height=client.frozen_height if frozen_height is None else frozen_height,
    )
