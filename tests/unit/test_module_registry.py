"""The module registry is the one place modules are listed: the payload union, the handler table and the
modules' declarations agree, tags follow ``<module>.<action>``, and no two modules share a state-key prefix."""

from __future__ import annotations

import importlib
import pkgutil
from typing import get_args

import trellis.core.modules as modules_pkg
from trellis.core.modules.membership.messages import MembershipChange
from trellis.core.modules.payload import Payload
from trellis.core.modules.registry import HANDLERS, MODULES, PACKET_APPS


def test_payload_union_equals_the_modules_messages_and_the_handler_table() -> None:
    declared = [m for module in MODULES for m in module.messages]
    assert len(declared) == len(set(declared)), "a message is declared by two modules"
    assert set(get_args(Payload)) == set(declared) == set(HANDLERS)


def test_every_tag_is_module_dot_action() -> None:
    for module in MODULES:
        for msg in module.messages:
            tag = msg.__struct_config__.tag
            assert isinstance(tag, str) and tag.startswith(module.name + "."), (module.name, msg, tag)
            assert tag.count(".") == 1 and tag.split(".")[1], tag


def test_membership_changes_are_not_payloads() -> None:
    assert not set(get_args(MembershipChange)) & set(get_args(Payload))


def test_no_two_modules_share_a_state_prefix() -> None:
    owned = [(p, module.name) for module in MODULES for p in module.prefixes]
    for i, (p, a) in enumerate(owned):
        for q, b in owned[i + 1 :]:
            if a != b:
                assert not p.startswith(q) and not q.startswith(p), (a, p, b, q)


def test_every_module_folder_is_registered() -> None:
    names = {module.name for module in MODULES}
    folders = {info.name for info in pkgutil.iter_modules(modules_pkg.__path__) if info.ispkg}
    assert folders == names, folders ^ names
    for name in folders:
        mod = importlib.import_module(f"trellis.core.modules.{name}.module")
        # interchain is built around the others' packet applications (ADR 0015 section 1): build(), not MODULE.
        declared = mod.build(PACKET_APPS) if name == "interchain" else mod.MODULE
        assert declared.name == name


def test_packet_apps_are_modules_and_interchain_has_none() -> None:
    """Every port is a module's name, its app is that module's, and interchain takes no packets itself."""
    by_name = {module.name: module for module in MODULES}
    assert PACKET_APPS, "the transfer module's app must be registered"
    for port, app in PACKET_APPS.items():
        assert by_name[port].packet_app is app
        assert isinstance(app.version, str) and app.version
    assert by_name["interchain"].packet_app is None
    assert "interchain" not in PACKET_APPS
