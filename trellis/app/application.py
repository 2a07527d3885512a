"""``TrellisApp``: the ``Application`` implementation over a ``ChainStore``."""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Container, Sequence

import msgspec

from trellis.abci import (
    QUERY_OK,
    QUERY_UNKNOWN_PATH,
    CheckedTx,
    CommittedView,
    NotFound,
    Pruned,
    QueryRequest,
    QueryResponse,
    StageTimes,
    refusal,
)
from trellis.app.modules.accounts import involved_addresses, read_account
from trellis.app.modules.contracts.query import query_host, run_query
from trellis.app.modules.membership import CertView, PeerMembership, certs_of, membership_of, peer_membership
from trellis.app.modules.validators import entries, entry_at, set_changes
from trellis.core.codec import decode, encode
from trellis.core.crypto.batch import BatchVerifier, SuiteVerifier
from trellis.core.crypto.suite import Suite, address_of
from trellis.core.errors import InvalidBlock, InvalidTransaction, TrellisError
from trellis.core.execution.block import ChainTip, ExecutedBlock, build_block, check_block, genesis_tip
from trellis.core.execution.reference import genesis_writes
from trellis.core.execution.rules import Stage, TxRules
from trellis.core.ledger.block import Block, Commit, Header, ValidatorSet, block_hash
from trellis.core.ledger.state_tree import MissingNode, StateProof, find_leaf, key_path, prove
from trellis.core.ledger.tx import BAD_SIGNATURE, SignedTx, check_tx_stateless, decode_tx, signature_item, tx_hash
from trellis.core.lightclient import SetChange
from trellis.core.modules.accounts.state import Account, account_key
from trellis.core.modules.contracts.engine import CallOutcome, ContractEngine, declared_gas
from trellis.core.modules.contracts.state import ContractMeta, code_key, contract_key
from trellis.core.modules.membership.messages import RegisterCert
from trellis.core.modules.membership.state import MembershipConfig, MembershipProposal, RevokedCert
from trellis.core.modules.membership.view import CertificateRefused, check_registration
from trellis.core.modules.validators.state import ValidatorUpdate
from trellis.core.params import ChainParams
from trellis.storage.chain_store import ChainStore
from trellis.storage.kv import StorageError


def _committed_already(pos: tuple[int, int]) -> InvalidTransaction:
    return InvalidTransaction("duplicate", f"transaction already committed at height {pos[0]}")


def _admission_refusal(rules: TxRules, checked: CheckedTx) -> InvalidTransaction | None:
    """Admission's rules (``Stage.ADMISSION``: chain id, membership): the refusal as an ``InvalidTransaction``
    with the rule's code, or None."""
    refused = rules.check(Stage.ADMISSION, checked.tx.body, checked.sender, expected_nonce=None, block_gas=0)
    return None if refused is None else refused.invalid_transaction()


class _HeaderOfBlock(msgspec.Struct, frozen=True, array_like=True):
    """The first field of an encoded ``Block`` (the rest, its transactions, is skipped)."""

    header: Header


log = logging.getLogger(__name__)


_UNCHECKED = (b"", b"", b"")
"""What ``check_txs`` hands a verifier that checks no signature (bench only) instead of building each
transaction's signing bytes."""


class _AllVerified:
    """A ``verified`` set holding every hash: re-executing stored blocks checks no signature again."""

    def __contains__(self, item: object) -> bool:
        return True


def _tx_bytes_and_hashes(
    suite: Suite, txs: Sequence[SignedTx], known: Sequence[CheckedTx | None] | None
) -> tuple[list[bytes], list[bytes], list[int]]:
    """Raw bytes and hashes of a block's transactions, from ``known`` where it holds the very same transaction
    object, else encoded and hashed here; and the indexes of the latter (they still need every check)."""
    if known is None or len(known) != len(txs):
        tx_bytes = [encode(tx) for tx in txs]
        return tx_bytes, [tx_hash(suite, b) for b in tx_bytes], list(range(len(txs)))
    tx_bytes, hashes, unchecked = [], [], []
    for i, (tx, k) in enumerate(zip(txs, known, strict=True)):
        if k is not None and k.tx is tx:
            tx_bytes.append(k.raw)
            hashes.append(k.hash)
        else:
            raw = encode(tx)
            tx_bytes.append(raw)
            hashes.append(tx_hash(suite, raw))
            unchecked.append(i)
    return tx_bytes, hashes, unchecked


