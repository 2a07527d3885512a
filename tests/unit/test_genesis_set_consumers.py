"""The genesis validator set is read only where ADR 0014 allows: everything else uses the set in force.

Since validators change by governance (ADR 0014), a consumer that reads ``ChainParams.validators`` (the genesis
set) judges later heights by the wrong set: a removed validator's votes would count, an added one's would not.
This test fails when a new reader of the genesis set appears outside the allowed places, so the next one is
a decision (and an addition here), not an accident.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2] / "trellis"

_GENESIS_SET = re.compile(r"\bparams\.validators\b|\bvalidator_addresses\(|\bgenesis\.validators\b")

ALLOWED = {
    "core/params.py": "builds ChainParams.validators from the genesis document",
    "core/modules/validators/state.py": "writes the genesis entry (set(1)) into state",
    "core/lightclient.py": "TrustedState.from_genesis: the light client's root of trust",
    "node/assembly.py": "one validator and no peers: the in-memory transport (a network of one)",
    "bench/subchains.py": "a simulated sub-chain never changes its validators: its genesis set signs every header",
}


def genesis_set_readers() -> dict[str, list[str]]:
    """Every file under ``trellis/`` that names the genesis set, with the lines that do."""
    found: dict[str, list[str]] = {}
    for path in sorted(ROOT.rglob("*.py")):
        lines = [line.strip() for line in path.read_text().splitlines() if _GENESIS_SET.search(line)]
        if lines:
            found[path.relative_to(ROOT).as_posix()] = lines
    return found


def test_the_genesis_validator_set_is_read_only_where_the_adr_allows() -> None:
    outside = {path: lines for path, lines in genesis_set_readers().items() if path not in ALLOWED}
    assert not outside, f"read the set in force at the height instead of the genesis set: {outside}"


def test_the_pattern_finds_each_allowed_reader() -> None:
    # Guards the guard: if a rename made the pattern blind, every allowed file would drop out of the list.
    assert set(genesis_set_readers()) >= {"core/params.py", "core/modules/validators/state.py", "core/lightclient.py"}
