"""A committed notary batch on a four-validator in-memory chain, with real commit certificates (shared by the
receipt tests and the receipt test-vector generator).

``anchored_chain(set_change=True)`` first changes the validator set by governance (ADR 0014): org1's admin
registers its certificate in block 1 and proposes ``validators.add validator-4`` in block 2 (threshold 1, so it
applies there, effective at 4); block 3 announces the new set and the anchoring block 4 is signed by it. Its
receipts carry that one set change.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tests.memory_state import MemoryState
from trellis.core.codec import encode
from trellis.core.crypto.suite import ED25519, address_of, ed25519_keypair_from_seed, ed25519_sign, suite_by_name
from trellis.core.execution.block import ChainTip, build_block, genesis_tip
from trellis.core.execution.reference import genesis_writes
from trellis.core.ledger.block import Block, Commit, CommitSig, Receipt, ValidatorSet, block_hash
from trellis.core.ledger.tx import SignedTx, TxBody, sign_tx
from trellis.core.ledger.votes import PRECOMMIT, Vote, vote_signing_bytes
from trellis.core.modules.membership.messages import ProposeMembership, RegisterCert
from trellis.core.modules.notary.messages import NotaryAnchor
from trellis.core.modules.payload import Payload
from trellis.core.modules.validators.messages import AddValidator
from trellis.core.params import (
    ChainParams,
    Genesis,
    GenesisAccount,
    GenesisMembership,
    GenesisOrg,
    GenesisValidator,
    params_from_genesis,
)
from trellis.keys.signer import MemorySigner
from trellis.notary.receipt import ReceiptV2, build_receipt, set_changes_from_store

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


def genesis(chain_id: str = "notary-vectors", suite: str = "ed25519", governed: bool = False) -> Genesis:
    """A genesis with the four validators and a funded sender; ``governed``: also org1 (a fixed Ed25519 CA)
    owning the validators, admin threshold 1."""
    s = suite_by_name(suite)
    sender = address_of(s, _signer("notary-sender", suite)[0]).hex()
    gov: dict[str, object] = {}
    if governed:
        from tests.fixtures.governance import fixed_ca

        gov = {
            "orgs": [GenesisOrg(name="org1", ca_cert=fixed_ca("org1").pem)],
            "membership": GenesisMembership(admin_threshold=1),
        }
    return Genesis(
        chain_id=chain_id,
        genesis_time_ms=GENESIS_TIME_MS,
        validators=[
            GenesisValidator(
                name=f"validator-{i}",
                public_key=_signer(f"validator-{i}", suite)[0].hex(),
                power=1,
                **({"org": "org1"} if governed else {}),
            )
            for i in range(4)
        ],
        mint_authority=sender,
        accounts=[GenesisAccount(address=sender, balance=1000)],
        **({} if suite == "ed25519" else {"suite": suite}),
        **gov,  # type: ignore[arg-type]
    )


def sign_commit(params: ChainParams, block: Block, validators: int = 4) -> Commit:
    """A commit certificate signed by ``validator-0 .. validator-(validators-1)``, in address order."""
    bid = block_hash(params.suite, block.header)
    msg = vote_signing_bytes(
        Vote(chain_id=params.chain_id, kind=PRECOMMIT, height=block.header.height, round=0, block_hash=bid)
    )
    keys = [_signer(f"validator-{i}", params.suite.name) for i in range(validators)]
    sigs = sorted(
        (CommitSig(validator=address_of(params.suite, pk), signature=sign(msg)) for pk, sign in keys),
        key=lambda s: s.validator,
    )
    return Commit(height=block.header.height, round=0, block_hash=bid, signatures=sigs)


@dataclass
class AnchoredChain:
    """One block holding a filler transfer-less anchor and the anchor of ``FILES``; store-shaped for queries."""

    params: ChainParams
    blocks: dict[int, Block]
    results: dict[int, list[Receipt]]
    commits: dict[int, Commit]
    st: MemoryState

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

    def sets_at(self, height: int) -> ValidatorSet:
        """``set(height)`` read from the latest state."""
        from trellis.core.modules.validators.state import entry_in_force

        return entry_in_force(self.st, height).validators


def _tx(params: ChainParams, nonce: int, payload: Payload, key: str = "notary-sender") -> SignedTx:
    pk, sign = _signer(key, params.suite.name)
    body = TxBody(chain_id=params.chain_id, sender=pk, nonce=nonce, payload=payload)
    return sign_tx(body, sign)


def _governance_txs(params: ChainParams) -> list[list[SignedTx]]:
    """Block 1: org1's admin registers its certificate; block 2: it adds validator-4 (power 1)."""
    from tests.fixtures.governance import fixed_ca

    admin_pk = _signer("org1-admin", params.suite.name)[0]
    cert = fixed_ca("org1").issue(admin_pk, "admin", "org1-admin")
    add = AddValidator(public_key=_signer("validator-4", params.suite.name)[0], power=1, name="validator-4", org="org1")
    return [
        [_tx(params, 0, RegisterCert(cert=cert), "org1-admin")],
        [_tx(params, 1, ProposeMembership(change=add), "org1-admin")],
    ]


