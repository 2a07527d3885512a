"""The web console's static files (ADR 0017, ``trellis/api/console.py``): served by a real node at ``/console/``
with the console's security headers, nothing outside ``trellis/console/static`` and only allow-listed files; every
JavaScript file of the console parses (``node --check``)."""

from __future__ import annotations

import http.client
import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.shell.conftest import ThreadedNode, serve_new_home
from trellis.api.console import CONTENT_TYPES, CSP, STATIC_DIR, ConsoleFiles

CONSOLE_README = STATIC_DIR.parent / "README.md"


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedNode]:
    yield from serve_new_home(tmp_path_factory, "console-home")


def fetch(
    node: ThreadedNode, method: str, target: str, headers: dict[str, str] | None = None
) -> http.client.HTTPResponse:
    """One raw request (the target is sent as given: no normalisation, no redirect followed)."""
    u = urlsplit(node.url)
    conn = http.client.HTTPConnection(u.hostname or "127.0.0.1", u.port, timeout=20)
    conn.request(method, target, headers=headers or {})
    resp = conn.getresponse()
    resp.body = resp.read()  # type: ignore[attr-defined]
    conn.close()
    return resp


def body(resp: http.client.HTTPResponse) -> bytes:
    data: bytes = resp.body  # type: ignore[attr-defined]
    return data


def test_console_redirects_to_its_index(node: ThreadedNode) -> None:
    resp = fetch(node, "GET", "/console")
    assert resp.status == 301
    assert resp.getheader("Location") == "/console/"


def test_index_is_served_with_the_csp(node: ThreadedNode) -> None:
    resp = fetch(node, "GET", "/console/")
    assert resp.status == 200
    assert resp.getheader("Content-Type") == "text/html; charset=utf-8"
    assert resp.getheader("Content-Security-Policy") == CSP
    assert CSP == (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; "
        "base-uri 'none'; object-src 'none'; frame-ancestors 'none'"
    )
    assert resp.getheader("X-Content-Type-Options") == "nosniff"
    assert body(resp) == (STATIC_DIR / "index.html").read_bytes()
    same = fetch(node, "GET", "/console/index.html")
    assert same.status == 200 and body(same) == body(resp)


def test_the_index_has_no_inline_script_or_style() -> None:
    html = (STATIC_DIR / "index.html").read_text()
    scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", html, re.S)
    assert scripts, "the index loads the shell"
    for attrs, inline in scripts:
        assert 'src="' in attrs and inline.strip() == "", attrs
    assert "<style" not in html and " style=" not in html and "onclick=" not in html


@pytest.mark.parametrize("name", sorted(p.name for p in STATIC_DIR.glob("*.js")))
def test_every_js_file_is_served_as_javascript(node: ThreadedNode, name: str) -> None:
    resp = fetch(node, "GET", f"/console/{name}")
    assert resp.status == 200
    assert resp.getheader("Content-Type") == "text/javascript; charset=utf-8"
    assert resp.getheader("X-Content-Type-Options") == "nosniff"
    assert resp.getheader("Content-Security-Policy") == CSP
    assert body(resp) == (STATIC_DIR / name).read_bytes()


def test_the_stylesheet_is_served_as_css(node: ThreadedNode) -> None:
    resp = fetch(node, "GET", "/console/style.css")
    assert resp.status == 200
    assert resp.getheader("Content-Type") == "text/css; charset=utf-8"


@pytest.mark.parametrize(
    "target",
    [
        "/console/../pyproject.toml",
        "/console/%2e%2e/api/console.py",
        "/console/..%2f..%2fapi%2fconsole.py",
        "/console/vendor/../../__init__.py",
        "/console/.hidden.js",
        "/console/../README.md",
        "/console/nope.js",
        "/console/app.py",
        "/console/index.html/",
        "/console/vendor/",
        "/console/a/b/c/d/e.js",
        "/console/a/b.js",
        "/console/" + "a" * 300 + ".js",
    ],
)
def test_paths_outside_or_unknown_are_404(node: ThreadedNode, target: str) -> None:
    resp = fetch(node, "GET", target)
    assert resp.status == 404, target
    assert b"__all__" not in body(resp) and b"[project]" not in body(resp)
    if re.fullmatch(r"/console/[^/%]+", target) and ".." not in target:  # routed to the console's handler
        problem = json.loads(body(resp))
        assert problem["code"] == "not_found" and problem["detail"], problem
        assert resp.getheader("X-Content-Type-Options") == "nosniff"


def test_a_directory_is_not_listed(node: ThreadedNode) -> None:
    for target in ("/console/vendor", "/console/vendor/"):
        resp = fetch(node, "GET", target)
        assert resp.status == 404
        assert b"app.js" not in body(resp)


