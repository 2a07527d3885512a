"""``trellis.blobs`` imports what its ``__init__`` docstring allows: the core and libraries, never the shell."""

from __future__ import annotations

import ast
from pathlib import Path

BLOBS = Path(__file__).resolve().parents[2] / "trellis" / "blobs"
FORBIDDEN = ("trellis.node", "trellis.p2p", "trellis.storage", "trellis.api", "trellis.cli", "trellis.app")


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def test_blobs_import_nothing_from_the_shell() -> None:
    bad = {
        f"{path.name}: {name}"
        for path in BLOBS.glob("*.py")
        for name in _imports(path)
        if any(name == f or name.startswith(f + ".") for f in FORBIDDEN)
    }
    assert not bad


def test_the_package_docstring_states_its_import_rules() -> None:
    doc = ast.get_docstring(ast.parse((BLOBS / "__init__.py").read_text())) or ""
    assert "May import" in doc and "Must not import" in doc
