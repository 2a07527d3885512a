"""The contract toolchain: the pinned compiler installs once, the examples build to modules the chain accepts,
and every failure (no node, a failed install, a compile error, an ABI that does not match) is a clear
``ToolchainError``."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from trellis.app.modules.contracts import toolchain
from trellis.app.modules.contracts.toolchain import CONTRACTS_DIR, ToolchainError, build, ensure_compiler
from trellis.core.params import GenesisContracts

from .conftest import EXAMPLES, Example

ABI_PING: dict[str, object] = {
    "abi": 1,
    "name": "ping",
    "methods": [{"name": "ping", "outputs": [{"name": "n", "type": "u32"}]}],
}
PING_SOURCE = """
import { Writer, returnData } from "SDK";
export function ping(): void { returnData(new Writer().u32(7).finish()); }
"""


def make_contract(root: Path, source: str, abi: dict[str, object] | None = ABI_PING, name: str = "ping") -> Path:
    """A contract folder ``root/name``; ``SDK`` in ``source`` becomes the relative path of contracts/sdk."""
    folder = root / name
    (folder / "assembly").mkdir(parents=True)
    sdk = os.path.relpath(CONTRACTS_DIR / "sdk", folder / "assembly")
    (folder / "assembly" / "index.ts").write_text(source.replace('"SDK"', json.dumps(sdk)))
    if abi is not None:
        (folder / f"{name}.abi.json").write_text(json.dumps(abi))
    return folder


def test_ensure_compiler_returns_the_pinned_asc(tmp_path: Path) -> None:
    asc = ensure_compiler()
    assert asc.is_file()
    pinned = json.loads((CONTRACTS_DIR / "package.json").read_text())["devDependencies"]["assemblyscript"]
    installed = json.loads((asc.parent.parent / "package.json").read_text())["version"]
    assert installed == pinned and pinned.startswith("0.28.")


@pytest.mark.parametrize("name", EXAMPLES)
def test_each_example_builds_to_a_module_the_chain_accepts(examples: dict[str, Example], name: str) -> None:
    from trellis.app.modules.contracts.validate import validate_module

    ex = examples[name]
    assert ex.build.wasm_path == CONTRACTS_DIR / "examples" / name / "build" / f"{name}.wasm"
    assert ex.build.abi_path == ex.build.wasm_path.with_name(f"{name}.abi.json")
    assert ex.build.size == len(ex.code) > 0
    validate_module(ex.code, GenesisContracts())  # the deployment check: raises InvalidContract


@pytest.mark.parametrize("name", EXAMPLES)
def test_examples_import_only_the_host_and_export_memory_and_their_methods(
    examples: dict[str, Example], name: str
) -> None:
    wasmtime = pytest.importorskip("wasmtime")
    module = wasmtime.Module(wasmtime.Engine(), examples[name].code)
    assert {i.module for i in module.imports} <= {"trellis", "env"}
    assert [i.name for i in module.imports if i.module == "env"] in ([], ["abort"])
    exported = {e.name: e.type for e in module.exports}
    assert set(exported) == {"memory"} | {m.name for m in examples[name].abi.methods}
    memory = exported["memory"]
    assert isinstance(memory, wasmtime.MemoryType)
    assert memory.limits.min <= GenesisContracts().max_memory_pages
    assert memory.limits.max == GenesisContracts().max_memory_pages


def test_a_second_build_with_unchanged_inputs_is_cached(examples: dict[str, Example]) -> None:
    again = build(CONTRACTS_DIR / "examples" / "token")
    assert again.cached
    assert again.wasm_path.read_bytes() == examples["token"].code


def test_a_contract_builds_and_rebuilds_when_its_source_changes(tmp_path: Path) -> None:
    folder = make_contract(tmp_path, PING_SOURCE)
    first = build(folder)
    assert not first.cached and first.wasm_path.is_file()
    assert build(folder).cached
    entry = folder / "assembly" / "index.ts"
    entry.write_text(entry.read_text().replace("u32(7)", "u32(8)"))
    assert not build(folder).cached


def test_compiler_errors_surface_with_the_compilers_message(tmp_path: Path) -> None:
    folder = make_contract(tmp_path, "export function ping(): void { let x: u32 = undefinedThing; }\n")
    with pytest.raises(ToolchainError, match="asc could not compile") as exc:
        build(folder)
    assert "undefinedThing" in str(exc.value)
    assert not (folder / "build" / "ping.wasm").exists()


def test_an_exported_function_missing_from_the_abi_is_refused(tmp_path: Path) -> None:
    folder = make_contract(tmp_path, PING_SOURCE + "export function pong(): void {}\n")
    with pytest.raises(ToolchainError, match="missing from the ABI: pong"):
        build(folder)


def test_an_abi_method_the_module_does_not_export_is_refused(tmp_path: Path) -> None:
    abi = {"abi": 1, "name": "ping", "methods": [{"name": "ping"}, {"name": "pong"}]}
    folder = make_contract(tmp_path, PING_SOURCE, abi=abi)
    with pytest.raises(ToolchainError, match=r"ABI methods not exported by .*: pong"):
        build(folder)


def test_a_folder_without_an_abi_is_refused(tmp_path: Path) -> None:
    folder = make_contract(tmp_path, PING_SOURCE, abi=None)
    with pytest.raises(ToolchainError, match=r"exactly one NAME\.abi\.json \(found: none\)"):
        build(folder)


def test_an_invalid_abi_is_refused_before_compiling(tmp_path: Path) -> None:
    folder = make_contract(tmp_path, PING_SOURCE, abi={"abi": 1, "name": "ping", "methods": [{"name": "9"}]})
    with pytest.raises(ToolchainError, match=r"ping\.abi\.json: invalid ABI"):
        build(folder)


def test_a_folder_without_an_entry_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ToolchainError, match=r"assembly/index\.ts is missing"):
        build(tmp_path)


def test_missing_node_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(toolchain.shutil, "which", lambda name: None)
    with pytest.raises(ToolchainError, match="node is not installed"):
        ensure_compiler()


def test_a_failed_install_is_a_clear_error(tmp_path: Path) -> None:
    # package.json and the lock file disagree: npm ci refuses without touching the network.
    (tmp_path / "package.json").write_text(json.dumps({"name": "x", "devDependencies": {"assemblyscript": "0.28.20"}}))
    (tmp_path / "package-lock.json").write_text(
        json.dumps({"name": "x", "lockfileVersion": 3, "requires": True, "packages": {"": {"name": "x"}}})
    )
    with pytest.raises(ToolchainError, match=r"npm ci in .* failed"):
        ensure_compiler(tmp_path)


def test_a_missing_lock_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ToolchainError, match=r"package-lock\.json is missing"):
        ensure_compiler(tmp_path)
