"""The light client (docs/spec/light-client.md, ADR 0014 section 7): verify headers and their commit
certificates against a trusted validator set, and follow validator-set changes.

Pure: no clock (``now_ms`` is an argument, ``None`` = offline), no I/O. A ``HeaderProvider`` is the one port; it
is untrusted, every answer is checked. The commit check itself is ``trellis.core.ledger.block.verify_commit``.

Three ways to reach a header:
  * ``verify_adjacent`` / ``verify_non_adjacent`` / ``verify``: one step from a ``TrustedState`` (section 4);
  * ``verify_sequential`` and ``verify_to_height`` (bisection): many steps through a provider (section 5);
  * ``follow_set_changes`` / ``verify_from_genesis``: from genesis along the chain of set changes, with no
    trust level and no clock (section 6) -- what receipts and ``trellis light verify --genesis`` use.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from trellis.core.codec import decode, encode
from trellis.core.crypto.suite import Suite, address_of
from trellis.core.errors import DecodeError, InvalidBlock, TrellisError
from trellis.core.ledger.block import (
    MAX_VALIDATORS,
    PRECOMMIT,
    Commit,
    Header,
    ValidatorSet,
    Vote,
    block_hash,
    validators_hash,
    verify_commit,
    vote_signing_bytes,
)
from trellis.core.params import ChainParams
from trellis.core.types import CoreStruct

__all__ = [
    "DEFAULT_TRUSTING_PERIOD_MS",
    "ERROR_CODES",
    "HeaderProvider",
    "LightBlock",
    "LightClientError",
    "SetChange",
    "TrustOptions",
    "TrustedState",
    "follow_set_changes",
    "light_block_from_bytes",
    "set_change_from_bytes",
    "verify",
    "verify_adjacent",
    "verify_from_genesis",
    "verify_non_adjacent",
    "verify_sequential",
    "verify_to_height",
]

DEFAULT_TRUSTING_PERIOD_MS = 14 * 24 * 3600 * 1000
"""Fourteen days."""
ZERO_ID = bytes(32)

ERROR_CODES = (
    "wrong_chain",
    "not_after",
    "not_adjacent",
    "invalid_header",
    "validators_mismatch",
    "invalid_commit",
    "not_enough_trust",
    "expired",
    "from_future",
    "bad_trust_level",
    "validator_changes",
    "too_many_steps",
    "provider",
)
"""Every ``LightClientError.code`` (light-client.md section 9)."""


class LightClientError(TrellisError):
    """A header that cannot be verified; ``code`` is one of ``ERROR_CODES``, ``height`` the light block's (or
    set change's) height, 0 when none applies."""

    def __init__(self, code: str, reason: str, height: int = 0) -> None:
        assert code in ERROR_CODES, code
        super().__init__(reason)
        self.code = code
        self.height = height

    def __str__(self) -> str:
        return f"{self.code}: {self.reason}"


class LightBlock(CoreStruct, frozen=True):
    """A header, a certificate for it, and the set the header names (``validators_hash``)."""

    header: Header
    """The header."""
    commit: Commit
    """Its commit certificate."""
    validators: ValidatorSet
    """``set(header.height)``."""


class SetChange(CoreStruct, frozen=True):
    """The header of height ``e - 1`` that first names a new set as ``next_validators_hash``, its certificate,
    and that set, in force from height ``e`` (the effective height)."""

    header: Header
    """Header of height ``e - 1``."""
    commit: Commit
    """Its commit certificate (signed by ``set(e - 1)``)."""
    next_validators: ValidatorSet
    """``set(e)``; its hash is ``header.next_validators_hash``."""


