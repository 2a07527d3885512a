"""Denomination traces (docs/spec/transfer.md 1), pure: no state.

A full denomination is ``native`` (this chain's own currency) or ``port/channel/`` hops before a base:
``transfer/channel-0/native`` is the voucher a chain mints for the native currency of the chain at the other end
of its ``channel-0``. The ICS-20 source/sink rule reads only the first hop:

- a chain *sending* over ``(port, channel)`` a denom that starts with ``port/channel/`` returns a voucher home
  (burn it); any other denom leaves this chain (escrow it);
- a chain *receiving* a packet whose denom starts with the packet's ``source_port/source_channel/`` gets back
  something it sent (strip the hop, release the escrow); any other denom gets the hop
  ``dest_port/dest_channel/`` put in front (mint a voucher).
"""

from __future__ import annotations

import re

from trellis.core.modules.transfer.messages import MAX_DENOM, NATIVE
from trellis.core.modules.transfer.state import DenomTrace

_HOP = r"[a-z][a-z0-9_]{0,31}/channel-(?:0|[1-9][0-9]{0,19})"
_BASE = r"[A-Za-z][A-Za-z0-9._-]{0,63}"
_DENOM = re.compile(rf"(?:{_HOP}/)*{_BASE}")
"""The syntax of ``messages.Denom`` (hops then a base), matched whole."""


def is_valid(denom: str) -> bool:
    """The denom has the syntax of ``messages.Denom`` (at most ``MAX_DENOM`` characters)."""
    return 1 <= len(denom) <= MAX_DENOM and _DENOM.fullmatch(denom) is not None


def hop(port: str, channel: str) -> str:
    """The trace prefix of one hop: ``port/channel/``."""
    return f"{port}/{channel}/"


def has_hop(denom: str, port: str, channel: str) -> bool:
    """``denom``'s first hop is ``(port, channel)``."""
    return denom.startswith(hop(port, channel))


def strip_hop(denom: str, port: str, channel: str) -> str:
    """``denom`` without its first hop ``(port, channel)``.

    Raises:
        ValueError: the denom does not start with that hop.
    """
    prefix = hop(port, channel)
    if not denom.startswith(prefix):
        raise ValueError(f"{denom!r} does not start with {prefix!r}")
    return denom[len(prefix) :]


def add_hop(denom: str, port: str, channel: str) -> str:
    """``port/channel/`` + ``denom`` (may exceed ``MAX_DENOM``: check ``is_valid``)."""
    return hop(port, channel) + denom


def trace_of(denom: str) -> DenomTrace:
    """The trace of a full denom: its hops (``path``, ``""`` for none) and its base.

    Raises:
        ValueError: not a valid denom.
    """
    if not is_valid(denom):
        raise ValueError(f"{denom!r} is not a denomination")
    path, _, base = denom.rpartition("/")
    return DenomTrace(path=path, base=base)


def full_denom(trace: DenomTrace) -> str:
    """The full denom of a trace: ``path/base`` (``base`` when the path is empty)."""
    return f"{trace.path}/{trace.base}" if trace.path else trace.base


def is_voucher(denom: str) -> bool:
    """The denom has at least one hop (a voucher some channel brought in); ``native`` and bare bases have none."""
    return "/" in denom


def is_native(denom: str) -> bool:
    """The denom is this chain's own currency."""
    return denom == NATIVE
