"""``trellis bench``: start a local network, drive an open-loop load at a series of offered rates, and report
committed throughput and submit-to-commit latency, each figure also as a ratio to the machine's own
signature-verification ceiling measured in the same run.

Method:
- Transactions are signed before the clock starts (in worker processes; not timed). Each sender account is
  funded in genesis; its transactions always go to the same node, in nonce order.
- Load is open-loop: every 10 ms the next slice of transactions is scheduled and sent as one binary batch on
  the node's ordered transaction stream (``GET /v1/txs/stream``, a WebSocket), at most four batches
  unanswered; slices scheduled while four are pending go out together as one bigger batch. The schedule never
  waits for the node, so a slow node does not slow the offered load (no coordinated omission). Latency runs
  from each transaction's *scheduled* send time to the moment its block arrives on the commit stream
  (``GET /v1/commits/stream`` of node0).
- Committed TPS counts transactions seen committed on the stream with receipt code 0 (success), over the time
  from the first scheduled send to the last such commit. Transactions in a block with another code are
  reported apart (``failed_txs``, ``failed_codes``), never as throughput; those refused at admission are
  ``rejected_txs``.
- Ratios name their baseline (``ratio_baseline``): the verification ceiling for a run that checks signatures;
  for a run without signature checks, the peak of the signature-checking run of the same configuration in
  the same report (``label_ratios``).
- The ceiling is the chain suite's signature verifications per second (Ed25519, or SM2 with ``--suite sm``)
  on all cores with the node's own verifier (``CpuPoolVerifier``); the scaling table repeats it for 1..N
  worker processes. With ``--suite sm`` the network runs an sm genesis and the bench signs with SM2 keys.
- Stage times come from the node's ``/v1/metrics`` (wall time per stage, per transaction).
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import msgspec

from trellis.core.codec import encode
from trellis.core.crypto.suite import ED25519, Suite, address_of, suite_by_name
from trellis.core.ledger.tx import TxBody, sign_tx, tx_hash
from trellis.core.modules.accounts.messages import Transfer
from trellis.core.modules.contracts.messages import ContractCall, ContractDeploy
from trellis.core.modules.kv.messages import KvPut
from trellis.core.modules.notary.messages import NotaryAnchor
from trellis.core.params import GenesisAccount
from trellis.keys.signer import MemorySigner
from trellis.node.config import ConsensusSection, MempoolSection, NodeConfig
from trellis.node.network import free_port_range, init_network, start_node, stop_node, wait_ready

BATCH_MEDIA = "application/x-trellis-txs"
TICK_S = 0.01
STREAM_WINDOW = 4
"""Unanswered batches per node stream; the load scheduled meanwhile is sent as one batch when one is answered."""
MAX_STREAM_BATCH = 20_000
"""Most transactions per streamed batch (the node's ``MAX_BATCH_TXS``)."""
MAX_STREAM_BYTES = 3 * 1024 * 1024
"""Most bytes per streamed batch (under the node's default ``api.max_body_bytes``, 4 MiB)."""


@dataclass
class BenchConfig:
    """One benchmark run."""

    validators: int = 1
    workload: str = "transfer"
    rates: list[int] = field(default_factory=lambda: [1000, 2000, 4000, 8000, 16000])
    duration_s: float = 4.0
    skip_signatures: bool = False
    accounts: int = 2000
    verifier_workers: int = -1
    drain_s: float = 8.0
    label: str = ""
    flood_txs: int = 0
    """After the rates: submit this many transactions as fast as possible to fill the mempool, then report
    the mempool size and the node's peak memory (target: bounded memory with a full mempool)."""
    mempool_max_txs: int = 400_000
    block_interval_ms: int = 20
    """Pause after each commit; a very long one holds blocks back so a flood fills the mempool."""
    suite: str = "ed25519"
    """The chain's crypto suite (genesis ``suite``); bench keys and hashes follow it."""


def _seed(i: int) -> bytes:
    # Also a valid SM2 private scalar (nonzero, far below the curve order), so both suites use the same seeds.
    return b"bench-account-" + i.to_bytes(4, "big") + b"\x00" * 14


# Per process: bench accounts' signers by (suite, index). Opening an SM2 key costs a point multiplication.
_signers: dict[tuple[str, int], MemorySigner] = {}


def _account(suite: Suite, i: int) -> MemorySigner:
    s = _signers.get((suite.name, i))
    if s is None:
        s = _signers[(suite.name, i)] = MemorySigner(_seed(i), suite)
    return s


def _address(suite: Suite, i: int) -> bytes:
    return address_of(suite, _account(suite, i).public_key)


NOTARY_BATCH = 100
"""Digests per ``notary.anchor`` in the notary workload (records/s = committed tx/s x this)."""


def _sign_chunk(args: tuple[str, str, list[tuple[int, int]], int, bytes, str]) -> list[tuple[bytes, bytes]]:
    """Sign (sender, nonce) pairs in a worker process; return (canonical bytes, tx hash)."""
    chain_id, workload, pairs, accounts, token, suite_name = args
    suite = suite_by_name(suite_name)
    out = []
    for sender, nonce in pairs:
        s = _account(suite, sender)
        if workload == "transfer":
            payload: Any = Transfer(to=_address(suite, (sender + 1) % accounts), amount=1)
        elif workload == "contract":
            payload = _token_transfer(token, _address(suite, (sender + 1) % accounts), 1)
        elif workload == "notary":
            payload = NotaryAnchor(
                digests=[suite.hash(b"%d-%d-%d" % (sender, nonce, k)) for k in range(NOTARY_BATCH)],
                record_type="bench",
            )
        else:
            payload = KvPut(namespace="bench", key=b"%d-%d" % (sender, nonce), value=b"v" * 32)
        raw = encode(sign_tx(TxBody(chain_id=chain_id, sender=s.public_key, nonce=nonce, payload=payload), s.sign))
        out.append((raw, tx_hash(suite, raw)))
    return out


CONTRACT_CALL_GAS = 200_000
"""Gas limit of each benchmark token transfer (it uses far less)."""


def _token_transfer(token: bytes, to: bytes, amount: int) -> ContractCall:
    """A call of the example token's ``transfer(to: address, amount: u64)`` (ABI: 20 bytes, then u64 LE)."""
    return ContractCall(
        contract=token, method="transfer", args=to + amount.to_bytes(8, "little"), gas_limit=CONTRACT_CALL_GAS
    )


def _deploy_token(url: str, accounts: int, suite: Suite = ED25519) -> tuple[bytes, int]:
    """Build and deploy the example token from bench account 0, then give every other account tokens.

    Returns the token's address and account 0's next nonce. Not timed: this is set-up.
    """
    from trellis.app.modules.contracts import abi as abi_mod
    from trellis.app.modules.contracts import toolchain

    built = toolchain.build(toolchain.CONTRACTS_DIR / "examples" / "token")
    abi = abi_mod.load_abi(built.abi_path)
    owner = _account(suite, 0)
    init = abi_mod.encode_args(abi, "init", ["Bench token", "BNC", 10**18])
    deploy = ContractDeploy(code=built.wasm_path.read_bytes(), args=init, gas_limit=10_000_000)
    raw = encode(sign_tx(TxBody(chain_id="bench", sender=owner.public_key, nonce=0, payload=deploy), owner.sign))
    res = _post_wait(url, [raw], suite)
    receipt = res["receipt"]
    if receipt["code"] != 0:
        raise RuntimeError(f"deploying the benchmark token failed: {receipt['message']}")
    token = bytes.fromhex(receipt["data"][2:])
    raws = []
    for i in range(1, accounts):
        to = _address(suite, i)
        body = TxBody(chain_id="bench", sender=owner.public_key, nonce=i, payload=_token_transfer(token, to, 10**12))
        raws.append(encode(sign_tx(body, owner.sign)))
    for k in range(0, len(raws), 5000):
        last = _post_wait(url, raws[k : k + 5000], suite)
        if last["receipt"]["code"] != 0:
            raise RuntimeError(f"funding the benchmark accounts failed: {last['receipt']['message']}")
    return token, accounts


def _post_wait(url: str, raws: list[bytes], suite: Suite = ED25519) -> Any:
    """Submit a batch and wait until its last transaction commits; return that transaction's status."""
    body = b"".join(len(raw).to_bytes(4, "big") + raw for raw in raws)
    req = urllib.request.Request(url + "/v1/txs/batch", data=body, headers={"Content-Type": BATCH_MEDIA})
    with urllib.request.urlopen(req, timeout=60) as resp:
        res = json.loads(resp.read())
    if res["rejected"]:
        raise RuntimeError(f"set-up transactions refused: {res['rejected'][:3]}")
    last = "0x" + tx_hash(suite, raws[-1]).hex()
    status = _get_json(f"{url}/v1/txs/{last}?wait=60")
    if status["status"] != "committed":
        raise RuntimeError(f"set-up transaction {last} did not commit: {status['status']}")
    return status


def _sign_fresh_kv(args: tuple[list[int], str]) -> list[bytes]:
    """kv writes by fresh senders (nonce 0), for the mempool flood."""
    indexes, suite_name = args
    suite = suite_by_name(suite_name)
    out = []
    for i in indexes:
        s = MemorySigner(b"bench-flood-" + i.to_bytes(4, "big") + b"\x00" * 16, suite)
        body = TxBody(
            chain_id="bench",
            sender=s.public_key,
            nonce=0,
            payload=KvPut(namespace="flood", key=b"%d" % i, value=b"v" * 32),
        )
        out.append(encode(sign_tx(body, s.sign)))
    return out


class _Progress:
    def __init__(self, label: str) -> None:
        self.label = label
        self.tty = sys.stderr.isatty()

    def show(self, sent: int, total: int, committed: int) -> None:
        width = 30
        done = int(width * committed / total) if total else width
        bar = "#" * done + "." * (width - done)
        text = f"  {self.label:<28} [{bar}] sent {sent}/{total} committed {committed}"
        if self.tty:
            sys.stderr.write("\r" + text)
            sys.stderr.flush()

    def end(self, summary: str) -> None:
        if self.tty:
            sys.stderr.write("\r" + " " * 100 + "\r")
        sys.stderr.write(f"  {self.label:<28} {summary}\n")
        sys.stderr.flush()


class CommitTally:
    """What the commit stream says of the transactions a rate sent: each one seen in a block either succeeded
    (receipt code 0: counted as committed, with its latency) or failed (another code: counted apart, by code,
    never as throughput). Transactions the bench did not send, or saw already, are ignored."""

    def __init__(self, sched: dict[bytes, float]) -> None:
        self.sched = sched
        """Hash -> scheduled send time of each transaction not yet seen in a block."""
        self.latencies: list[float] = []
        """Seconds from scheduled send to commit, one per successful transaction."""
        self.commit_times: list[float] = []
        """When each successful transaction was seen committed."""
        self.failed: dict[int, int] = {}
        """Receipt code -> transactions committed in a block with that (non-zero) code."""

    @property
    def succeeded(self) -> int:
        """Transactions committed with receipt code 0."""
        return len(self.latencies)

    @property
    def failed_total(self) -> int:
        """Transactions committed with a non-zero receipt code."""
        return sum(self.failed.values())

    @property
    def seen(self) -> int:
        """Transactions of this rate seen in a block, whatever their code."""
        return self.succeeded + self.failed_total

    def block(self, line: dict[str, Any], now: float) -> None:
        """Take one line of ``GET /v1/commits/stream`` (``txs`` and their receipt ``codes``), seen at ``now``.

        Raises:
            ValueError: the line's ``txs`` and ``codes`` differ in length.
        """
        txs, codes = line["txs"], line["codes"]
        if len(txs) != len(codes):
            raise ValueError(f"commit stream line has {len(txs)} transactions but {len(codes)} receipt codes")
        for h, code in zip(txs, codes, strict=True):
            t = self.sched.pop(bytes.fromhex(h[2:]), None)
            if t is None:
                continue
            if code == 0:
                self.latencies.append(now - t)
                self.commit_times.append(now)
            else:
                self.failed[code] = self.failed.get(code, 0) + 1


async def _drive(
    urls: list[str], by_node: list[list[tuple[bytes, bytes]]], rate: float, duration: float, drain: float, label: str
) -> dict[str, Any]:
    """Send each node's transactions at ``rate`` in total; return throughput and latency."""
    total = sum(len(x) for x in by_node)
    sched: dict[bytes, float] = {}
    tally = CommitTally(sched)
    progress = _Progress(label)
    loop = asyncio.get_running_loop()
    done = asyncio.Event()
    timeout = aiohttp.ClientTimeout(total=None, sock_read=None)
    async with aiohttp.ClientSession(timeout=timeout) as session:

        async def listen(resp: aiohttp.ClientResponse) -> None:
            # One JSON line per block; a block of 20,000 transactions is a line of about 1.4 MB, more than
            # aiohttp's line reader accepts (it raises LineTooLong), so lines are split here.
            pending = bytearray()
            async for chunk in resp.content.iter_any():
                pending += chunk
                end = pending.rfind(b"\n")
                if end < 0:
                    continue
                lines = bytes(pending[:end]).split(b"\n")
                del pending[: end + 1]
                now = loop.time()
                for line in lines:
                    tally.block(json.loads(line), now)
                if tally.seen >= total:
                    done.set()
                    return
            errors.insert(0, "the commit stream ended before every transaction was seen committed")

        stream = await session.get(urls[0] + "/v1/commits/stream")
        listener = asyncio.create_task(listen(stream))
        rejected = 0
        errors: list[str] = []

        def note_answer(res: dict[str, Any]) -> None:
            nonlocal rejected
            if "error" in res:
                errors.append(f"{res['error']['code']}: {res['error']['detail']}")
                return
            rejected += len(res["rejected"])
            for rej in res["rejected"][:3]:
                errors.append(f"{rej['code']}: {rej['detail']}")

        queues: list[asyncio.Queue[list[tuple[bytes, bytes]] | None]] = [asyncio.Queue() for _ in urls]

        async def poster(n: int) -> None:
            # One ordered stream per node (``GET /v1/txs/stream``): each sender's nonces go to one node in
            # sequence, and the node admits a stream's batches in the order sent while checking several at once.
            # At most STREAM_WINDOW batches are unanswered; slices scheduled meanwhile wait in the queue and go
            # together as one bigger batch (what a real client under back-pressure does). The schedule itself
            # never waits: a slow node's backlog shows up as latency, measured from each scheduled time.
            window = asyncio.Semaphore(STREAM_WINDOW)
            try:
                ws = await session.ws_connect(urls[n] + "/v1/txs/stream", max_msg_size=0)
            except aiohttp.ClientError as exc:
                errors.append(f"cannot open the transaction stream: {exc}")
                return

            async def answers() -> None:
                async for msg in ws:
                    if msg.type != aiohttp.WSMsgType.TEXT:
                        break
                    note_answer(json.loads(msg.data))
                    window.release()

            reader = asyncio.create_task(answers())
            try:
                ended = False
                carry: list[tuple[bytes, bytes]] | None = None
                while not ended:
                    first = carry if carry is not None else await queues[n].get()
                    carry = None
                    if first is None:
                        break
                    await window.acquire()
                    chunk = list(first)
                    size = sum(len(raw) + 4 for raw, _ in chunk)
                    while not queues[n].empty():
                        more = queues[n].get_nowait()
                        if more is None:
                            ended = True
                            break
                        more_size = sum(len(raw) + 4 for raw, _ in more)
                        if len(chunk) + len(more) > MAX_STREAM_BATCH or size + more_size > MAX_STREAM_BYTES:
                            carry = more  # the next batch starts with it
                            break
                        chunk += more
                        size += more_size
                    try:
                        await ws.send_bytes(b"".join(len(raw).to_bytes(4, "big") + raw for raw, _ in chunk))
                    except (aiohttp.ClientError, ConnectionError) as exc:
                        errors.append(f"transaction stream: {exc}")
                        return
                await reader  # the answers to the last batches
            finally:
                reader.cancel()
                await ws.close()

        posters = [asyncio.create_task(poster(n)) for n in range(len(urls))]
        t0 = loop.time() + 0.1

        def tick_done(tick: int, sent: int) -> None:
            if tick % 25 == 0:
                progress.show(sent, total, tally.seen)

        sent = await open_loop(by_node, rate, queues, sched, t0, tick_done)
        for q in queues:
            q.put_nowait(None)
        send_end = loop.time()
        deadline = send_end + drain
        while not done.is_set() and loop.time() < deadline:
            progress.show(sent, total, tally.seen)
            try:
                await asyncio.wait_for(done.wait(), 0.25)
            except TimeoutError:
                pass
        for task in posters:
            task.cancel()
        await asyncio.gather(*posters, return_exceptions=True)
        if listener.done() and not listener.cancelled() and listener.exception() is not None:
            # Without this a failed listener would silently end the measurement early.
            errors.insert(0, f"commit stream failed: {listener.exception()!r}")
        listener.cancel()
        stream.close()
    lat = sorted(tally.latencies)
    committed = len(lat)
    elapsed = (max(tally.commit_times) - t0) if tally.commit_times else float("nan")
    tps = committed / elapsed if tally.commit_times else 0.0

    def pct(q: float) -> float:
        return round(lat[min(len(lat) - 1, int(q * (len(lat) - 1)))] * 1000, 1) if lat else float("nan")

    result: dict[str, Any] = {
        "offered_tps": rate,
        "offered_txs": total,
        "send_seconds": round(send_end - t0, 3),
        "committed_txs": committed,
        "failed_txs": tally.failed_total,
        "failed_codes": {str(code): n for code, n in sorted(tally.failed.items())},
        "rejected_txs": rejected,
        "committed_tps": round(tps, 1),
        "latency_ms": {"p50": pct(0.50), "p95": pct(0.95), "p99": pct(0.99), "max": pct(1.0)},
        "errors": errors[:5],
    }
    progress.end(
        f"committed {tps:8.0f} tx/s  p50 {result['latency_ms']['p50']} ms  p99 {result['latency_ms']['p99']} ms"
    )
    return result


def _vm_hwm_kb(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _get_json(url: str) -> Any:
    import urllib.request

    with urllib.request.urlopen(url, timeout=10) as r:
        return json.loads(r.read())


def tuned(
    c: NodeConfig, verifier_workers: int, block_interval_ms: int, mempool_max_txs: int, skip_signatures: bool = False
) -> NodeConfig:
    """A bench node's configuration: its verifier workers, block interval (empty blocks no faster than 200 ms, a
    propose timeout of at least 3 s) and a mempool sized for the offered load."""
    return replace_struct(
        c,
        node=replace_struct(c.node, verifier_workers=verifier_workers),
        consensus=ConsensusSection(
            block_interval_ms=block_interval_ms,
            empty_block_interval_ms=max(200, block_interval_ms),
            propose_timeout_ms=max(3000, 2 * block_interval_ms),
        ),
        mempool=MempoolSection(max_txs=mempool_max_txs, max_bytes=512 * 1024 * 1024),
        bench=replace_struct(c.bench, skip_signature_checks=skip_signatures),
    )


def run_network_bench(cfg: BenchConfig, work_dir: Path, signer_pool: ProcessPoolExecutor) -> dict[str, Any]:
    """One network configuration over the offered rates."""
    suite = suite_by_name(cfg.suite)
    label = cfg.label or f"{cfg.validators}v {cfg.workload}{' no-sig' if cfg.skip_signatures else ''}"
    if suite is not ED25519:
        label += f" [{suite.name}]"
    accounts = [GenesisAccount(address=_address(suite, i).hex(), balance=10**15) for i in range(cfg.accounts)]

    def tune(c: NodeConfig) -> NodeConfig:
        return tuned(c, cfg.verifier_workers, cfg.block_interval_ms, cfg.mempool_max_txs, cfg.skip_signatures)

    api = free_port_range(cfg.validators)
    p2p = free_port_range(cfg.validators, avoid=api)
    nodes = init_network(
        work_dir,
        cfg.validators,
        chain_id="bench",
        api_port=api,
        p2p_port=p2p,
        extra_accounts=accounts,
        tune=tune,
        suite=suite.name,
        bench_network=True,  # the genesis marker without which a node refuses [bench] skip_signature_checks
    )
    procs = {n.name: start_node(n) for n in nodes}
    try:
        wait_ready(nodes, procs)
        urls = [n.api_url for n in nodes]
        before = _get_json(urls[0] + "/v1/metrics")
        nonce = [0] * cfg.accounts
        token = b""
        if cfg.workload == "contract":
            token, nonce[0] = _deploy_token(urls[0], cfg.accounts, suite)
        results = []
        for rate in cfg.rates:
            signed = _sign_pairs(cfg, nonce, int(rate * cfg.duration_s), signer_pool, token)
            by_node: list[list[tuple[bytes, bytes]]] = [[] for _ in nodes]
            for sender, raw, h in signed:
                by_node[sender % len(nodes)].append((raw, h))
            res = asyncio.run(_drive(urls, by_node, rate, cfg.duration_s, cfg.drain_s, f"{label} @ {rate}/s"))
            results.append(res)
            if res["committed_tps"] < 0.8 * rate:
                break  # saturated: higher offered rates only grow the backlog
        after = _get_json(urls[0] + "/v1/metrics")
        flood = None
        if cfg.flood_txs:
            flood = _flood(cfg, urls, signer_pool)
        rss = {n.name: _vm_hwm_kb(procs[n.name].pid) for n in nodes}
    finally:
        for n in nodes:
            stop_node(n)
    stages = {}
    for stage, v in after["stages"].items():
        b = before["stages"].get(stage, {"seconds": 0.0, "items": 0})
        items = v["items"] - b["items"]
        if items > 0:
            stages[stage] = {"us_per_tx": round((v["seconds"] - b["seconds"]) / items * 1e6, 2), "txs": items}
    if cfg.workload == "notary":
        for r in results:
            r["records_per_tx"] = NOTARY_BATCH
            r["committed_records_per_s"] = round(r["committed_tps"] * NOTARY_BATCH, 1)
    peak = max(results, key=lambda r: r["committed_tps"]) if results else {"committed_tps": 0.0}
    return {
        "label": label,
        "config": {
            "validators": cfg.validators,
            "workload": cfg.workload,
            "signature_checks": not cfg.skip_signatures,
            "suite": cfg.suite,
            "history_indexes": True,
            "accounts": cfg.accounts,
            "duration_s": cfg.duration_s,
            "verifier": after.get("verifier"),
            "verifier_workers": cfg.verifier_workers,
        },
        "rates": results,
        "peak_committed_tps": peak["committed_tps"],
        "stages_us_per_tx_node0": stages,
        "rss_peak_mb": {k: (round(v / 1024, 1) if v else None) for k, v in rss.items()},
        "mempool_flood": flood,
    }


def _sign_pairs(
    cfg: BenchConfig, nonce: list[int], count: int, signer_pool: ProcessPoolExecutor, token: bytes = b""
) -> list[tuple[int, bytes, bytes]]:
    pairs = []
    for i in range(count):
        sender = i % cfg.accounts
        pairs.append((sender, nonce[sender]))
        nonce[sender] += 1
    chunks = [pairs[k : k + 2000] for k in range(0, len(pairs), 2000)]
    signed: list[tuple[int, bytes, bytes]] = []
    jobs = [("bench", cfg.workload, c, cfg.accounts, token, cfg.suite) for c in chunks]
    for chunk, out in zip(chunks, signer_pool.map(_sign_chunk, jobs), strict=True):
        signed.extend((sender, raw, h) for (sender, _), (raw, h) in zip(chunk, out, strict=True))
    return signed


def _flood(cfg: BenchConfig, urls: list[str], signer_pool: ProcessPoolExecutor) -> dict[str, Any]:
    """Submit ``cfg.flood_txs`` transactions as fast as possible; report the fullest mempool seen."""
    sys.stderr.write(f"  signing {cfg.flood_txs} transactions for the mempool flood...\n")
    # Fresh senders (nonce 0, kv writes): independent of whatever the rate runs left pending or refused.
    chunks = [list(range(k, min(k + 2000, cfg.flood_txs))) for k in range(0, cfg.flood_txs, 2000)]
    by_node: list[list[bytes]] = [[] for _ in urls]
    for out in signer_pool.map(_sign_fresh_kv, [(c, cfg.suite) for c in chunks]):
        for i, raw in enumerate(out):
            by_node[i % len(urls)].append(raw)

    async def go() -> dict[str, Any]:
        fullest = 0
        refused: dict[str, int] = {}
        errors: list[str] = []
        stop = asyncio.Event()
        async with aiohttp.ClientSession() as session:

            async def sample() -> None:
                nonlocal fullest
                while not stop.is_set():
                    async with session.get(urls[0] + "/v1/metrics") as m:
                        fullest = max(fullest, (await m.json())["mempool_txs"])
                    await asyncio.sleep(0.1)

            async def post(url: str, raws: list[bytes]) -> None:
                body = b"".join(len(r).to_bytes(4, "big") + r for r in raws)
                async with session.post(url + "/v1/txs/batch", data=body, headers={"Content-Type": BATCH_MEDIA}) as r:
                    res = await r.json()
                    if r.status != 202:
                        errors.append(str(res)[:200])
                        return
                for rej in res["rejected"]:
                    refused[rej["code"]] = refused.get(rej["code"], 0) + 1

            sampler = asyncio.create_task(sample())
            # All batches at once: admission (about 15 µs a transaction) outruns commits, so the pool fills.
            await asyncio.gather(
                *(
                    post(urls[n], raws[k : k + 5000])
                    for n, raws in enumerate(by_node)
                    for k in range(0, len(raws), 5000)
                )
            )
            await asyncio.sleep(0.5)
            stop.set()
            await sampler
        return {
            "submitted": cfg.flood_txs,
            "fullest_mempool_txs": fullest,
            "mempool_max_txs": cfg.mempool_max_txs,
            "refused": refused,
            "errors": errors[:3],
        }

    result = asyncio.run(go())
    sys.stderr.write(f"  mempool flood: fullest {result['fullest_mempool_txs']} txs, refused {result['refused']}\n")
    return result


async def open_loop(
    by_node: list[list[tuple[bytes, bytes]]],
    rate: float,
    queues: list[asyncio.Queue[list[tuple[bytes, bytes]] | None]],
    scheduled: dict[bytes, float],
    t0: float,
    on_tick: Callable[[int, int], None] | None = None,
) -> int:
    """The open-loop schedule: every ``TICK_S`` from ``t0``, each node's next slice of ``by_node`` (``rate`` in
    total, shared by the nodes' list lengths) goes to its queue, each hash with its scheduled time in
    ``scheduled``; never waits for a node. Returns how many were sent (all of them)."""
    loop = asyncio.get_running_loop()
    total = sum(len(x) for x in by_node)
    per_tick = [rate * TICK_S * len(x) / total for x in by_node]
    cursor = [0.0] * len(by_node)
    tick = 0
    sent = 0
    while sent < total:
        target = t0 + tick * TICK_S
        delay = target - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        for n, txs in enumerate(by_node):
            start = int(cursor[n])
            cursor[n] += per_tick[n]
            chunk = txs[start : int(cursor[n])]
            if chunk:
                for _, h in chunk:
                    scheduled[h] = target
                queues[n].put_nowait(chunk)
                sent += len(chunk)
        tick += 1
        if on_tick is not None:
            on_tick(tick, sent)
    return sent


def replace_struct(obj: Any, **changes: Any) -> Any:
    """``dataclasses.replace`` for msgspec structs."""
    return msgspec.structs.replace(obj, **changes)


def measure_ceilings(max_workers: int, seconds: float, suite: Suite = ED25519) -> dict[str, Any]:
    """The suite's verifications per second with the node's verifier, for 1..max_workers worker processes."""
    from trellis.core.crypto.batch import SuiteVerifier
    from trellis.node.verifier import CpuPoolVerifier, measure_ceiling

    table = {"inline": round(measure_ceiling(SuiteVerifier(suite), suite, seconds))}
    for w in range(1, max_workers + 1):
        pool = CpuPoolVerifier(suite, w)
        try:
            table[str(w)] = round(measure_ceiling(pool, suite, seconds))
        finally:
            pool.close()
    return table


def _machine() -> dict[str, Any]:
    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()}


def _commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
            cwd=Path(__file__).resolve().parents[2],
        )
        return out.stdout.strip() or None
    except OSError:
        return None