@dataclass(frozen=True)
class TrustedState:
    """What a client has verified: a header's height, id and time, its set and the hash of the next set."""

    chain_id: str
    """The chain id (from genesis)."""
    suite: Suite
    """The chain's crypto suite."""
    height: int
    """The last verified height; 0 for the genesis state."""
    block_id: bytes
    """Block id at ``height``; 32 zero bytes at 0."""
    time_ms: int
    """The header's time; the genesis time at 0."""
    validators: ValidatorSet
    """``set(height)``; the genesis set at 0."""
    next_validators_hash: bytes
    """The header's ``next_validators_hash``; the genesis set's hash at 0."""

    @classmethod
    def from_genesis(cls, params: ChainParams) -> TrustedState:
        """Return the height-0 state of the chain whose genesis gave ``params``."""
        genesis_set = params.validators
        return cls(
            chain_id=params.chain_id,
            suite=params.suite,
            height=0,
            block_id=ZERO_ID,
            time_ms=params.genesis.genesis_time_ms,
            validators=genesis_set,
            next_validators_hash=validators_hash(params.suite, genesis_set),
        )

    def after(self, lb: LightBlock) -> TrustedState:
        """Return the state of the (verified) light block ``lb``."""
        h = lb.header
        return TrustedState(
            chain_id=self.chain_id,
            suite=self.suite,
            height=h.height,
            block_id=block_hash(self.suite, h),
            time_ms=h.time_ms,
            validators=lb.validators,
            next_validators_hash=h.next_validators_hash,
        )


@dataclass(frozen=True)
class TrustOptions:
    """How much a skipping client trusts: the trust level, the trusting period and the clock drift allowed."""

    trust_level: tuple[int, int] = (1, 3)
    """``(num, den)``: more than ``num/den`` of the trusted set's power must sign a non-adjacent header;
    allowed ``1/3 <= num/den < 1``."""
    trusting_period_ms: int | None = DEFAULT_TRUSTING_PERIOD_MS
    """How long a trusted header stays trusted; None: forever."""
    max_clock_drift_ms: int = 10_000
    """How far in the future (of ``now_ms``) a header's time may be."""


class HeaderProvider(Protocol):
    """An untrusted source of light blocks (a node's REST API, a test chain)."""

    def light_block(self, height: int) -> LightBlock:
        """Return the light block of ``height``; raise ``LightClientError("provider", ...)`` (or any
        ``TrellisError``, ``LookupError``, ``ValueError``) when it has none."""
        ...

    def latest_height(self) -> int:
        """Return the provider's latest height."""
        ...


# -- decoding ------------------------------------------------------------------------------------------------
def _canonical(data: bytes, type_: Any, code: str, what: str, height: int) -> Any:
    try:
        obj = decode(data, type_)
    except DecodeError as exc:
        raise LightClientError(code, f"{what} does not decode: {exc}", height) from None
    if encode(obj) != data:
        raise LightClientError(code, f"{what} is not in canonical form", height)
    return obj


def light_block_from_bytes(header: bytes, commit: bytes, validators: bytes) -> LightBlock:
    """Return the light block of three canonical encodings.

    Raises:
        LightClientError: ``invalid_header``, ``invalid_commit`` or ``validators_mismatch`` (that member does
        not decode canonically).
    """
    h: Header = _canonical(header, Header, "invalid_header", "the header", 0)
    c: Commit = _canonical(commit, Commit, "invalid_commit", "the commit", h.height)
    v: ValidatorSet = _canonical(validators, ValidatorSet, "validators_mismatch", "the validator set", h.height)
    return LightBlock(header=h, commit=c, validators=v)


def set_change_from_bytes(header: bytes, commit: bytes, next_validators: bytes) -> SetChange:
    """Return the set change of three canonical encodings.

    Raises:
        LightClientError: ``validator_changes`` (a member does not decode canonically).
    """
    h: Header = _canonical(header, Header, "validator_changes", "a set change's header", 0)
    c: Commit = _canonical(commit, Commit, "validator_changes", "a set change's commit", h.height)
    n: ValidatorSet = _canonical(next_validators, ValidatorSet, "validator_changes", "a set change's set", h.height)
    return SetChange(header=h, commit=c, next_validators=n)


