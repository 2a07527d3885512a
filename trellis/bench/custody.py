"""Proofs of retrievability at scale: ``trellis bench --workload custody`` or ``python -m trellis.bench.custody``
(ADR 0018 section 7; docs/spec/custody.md).

Runs the ``custody`` module through the real execution path (``build_block``: the ``begin_block`` hook, the
handlers, the state tree) on an in-memory one-validator chain with one member organisation:

1. registers ``files`` files (real ``custody.register`` transactions, ``register_batch`` per block): bytes on chain
   and in state per registered file;
2. times challenge rounds (a block at a multiple of ``challenge_interval`` against an empty block beside it) with all
   those files registered, counting the state reads and writes of a round;
3. answers a round's challenges (real ``custody.respond`` transactions: segment, path) and times one response check,
   end to end in a block and the on-chain check alone (``check_segment``);
4. a cost model for 1 PB of registered data at ``model_file_sizes``: files, one-off chain bytes and state, challenges
   per day at ``block_time_s``, chain bytes per day, days until every file has been challenged once on average.

The bench chain has one member organisation, so a round's draws pick among all the files (a draw picks an
organisation first, uniformly among those with registrations, then one of its files: spec 4.2). The model's "days
to challenge every file once" holds for 1 PB split evenly among any number of organisations; an organisation that
holds a share ``p`` of the files of ``O`` organisations sees each of its files drawn ``1 / (O p)`` times as often.

Every registered file has the same content (``sample_bytes``, so that every challenge can be answered) under its own
file id; the Merkle path of a larger file is longer by one 32-byte hash per doubling, which the model adds.
Transactions carry real signatures but are not verified (admission's job, measured by ``trellis bench``).
Custody messages burn no gas (only contract calls are metered): a round and a check are reported in time and
state operations.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import time
from bisect import bisect_left, insort
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from trellis.core.codec import encode
from trellis.core.crypto.suite import ED25519, address_of
from trellis.core.execution.block import ChainTip, ExecutedBlock, build_block, genesis_tip
from trellis.core.ledger.tx import SignedTx, TxBody, sign_tx
from trellis.core.modules.custody.messages import SEGMENT_BYTES, CustodyRegister, CustodyRespond
from trellis.core.modules.custody.state import (
    FILE_PREFIX,
    IX_PREFIX,
    PREFIX,
    Challenge,
    FileRecord,
    check_segment,
    read_challenge,
    read_file,
    segment_count,
    segment_hashes,
    segment_path,
    segment_root,
)
from trellis.core.modules.membership.messages import RegisterCert
from trellis.core.params import (
    ChainParams,
    Genesis,
    GenesisCustody,
    GenesisLimits,
    GenesisOrg,
    GenesisValidator,
    params_from_genesis,
)
from trellis.keys.certs import create_org_ca, issue_identity_cert
from trellis.keys.signer import MemorySigner

CHAIN_ID = "custody-bench"
ORG = "bench-org"
PB = 10**15
"""A petabyte (decimal)."""
DAY_S = 86_400


@dataclass(frozen=True)
class CustodyBenchConfig:
    """What ``run_custody_bench`` runs."""

    files: int = 10_000
    """Files registered before the rounds are timed."""
    register_batch: int = 2_000
    """``custody.register`` transactions per block."""
    sample_bytes: int = 4 * 1024 * 1024
    """Size of the content every registered file has (4 MiB: 1,024 segments, a 10-hash path)."""
    challenge_interval: int = 10
    """Genesis ``custody.challenge_interval`` of the bench chain (and of the model)."""
    challenges_per_round: int = 16
    """Genesis ``custody.challenges_per_round``."""
    response_window_blocks: int = 100
    """Genesis ``custody.response_window_blocks``."""
    rounds: int = 20
    """Rounds timed (each against an empty block)."""
    block_time_s: float = 1.0
    """Block interval the model assumes."""
    model_file_sizes: tuple[int, ...] = field(default=(64 * 2**20, 2**30, 16 * 2**30))
    """File sizes of the 1 PB model (64 MiB, 1 GiB, 16 GiB)."""


class _Chain:
    """An in-memory one-validator chain: state and tree nodes in dicts, blocks through ``build_block``."""

    def __init__(self, params: ChainParams, proposer: bytes) -> None:
        self.params = params
        self.proposer = proposer
        self.state: dict[bytes, bytes] = {}
        self.keys: list[bytes] = []
        """The state's keys, sorted (scans bisect it)."""
        self.nodes: dict[bytes, bytes] = {}
        self.reads = 0
        self.scans = 0
        tip, tree = genesis_tip(params, self)
        self.nodes.update(tree.nodes)
        from trellis.core.execution.reference import genesis_writes

        for k, v in genesis_writes(params).items():
            assert v is not None
            self.state[k] = v
        self.keys = sorted(self.state)
        self.tip = tip

    def get(self, key: bytes) -> bytes | None:
        self.reads += 1
        return self.state.get(key)

    def scan(self, start: bytes, end: bytes, limit: int) -> list[tuple[bytes, bytes]]:
        self.scans += 1
        i = bisect_left(self.keys, start)
        out: list[tuple[bytes, bytes]] = []
        while i < len(self.keys) and self.keys[i] < end and len(out) < limit:
            out.append((self.keys[i], self.state[self.keys[i]]))
            i += 1
        return out

    def get_node(self, node_hash: bytes) -> bytes | None:
        return self.nodes.get(node_hash)

    def build(self, txs: list[SignedTx]) -> ExecutedBlock:
        return build_block(
            self.params,
            self,
            self,
            self.tip,
            txs,
            [encode(t) for t in txs],
            self.tip.time_ms + 1000,
            self.proposer,
        )

    def commit(self, executed: ExecutedBlock) -> None:
        for k, v in executed.output.writes.items():
            if v is None:
                if self.state.pop(k, None) is not None:
                    del self.keys[bisect_left(self.keys, k)]
            else:
                if k not in self.state:
                    insort(self.keys, k)
                self.state[k] = v
        self.nodes.update(executed.tree.nodes)
        h = executed.block.header
        self.tip = ChainTip(height=h.height, time_ms=h.time_ms, block_id=executed.block_id, state_root=h.state_root)


