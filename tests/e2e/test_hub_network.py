"""Acceptance 1 of issue 16 (ADR 0016 sections 1, 2, 4 and 5) on real processes: a hub and three sub-chains made by
``trellis/node/multichain.py`` (``net up --hub``), joined to the hub by one relayer process.

- Registration by governance: ``up`` registers sub-chains 1 and 2 (``hub.register`` proposed by org0's admin and
  approved by org1's: the hub has two organisations, a majority is both); sub-chain 3 is left out and registered
  online with the CLI (``trellis hub register`` + ``trellis certs approve``), then a second ``up`` joins it (clients,
  connection, ``transfer`` and ``directory`` channels, ``hub.connected``) and restarts the relayer with its path.
- A transfer from sub-chain 1 to sub-chain 3 routed through the hub (``trellis transfer send --via``): debited and
  escrowed on sub-1, the hub's voucher of it escrowed on the hub's channel to sub-3, the receiver on sub-3 holding
  the voucher whose trace names both hops.
- Directory entries published on sub-chains 1 and 2 (owners with DIDs made by ``trellis did create``), mirrored to
  the hub by the relayer, found by one search at the hub with their home chains, each verified against its home
  chain (``trellis directory show ID --prove`` at the hub).
- Retirement: ``hub.retire`` of sub-chain 3 by governance freezes the hub's client of it; a further packet from it
  is not received at the hub: the client update its proof needs is refused there (``CLIENT_FROZEN``), and the relayer
  reports the client frozen.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest

from trellis.core.crypto.suite import ED25519
from trellis.core.execution.results import ResultCode
from trellis.core.modules.transfer.state import denom_hash
from trellis.node import multichain

from .harness import _quick_consensus, trellis_cmd

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

BASE = "hb"
HUB, SUB1, SUB2, SUB3 = (f"{BASE}-{i}" for i in range(4))
AMOUNT = 1234
RECEIVER = "5e" * 20
"""The transfer's receiver on sub-chain 3 (an address no key of the test holds)."""


def _join(layout: Any, hub: Any, sub: Any) -> Any:
    from trellis.relayer.hubjoin import join_subchain

    joined = join_subchain(layout, hub, sub, timeout_s=120)
    return None if joined is None else multichain.ChainPath(**vars(joined))


def _up(root: Path) -> multichain.Up:
    return multichain.up_chains(
        root,
        chains=4,
        validators=1,
        connect=None,
        base_chain_id=BASE,
        hub=True,
        subchains=3,
        online=[3],
        hub_validators=2,
        join_hub=_join,
        tune=_quick_consensus,
    )


def _cli(home: Path, *args: str, ok: bool = True) -> Any:
    res = subprocess.run(trellis_cmd(*args, "--home", str(home), "--json"), capture_output=True, text=True, timeout=90)
    if not ok:
        return res
    assert res.returncode == 0, f"trellis {' '.join(args)} exited {res.returncode}:\n{res.stdout}{res.stderr}"
    return json.loads(res.stdout)


def _get(api: str, path: str) -> Any:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(api + path, timeout=10) as r:
            return json.loads(r.read())
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        raise AssertionError(f"{path}: HTTP {exc.code} {exc.read()[:300]!r}") from None


def _wait(what: str, check: Callable[[], Any], timeout: float = 60.0, log: Path | None = None) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > deadline:
            tail = log.read_text(errors="replace")[-3000:] if log is not None and log.exists() else ""
            raise AssertionError(f"{what}: not within {timeout:.0f} s\n{tail}")
        time.sleep(0.2)  # polling the chains, bounded by the deadline


def _event(res: dict[str, Any], kind: str, attr: str) -> str:
    for ev in res["receipt"]["events"]:
        if ev["type"] == kind:
            return str(dict(ev["attributes"])[attr])
    raise AssertionError(f"no {kind} event in {res['receipt']}")


def _governed(hub_home: Path, *propose: str) -> None:
    """Propose a hub change as org0's admin and approve it as org1's (the hub's two organisations)."""
    res = _cli(hub_home, "hub", *propose, "--from", "admin0")
    assert res["receipt"]["code"] == 0, res
    proposal = _event(res, "membership.proposed", "proposal")
    res = _cli(hub_home, "certs", "approve", proposal, "--from", "admin1")
    assert res["receipt"]["code"] == 0, res


def _hex(text: str) -> str:
    return text.lower().removeprefix("0x")


def _balance(api: str, address: str, denom: str) -> int:
    res = _get(api, f"/v1/transfer/balances/0x{address}")
    return sum(int(h["amount"]) for h in res["balances"] if h["denom"] == denom)