def plot(report: dict[str, Any], path: Path) -> None:
    """TPS and latency against offered load, one line per run; the ceiling as a reference."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.8))
    for run in report["runs"]:
        if not run["rates"]:
            continue
        xs = [r["offered_tps"] for r in run["rates"]]
        (line,) = ax1.plot(xs, [r["committed_tps"] for r in run["rates"]], marker="o", label=run["label"])
        color = line.get_color()
        ax2.plot(
            xs, [r["latency_ms"]["p99"] for r in run["rates"]], marker="o", color=color, label=f"{run['label']} p99"
        )
        ax2.plot(
            xs,
            [r["latency_ms"]["p50"] for r in run["rates"]],
            marker=".",
            linestyle="--",
            color=color,
            label=f"{run['label']} p50",
        )
    ceiling = report["ceiling_verifies_per_s"]
    ax1.axhline(ceiling, color="grey", linestyle=":", label=f"verify ceiling {ceiling:,.0f}/s")
    top = max([ceiling] + [r["offered_tps"] for run in report["runs"] for r in run["rates"]])
    ax1.plot([0, top], [0, top], color="lightgrey", linewidth=0.8, label="committed = offered")
    ax1.set_xlabel("offered load (tx/s)")
    ax1.set_ylabel("committed (tx/s)")
    ax1.set_title("Throughput")
    ax1.legend(fontsize=7)
    ax2.set_xlabel("offered load (tx/s)")
    ax2.set_ylabel("submit-to-commit latency (ms)")
    ax2.set_yscale("log")
    ax2.set_title("Latency")
    ax2.legend(fontsize=7)
    fig.suptitle(f"trellis bench — {report['machine']['cpu']} ({report['machine']['cores']} cores)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run_suite(
    configs: Sequence[BenchConfig],
    out_dir: Path,
    *,
    with_plot: bool,
    ceiling_s: float = 2.0,
    suite: str = ED25519.name,
) -> dict[str, Any]:
    """Run every configuration; write the JSON report (and PNG plot) to ``out_dir``; return the report.
    The ceiling is measured for ``suite`` (the configurations' own suite should match it)."""
    cores = os.cpu_count() or 1
    sys.stderr.write(f"trellis bench: measuring the {suite} signature-verification ceiling on {cores} core(s)...\n")
    scaling = measure_ceilings(cores, ceiling_s, suite_by_name(suite))
    ceiling = float(scaling[str(cores)])
    runs = []
    work_root = Path(tempfile.mkdtemp(prefix="trellis-bench-"))
    try:
        with ProcessPoolExecutor(max_workers=cores) as signer_pool:
            for i, cfg in enumerate(configs):
                if cfg.workload == "interchain":
                    from trellis.bench.interchain import run_interchain_bench

                    runs.append(run_interchain_bench(cfg, work_root / f"net{i}", signer_pool))
                    continue
                runs.append(run_network_bench(cfg, work_root / f"net{i}", signer_pool))
    finally:
        shutil.rmtree(work_root, ignore_errors=True)
    label_ratios(runs, ceiling)
    contract_overhead = None
    if any(cfg.workload == "contract" for cfg in configs):
        from trellis.app.modules.contracts.engine import measure_call_overhead

        contract_overhead = {
            "empty_method_us": round(measure_call_overhead(2000), 2),
            "one_storage_set_us": round(measure_call_overhead(2000, method="storage_set"), 2),
        }
    report: dict[str, Any] = {
        "benchmark": "trellis bench",
        "time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": _machine(),
        "commit": _commit(),
        "suite": suite,
        "ceiling_verifies_per_s": ceiling,
        "verifier_scaling": {"verifies_per_s_by_workers": scaling, "cost_model": _cost_model(scaling, cores)},
        "runs": runs,
        "contract_call_overhead": contract_overhead,
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = "bench-" + time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    (out_dir / f"{stem}.json").write_text(json.dumps(report, indent=2) + "\n")
    report["files"] = {"json": str(out_dir / f"{stem}.json")}
    if with_plot:
        plot(report, out_dir / f"{stem}.png")
        report["files"]["png"] = str(out_dir / f"{stem}.png")
    return report


def label_ratios(runs: list[dict[str, Any]], ceiling: float) -> None:
    """Give every run its ratios, each against a named baseline (``ratio_baseline``), in place.

    A run that checks signatures is compared with the machine's signature-verification ceiling
    (``committed_over_ceiling``, ``peak_over_ceiling``). A run without signature checks verifies nothing, so the
    ceiling is no yardstick for it: it is compared with the peak of the signature-checking run of the same
    configuration (validators, workload, suite, verifier workers) in the same report, or with nothing when the
    report has none; its ``committed_over_ceiling`` is null. Every rate also gets ``committed_over_baseline``.
    """
    for run in runs:
        cfg = run["config"]
        if cfg["signature_checks"]:
            baseline: dict[str, Any] = {
                "kind": "verify_ceiling",
                "what": "the machine's signature-verification ceiling (verifies/s, all cores)",
                "value": ceiling,
            }
        else:
            same = ("validators", "workload", "suite", "verifier_workers")
            signed = next(
                (
                    other
                    for other in runs
                    if other["config"]["signature_checks"]
                    and other["rates"]
                    and all(other["config"].get(k) == cfg.get(k) for k in same)
                ),
                None,
            )
            if signed is not None:
                baseline = {
                    "kind": "signed_run",
                    "what": f"peak committed tx/s of the signature-checking run {signed['label']!r}",
                    "label": signed["label"],
                    "value": signed["peak_committed_tps"],
                }
            else:
                baseline = {
                    "kind": "none",
                    "what": "no signature-checking run of this configuration in this report",
                    "value": None,
                }
        run["ratio_baseline"] = baseline
        value = baseline["value"]
        for r in run["rates"]:
            r["committed_over_baseline"] = round(r["committed_tps"] / value, 3) if value else None
            r["committed_over_ceiling"] = round(r["committed_tps"] / ceiling, 3) if cfg["signature_checks"] else None
        run["peak_over_baseline"] = round(run["peak_committed_tps"] / value, 3) if value else None
        run["peak_over_ceiling"] = round(run["peak_committed_tps"] / ceiling, 3) if cfg["signature_checks"] else None


def _cost_model(scaling: dict[str, int], cores: int) -> str:
    one = scaling.get("1") or 1
    best = scaling.get(str(cores)) or one
    return (
        f"one verifier process: {one:,}/s ({1e6 / one:.1f} µs per signature); {cores} processes: {best:,}/s, "
        f"{best / one / cores:.0%} of linear. Expected ceiling on N cores ~ N * {one:,}/s * that efficiency, "
        "minus the cores the node itself needs for decoding, execution and storage."
    )


def summary(report: dict[str, Any]) -> str:
    """One screen of text."""
    lines = [
        f"trellis bench  {report['time_utc']}  commit {str(report['commit'])[:12]}",
        f"machine: {report['machine']['cpu']}, {report['machine']['cores']} cores, Python {report['machine']['python']}",
        f"{report.get('suite', 'ed25519')} verification ceiling (all cores): {report['ceiling_verifies_per_s']:,.0f}/s   "
        f"by workers: {report['verifier_scaling']['verifies_per_s_by_workers']}",
        "",
        f"{'run':<28}{'offered':>10}{'committed':>12}{'failed':>8}{'/base':>8}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}",
    ]
    for run in report["runs"]:
        for r in run["rates"]:
            lat = r["latency_ms"]
            ratio = r.get("committed_over_baseline")
            shown = "-" if ratio is None else f"{ratio:.2f}"
            lines.append(
                f"{run['label']:<28}{r['offered_tps']:>10}{r['committed_tps']:>12,.0f}{r.get('failed_txs', 0):>8}"
                f"{shown:>8}{lat['p50']:>9}{lat['p95']:>9}{lat['p99']:>9}"
            )
            if r.get("failed_codes"):
                lines.append(f"  failed in blocks by receipt code: {r['failed_codes']} (not counted as committed)")
        base = run.get("ratio_baseline")
        if base is not None:
            value = "" if base["value"] is None else f" = {base['value']:,.0f}"
            lines.append(f"  /base is against {base['what']}{value}")
        if run["config"]["workload"] == "notary":
            recs = ", ".join(f"{r['offered_tps']}: {r['committed_records_per_s']:,.0f}" for r in run["rates"])
            lines.append(f"  notary records/s ({NOTARY_BATCH} per tx) by offered tx/s: {recs}")
        if run.get("interchain"):
            ic = run["interchain"]
            lines.append(
                f"  interchain: {ic['transfers_per_s']:,.1f} transfers/s A->B (recv on B), latency p50 "
                f"{ic['latency_ms_p50']} ms p99 {ic['latency_ms_p99']} ms, relay batch {ic['relay_batch']}; "
                f"single-chain transfers on A {ic['single_chain_tps']:,.0f} tx/s"
            )
        stages = ", ".join(f"{k} {v['us_per_tx']}" for k, v in run["stages_us_per_tx_node0"].items())
        lines.append(f"  peak {run['peak_committed_tps']:,.0f} tx/s; µs/tx by stage (node0): {stages}")
        lines.append(f"  peak RSS MB: {run['rss_peak_mb']}  verifier: {run['config']['verifier']}")
        if run.get("mempool_flood"):
            f = run["mempool_flood"]
            lines.append(
                f"  mempool flood: fullest {f['fullest_mempool_txs']} of {f['mempool_max_txs']} txs, refused {f['refused']}"
            )
    if report.get("contract_call_overhead"):
        o = report["contract_call_overhead"]
        lines.append(
            f"contract call overhead: empty method {o['empty_method_us']} µs, one storage write {o['one_storage_set_us']} µs"
        )
    for k, v in report.get("files", {}).items():
        lines.append(f"{k}: {v}")
    return "\n".join(lines)


__all__ = ["BenchConfig", "run_suite", "summary"]
