"""The rules a transaction must pass are written once (``trellis/core/execution/rules.py``, ADR 0013 section 4).

Admission, the proposer and execution all judge through ``TxRules.check``; a rule written into one of them
alone would let the three disagree (a transaction admitted but never proposable, or proposed into a block every
node refuses). So the rules' ingredients may appear only where the rules are written (``rules.py``) or defined
(the membership view, the chain parameters), and each caller must go through ``TxRules.check`` at its stage.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TRELLIS = ROOT / "trellis"
RULES = "trellis/core/execution/rules.py"

ALLOWED: dict[str, frozenset[str]] = {
    "check_sender(": frozenset({RULES, "trellis/core/modules/membership/view.py"}),
    "MembershipView(": frozenset({RULES, "trellis/core/modules/membership/view.py"}),
    "max_block_gas": frozenset({RULES, "trellis/core/params.py"}),
    '"bad_nonce"': frozenset({RULES}),
    '"too_much_gas"': frozenset({RULES}),
}
"""Text that belongs to the rules -> the only files that may contain it."""

CALLERS = {
    "ADMISSION": "trellis/app/application.py",
    "PROPOSAL": "trellis/app/application.py",
    "EXECUTION": "trellis/core/execution/reference.py",
}
"""Each stage -> the file that judges at that stage."""


def _sources() -> dict[str, str]:
    return {p.relative_to(ROOT).as_posix(): p.read_text(encoding="utf-8") for p in sorted(TRELLIS.rglob("*.py"))}


@pytest.mark.parametrize("token", sorted(ALLOWED))
def test_a_rule_is_written_only_in_rules_py(token: str) -> None:
    found = {path for path, text in _sources().items() if token in text}
    assert found <= ALLOWED[token], (
        f"{token!r} appears in {sorted(found - ALLOWED[token])}: a transaction rule belongs in {RULES} "
        "(TxRules.check), which admission, the proposer and execution all call"
    )
    assert RULES in found  # the allow-list names what the rules use


def _stage_checks(tree: ast.AST) -> set[str]:
    """The stages ``X`` of every call ``<something>.check(Stage.X, ...)`` in ``tree``."""
    stages = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "check"
            and node.args
            and isinstance(node.args[0], ast.Attribute)
            and isinstance(node.args[0].value, ast.Name)
            and node.args[0].value.id == "Stage"
        ):
            stages.add(node.args[0].attr)
    return stages


@pytest.mark.parametrize("stage", sorted(CALLERS))
def test_each_caller_judges_through_tx_rules_at_its_stage(stage: str) -> None:
    path = CALLERS[stage]
    assert stage in _stage_checks(ast.parse((ROOT / path).read_text(encoding="utf-8"))), (
        f"{path} no longer calls TxRules.check(Stage.{stage}, ...)"
    )


def test_only_the_callers_judge_transactions() -> None:
    judging = {path for path, text in _sources().items() if _stage_checks(ast.parse(text))}
    assert judging == set(CALLERS.values())


def test_the_fast_path_checks_its_transfers_through_the_block_run() -> None:
    """The block-level transfer path checks each transfer with ``BlockRun.check`` (the rules at execution), not a
    copy of them."""
    tree = ast.parse((TRELLIS / "core/execution/fast_path.py").read_text(encoding="utf-8"))
    calls = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "check"
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == "run"
    ]
    assert len(calls) == 1
