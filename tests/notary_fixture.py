"""A committed notary batch on a four-validator in-memory chain, with real commit certificates (shared by the
receipt tests and the receipt test-vector generator)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from trellis.core.codec import encode
from trellis.core.crypto.suite import ED25519, address_of, ed25519_keypair_from_seed, ed25519_sign, suite_by_name
from trellis.core.execution.apply import genesis_writes
from trellis.core.execution.block import build_block, genesis_tip
from trellis.core.ledger.block import Block, Commit, CommitSig, Receipt, block_hash
from trellis.core.ledger.notary_tx import NotaryAnchor
from trellis.core.ledger.tx import SignedTx, TxBody, sign_tx
from trellis.core.ledger.votes import PRECOMMIT, Vote, vote_signing_bytes
from trellis.core.params import (
    ChainParams,
    Genesis,
    GenesisAccount,
    GenesisValidator,
    params_from_genesis,
)
from trellis.keys.signer import MemorySigner

GENESIS_TIME_MS = 1_700_000_000_000


def _key(name: str) -> tuple[bytes, bytes]:
    return ed25519_keypair_from_seed(hashlib.sha256(name.encode()).digest())


def _signer(name: str, suite: str) -> tuple[bytes, Callable[[bytes], bytes]]:
    """(public key, sign) of the named key in ``suite`` (ed25519: the keys above)."""
    if suite == "ed25519":
        sk, pk = _key(name)
        return pk, lambda m: ed25519_sign(sk, m)
    signer = MemorySigner(hashlib.sha256(name.encode()).digest(), suite_by_name(suite))
    return signer.public_key, signer.sign


FILES = [b"lab report 1\n", b"invoice 2026-11-26\n", b"", b"court filing\x00\x01\x02"]


def genesis(chain_id: str = "notary-vectors", suite: str = "ed25519") -> Genesis:
    """A genesis with the four validators and a funded sender."""
    s = suite_by_name(suite)
    sender = address_of(s, _signer("notary-sender", suite)[0]).hex()
    return Genesis(
        chain_id=chain_id,
        genesis_time_ms=GENESIS_TIME_MS,
        validators=[
            GenesisValidator(name=f"validator-{i}", public_key=_signer(f"validator-{i}", suite)[0].hex(), power=1)
            for i in range(4)
        ],
        mint_authority=sender,
        accounts=[GenesisAccount(address=sender, balance=1000)],
        **({} if suite == "ed25519" else {"suite": suite}),
    )


def sign_commit(params: ChainParams, block: Block) -> Commit:
    """A commit certificate signed by all four validators, in address order."""
    bid = block_hash(params.suite, block.header)
    msg = vote_signing_bytes(
        Vote(chain_id=params.chain_id, kind=PRECOMMIT, height=block.header.height, round=0, block_hash=bid)
    )
    keys = [_signer(f"validator-{i}", params.suite.name) for i in range(4)]
    sigs = sorted(
        (CommitSig(validator=address_of(params.suite, pk), signature=sign(msg)) for pk, sign in keys),
        key=lambda s: s.validator,
    )
    return Commit(height=block.header.height, round=0, block_hash=bid, signatures=sigs)


class _State:
    def __init__(self) -> None:
        self.state: dict[bytes, bytes] = {}
        self.nodes: dict[bytes, bytes] = {}

    def get(self, key: bytes) -> bytes | None:
        return self.state.get(key)

    def scan(self, start: bytes, end: bytes, limit: int) -> list[tuple[bytes, bytes]]:
        return sorted((k, v) for k, v in self.state.items() if start <= k < end)[:limit]

    def get_node(self, node_hash: bytes) -> bytes | None:
        return self.nodes.get(node_hash)


@dataclass
class AnchoredChain:
    """One block holding a filler transfer-less anchor and the anchor of ``FILES``; store-shaped for queries."""

    params: ChainParams
    blocks: dict[int, Block]
    results: dict[int, list[Receipt]]
    commits: dict[int, Commit]
    st: _State

    def get(self, key: bytes) -> bytes | None:
        return self.st.get(key)

    def scan(self, start: bytes, end: bytes, limit: int) -> list[tuple[bytes, bytes]]:
        return self.st.scan(start, end, limit)

    def block(self, height: int) -> Block | None:
        return self.blocks.get(height)

    def receipts(self, height: int) -> list[Receipt]:
        return self.results.get(height, [])

    def commit(self, height: int) -> Commit | None:
        return self.commits.get(height)


def _tx(params: ChainParams, nonce: int, payload: NotaryAnchor) -> SignedTx:
    pk, sign = _signer("notary-sender", params.suite.name)
    body = TxBody(chain_id=params.chain_id, sender=pk, nonce=nonce, payload=payload)
    return sign_tx(body, sign)


def anchored_chain(chain_id: str = "notary-vectors", suite: str = "ed25519") -> AnchoredChain:
    """Commit one block with two anchors (an unrelated batch, then ``FILES`` with metadata)."""
    params = params_from_genesis(genesis(chain_id, suite))
    h = params.suite.hash
    st = _State()
    tip, tree = genesis_tip(params, st)
    st.nodes.update(tree.nodes)
    for k, v in genesis_writes(params).items():
        assert v is not None
        st.state[k] = v
    other = NotaryAnchor(digests=[h(b"other %d" % i) for i in range(3)])
    files = NotaryAnchor(
        digests=[h(f) for f in FILES], record_type="document", owner="did:web:example.org", ref="case-42"
    )
    txs = [_tx(params, 0, other), _tx(params, 1, files)]
    proposer = address_of(params.suite, _signer("validator-0", params.suite.name)[0])
    executed = build_block(params, st, st, tip, txs, [encode(t) for t in txs], tip.time_ms + 1000, proposer)
    for k, v in executed.output.writes.items():
        if v is None:
            st.state.pop(k, None)
        else:
            st.state[k] = v
    st.nodes.update(executed.tree.nodes)
    block = executed.block
    height = block.header.height
    return AnchoredChain(
        params=params,
        blocks={height: block},
        results={height: list(executed.output.receipts)},
        commits={height: sign_commit(params, block)},
        st=st,
    )


VECTOR_DIR = Path(__file__).resolve().parent / "vectors" / "receipt"


def vector_files() -> dict[str, bytes]:
    """The receipt test vectors (docs/spec/receipt.md section 6): name -> bytes."""
    import msgspec

    from trellis.app.modules.notary import receipt_for
    from trellis.notary.receipt import receipt_to_binary, receipt_to_json

    c = anchored_chain()
    other = anchored_chain("notary-other-chain")
    out: dict[str, bytes] = {"genesis.json": msgspec.json.format(msgspec.json.encode(genesis()), indent=2) + b"\n"}
    for i, data in enumerate(FILES):
        r = receipt_for(c, c.params, ED25519.hash(data))
        assert r is not None
        out[f"file{i}.bin"] = data
        out[f"file{i}.receipt.json"] = receipt_to_json(r)
        out[f"file{i}.receipt.msgpack"] = receipt_to_binary(r)
    r = receipt_for(other, other.params, ED25519.hash(FILES[0]))
    assert r is not None
    out["other-chain.receipt.json"] = receipt_to_json(r)
    return out


if __name__ == "__main__":
    VECTOR_DIR.mkdir(parents=True, exist_ok=True)
    for name, data in vector_files().items():
        (VECTOR_DIR / name).write_bytes(data)
        print("wrote", VECTOR_DIR / name)