# -- one step (section 4) ------------------------------------------------------------------------------------
def _basic_checks(trusted: TrustedState, lb: LightBlock, now_ms: int | None, opts: TrustOptions) -> None:
    h, c, n = lb.header, lb.commit, lb.header.height
    if h.chain_id != trusted.chain_id:
        raise LightClientError("wrong_chain", f"header is for chain {h.chain_id!r}, not {trusted.chain_id!r}", n)
    if h.height <= trusted.height:
        raise LightClientError("not_after", f"height {n} is not after the trusted height {trusted.height}", n)
    if h.time_ms <= trusted.time_ms:
        raise LightClientError("not_after", f"time {h.time_ms} is not after the trusted time {trusted.time_ms}", n)
    if h.validators_hash != validators_hash(trusted.suite, lb.validators):
        raise LightClientError("validators_mismatch", "the validator set does not hash to validators_hash", n)
    if c.height != h.height or c.block_hash != block_hash(trusted.suite, h):
        raise LightClientError("invalid_commit", "the commit certificate is for another block", n)
    if now_ms is not None and opts.trusting_period_ms is not None:
        if trusted.time_ms + opts.trusting_period_ms <= now_ms:
            raise LightClientError(
                "expired",
                f"the trusted header (time {trusted.time_ms}) is older than the trusting period "
                f"{opts.trusting_period_ms} ms at {now_ms}",
                n,
            )
    if now_ms is not None and h.time_ms >= now_ms + opts.max_clock_drift_ms:
        raise LightClientError(
            "from_future", f"header time {h.time_ms} is beyond now {now_ms} + drift {opts.max_clock_drift_ms}", n
        )


def _check_after(trusted: TrustedState, height: int) -> None:
    if height <= trusted.height:
        raise LightClientError("not_after", f"height {height} is not after the trusted height {trusted.height}", height)


def _verify_commit(trusted: TrustedState, valset: ValidatorSet, lb: LightBlock) -> None:
    try:
        verify_commit(trusted.suite, trusted.chain_id, valset, lb.header, lb.commit)
    except InvalidBlock as exc:
        raise LightClientError("invalid_commit", exc.reason, lb.header.height) from None


def verify_adjacent(
    trusted: TrustedState, lb: LightBlock, now_ms: int | None = None, opts: TrustOptions | None = None
) -> TrustedState:
    """Verify the light block right after ``trusted`` (section 4.1) and return its state.

    It must follow ``trusted`` (parent hash), name the set ``trusted`` announced as next, and carry a
    certificate with more than 2/3 of that set's power.

    Raises:
        LightClientError: ``not_adjacent`` or a code of sections 4 and 4.1.
    """
    opts = opts or TrustOptions()
    h = lb.header
    _check_after(trusted, h.height)
    if h.height != trusted.height + 1:
        raise LightClientError("not_adjacent", f"height {h.height} is not {trusted.height + 1}", h.height)
    _basic_checks(trusted, lb, now_ms, opts)
    if h.parent_hash != trusted.block_id:
        raise LightClientError("invalid_header", "the header's parent is not the trusted block", h.height)
    if h.validators_hash != trusted.next_validators_hash:
        raise LightClientError(
            "validators_mismatch", "the header's validators_hash is not the trusted next_validators_hash", h.height
        )
    _verify_commit(trusted, lb.validators, lb)
    return trusted.after(lb)


def _check_trust_level(opts: TrustOptions) -> None:
    num, den = opts.trust_level
    if not (den > 0 and 3 * num >= den and num < den):
        raise LightClientError("bad_trust_level", f"trust level {num}/{den} is not in [1/3, 1)")


