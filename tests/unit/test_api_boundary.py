"""The REST API reads the node only through the ABCI boundary (ADR 0013 section 6), and its module routes come
from one registry (``trellis.api.registry.ROUTE_MODULES``).

The boundary: state through ``node.app.reader()`` (or the application's typed reads), blocks, receipts and
transaction positions through ``node.blocks`` (the block-store port), the consensus position through
``node.driver.status()``, stage times through the ``StageTimes`` the API is given. Never the storage beneath
(``.store.kv``), the application's store (``app.store``), the driver's machine (``driver.state``), the
application's or the driver's stage counters (``app.stages``: the API reads the ``StageTimes`` the node
was given, ``node.stages``) or the old chain-store attribute (``node.store``). A state value with its proof is
asked with ``node.app.query(QueryRequest(path="state", ...))``, never through the application's own
``prove``/``state_value`` (not part of ``Application``).
"""

from __future__ import annotations

import ast
import re
from collections import Counter
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any, cast

import pytest

import trellis
from trellis.api import registry
from trellis.api.openapi import openapi_document
from trellis.api.server import build_app
from trellis.core.crypto.suite import suite_by_name
from trellis.node.node import Node

_ROOT = Path(trellis.__file__).parent
_CHECKED = [*sorted((_ROOT / "api").glob("*.py")), _ROOT / "bench" / "did_scale.py"]
_FORBIDDEN = {
    "the storage under the chain store": re.compile(r"(^|\.)store\.kv$"),
    "the application's store": re.compile(r"(^|\.)app\.store$"),
    "the consensus driver's state machine": re.compile(r"(^|\.)driver\.state$"),
    # The StageTimes the node was given (node.stages) is the API's; any other object's is not.
    "stage counters other than the node's": re.compile(r"(^|\.)(?!node\.)[A-Za-z_?]+\.stages$"),
    "the node's chain store (use node.blocks)": re.compile(r"(^|\.)node\.store$"),
}
_FORBIDDEN_CALLS = {
    # Called on any object: the application's proof and value reads outside the ABCI protocol.
    "the application's proof or value read (use app.query(QueryRequest(path='state', ...)))": re.compile(
        r"(^|\.)_?(prove|state_value)$"
    ),
}


def _chain(node: ast.Attribute) -> str:
    """``a.b.c`` for an attribute chain; a part that is not a name (a call, a subscript) reads ``?``."""
    parts: list[str] = []
    cur: ast.expr = node
    while isinstance(cur, ast.Attribute):
        parts.append(cur.attr)
        cur = cur.value
    parts.append(cur.id if isinstance(cur, ast.Name) else "?")
    return ".".join(reversed(parts))


def _reach_ins(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            chain = _chain(node)
            for what, pattern in _FORBIDDEN.items():
                if pattern.search(chain):
                    found.append(f"{path.relative_to(_ROOT.parent)}:{node.lineno}: {chain} ({what})")
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            chain = _chain(node.func)
            for what, pattern in _FORBIDDEN_CALLS.items():
                if pattern.search(chain):
                    found.append(f"{path.relative_to(_ROOT.parent)}:{node.lineno}: {chain}() ({what})")
    return found


def test_the_api_reads_the_node_only_through_the_abci_boundary() -> None:
    assert len(_CHECKED) > 10  # the glob found the package
    found = [line for path in _CHECKED for line in _reach_ins(path)]
    assert not found, "\n".join(found)


@pytest.mark.parametrize(
    "source",
    [
        "x = self.node.store.kv.scan('state', b'', b'', limit=1)",
        "x = node.app.store.get",
        "x = self.node.driver.state.round",
        "x = self.node.app.stages.snapshot()",
        "x = app.stages",
        "x = self.node.driver.stages",
        "x = self.node.store.block(1)",
    ],
)
def test_the_boundary_check_sees_each_reach_in(source: str) -> None:
    chains = [_chain(n) for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Attribute)]
    assert any(p.search(c) for c in chains for p in _FORBIDDEN.values()), chains


