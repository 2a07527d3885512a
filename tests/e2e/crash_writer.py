"""Child process for the storage crash test: commits blocks to a chain store as fast as it can and prints
``committed HEIGHT STATE_ROOT`` after each commit returns. Killed with SIGKILL by the parent."""

from __future__ import annotations

import sys
from pathlib import Path

from trellis.abci import CheckedTx
from trellis.app.application import TrellisApp
from trellis.core.codec import encode
from trellis.core.crypto.suite import ED25519, address_of
from trellis.core.ledger.tx import TxBody, sign_tx, tx_hash
from trellis.core.modules.accounts.messages import Transfer
from trellis.core.modules.kv.messages import KvPut
from trellis.keys.signer import KeyStore
from trellis.node.home import Home
from trellis.node.privval import solo_commit as sign_commit
from trellis.storage.chain_store import ChainStore
from trellis.storage.kv import open_data_store


def main(home_dir: str) -> None:
    home = Home(Path(home_dir))
    params = home.load_params()
    ks = KeyStore(home.root / "keys")
    validator = ks.signer("validator")
    alice = ks.signer("alice")
    bob_addr = ks.info("bob").address
    app = TrellisApp(params, ChainStore(open_data_store(home.root / "data")))
    sender = address_of(ED25519, alice.public_key)
    while True:
        tip = app.info()
        nonce = app.account_nonce(sender)
        cands = []
        for i in range(200):
            payload = (
                Transfer(to=bob_addr, amount=1)
                if i % 2
                else KvPut(namespace="crash", key=b"k%d" % (i % 37), value=b"h%d-%d" % (tip.height, i))
            )
            tx = sign_tx(
                TxBody(chain_id=params.chain_id, sender=alice.public_key, nonce=nonce + i, payload=payload), alice.sign
            )
            raw = encode(tx)
            cands.append(CheckedTx(tx=tx, raw=raw, hash=tx_hash(ED25519, raw), sender=sender))
        executed = app.prepare_proposal(cands, tip.time_ms + 1, address_of(ED25519, validator.public_key))
        app.commit(executed, sign_commit(ED25519, params.chain_id, validator, executed))
        print(f"committed {executed.block.header.height} {executed.block.header.state_root.hex()}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