def verify_non_adjacent(
    trusted: TrustedState, lb: LightBlock, now_ms: int | None = None, opts: TrustOptions | None = None
) -> TrustedState:
    """Verify a light block more than one height after ``trusted`` (section 4.2) and return its state.

    More than the trust level of the *trusted* set's power must have signed it (signatures by others do not
    count), and more than 2/3 of its own set.

    Raises:
        LightClientError: ``not_adjacent``, ``bad_trust_level``, ``not_enough_trust`` (recoverable: bisect) or a
        code of section 4.
    """
    opts = opts or TrustOptions()
    h, c = lb.header, lb.commit
    _check_after(trusted, h.height)
    if h.height <= trusted.height + 1:
        raise LightClientError("not_adjacent", f"height {h.height} is not above {trusted.height + 1}", h.height)
    _check_trust_level(opts)
    _basic_checks(trusted, lb, now_ms, opts)
    suite = trusted.suite
    members = {address_of(suite, v.public_key): v for v in trusted.validators.validators}
    total = sum(v.power for v in trusted.validators.validators)
    msg = vote_signing_bytes(
        Vote(chain_id=trusted.chain_id, kind=PRECOMMIT, height=c.height, round=c.round, block_hash=c.block_hash)
    )
    signed = 0
    last = b""
    for cs in c.signatures:
        if cs.validator <= last:
            raise LightClientError("invalid_commit", "signatures are not in strictly ascending order", h.height)
        last = cs.validator
        member = members.get(cs.validator)
        if member is None:
            continue
        if not suite.verify(member.public_key, msg, cs.signature):
            raise LightClientError(
                "invalid_commit", f"signature of trusted validator {cs.validator.hex()} does not verify", h.height
            )
        signed += member.power
    num, den = opts.trust_level
    if den * signed <= num * total:
        raise LightClientError(
            "not_enough_trust",
            f"the trusted set signed {signed} of {total} power; needs more than {num}/{den}",
            h.height,
        )
    _verify_commit(trusted, lb.validators, lb)
    return trusted.after(lb)


def verify(
    trusted: TrustedState, lb: LightBlock, now_ms: int | None = None, opts: TrustOptions | None = None
) -> TrustedState:
    """``verify_adjacent`` when ``lb`` is at ``trusted.height + 1``, else ``verify_non_adjacent``."""
    if lb.header.height == trusted.height + 1:
        return verify_adjacent(trusted, lb, now_ms, opts)
    return verify_non_adjacent(trusted, lb, now_ms, opts)


# -- many steps (section 5) ----------------------------------------------------------------------------------
def _fetch(provider: HeaderProvider, height: int) -> LightBlock:
    try:
        lb = provider.light_block(height)
    except LightClientError as exc:
        raise LightClientError("provider", exc.reason, height) from None
    except (TrellisError, LookupError, ValueError) as exc:
        raise LightClientError("provider", f"the provider has no light block {height}: {exc}", height) from None
    if lb.header.height != height:
        raise LightClientError("provider", f"asked for height {height}, got {lb.header.height}", height)
    return lb


def verify_sequential(
    trusted: TrustedState,
    target: int,
    provider: HeaderProvider,
    now_ms: int | None = None,
    opts: TrustOptions | None = None,
) -> TrustedState:
    """Verify every height from ``trusted.height + 1`` to ``target`` with ``verify_adjacent``.

    Raises:
        LightClientError: ``not_after`` (target not above the trusted height) or the first step's error.
    """
    if target <= trusted.height:
        raise LightClientError("not_after", f"target {target} is not after the trusted height {trusted.height}")
    for n in range(trusted.height + 1, target + 1):
        trusted = verify_adjacent(trusted, _fetch(provider, n), now_ms, opts)
    return trusted


