"""``trellis hub chains``: every page, and saying so when the pages were read at different heights or the walk
stopped at ``_MAX_PAGES`` (the route takes no ``height=``, so pages cannot be pinned to one height)."""

from __future__ import annotations

import argparse
import json
from typing import Any

import pytest

from trellis.cli import hub as cli_hub
from trellis.cli import main as cli


class _Pages:
    """A node answering ``/v1/hub/chains`` one chain a page, the height moving on after ``moves_after`` pages."""

    def __init__(self, n: int, moves_after: int | None = None) -> None:
        self.n, self.moves_after, self.calls = n, moves_after, 0

    def get(self, path: str) -> dict[str, Any]:
        i = self.calls
        self.calls += 1
        height = 10 + (1 if self.moves_after is not None and i >= self.moves_after else 0)
        chain = {"chain_id": f"c{i}", "status": "active", "operator_org": "o", "genesis_hash": "0x00",
                 "registered_height": 1, "retired_height": 0, "client_id": "", "connection_id": "", "channels": []}  # fmt: skip
        nxt = f"c{i}" if i + 1 < self.n else None
        return {"height": height, "count": self.n, "chains": [chain], "next_cursor": nxt}


def _run(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], pages: _Pages, *flags: str) -> str:
    monkeypatch.setattr(cli, "_client", lambda args: pages)
    parser = argparse.ArgumentParser()
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true")
    cli_hub.register(parser.add_subparsers(dest="cmd"), common)
    args = parser.parse_args(["hub", "chains", *flags])
    assert args.func(args) == 0
    return capsys.readouterr().out


def test_all_pages_at_one_height_say_nothing_more(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = _run(monkeypatch, capsys, _Pages(3))
    assert "listed 3" in out and "NOTE" not in out and "INCOMPLETE" not in out
    data = json.loads(_run(monkeypatch, capsys, _Pages(3), "--json"))
    assert data["complete"] is True and data["next_cursor"] is None and data["heights"] == [10, 10]


def test_pages_at_different_heights_are_named(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = _run(monkeypatch, capsys, _Pages(3, moves_after=1))
    assert "NOTE: the 3 pages were read at heights 10 to 11" in out
    assert json.loads(_run(monkeypatch, capsys, _Pages(3, moves_after=1), "--json"))["heights"] == [10, 11]


def test_a_walk_cut_off_at_max_pages_says_so(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(cli_hub, "_MAX_PAGES", 2)
    pages = _Pages(5)
    out = _run(monkeypatch, capsys, pages)
    assert pages.calls == 2 and "listed 2" in out and "INCOMPLETE: stopped after 2 pages; more remain after c1" in out
    data = json.loads(_run(monkeypatch, capsys, _Pages(5), "--json"))
    assert data["complete"] is False and data["next_cursor"] == "c1"
