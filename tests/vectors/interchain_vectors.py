"""Test vectors of the interchain and transfer modules (docs/spec/interchain.md 9, docs/spec/transfer.md 6).

``interchain.json``: every ``interchain.*`` and ``transfer.*`` message and the three ``interchain.*`` governance
changes (fields, canonical payload bytes, a transaction carrying each); the state keys of interchain.md 3 for
sample identifiers; a packet and two acks (canonical bytes, ``packet_id``); and a counterparty state holding a
channel end, a pending packet, a receipt and an ack, with its root and proofs a verifier checks the way a light
client does (inclusion of the packet and the ack, absence of a receipt, and the packet's proof presented for
another key, which must fail).

``transfer.json``: denomination hashes, voucher-escrow state keys and ``TransferData`` bytes.

Written by ``python -m tests.vectors.generate`` (``FILES`` is merged into its list); deterministic.
"""

from __future__ import annotations

from typing import Any

from tests.memory_state import MemoryState
from tests.vectors import light_client_vectors
from tests.vectors.spec_vectors import signed_payload_rows, to_json
from trellis.core.codec import encode
from trellis.core.crypto.suite import ED25519, address_of, ed25519_keypair_from_seed, ed25519_sign
from trellis.core.errors import ProofError
from trellis.core.ledger.state_tree import apply_updates, prove, root_from_state_proof
from trellis.core.ledger.tx import SignedTx, TxBody, signing_bytes
from trellis.core.modules.interchain import state as ic
from trellis.core.modules.interchain.messages import (
    ORDERED,
    UNORDERED,
    Ack,
    Acknowledge,
    ChanCloseConfirm,
    ChanCloseInit,
    ChanOpenAck,
    ChanOpenConfirm,
    ChanOpenInit,
    ChanOpenTry,
    Checkpoint,
    ConnOpenAck,
    ConnOpenConfirm,
    ConnOpenInit,
    ConnOpenTry,
    CreateClient,
    EncodedSetChange,
    HeaderUpdate,
    Packet,
    RecoverClient,
    RecvPacket,
    Relay,
    SubmitMisbehaviour,
    Timeout,
    TimeoutOnClose,
    TrustChain,
    UntrustChain,
    UpdateClient,
)
from trellis.core.modules.membership.messages import ProposeMembership
from trellis.core.modules.payload import Payload
from trellis.core.modules.transfer.messages import TransferData, TransferMove, TransferSend
from trellis.core.modules.transfer.state import denom_hash, vescrow_key
from trellis.core.params import params_from_genesis

CHAIN_ID = "trellis-vectors"
SEED = bytes(range(0, 32))
PROOF_HEIGHT = 12


def _signed(nonce: int, payload: Payload) -> SignedTx:
    secret, public = ed25519_keypair_from_seed(SEED)
    body = TxBody(chain_id=CHAIN_ID, sender=public, nonce=nonce, payload=payload)
    return SignedTx(body=body, signature=ed25519_sign(secret, signing_bytes(body)))


def _address(n: int) -> bytes:
    return bytes([n]) * 20


PACKET = Packet(
    sequence=1,
    source_port="transfer",
    source_channel="channel-0",
    dest_port="transfer",
    dest_channel="channel-7",
    data=encode(TransferData(denom="native", amount=250, sender=_address(1), receiver=_address(2))),
    timeout_height=0,
    timeout_time_ms=1_700_000_600_000,
)
"""A transfer packet from channel-0 of the source to channel-7 of the destination, with a time timeout."""
OK_ACK = Ack(code=0, result=b"\x01")
"""A success acknowledgement."""
ERROR_ACK = Ack(code=42, result=b"", reason="transfer: unknown denomination transfer/channel-9/gold")
"""An error acknowledgement."""


def _light_parts() -> tuple[bytes, bytes, bytes, bytes, list[EncodedSetChange], bytes]:
    """Real encoded parts from the light-client vector chain: header, commit, its set, the set of height 1, the set
    changes, and the chain's genesis (canonical)."""
    chain = light_client_vectors.build_chain()
    lb = chain.light_block(3)
    changes = [
        EncodedSetChange(header=encode(c.header), commit=encode(c.commit), next_validators=encode(c.next_validators))
        for c in chain.changes_to(3)
    ]
    genesis = encode(params_from_genesis(light_client_vectors.genesis()).genesis)
    return encode(lb.header), encode(lb.commit), encode(lb.validators), encode(chain.sets[1]), changes, genesis