class GenesisMismatch(TrellisError):
    """The data directory belongs to a different chain than the genesis file."""

    code = "genesis_mismatch"


class ContractsDisabled(TrellisError):
    """A contract query on a node without a contract engine."""

    code = "contracts_disabled"


class TrellisApp:
    """The Trellis application: modules ``accounts`` and ``kv`` over an authenticated state.

    Args:
        params: chain parameters from genesis.
        store: where blocks and state live.
        index_accounts: keep each account's transaction history (traceability index).
        verifier: checks signatures in batches (default: in this process).
        contracts: runs contract code (default: none; contract transactions then fail with a receipt code).
        stages: where the time spent per pipeline stage is accounted (the node shares one with its driver and
            API; default: a new one).
    """

    def __init__(
        self,
        params: ChainParams,
        store: ChainStore,
        *,
        index_accounts: bool = True,
        verifier: BatchVerifier | None = None,
        contracts: ContractEngine | None = None,
        stages: StageTimes | None = None,
    ) -> None:
        self.params = params
        self.contracts = contracts
        self.verifier: BatchVerifier = verifier if verifier is not None else SuiteVerifier(params.suite)
        self.suite = params.suite
        self.store = store
        self.index_accounts = index_accounts
        self._admission_validators: tuple[int, frozenset[bytes]] | None = None
        """(tip height, addresses of set(tip + 1)): who may send ``evidence.submit`` without a certificate."""
        self._executed: OrderedDict[bytes, ExecutedBlock] = OrderedDict()
        self.stages = stages if stages is not None else StageTimes()
        """Time spent per pipeline stage (decode, verify, execute, state commitment, header, store)."""
        for existing in (store.chain_genesis_hash(), store.genesis_hash()):
            if existing is not None and existing != params.genesis_hash:
                raise GenesisMismatch(
                    "the data directory was initialised with a different genesis "
                    f"({existing.hex()[:16]}…, this genesis is {params.genesis_hash.hex()[:16]}…)"
                )
        if store.genesis_hash() is None:
            tip, tree = genesis_tip(params, store)
            store.init_genesis(params.genesis_hash, tip, tree, genesis_writes(params))
        stored = store.tip()
        assert stored is not None, "genesis initialisation writes the tip"
        self._tip: ChainTip = stored
        self.replayed = self._replay_stored_blocks()
        """Blocks re-executed on opening (stored but not yet reflected in the state: a crash between the two
        writes of a ``SplitStore``, or derived tables rebuilt after a power loss)."""

    def _replay_stored_blocks(self) -> int:
        """Re-execute the stored blocks above the state's tip (ADR 0011) and write what they produced; return
        how many. Their signatures are not checked again (each block was checked before it was stored, under
        its commit certificate); every other rule is, and each result must reproduce the stored header's state
        root, or the store is reported corrupt."""
        top = self.store.top()
        if top is None or top.height <= self._tip.height:
            return 0
        start = self._tip.height
        log.info("re-executing stored blocks %d..%d to bring the state up to the chain", start + 1, top.height)
        last_report = time.monotonic()
        for height in range(start + 1, top.height + 1):
            if time.monotonic() - last_report >= 10.0:
                last_report = time.monotonic()
                log.info("re-executing stored blocks: at %d of %d", height, top.height)
            block = self.store.require_block(height)
            certificate = self.store.commit(height)
            if certificate is None:
                raise StorageError(f"the commit certificate of stored block {height} is missing")
            everything = _AllVerified()
            try:
                executed = self.process_proposal(block, everything)
            except InvalidBlock as exc:
                raise StorageError(f"stored block {height} does not re-execute: {exc}") from exc
            self._tip = self.store.commit_block(executed, certificate, self._account_index(executed), replay=True)
            self._executed.clear()
        if self._tip.block_id != top.block_id:
            raise StorageError(f"re-executed chain ends at block {self._tip.block_id.hex()}, not {top.block_id.hex()}")
        return top.height - start

    # -- ABCI ---------------------------------------------------------------------------------------------
    def info(self) -> ChainTip:
        return self._tip

    def check_tx(self, raw: bytes) -> CheckedTx:
        checked = self.precheck_tx(raw)
        if not self.verifier.verify_batch([signature_item(checked.tx)])[0]:
            raise InvalidTransaction("bad_signature", BAD_SIGNATURE)
        return checked

    def precheck_tx(self, raw: bytes) -> CheckedTx:
        """Every admission check except the signature (size, encoding, chain id, not already committed, the
        rules of ``Stage.ADMISSION``, a certificate registration's certificate)."""
        checked = self._decode_checked(raw)
        pos = self.store.tx_position(checked.hash)
        if pos is not None:
            raise _committed_already(pos)
        refused = _admission_refusal(self._tx_rules(), checked)
        if refused is not None:
            raise refused
        self._check_registration(checked)
        return checked

    def _check_registration(self, checked: CheckedTx) -> None:
        """On a permissioned chain, a ``membership.register_cert`` whose certificate the chain would refuse now
        is refused at admission with the certificate's code (it would otherwise only fail in its block)."""
        payload = checked.tx.body.payload
        if not (self.params.genesis.membership.enforce and isinstance(payload, RegisterCert)):
            return
        tip = self._tip
        try:
            check_registration(self.store, self.suite, checked.sender, payload.cert, tip.time_ms, tip.height + 1)
        except CertificateRefused as exc:
            raise InvalidTransaction(exc.code, exc.reason) from exc

    def _tx_rules(self, time_ms: int | None = None) -> TxRules:
        """The rules transactions are judged by against the committed state at ``time_ms`` (default: the latest
        block's time), the validators of the next block being exempt for ``evidence.submit``."""
        t = self._tip.time_ms if time_ms is None else time_ms
        enforce = self.params.genesis.membership.enforce
        return TxRules(self.params, self.store, t, self._next_validator_addresses() if enforce else frozenset())

    def _next_validator_addresses(self) -> frozenset[bytes]:
        """The addresses of ``set(tip + 1)``, the set of the next block, read from state (cached per tip)."""
        tip = self._tip.height
        cached = self._admission_validators
        if cached is None or cached[0] != tip:
            vs = self.validator_set(tip + 1)
            cached = (tip, frozenset(address_of(self.suite, v.public_key) for v in vs.validators))
            self._admission_validators = cached
        return cached[1]

    def _decode_checked(self, raw: bytes, h: bytes | None = None) -> CheckedTx:
        """The admission checks that need no state (size, encoding, chain id), with the hash (``h`` if the
        caller already computed it) and sender."""
        tx = decode_tx(raw, self.params.limits.max_tx_bytes)
        check_tx_stateless(self.suite, tx, self.params.chain_id)
        return CheckedTx(
            tx=tx,
            raw=raw,
            hash=tx_hash(self.suite, raw) if h is None else h,
            sender=address_of(self.suite, tx.body.sender),
        )

    def check_txs(
        self, raws: Sequence[bytes], known: Container[bytes] = (), hashes: Sequence[bytes] | None = None
    ) -> list[CheckedTx | InvalidTransaction]:
        """Admission checks for a batch: prechecks one by one (the "already committed?" lookups of the whole
        batch in one storage read), then every signature in one batch through the application's verifier.
        Transactions whose hash is in ``known`` (already pending) are refused as ``duplicate`` before their
        signature is checked. ``hashes``: the transactions' hashes if this node already computed them (a batch
        it stored). One result per input, in order: the checked transaction or why it failed."""
        st = self.stages.stopwatch()
        decoded: list[CheckedTx | InvalidTransaction] = []
        for i, raw in enumerate(raws):
            try:
                decoded.append(self._decode_checked(raw, None if hashes is None else hashes[i]))
            except InvalidTransaction as exc:
                decoded.append(refusal(exc))  # not the caught exception: its traceback would keep the batch
        positions = iter(self.store.tx_positions([c.hash for c in decoded if isinstance(c, CheckedTx)]))
        out: list[CheckedTx | InvalidTransaction] = []
        pending: list[int] = []
        items: list[tuple[bytes, bytes, bytes]] = []
        rules = self._tx_rules()
        checks = self.verifier.checks_signatures
        for c in decoded:
            if isinstance(c, InvalidTransaction):
                out.append(c)
                continue
            pos = next(positions)
            if pos is not None:
                out.append(_committed_already(pos))
                continue
            if c.hash in known:
                out.append(InvalidTransaction("duplicate", "transaction is already in the mempool"))
                continue
            refused = _admission_refusal(rules, c)
            if refused is None:
                try:
                    self._check_registration(c)
                except InvalidTransaction as exc:
                    refused = refusal(exc)
            if refused is not None:
                out.append(refused)
                continue
            out.append(c)
            pending.append(len(out) - 1)
            items.append(signature_item(c.tx) if checks else _UNCHECKED)
        st.mark("decode", len(raws))
        verdicts = self.verifier.verify_batch(items)
        st.mark("verify", len(items))
        for i, ok in zip(pending, verdicts, strict=True):
            if not ok:
                out[i] = InvalidTransaction("bad_signature", BAD_SIGNATURE)
        return out

    def account_nonce(self, address: bytes) -> int:
        return read_account(self.store, address).nonce

    def account_nonces(self, addresses: Sequence[bytes]) -> list[int]:
        """``account_nonce`` of each address, in order, read in one storage read."""
        raws = self.store.get_many([account_key(a) for a in addresses])
        return [0 if raw is None else decode(raw, Account).nonce for raw in raws]

    def prepare_proposal(self, candidates: Sequence[CheckedTx], time_ms: int, proposer: bytes) -> ExecutedBlock:
        limits = self.params.limits
        chosen: list[CheckedTx] = []
        next_nonce: dict[bytes, int] = {}
        size = 0
        gas = 0
        senders = list(dict.fromkeys(c.sender for c in candidates))
        committed = dict(zip(senders, self.account_nonces(senders), strict=True))  # one storage read
        rules = self._tx_rules(time_ms)
        for c in candidates:
            if len(chosen) >= limits.max_block_txs or size + len(c.raw) > limits.max_block_bytes:
                break
            expected = next_nonce.get(c.sender)
            if expected is None:
                expected = committed[c.sender]
            body = c.tx.body
            if rules.check(Stage.PROPOSAL, body, c.sender, expected_nonce=expected, block_gas=gas) is not None:
                # The block would be invalid with it: skipped, its sender's nonce not advanced (so the sender's
                # later transactions fail the nonce rule and wait too).
                continue
            gas += declared_gas(body.payload)
            next_nonce[c.sender] = expected + 1
            chosen.append(c)
            size += len(c.raw)
        st = self.stages.stopwatch()
        n = len(chosen)
        executed = build_block(
            self.params,
            self.store,
            self.store,
            self._tip,
            [c.tx for c in chosen],
            [c.raw for c in chosen],
            time_ms,
            proposer,
            mark=lambda stage: st.mark(stage, n),
            tx_hashes=[c.hash for c in chosen],
            senders=[c.sender for c in chosen],
            contracts=self.contracts,
        )
        self._remember(executed)
        return executed

    def process_proposal(
        self,
        block: Block,
        verified: Container[bytes] = (),
        known: Sequence[CheckedTx | None] | None = None,
        *,
        tx_root_checked: bool = False,
    ) -> ExecutedBlock:
        """Check a proposed block by re-executing it. Signatures of transactions whose hash is in ``verified``
        (this node's mempool: checked at admission) are not checked again; the rest in one batch.

        ``known``, if given, has one entry per transaction: the admitted ``CheckedTx`` whose ``tx`` *is*
        ``block.txs[i]`` (the same object), or None. For those, the raw bytes and hash are taken from it and the
        stateless and signature checks admission did are not repeated; every other transaction is checked in
        full. Execution and every header check are the same, but for ``tx_root`` when ``tx_root_checked`` (the
        caller checked it against the very bytes the block was rebuilt from)."""
        suite = self.suite
        cached = self._cached(block)
        if cached is not None:
            return cached
        tx_bytes, hashes, unchecked = _tx_bytes_and_hashes(suite, block.txs, known)
        to_verify: list[int] = []
        for i in unchecked:
            tx = block.txs[i]
            if len(tx_bytes[i]) > self.params.limits.max_tx_bytes:
                raise InvalidBlock("tx_too_large", f"transaction {i} exceeds max_tx_bytes")
            try:
                check_tx_stateless(suite, tx, self.params.chain_id)
            except InvalidTransaction as exc:
                raise InvalidBlock(exc.code, f"transaction {i}: {exc.reason}") from exc
            if hashes[i] not in verified:
                to_verify.append(i)
        items = [signature_item(block.txs[i]) for i in to_verify]
        for i, ok in zip(to_verify, self.verifier.verify_batch(items), strict=True):
            if not ok:
                raise InvalidBlock("bad_signature", f"transaction {i}: {BAD_SIGNATURE}")
        executed = check_block(
            self.params,
            self.store,
            self.store,
            self._tip,
            block,
            tx_bytes,
            hashes,
            self.contracts,
            tx_root_checked=tx_root_checked,
        )
        self._remember(executed)
        return executed

    def finalize_block(self, block: Block) -> ExecutedBlock:
        cached = self._cached(block)
        return cached if cached is not None else self.process_proposal(block)

    def _account_index(self, executed: ExecutedBlock) -> list[list[bytes]] | None:
        if not self.index_accounts:
            return None
        out = executed.output
        return [
            involved_addresses(tx, sender, receipt)
            for tx, sender, receipt in zip(executed.block.txs, out.senders, out.receipts, strict=True)
        ]

    def commit(self, executed: ExecutedBlock, certificate: Commit) -> ChainTip:
        index = self._account_index(executed)
        st = self.stages.stopwatch()
        self._tip = self.store.commit_block(executed, certificate, index)
        st.mark("store", executed.block.header.tx_count)
        self._executed.clear()
        return self._tip

    def _remember(self, executed: ExecutedBlock) -> None:
        self._executed[executed.block_id] = executed
        while len(self._executed) > 8:
            self._executed.popitem(last=False)

    def _cached(self, block: Block) -> ExecutedBlock | None:
        ex = self._executed.get(block_hash(self.suite, block.header))
        return ex if ex is not None and ex.block == block else None

    # -- queries ------------------------------------------------------------------------------------------
    def account(self, address: bytes) -> Account:
        """Return the committed account record of ``address``."""
        return read_account(self.store, address)

    def header(self, height: int) -> Header:
        """Return the header at ``height`` (1 or more)."""
        raw = self.store.block_bytes(height)
        if raw is None:
            earliest = self.store.earliest_block_height()
            if 1 <= height < earliest:
                raise Pruned(
                    f"block {height} is pruned (this node keeps blocks from height {earliest} on, and the "
                    "blocks of validator-set changes)"
                )
            raise NotFound(f"no block at height {height}; the chain is at height {self._tip.height}")
        # Only the header is decoded: a proof of one key must not cost decoding a block of 10,000 transactions.
        return msgspec.msgpack.decode(raw, type=_HeaderOfBlock).header

    def _state_value(self, key: bytes, height: int | None = None) -> bytes | None:
        """The value of ``key`` after block ``height`` (default: the latest): ``query`` without ``prove``."""
        if height is None or height == self._tip.height:
            return self.store.get(key)
        return self._value_under(self._root_at(height), key, height)

    def _value_under(self, root: bytes, key: bytes, height: int) -> bytes | None:
        """The value of ``key`` in the state tree under ``root`` (the state after block ``height``).

        Raises:
            Pruned: the state of ``height`` was pruned while it was read.
        """
        try:
            leaf = find_leaf(self.suite, self.store, root, key)
        except MissingNode:
            self._raise_if_pruned(height)
            raise
        if leaf is None:
            return None
        value = self.store.leaf_value(self.suite, key, leaf)
        if value is None:
            self._raise_if_pruned(height)
            raise MissingNode(f"the value of leaf {leaf.value_hash.hex()} at height {height} is not in the store")
        return value

    def _prove(self, key: bytes, height: int | None = None) -> tuple[bytes | None, StateProof, Header]:
        """(value, proof, header) for ``key`` at ``height`` (default: latest; at least 1): ``query`` with
        ``prove``."""
        h = self._tip.height if height is None else height
        if h < 1:
            raise NotFound("no block has been committed yet: proofs are against a block header")
        if h < self._tip.height:
            self._root_at(h)  # Pruned, with the retained range, for a height whose state is no longer kept
        header = self.header(h)
        try:
            proof = prove(self.suite, self.store, header.state_root, key, h)
        except MissingNode:
            self._raise_if_pruned(h)
            raise
        value = None
        if proof.leaf is not None and proof.leaf.key_path == key_path(self.suite, key):
            value = self.store.leaf_value(self.suite, key, proof.leaf)
            if value is None:
                self._raise_if_pruned(h)
                raise MissingNode(f"the value of key {key.hex()} at height {h} is not in the store")
        return value, proof, header

    def _raise_if_pruned(self, height: int) -> None:
        """Raise ``Pruned`` if the state of ``height`` is (now) not retained: a read that raced the pruner."""
        if height < self.store.earliest_state_height() and self.store.state_root_at(height) is None:
            raise Pruned(self._pruned_reason(height))

    def _pruned_reason(self, height: int) -> str:
        return (
            f"state at height {height} is pruned (this node keeps heights >= {self.store.earliest_state_height()} "
            "and the heights its retention policy names: [storage] keep_every, snapshots)"
        )

    def query(self, req: QueryRequest) -> QueryResponse:
        """Answer a query of committed state: path ``"state"`` is ``_state_value`` or, with ``req.prove``,
        ``_prove`` (``NotFound`` as they raise it); any other path is answered ``QUERY_UNKNOWN_PATH``."""
        if req.path != "state":
            return QueryResponse(code=QUERY_UNKNOWN_PATH, value=None, height=self._tip.height)
        if req.prove:
            value, proof, header = self._prove(req.key, req.height)
            return QueryResponse(code=QUERY_OK, value=value, height=header.height, proof=proof, header=header)
        height = self._tip.height if req.height is None else req.height
        return QueryResponse(code=QUERY_OK, value=self._state_value(req.key, req.height), height=height)

    def reader(self, height: int | None = None) -> CommittedView:
        """Committed state after block ``height`` (default: the latest) with that block's height and time.

        The latest state is read from its table (every read and range scan); an earlier height's state through
        the state tree under that block's root, which answers point reads only (``scan`` raises ``NotFound``).

        Raises:
            NotFound: ``height`` is not committed, or its state is not retained.
        """
        tip = self._tip
        if height is None or height == tip.height:
            return CommittedView(self.store, tip.height, tip.time_ms)
        root = self._root_at(height)
        time_ms = self.params.genesis.genesis_time_ms if height == 0 else self.header(height).time_ms
        return CommittedView(_StateAt(self, root, height), height, time_ms)

    def close(self) -> None:
        """Stop the signature verifier's worker processes, if it has any (the store is the node's to close)."""
        close = getattr(self.verifier, "close", None)
        if close is not None:
            close()

    def certificates(self, address: bytes) -> list[CertView]:
        """The identity certificates registered for ``address``, judged at the latest block's time."""
        return certs_of(self.store, address, self._tip.time_ms)

    def membership(self) -> tuple[MembershipConfig | None, list[RevokedCert], list[MembershipProposal]]:
        """The committed membership: the record (None without member orgs), revocations, proposals."""
        return membership_of(self.store)

    def peer_membership(self) -> PeerMembership | None:
        """The committed membership as the p2p transport applies it (member CAs, revoked serials), or None on a
        chain without member organisations. The node passes it to ``TlsTransport.update_membership`` when it
        changes, so peer connections follow governance (CA rollover) and revocations."""
        return peer_membership(self.store)

    def contract(self, address: bytes) -> ContractMeta:
        """Return the committed record of the contract at ``address``.

        Raises:
            NotFound: no contract is deployed there.
        """
        raw = self.store.get(contract_key(address))
        if raw is None:
            raise NotFound(f"no contract at {address.hex()}")
        return decode(raw, ContractMeta)

    def contract_code(self, address: bytes) -> bytes:
        """Return the code the contract at ``address`` runs (``NotFound`` if there is none)."""
        code = self.store.get(code_key(self.contract(address).code_hash))
        if code is None:  # the record and its code are written in the same block
            raise NotFound(f"the code of contract {address.hex()} is missing from the store")
        return code

    def query_contract(self, address: bytes, method: str, args: bytes, gas_limit: int) -> CallOutcome:
        """Run ``method`` of a contract read-only against the latest committed state (no transaction).

        Writes and events trap; the result is the call's outcome (return data, or why it failed).

        Raises:
            NotFound: no contract at ``address``.
            ContractsDisabled: this node runs without a contract engine.
        """
        self.contract(address)
        if self.contracts is None:
            raise ContractsDisabled("this node was started without a contract engine")
        tip = self._tip
        host = query_host(self.store, self.params, tip.height, tip.time_ms)
        return run_query(self.contracts, host, address, method, args, gas_limit)

    def validator_set(self, height: int) -> ValidatorSet:
        """Return ``set(height)`` for ``1 <= height <= tip + 2`` (``UnknownHeight`` otherwise)."""
        return entry_at(self.store, self._tip.height, height).validators

    def validator_entry(self, height: int) -> tuple[int, ValidatorSet, list[str]]:
        """Return ``(effective_height, set(height), orgs)`` for ``1 <= height <= tip + 2`` (``UnknownHeight``
        otherwise); ``orgs[i]`` owns the i-th validator (``""`` for a genesis validator without an org)."""
        entry = entry_at(self.store, self._tip.height, height)
        return entry.effective_height, entry.validators, list(entry.orgs)

    def validator_entries(self) -> list[ValidatorUpdate]:
        """Return every validator-set entry of committed state, genesis first, ascending."""
        return [
            ValidatorUpdate(effective_height=e.effective_height, validators=e.validators) for e in entries(self.store)
        ]

    def validator_changes(self, to_height: int) -> list[SetChange]:
        """Return the proven set changes for a header of ``to_height`` (``1 .. tip + 1``; ``UnknownHeight``
        otherwise): one ``SetChange`` per entry effective at ``3 <= e <= to_height``, ascending."""
        return set_changes(self.store, self._tip.height, to_height, self.header, self.store.commit)

    def _root_at(self, height: int) -> bytes:
        if height < 0 or height > self._tip.height:
            raise NotFound(f"no state at height {height}; the chain is at height {self._tip.height}")
        root = self.store.state_root_at(height)
        if root is None:
            if height < self.store.earliest_state_height():
                raise Pruned(self._pruned_reason(height))
            raise NotFound(f"state at height {height} is not retained")
        return root


class _StateAt:
    """State after an earlier block, read through the state tree under its root: a ``StateReader`` for point
    reads (the tree is keyed by key hashes, so it has no key order to scan in)."""

    __slots__ = ("_app", "_height", "_root")

    def __init__(self, app: TrellisApp, root: bytes, height: int) -> None:
        self._app = app
        self._root = root
        self._height = height

    def get(self, key: bytes) -> bytes | None:
        return self._app._value_under(self._root, key, self._height)

    def scan(self, start: bytes, end: bytes, limit: int) -> list[tuple[bytes, bytes]]:
        raise NotFound(f"state at height {self._height} answers point reads only; range reads are of the latest state")
