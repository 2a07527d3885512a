"""The directory module's declaration: its messages with their handlers, its prefixes, and its packet app (a hub
mirrors its sub-chains' entries from packets on the ``directory`` port)."""

from __future__ import annotations

from trellis.core.execution.module import Module
from trellis.core.modules.directory.app import DirectoryApp
from trellis.core.modules.directory.handlers import (
    handle_decide,
    handle_publish,
    handle_request_access,
    handle_update,
    handle_withdraw,
)
from trellis.core.modules.directory.messages import (
    DirectoryDecide,
    DirectoryPublish,
    DirectoryRequestAccess,
    DirectoryUpdate,
    DirectoryWithdraw,
)
from trellis.core.modules.directory.state import PREFIXES

MODULE = Module(
    name="directory",
    handlers={
        DirectoryPublish: handle_publish,
        DirectoryUpdate: handle_update,
        DirectoryWithdraw: handle_withdraw,
        DirectoryRequestAccess: handle_request_access,
        DirectoryDecide: handle_decide,
    },
    prefixes=PREFIXES,
    packet_app=DirectoryApp(),
)
