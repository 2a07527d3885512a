"""The hub bench counts the state tree's tables as they are since ADR 0018 (``smt_values`` is no longer written)."""

from __future__ import annotations

from trellis.bench.hub import _state_of


def test_tree_bytes_count_nodes_old_values_and_lifetime_rows() -> None:
    tables = {
        "state": {"bytes": 1, "entries": 1},
        "smt_nodes": {"bytes": 10, "entries": 2},
        "smt_hist": {"bytes": 100, "entries": 3},
        "smt_born": {"bytes": 1000, "entries": 4},
        "smt_stale": {"bytes": 10000, "entries": 5},
        "smt_values": {"bytes": 100000, "entries": 6},
        "blocks": {"bytes": 1000000, "entries": 7},
    }
    out = _state_of(tables)
    assert out["tree_bytes"] == 111110 and out["state_bytes"] == 111111 and out["all_bytes"] == 1111111
    assert out["tree_nodes"] == 2 and out["tree_hist_values"] == 9 and out["tree_lifetime_rows"] == 9
