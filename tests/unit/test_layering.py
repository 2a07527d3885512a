"""The layering rules of DESIGN.md section 1, checked by parsing the source (nothing is imported).

``trellis/core`` is pure and deterministic: it may import the rest of ``trellis.core``, the standard library's
pure modules, ``msgspec`` and the crypto libraries, and nothing that belongs to the shell or does I/O, reads a
clock or draws randomness. Every package's ``__init__.py`` opens with a docstring saying what lives there.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE_ROOT = Path(__file__).resolve().parents[2] / "trellis"
CORE_ROOT = PACKAGE_ROOT / "core"

FORBIDDEN_IN_CORE = frozenset(
    {
        # The shell (and anything else outside the core).
        "trellis.node",
        "trellis.p2p",
        "trellis.storage",
        "trellis.api",
        "trellis.cli",
        "trellis.app",
        "trellis.keys",
        "trellis.bench",
        "trellis.abci",
        # I/O, clocks, randomness, concurrency.
        "asyncio",
        "socket",
        "time",
        "random",
        "secrets",
        "os",
        "threading",
        "multiprocessing",
        "concurrent",
        "subprocess",
        "datetime",
        "logging",
        "importlib",
    }
)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE_ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(source: str, module: str, is_package: bool) -> set[str]:
    """Return every absolute module name ``source`` imports, relative imports resolved against ``module``.

    For ``from X import a`` both ``X`` and ``X.a`` are reported, so ``from trellis import node`` counts as
    importing ``trellis.node``.
    """
    package = module if is_package else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package.split(".")
                base_parts = base_parts[: len(base_parts) - (node.level - 1)]
                base = ".".join(base_parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def forbidden_imports(modules: set[str]) -> set[str]:
    """Return the members of ``modules`` that are, or lie inside, a module the core must not import."""
    bad = set()
    for name in modules:
        parts = name.split(".")
        for i in range(1, len(parts) + 1):
            if ".".join(parts[:i]) in FORBIDDEN_IN_CORE:
                bad.add(name)
    return bad


def _core_files() -> list[Path]:
    return sorted(CORE_ROOT.rglob("*.py"))


def _init_files() -> list[Path]:
    return sorted(PACKAGE_ROOT.rglob("__init__.py"))


def test_the_core_package_has_python_files_to_check() -> None:
    assert len(_core_files()) >= 10


@pytest.mark.parametrize("path", _core_files(), ids=lambda p: str(p.relative_to(PACKAGE_ROOT)))
def test_core_module_imports_nothing_from_the_shell_or_io(path: Path) -> None:
    modules = imported_modules(path.read_text(), _module_name(path), path.name == "__init__.py")
    assert forbidden_imports(modules) == set()


@pytest.mark.parametrize("path", _init_files(), ids=lambda p: str(p.relative_to(PACKAGE_ROOT)))
def test_package_init_opens_with_a_docstring(path: Path) -> None:
    tree = ast.parse(path.read_text())
    assert tree.body, f"{path} is empty"
    first = tree.body[0]
    assert isinstance(first, ast.Expr)
    assert isinstance(first.value, ast.Constant)
    assert isinstance(first.value.value, str)
    assert first.value.value.strip()


def test_layering_check_flags_a_plain_import_of_a_forbidden_module() -> None:
    modules = imported_modules("import os.path\n", "trellis.core.codec", False)
    assert forbidden_imports(modules) == {"os.path"}


def test_layering_check_flags_a_from_import_of_a_shell_package() -> None:
    modules = imported_modules("from trellis import storage\n", "trellis.core.codec", False)
    assert forbidden_imports(modules) == {"trellis.storage"}


def test_layering_check_resolves_relative_imports() -> None:
    modules = imported_modules("from ...node import mempool\n", "trellis.core.ledger.tx", False)
    assert forbidden_imports(modules) == {"trellis.node", "trellis.node.mempool"}


def test_layering_check_allows_pure_standard_library_and_core_imports() -> None:
    source = "import hashlib\nfrom typing import Any\nfrom trellis.core.codec import encode\nimport msgspec\n"
    assert forbidden_imports(imported_modules(source, "trellis.core.params", False)) == set()


def test_layering_check_does_not_confuse_a_module_with_a_longer_name() -> None:
    # "timeit" is not "time"; "osmosis" is not "os".
    assert forbidden_imports({"timeit", "osmosis", "trellis.nodes_helper"}) == set()
