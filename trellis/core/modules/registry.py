"""The one place the modules are listed: ``MODULES``, and the handler table built from it.

Adding a module adds one line here and one in ``trellis/core/modules/payload.py`` (the payload union must be a
literal for the type checker); ``tests/unit/test_module_registry.py`` checks the two agree, that every tag is
``"<module>.<action>"`` and that no two modules share a state-key prefix.
"""

from __future__ import annotations

from trellis.core.execution.module import BlockHook, Handler, Module, PacketApp
from trellis.core.modules.accounts.module import MODULE as ACCOUNTS
from trellis.core.modules.attestations.module import MODULE as ATTESTATIONS
from trellis.core.modules.contracts.module import MODULE as CONTRACTS
from trellis.core.modules.credentials.module import MODULE as CREDENTIALS
from trellis.core.modules.custody.module import MODULE as CUSTODY
from trellis.core.modules.directory.module import MODULE as DIRECTORY
from trellis.core.modules.evidence.module import MODULE as EVIDENCE
from trellis.core.modules.hub.module import MODULE as HUB
from trellis.core.modules.identity.module import MODULE as IDENTITY
from trellis.core.modules.interchain.module import build as build_interchain
from trellis.core.modules.kv.module import MODULE as KV
from trellis.core.modules.membership.module import MODULE as MEMBERSHIP
from trellis.core.modules.notary.module import MODULE as NOTARY
from trellis.core.modules.transfer.module import MODULE as TRANSFER
from trellis.core.modules.validators.module import MODULE as VALIDATORS

APPLICATIONS: tuple[Module, ...] = (
    ACCOUNTS,
    KV,
    EVIDENCE,
    CONTRACTS,
    MEMBERSHIP,
    VALIDATORS,
    IDENTITY,
    NOTARY,
    CREDENTIALS,
    ATTESTATIONS,
    TRANSFER,
    HUB,
    DIRECTORY,
    CUSTODY,
)
"""Every module but ``interchain``, which is built around their packet applications."""

PACKET_APPS: dict[str, PacketApp] = {m.name: m.packet_app for m in APPLICATIONS if m.packet_app is not None}
"""Port (module name) -> packet application: what the interchain module delivers packets to."""

MODULES: tuple[Module, ...] = (*APPLICATIONS, build_interchain(PACKET_APPS))
"""Every module. The API's JSON payload union (``trellis/api/payload_json.py``) lists their messages in this
order, which the OpenAPI document shows; the order has no other effect (msgspec dispatches on the tag)."""

HANDLERS: dict[type, Handler] = {msg: handler for module in MODULES for msg, handler in module.handlers.items()}
"""Message type -> handler. Every member of ``Payload`` has exactly one."""

BLOCK_HOOKS: tuple[BlockHook, ...] = tuple(m.begin_block for m in MODULES if m.begin_block is not None)
"""The modules' ``begin_block`` hooks, in ``MODULES`` order: every block runs them before its transactions."""
