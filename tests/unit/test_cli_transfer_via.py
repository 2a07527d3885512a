"""``trellis transfer send --via``: what the CLI refuses before signing (the hub channel's syntax, a second hop's
timeout past the chain's ``FORWARD_MAX_WAIT_MS`` when the first hop has only a timeout height)."""

from __future__ import annotations

import pytest

from tests.unit.test_transfer_forward import _cli_send
from trellis.cli.main import CliError
from trellis.core.modules.transfer.messages import TransferSendVia

BASE = ("--channel", "channel-1", "--denom", "native", "--amount", "7", "--to", "ab" * 20)


@pytest.mark.parametrize("via", ["channel-3", "hub:channel-3"])
def test_via_takes_a_channel_or_hub_channel(monkeypatch: pytest.MonkeyPatch, via: str) -> None:
    payload, _ = _cli_send(monkeypatch, *BASE, "--via", via, "--timeout", "10m")  # type: ignore[misc]
    assert isinstance(payload, TransferSendVia) and payload.forward.channel == "channel-3"


@pytest.mark.parametrize(
    "via", ["other:channel-3", "a:b:channel-3", "channel-", "channel-3 ", "hub:", "3", "Channel-3"]
)
def test_via_refuses_anything_else(monkeypatch: pytest.MonkeyPatch, via: str) -> None:
    with pytest.raises(CliError, match="channel-N or hub:channel-N"):
        _cli_send(monkeypatch, *BASE, "--via", via, "--timeout", "10m")


def test_a_forward_timeout_past_the_max_wait_is_refused_with_only_a_timeout_height(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(CliError, match="more than 86400000 ms past"):
        _cli_send(monkeypatch, *BASE, "--via", "channel-3", "--timeout-height", "100", "--forward-timeout", "3d")
    payload, _ = _cli_send(  # type: ignore[misc]
        monkeypatch, *BASE, "--via", "channel-3", "--timeout-height", "100", "--forward-timeout", "1h"
    )
    assert isinstance(payload, TransferSendVia) and payload.timeout_time_ms == 0 and payload.timeout_height == 100
