"""Directory mirroring (docs/spec/directory.md 6): a sub-chain announces each publish, update and withdrawal to its
hub over the ``directory`` channel that leads there; the hub stores a mirror proven against the sub-chain's state,
indexed exactly as its own entries. Two (or three) ``SimChain``s joined by the ``two_chains`` helpers."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from tests.fixtures.chain_sim import ADMIN, SimChain
from tests.fixtures.two_chains import RELAYER, Path, connect, pending, recv_items, relay_acks, relay_packets
from tests.fixtures.two_chains import update_message as header_update
from trellis.core.codec import decode, encode
from trellis.core.execution.context import TxContext
from trellis.core.execution.results import ResultCode, TxFailure
from trellis.core.modules.directory.app import (
    PORT,
    DirectoryApp,
    store_mirror,
)
from trellis.core.modules.directory.messages import (
    PUBLIC,
    VERSION,
    Announce,
    DirectoryPublish,
    DirectoryUpdate,
    DirectoryWithdraw,
    EntryFields,
)
from trellis.core.modules.directory.state import (
    HUB_CHANNEL_KEY,
    INDEX_PREFIX,
    Entry,
    entry_id,
    index_prefix,
    index_values,
    read_entry,
    read_mirror,
)
from trellis.core.modules.identity.did import format_did
from trellis.core.modules.identity.messages import DidCreate, DidDocument, DidVerificationMethod
from trellis.core.modules.interchain.messages import ORDERED, UNORDERED, Packet, Relay, TrustChain
from trellis.core.modules.interchain.state import read_ack
from trellis.core.modules.membership.messages import ProposeMembership, RegisterCert
from trellis.core.params import GenesisHub, GenesisHubRef

OWNER = "alice"


def hub_chain() -> SimChain:
    hub = SimChain("hub", client_policy="governed", hub=GenesisHub(), accounts={RELAYER: 10**6})
    assert hub.submit(ADMIN, RegisterCert(cert=hub.admin_cert())).code == 0
    return hub


def sub_chain(hub: SimChain, chain_id: str = "sub-1") -> SimChain:
    ref = GenesisHubRef(chain_id=hub.chain_id, genesis_hash=hub.params.genesis_hash.hex())
    sub = SimChain(chain_id, interchain_hub=ref, accounts={RELAYER: 10**6, OWNER: 10**6})
    r = hub.submit(ADMIN, ProposeMembership(change=TrustChain(chain_id=chain_id, genesis_hash=sub.params.genesis_hash)))
    assert r.code == 0, r
    return sub


def join(sub: SimChain, hub: SimChain) -> Path:
    sub.advance(1)
    hub.advance(1)
    return connect(sub, hub, port=PORT, version=VERSION)


class Net:
    def __init__(self) -> None:
        self.hub = hub_chain()
        self.sub = sub_chain(self.hub)
        self.path = join(self.sub, self.hub)
        doc = DidDocument(
            verification_methods=[
                DidVerificationMethod(
                    id="key-1", type="Ed25519VerificationKey2020", public_key=self.sub.public_key(OWNER)
                )
            ],
            authentication=["key-1"],
            assertion_method=["key-1"],
            services=[],
            controllers=[],
        )
        r = self.sub.submit(OWNER, DidCreate(document=doc))
        assert r.code == 0, r
        self.did = format_did(self.sub.chain_id, r.data)

    def fields(self, **kw: Any) -> EntryFields:
        base: dict[str, Any] = {
            "owner_did": self.did,
            "title": "Harbour air quality",
            "type": "token:air",
            "keywords": ["air"],
            "digest": bytes(32),
            "receipt_ref": "",
            "location": "",
            "licence": "",
            "access": PUBLIC,
            "credential_type": "",
        }
        base.update(kw)
        return EntryFields(**base)

    def publish(self, **kw: Any) -> bytes:
        nonce = self.sub.account_nonce(self.sub.address(OWNER))
        r = self.sub.submit(OWNER, DirectoryPublish(entry=self.fields(**kw)))
        assert r.code == 0, r
        return entry_id(self.sub.params.suite, self.sub.chain_id, self.sub.address(OWNER), nonce)

    def relay(self) -> None:
        relay_packets(self.sub, self.hub, self.path)
        relay_acks(self.sub, self.hub, self.path)

    def mirrored(self, ident: bytes) -> Entry | None:
        m = read_mirror(self.hub.reader(), ident)
        return None if m is None else decode(m.entry, Entry)


def index_rows(chain: SimChain) -> set[tuple[bytes, bytes, bytes]]:
    rows = chain.reader().scan(INDEX_PREFIX, INDEX_PREFIX[:-1] + b"0", 10_000)
    return {(k[: len(INDEX_PREFIX) + 33], k[len(INDEX_PREFIX) + 33 :], v) for k, v in rows}


def expected_rows(chain: SimChain, entry: Entry, home: bytes) -> set[tuple[bytes, bytes, bytes]]:
    return {
        (index_prefix(chain.params.suite, kind, value), entry.id, home)
        for kind, value in index_values(entry.fields, entry.chain_id)
    }


@pytest.fixture
def net() -> Net:
    return Net()


# -- end to end --------------------------------------------------------------------------------------------------
def test_publish_update_withdraw_are_mirrored_at_the_hub(net: Net) -> None:
    ident = net.publish()
    assert net.sub.reader().get(HUB_CHANNEL_KEY) == net.path.a.channel.encode()
    (packet,) = pending(net.sub, net.path)
    home = read_entry(net.sub.reader(), ident)
    assert home is not None
    ann = decode(packet.data, Announce)
    assert ann.entry == encode(home) and ann.home_height == home.updated_height
    assert packet.timeout_height == 0 and packet.timeout_time_ms > 0
    net.relay()
    assert pending(net.sub, net.path) == []  # acked (success)
    mirror = read_mirror(net.hub.reader(), ident)
    assert mirror is not None
    assert mirror.entry == encode(home) and mirror.chain_id == "sub-1" and mirror.channel == net.path.b.channel
    assert index_rows(net.hub) == expected_rows(net.hub, home, b"sub-1")
    # The sub-chain's own indexes say "local" (b"").
    assert index_rows(net.sub) == expected_rows(net.sub, home, b"")

    r = net.sub.submit(OWNER, DirectoryUpdate(id=ident, entry=net.fields(title="Noise", keywords=["noise"])))
    assert r.code == 0, r
    net.relay()
    v2 = read_entry(net.sub.reader(), ident)
    assert v2 is not None and net.mirrored(ident) == v2
    assert index_rows(net.hub) == expected_rows(net.hub, v2, b"sub-1")

    assert net.sub.submit(OWNER, DirectoryWithdraw(id=ident)).code == 0
    net.relay()
    v3 = net.mirrored(ident)
    assert v3 is not None and v3.withdrawn and v3.version == 3
    assert index_rows(net.hub) == set()  # a withdrawn mirror leaves every index; the Mirror stays


def test_a_hub_indexes_mirrors_beside_its_own_entries(net: Net) -> None:
    ident = net.publish()
    net.relay()
    hub_rows = index_rows(net.hub)
    air = index_prefix(net.hub.params.suite, b"w", "air")
    assert (air, ident, b"sub-1") in hub_rows


def test_announcements_arriving_out_of_order_keep_the_newest(net: Net) -> None:
    ident = net.publish()
    assert net.sub.submit(OWNER, DirectoryUpdate(id=ident, entry=net.fields(title="Second"))).code == 0
    h = net.sub.height
    items = recv_items(net.sub, net.hub, net.path, h)
    assert len(items) == 2
    update = header_update(net.hub, net.sub, net.path.b.client_id, h)
    r = net.hub.submit(RELAYER, Relay(update=update, items=list(reversed(items))))
    assert r.code == 0, r
    v2 = read_entry(net.sub.reader(), ident)
    assert v2 is not None and v2.version == 2
    assert net.mirrored(ident) == v2  # version 1, received after version 2, changed nothing
    assert index_rows(net.hub) == expected_rows(net.hub, v2, b"sub-1")
    for item in items:  # both acked with success
        ack = read_ack(net.hub.reader(), PORT, net.path.b.channel, item.packet.sequence)
        assert ack is not None and ack.code == 0


def test_no_hub_channel_yet_publishes_locally_and_sends_nothing() -> None:
    hub = hub_chain()
    sub = sub_chain(hub)
    vm = DidVerificationMethod(id="key-1", type="Ed25519VerificationKey2020", public_key=sub.public_key(OWNER))
    doc = DidDocument(
        verification_methods=[vm], authentication=["key-1"], assertion_method=["key-1"], services=[], controllers=[]
    )
    r = sub.submit(OWNER, DidCreate(document=doc))
    assert r.code == 0, r
    did = format_did(sub.chain_id, r.data)
    f = EntryFields(
        owner_did=did,
        title="t1",
        type="x",
        keywords=[],
        digest=bytes(32),
        receipt_ref="",
        location="",
        licence="",
        access=PUBLIC,
        credential_type="",
    )
    r = sub.submit(OWNER, DirectoryPublish(entry=f))
    assert r.code == 0, r
    assert not any(e.type == "interchain.send_packet" for e in r.events)
    assert sub.reader().get(HUB_CHANNEL_KEY) is None


def test_a_channel_to_another_chain_is_never_used_for_announcements() -> None:
    hub = hub_chain()
    sub = sub_chain(hub)
    other = SimChain("other", hub=GenesisHub(), client_policy="governed", accounts={RELAYER: 10**6})
    assert other.submit(ADMIN, RegisterCert(cert=other.admin_cert())).code == 0
    r = other.submit(
        ADMIN, ProposeMembership(change=TrustChain(chain_id="sub-1", genesis_hash=sub.params.genesis_hash))
    )
    assert r.code == 0
    # sub's policy is open: it may make a client of "other"; the channel to "other" is first in key order.
    join(sub, other)
    path = join(sub, hub)
    vm = DidVerificationMethod(id="key-1", type="Ed25519VerificationKey2020", public_key=sub.public_key(OWNER))
    doc = DidDocument(
        verification_methods=[vm], authentication=["key-1"], assertion_method=["key-1"], services=[], controllers=[]
    )
    r = sub.submit(OWNER, DidCreate(document=doc))
    did = format_did(sub.chain_id, r.data)
    f = EntryFields(
        owner_did=did,
        title="t1",
        type="x",
        keywords=[],
        digest=bytes(32),
        receipt_ref="",
        location="",
        licence="",
        access=PUBLIC,
        credential_type="",
    )
    assert sub.submit(OWNER, DirectoryPublish(entry=f)).code == 0
    assert sub.reader().get(HUB_CHANNEL_KEY) == path.a.channel.encode()
    assert len(pending(sub, path)) == 1
    assert path.a.channel != "channel-0"


# -- channel opening ---------------------------------------------------------------------------------------------
def _ctx(chain: SimChain) -> TxContext:
    writes: dict[bytes, bytes | None] = {}
    state = chain.reader()

    def get(k: bytes) -> bytes | None:
        return writes[k] if k in writes else state.get(k)

    def put(k: bytes, v: bytes | None) -> None:
        writes[k] = v

    def scan(start: bytes, end: bytes, limit: int) -> tuple[list[tuple[bytes, bytes]], int]:
        merged: dict[bytes, bytes | None] = dict(state.scan(start, end, 1_000_000))
        merged.update({k: v for k, v in writes.items() if start <= k < end})
        return [(k, v) for k, v in sorted(merged.items()) if v is not None][:limit], 0

    return TxContext(b"\x00" * 20, chain.params, chain.height + 1, get, put, time_ms=chain.time_ms + 1000, scan=scan)


def test_on_chan_open_rules() -> None:
    hub = hub_chain()
    sub = sub_chain(hub)
    plain = SimChain("plain")
    app = DirectoryApp()
    for chain in (hub, sub):
        app.on_chan_open(_ctx(chain), UNORDERED, PORT, VERSION)
        for args in ((ORDERED, PORT, VERSION), (UNORDERED, "transfer", VERSION), (UNORDERED, PORT, "v0")):
            with pytest.raises(TxFailure) as exc:
                app.on_chan_open(_ctx(chain), *args)
            assert exc.value.code == ResultCode.INVALID_HANDSHAKE
    with pytest.raises(TxFailure) as exc:
        app.on_chan_open(_ctx(plain), UNORDERED, PORT, VERSION)
    assert exc.value.code == ResultCode.INVALID_HANDSHAKE and "neither" in exc.value.message


# -- the hub's checks on a received announcement -----------------------------------------------------------------
def _packet(net: Net, entry: Entry, seq: int = 1) -> Packet:
    return Packet(
        sequence=seq,
        source_port=PORT,
        source_channel=net.path.a.channel,
        dest_port=PORT,
        dest_channel=net.path.b.channel,
        data=encode(Announce(entry=encode(entry), home_height=7)),
        timeout_height=0,
        timeout_time_ms=2**50,
    )


def _home_entry(net: Net) -> Entry:
    ident = net.publish()
    entry = read_entry(net.sub.reader(), ident)
    assert entry is not None
    return entry


def test_the_hub_refuses_an_entry_of_another_chain(net: Net) -> None:
    entry = _home_entry(net)
    owner, nonce = entry.owner, entry.nonce
    forged = msgspec.structs.replace(entry, chain_id="sub-2", id=entry_id(net.hub.params.suite, "sub-2", owner, nonce))
    ctx = _ctx(net.hub)
    with pytest.raises(TxFailure) as exc:
        store_mirror(ctx, _packet(net, forged))
    assert exc.value.code == ResultCode.UNAUTHORIZED and "came from chain 'sub-1'" in exc.value.message
    store_mirror(ctx, _packet(net, entry))  # the genuine one is taken


def test_the_hub_refuses_a_wrong_id_and_bad_data(net: Net) -> None:
    entry = _home_entry(net)
    ctx = _ctx(net.hub)
    with pytest.raises(TxFailure) as exc:
        store_mirror(ctx, _packet(net, msgspec.structs.replace(entry, id=b"\x07" * 32)))
    assert exc.value.code == ResultCode.INVALID_CHANGE and "not the id" in exc.value.message
    bad = msgspec.structs.replace(_packet(net, entry), data=b"\x91\x01")
    with pytest.raises(TxFailure) as exc:
        store_mirror(ctx, bad)
    assert exc.value.code == ResultCode.INVALID_CHANGE
    big = msgspec.structs.replace(_packet(net, entry), data=b"\x00" * 9000)
    with pytest.raises(TxFailure) as exc:
        store_mirror(ctx, big)
    assert exc.value.code == ResultCode.INVALID_CHANGE and "bytes" in exc.value.message


def test_an_older_or_equal_version_changes_nothing(net: Net) -> None:
    v1 = _home_entry(net)
    v2 = msgspec.structs.replace(v1, version=2, fields=net.fields(title="Second", keywords=["second"]))
    ctx = _ctx(net.hub)
    store_mirror(ctx, _packet(net, v2))
    before = read_mirror(ctx, v1.id)
    rows = ctx.scan(INDEX_PREFIX, INDEX_PREFIX[:-1] + b"0", 1000)
    store_mirror(ctx, _packet(net, v1))
    store_mirror(ctx, _packet(net, v2))
    assert read_mirror(ctx, v1.id) == before
    assert ctx.scan(INDEX_PREFIX, INDEX_PREFIX[:-1] + b"0", 1000) == rows
    assert before is not None and decode(before.entry, Entry).version == 2


def test_a_sub_chain_keeps_no_mirrors(net: Net) -> None:
    entry = _home_entry(net)
    with pytest.raises(TxFailure) as exc:
        store_mirror(_ctx(net.sub), _packet(net, entry))
    assert exc.value.code == ResultCode.UNAUTHORIZED and "not a hub" in exc.value.message


def test_a_timed_out_announcement_is_not_retried_and_the_next_version_is_announced(net: Net) -> None:
    from tests.fixtures.two_chains import relay_timeouts

    ident = net.publish()
    (packet,) = pending(net.sub, net.path)
    step = packet.timeout_time_ms - net.sub.time_ms + 1000
    net.sub.advance(1, step)
    net.hub.advance(1, step)
    receipts = relay_timeouts(net.sub, net.hub, net.path)
    assert receipts and all(r.code == 0 for r in receipts)
    assert pending(net.sub, net.path) == []  # timed out; nothing re-sent
    assert read_mirror(net.hub.reader(), ident) is None
    assert read_entry(net.sub.reader(), ident) is not None  # the entry itself stays published
    r = net.sub.submit(OWNER, DirectoryUpdate(id=ident, entry=net.fields(title="Again")))
    assert r.code == 0, r
    net.relay()
    v2 = read_entry(net.sub.reader(), ident)
    assert v2 is not None and v2.version == 2 and net.mirrored(ident) == v2


def test_junk_channel_ends_cannot_hide_the_hub_channel() -> None:
    """Anyone can leave INIT directory ends on a sub-chain over its own connection to the hub (its ``on_chan_open``
    cannot see which chain a channel leads to): twenty of them, twelve sorting before the real channel in key order,
    do not hide the hub channel, which is found and recorded at the first announcement."""
    from tests.fixtures.two_chains import create_client, open_channel, open_connection
    from trellis.core.modules.interchain.messages import ChanOpenInit

    hub = hub_chain()
    sub = sub_chain(hub)
    sub.advance(1)
    hub.advance(1)
    client_s, client_h = create_client(sub, hub), create_client(hub, sub)
    conn_s, conn_h = open_connection(sub, hub, client_s, client_h)
    for _ in range(20):  # channel-0 .. channel-19, left in INIT
        junk = ChanOpenInit(port=PORT, connection_id=conn_s, counterparty_port=PORT, order=UNORDERED, version=VERSION)
        assert sub.submit(OWNER, junk).code == 0
    chan_s, _ = open_channel(sub, hub, client_s, client_h, conn_s, conn_h, port=PORT, version=VERSION)
    assert chan_s == "channel-20"
    vm = DidVerificationMethod(id="key-1", type="Ed25519VerificationKey2020", public_key=sub.public_key(OWNER))
    doc = DidDocument(
        verification_methods=[vm], authentication=["key-1"], assertion_method=["key-1"], services=[], controllers=[]
    )
    r = sub.submit(OWNER, DidCreate(document=doc))
    f = EntryFields(
        owner_did=format_did(sub.chain_id, r.data), title="t1", type="x", keywords=[], digest=bytes(32),
        receipt_ref="", location="", licence="", access=PUBLIC, credential_type="",
    )  # fmt: skip
    r = sub.submit(OWNER, DirectoryPublish(entry=f))
    assert r.code == 0 and any(e.type == "interchain.send_packet" for e in r.events), r
    assert sub.reader().get(HUB_CHANNEL_KEY) == b"channel-20"
