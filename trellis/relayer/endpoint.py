"""What the relayer asks of a chain (``ChainEndpoint``), and ``HttpEndpoint``: the same over a node's REST API.

Nothing an endpoint answers is trusted: headers, commits, validator sets and state proofs go to the other chain,
which verifies them. A wrong answer costs a refused transaction, never a wrong state. Tests use an in-process
endpoint over ``tests/fixtures/chain_sim.py`` (``tests/fixtures/sim_endpoint.py``).

REST routes used (docs/spec/api-json.md): ``/v1/status``, ``/v1/blocks/{h}`` (``header_hex`` and the commit),
``/v1/validators?height=``, ``/v1/validators/changes?to_height=``, ``/v1/state/{key}?height=&prove=true``,
``/v1/accounts/{address}`` (``next_nonce``), ``POST /v1/txs?wait=commit``, ``GET /v1/commits/stream`` (ndjson) and
``/v1/interchain/channels/{port}/{channel}/packets`` (sequences of the stored packets; where a node does not serve
it yet, the relayer probes the packet keys below the channel's next send sequence).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import aiohttp
import msgspec

from trellis.core.codec import decode, encode
from trellis.core.errors import DecodeError
from trellis.core.ledger.block import Commit, CommitSig, Header, Validator, ValidatorSet
from trellis.core.lightclient import LightBlock
from trellis.core.modules.interchain.messages import EncodedSetChange, Packet
from trellis.core.modules.interchain.state import packet_key, read_seq, seq_send_key
from trellis.core.params import Genesis

log = logging.getLogger("trellis.relayer")

PROBE_WINDOW = 512
"""Without the packets route: how many sequences below the next send sequence are probed."""
STREAM_READ_TIMEOUT_S = 60.0
"""A commit stream that sends nothing for this long is reopened (a node sends a line per block and no heartbeat,
so this is generous; without it a half-open connection would wait forever)."""
MAX_STREAM_LINE = 16 * 1024 * 1024
"""Longest commit-stream line accepted (a block's line lists every transaction hash: a full block is megabytes,
far past aiohttp's 64 KiB line limit)."""


async def stream_lines(chunks: AsyncIterator[bytes], max_line: int) -> AsyncIterator[bytes]:
    """The newline-separated lines of ``chunks`` (without the newline; a last line without one too).

    Raises:
        ValueError: a line longer than ``max_line`` bytes.
    """
    buf = bytearray()
    async for chunk in chunks:
        searched = len(buf)
        buf += chunk
        start = 0
        while (i := buf.find(b"\n", max(start, searched))) >= 0:
            yield bytes(buf[start:i])
            start = i + 1
        if start:
            del buf[:start]
        if len(buf) > max_line:
            raise ValueError(f"a commit-stream line longer than {max_line} bytes")
    if buf:
        yield bytes(buf)


class EndpointError(Exception):
    """A chain could not be asked (unreachable, refused, or an answer that does not parse)."""

    def __init__(self, chain: str, message: str, *, status: int | None = None, code: str = "error") -> None:
        super().__init__(f"{chain}: {message}")
        self.chain = chain
        self.message = message
        self.status = status
        self.code = code


@dataclass(frozen=True)
class ChainInfo:
    """A chain's identity as its node reports it."""

    chain_id: str
    suite: str
    genesis_hash: bytes


@dataclass(frozen=True)
class ChainHead:
    """The latest committed height and its block time."""

    height: int
    time_ms: int


@dataclass(frozen=True)
class StateRead:
    """A state value after block ``height`` (None: absent), and its canonical ``StateProof`` when asked."""

    height: int
    value: bytes | None
    proof: bytes = b""


@dataclass(frozen=True)
class TxResult:
    """What became of a submitted transaction: ``committed`` (with its receipt) or ``pending``."""

    tx_hash: bytes
    status: str
    height: int = 0
    code: int = 0
    message: str = ""
    events: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Committed with code 0."""
        return self.status == "committed" and self.code == 0


@dataclass(frozen=True)
class CommitSeen:
    """One committed block as a commit stream reported it; ``reconnected``: the stream was re-established (blocks
    may have been missed, so run the recovery scan)."""

    height: int
    time_ms: int
    tx_count: int
    seen_at: float
    """``time.monotonic()`` when the relayer saw it."""
    reconnected: bool = False


class ChainEndpoint(Protocol):
    """An untrusted source of a chain's facts, and the way to submit transactions to it."""

    @property
    def name(self) -> str:
        """The chain id the relayer knows the chain by (from its config)."""
        ...

    async def info(self) -> ChainInfo:
        """Chain id, crypto suite and genesis hash."""
        ...

    async def head(self) -> ChainHead:
        """The latest committed height whose commit certificate can be served, and its time."""
        ...

    async def light_block(self, height: int) -> LightBlock:
        """Header, commit and validator set of ``height``."""
        ...

    async def set_changes(self, to_height: int) -> list[EncodedSetChange]:
        """The validator-set changes a header of ``to_height`` is verified through from genesis."""
        ...

    async def genesis(self) -> bytes:
        """The genesis document, canonical msgpack (its tagged hash is the genesis hash)."""
        ...

    async def state(self, key: bytes, height: int | None = None, prove: bool = False) -> StateRead:
        """The value of ``key`` after block ``height`` (default: latest), with its proof when ``prove``."""
        ...

    async def pending_packets(self, port: str, channel: str, from_seq: int, limit: int) -> list[Packet]:
        """Up to ``limit`` stored (pending) packets of a channel end from ``from_seq`` up, in sequence order (an
        endpoint may answer fewer; an empty answer is the end)."""
        ...

    async def account_nonce(self, address: bytes) -> int:
        """The next nonce of ``address`` (counting transactions the node holds in its mempool)."""
        ...

    async def submit(self, tx: bytes, timeout_s: float = 30.0) -> TxResult:
        """Submit a signed transaction's canonical bytes and wait for its commit (or ``timeout_s``)."""
        ...

    async def submit_many(self, txs: list[bytes], timeout_s: float = 30.0) -> list[TxResult]:
        """Submit transactions of consecutive nonces in order without waiting between them (they may share a
        block), then wait for each. The first refused at admission is ``refused`` (with the node's message) and
        the ones after it are ``not_sent``. Raises ``EndpointError`` only when the first cannot be sent at all."""
        ...

    def commits(self) -> AsyncIterator[CommitSeen]:
        """Every block committed from now on; reconnects by itself, marking the first block after a gap."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...


def _unhex(text: Any, what: str) -> bytes:
    if not isinstance(text, str):
        raise ValueError(f"{what} is not a hex string")
    return bytes.fromhex(text.removeprefix("0x"))


def genesis_bytes_of_file(path: Path) -> bytes:
    """The canonical msgpack form of the genesis document at ``path`` (JSON, as ``genesis.json``).

    Raises:
        ValueError: unreadable or not a genesis document.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"cannot read genesis file {path}: {exc.strerror or exc}") from None
    try:
        return encode(msgspec.json.decode(data, type=Genesis))
    except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path} is not a genesis document: {exc}") from None