def _signer(label: str) -> MemorySigner:
    import hashlib

    return MemorySigner(hashlib.sha256(label.encode()).digest(), ED25519)


def _setup(cfg: CustodyBenchConfig) -> tuple[_Chain, MemorySigner, int]:
    ca_key, ca_cert = create_org_ca(ORG)
    validator = _signer("custody-bench/validator")
    keeper = _signer("custody-bench/keeper")
    genesis = Genesis(
        chain_id=CHAIN_ID,
        genesis_time_ms=1_700_000_000_000,
        validators=[GenesisValidator(name="v0", public_key=validator.public_key.hex())],
        mint_authority=address_of(ED25519, validator.public_key).hex(),
        orgs=[GenesisOrg(name=ORG, ca_cert=ca_cert.decode())],
        limits=GenesisLimits(max_block_txs=max(cfg.register_batch, 1000)),
        custody=GenesisCustody(
            challenge_interval=cfg.challenge_interval,
            challenges_per_round=cfg.challenges_per_round,
            response_window_blocks=cfg.response_window_blocks,
        ),
    )
    params = params_from_genesis(genesis)
    chain = _Chain(params, address_of(ED25519, validator.public_key))
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    pem = issue_identity_cert(
        ca_key,
        ca_cert,
        org=ORG,
        role="client",
        public_key=keeper.public_key,
        name="keeper",
        not_before=datetime.fromtimestamp(1_600_000_000, UTC),
        valid_days=3650,
    )
    der = x509.load_pem_x509_certificate(pem).public_bytes(serialization.Encoding.DER)
    tx = _tx(keeper, 0, RegisterCert(cert=der))
    executed = chain.build([tx])
    assert executed.output.receipts[0].code == 0, executed.output.receipts[0]
    chain.commit(executed)
    return chain, keeper, 1


def _tx(signer: MemorySigner, nonce: int, payload: Any) -> SignedTx:
    body = TxBody(chain_id=CHAIN_ID, sender=signer.public_key, nonce=nonce, payload=payload)
    return sign_tx(body, signer.sign)


def _row_bytes(writes: dict[bytes, bytes | None], prefix: bytes) -> int:
    return sum(len(k) + len(v) for k, v in writes.items() if k.startswith(prefix) and v is not None)


def _pct(xs: list[float], p: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(p / 100 * len(s)))]


