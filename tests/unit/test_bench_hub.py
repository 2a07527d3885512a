"""``trellis bench --workload hub`` (ADR 0016 section 3): the simulated sub-chains are accepted by the hub's real
handlers, a tiny run through a real hub node reports the expected shape, and only successful transactions count."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from trellis.bench.hub import HubBenchConfig, count_routed, run_hub_suite, summary
from trellis.bench.subchains import MAX_CLOCK_DRIFT_MS, TRUSTING_PERIOD_MS, SimSubChain
from trellis.core.codec import encode
from trellis.core.execution.results import TxFailure
from trellis.core.ledger.state_tree import StateProof, root_from_state_proof
from trellis.core.modules.interchain.client import counterparty_params, decode_update, new_client, verify_header


def test_simulated_chain_headers_verify_like_a_real_chain() -> None:
    """The hub's client rules accept a simulated chain's genesis, first header and adjacent updates; a header whose
    commit lacks a signature is refused; proofs of its tiny tree match the header's state root."""
    now = int(time.time() * 1000)
    chain = SimSubChain(7, now - 600_000)
    params = counterparty_params(chain.genesis_bytes, chain.chain_id)
    assert params.genesis_hash == chain.genesis_hash
    h, c = chain.next_block()
    client, cs = new_client(params, [], h, c, TRUSTING_PERIOD_MS, MAX_CLOCK_DRIFT_MS, now)
    for _ in range(3):
        trusted = chain.height
        h, c = chain.next_block()
        lb, tv = decode_update(chain.update("client-0", trusted, h, c).update)
        cs = verify_header(client, trusted, cs, tv, lb, now)
    chain.write({b"k": b"v"})
    h, c = chain.next_block()
    proof = chain.prove(b"k", chain.height)
    from trellis.core.codec import decode

    assert root_from_state_proof(params.suite, b"k", b"v", decode(proof, StateProof)) == chain.roots[chain.height]
    # Two signatures of four equal powers are not more than 2/3: refused.
    from trellis.core.ledger.block import Commit

    short = decode(c, Commit)
    weak = encode(Commit(height=short.height, round=0, block_hash=short.block_hash, signatures=short.signatures[:2]))
    lb, tv = decode_update(chain.update("client-0", chain.height - 1, h, weak).update)
    with pytest.raises(TxFailure):
        verify_header(client, chain.height - 1, cs, tv, lb, now)


def _ev(type_: str, **attrs: str) -> dict[str, object]:
    return {"type": type_, "attributes": attrs}


def test_count_routed_counts_only_forwarded_successes() -> None:
    ok_item = [_ev("interchain.recv_packet", sequence="1"), _ev("interchain.item", index="0", code="0")]
    error_ack = [
        _ev("interchain.recv_packet", sequence="2"),
        _ev("interchain.write_ack", sequence="2"),
        _ev("interchain.item", index="1", code="0"),
    ]
    refused = [_ev("interchain.item", index="2", code="37")]
    receipt = {"code": 0, "events": [_ev("interchain.client_updated"), *ok_item, *error_ack, *refused, *ok_item]}
    assert count_routed(receipt) == (2, 2)
    assert count_routed({"code": 5, "events": ok_item}) == (0, 0)


def test_tiny_hub_run(tmp_path: Path) -> None:
    """Four chains through a real hub node: every client created, every update and every routed packet a
    successful transaction, and the report's shape (JSON file, table, cost model)."""
    cfg = HubBenchConfig(
        chains=4,
        update_rate=40.0,
        duration_s=1.0,
        saturation_rate=200.0,
        saturation_s=0.5,
        packet_chains=2,
        packet_rate=16.0,
        packet_duration_s=1.0,
        idle_s=0.3,
    )
    report = run_hub_suite([cfg], tmp_path, with_plot=False, label="unit test")
    on_disk = json.loads(Path(report["files"]["json"]).read_text())
    assert on_disk["runs"] == report["runs"]
    (run,) = report["runs"]
    assert run["chains"] == 4
    create, update, packets = run["create"], run["update"], run["packets"]
    assert (create["committed_txs"], create["failed_txs"], create["rejected_txs"]) == (4, 0, 0)
    # Two chains send packets (their updates ride in the relays); the two others are updated every round.
    assert update["offered_txs"] == 2 * run["config"]["update_rounds"]
    assert (update["committed_txs"], update["failed_txs"], update["rejected_txs"]) == (update["offered_txs"], 0, 0)
    assert update["latency_ms"]["p50"] > 0 and update["hub_cpu_us_per_tx"] is not None
    sat = run["update_saturation"]
    assert sat["offered_txs"] == 2 * run["config"]["saturation_rounds"] == 100
    assert (sat["committed_txs"], sat["failed_txs"], sat["rejected_txs"]) == (100, 0, 0)
    assert run["max_updates_per_s"] == max(update["committed_tps"], sat["committed_tps"])
    assert packets["packets_offered"] == 16
    assert packets["packets_routed"] == 16 == packets["second_hops_sent_by_hub_state"]
    assert (packets["relays_failed"], packets["items_refused_or_error_acked"]) == (0, 0)
    per_chain = run["state_per_chain"]["after_create"]
    assert per_chain["state_keys"] >= 2 and per_chain["tree_nodes"] > 0  # a client and a consensus state per chain
    assert run["rss"]["after_updates"]["node_mb"] > 0
    model = report["cost_model"]
    # A run this small measures CPU within the noise (the idle rate is subtracted): only the model's shape here.
    assert isinstance(model["cores"], float) and model["cpu_us_per_update"] == update["hub_cpu_us_per_tx"]
    assert model["targets"]["chains"] == 10_000 and "history_bytes_per_update" in model
    assert report["machine"]["cores"] >= 1
    assert "cost model" in summary(report)