def _update_frozen_client(root: Path, layout: multichain.Layout, client_id: str) -> Any:
    """Submit at the hub the update of its (frozen) client of sub-chain 3 to sub-3's latest header, planned as if the
    client were not frozen (the relayer's planner refuses a frozen client); return the hub's answer."""
    from trellis.relayer.endpoint import HttpEndpoint
    from trellis.relayer.submit import Submitter, load_key
    from trellis.relayer.updates import plan_update, read_client

    hub, sub = layout.hub_chain, layout.chains[3]

    async def run() -> Any:
        eh = HttpEndpoint(hub.chain_id, hub.api_urls, genesis_file=hub.nodes[0].home / "genesis.json")
        es = HttpEndpoint(sub.chain_id, sub.api_urls, genesis_file=sub.nodes[0].home / "genesis.json")
        try:
            view = await read_client(eh, client_id)
            assert view.frozen
            thawed = dataclasses.replace(view, state=msgspec.structs.replace(view.state, frozen_height=0))
            updates = await plan_update(es, thawed, (await es.head()).height, (await eh.head()).time_ms)
            key = load_key(multichain.relayer_key_path(root, multichain.HUB_INDEX))
            return await Submitter(eh, key).submit(updates[0])
        finally:
            await eh.close()
            await es.close()

    return asyncio.run(run())


