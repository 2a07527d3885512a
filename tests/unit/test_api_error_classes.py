"""Every ``TrellisError`` subclass has a decided HTTP status at the API (issue 13): a 4xx only for errors that
say the request was wrong, a 5xx for everything raised inside the node. A new subclass fails this test until
it is added to one of ``trellis.api.server``'s two tables."""

from __future__ import annotations

import importlib
import pkgutil

import trellis
from trellis.api import server
from trellis.core.errors import TrellisError

_SKIP = ("trellis.bench", "trellis.cli.main")  # entry points with side effects; they define no TrellisError


def _all_subclasses() -> dict[str, type[TrellisError]]:
    for info in pkgutil.walk_packages(trellis.__path__, "trellis."):
        if not info.name.startswith(_SKIP):
            try:
                importlib.import_module(info.name)
            except ImportError:  # an optional dependency (HSM, engine) not installed here
                continue
    out: dict[str, type[TrellisError]] = {}
    todo: list[type[TrellisError]] = [TrellisError]
    while todo:
        cls = todo.pop()
        for sub in cls.__subclasses__():
            if sub.__module__.startswith("trellis."):
                assert out.get(sub.__name__, sub) is sub, f"two TrellisError classes named {sub.__name__}"
                out[sub.__name__] = sub
            todo.append(sub)
    return out


def test_every_trellis_error_subclass_is_classified_as_the_clients_or_the_nodes() -> None:
    found = _all_subclasses()
    client, node = set(server._CLIENT_ERRORS), set(server._NODE_ERRORS)
    assert not client & node, client & node
    unclassified = set(found) - client - node
    assert not unclassified, f"decide the HTTP status of {sorted(unclassified)} in trellis/api/server.py"
    assert not (client | node) - set(found), f"no such TrellisError: {sorted((client | node) - set(found))}"


def test_only_the_requests_own_mistakes_are_4xx() -> None:
    found = _all_subclasses()
    for name, status in server._CLIENT_ERRORS.items():
        assert 400 <= status < 500, name
        cls = found[name]
        exc = cls.__new__(cls)
        TrellisError.__init__(exc, "x")
        assert server.status_of_error(exc) == status, name
    for name, status in server._NODE_ERRORS.items():
        assert status >= 500, name
        cls = found[name]
        exc = cls.__new__(cls)
        TrellisError.__init__(exc, "x")
        assert server.status_of_error(exc) == status, name


def test_an_unclassified_trellis_error_is_the_nodes_failure() -> None:
    class Unlisted(TrellisError):
        pass

    assert server.status_of_error(TrellisError("x")) == 500
    assert server.status_of_error(Unlisted("x")) == 500
