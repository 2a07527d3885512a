"""Acceptance 1 of issue 15 (ADR 0015 sections 7, 8 and 12) on real processes: two chains of four validators
joined by one relayer process. 1,000 transfers A -> B from several funded accounts (in batches), then up to 1,000
voucher transfers back B -> A; half-way through the outbound transfers the relayer and one validator of each chain
are killed with SIGKILL and restarted. At quiescence:

- conservation on A: the native balances of every account plus the channel's escrow equal the genesis supply
  (nothing is minted in this test);
- the voucher supply on B equals A's escrow (what went out minus what came back), and equals the receivers'
  voucher balances;
- no double credit: every receiver holds exactly the sum sent to it (less what it sent back), every sender exactly
  its genesis balance less what it sent, every account on A credited from B exactly what was sent to it;
- every packet sequence of both directions acknowledged exactly once: no packet left pending at its source, a
  receipt and a success ack for each at its destination, and the next send sequence one past the last.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from trellis.core.codec import decode
from trellis.core.crypto.suite import ED25519, address_of
from trellis.core.modules.interchain.messages import Ack
from trellis.core.modules.interchain.state import ack_key, packet_key, receipt_key, seq_send_key
from trellis.core.modules.transfer.messages import TransferSend
from trellis.core.modules.transfer.state import balance_key, denom_hash, escrow_key, supply_key
from trellis.keys.signer import MemorySigner

from .harness import MultiChain, account_signer, post_batch, signed

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

A, B = 0, 1
SENDERS = 10
RECEIVERS = 25
OUT = 1000
"""Transfers A -> B."""
BACK = 1000
"""Transfers B -> A (vouchers going home; one is skipped when its receiver has nothing left)."""
PORT = "transfer"


def _amount(i: int) -> int:
    return 1 + i % 7


def _sign_all(
    mc: MultiChain, chain: int, jobs: list[tuple[MemorySigner, TransferSend]], nonces: dict[bytes, int]
) -> dict[int, list[bytes]]:
    """Sign each (sender, message) in order with the sender's next nonces (``nonces``, kept by the test: a node's
    view may lag behind what another node was sent); group by the node (0..2) that gets the sender's transactions
    (node 3 of each chain is the one killed)."""
    by_node: dict[int, list[bytes]] = {0: [], 1: [], 2: []}
    for signer, msg in jobs:
        pk = signer.public_key
        if pk not in nonces:
            nonces[pk] = mc.next_nonce(chain, address_of(ED25519, pk))
        raw, _ = signed(signer, mc.nets[chain].chain_id, nonces[pk], msg)
        nonces[pk] += 1
        by_node[pk[0] % 3].append(raw)
    return by_node


def _submit(mc: MultiChain, chain: int, by_node: dict[int, list[bytes]]) -> None:
    for node, raws in by_node.items():
        for k in range(0, len(raws), 200):
            post_batch(mc.nets[chain].nodes[node].http, raws[k : k + 200])


def _pending(mc: MultiChain, chain: int, channel: str) -> int:
    status, body = mc.nets[chain].nodes[0].http.get(f"/v1/interchain/channels/{PORT}/{channel}/packets?limit=100")
    assert status == 200, body
    return len(body["packets"])


def _sent(mc: MultiChain, chain: int, channel: str) -> int:
    """Packets sent on ``channel`` so far (next send sequence - 1)."""
    return max(0, mc.u64(chain, seq_send_key(PORT, channel)) - 1)


def _quiet(mc: MultiChain, chain: int, channel: str, expected: int) -> bool:
    return _sent(mc, chain, channel) == expected and _pending(mc, chain, channel) == 0


def _assert_each_delivered_once(mc: MultiChain, src: int, src_ch: str, dst: int, dst_ch: str, n: int) -> None:
    """Sequences 1..n: gone from the source, a receipt and a success ack at the destination; nothing past n."""

    def one(seq: int) -> str | None:
        if mc.state(src, packet_key(PORT, src_ch, seq)) is not None:
            return f"{seq}: still pending at the source"
        if mc.state(dst, receipt_key(PORT, dst_ch, seq)) is None:
            return f"{seq}: no receipt at the destination"
        raw = mc.state(dst, ack_key(PORT, dst_ch, seq))
        if raw is None:
            return f"{seq}: no ack at the destination"
        ack = decode(raw, Ack)
        return None if ack.code == 0 else f"{seq}: error ack {ack.code} {ack.reason}"

    with ThreadPoolExecutor(8) as pool:
        problems = [p for p in pool.map(one, range(1, n + 1)) if p is not None]
    assert not problems, problems[:10]
    assert mc.state(dst, receipt_key(PORT, dst_ch, n + 1)) is None
    assert mc.u64(src, seq_send_key(PORT, src_ch)) == n + 1


def test_a_thousand_transfers_there_and_back_survive_killed_relayer_and_validators(tmp_path: Path) -> None:
    senders = [account_signer(f"sender-{i}") for i in range(SENDERS)]
    receivers = [account_signer(f"receiver-{i}") for i in range(RECEIVERS)]  # on B; unfunded, they pay no fees
    homes = [bytes([0xA0, i]) + b"\x00" * 18 for i in range(7)]  # on A: where the vouchers go back to
    mc = MultiChain(tmp_path / "chains", 2, 4, funded=[address_of(ED25519, s.public_key) for s in senders])
    genesis_a = mc.genesis_accounts(A)
    deadline_ms = int(time.time() * 1000) + 30 * 60_000  # far: no packet of this test times out
    try:
        mc.start_all()
        mc.connect()
        path = mc.paths[0]
        ch_a, ch_b = path.a_channel, path.b_channel
        voucher = denom_hash(ED25519, f"{PORT}/{ch_b}/native")
        mc.start_relayer()

        out: list[tuple[MemorySigner, TransferSend]] = []
        owed: dict[bytes, int] = {}
        spent: dict[bytes, int] = {}
        for i in range(OUT):
            s, r = senders[i % SENDERS], address_of(ED25519, receivers[i % RECEIVERS].public_key)
            msg = TransferSend(channel=ch_a, denom="native", amount=_amount(i), receiver=r, timeout_time_ms=deadline_ms)
            out.append((s, msg))
            owed[r] = owed.get(r, 0) + msg.amount
            spent[s.public_key] = spent.get(s.public_key, 0) + msg.amount
        half = OUT // 2
        nonces_a: dict[bytes, int] = {}
        _submit(mc, A, _sign_all(mc, A, out[:half], nonces_a))
        mc.wait_until("the first packets received on B", lambda: mc.u64(B, supply_key(voucher)) > 0, timeout=120)

        # Mid-way: SIGKILL the relayer and one validator of each chain; the rest goes on without them.
        mc.kill_relayer()
        mc.nets[A].nodes[3].kill()
        mc.nets[B].nodes[3].kill()
        _submit(mc, A, _sign_all(mc, A, out[half:], nonces_a))
        mc.wait_until("every send committed on A", lambda: _sent(mc, A, ch_a) == OUT, timeout=120)
        mc.nets[A].nodes[3].start(ready_timeout=60)
        mc.nets[B].nodes[3].start(ready_timeout=60)
        mc.start_relayer()
        mc.wait_until("A -> B quiescent", lambda: _quiet(mc, A, ch_a, OUT), timeout=240)

        # Vouchers back home: receivers on B send part of what they got to accounts on A.
        back: list[tuple[MemorySigner, TransferSend]] = []
        returned: dict[bytes, int] = {}
        left = dict(owed)
        for i in range(BACK):
            r = receivers[i % RECEIVERS]
            ra = address_of(ED25519, r.public_key)
            amount = min(_amount(i), left[ra])
            if amount == 0:
                continue
            left[ra] -= amount
            home = homes[i % len(homes)]
            back.append(
                (
                    r,
                    TransferSend(
                        channel=ch_b,
                        denom=f"{PORT}/{ch_b}/native",
                        amount=amount,
                        receiver=home,
                        timeout_time_ms=deadline_ms,
                    ),
                )
            )
            returned[home] = returned.get(home, 0) + amount
        _submit(mc, B, _sign_all(mc, B, back, {}))
        mc.wait_until("B -> A quiescent", lambda: _quiet(mc, B, ch_b, len(back)), timeout=180)
        mc.assert_relayer_alive()
        # The relayer's own view agrees: nothing pending on either end (its next scan may lag a moment).
        mc.wait_until(
            "the relayer's /status shows nothing pending",
            lambda: all(n == 0 for p in mc.relayer_status()["paths"] for n in p["pending"].values()),
            timeout=30,
        )

        total_out, total_back = sum(owed.values()), sum(returned.values())
        # Conservation on A: balances + escrow = genesis supply (no mint in this test).
        escrow = mc.u64(A, escrow_key(ch_a))
        assert escrow == total_out - total_back
        accounts = set(genesis_a) | set(homes)
        balances = {a: mc.balance(A, a) for a in accounts}
        assert sum(balances.values()) + escrow == sum(genesis_a.values())
        # Vouchers on B: supply = escrow on A = what the receivers hold.
        supply = mc.u64(B, supply_key(voucher))
        assert supply == escrow
        held = {ra: mc.u64(B, balance_key(voucher, ra)) for ra in owed}
        assert sum(held.values()) == supply
        # No double credit, no lost debit.
        assert held == left
        for s in senders:
            a = address_of(ED25519, s.public_key)
            assert balances[a] == genesis_a[a] - spent[s.public_key]
        for home in homes:
            assert balances[home] == returned.get(home, 0)
        # Every sequence of both directions delivered and acknowledged exactly once.
        _assert_each_delivered_once(mc, A, ch_a, B, ch_b, OUT)
        _assert_each_delivered_once(mc, B, ch_b, A, ch_a, len(back))
        # The restarted validators caught up with their chains.
        for chain in (A, B):
            net = mc.nets[chain]
            net.wait_height([3], min(net.heights([0, 1, 2])), timeout=60)
    finally:
        mc.stop_all()
