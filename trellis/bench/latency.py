"""Submit-to-commit latency at a fixed, light, open-loop load against a running network.

Transactions are signed before the clock starts (kv writes from fresh keys, so none waits on another's nonce),
then sent at their scheduled times, round-robin over the network's nodes, each with ``?wait=commit``.
Latency is measured from each transaction's *scheduled* send time (no coordinated omission) to the commit
acknowledgement. Output: one JSON object with p50/p95/p99/max in ms and the counts.

    python -m trellis.bench.latency --home .trellis --rate 50 --duration 20
"""

from __future__ import annotations

import argparse
import json
import platform
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from trellis.core.codec import encode
from trellis.core.ledger.tx import TxBody, sign_tx
from trellis.core.modules.kv.messages import KvPut
from trellis.keys.signer import MemorySigner
from trellis.node.network import is_network_dir, load_network


def _percentile(sorted_ms: list[float], q: float) -> float:
    if not sorted_ms:
        return float("nan")
    i = min(len(sorted_ms) - 1, max(0, round(q * (len(sorted_ms) - 1))))
    return sorted_ms[i]


def run(urls: list[str], chain_id: str, rate: float, duration: float, timeout: float = 30.0) -> dict[str, object]:
    """Run the load; return the report."""
    count = int(rate * duration)
    raws = []
    for i in range(count):
        signer = MemorySigner(i.to_bytes(4, "big") * 8)
        body = TxBody(
            chain_id=chain_id,
            sender=signer.public_key,
            nonce=0,
            payload=KvPut(namespace="latency", key=b"k%d" % i, value=b"v"),
        )
        raws.append(encode(sign_tx(body, signer.sign)))
    latencies: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()
    start = time.monotonic() + 0.5

    def send(i: int) -> None:
        scheduled = start + i / rate
        delay = scheduled - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        req = urllib.request.Request(
            urls[i % len(urls)] + f"/v1/txs?wait=commit&timeout={int(timeout)}", data=raws[i], method="POST"
        )
        req.add_header("Content-Type", "application/octet-stream")
        try:
            with urllib.request.urlopen(req, timeout=timeout + 5) as r:
                answer = json.loads(r.read())
            status = answer["status"]
            code = (answer.get("receipt") or {}).get("code") if status == "committed" else None
        except (urllib.error.URLError, OSError, ValueError, KeyError, AttributeError) as exc:
            with lock:
                failures.append(str(exc))
            return
        done = time.monotonic()
        with lock:
            if status == "committed" and code == 0:  # committed with a failing receipt is not a success
                latencies.append((done - scheduled) * 1000)
            elif status == "committed":
                failures.append(f"committed with receipt code {code}")
            else:
                failures.append(status)

    with ThreadPoolExecutor(max_workers=min(256, max(8, int(rate * 2)))) as pool:
        list(pool.map(send, range(count)))
    lat = sorted(latencies)
    return {
        "benchmark": "submit_to_commit_latency",
        "machine": {
            "cpus": __import__("os").cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "config": {"nodes": len(urls), "offered_rate_tps": rate, "duration_s": duration, "workload": "kv.put"},
        "committed": len(lat),
        "failed": len(failures),
        "latency_ms": {
            "p50": round(_percentile(lat, 0.50), 1),
            "p95": round(_percentile(lat, 0.95), 1),
            "p99": round(_percentile(lat, 0.99), 1),
            "max": round(lat[-1], 1) if lat else None,
        },
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--home", default=".trellis", help="a network directory (trellis net init) or one node home")
    p.add_argument("--node", action="append", help="API URL (repeatable); default: every node of --home")
    p.add_argument("--rate", type=float, default=50.0, help="offered load, transactions per second")
    p.add_argument("--duration", type=float, default=20.0, help="seconds of load")
    a = p.parse_args()
    home = Path(a.home)
    urls = a.node or ([n.api_url for n in load_network(home)] if is_network_dir(home) else ["http://127.0.0.1:8680"])
    with urllib.request.urlopen(urls[0] + "/v1/status", timeout=5) as r:
        chain_id = json.loads(r.read())["chain_id"]
    print(json.dumps(run(urls, chain_id, a.rate, a.duration), indent=2))


if __name__ == "__main__":
    main()
