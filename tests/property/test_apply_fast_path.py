"""``apply_block``'s block-level transfer path gives exactly what running every transaction through its module
handler gives (``apply_block_reference``, the reference): the same receipts, the same writes in the same order, the
same hashes and senders — or the same error, code and message — for any block.

Blocks mix transfers (zero amounts, insufficient funds, credits that would pass 2^64-1, transfers to oneself and
to new accounts, bad nonces, a wrong chain id) with kv puts and deletes and mints (by the authority and by
others), over random prior balances and nonces, with now and then an account record that does not decode."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from trellis.core.codec import decode, encode
from trellis.core.crypto.suite import ED25519, address_of, ed25519_keypair_from_seed
from trellis.core.execution.fast_path import apply_block
from trellis.core.execution.reference import BlockEnv, BlockOutput, apply_block_reference
from trellis.core.execution.results import ResultCode
from trellis.core.ledger.block import Receipt
from trellis.core.ledger.tx import SignedTx, TxBody, sign_tx, tx_hash
from trellis.core.modules.accounts.handlers import transfer_event
from trellis.core.modules.accounts.messages import Mint, Transfer
from trellis.core.modules.accounts.state import Account, account_key
from trellis.core.modules.kv.messages import KvDelete, KvPut
from trellis.core.modules.kv.state import KvRecord, kv_key
from trellis.core.modules.payload import Payload
from trellis.core.params import ChainParams, Genesis, GenesisValidator, params_from_genesis
from trellis.core.types import U64_MAX

SETTINGS = settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])

CHAIN_ID = "fast-path-chain"
N_KEYS = 5
"""Senders 0..4; key 0 is the mint authority."""

_PUBS = [ed25519_keypair_from_seed(hashlib.sha256(b"fast-path-%d" % i).digest())[1] for i in range(N_KEYS)]
ADDRS = [address_of(ED25519, p) for p in _PUBS]
FRESH = [hashlib.sha256(b"fresh-%d" % i).digest()[:20] for i in range(3)]
"""Addresses no transaction is sent from (new accounts when credited)."""
_VALIDATOR = ed25519_keypair_from_seed(hashlib.sha256(b"fast-path-validator").digest())[1]
PARAMS: ChainParams = params_from_genesis(
    Genesis(
        chain_id=CHAIN_ID,
        genesis_time_ms=1_700_000_000_000,
        validators=[GenesisValidator(name="v0", public_key=_VALIDATOR.hex(), power=1)],
        mint_authority=ADDRS[0].hex(),
        accounts=[],
    )
)
NAMESPACES = ["a", "b"]
KV_KEYS = [b"k0", b"k1"]


class DictState:
    """A ``StateReader`` over a dict."""

    def __init__(self, values: dict[bytes, bytes]) -> None:
        self.values = values

    def get(self, key: bytes) -> bytes | None:
        return self.values.get(key)

    def scan(self, start: bytes, end: bytes, limit: int) -> list[tuple[bytes, bytes]]:
        return sorted((k, v) for k, v in self.values.items() if start <= k < end)[:limit]


class BatchDictState(DictState):
    """A ``DictState`` that also reads many keys at once, as ``ChainStore`` does (``apply_block`` prefetches
    the accounts of a block's transfers through it)."""

    def get_many(self, keys: list[bytes]) -> list[bytes | None]:
        return [self.values.get(k) for k in keys]


# Balances biased towards the edges that change outcomes: 0, small, and near 2^64-1.
balances = st.one_of(
    st.just(0),
    st.integers(1, 1_000),
    st.integers(1, 1_000),
    st.integers(1, 1_000),
    st.integers(U64_MAX - 1_000, U64_MAX),
    st.integers(0, U64_MAX),
)
amounts = st.one_of(
    st.just(0),
    st.integers(1, 10),
    st.integers(1, 10),
    st.integers(1, 10),
    st.integers(1, 10),
    st.integers(1, 1_000),
    st.integers(U64_MAX - 1_000, U64_MAX),
    st.integers(0, U64_MAX),
)
recipients = st.one_of(st.sampled_from(ADDRS), st.sampled_from(FRESH))


@st.composite
def prior_states(draw: st.DrawFn) -> tuple[dict[bytes, bytes], list[int]]:
    """The state before the block (accounts, kv records, maybe an undecodable account) and the senders'
    next nonces."""
    values: dict[bytes, bytes] = {}
    nonces = []
    for addr in ADDRS + FRESH:
        nonce = 0
        if draw(st.integers(0, 3)):
            nonce = draw(st.integers(0, 3))
            values[account_key(addr)] = encode(Account(balance=draw(balances), nonce=nonce))
        nonces.append(nonce)
    if draw(st.integers(0, 3)) == 0:  # a corrupt account record: decoding it fails in both paths alike
        values[account_key(draw(st.sampled_from(FRESH * 2 + ADDRS)))] = b"\xc1"
    for ns in NAMESPACES:
        for k in KV_KEYS:
            if draw(st.booleans()):
                values[kv_key(ns, k)] = encode(KvRecord(owner=draw(st.sampled_from(ADDRS)), value=b"v"))
    return values, nonces[:N_KEYS]


payloads = st.one_of(
    # Transfers are most of a real block.
    st.builds(Transfer, to=recipients, amount=amounts),
    st.builds(Transfer, to=recipients, amount=amounts),
    st.builds(Transfer, to=recipients, amount=amounts),
    st.builds(Transfer, to=recipients, amount=amounts),
    st.builds(Transfer, to=recipients, amount=amounts),
    st.builds(Mint, to=recipients, amount=amounts),
    st.builds(KvPut, namespace=st.sampled_from(NAMESPACES), key=st.sampled_from(KV_KEYS), value=st.binary(max_size=4)),
    st.builds(KvDelete, namespace=st.sampled_from(NAMESPACES), key=st.sampled_from(KV_KEYS)),
)


@dataclass(frozen=True)
class Case:
    state: dict[bytes, bytes]
    txs: list[SignedTx]
    tx_bytes: list[bytes]
    senders: list[bytes]
    pass_senders: bool
    pass_hashes: bool
    batch_reads: bool = False


@st.composite
def cases(draw: st.DrawFn) -> Case:
    state, nonces = draw(prior_states())
    txs: list[SignedTx] = []
    senders: list[bytes] = []
    for _ in range(draw(st.integers(0, 32))):
        s = draw(st.integers(0, N_KEYS - 1))
        nonce = nonces[s]
        if draw(st.integers(0, 79)) == 0:  # a bad nonce: the block is invalid
            nonce = draw(st.sampled_from([max(nonce - 1, 0), nonce + 1, nonce + 2]))
        chain_id = CHAIN_ID if draw(st.integers(0, 99)) else "other-chain"
        body = TxBody(chain_id=chain_id, sender=_PUBS[s], nonce=nonce, payload=draw(payloads))
        nonces[s] += 1
        txs.append(sign_tx(body, lambda _: b"\x01" * 64))
        senders.append(ADDRS[s])
    return Case(
        state=state,
        txs=txs,
        tx_bytes=[encode(t) for t in txs],
        senders=senders,
        pass_senders=draw(st.booleans()),
        pass_hashes=draw(st.booleans()),
        batch_reads=draw(st.booleans()),
    )


def _outcome(apply: object, case: Case) -> tuple[str, object]:
    env = BlockEnv(params=PARAMS, height=7, time_ms=1_700_000_007_000)
    hashes = [tx_hash(ED25519, b) for b in case.tx_bytes] if case.pass_hashes else None
    senders = case.senders if case.pass_senders else None
    try:
        state = (BatchDictState if case.batch_reads else DictState)(dict(case.state))
        out: BlockOutput = apply(state, case.txs, case.tx_bytes, env, hashes, senders)  # type: ignore[operator]
    except Exception as exc:
        return "error", (type(exc).__name__, getattr(exc, "code", None), str(exc))
    return "ok", (
        [encode(r) for r in out.receipts],
        list(out.writes.items()),  # values and their order
        out.tx_hashes,
        out.senders,
    )


@SETTINGS
@given(cases())
def test_block_level_transfers_give_what_the_per_transaction_handlers_give(case: Case) -> None:
    fast = _outcome(apply_block, case)
    assert fast == _outcome(apply_block_reference, case)
    kind, result = fast
    if kind == "error":
        event(f"error {result[0]} {result[1]}")  # type: ignore[index]
    else:
        for raw in result[0]:  # type: ignore[index]
            event(f"receipt code {decode(raw, Receipt).code}")


def test_a_fixed_mixed_block_gives_the_hand_computed_results_in_both_paths() -> None:
    """So that the two paths cannot agree on nonsense."""
    a, b = ADDRS[1], ADDRS[2]
    state = {
        account_key(a): encode(Account(balance=10, nonce=0)),
        account_key(b): encode(Account(balance=U64_MAX, nonce=0)),
    }
    payloads_: list[Payload] = [
        Transfer(to=b, amount=0),  # zero amount
        Transfer(to=b, amount=11),  # insufficient funds
        Transfer(to=b, amount=1),  # b would overflow
        Transfer(to=a, amount=4),  # to oneself
        KvPut(namespace="a", key=b"k0", value=b"x"),
        Transfer(to=FRESH[0], amount=3),  # a new account
    ]
    txs = [
        sign_tx(TxBody(chain_id=CHAIN_ID, sender=_PUBS[1], nonce=n, payload=p), lambda _: b"\x01" * 64)
        for n, p in enumerate(payloads_)
    ]
    env = BlockEnv(params=PARAMS, height=7, time_ms=1_700_000_007_000)
    for apply in (apply_block, apply_block_reference):
        out = apply(DictState(dict(state)), txs, [encode(t) for t in txs], env)
        assert [r.code for r in out.receipts] == [
            ResultCode.INVALID_AMOUNT,
            ResultCode.INSUFFICIENT_FUNDS,
            ResultCode.OVERFLOW,
            ResultCode.OK,
            ResultCode.OK,
            ResultCode.OK,
        ]
        assert out.receipts[1].message == "balance 10 is less than the amount 11"
        assert out.receipts[5].events == [transfer_event(a, FRESH[0], 3)]
        assert list(out.writes) == [account_key(a), kv_key("a", b"k0"), account_key(FRESH[0])]
        assert out.writes[account_key(a)] == encode(Account(balance=7, nonce=6))
        assert out.writes[account_key(FRESH[0])] == encode(Account(balance=3, nonce=0))


def _signed(sender: int, nonce: int, payload: Payload) -> SignedTx:
    return sign_tx(
        TxBody(chain_id=CHAIN_ID, sender=_PUBS[sender], nonce=nonce, payload=payload), lambda _: b"\x01" * 64
    )


def test_writes_keep_the_order_in_which_the_per_transaction_path_first_writes_each_key() -> None:
    a1, a2, a3 = ADDRS[1], ADDRS[2], ADDRS[3]
    state = {account_key(a): encode(Account(balance=100, nonce=0)) for a in (a1, a2, a3)}
    txs = [
        _signed(1, 0, Transfer(to=FRESH[0], amount=5)),  # a new recipient, then a new sender
        _signed(2, 0, Transfer(to=a1, amount=1)),
        _signed(2, 1, KvPut(namespace="a", key=b"k0", value=b"x")),
        _signed(3, 0, Transfer(to=FRESH[1], amount=1)),
    ]
    case = Case(state, txs, [encode(t) for t in txs], [a1, a2, a2, a3], True, True)
    assert _outcome(apply_block, case) == _outcome(apply_block_reference, case)
    env = BlockEnv(params=PARAMS, height=7, time_ms=1_700_000_007_000)
    out = apply_block(DictState(dict(state)), txs, case.tx_bytes, env)
    assert list(out.writes) == [
        account_key(a1),
        account_key(FRESH[0]),
        account_key(a2),
        kv_key("a", b"k0"),
        account_key(a3),
        account_key(FRESH[1]),
    ]


def test_an_undecodable_recipient_fails_the_transfer_as_the_transfer_handler_does() -> None:
    a1 = ADDRS[1]
    state = {account_key(a1): encode(Account(balance=100, nonce=0)), account_key(FRESH[0]): b"\xc1"}
    txs = [_signed(1, 0, Transfer(to=FRESH[0], amount=5)), _signed(1, 1, Transfer(to=FRESH[1], amount=5))]
    case = Case(state, txs, [encode(t) for t in txs], [a1, a1], True, True)
    assert _outcome(apply_block, case) == _outcome(apply_block_reference, case)
    env = BlockEnv(params=PARAMS, height=7, time_ms=1_700_000_007_000)
    out = apply_block(DictState(dict(state)), txs, case.tx_bytes, env)
    assert out.receipts[0].code == ResultCode.HANDLER_ERROR
    assert out.receipts[0].message == "the Transfer handler failed on this transaction (DecodeError)"
    assert out.writes[account_key(a1)] == encode(Account(balance=95, nonce=2))