def _called(source: str) -> set[str]:
    """The attribute chains ``source`` calls."""
    tree = ast.parse(source)
    return {_chain(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)}


def _forbidden_calls(source: str) -> set[str]:
    """The calls in ``source`` that ``_FORBIDDEN_CALLS`` refuses."""
    return {c for c in _called(source) for p in _FORBIDDEN_CALLS.values() if p.search(c)}


@pytest.mark.parametrize(
    "source",
    [
        "v, p, h = self.node.app.prove(key, height)",
        "v = self.node.app.state_value(key, None)",
        "v = app.prove(key)[0]",
        "a = self.node.app\nv = a._state_value(key)",
    ],
)
def test_the_boundary_check_sees_each_proof_read_past_the_query(source: str) -> None:
    assert _forbidden_calls(source), _called(source)


def test_the_boundary_check_allows_the_ports() -> None:
    source = "a = self.node.stages.snapshot()\nb = self.node.blocks.block(1)\nc = self.node.app.reader().get(b'k')\n"
    chains = [_chain(n) for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Attribute)]
    assert not [c for c in chains for p in _FORBIDDEN.values() if p.search(c)]
    query = "prove = bool_param(r, 'prove')\nres = app.query(QueryRequest(path='state', key=k, prove=prove))\np = res.proof\n"
    assert not _forbidden_calls(query)


# -- the route registry ------------------------------------------------------------------------------------------
def _fake_node() -> Node:
    """What ``build_app`` and the routes files read of a node when they mount (handlers are never called)."""
    node = SimpleNamespace(
        config=SimpleNamespace(
            api=SimpleNamespace(max_body_bytes=1 << 20),
            blobs=SimpleNamespace(chunk_bytes=1 << 20, max_upload_bytes=1 << 24),
        ),
        params=SimpleNamespace(suite=suite_by_name("ed25519")),
        blobs=None,
        tsa=None,
    )
    return cast(Node, node)


def _defs(routes: list[Any]) -> list[tuple[str, str]]:
    return [(r.method, r.path) for r in routes]


def _mounted(node: Node) -> list[tuple[str, str]]:
    app = build_app(node)
    return [
        (route.method, route.resource.canonical)
        for route in app.router.routes()
        if route.resource is not None and route.method != "HEAD"
    ]


def test_every_routes_file_is_listed_once() -> None:
    modules = cast(tuple[ModuleType, ...], registry.ROUTE_MODULES)
    names = [m.__name__ for m in modules]
    assert len(names) == len(set(names)), Counter(names).most_common(3)
    with_routes = {
        f"trellis.api.{p.stem}"
        for p in (_ROOT / "api").glob("*.py")
        if any(isinstance(n, ast.FunctionDef) and n.name == "routes" for n in ast.parse(p.read_text()).body)
    }
    assert with_routes == set(names), "list every routes file in trellis/api/registry.py ROUTE_MODULES"


def test_every_registered_route_is_mounted_and_none_twice() -> None:
    node = _fake_node()
    mounted = _mounted(node)
    twice = [k for k, n in Counter(mounted).items() if n > 1]
    assert not twice, f"routes defined twice: {twice}"
    for module in registry.ROUTE_MODULES:
        for key in _defs(module.routes(node)):
            assert key in mounted, f"{key} of {module} is not mounted"


def test_every_registered_route_is_documented_and_every_documented_path_routed() -> None:
    node = _fake_node()
    doc = openapi_document()["paths"]
    for module in registry.ROUTE_MODULES:
        routed = {(m.lower(), p) for m, p in _defs(module.routes(node)) if m != "HEAD"}
        documented = {(m, p) for p, item in module.OPENAPI_PATHS.items() for m in item}
        assert routed == documented, module
        for method, path in documented:
            assert method in doc[path], (method, path)


def test_every_registered_schema_is_a_component() -> None:
    components = openapi_document()["components"]["schemas"]
    for module in registry.ROUTE_MODULES:
        for cls in module.SCHEMAS:
            assert cls.__name__ in components, (module, cls)