def payload_cases() -> list[tuple[str, Payload]]:
    """(case name, payload) for every interchain and transfer message and the three governance changes."""
    header, commit, validators, trusted, changes, genesis = _light_parts()
    update = HeaderUpdate(
        trusted_height=1, header=header, commit=commit, validators=validators, trusted_validators=trusted
    )
    proof = b"\x93\x0c\x90\xc0"  # an encoded StateProof [12, [], nil]: encoding vectors carry opaque proofs
    client_state = encode(
        ic.ClientState(
            chain_id="chain-a",
            genesis_hash=b"\x11" * 32,
            suite="ed25519",
            trusting_period_ms=1_209_600_000,
            max_clock_drift_ms=10_000,
            latest_height=12,
            frozen_height=0,
        )
    )
    return [
        (
            "interchain.create_client",
            CreateClient(
                chain_id=light_client_vectors.CHAIN_ID,
                genesis=genesis,
                set_changes=changes,
                header=header,
                commit=commit,
                trusting_period_ms=1_209_600_000,
                max_clock_drift_ms=10_000,
            ),
        ),
        (
            "interchain.create_client.checkpoint",
            CreateClient(
                chain_id=light_client_vectors.CHAIN_ID,
                genesis=b"",
                set_changes=[],
                header=header,
                commit=commit,
                trusting_period_ms=1_209_600_000,
                max_clock_drift_ms=10_000,
                checkpoint=Checkpoint(genesis_hash=b"\x33" * 32, suite="ed25519", validators=validators),
            ),
        ),
        ("interchain.update_client", UpdateClient(client_id="client-0", update=update)),
        ("interchain.submit_misbehaviour", SubmitMisbehaviour(client_id="client-0", first=update, second=update)),
        ("interchain.conn_open_init", ConnOpenInit(client_id="client-0", counterparty_client_id="client-3")),
        (
            "interchain.conn_open_try",
            ConnOpenTry(
                client_id="client-0",
                counterparty_client_id="client-3",
                counterparty_connection_id="connection-2",
                counterparty_client_state=client_state,
                proof_init=proof,
                proof_client=proof,
            ),
        ),
        (
            "interchain.conn_open_ack",
            ConnOpenAck(
                connection_id="connection-0",
                counterparty_connection_id="connection-2",
                counterparty_client_state=client_state,
                proof_try=proof,
                proof_client=proof,
            ),
        ),
        ("interchain.conn_open_confirm", ConnOpenConfirm(connection_id="connection-0", proof_ack=proof)),
        (
            "interchain.chan_open_init",
            ChanOpenInit(
                port="transfer",
                connection_id="connection-0",
                counterparty_port="transfer",
                order=UNORDERED,
                version="trellis-transfer-1",
            ),
        ),
        (
            "interchain.chan_open_try",
            ChanOpenTry(
                port="transfer",
                connection_id="connection-0",
                counterparty_port="transfer",
                counterparty_channel="channel-7",
                order=ORDERED,
                version="echo-1",
                proof_init=proof,
            ),
        ),
        (
            "interchain.chan_open_ack",
            ChanOpenAck(port="transfer", channel="channel-0", counterparty_channel="channel-7", proof_try=proof),
        ),
        ("interchain.chan_open_confirm", ChanOpenConfirm(port="transfer", channel="channel-0", proof_ack=proof)),
        ("interchain.chan_close_init", ChanCloseInit(port="transfer", channel="channel-0")),
        ("interchain.chan_close_confirm", ChanCloseConfirm(port="transfer", channel="channel-0", proof_init=proof)),
        ("interchain.recv_packet", RecvPacket(packet=PACKET, proof=proof)),
        ("interchain.acknowledge", Acknowledge(packet=PACKET, ack=ERROR_ACK, proof=proof)),
        ("interchain.timeout", Timeout(packet=PACKET, next_seq_recv=0, proof=proof)),
        ("interchain.timeout_on_close", TimeoutOnClose(packet=PACKET, next_seq_recv=1, proof=proof, proof_close=proof)),
        (
            "interchain.relay",
            Relay(
                update=UpdateClient(client_id="client-0", update=update),
                items=[RecvPacket(packet=PACKET, proof=proof), Timeout(packet=PACKET, next_seq_recv=0, proof=proof)],
            ),
        ),
        ("interchain.relay.no_update", Relay(update=None, items=[Acknowledge(packet=PACKET, ack=OK_ACK, proof=proof)])),
        (
            "transfer.send",
            TransferSend(
                channel="channel-0",
                denom="transfer/channel-3/native",
                amount=1000,
                receiver=_address(2),
                timeout_height=500,
                timeout_time_ms=1_700_000_600_000,
            ),
        ),
        ("transfer.send.defaults", TransferSend(channel="channel-0", denom="native", amount=1, receiver=_address(2))),
        (
            "transfer.move",
            TransferMove(to=_address(3), denom_hash=denom_hash(ED25519, "transfer/channel-0/native"), amount=7),
        ),
        (
            "membership.propose.interchain.trust_chain",
            ProposeMembership(change=TrustChain(chain_id="health-chain", genesis_hash=b"\x22" * 32)),
        ),
        (
            "membership.propose.interchain.trust_chain.checkpoint",
            ProposeMembership(
                change=TrustChain(
                    chain_id="health-chain",
                    genesis_hash=b"\x22" * 32,
                    checkpoint_height=4_000_000,
                    checkpoint_block_id=b"\x44" * 32,
                )
            ),
        ),
        (
            "membership.propose.interchain.untrust_chain",
            ProposeMembership(change=UntrustChain(chain_id="health-chain")),
        ),
        (
            "membership.propose.interchain.recover_client",
            ProposeMembership(change=RecoverClient(subject="client-0", substitute="client-4")),
        ),
    ]