def test_head_answers_the_headers_without_a_body(node: ThreadedNode) -> None:
    resp = fetch(node, "HEAD", "/console/app.js")
    assert resp.status == 200
    assert resp.getheader("Content-Type") == "text/javascript; charset=utf-8"
    assert int(resp.getheader("Content-Length") or "-1") == (STATIC_DIR / "app.js").stat().st_size
    assert body(resp) == b""


def test_an_unchanged_file_answers_304(node: ThreadedNode) -> None:
    first = fetch(node, "GET", "/console/api.js")
    etag = first.getheader("ETag")
    assert etag
    again = fetch(node, "GET", "/console/api.js", {"If-None-Match": etag})
    assert again.status == 304 and body(again) == b""
    other = fetch(node, "GET", "/console/api.js", {"If-None-Match": '"something-else"'})
    assert other.status == 200


def test_the_resolver_refuses_a_link_out_of_the_folder(tmp_path: Path) -> None:
    root = tmp_path / "static"
    root.mkdir()
    (root / "ok.js").write_text("export {};\n")
    (tmp_path / "secret.js").write_text("secret\n")
    (root / "link.js").symlink_to(tmp_path / "secret.js")
    (root / "notes.md").write_text("x\n")
    (root / ".env.js").write_text("secret\n")
    files = ConsoleFiles(root)
    assert files.resolve("ok.js") == (root / "ok.js").resolve()
    assert isinstance(files.resolve("link.js"), str)
    assert isinstance(files.resolve("notes.md"), str)
    assert isinstance(files.resolve(".env.js"), str)  # a dot file, though inside the folder
    assert isinstance(files.resolve("../secret.js"), str)
    assert isinstance(files.resolve(""), str)  # no index.html there


def test_every_static_file_has_an_allowed_extension() -> None:
    """A file the console ships but the server refuses would break the console silently."""
    for p in STATIC_DIR.rglob("*"):
        if p.is_file():
            assert p.suffix.lower() in CONTENT_TYPES, p


# -- the JavaScript ------------------------------------------------------------------------------------------------
NODE = shutil.which("node")


@pytest.mark.parametrize("path", sorted(str(p.relative_to(STATIC_DIR)) for p in STATIC_DIR.rglob("*.js")))
def test_every_js_file_parses(path: str) -> None:
    assert NODE is not None, "node is not installed: run `make browser-tools` (Debian nodejs)"
    done = subprocess.run(
        [NODE, "--check", "--input-type=module"],
        input=(STATIC_DIR / path).read_bytes(),
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()


def test_every_route_of_the_readme_is_in_the_router() -> None:
    """The README's route table (the contract with the Identity/Verify views and the browser tests) and the
    router's table name the same routes, modules, exports and view test ids."""
    readme = CONSOLE_README.read_text()
    documented = set(
        re.findall(
            r"^\| `#/([a-z-]+)[^|]*\| `(\w+\.js)`[^|]*\| (?:`(\w+)`|\(the shell\)) \| `(view-[a-z-]+)` \|$",
            readme,
            re.M,
        )
    )
    app = (STATIC_DIR / "app.js").read_text()
    routed = set(re.findall(r'^\s+"?([a-z-]+)"?: \["\./(\w+\.js)", "(\w+)", "(view-[a-z-]+)"\],$', app, re.M))
    assert len(routed) >= 11
    assert routed == {d for d in documented if d[2]}
    for name, module, export, _ in routed:
        if (STATIC_DIR / module).exists():
            assert re.search(rf"export (async )?function {export}\b", (STATIC_DIR / module).read_text()), (name, module)
        else:
            assert module in ("identity.js", "verify.js"), f"{module} is missing"


def test_every_hook_the_readme_promises_is_in_the_console() -> None:
    """The shell's, Network's, Explorer's and Interchain's data-testid hooks listed in the README (what the browser
    tests select by) are each set somewhere in the console's files."""
    readme = CONSOLE_README.read_text()
    section = readme.split("## `data-testid` hooks", 1)[1].split("### Identity and Verify hooks", 1)[0]
    hooks = {t for t in re.findall(r"`([a-z]+(?:-[a-z]+)*)`", section) if not t.startswith("data-")}
    hooks = {t for t in hooks if "-" in t or t in ("nav", "error", "loading")}
    assert {"search-input", "view-network", "block-row", "tx-row", "throughput-chart"} <= hooks
    sources = "".join((STATIC_DIR / n).read_text() for n in ("index.html", "app.js", "api.js", "chart.js"))
    sources += "".join((STATIC_DIR / n).read_text() for n in ("network.js", "explorer.js", "interchain.js"))
    missing = sorted(t for t in hooks if f'"{t}"' not in sources)
    assert not missing, f"hooks in the README that no file sets: {missing}"