def anchored_chain(chain_id: str = "notary-vectors", suite: str = "ed25519", set_change: bool = False) -> AnchoredChain:
    """Commit one block with two anchors (an unrelated batch, then ``FILES`` with metadata); with
    ``set_change``, after three blocks that add validator-4 to the set (module docstring)."""
    params = params_from_genesis(genesis(chain_id, suite, governed=set_change))
    h = params.suite.hash
    st = MemoryState()
    tip, tree = genesis_tip(params, st)
    st.nodes.update(tree.nodes)
    for k, v in genesis_writes(params).items():
        assert v is not None
        st.state[k] = v
    other = NotaryAnchor(digests=[h(b"other %d" % i) for i in range(3)])
    files = NotaryAnchor(
        digests=[h(f) for f in FILES], record_type="document", owner="did:web:example.org", ref="case-42"
    )
    blocks_txs = [*(_governance_txs(params) if set_change else []), *([[]] if set_change else [])]
    blocks_txs.append([_tx(params, 0, other), _tx(params, 1, files)])
    chain = AnchoredChain(params=params, blocks={}, results={}, commits={}, st=st)
    proposer = address_of(params.suite, _signer("validator-0", params.suite.name)[0])
    for txs in blocks_txs:
        executed = build_block(params, st, st, tip, txs, [encode(t) for t in txs], tip.time_ms + 1000, proposer)
        assert all(r.code == 0 for r in executed.output.receipts), executed.output.receipts
        for k, v in executed.output.writes.items():
            if v is None:
                st.state.pop(k, None)
            else:
                st.state[k] = v
        st.nodes.update(executed.tree.nodes)
        block = executed.block
        height = block.header.height
        chain.blocks[height] = block
        chain.results[height] = list(executed.output.receipts)
        # The set grows to five validators from height 4 (the change applied in block 2).
        chain.commits[height] = sign_commit(params, block, 5 if set_change and height >= 4 else 4)
        tip = ChainTip(
            height=height, time_ms=block.header.time_ms, block_id=executed.block_id, state_root=block.header.state_root
        )
    return chain


VECTOR_DIR = Path(__file__).resolve().parent / "vectors" / "receipt"


def receipt_with_changes(chain: AnchoredChain, digest: bytes) -> ReceiptV2:
    """The receipt of ``digest`` with the set changes up to its block (what ``receipt_for`` builds once it
    passes ``set_changes_from_store``)."""
    from trellis.app.modules.notary import record_of

    view = record_of(chain, digest)
    assert view is not None
    h = view.record.height
    block = chain.blocks[h]
    index = next(i for i, t in enumerate(block.txs) if t.body.nonce == view.record.nonce)
    changes = set_changes_from_store(chain, h)
    assert changes is not None
    return build_receipt(chain.params, digest, block, index, chain.results[h], chain.commits[h], changes)


def vector_files() -> dict[str, bytes]:
    """The receipt test vectors (docs/spec/receipt.md section 6): name -> bytes."""
    import msgspec

    from trellis.notary.receipt import receipt_to_binary, receipt_to_json

    c = anchored_chain()
    other = anchored_chain("notary-other-chain")
    changed = anchored_chain(set_change=True)
    out: dict[str, bytes] = {"genesis.json": msgspec.json.format(msgspec.json.encode(genesis()), indent=2) + b"\n"}
    for i, data in enumerate(FILES):
        r = receipt_with_changes(c, ED25519.hash(data))
        out[f"file{i}.bin"] = data
        out[f"file{i}.receipt.json"] = receipt_to_json(r)
        out[f"file{i}.receipt.msgpack"] = receipt_to_binary(r)
    r = receipt_with_changes(other, ED25519.hash(FILES[0]))
    out["other-chain.receipt.json"] = receipt_to_json(r)
    out["set-change.genesis.json"] = msgspec.json.format(msgspec.json.encode(genesis(governed=True)), indent=2) + b"\n"
    r = receipt_with_changes(changed, ED25519.hash(FILES[1]))
    out["set-change.receipt.json"] = receipt_to_json(r)
    out["set-change.receipt.msgpack"] = receipt_to_binary(r)
    return out


if __name__ == "__main__":
    VECTOR_DIR.mkdir(parents=True, exist_ok=True)
    for name, data in vector_files().items():
        (VECTOR_DIR / name).write_bytes(data)
        print("wrote", VECTOR_DIR / name)