class HttpEndpoint:
    """A ``ChainEndpoint`` over a node's REST API (one or more URLs of the same chain, tried in turn)."""

    def __init__(
        self,
        name: str,
        urls: list[str],
        *,
        genesis_file: Path | None = None,
        timeout_s: float = 30.0,
        probe_window: int = PROBE_WINDOW,
        stream_read_timeout_s: float = STREAM_READ_TIMEOUT_S,
        max_stream_line: int = MAX_STREAM_LINE,
    ) -> None:
        if not urls:
            raise ValueError(f"chain {name}: no API URL")
        self._name = name
        self.urls = [u.rstrip("/") for u in urls]
        self.genesis_file = genesis_file
        self.timeout_s = timeout_s
        self.probe_window = probe_window
        self.stream_read_timeout_s = stream_read_timeout_s
        self.max_stream_line = max_stream_line
        self._current = 0
        self._session: aiohttp.ClientSession | None = None
        self._packets_route: bool | None = None

    @property
    def name(self) -> str:
        return self._name

    # -- transport ------------------------------------------------------------------------------------------
    def _sess(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout_s))
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _request(
        self, method: str, path: str, *, body: bytes | None = None, ctype: str | None = None, timeout: float = 0
    ) -> Any:
        """JSON of ``method path`` from the first URL that answers (4xx answers are final)."""
        last = ""
        for attempt in range(len(self.urls)):
            url = self.urls[(self._current + attempt) % len(self.urls)]
            headers = {"Content-Type": ctype} if ctype else {}
            kw: dict[str, Any] = {}
            if timeout:
                kw["timeout"] = aiohttp.ClientTimeout(total=timeout)
            try:
                async with self._sess().request(method, url + path, data=body, headers=headers, **kw) as resp:
                    raw = await resp.read()
                    if resp.status >= 400:
                        try:
                            prob = json.loads(raw)
                            detail, code = str(prob.get("detail", "")), str(prob.get("code", "error"))
                        except (ValueError, AttributeError):
                            detail, code = raw[:200].decode(errors="replace"), "http_error"
                        if resp.status >= 500:
                            last = f"{url}{path}: HTTP {resp.status} {code}: {detail}"
                            continue
                        raise EndpointError(
                            self._name, f"{path}: HTTP {resp.status} {code}: {detail}", status=resp.status, code=code
                        )
                    self._current = (self._current + attempt) % len(self.urls)
                    return json.loads(raw)
            except (aiohttp.ClientError, TimeoutError, ConnectionError) as exc:
                last = f"{url}{path}: {type(exc).__name__}: {exc}"
            except ValueError as exc:
                last = f"{url}{path}: the answer is not JSON: {exc}"
        raise EndpointError(self._name, f"no node answered ({last})", code="unreachable")

    async def _get(self, path: str) -> Any:
        return await self._request("GET", path)

    # -- reads ----------------------------------------------------------------------------------------------
    async def info(self) -> ChainInfo:
        st = await self._get("/v1/status")
        try:
            return ChainInfo(
                chain_id=str(st["chain_id"]),
                suite=str(st.get("suite", "ed25519")),
                genesis_hash=_unhex(st["genesis_hash"], "genesis_hash"),
            )
        except (KeyError, ValueError) as exc:
            raise EndpointError(self._name, f"malformed status: {exc}") from None

    async def head(self) -> ChainHead:
        st = await self._get("/v1/status")
        try:
            height, time_ms = int(st["height"]), int(st["time_ms"])
        except (KeyError, ValueError, TypeError) as exc:
            raise EndpointError(self._name, f"malformed status: {exc}") from None
        if height >= 1:
            block = await self._get(f"/v1/blocks/{height}")
            if block.get("commit") is None and height > 1:  # the tip's certificate is not served yet
                prev = await self._get(f"/v1/blocks/{height - 1}")
                try:
                    return ChainHead(height - 1, int(prev["header"]["time_ms"]))
                except (KeyError, TypeError, ValueError) as exc:
                    raise EndpointError(self._name, f"malformed block {height - 1}: {exc}") from None
        return ChainHead(height, time_ms)

    async def light_block(self, height: int) -> LightBlock:
        block = await self._get(f"/v1/blocks/{height}")
        vals = await self._get(f"/v1/validators?height={height}")
        try:
            header = decode(_unhex(block["header_hex"], "header_hex"), Header)
            cj = block.get("commit")
            if cj is None:
                raise EndpointError(self._name, f"no commit certificate for block {height} yet", code="no_commit")
            commit = Commit(
                height=int(cj["height"]),
                round=int(cj["round"]),
                block_hash=_unhex(cj["block_hash"], "block_hash"),
                signatures=[
                    CommitSig(validator=_unhex(s["validator"], "validator"), signature=_unhex(s["signature"], "sig"))
                    for s in cj["signatures"]
                ],
            )
            valset = ValidatorSet(
                validators=[
                    Validator(public_key=_unhex(v["public_key"], "public_key"), power=int(v["power"]), name=v["name"])
                    for v in vals["validators"]
                ]
            )
            # Rebuilt structs are checked by their canonical round trip (a malformed field fails here, not on chain).
            commit, valset = decode(encode(commit), Commit), decode(encode(valset), ValidatorSet)
        except (KeyError, TypeError, ValueError, DecodeError, msgspec.ValidationError) as exc:
            raise EndpointError(self._name, f"malformed light block {height}: {exc}") from None
        return LightBlock(header=header, commit=commit, validators=valset)

    async def set_changes(self, to_height: int) -> list[EncodedSetChange]:
        res = await self._get(f"/v1/validators/changes?to_height={to_height}")
        try:
            return [
                EncodedSetChange(
                    header=_unhex(c["header"], "header"),
                    commit=_unhex(c["commit"], "commit"),
                    next_validators=_unhex(c["next_validators"], "next_validators"),
                )
                for c in res["changes"]
            ]
        except (KeyError, TypeError, ValueError) as exc:
            raise EndpointError(self._name, f"malformed set changes: {exc}") from None

    async def genesis(self) -> bytes:
        if self.genesis_file is None:
            raise EndpointError(self._name, "no genesis file configured (chain 'genesis = PATH' in relayer.toml)")
        try:
            return genesis_bytes_of_file(self.genesis_file)
        except ValueError as exc:
            raise EndpointError(self._name, str(exc)) from None

    async def state(self, key: bytes, height: int | None = None, prove: bool = False) -> StateRead:
        q = []
        if height is not None:
            q.append(f"height={height}")
        if prove:
            q.append("prove=true")
        path = f"/v1/state/0x{key.hex()}" + ("?" + "&".join(q) if q else "")
        res = await self._get(path)
        try:
            value = None if res.get("value") is None else _unhex(res["value"], "value")
            proof = _unhex(res["proof_hex"], "proof_hex") if prove else b""
            return StateRead(height=int(res["height"]), value=value, proof=proof)
        except (KeyError, TypeError, ValueError) as exc:
            raise EndpointError(self._name, f"malformed state answer: {exc}") from None

    async def pending_packets(self, port: str, channel: str, from_seq: int, limit: int) -> list[Packet]:
        if self._packets_route is not False:
            try:
                res = await self._get(
                    f"/v1/interchain/channels/{port}/{channel}/packets?from_seq={from_seq}&limit={min(limit, 100)}"
                )
            except EndpointError as exc:
                # A JSON problem (no such channel, bad parameter) is the node's answer; a bare 404 is a node that
                # predates the route: probe the packet keys instead, from now on.
                if exc.status != 404 or exc.code != "http_error":
                    raise
                self._packets_route = False
            else:
                self._packets_route = True
                try:
                    return [decode(_unhex(r["packet_hex"], "packet_hex"), Packet) for r in res["packets"]][:limit]
                except (KeyError, TypeError, ValueError, DecodeError) as exc:
                    raise EndpointError(self._name, f"malformed packets answer: {exc}") from None
        top = await self.state(seq_send_key(port, channel))
        next_send = read_seq(_One(seq_send_key(port, channel), top.value), seq_send_key(port, channel))
        out: list[Packet] = []
        for seq in range(max(from_seq, next_send - self.probe_window, 1), next_send):
            if len(out) >= limit:
                break
            got = await self.state(packet_key(port, channel, seq))
            if got.value is not None:
                try:
                    out.append(decode(got.value, Packet))
                except DecodeError as exc:
                    raise EndpointError(self._name, f"stored packet {seq} does not decode: {exc}") from None
        return out

    async def account_nonce(self, address: bytes) -> int:
        res = await self._get(f"/v1/accounts/0x{address.hex()}")
        try:
            return int(res["next_nonce"])
        except (KeyError, TypeError, ValueError) as exc:
            raise EndpointError(self._name, f"malformed account: {exc}") from None

    async def submit(self, tx: bytes, timeout_s: float = 30.0) -> TxResult:
        wait = max(1, min(int(timeout_s), 60))
        res = await self._request(
            "POST",
            f"/v1/txs?wait=commit&timeout={wait}",
            body=tx,
            ctype="application/octet-stream",
            timeout=wait + self.timeout_s,
        )
        return tx_result_of_json(res)

    async def submit_many(self, txs: list[bytes], timeout_s: float = 30.0) -> list[TxResult]:
        out: list[TxResult] = []
        sent: list[int] = []
        for i, tx in enumerate(txs):
            try:
                res = await self._request("POST", "/v1/txs", body=tx, ctype="application/octet-stream")
            except EndpointError as exc:
                if not out and exc.code == "unreachable":
                    raise
                refused = TxResult(tx_hash=b"", status="refused" if exc.status else "not_sent", message=exc.message)
                out.append(refused)
                out += [TxResult(tx_hash=b"", status="not_sent")] * (len(txs) - i - 1)
                break
            out.append(tx_result_of_json(res))
            sent.append(i)
        wait = max(1, min(int(timeout_s), 60))
        for i in sent:
            if out[i].status == "committed":
                continue
            try:
                res = await self._request(
                    "GET", f"/v1/txs/0x{out[i].tx_hash.hex()}?wait={wait}", timeout=wait + self.timeout_s
                )
                out[i] = tx_result_of_json(res)
            except EndpointError as exc:
                out[i] = TxResult(tx_hash=out[i].tx_hash, status="unknown", message=exc.message)
        return out

    async def commits(self) -> AsyncIterator[CommitSeen]:
        """``GET /v1/commits/stream``, reopened (the next URL, with backoff up to 10 s) whatever ends or breaks it;
        the first block after a reopening is marked ``reconnected``. A stream silent for ``stream_read_timeout_s``
        is reopened at once (quietly: a node sends nothing while no block is made)."""
        backoff = 0.5
        gap = False
        while True:
            url = self.urls[self._current % len(self.urls)]
            wait = backoff
            try:
                timeout = aiohttp.ClientTimeout(
                    total=None, sock_connect=self.timeout_s, sock_read=self.stream_read_timeout_s
                )
                async with self._sess().get(url + "/v1/commits/stream", timeout=timeout) as resp:
                    if resp.status != 200:
                        raise EndpointError(self._name, f"commit stream: HTTP {resp.status}", status=resp.status)
                    backoff = 0.5
                    async for line in stream_lines(resp.content.iter_any(), self.max_stream_line):
                        if not line.strip():
                            continue
                        row = json.loads(line)
                        yield CommitSeen(
                            height=int(row["height"]),
                            time_ms=int(row["time_ms"]),
                            tx_count=len(row.get("txs", [])),
                            seen_at=time.monotonic(),
                            reconnected=gap,
                        )
                        gap = False
                log.info("%s: commit stream from %s ended; reopening it", self._name, url)
            except TimeoutError:  # aiohttp's read timeout: a silent (idle, or half-open) stream
                log.debug(
                    "%s: nothing on the commit stream from %s in %.0fs; reopening it",
                    self._name,
                    url,
                    self.stream_read_timeout_s,
                )
                wait = 0.0
            except Exception as exc:  # a dropped connection, an over-long line, an answer that does not parse: reopen
                log.warning(
                    "%s: commit stream from %s dropped (%s: %s); reconnecting in %.1fs",
                    self._name,
                    url,
                    type(exc).__name__,
                    exc,
                    backoff,
                )
            gap = True
            self._current = (self._current + 1) % len(self.urls)
            await asyncio.sleep(wait)
            if wait:
                backoff = min(backoff * 2, 10.0)


class _One:
    """A ``StateReader`` holding one key's value (to reuse ``state.read_seq``)."""

    def __init__(self, key: bytes, value: bytes | None) -> None:
        self.key, self.value = key, value

    def get(self, key: bytes) -> bytes | None:
        return self.value if key == self.key else None

    def scan(self, start: bytes, end: bytes, limit: int) -> list[tuple[bytes, bytes]]:
        return []


def tx_result_of_json(res: Any) -> TxResult:
    """A ``TxResult`` of ``POST /v1/txs`` / ``GET /v1/txs/{hash}`` JSON (``TxStatusJson``).

    Raises:
        ValueError: a malformed answer.
    """
    try:
        h = _unhex(res["hash"], "hash")
        status = str(res["status"])
        rec = res.get("receipt")
        if status != "committed" or rec is None:
            return TxResult(tx_hash=h, status=status)
        events = [(str(e["type"]), {str(k): str(v) for k, v in e["attributes"].items()}) for e in rec["events"]]
        return TxResult(
            tx_hash=h,
            status=status,
            height=int(res.get("height") or 0),
            code=int(rec["code"]),
            message=str(rec["message"]),
            events=events,
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"malformed transaction status: {exc}") from None
