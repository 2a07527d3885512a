"""The transfer module's packet application and the value moves behind it (docs/spec/transfer.md 4; ADR 0015
section 7): what the interchain module calls when a ``transfer`` channel opens and when one of its packets is
received, acknowledged or times out, and what ``transfer.send`` takes (``handlers.py`` calls ``take``).

Where value sits (transfer.md 3): the native currency in the accounts module's ``acct/`` balances (the nonce is
never touched here) and, while it is away, in the counter ``transfer/escrow/<channel>``; vouchers in
``transfer/balance/`` (an escrowed voucher at its channel's escrow address) with their ``transfer/supply/`` and
the ``DenomTrace`` written when one is first minted. Every amount is checked against 2^64-1 before it is written.
"""

from __future__ import annotations

from trellis.core.codec import decode, encode
from trellis.core.errors import DecodeError
from trellis.core.execution.context import TxContext
from trellis.core.execution.results import ResultCode, TxFailure
from trellis.core.ledger.block import Event
from trellis.core.modules.accounts.state import Account
from trellis.core.modules.interchain.messages import MAX_ACK_REASON, UNORDERED, Ack, Packet
from trellis.core.modules.transfer.denom import add_hop, has_hop, is_native, is_valid, is_voucher, strip_hop, trace_of
from trellis.core.modules.transfer.messages import VERSION, TransferData
from trellis.core.modules.transfer.state import (
    balance_key,
    denom_hash,
    denom_key,
    escrow_key,
    escrowed,
    read_trace,
    supply_key,
    u64_value,
    vescrow_key,
    voucher_balance,
    voucher_escrowed,
    voucher_supply,
)
from trellis.core.types import U64_MAX

PORT = "transfer"
"""The module's port (its name)."""
SUCCESS_RESULT = b"\x01"
"""The ``result`` of a successful transfer acknowledgement."""


# -- failures ----------------------------------------------------------------------------------------------------
def invalid_denom(reason: str) -> TxFailure:
    """``INVALID_DENOM`` with ``reason``."""
    return TxFailure(ResultCode.INVALID_DENOM, reason)


def insufficient(what: str, have: int, amount: int) -> TxFailure:
    """``INSUFFICIENT_FUNDS``: ``what`` holds ``have``, less than ``amount``."""
    return TxFailure(ResultCode.INSUFFICIENT_FUNDS, f"{what} holds {have}, less than the amount {amount}")


def _add(current: int, amount: int, what: str) -> int:
    total = current + amount
    if total > U64_MAX:
        raise TxFailure(ResultCode.OVERFLOW, f"{what} would exceed 2^64-1")
    return total


def positive(amount: int) -> None:
    """Refuse a zero amount (``INVALID_AMOUNT``)."""
    if amount <= 0:
        raise TxFailure(ResultCode.INVALID_AMOUNT, "amount must be positive")


# -- the native currency -----------------------------------------------------------------------------------------
def debit_native(ctx: TxContext, address: bytes, amount: int) -> None:
    """Take ``amount`` from ``address``'s account balance (its nonce unchanged)."""
    acct = ctx.account(address)
    if acct.balance < amount:
        raise insufficient(f"account {address.hex()}", acct.balance, amount)
    ctx.set_account(address, Account(balance=acct.balance - amount, nonce=acct.nonce))


def credit_native(ctx: TxContext, address: bytes, amount: int) -> None:
    """Add ``amount`` to ``address``'s account balance (its nonce unchanged)."""
    acct = ctx.account(address)
    balance = _add(acct.balance, amount, f"the balance of account {address.hex()}")
    ctx.set_account(address, Account(balance=balance, nonce=acct.nonce))


def escrow_native(ctx: TxContext, channel: str, amount: int) -> None:
    """``escrow/<channel> += amount``."""
    ctx.put(escrow_key(channel), u64_value(_add(escrowed(ctx, channel), amount, f"the escrow of {channel}")))


def release_native(ctx: TxContext, channel: str, amount: int) -> None:
    """``escrow/<channel> -= amount``."""
    held = escrowed(ctx, channel)
    if held < amount:
        raise insufficient(f"the native escrow of {channel}", held, amount)
    ctx.put(escrow_key(channel), u64_value(held - amount))


# -- vouchers ------------------------------------------------------------------------------------------------------
def known_voucher(ctx: TxContext, denom: str) -> bytes:
    """The hash of voucher ``denom``, which this chain must have minted (its trace is recorded).

    Raises:
        TxFailure: ``INVALID_DENOM``.
    """
    dh = denom_hash(ctx.suite, denom)
    if read_trace(ctx, dh) is None:
        raise invalid_denom(f"no voucher {denom!r} was ever minted on this chain")
    return dh


