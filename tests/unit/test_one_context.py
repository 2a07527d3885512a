"""One transaction context, one state reader, one ``ScanFn`` (ADR 0013 section 2).

``trellis.core.execution.context`` defines ``ScanFn``, ``CountedScanFn``, ``StateReader`` and ``TxContext``;
handlers take ``ctx: TxContext`` and read helpers take ``state: StateReader``. These checks keep a second
context protocol, a ``get``/``scan`` function alias or a helper taking bound methods from coming back.
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import trellis
from trellis.core.execution.context import StateReader, TxContext
from trellis.core.modules.registry import HANDLERS

_ROOT = Path(trellis.__file__).parent
_CONTEXT = _ROOT / "core" / "execution" / "context.py"
_ALIASES = {"GetFn", "Get", "Scan", "ScanFn", "CountedScanFn"}
_ONLY_IN_CONTEXT = {"ScanFn", "CountedScanFn"}
# (file, function) pairs whose get/scan parameters are plain functions by design: the context is built from the
# executor's get, and plain_scan adapts a ScanFn into a CountedScanFn. (A CountedScanFn parameter is not a
# read helper's: it is the contracts engine's gas-counting scan.)
_FUNCTION_PARAMETERS = {("core/execution/context.py", "__init__"), ("core/modules/contracts/engine.py", "plain_scan")}


def _trees(under: Path) -> list[tuple[Path, ast.Module]]:
    return [(p, ast.parse(p.read_text(), str(p))) for p in sorted(under.rglob("*.py"))]


def _rel(path: Path) -> str:
    return path.relative_to(_ROOT).as_posix()


def _alias_names(tree: ast.Module) -> list[str]:
    names = []
    for node in tree.body:
        if isinstance(node, ast.Assign):
            names += [t.id for t in node.targets if isinstance(t, ast.Name)]
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.append(node.target.id)
    return [n for n in names if n in _ALIASES]


def test_no_context_protocol_outside_context_py() -> None:
    found = []
    for path, tree in _trees(_ROOT / "core"):
        for node in ast.walk(tree):
            if not isinstance(node, ast.ClassDef) or path == _CONTEXT:
                continue
            bases = {b.id if isinstance(b, ast.Name) else getattr(b, "attr", "") for b in node.bases}
            if "Protocol" in bases and ("Ctx" in node.name or "Context" in node.name):
                found.append(f"{_rel(path)}:{node.lineno}: {node.name}")
    assert not found, "a second transaction-context protocol (use TxContext):\n" + "\n".join(found)


def test_scan_fn_is_defined_once_and_no_get_or_scan_alias_exists() -> None:
    found = []
    for path, tree in _trees(_ROOT):
        for name in _alias_names(tree):
            if not (path == _CONTEXT and name in _ONLY_IN_CONTEXT):
                found.append(f"{_rel(path)}: {name}")
    assert not found, "a get/scan alias (use StateReader, or ScanFn from context.py):\n" + "\n".join(found)
    context_aliases = _alias_names(ast.parse(_CONTEXT.read_text()))
    assert sorted(context_aliases) == ["CountedScanFn", "ScanFn"]


def test_read_helpers_take_a_state_reader_not_its_methods() -> None:
    found = []
    for path, tree in _trees(_ROOT):
        for node in ast.walk(tree):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            if (_rel(path), node.name) in _FUNCTION_PARAMETERS:
                continue
            args = node.args.posonlyargs + node.args.args + node.args.kwonlyargs
            for arg in args:
                note = "" if arg.annotation is None else ast.unparse(arg.annotation)
                if arg.arg in ("get", "scan") and (note in _ALIASES - {"CountedScanFn"} or note.startswith("Callable")):
                    found.append(f"{_rel(path)}:{node.lineno}: {node.name}({arg.arg}: {ast.unparse(arg.annotation)})")
    assert not found, "a helper takes a get/scan function (take state: StateReader):\n" + "\n".join(found)


def test_every_handler_takes_a_tx_context_first() -> None:
    wrong = []
    for msg, handler in HANDLERS.items():
        first = next(iter(inspect.signature(handler).parameters.values()))
        if first.annotation not in ("TxContext", TxContext):
            wrong.append(f"{msg.__name__}: {handler.__module__}.{handler.__name__}({first.name}: {first.annotation})")
    assert not wrong, "handlers are typed ctx: TxContext:\n" + "\n".join(wrong)


def test_every_handle_function_in_a_handlers_file_takes_a_tx_context_first() -> None:
    wrong = []
    for path, tree in _trees(_ROOT / "core" / "modules"):
        if path.name != "handlers.py":
            continue
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith("handle_"):
                first = node.args.args[0] if node.args.args else None
                if first is None or first.annotation is None or ast.unparse(first.annotation) != "TxContext":
                    wrong.append(f"{_rel(path)}:{node.lineno}: {node.name}")
    assert not wrong, "handlers are typed ctx: TxContext:\n" + "\n".join(wrong)


def _reads(state: StateReader) -> tuple[bytes | None, list[tuple[bytes, bytes]]]:
    return state.get(b"a"), state.scan(b"", b"\xff", 10)


def test_a_tx_context_is_a_state_reader_whose_scan_drops_the_count(params: object) -> None:
    store = {b"a": b"1", b"b": b"2"}

    def counted(start: bytes, end: bytes, limit: int) -> tuple[list[tuple[bytes, bytes]], int]:
        return sorted((k, v) for k, v in store.items() if start <= k < end)[:limit], 7

    ctx = TxContext(b"\x01" * 20, params, 1, store.get, lambda k, v: None, scan=counted)  # type: ignore[arg-type]
    assert _reads(ctx) == (b"1", [(b"a", b"1"), (b"b", b"2")])
    assert ctx.scan_counted(b"", b"\xff", 1) == ([(b"a", b"1")], 7)