def run_custody_bench(cfg: CustodyBenchConfig) -> dict[str, Any]:
    """Run the bench; return the report (see the module docstring)."""
    chain, keeper, nonce = _setup(cfg)
    suite = ED25519
    sample = bytes((i * 131 + (i >> 12)) & 0xFF for i in range(cfg.sample_bytes))
    hashes = segment_hashes(suite, sample)
    root = segment_root(suite, hashes)
    count = segment_count(len(sample))

    # 1. Registration.
    register_tx_bytes: list[int] = []
    state_bytes_per_file: list[float] = []
    t0 = time.perf_counter()
    registered = 0
    while registered < cfg.files:
        batch = []
        for _ in range(min(cfg.register_batch, cfg.files - registered)):
            fid = suite.tagged_hash(b"custody-bench/file", registered.to_bytes(8, "big"))
            msg = CustodyRegister(file_id=fid, size=len(sample), segment_root=root, segment_count=count)
            batch.append(_tx(keeper, nonce, msg))
            nonce += 1
            registered += 1
        executed = chain.build(batch)
        assert all(r.code == 0 for r in executed.output.receipts), executed.output.receipts[0]
        if not register_tx_bytes:
            register_tx_bytes = [len(encode(t)) for t in batch[:100]]
            # A FileRecord and a FileRef per file (the meta and the organisation's rows are once per chain/org).
            out = executed.output.writes
            per_file = (_row_bytes(out, FILE_PREFIX) + _row_bytes(out, IX_PREFIX)) / len(batch)
            state_bytes_per_file.append(per_file)
            receipt_bytes = len(encode(executed.output.receipts[0]))
        chain.commit(executed)
    register_s = time.perf_counter() - t0

    # 2. Rounds, each against an empty non-round block just before it.
    empty_ms: list[float] = []
    round_ms: list[float] = []
    round_ops: list[tuple[int, int, int]] = []
    interval = cfg.challenge_interval
    for _ in range(cfg.rounds):
        while (chain.tip.height + 2) % interval != 0:
            chain.commit(chain.build([]))
        t = time.perf_counter()
        executed = chain.build([])
        empty_ms.append((time.perf_counter() - t) * 1000)
        chain.commit(executed)
        chain.reads = chain.scans = 0
        t = time.perf_counter()
        executed = chain.build([])
        round_ms.append((time.perf_counter() - t) * 1000)
        writes = sum(1 for k in executed.output.writes if k.startswith(PREFIX))
        round_ops.append((chain.reads, chain.scans, writes))
        chain.commit(executed)
    round_height = chain.tip.height

    # 3. Responses to the last round's challenges, in one block.
    challenges: list[Challenge] = []
    for k in range(cfg.challenges_per_round):
        ch = read_challenge(chain, round_height.to_bytes(8, "big") + k.to_bytes(4, "big"))
        if ch is not None:
            challenges.append(ch)
    responses = []
    for ch in challenges:
        i = ch.segment_index
        answer = CustodyRespond(
            challenge_id=ch.id,
            segment=sample[i * SEGMENT_BYTES : (i + 1) * SEGMENT_BYTES],
            path=segment_path(suite, hashes, i),
        )
        responses.append(_tx(keeper, nonce, answer))
        nonce += 1
    while (chain.tip.height + 1) % interval == 0:
        chain.commit(chain.build([]))
    t = time.perf_counter()
    base = chain.build([])
    base_ms = (time.perf_counter() - t) * 1000
    t = time.perf_counter()
    executed = chain.build(responses)
    respond_block_ms = (time.perf_counter() - t) * 1000
    assert all(r.code == 0 for r in executed.output.receipts), executed.output.receipts
    respond_tx = [len(encode(t)) for t in responses]
    respond_receipt = [len(encode(r)) for r in executed.output.receipts]
    chain.commit(executed)
    del base

    record = read_file(chain, challenges[0].file_id, ORG)
    assert isinstance(record, FileRecord)
    seg = responses[0].body.payload
    assert isinstance(seg, CustodyRespond)
    n_checks = 2000
    t = time.perf_counter()
    for _ in range(n_checks):
        assert check_segment(suite, record, challenges[0].segment_index, seg.segment, list(seg.path)) is None
    check_us = (time.perf_counter() - t) / n_checks * 1e6

    measured = {
        "registration": {
            "files": cfg.files,
            "seconds": round(register_s, 2),
            "files_per_s": round(cfg.files / register_s, 1),
            "register_tx_bytes": statistics.mean(register_tx_bytes),
            "register_receipt_bytes": receipt_bytes,
            "state_bytes_per_file": round(state_bytes_per_file[0], 1),
        },
        "round": {
            "files_registered": cfg.files,
            "challenges": cfg.challenges_per_round,
            "block_ms_p50": round(_pct(round_ms, 50), 3),
            "block_ms_p99": round(_pct(round_ms, 99), 3),
            "empty_block_ms_p50": round(_pct(empty_ms, 50), 3),
            "round_cost_ms_p50": round(_pct(round_ms, 50) - _pct(empty_ms, 50), 3),
            "state_reads": round_ops[-1][0],
            "state_scans": round_ops[-1][1],
            "custody_writes": round_ops[-1][2],
            "gas": 0,
        },
        "response": {
            "responses_in_block": len(responses),
            "respond_tx_bytes": statistics.mean(respond_tx),
            "respond_receipt_bytes": statistics.mean(respond_receipt),
            "path_hashes": len(seg.path),
            "block_ms_per_response": round((respond_block_ms - base_ms) / max(1, len(responses)), 3),
            "check_segment_us": round(check_us, 1),
            "gas": 0,
        },
    }
    return {
        "bench": "custody",
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": {"python": platform.python_version(), "cpu": platform.processor() or platform.machine()},
        "config": asdict(cfg),
        "measured": measured,
        "model_1pb": cost_model(cfg, measured),
    }