def debit_voucher(ctx: TxContext, dh: bytes, address: bytes, amount: int) -> None:
    """Take ``amount`` of voucher ``dh`` from ``address`` (the supply unchanged)."""
    held = voucher_balance(ctx, dh, address)
    if held < amount:
        raise insufficient(f"address {address.hex()}'s balance of voucher {dh.hex()}", held, amount)
    ctx.put(balance_key(dh, address), u64_value(held - amount))


def credit_voucher(ctx: TxContext, dh: bytes, address: bytes, amount: int) -> None:
    """Add ``amount`` of voucher ``dh`` to ``address`` (the supply unchanged)."""
    held = voucher_balance(ctx, dh, address)
    ctx.put(balance_key(dh, address), u64_value(_add(held, amount, f"{address.hex()}'s balance of {dh.hex()}")))


def mint_voucher(ctx: TxContext, denom: str, address: bytes, amount: int) -> bytes:
    """Create ``amount`` of voucher ``denom`` for ``address``: its trace (first time), supply and balance.
    Returns the denom hash."""
    dh = denom_hash(ctx.suite, denom)
    supply = _add(voucher_supply(ctx, dh), amount, f"the supply of {denom!r}")
    credit_voucher(ctx, dh, address, amount)
    if ctx.get(denom_key(dh)) is None:
        ctx.put(denom_key(dh), encode(trace_of(denom)))
    ctx.put(supply_key(dh), u64_value(supply))
    return dh


def burn_voucher(ctx: TxContext, dh: bytes, address: bytes, amount: int) -> None:
    """Destroy ``amount`` of voucher ``dh`` held by ``address``: balance and supply (the trace stays)."""
    debit_voucher(ctx, dh, address, amount)
    supply = voucher_supply(ctx, dh)
    if supply < amount:  # the supply is the sum of the balances: never reached
        raise insufficient(f"the supply of voucher {dh.hex()}", supply, amount)
    ctx.put(supply_key(dh), u64_value(supply - amount))


def escrow_voucher(ctx: TxContext, channel: str, dh: bytes, amount: int) -> None:
    """Add ``amount`` of voucher ``dh`` to what ``channel`` holds in escrow."""
    held = voucher_escrowed(ctx, channel, dh)
    ctx.put(vescrow_key(channel, dh), u64_value(_add(held, amount, f"the escrow of {dh.hex()} on {channel}")))


def release_voucher(ctx: TxContext, channel: str, dh: bytes, amount: int) -> None:
    """Take ``amount`` of voucher ``dh`` out of ``channel``'s escrow.

    Raises:
        TxFailure: ``INSUFFICIENT_FUNDS`` (the escrow holds less).
    """
    held = voucher_escrowed(ctx, channel, dh)
    if held < amount:
        raise insufficient(f"the escrow of voucher {dh.hex()} on {channel}", held, amount)
    ctx.put(vescrow_key(channel, dh), u64_value(held - amount))


# -- send ----------------------------------------------------------------------------------------------------------
def take(ctx: TxContext, port: str, channel: str, denom: str, sender: bytes, amount: int) -> None:
    """What sending ``amount`` of ``denom`` over ``(port, channel)`` takes from ``sender`` (transfer.md 4.1):
    a voucher coming home over this channel is burned, the native currency escrowed in ``escrow/<channel>``,
    any other voucher escrowed at the channel's escrow address.

    Raises:
        TxFailure: ``INVALID_AMOUNT``, ``INVALID_DENOM``, ``INSUFFICIENT_FUNDS``, ``OVERFLOW``.
    """
    positive(amount)
    if not is_valid(denom):
        raise invalid_denom(f"{denom!r} is not a denomination")
    if is_native(denom):
        debit_native(ctx, sender, amount)
        escrow_native(ctx, channel, amount)
        return
    if not is_voucher(denom):
        raise invalid_denom(f"{denom!r} is neither {'native'!r} nor a voucher")
    dh = known_voucher(ctx, denom)
    if has_hop(denom, port, channel):
        burn_voucher(ctx, dh, sender, amount)
    else:
        debit_voucher(ctx, dh, sender, amount)
        escrow_voucher(ctx, channel, dh, amount)


def give_back(ctx: TxContext, packet: Packet, data: TransferData) -> None:
    """Undo ``take`` for a packet the counterparty did not take (error ack or timeout): exactly what was taken,
    back to its sender (transfer.md 4.3).

    Raises:
        TxFailure: ``OVERFLOW`` (the sender's balance or a supply would pass 2^64-1; the packet stays pending).
    """
    port, channel, denom, amount = packet.source_port, packet.source_channel, data.denom, data.amount
    if is_native(denom):
        release_native(ctx, channel, amount)
        credit_native(ctx, data.sender, amount)
        return
    dh = denom_hash(ctx.suite, denom)
    if has_hop(denom, port, channel):
        mint_voucher(ctx, denom, data.sender, amount)
    else:
        release_voucher(ctx, channel, dh, amount)
        credit_voucher(ctx, dh, data.sender, amount)


