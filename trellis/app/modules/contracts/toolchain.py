"""The contract toolchain: the pinned AssemblyScript compiler and ``build`` of a contract folder.

The compiler is the npm package ``assemblyscript`` pinned in ``contracts/package-lock.json``;
``ensure_compiler`` installs it with ``npm ci`` (once per lock file). A contract folder holds
``assembly/index.ts`` (importing the SDK in ``contracts/sdk``) and one ``NAME.abi.json``; ``build`` compiles it
to ``build/NAME.wasm`` with the fixed flags in ``ASC_FLAGS`` and copies the ABI next to it
(``build/NAME.abi.json``). Builds are cached by the hash of their inputs.

Run as ``python -m trellis.app.modules.contracts.toolchain install`` or ``... build DIR [DIR ...]``.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from trellis.app.modules.contracts.abi import Abi, AbiError, load_abi

__all__ = [
    "ASC_FLAGS",
    "CONTRACTS_DIR",
    "MIN_NODE_MAJOR",
    "BuildResult",
    "ToolchainError",
    "build",
    "ensure_compiler",
    "main",
]

CONTRACTS_DIR = Path(__file__).resolve().parents[4] / "contracts"
"""The ``contracts/`` folder of the source tree: ``package.json``, the lock file, the SDK and the examples."""

MIN_NODE_MAJOR = 20
"""The oldest Node.js the pinned AssemblyScript supports."""

ASC_FLAGS: tuple[str, ...] = (
    # A bump allocator that never frees: every call runs in a fresh instance, so there is nothing to collect,
    # and the module imports nothing for it and stays small (no GC, no stack-size global).
    "--runtime",
    "stub",
    # Optimise for speed (3) and hard for size (z): deployment costs 20 gas per code byte.
    "-O3z",
    # Linear memory may never grow past the chain's default max_memory_pages (16 x 64 KiB).
    "--maximumMemory",
    "16",
    # The float-to-int conversions of this feature are floating point; contracts must have none (spec 3).
    "--disable",
    "nontrapping-f2i",
    "--noColors",
)
"""The compiler flags of every contract build. SIMD, threads and reference types are off by default."""

_STAMP = ".trellis-installed"
_NPM_TIMEOUT_S = 600
_ASC_TIMEOUT_S = 600


class ToolchainError(Exception):
    """The toolchain cannot run (node or npm missing, install failed) or a contract does not build."""


@dataclass(frozen=True)
class BuildResult:
    """A compiled contract.

    Attributes:
        wasm_path: ``DIR/build/NAME.wasm``.
        abi_path: ``DIR/build/NAME.abi.json``, the checked ABI next to the module.
        size: the module's size in bytes.
        name: the contract's name (from ``NAME.abi.json``).
        cached: True when the inputs had not changed since the last build and nothing was compiled.
    """

    wasm_path: Path
    abi_path: Path
    size: int
    name: str
    cached: bool = False


def ensure_compiler(contracts_dir: Path | None = None) -> Path:
    """Make sure the pinned AssemblyScript compiler is installed; return the path of its ``asc.js``.

    Runs ``npm ci`` in ``contracts_dir`` (default ``CONTRACTS_DIR``) unless ``node_modules`` was installed
    from the current lock file already. Safe to call from concurrent processes (a file lock serialises
    installs).

    Raises:
        ToolchainError: node or npm missing or too old, no lock file, or ``npm ci`` failed (with npm's output).
    """
    root = (contracts_dir or CONTRACTS_DIR).resolve()
    _check_node()
    lock = root / "package-lock.json"
    if not lock.is_file():
        raise ToolchainError(f"{lock} is missing: the compiler's version is pinned there")
    asc = root / "node_modules" / "assemblyscript" / "bin" / "asc.js"
    stamp = root / "node_modules" / _STAMP
    want = _install_fingerprint(root)
    if _read(stamp) == want and asc.is_file():
        return asc
    npm = shutil.which("npm")
    if npm is None:
        raise ToolchainError("npm is not installed (or not on PATH): it installs the contract compiler")
    with _locked(root / ".toolchain.lock"):
        if _read(stamp) == want and asc.is_file():
            return asc
        try:
            proc = subprocess.run(
                [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                cwd=root,
                capture_output=True,
                text=True,
                timeout=_NPM_TIMEOUT_S,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise ToolchainError(f"npm ci in {root} did not finish in {_NPM_TIMEOUT_S} s") from None
        except OSError as exc:
            raise ToolchainError(f"cannot run npm: {exc}") from exc
        if proc.returncode != 0:
            raise ToolchainError(
                f"npm ci in {root} failed (exit {proc.returncode}):\n{_tail(proc.stderr or proc.stdout)}"
            )
        if not asc.is_file():
            raise ToolchainError(f"npm ci in {root} succeeded but {asc} is missing")
        _write_atomic(stamp, want.encode())
    return asc


def build(contract_dir: str | Path, *, contracts_dir: Path | None = None, force: bool = False) -> BuildResult:
    """Compile the contract in ``contract_dir`` to ``contract_dir/build/NAME.wasm``.

    The folder must hold ``assembly/index.ts`` and exactly one ``NAME.abi.json``. The ABI is checked, the
    module is compiled with ``ASC_FLAGS``, and its exported functions must be exactly the ABI's methods. The
    build is skipped (``cached=True``) when the sources under ``assembly/``, the SDK, the ABI, the flags and the
    lock file are unchanged since the last build, unless ``force``.

    Raises:
        ToolchainError: a missing file, an invalid ABI, the compiler's errors (its message), or a mismatch
            between the module's exports and the ABI.
    """
    folder = Path(contract_dir).resolve()
    root = (contracts_dir or CONTRACTS_DIR).resolve()
    entry = folder / "assembly" / "index.ts"
    if not folder.is_dir():
        raise ToolchainError(f"{folder} is not a folder")
    if not entry.is_file():
        raise ToolchainError(f"{entry} is missing: a contract's entry file is assembly/index.ts")
    abi_files = sorted(folder.glob("*.abi.json"))
    if len(abi_files) != 1:
        found = ", ".join(p.name for p in abi_files) or "none"
        raise ToolchainError(f"{folder} must hold exactly one NAME.abi.json (found: {found})")
    abi_src = abi_files[0]
    name = abi_src.name.removesuffix(".abi.json")
    try:
        abi = load_abi(abi_src)
    except AbiError as exc:
        raise ToolchainError(f"{abi_src}: {exc}") from None

    asc = ensure_compiler(root)
    out_dir = folder / "build"
    wasm_path = out_dir / f"{name}.wasm"
    abi_path = out_dir / f"{name}.abi.json"
    inputs_stamp = out_dir / f".{name}.inputs"
    fingerprint = _build_fingerprint(root, folder, abi_src)
    if not force and _read(inputs_stamp) == fingerprint and wasm_path.is_file() and abi_path.is_file():
        return BuildResult(wasm_path, abi_path, wasm_path.stat().st_size, name, cached=True)

    out_dir.mkdir(exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{name}.", suffix=".wasm", dir=out_dir)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        _compile(asc, root, entry, tmp)
        code = tmp.read_bytes()
        _check_exports(code, abi, entry)
        tmp.chmod(0o644)  # mkstemp makes it private; a build output is an ordinary file
        os.replace(tmp, wasm_path)
    finally:
        tmp.unlink(missing_ok=True)
    _write_atomic(abi_path, abi_src.read_bytes())
    _write_atomic(inputs_stamp, fingerprint.encode())
    return BuildResult(wasm_path, abi_path, len(code), name)


def _compile(asc: Path, root: Path, entry: Path, out: Path) -> None:
    node = shutil.which("node")
    if node is None:
        raise ToolchainError("node is not installed (or not on PATH): the contract compiler runs on Node.js")
    cmd = [node, str(asc), str(entry), "--outFile", str(out), *ASC_FLAGS]
    try:
        proc = subprocess.run(cmd, cwd=root, capture_output=True, text=True, timeout=_ASC_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        raise ToolchainError(f"asc did not compile {entry} in {_ASC_TIMEOUT_S} s") from None
    except OSError as exc:
        raise ToolchainError(f"cannot run the compiler: {exc}") from exc
    if proc.returncode != 0:
        message = _tail((proc.stderr + proc.stdout).strip()) or "(no output)"
        raise ToolchainError(f"asc could not compile {entry} (exit {proc.returncode}):\n{message}")
    if not out.is_file() or out.stat().st_size == 0:
        raise ToolchainError(f"asc reported success for {entry} but wrote no module")


def _check_exports(code: bytes, abi: Abi, entry: Path) -> None:
    """The module's exported functions must be the ABI's methods, and it must export its memory."""
    try:
        exports = _wasm_exports(code)
    except ValueError as exc:
        raise ToolchainError(f"the module compiled from {entry} cannot be read: {exc}") from None
    functions = {n for n, kind in exports if kind == 0}
    if ("memory", 2) not in exports:
        raise ToolchainError(f"the module compiled from {entry} does not export its memory as 'memory'")
    methods = {m.name for m in abi.methods}
    missing = sorted(methods - functions)
    extra = sorted(functions - methods)
    if missing:
        raise ToolchainError(f"ABI methods not exported by {entry}: {', '.join(missing)}")
    if extra:
        raise ToolchainError(f"functions exported by {entry} but missing from the ABI: {', '.join(extra)}")


def _wasm_exports(code: bytes) -> list[tuple[str, int]]:
    """(name, kind) of each export (kind 0 function, 1 table, 2 memory, 3 global). ValueError if malformed."""
    if code[:8] != b"\0asm\x01\0\0\0":
        raise ValueError("not a WebAssembly 1.0 module")
    pos = 8
    while pos < len(code):
        section = code[pos]
        size, pos = _leb(code, pos + 1)
        end = pos + size
        if end > len(code):
            raise ValueError("section runs past the end")
        if section == 7:
            count, pos = _leb(code, pos)
            out: list[tuple[str, int]] = []
            for _ in range(count):
                n, pos = _leb(code, pos)
                name = code[pos : pos + n].decode("utf-8", errors="replace")
                pos += n
                if pos >= end:
                    raise ValueError("export section runs past its end")
                kind = code[pos]
                _, pos = _leb(code, pos + 1)
                out.append((name, kind))
            return out
        pos = end
    return []


def _leb(code: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(code) or shift > 35:
            raise ValueError("bad LEB128 integer")
        b = code[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return result, pos


def _check_node() -> None:
    node = shutil.which("node")
    if node is None:
        raise ToolchainError(
            f"node is not installed (or not on PATH): the contract compiler needs Node.js {MIN_NODE_MAJOR} or newer"
        )
    try:
        version = subprocess.run(
            [node, "--version"], capture_output=True, text=True, timeout=30, check=True
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError) as exc:
        raise ToolchainError(f"cannot run {node} --version: {exc}") from exc
    m = re.match(r"v?(\d+)\.", version)
    if m is None or int(m.group(1)) < MIN_NODE_MAJOR:
        raise ToolchainError(f"node {version} is too old: the contract compiler needs Node.js {MIN_NODE_MAJOR}+")


def _install_fingerprint(root: Path) -> str:
    h = hashlib.sha256()
    for f in ("package.json", "package-lock.json"):
        p = root / f
        h.update(f.encode() + b"\0" + (p.read_bytes() if p.is_file() else b"") + b"\0")
    return h.hexdigest()


def _build_fingerprint(root: Path, folder: Path, abi_src: Path) -> str:
    h = hashlib.sha256()
    h.update(json.dumps(ASC_FLAGS).encode() + b"\0")
    h.update(_install_fingerprint(root).encode() + b"\0")
    sources = [
        *(("contract", p, folder) for p in sorted((folder / "assembly").rglob("*.ts"))),
        *(("sdk", p, root) for p in sorted((root / "sdk").rglob("*.ts"))),
        ("abi", abi_src, folder),
    ]
    for kind, p, base in sources:
        h.update(f"{kind}:{p.relative_to(base)}".encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


def _write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def main(argv: Sequence[str] | None = None) -> int:
    """``install``: run ensure_compiler; ``build DIR...``: build contract folders. Exit 1 with the error."""
    parser = argparse.ArgumentParser(prog="python -m trellis.app.modules.contracts.toolchain")
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("install", help="install the pinned AssemblyScript compiler (npm ci in contracts/)")
    b = sub.add_parser("build", help="compile contract folders (DIR/assembly/index.ts + DIR/NAME.abi.json)")
    b.add_argument("dirs", nargs="+", type=Path)
    b.add_argument("--force", action="store_true", help="compile even when the inputs are unchanged")
    args = parser.parse_args(argv)
    try:
        if args.cmd == "install":
            print(f"assemblyscript ready: {ensure_compiler()}")
        else:
            for d in args.dirs:
                r = build(d, force=args.force)
                print(f"{r.wasm_path} ({r.size} bytes{', cached' if r.cached else ''})")
    except ToolchainError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