def test_a_hub_registers_sub_chains_routes_a_transfer_and_aggregates_the_directory(tmp_path: Path) -> None:
    root = tmp_path / "layered"
    layout: multichain.Layout | None = None
    try:
        up = _up(root)
        layout = up.layout
        assert up.relayer is not None and up.relayer_error is None, up.relayer_error
        assert up.waiting == [SUB3]
        apis = {c.chain_id: c.api_urls[0] for c in layout.chains}
        homes = {c.chain_id: c.root for c in layout.chains}
        log = root / "relayer" / "relayer.log"

        # Registration by governance: sub-chains 1 and 2 by `up`, connected; sub-chain 3 not registered yet.
        chains = {c["chain_id"]: c for c in _cli(homes[HUB], "hub", "chains")["chains"]}
        assert {k: v["status"] for k, v in chains.items()} == {SUB1: "connected", SUB2: "connected"}
        hash3 = multichain.genesis_hash_of(layout.chains[3])
        _governed(homes[HUB], "register", SUB3, "--org", "org0", "--genesis-hash", hash3)
        assert _cli(homes[HUB], "hub", "show", SUB3)["status"] == "registered"

        # A second `up` joins sub-chain 3 and restarts the relayer with three paths.
        up = _up(root)
        layout = up.layout
        assert up.waiting == [] and up.relayer is not None and up.relayer_error is None, up.relayer_error
        assert sorted(p.b for p in layout.paths) == [SUB1, SUB2, SUB3]
        relayer_toml = (root / "relayer.toml").read_text()
        assert relayer_toml.count("[[path]]") == 3 and relayer_toml.count('port = "directory"') == 3
        shown = _cli(homes[HUB], "hub", "show", SUB3)
        path3, path1 = layout.path_of(SUB3), layout.path_of(SUB1)
        assert path3 is not None and path1 is not None
        assert shown["status"] == "connected"
        assert shown["client_id"] == path3.a_client and shown["connection_id"] == path3.a_connection
        recorded = json.loads((root / "chains.json").read_text())
        assert [p["b"] for p in recorded["paths"]] == [SUB1, SUB2, SUB3]
        assert all(p["channels"][0]["port"] == "directory" for p in recorded["paths"])

        # A transfer sub-1 -> hub -> sub-3 (transfer.send_via from the CLI).
        ends1, ends3 = multichain.path_channel(path1, "transfer"), multichain.path_channel(path3, "transfer")
        assert ends1 is not None and ends3 is not None
        (hub_to_1, sub1_ch), (hub_to_3, sub3_ch) = ends1, ends3
        alice = _cli(homes[SUB1], "keys", "show", "alice")["address"].removeprefix("0x")
        before = int(_get(apis[SUB1], f"/v1/accounts/0x{alice}")["balance"])
        res = _cli(
            homes[SUB1],
            *("transfer", "send", "--channel", sub1_ch, "--via", f"hub:{hub_to_3}"),
            *("--denom", "native", "--amount", str(AMOUNT), "--to", RECEIVER, "--from", "alice"),
        )
        assert res["receipt"]["code"] == 0, res
        final = f"transfer/{sub3_ch}/transfer/{hub_to_1}/native"
        _wait("the voucher credited on sub-3", lambda: _balance(apis[SUB3], RECEIVER, final) == AMOUNT, 60, log)
        # sub-1: debited, the amount escrowed on its channel to the hub
        assert int(_get(apis[SUB1], f"/v1/accounts/0x{alice}")["balance"]) <= before - AMOUNT
        assert int(_get(apis[SUB1], f"/v1/transfer/escrow/{sub1_ch}")["native"]) == AMOUNT
        # the hub: its voucher of sub-1's native minted once, escrowed on its channel to sub-3 (forwarded)
        at_hub = f"transfer/{hub_to_1}/native"
        hub_denom = _get(apis[HUB], f"/v1/transfer/denoms/0x{denom_hash(ED25519, at_hub).hex()}")
        assert hub_denom["supply"] == AMOUNT, hub_denom
        escrow = _get(apis[HUB], f"/v1/transfer/escrow/{hub_to_3}")
        assert {v["denom"]: int(v["amount"]) for v in escrow["vouchers"]} == {at_hub: AMOUNT}, escrow
        # sub-3: the receiver's voucher, its trace naming both hops
        trace = _get(apis[SUB3], f"/v1/transfer/denoms/0x{denom_hash(ED25519, final).hex()}")
        assert (trace["path"], trace["base"], trace["supply"]) == (
            f"transfer/{sub3_ch}/transfer/{hub_to_1}",
            "native",
            AMOUNT,
        )
        # the first hop completed once at the origin: nothing pending on either hop
        _wait(
            "both hops acknowledged",
            lambda: (
                not _get(apis[SUB1], f"/v1/interchain/channels/transfer/{sub1_ch}/packets")["packets"]
                and not _get(apis[HUB], f"/v1/interchain/channels/transfer/{hub_to_3}/packets")["packets"]
            ),
            60,
            log,
        )

        # Directory: an entry on sub-1 and one on sub-2, each owner with a DID; one search at the hub finds both.
        published: dict[str, str] = {}
        for chain in (SUB1, SUB2):
            did = _cli(homes[chain], "did", "create", "--from", "alice")["did"]
            res = _cli(
                homes[chain],
                *("directory", "publish", "--owner-did", did, "--title", f"River gauge readings {chain}"),
                *("--type", "dataset", "--keyword", "hydrology", "--access", "public", "--from", "alice"),
            )
            assert res["receipt"]["code"] == 0, res
            published[_hex(_event(res, "directory.published", "id"))] = chain

        def found() -> dict[str, str] | None:
            res = _get(apis[HUB], "/v1/directory?q=hydrology")
            got = {_hex(e["id"]): e["chain_id"] for e in res["entries"]}
            return got if len(got) == 2 else None

        assert _wait("both entries mirrored at the hub", found, 60, log) == published
        for entry_id, chain in published.items():
            shown = _cli(homes[HUB], "directory", "show", entry_id, "--prove")
            assert shown["verified"] is True, shown
            assert shown["entry"]["chain_id"] == chain and shown["entry"]["mirrored"] is True, shown
            against, joined = shown["home_proof"]["verified_against"], layout.path_of(chain)
            assert joined is not None and (against["chain_id"], against["client_id"]) == (chain, joined.a_client)

        # Retirement: hub.retire of sub-3 freezes the hub's client of it; a further packet from it is not received.
        _governed(homes[HUB], "retire", SUB3)
        assert _cli(homes[HUB], "hub", "show", SUB3)["status"] == "retired"
        client = _get(apis[HUB], f"/v1/interchain/clients/{path3.a_client}")
        assert client["status"] == "frozen" and client["frozen_height"] > 0, client
        res = _cli(
            homes[SUB3],
            *("transfer", "send", "--channel", sub3_ch, "--denom", "native", "--amount", "5"),
            *("--to", alice, "--from", "alice"),
        )
        assert res["receipt"]["code"] == 0, res
        seq = int(_event(res, "interchain.send_packet", "sequence"))
        # The packet's commitment is past every header the hub's client holds: receiving it needs an update of the
        # client, which the hub refuses (the relayer does not even try: it reports the client frozen).
        refused = _update_frozen_client(root, layout, path3.a_client)
        assert refused.status == "committed" and refused.code == ResultCode.CLIENT_FROZEN, refused
        _wait("the relayer reports the client frozen", lambda: "is frozen" in log.read_text(errors="replace"), 30)
        got = _get(apis[HUB], f"/v1/interchain/channels/transfer/{hub_to_3}/packets/{seq}")
        assert got["receipt"] is False, got
        pending = _get(apis[SUB3], f"/v1/interchain/channels/transfer/{sub3_ch}/packets")["packets"]
        assert [int(p["sequence"]) for p in pending] == [seq]
    finally:
        if layout is None and multichain.is_multichain_dir(root):
            layout = multichain.load_layout(root)
        if layout is not None:
            multichain.stop_chains(layout)