# -- receive -------------------------------------------------------------------------------------------------------
def pay(ctx: TxContext, packet: Packet, data: TransferData) -> str:
    """What receiving ``packet`` pays ``data.receiver`` (transfer.md 4.2): a denom coming home (first hop = the
    packet's source end) loses that hop and is paid from this end's escrow; any other is minted as the voucher
    ``dest_port/dest_channel/denom``. Returns the denom paid.

    Raises:
        TxFailure: ``INVALID_AMOUNT``, ``INVALID_DENOM``, ``INSUFFICIENT_FUNDS`` (escrow short),
            ``OVERFLOW``.
    """
    positive(data.amount)
    if not is_valid(data.denom):
        raise invalid_denom(f"{data.denom!r} is not a denomination")
    if has_hop(data.denom, packet.source_port, packet.source_channel):
        local = strip_hop(data.denom, packet.source_port, packet.source_channel)
        if is_native(local):
            release_native(ctx, packet.dest_channel, data.amount)
            credit_native(ctx, data.receiver, data.amount)
            return local
        if not is_voucher(local):
            raise invalid_denom(f"{local!r} is neither {'native'!r} nor a voucher of this chain")
        dh = known_voucher(ctx, local)
        release_voucher(ctx, packet.dest_channel, dh, data.amount)
        credit_voucher(ctx, dh, data.receiver, data.amount)
        return local
    voucher = add_hop(data.denom, packet.dest_port, packet.dest_channel)
    if not is_valid(voucher):
        raise invalid_denom(f"the voucher of {data.denom!r} would be longer than a denomination may be")
    mint_voucher(ctx, voucher, data.receiver, data.amount)
    return voucher


def packet_data(packet: Packet) -> TransferData:
    """The packet's ``TransferData``.

    Raises:
        TxFailure: ``INVALID_DENOM`` — the data is not a canonical ``TransferData`` (its denom, amount or
            addresses break their bounds).
    """
    try:
        return decode(packet.data, TransferData)
    except DecodeError as exc:
        raise TxFailure(ResultCode.INVALID_DENOM, f"the packet data is not a transfer: {exc}") from None


def _event(kind: str, packet: Packet, *extra: tuple[str, bytes]) -> Event:
    return Event(
        type=kind,
        attributes=[
            ("channel", packet.source_channel.encode()),
            ("sequence", str(packet.sequence).encode()),
            *extra,
        ],
    )


class TransferApp:
    """The ``transfer`` port's packet application."""

    version = VERSION

    def on_chan_open(self, ctx: TxContext, order: int, counterparty_port: str, version: str) -> None:
        """A transfer channel is unordered and speaks ``trellis-transfer-1``.

        Raises:
            TxFailure: ``INVALID_HANDSHAKE``.
        """
        if order != UNORDERED:
            raise TxFailure(ResultCode.INVALID_HANDSHAKE, f"transfer channels are unordered (order 1), not {order}")
        if version != VERSION:
            raise TxFailure(ResultCode.INVALID_HANDSHAKE, f"transfer speaks version {VERSION!r}, not {version!r}")

    def on_chan_close(self, ctx: TxContext, channel: str) -> None:
        """Refuse: a transfer channel is never closed by a user (ICS-20), since its escrow backs vouchers on the
        other chain that can only come home over it."""
        raise TxFailure(
            ResultCode.INVALID_HANDSHAKE,
            f"transfer channel {channel} cannot be closed: its escrow backs vouchers that come home over it",
        )

    def on_recv(self, ctx: TxContext, packet: Packet) -> Ack:
        """Pay the receiver (``handlers.pay``); on any failure an error ack with the failure's code and message,
        and nothing written (the payment runs in its own savepoint, committed only when it succeeds)."""
        sp = ctx.savepoint()
        try:
            pay(sp, packet, packet_data(packet))
        except TxFailure as fail:
            return Ack(code=int(fail.code), result=b"", reason=fail.message[:MAX_ACK_REASON])
        sp.commit()
        return Ack(code=0, result=SUCCESS_RESULT, reason="")

    def on_ack(self, ctx: TxContext, packet: Packet, ack: Ack) -> list[Event]:
        """A success ack changes nothing; an error ack refunds the sender exactly what the send took."""
        if ack.code == 0:
            return [_event("transfer.ack", packet, ("success", b"\x01"))]
        return [_event("transfer.ack", packet, ("success", b"\x00")), self._refund(ctx, packet, "error_ack")]

    def on_timeout(self, ctx: TxContext, packet: Packet) -> list[Event]:
        """The packet was never received: refund the sender exactly what the send took."""
        return [self._refund(ctx, packet, "timeout")]

    @staticmethod
    def _refund(ctx: TxContext, packet: Packet, why: str) -> Event:
        data = packet_data(packet)
        give_back(ctx, packet, data)
        return _event(
            "transfer.refund",
            packet,
            ("denom", data.denom.encode()),
            ("amount", str(data.amount).encode()),
            ("to", data.sender),
            ("reason", why.encode()),
        )
