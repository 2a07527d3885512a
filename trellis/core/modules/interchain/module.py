"""The interchain module's declaration, built around the packet applications of the other modules.

``trellis.core.modules.registry`` collects every module's ``packet_app`` into a table (port = module name) and
calls ``build(table)``: the packet and channel handlers close over it, so this module imports no other module.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial

from trellis.core.execution.module import Handler, Module, PacketApp
from trellis.core.ledger.block import Event
from trellis.core.modules.interchain.handlers.channels import (
    handle_chan_close_confirm,
    handle_chan_close_init,
    handle_chan_open_ack,
    handle_chan_open_confirm,
    handle_chan_open_init,
    handle_chan_open_try,
)
from trellis.core.modules.interchain.handlers.clients import (
    handle_create_client,
    handle_submit_misbehaviour,
    handle_update_client,
)
from trellis.core.modules.interchain.handlers.connections import (
    handle_conn_open_ack,
    handle_conn_open_confirm,
    handle_conn_open_init,
    handle_conn_open_try,
)
from trellis.core.modules.interchain.handlers.packets import (
    handle_acknowledge,
    handle_recv_packet,
    handle_relay,
    handle_timeout,
    handle_timeout_on_close,
)
from trellis.core.modules.interchain.messages import (
    Acknowledge,
    ChanCloseConfirm,
    ChanCloseInit,
    ChanOpenAck,
    ChanOpenConfirm,
    ChanOpenInit,
    ChanOpenTry,
    ConnOpenAck,
    ConnOpenConfirm,
    ConnOpenInit,
    ConnOpenTry,
    CreateClient,
    RecvPacket,
    Relay,
    SubmitMisbehaviour,
    Timeout,
    TimeoutOnClose,
    UpdateClient,
)
from trellis.core.modules.interchain.state import PREFIXES

NAME = "interchain"
"""The module's name."""


def build(apps: Mapping[str, PacketApp]) -> Module:
    """The interchain module, routing packets to ``apps`` (port -> packet application)."""
    table = dict(apps)

    def bound(handler: Callable[..., list[Event]]) -> Handler:
        return partial(handler, apps=table)

    return Module(
        name=NAME,
        handlers={
            CreateClient: handle_create_client,
            UpdateClient: handle_update_client,
            SubmitMisbehaviour: handle_submit_misbehaviour,
            ConnOpenInit: handle_conn_open_init,
            ConnOpenTry: handle_conn_open_try,
            ConnOpenAck: handle_conn_open_ack,
            ConnOpenConfirm: handle_conn_open_confirm,
            ChanOpenInit: bound(handle_chan_open_init),
            ChanOpenTry: bound(handle_chan_open_try),
            ChanOpenAck: bound(handle_chan_open_ack),
            ChanOpenConfirm: bound(handle_chan_open_confirm),
            ChanCloseInit: bound(handle_chan_close_init),
            ChanCloseConfirm: bound(handle_chan_close_confirm),
            RecvPacket: bound(handle_recv_packet),
            Acknowledge: bound(handle_acknowledge),
            Timeout: bound(handle_timeout),
            TimeoutOnClose: bound(handle_timeout_on_close),
            Relay: bound(handle_relay),
        },
        prefixes=PREFIXES,
    )