def _payloads() -> list[dict[str, Any]]:
    return signed_payload_rows(payload_cases(), lambda nonce, payload: _signed(nonce, payload))


def _keys() -> list[dict[str, Any]]:
    rows: list[tuple[str, list[Any], bytes]] = [
        ("next_ids", [], ic.NEXT_IDS_KEY),
        ("trusted", ["health-chain"], ic.trusted_key("health-chain")),
        ("client", ["client-0"], ic.client_key("client-0")),
        ("consensus", ["client-0", 12], ic.consensus_key("client-0", 12)),
        ("misbehaviour", ["client-0"], ic.misbehaviour_key("client-0")),
        ("connection", ["connection-0"], ic.connection_key("connection-0")),
        ("channel", ["transfer", "channel-0"], ic.channel_key("transfer", "channel-0")),
        ("seq_send", ["transfer", "channel-0"], ic.seq_send_key("transfer", "channel-0")),
        ("seq_recv", ["transfer", "channel-0"], ic.seq_recv_key("transfer", "channel-0")),
        ("seq_ack", ["transfer", "channel-0"], ic.seq_ack_key("transfer", "channel-0")),
        ("packet", ["transfer", "channel-0", 1], ic.packet_key("transfer", "channel-0", 1)),
        ("receipt", ["transfer", "channel-7", 1], ic.receipt_key("transfer", "channel-7", 1)),
        ("ack", ["transfer", "channel-7", 1], ic.ack_key("transfer", "channel-7", 1)),
    ]
    return [{"kind": kind, "args": args, "key": key.hex()} for kind, args, key in rows]


