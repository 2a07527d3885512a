"""The layering rules (DESIGN.md section 1, ADR 0013 section 7), checked by parsing the source (nothing is imported).

``trellis/core`` is pure and deterministic: it may import the rest of ``trellis.core``, the standard library's
pure modules, ``msgspec`` and the crypto libraries, and nothing that belongs to the shell or does I/O, reads a
clock or draws randomness. Every package's ``__init__.py`` opens with a docstring saying what lives there.

Every file under ``trellis/`` imports only the trellis packages its package may (``MAY_IMPORT``, ADR 0013
section 7): the core only the core (the ledger sees modules through the payload union, a module's messages only
other messages, no module another's handlers, consensus no executor), ``abci`` the core and the block-store
port, ``app`` the core, ``abci``, storage and the libraries, ``node`` the application only in ``assembly``, the
API never the storage nor the application object. Outside ``app/`` and ``storage/`` no code reaches past the ABCI
boundary by an attribute chain (``.store.kv``, ``app.store``, ``driver.state``, ``app.stages``, ``node.store``).
"""

from __future__ import annotations

import ast
import re
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
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _from_base(node, module, is_package)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def _from_base(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    """The absolute name of the module a ``from ... import`` statement reads, relative levels resolved."""
    if not node.level:
        return node.module or ""
    package = module if is_package else module.rpartition(".")[0]
    base_parts = package.split(".")
    base_parts = base_parts[: len(base_parts) - (node.level - 1)]
    return ".".join(base_parts + ([node.module] if node.module else []))


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


# -- every package's import rule (ADR 0013 section 7) ------------------------------------------------------------
#
# Names below are dotted module names without the leading ``trellis.``. A file is judged by the most specific key
# of MAY_IMPORT that contains it (the key with the most segments; ``*`` stands for any one segment and loses a tie
# to a plain name). A trellis import is allowed when it is, or lies inside, one of the key's entries; ``@`` in an
# entry stands for the importing file's own segment at that place (``core.modules.@`` = the file's own module).
# ``from X import a`` counts as importing ``X.a`` when that is a module and ``X`` otherwise; imports under
# ``TYPE_CHECKING`` and inside functions count like any other. The root package (``trellis``, for
# ``__version__``) may be imported from anywhere.

_CORE_BOTTOM = ("core.types", "core.codec", "core.crypto", "core.errors")
_CORE_NO_CONSENSUS = (*_CORE_BOTTOM, "core.ledger", "core.params", "core.execution", "core.modules")
_SHELL = ("core", "abci", "app", "storage", "keys", "p2p", "blobs", "vc", "notary", "node", "api", "cli", "bench")

MAY_IMPORT: dict[str, frozenset[str]] = {
    "trellis": frozenset(),  # the root package: __version__ and the package list
    # The core: the rest of the core only (and no I/O: FORBIDDEN_IN_CORE above).
    "core": frozenset({"core"}),
    "core.types": frozenset({"core.errors"}),
    "core.errors": frozenset(),
    "core.codec": frozenset({"core.errors", "core.types"}),
    "core.crypto": frozenset({"core.crypto", "core.errors", "core.types"}),
    # Ledger objects see a module only through the payload union (TxBody.payload).
    "core.ledger": frozenset({*_CORE_BOTTOM, "core.ledger", "core.modules.payload"}),
    "core.params": frozenset({*_CORE_BOTTOM, "core.ledger", "core.params", "core.modules.*.messages"}),
    "core.lightclient": frozenset({*_CORE_BOTTOM, "core.ledger", "core.params"}),
    "core.consensus": frozenset({*_CORE_BOTTOM, "core.ledger", "core.params", "core.consensus"}),
    "core.execution": frozenset(_CORE_NO_CONSENSUS),
    # A module's extra files (interchain's client rules verify headers with the light client).
    "core.modules": frozenset({*_CORE_NO_CONSENSUS, "core.lightclient"}),
    "core.modules.payload": frozenset({"core.modules.*.messages"}),
    "core.modules.registry": frozenset({"core.execution.module", "core.modules.*.module"}),
    # One module's shape (section 1): messages < state < handlers < module.
    "core.modules.*.messages": frozenset({*_CORE_BOTTOM, "core.ledger.votes", "core.modules.*.messages"}),
    "core.modules.*.state": frozenset(
        {
            *_CORE_BOTTOM,
            "core.ledger",
            "core.params",
            "core.execution.context",
            "core.modules.*.messages",
            "core.modules.*.state",
            "core.modules.@",
        }
    ),
    "core.modules.*.handlers": frozenset(
        {
            *_CORE_BOTTOM,
            "core.ledger",
            "core.params",
            "core.execution.context",
            "core.execution.results",
            "core.modules.*.messages",
            "core.modules.*.state",
            "core.modules.*.did",  # identity's DID syntax
            "core.modules.*.view",  # membership's certificate checks
            "core.modules.*.governance",  # steps a module's changes take inside membership's governance
            "core.modules.*.packets",  # interchain's send_packet, for modules that send packets (ADR 0015)
            "core.execution.module",  # PacketApp: the packet applications the interchain handlers deliver to
            "core.lightclient",  # interchain's header checks
            "core.modules.@",
        }
    ),
    "core.modules.*.module": frozenset({"core.execution.module", "core.ledger.block", "core.modules.@"}),
    # The boundary: the core's types, and the block-store port.
    "abci": frozenset({"core", "storage.block_store"}),
    # The application behind the boundary; its read side (app.modules) never reaches the application itself.
    "app": frozenset({"core", "abci", "storage", "vc", "blobs", "notary", "app"}),
    # storage.kv for StorageError only (test below): a stored record that does not decode is the node's fault.
    "app.modules": frozenset({"core", "abci", "vc", "notary", "app.modules", "storage.kv"}),
    # The shell: the application only through the boundary, except where the node is assembled.
    "node": frozenset({"core", "abci", "storage", "p2p", "keys", "blobs", "notary", "node"}),
    "node.assembly": frozenset({"core", "abci", "storage", "p2p", "keys", "blobs", "notary", "node", "app"}),
    # The REST API: the node, the boundary and the read side; never the storage nor the application object.
    "api": frozenset({"core", "abci", "app.modules", "node", "vc", "blobs", "notary", "keys", "api"}),
    "storage": frozenset({"core", "storage"}),
    "p2p": frozenset({"core", "keys", "p2p"}),
    "keys": frozenset({"core", "keys"}),
    "blobs": frozenset({"core", "blobs"}),
    "vc": frozenset({"core", "vc"}),
    "notary": frozenset({"core", "keys", "notary"}),
    # The relayer (ADR 0015 section 8): the core's types and checks, the HTTP client and the keys; never the
    # application, the node or the storage (it speaks to chains only through their APIs).
    "relayer": frozenset({"core", "cli.client", "keys", "relayer"}),
    # The web console (ADR 0017): static files only; its package imports nothing of trellis (the API serves it).
    "console": frozenset({"console"}),
    # The top layers: the command line uses everything but the storage (a node is opened through node.assembly);
    # the benchmarks everything below the command line (which runs them), the relayer included.
    "cli": frozenset((set(_SHELL) - {"storage"}) | {"relayer"}),
    "bench": frozenset((set(_SHELL) - {"cli"}) | {"relayer"}),
}

# Outside its own module (whose ``module.py`` declares them for the registry) a module's handlers are imported
# only by the executor; every other file, in the core or the shell, goes through state, view or messages.
HANDLER_IMPORTERS = frozenset({"core.execution"})

# (importing module, imported module) pairs that break a rule today, each with the reason it stays and what
# removes it. The test fails once an exception is no longer needed, so the set only shrinks.
KNOWN_EXCEPTIONS: dict[tuple[str, str], str] = {}


def _segments_match(pattern: str, name: str, importer: str) -> bool:
    """True when ``name`` is ``pattern`` or lies inside it (``*``: any segment; ``@``: ``importer``'s segment)."""
    p, n, own = pattern.split("."), name.split("."), importer.split(".")
    if len(n) < len(p):
        return False
    for i, seg in enumerate(p):
        if seg == "@":
            seg = own[i] if i < len(own) else ""
        if seg != "*" and seg != n[i]:
            return False
    return True


def rule_for(module: str) -> str | None:
    """The key of MAY_IMPORT that judges ``module`` (both without ``trellis.``), or None when no key covers it."""
    keys = [k for k in MAY_IMPORT if _segments_match(k, module, module)]
    if not keys:
        return None
    return max(keys, key=lambda k: (len(k.split(".")), -k.count("*")))


def _is_trellis_module(name: str) -> bool:
    rel = Path(*name.split("."))
    root = PACKAGE_ROOT.parent
    return (root / rel).with_suffix(".py").is_file() or (root / rel / "__init__.py").is_file()


def trellis_imports(source: str, module: str, is_package: bool) -> set[str]:
    """The trellis modules ``source`` imports, without ``trellis.``; ``from X import a`` names ``X.a`` if a module."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _from_base(node, module, is_package)
            for alias in node.names:
                full = f"{base}.{alias.name}"
                found.add(full if _is_trellis_module(full) else base)
    return {n.removeprefix("trellis.") for n in found if n.startswith("trellis.")} | ({"trellis"} & found)


def layering_violations(module: str, imports: set[str]) -> set[str]:
    """The members of ``imports`` that ``module``'s rule does not allow (both named without ``trellis.``)."""
    key = rule_for(module)
    if key is None:
        return {f"<no rule in MAY_IMPORT for {module}>"}
    allowed = MAY_IMPORT[key]
    bad = set()
    for name in imports - {"trellis"}:
        if not any(_segments_match(entry, name, module) for entry in allowed):
            bad.add(name)
        elif _is_handlers(name) and not _may_import_handlers(module, name):
            bad.add(name)
    return bad


def _is_handlers(name: str) -> bool:
    parts = name.split(".")
    return len(parts) >= 4 and parts[:2] == ["core", "modules"] and parts[3] == "handlers"


def _may_import_handlers(module: str, handlers: str) -> bool:
    """A module's handlers are imported by its ``module.py`` (and its own handlers: a ``handlers/`` package's files
    import each other, e.g. interchain's relay batch runs the client update) or by HANDLER_IMPORTERS."""
    own = ".".join(handlers.split(".")[:3])  # core.modules.<name> (handlers.py, or a handlers/ package's file)
    if _segments_match(f"{own}.module", module, module) or _segments_match(f"{own}.handlers", module, module):
        return True
    return any(_segments_match(k, module, module) for k in HANDLER_IMPORTERS)


def test_the_read_side_takes_only_storage_error_from_the_storage() -> None:
    names = {
        alias.name
        for path in sorted((PACKAGE_ROOT / "app" / "modules").rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("trellis.storage")
        for alias in node.names
    }
    assert names <= {"StorageError"}


def _trellis_files() -> list[Path]:
    return sorted(PACKAGE_ROOT.rglob("*.py"))


def _imports_of(path: Path) -> set[str]:
    return trellis_imports(path.read_text(), _module_name(path), path.name == "__init__.py")


def _short(path: Path) -> str:
    return _module_name(path).removeprefix("trellis.") or "trellis"


@pytest.mark.parametrize("path", _trellis_files(), ids=lambda p: str(p.relative_to(PACKAGE_ROOT)))
def test_every_file_imports_only_what_its_package_may(path: Path) -> None:
    module = _short(path)
    bad = layering_violations(module, _imports_of(path))
    unexplained = {name for name in bad if (module, name) not in KNOWN_EXCEPTIONS}
    assert not unexplained, f"{module} (rule {rule_for(module)!r}) may not import {sorted(unexplained)}"


def test_every_known_exception_is_still_needed() -> None:
    current = {(_short(p), name) for p in _trellis_files() for name in layering_violations(_short(p), _imports_of(p))}
    stale = set(KNOWN_EXCEPTIONS) - current
    assert not stale, f"remove from KNOWN_EXCEPTIONS (the import is gone or now allowed): {sorted(stale)}"


# -- reach-ins past the ABCI boundary (ADR 0013 section 6) --------------------------------------------------------
#
# Only the application (app/) and the storage (storage/) touch what lies beneath the boundary. The REST API and
# bench/did_scale.py are checked, with node.store besides, by tests/unit/test_api_boundary.py; this covers the rest.
REACH_INS = {
    "the storage under the chain store": re.compile(r"(^|\.)store\.kv$"),
    "the application's store": re.compile(r"(^|\.)app\.store$"),
    "the consensus driver's state machine (use driver.status())": re.compile(r"(^|\.)driver\.state$"),
    "the application's stage counters (use the StageTimes assembly hands out)": re.compile(r"(^|\.)app\.stages$"),
    "the node's chain store (use node.blocks or node.app.reader())": re.compile(r"(^|\.)node\.store$"),
}
REACH_IN_OWNERS = ("app", "storage")
REACH_IN_CHECKED_ELSEWHERE = ("api", "bench.did_scale")  # tests/unit/test_api_boundary.py


def attribute_chain(node: ast.Attribute) -> str:
    """``a.b.c`` for an attribute chain; a part that is not a name (a call, a subscript) reads ``?``."""
    parts: list[str] = []
    cur: ast.expr = node
    while isinstance(cur, ast.Attribute):
        parts.append(cur.attr)
        cur = cur.value
    parts.append(cur.id if isinstance(cur, ast.Name) else "?")
    return ".".join(reversed(parts))


def reach_ins(source: str) -> list[tuple[int, str, str]]:
    """``(line, chain, what)`` for every attribute chain in ``source`` that reaches past the boundary."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute):
            chain = attribute_chain(node)
            found += [(node.lineno, chain, what) for what, rx in REACH_INS.items() if rx.search(chain)]
    return sorted(found)


# (module, attribute chain) reach-ins that exist today, each with what removes it; the set only shrinks.
KNOWN_REACH_INS: dict[tuple[str, str], str] = {}


def _reach_in_checked(path: Path) -> bool:
    module = _short(path)
    skip = REACH_IN_OWNERS + REACH_IN_CHECKED_ELSEWHERE
    return not any(module == top or module.startswith(top + ".") for top in skip)


@pytest.mark.parametrize(
    "path", [p for p in _trellis_files() if _reach_in_checked(p)], ids=lambda p: str(p.relative_to(PACKAGE_ROOT))
)
def test_no_reach_in_past_the_abci_boundary(path: Path) -> None:
    found = [r for r in reach_ins(path.read_text()) if (_short(path), r[1]) not in KNOWN_REACH_INS]
    lines = [f"{path.relative_to(PACKAGE_ROOT.parent)}:{line}: {chain} ({what})" for line, chain, what in found]
    assert not lines, "\n".join(lines)


def test_every_known_reach_in_is_still_there() -> None:
    current = {(_short(p), r[1]) for p in _trellis_files() if _reach_in_checked(p) for r in reach_ins(p.read_text())}
    stale = set(KNOWN_REACH_INS) - current
    assert not stale, f"remove from KNOWN_REACH_INS (the reach-in is gone): {sorted(stale)}"


@pytest.mark.parametrize(
    "source",
    [
        "self.chain.store.kv.close()\n",
        "block = self.app.store.block(h)\n",
        "r = self.node.driver.state.round\n",
        "sw = self.app.stages.stopwatch()\n",
        "b = self.node.store.block(1)\n",
    ],
)
def test_reach_in_check_sees_each_reach_in(source: str) -> None:
    assert reach_ins(source)


def test_reach_in_check_allows_the_ports() -> None:
    source = "b = self.blocks.block(h)\ns = self.driver.status()\nv = node.app.reader().get(k)\nself.stages.add('x')\n"
    assert reach_ins(source) == []


# -- each rule fails when broken ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("module", "source", "expected"),
    [
        # core.ledger: no executor, no consensus, modules only through the payload union.
        ("core.ledger.tx", "from trellis.core.execution.context import TxContext\n", {"core.execution.context"}),
        ("core.ledger.tx", "from ..execution import context\n", {"core.execution.context"}),
        ("core.ledger.block", "from trellis.core.consensus.messages import Proposal\n", {"core.consensus.messages"}),
        ("core.ledger.block", "from trellis.core.modules.kv.messages import KvPut\n", {"core.modules.kv.messages"}),
        ("core.ledger.tx", "from trellis.core.modules.payload import Payload\n", set()),
        # the core never imports the shell (besides FORBIDDEN_IN_CORE's check).
        ("core.params", "from trellis import storage\n", {"storage"}),
        ("core.codec", "from trellis.core.ledger.block import Block\n", {"core.ledger.block"}),
        # a module's messages: types, codec, crypto, votes and other modules' messages only.
        ("core.modules.kv.messages", "from trellis.core.modules.kv.state import kv_key\n", {"core.modules.kv.state"}),
        ("core.modules.kv.messages", "from trellis.core.ledger.block import Event\n", {"core.ledger.block"}),
        ("core.modules.membership.messages", "from trellis.core.modules.validators.messages import A\n", set()),
        ("core.modules.evidence.messages", "from trellis.core.ledger.votes import Evidence\n", set()),
        # state: no handlers, no executor beyond the context.
        ("core.modules.kv.state", "from trellis.core.execution.results import TxFailure\n", {"core.execution.results"}),
        ("core.modules.kv.state", "from trellis.core.modules.kv.handlers import h\n", {"core.modules.kv.handlers"}),
        ("core.modules.credentials.state", "from trellis.core.modules.identity.state import read_did\n", set()),
        # no module imports another module's handlers; the executor and the module's declaration may.
        (
            "core.modules.kv.handlers",
            "from trellis.core.modules.accounts.handlers import h\n",
            {"core.modules.accounts.handlers"},
        ),
        (
            "core.modules.kv.view",
            "from trellis.core.modules.accounts.handlers import h\n",
            {"core.modules.accounts.handlers"},
        ),
        ("app.modules.kv", "from trellis.core.modules.kv.handlers import h\n", {"core.modules.kv.handlers"}),
        ("core.modules.kv.module", "from trellis.core.modules.kv.handlers import h\n", set()),
        (
            "core.modules.kv.module",
            "from trellis.core.modules.accounts.handlers import h\n",
            {"core.modules.accounts.handlers"},
        ),
        ("core.execution.reference", "from trellis.core.modules.accounts.handlers import h\n", set()),
        ("core.modules.kv.handlers", "from trellis.core.consensus.machine import step\n", {"core.consensus.machine"}),
        # core.consensus: types, codec, crypto, ledger, params, errors.
        (
            "core.consensus.machine",
            "from trellis.core.execution.block import ExecutedBlock\n",
            {"core.execution.block"},
        ),
        ("core.consensus.machine", "from trellis.core.modules.payload import Payload\n", {"core.modules.payload"}),
        ("core.execution.block", "from trellis.core.consensus.machine import step\n", {"core.consensus.machine"}),
        # abci: the core and the block-store port.
        ("abci", "from trellis.storage.chain_store import ChainStore\n", {"storage.chain_store"}),
        ("abci", "from trellis.storage.block_store import BlockSource\n", set()),
        ("abci", "from trellis.app.application import TrellisApp\n", {"app.application"}),
        # app: never the node, p2p, api or cli; its read side never the application object.
        ("app.application", "from trellis.node.node import Node\n", {"node.node"}),
        ("app.modules.kv", "from trellis.app.application import NotFound\n", {"app.application"}),
        ("app.modules.kv", "from trellis.storage.chain_store import ChainStore\n", {"storage.chain_store"}),
        # node: the application only where the node is assembled.
        ("node.node", "from trellis.app.application import TrellisApp\n", {"app.application"}),
        ("node.assembly", "from trellis.app.application import TrellisApp\n", set()),
        ("node.node", "from trellis.api.server import serve\n", {"api.server"}),
        # api: never the storage nor the application object; the read side is fine.
        ("api.server", "from trellis.storage.kv import StorageError\n", {"storage.kv"}),
        ("api.server", "from trellis.app.application import NotFound\n", {"app.application"}),
        ("api.kv", "from trellis.app.modules.kv import read_record\nfrom trellis.abci import Application\n", set()),
        # storage, p2p, keys, blobs, vc, notary: the core (p2p and notary: keys too).
        ("storage.kv", "from trellis import node\n", {"node"}),
        ("p2p.tcp", "from trellis.keys.certs import node_id_of_cert\n", set()),
        ("p2p.tcp", "from trellis.node.wire import encode_frame\n", {"node.wire"}),
        ("keys.signer", "from trellis.p2p.address import PeerAddress\n", {"p2p.address"}),
        ("blobs.store", "from trellis.storage.kv import KVStore\n", {"storage.kv"}),
        ("vc.verifier", "from trellis.app.modules.credentials import x\n", {"app.modules.credentials"}),
        # cli: anything but the storage; bench: anything below cli.
        ("cli.main", "from trellis.storage.chain_store import ChainStore\n", {"storage.chain_store"}),
        ("cli.main", "from trellis.bench.runner import run\nfrom trellis.node.assembly import open_node\n", set()),
        ("bench.runner", "from trellis.storage.kv import MemoryStore\n", set()),
        ("bench.runner", "from trellis.cli.main import main\n", {"cli.main"}),
        # the root package (``__version__``) from anywhere.
        ("api.openapi", "import trellis\n", set()),
    ],
)
def test_layering_rule_flags_a_forbidden_import(module: str, source: str, expected: set[str]) -> None:
    is_package = (PACKAGE_ROOT / Path(*module.split("."))).is_dir()
    assert layering_violations(module, trellis_imports(source, f"trellis.{module}", is_package)) == expected


def test_layering_rules_pick_the_most_specific_key() -> None:
    assert rule_for("core.modules.kv.messages") == "core.modules.*.messages"
    assert rule_for("core.modules.contracts.engine") == "core.modules"
    assert rule_for("core.modules.registry") == "core.modules.registry"
    assert rule_for("node.assembly") == "node.assembly"
    assert rule_for("node.mempool") == "node"
    assert rule_for("trellis") == "trellis"


def test_a_package_without_a_rule_is_a_violation() -> None:
    assert rule_for("newpkg.thing") is None
    assert layering_violations("newpkg.thing", set()) == {"<no rule in MAY_IMPORT for newpkg.thing>"}


def test_trellis_imports_names_modules_not_symbols() -> None:
    source = "from trellis.core.modules.kv import messages\nfrom trellis.core.ledger.block import Block\nimport os\n"
    assert trellis_imports(source, "trellis.api.kv", False) == {"core.modules.kv.messages", "core.ledger.block"}