def cost_model(cfg: CustodyBenchConfig, m: dict[str, Any]) -> list[dict[str, Any]]:
    """The 1 PB model at each of ``cfg.model_file_sizes`` (see the module docstring)."""
    reg = m["registration"]
    resp = m["response"]
    blocks_per_day = DAY_S / cfg.block_time_s
    challenges_per_day = cfg.challenges_per_round * blocks_per_day / cfg.challenge_interval
    out = []
    for size in cfg.model_file_sizes:
        files = math.ceil(PB / size)
        depth = math.ceil(math.log2(segment_count(size))) if size > SEGMENT_BYTES else 0
        extra_path = 32 * (depth - resp["path_hashes"])
        respond_bytes = resp["respond_tx_bytes"] + extra_path + resp["respond_receipt_bytes"]
        out.append(
            {
                "file_size_bytes": size,
                "files": files,
                "register_chain_bytes": round(files * (reg["register_tx_bytes"] + reg["register_receipt_bytes"])),
                "registered_state_bytes": round(files * reg["state_bytes_per_file"]),
                "chain_bytes_per_registered_file": round(reg["register_tx_bytes"] + reg["register_receipt_bytes"]),
                "path_hashes": depth,
                "challenges_per_day": round(challenges_per_day),
                "response_chain_bytes": round(respond_bytes),
                "chain_bytes_per_day": round(challenges_per_day * respond_bytes),
                "days_to_challenge_every_file_once": round(files / challenges_per_day, 1),
                "check_cpu_s_per_day": round(challenges_per_day * resp["check_segment_us"] / 1e6, 2),
            }
        )
    return out


def summary(report: dict[str, Any]) -> str:
    """A few lines for people."""
    m = report["measured"]
    r, c, s = m["registration"], m["round"], m["response"]
    lines = [
        f"custody bench: {r['files']} files registered ({r['files_per_s']} files/s), "
        f"{r['register_tx_bytes']:.0f} B per register tx, {r['state_bytes_per_file']} B state per file",
        f"  round of {c['challenges']} challenges: {c['round_cost_ms_p50']} ms over an empty block "
        f"({c['block_ms_p50']} vs {c['empty_block_ms_p50']} ms p50), {c['state_reads']} reads, "
        f"{c['custody_writes']} writes",
        f"  response: {s['respond_tx_bytes']:.0f} B tx, {s['block_ms_per_response']} ms in a block, "
        f"check {s['check_segment_us']} us",
    ]
    for row in report["model_1pb"]:
        lines.append(
            f"  1 PB of {row['file_size_bytes'] / 2**20:.0f} MiB files: {row['files']} files, "
            f"{row['register_chain_bytes'] / 1e9:.2f} GB to register, {row['registered_state_bytes'] / 1e9:.2f} GB "
            f"state, {row['challenges_per_day']} challenges/day, {row['chain_bytes_per_day'] / 1e6:.1f} MB/day, "
            f"every file challenged once in {row['days_to_challenge_every_file_once']} days"
        )
    return "\n".join(lines)


def write_report(report: dict[str, Any], out_dir: Path) -> Path:
    """Write ``report`` as ``custody-<time>.json`` under ``out_dir``; return the path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = report["time"].replace("-", "").replace(":", "")
    path = out_dir / f"custody-{stamp}.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    return path


def main(argv: list[str] | None = None) -> int:
    """``python -m trellis.bench.custody``."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    d = CustodyBenchConfig()
    p.add_argument("--files", type=int, default=d.files)
    p.add_argument("--rounds", type=int, default=d.rounds)
    p.add_argument("--challenges-per-round", type=int, default=d.challenges_per_round)
    p.add_argument("--challenge-interval", type=int, default=d.challenge_interval)
    p.add_argument("--block-time", type=float, default=d.block_time_s)
    p.add_argument("--label", default="", help="a note for the report (e.g. the machine's load)")
    p.add_argument("--out", default="bench/results")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    if not 1 <= args.files <= 10_000_000:
        p.error("--files must be 1 to 10,000,000")
    cfg = CustodyBenchConfig(
        files=args.files,
        rounds=args.rounds,
        challenges_per_round=args.challenges_per_round,
        challenge_interval=args.challenge_interval,
        block_time_s=args.block_time,
    )
    report = run_custody_bench(cfg)
    report["label"] = args.label
    path = write_report(report, Path(args.out))
    print(json.dumps(report, indent=2) if args.json else summary(report) + f"\n  report: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
