"""Hypothesis strategies for every core struct, registered so tests can write ``st.from_type(Header)``.

Values respect each type's bounds (sizes chosen to cross msgpack's length boundaries: fixstr/str8, bin8/bin16,
fixarray/array16) but stay small enough to keep the property tests fast.
"""

from __future__ import annotations

from hypothesis import strategies as st

from trellis.core.crypto.merkle import MerkleProof
from trellis.core.ledger.block import (
    Block,
    Commit,
    CommitSig,
    Event,
    Header,
    Receipt,
    Validator,
    ValidatorSet,
)
from trellis.core.ledger.state_tree import ProofLeaf, ProofStep, StateProof
from trellis.core.ledger.tx import SignedTx, TxBody
from trellis.core.ledger.votes import Vote
from trellis.core.modules.accounts.messages import Mint, Transfer
from trellis.core.modules.accounts.state import Account
from trellis.core.modules.kv.messages import KvDelete, KvPut
from trellis.core.modules.kv.state import KvRecord

U16 = st.integers(min_value=0, max_value=2**16 - 1)
U32 = st.integers(min_value=0, max_value=2**32 - 1)
# Bias towards the msgpack int-width boundaries (127/128, 255/256, 65535/65536, 2^32-1/2^32, 2^64-1).
U64 = st.one_of(
    st.integers(min_value=0, max_value=2**64 - 1),
    st.sampled_from([0, 1, 127, 128, 255, 256, 65535, 65536, 2**32 - 1, 2**32, 2**63, 2**64 - 1]),
)
HASH32 = st.binary(min_size=32, max_size=32)
ADDRESS = st.binary(min_size=20, max_size=20)
PUBLIC_KEY = st.one_of(st.binary(min_size=32, max_size=32), st.binary(min_size=33, max_size=65))
SIGNATURE = st.binary(min_size=64, max_size=64)
CHAIN_ID = st.from_regex(r"[a-z0-9][a-z0-9._-]{0,63}", fullmatch=True)
NAMESPACE = st.from_regex(r"[A-Za-z0-9._-]{1,64}", fullmatch=True)
SHORT = st.text(max_size=64)
TEXT = st.text(max_size=512)

TRANSFER = st.builds(Transfer, to=ADDRESS, amount=U64)
MINT = st.builds(Mint, to=ADDRESS, amount=U64)
KV_PUT = st.builds(KvPut, namespace=NAMESPACE, key=st.binary(min_size=1, max_size=300), value=st.binary(max_size=300))
KV_DELETE = st.builds(KvDelete, namespace=NAMESPACE, key=st.binary(min_size=1, max_size=256))
PAYLOAD = st.one_of(TRANSFER, MINT, KV_PUT, KV_DELETE)
TX_BODY = st.builds(
    TxBody, chain_id=CHAIN_ID, sender=PUBLIC_KEY, nonce=U64, payload=PAYLOAD, memo=st.text(max_size=256)
)
SIGNED_TX = st.builds(SignedTx, body=TX_BODY, signature=SIGNATURE)

HEADER = st.builds(
    Header,
    chain_id=CHAIN_ID,
    height=U64,
    time_ms=U64,
    parent_hash=HASH32,
    tx_root=HASH32,
    results_root=HASH32,
    state_root=HASH32,
    tx_count=U32,
    proposer=ADDRESS,
    validators_hash=HASH32,
    next_validators_hash=HASH32,
)
BLOCK = st.builds(Block, header=HEADER, txs=st.lists(SIGNED_TX, max_size=3))
EVENT = st.builds(Event, type=SHORT, attributes=st.lists(st.tuples(SHORT, st.binary(max_size=1024)), max_size=16))
RECEIPT = st.builds(Receipt, tx_hash=HASH32, code=U32, message=TEXT, events=st.lists(EVENT, max_size=3))
VALIDATOR = st.builds(Validator, public_key=PUBLIC_KEY, power=U64, name=SHORT)
VALIDATOR_SET = st.builds(ValidatorSet, validators=st.lists(VALIDATOR, min_size=1, max_size=17))
VOTE = st.builds(
    Vote, chain_id=CHAIN_ID, kind=st.integers(min_value=0, max_value=255), height=U64, round=U32, block_hash=HASH32
)
COMMIT_SIG = st.builds(CommitSig, validator=ADDRESS, signature=SIGNATURE)
COMMIT = st.builds(Commit, height=U64, round=U32, block_hash=HASH32, signatures=st.lists(COMMIT_SIG, max_size=17))
MERKLE_PROOF = st.builds(MerkleProof, index=U64, size=U64, siblings=st.lists(HASH32, max_size=64))
PROOF_STEP = st.builds(ProofStep, bitmap=U16, siblings=st.lists(HASH32, max_size=15))
PROOF_LEAF = st.builds(ProofLeaf, key_path=HASH32, value_hash=HASH32)
STATE_PROOF = st.builds(
    StateProof, height=U64, steps=st.lists(PROOF_STEP, max_size=20), leaf=st.one_of(st.none(), PROOF_LEAF)
)
ACCOUNT = st.builds(Account, balance=U64, nonce=U64)
KV_RECORD = st.builds(KvRecord, owner=ADDRESS, value=st.binary(max_size=300))

STRATEGIES = {
    Transfer: TRANSFER,
    Mint: MINT,
    KvPut: KV_PUT,
    KvDelete: KV_DELETE,
    TxBody: TX_BODY,
    SignedTx: SIGNED_TX,
    Header: HEADER,
    Block: BLOCK,
    Event: EVENT,
    Receipt: RECEIPT,
    Validator: VALIDATOR,
    ValidatorSet: VALIDATOR_SET,
    Vote: VOTE,
    CommitSig: COMMIT_SIG,
    Commit: COMMIT,
    MerkleProof: MERKLE_PROOF,
    ProofStep: PROOF_STEP,
    ProofLeaf: PROOF_LEAF,
    StateProof: STATE_PROOF,
    Account: ACCOUNT,
    KvRecord: KV_RECORD,
}

for _type, _strategy in STRATEGIES.items():
    st.register_type_strategy(_type, _strategy)