def verify_to_height(
    trusted: TrustedState,
    target: int,
    provider: HeaderProvider,
    now_ms: int | None = None,
    opts: TrustOptions | None = None,
    max_steps: int = 1000,
) -> tuple[TrustedState, list[LightBlock]]:
    """Verify ``target`` by skipping, bisecting where the trusted set lacks trust (section 5).

    Returns the state at ``target`` and the light blocks verified, in order.

    Raises:
        LightClientError: ``not_after``, ``too_many_steps``, ``provider`` or a step's error other than
        ``not_enough_trust``.
    """
    if target <= trusted.height:
        raise LightClientError("not_after", f"target {target} is not after the trusted height {trusted.height}")
    pending = [target]
    verified: list[LightBlock] = []
    steps = 0
    while pending:
        n = pending[-1]
        lb = _fetch(provider, n)
        steps += 1
        if steps > max_steps:
            raise LightClientError("too_many_steps", f"more than {max_steps} light blocks needed", n)
        try:
            trusted = verify(trusted, lb, now_ms, opts)
        except LightClientError as exc:
            if exc.code != "not_enough_trust":
                raise
            # Never trusted.height: an adjacent step (n = trusted.height + 1) cannot lack trust.
            pending.append((trusted.height + n) // 2)
            continue
        pending.pop()
        verified.append(lb)
    return trusted, verified


# -- from genesis (section 6) --------------------------------------------------------------------------------
def _check_set_shape(suite: Suite, s: ValidatorSet, height: int) -> None:
    if not 1 <= len(s.validators) <= MAX_VALIDATORS:
        raise LightClientError("validator_changes", f"a set of {len(s.validators)} validators", height)
    last = b""
    for v in s.validators:
        a = address_of(suite, v.public_key)
        if a <= last:
            raise LightClientError("validator_changes", "a new set is not sorted by address", height)
        last = a


def follow_set_changes(
    trusted: TrustedState, changes: Sequence[SetChange], target_height: int
) -> tuple[ValidatorSet, int]:
    """Walk ``changes`` from ``trusted`` (usually ``TrustedState.from_genesis``): each new set must be announced
    by a header that more than 2/3 of the set before it signed. Returns the set reached and the first height it
    may sign (``max(trusted.height, 1)`` when there are no changes).

    Raises:
        LightClientError: ``wrong_chain`` or ``validator_changes``.
    """
    suite = trusted.suite
    s = trusted.validators
    start = max(trusted.height, 1)
    for ch in changes:
        h = ch.header
        n = h.height
        if h.chain_id != trusted.chain_id:
            raise LightClientError("wrong_chain", f"a set change is for chain {h.chain_id!r}", n)
        if n < start:
            raise LightClientError("validator_changes", f"set change at {n} is below height {start}", n)
        if n + 1 > target_height:
            raise LightClientError("validator_changes", f"set change effective {n + 1} is after {target_height}", n)
        _check_set_shape(suite, ch.next_validators, n)
        if h.validators_hash != validators_hash(suite, s):
            raise LightClientError("validator_changes", f"header {n} is not signed by the set reached so far", n)
        try:
            verify_commit(suite, trusted.chain_id, s, h, ch.commit)
        except InvalidBlock as exc:
            raise LightClientError("validator_changes", f"header {n}: {exc.reason}", n) from None
        if h.next_validators_hash != validators_hash(suite, ch.next_validators):
            raise LightClientError("validator_changes", f"header {n} does not announce the set given", n)
        s = ch.next_validators
        start = n + 1
    return s, start


def verify_from_genesis(
    params: ChainParams, header: Header, commit: Commit, changes: Sequence[SetChange]
) -> TrustedState:
    """Verify ``header`` and its certificate from genesis along ``changes`` (section 6): no trust level, no
    clock. Returns the header's state.

    Raises:
        LightClientError: ``wrong_chain``, ``validator_changes`` or ``invalid_commit``.
    """
    genesis = TrustedState.from_genesis(params)
    s, start = follow_set_changes(genesis, changes, header.height)
    if header.chain_id != genesis.chain_id:
        raise LightClientError("wrong_chain", f"header is for chain {header.chain_id!r}", header.height)
    if header.height < start:
        raise LightClientError("validator_changes", f"height {header.height} is before the last change", header.height)
    lb = LightBlock(header=header, commit=commit, validators=s)
    _verify_commit(genesis, s, lb)
    return genesis.after(lb)