def _proofs() -> dict[str, Any]:
    """A source chain's state with a pending packet and a destination-side receipt and ack in one tree (a
    verifier checks both kinds of proof the same way)."""
    channel = ic.ChannelEnd(
        state=ic.OPEN,
        order=UNORDERED,
        connection_id="connection-0",
        counterparty_port="transfer",
        counterparty_channel="channel-7",
        version="trellis-transfer-1",
    )
    entries = {
        ic.channel_key("transfer", "channel-0"): encode(channel),
        ic.seq_send_key("transfer", "channel-0"): (2).to_bytes(8, "big"),
        ic.packet_key("transfer", "channel-0", 1): encode(PACKET),
        ic.receipt_key("transfer", "channel-7", 5): b"\x01",
        ic.ack_key("transfer", "channel-7", 5): encode(OK_ACK),
    }
    mem = MemoryState()
    update = apply_updates(ED25519, mem, bytes(32), dict(entries))
    mem.nodes.update(update.nodes)
    root = update.root

    def case(name: str, key: bytes, value: bytes | None, proven: bytes, expect: bool) -> dict[str, Any]:
        proof = prove(ED25519, mem, root, proven, PROOF_HEIGHT)
        try:
            ok = root_from_state_proof(ED25519, key, value, proof) == root
        except ProofError:
            ok = False
        assert ok == expect, name
        return {
            "name": name,
            "key": key.hex(),
            "value": None if value is None else value.hex(),
            "proof_bytes": encode(proof).hex(),
            "valid": expect,
        }

    packet_key = ic.packet_key("transfer", "channel-0", 1)
    receipt_absent = ic.receipt_key("transfer", "channel-7", 1)
    ack_key = ic.ack_key("transfer", "channel-7", 5)
    return {
        "height": PROOF_HEIGHT,
        "entries": [{"key": k.hex(), "value": v.hex()} for k, v in sorted(entries.items())],
        "state_root": root.hex(),
        "cases": [
            case("packet inclusion", packet_key, encode(PACKET), packet_key, True),
            case("ack inclusion", ack_key, encode(OK_ACK), ack_key, True),
            case("receipt absence (a timeout's proof)", receipt_absent, None, receipt_absent, True),
            case(
                "the packet's proof presented for sequence 2",
                ic.packet_key("transfer", "channel-0", 2),
                encode(PACKET),
                packet_key,
                False,
            ),
            case(
                "a present receipt claimed absent",
                ic.receipt_key("transfer", "channel-7", 5),
                None,
                ic.receipt_key("transfer", "channel-7", 5),
                False,
            ),
            case("a changed packet", packet_key, encode(PACKET)[:-1] + b"\x00", packet_key, False),
        ],
    }


def interchain_vectors() -> dict[str, Any]:
    _, public = ed25519_keypair_from_seed(SEED)
    return {
        "description": (
            "The interchain and transfer modules (docs/spec/interchain.md, transfer.md): each message (fields, "
            "canonical payload bytes, a transaction by `public_key` carrying it, nonce = case index, memo empty); "
            "state keys for sample identifiers; a packet, acks and the packet id; a state with a pending packet, a "
            "receipt and an ack, its root, and proofs (valid: the root recomputed from key, value and proof "
            "equals state_root)."
        ),
        "suite": ED25519.name,
        "chain_id": CHAIN_ID,
        "seed": SEED.hex(),
        "public_key": public.hex(),
        "address": address_of(ED25519, public).hex(),
        "cases": _payloads(),
        "keys": _keys(),
        "packet": {
            "fields": to_json(PACKET),
            "bytes": encode(PACKET).hex(),
            "packet_id": ic.packet_id(ED25519, PACKET).hex(),
        },
        "acks": [{"fields": to_json(a), "bytes": encode(a).hex()} for a in (OK_ACK, ERROR_ACK)],
        "proofs": _proofs(),
    }


def transfer_vectors() -> dict[str, Any]:
    denoms = ["native", "transfer/channel-0/native", "transfer/channel-12/transfer/channel-0/native", "gold"]
    data = TransferData(denom="transfer/channel-0/native", amount=2**64 - 1, sender=_address(1), receiver=_address(2))
    return {
        "description": (
            "The transfer module (docs/spec/transfer.md): denomination hashes, the state keys of vouchers escrowed "
            "on a channel, and the canonical TransferData a packet carries."
        ),
        "suite": ED25519.name,
        "denoms": [{"denom": d, "denom_hash": denom_hash(ED25519, d).hex()} for d in denoms],
        "voucher_escrow_keys": [
            {
                "channel": c,
                "denom": d,
                "denom_hash": denom_hash(ED25519, d).hex(),
                "key": vescrow_key(c, denom_hash(ED25519, d)).hex(),
            }
            for c, d in (("channel-0", "transfer/channel-3/native"), ("channel-7", "transfer/channel-0/gold"))
        ],
        "transfer_data": {"fields": to_json(data), "bytes": encode(data).hex()},
    }


FILES = {"interchain.json": interchain_vectors, "transfer.json": transfer_vectors}
