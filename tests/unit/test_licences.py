"""Every dependency's licence is compatible with Trellis's Apache-2.0 (docs/dependencies.md).

The runtime closure of ``trellis`` (its requirements and theirs, as installed) and the npm packages pinned in
``contracts/package-lock.json`` are read from their own metadata; a licence that is not on the allow-list (GPL,
AGPL, SSPL, an unknown or missing licence) fails the test, naming the package, so a new dependency cannot slip
in without someone weighing its licence.
"""

from __future__ import annotations

import importlib.metadata as md
import json
import re
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]

# SPDX identifiers (and the spellings older metadata uses for them) that may be combined with Apache-2.0 code.
_ALLOWED = {
    "apache-2.0",
    "mit",
    "mit-0",
    "bsd-2-clause",
    "bsd-3-clause",
    "bsd",
    "isc",
    "psf-2.0",
    "python-2.0",
    "oldap-2.8",
    "mpl-2.0",
    "zlib",
    "0bsd",
    "cc0-1.0",
    "unlicense",
    "llvm-exception",
}
_ALIASES = {
    "apache 2.0": "apache-2.0",
    "apache license 2.0": "apache-2.0",
    "apache software license": "apache-2.0",
    "apache license, version 2.0": "apache-2.0",
    "mit license": "mit",
    "bsd license": "bsd",
    "python software foundation license": "psf-2.0",
    "mozilla public license 2.0 (mpl 2.0)": "mpl-2.0",
}
_COPYLEFT = re.compile(r"\b(a?gpl|lgpl|sspl|gnu)", re.IGNORECASE)


def licence_terms(expression: str) -> list[str]:
    """The licence identifiers named by an SPDX-like expression, lower-cased (``AND``/``OR``/``WITH`` split)."""
    expr = _ALIASES.get(expression.strip().lower(), expression)
    parts = re.split(r"\s+(?:AND|OR|WITH)\s+|[()]", expr, flags=re.IGNORECASE)
    return [_ALIASES.get(p.strip().lower(), p.strip().lower()) for p in parts if p.strip()]


def is_compatible(expression: str) -> bool:
    """Whether a licence expression may be used by Apache-2.0 code (every ``AND`` term allowed; ``OR``: one)."""
    if not expression.strip() or (_COPYLEFT.search(expression) and " OR " not in expression):
        return False
    if " OR " in expression:
        return any(is_compatible(alt) for alt in expression.split(" OR "))
    return all(term in _ALLOWED for term in licence_terms(expression))


def _distribution_licence(dist: md.Distribution) -> str:
    meta = dist.metadata
    expression = meta.get("License-Expression") or ""
    if expression:
        return expression
    classifiers = [
        c.rsplit("::", 1)[-1].strip() for c in meta.get_all("Classifier") or [] if c.startswith("License ::")
    ]
    classifiers = [c for c in classifiers if c not in {"DFSG approved", "OSI Approved"}]
    if classifiers:
        return " OR ".join(classifiers)
    return (meta.get("License") or "").strip()


def runtime_closure() -> dict[str, md.Distribution]:
    """The installed distributions that ``trellis`` needs at run time (no extras), by normalised name."""
    found: dict[str, md.Distribution] = {}
    todo = ["trellis"]
    while todo:
        name = re.sub(r"[-_.]+", "-", todo.pop()).lower()
        if name in found:
            continue
        dist = md.distribution(name)
        found[name] = dist
        for spec in dist.requires or []:
            req = Requirement(spec)
            if req.marker is not None and not req.marker.evaluate({"extra": ""}):
                continue
            todo.append(req.name)
    del found["trellis"]
    return found


def test_the_allow_list_refuses_copyleft_and_unknown_licences() -> None:
    assert is_compatible("Apache-2.0 WITH LLVM-exception")
    assert is_compatible("Apache-2.0 OR BSD-3-Clause")
    assert is_compatible("Apache Software License")
    assert not is_compatible("GPL-3.0-or-later")
    assert not is_compatible("LGPL-2.1")
    assert not is_compatible("AGPL-3.0")
    assert not is_compatible("")
    assert not is_compatible("Proprietary")
    assert is_compatible("GPL-2.0 OR MIT")  # a dual licence may be taken under its permissive branch


def test_every_runtime_dependency_has_a_compatible_licence() -> None:
    closure = runtime_closure()
    assert {"msgspec", "lmdb", "wasmtime", "cryptography", "aiohttp"} <= closure.keys()
    bad = {name: _distribution_licence(d) for name, d in closure.items() if not is_compatible(_distribution_licence(d))}
    assert not bad, f"runtime dependencies whose licence is not compatible with Apache-2.0: {bad}"


# npm packages whose lock entry points at a licence file instead of an SPDX id, read by hand: what it says.
_NPM_REVIEWED = {
    # "Context data files ... W3C Software and Document License; all other files ... BSD 3-Clause".
    "node_modules/@digitalbazaar/credentials-context": "BSD-3-Clause AND W3C",
    "node_modules/did-context": "BSD-3-Clause AND W3C",
}
_NPM_LOCKS = ("contracts/package-lock.json", "tests/interop/vc_js/package-lock.json", "tests/browser/package-lock.json")


@pytest.mark.parametrize("lock_path", _NPM_LOCKS)
def test_the_pinned_npm_packages_have_compatible_licences(lock_path: str) -> None:
    lock = json.loads((ROOT / lock_path).read_text())
    licences = {path or "<root>": str(entry.get("license", "")) for path, entry in lock["packages"].items()}
    for path, reviewed in _NPM_REVIEWED.items():
        if path in licences:
            assert licences[path].startswith("SEE LICENSE IN"), f"{path} now declares {licences[path]}: review again"
            licences[path] = reviewed.replace(" AND W3C", "")  # the W3C licence is permissive (no copyleft)
    bad = {path: lic for path, lic in licences.items() if not is_compatible(lic)}
    assert not bad, f"npm packages in {lock_path} whose licence is not compatible with Apache-2.0: {bad}"


def test_the_project_declares_apache_2() -> None:
    assert (ROOT / "LICENSE").read_text().lstrip().startswith("Apache License")
    assert 'license = "Apache-2.0"' in (ROOT / "pyproject.toml").read_text()
