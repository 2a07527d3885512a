"""Acceptance 2 of issue 15 (ADR 0015 sections 3, 7 and 12) on real processes: with the relayer stopped, transfers
A -> B with a short time timeout are sent; once B's blocks are past the timeout the relayer is started again and
proves each packet's non-receipt to A: every packet is refunded exactly once (the senders' balances and A's escrow
are back where they were), nothing is received on B and no voucher is minted."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from trellis.core.crypto.suite import ED25519, address_of
from trellis.core.ledger.tx import tx_hash
from trellis.core.modules.interchain.state import ack_key, packet_key, receipt_key, seq_send_key
from trellis.core.modules.transfer.messages import TransferSend
from trellis.core.modules.transfer.state import balance_key, denom_hash, escrow_key, supply_key

from .harness import MultiChain, account_signer, post_batch, signed

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

A, B = 0, 1
PORT = "transfer"
SENDERS = 3
PACKETS = 30
TIMEOUT_MS = 4_000
"""How far past the send the packets time out (B's block time)."""


def test_packets_that_time_out_while_the_relayer_is_down_are_refunded_exactly_once(tmp_path: Path) -> None:
    senders = [account_signer(f"timeout-sender-{i}") for i in range(SENDERS)]
    receiver = address_of(ED25519, account_signer("timeout-receiver").public_key)
    mc = MultiChain(tmp_path / "chains", 2, 2, funded=[address_of(ED25519, s.public_key) for s in senders])
    try:
        mc.start_all()
        mc.connect()
        path = mc.paths[0]
        ch_a, ch_b = path.a_channel, path.b_channel
        voucher = denom_hash(ED25519, f"{PORT}/{ch_b}/native")
        mc.start_relayer()

        # The path works: one transfer delivered and acknowledged (sequence 1).
        first = senders[0]
        raw, _ = signed(
            first,
            mc.nets[A].chain_id,
            0,
            TransferSend(channel=ch_a, denom="native", amount=5, receiver=receiver, timeout_time_ms=2**62),
        )
        assert mc.nets[A].nodes[0].http.post_tx(raw)[0] == 202
        mc.nets[A].wait_committed(0, "0x" + tx_hash(ED25519, raw).hex())
        mc.wait_until("the first transfer acknowledged", lambda: mc.state(A, packet_key(PORT, ch_a, 1)) is None, 60)
        assert mc.u64(B, balance_key(voucher, receiver)) == 5

        mc.stop_relayer()
        before = {s.public_key: mc.balance(A, address_of(ED25519, s.public_key)) for s in senders}
        escrow_before, supply_before = mc.u64(A, escrow_key(ch_a)), mc.u64(B, supply_key(voucher))
        b_time = mc.nets[B].nodes[0].http.get("/v1/status")[1]["time_ms"]
        timeout_ms = max(b_time, int(time.time() * 1000)) + TIMEOUT_MS
        raws_by_node: dict[int, list[bytes]] = {0: [], 1: []}
        nonces = {s.public_key: mc.next_nonce(A, address_of(ED25519, s.public_key)) for s in senders}
        for i in range(PACKETS):
            s = senders[i % SENDERS]
            msg = TransferSend(
                channel=ch_a, denom="native", amount=10 + i, receiver=receiver, timeout_time_ms=timeout_ms
            )
            raw, _ = signed(s, mc.nets[A].chain_id, nonces[s.public_key], msg)
            nonces[s.public_key] += 1
            raws_by_node[i % SENDERS % 2].append(raw)
        for node, raws in raws_by_node.items():
            post_batch(mc.nets[A].nodes[node].http, raws)
        mc.wait_until("every send committed", lambda: mc.u64(A, seq_send_key(PORT, ch_a)) == PACKETS + 2, 60)
        # The amounts left the senders and sit in escrow while the packets are pending.
        assert mc.u64(A, escrow_key(ch_a)) == escrow_before + sum(10 + i for i in range(PACKETS))

        def past_timeout() -> bool:
            return int(mc.nets[B].nodes[0].http.get("/v1/status")[1]["time_ms"]) > timeout_ms + 500

        mc.wait_until("B's blocks past the timeout", past_timeout, 60)
        mc.start_relayer()
        mc.wait_until(
            "every timed-out packet settled on A",
            lambda: all(mc.state(A, packet_key(PORT, ch_a, seq)) is None for seq in range(2, PACKETS + 2)),
            timeout=120,
        )
        # A further scan by the running relayer changes nothing (the packets are gone: a second timeout is refused).
        time.sleep(4)
        mc.assert_relayer_alive()

        # Refunded exactly once: balances and escrow back to where they were before the sends.
        for s in senders:
            assert mc.balance(A, address_of(ED25519, s.public_key)) == before[s.public_key]
        assert mc.u64(A, escrow_key(ch_a)) == escrow_before
        # Nothing received on B, no voucher minted.
        assert mc.u64(B, supply_key(voucher)) == supply_before
        assert mc.u64(B, balance_key(voucher, receiver)) == 5
        for seq in range(2, PACKETS + 2):
            assert mc.state(B, receipt_key(PORT, ch_b, seq)) is None, seq
            assert mc.state(B, ack_key(PORT, ch_b, seq)) is None, seq
    finally:
        mc.stop_all()
