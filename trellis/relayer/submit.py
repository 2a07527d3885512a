"""Signing and submitting the relayer's transactions on one chain, one at a time (the account's nonces in order).

The relayer's key is a key file of the CLI's keystore (``trellis keys create``: PKCS#8 PEM, or the SM2 file
format; encrypted with a passphrase when one is given). The account pays nothing; it must exist where the chain
requires membership (a registered certificate on a permissioned chain).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Protocol

from trellis.core.codec import encode
from trellis.core.crypto.suite import address_of, suite_by_name
from trellis.core.ledger.tx import TxBody, sign_tx
from trellis.core.modules.payload import Payload
from trellis.core.types import U64_MAX
from trellis.keys.signer import KeyStore, KeyStoreError
from trellis.relayer.endpoint import ChainEndpoint, ChainInfo, EndpointError, TxResult

SIGNATURE_SIZE = 64
"""Every suite's raw signature size (``core.types.Signature``)."""


class TxSigner(Protocol):
    """What signs the relayer's transactions (``trellis.keys.Signer``)."""

    @property
    def public_key(self) -> bytes:
        """The raw public key."""
        ...

    def sign(self, message: bytes) -> bytes:
        """A 64-byte signature of ``message``."""
        ...


def load_key(path: Path, passphrase_file: Path | None = None) -> TxSigner:
    """Open the key file ``path`` (``DIR/NAME.pem`` of a keystore) for signing.

    Raises:
        KeyStoreError: missing, encrypted without a passphrase, or unreadable.
    """
    passphrase = None
    if passphrase_file is not None:
        try:
            passphrase = passphrase_file.read_bytes().rstrip(b"\r\n")
        except OSError as exc:
            raise KeyStoreError(f"cannot read passphrase file {passphrase_file}: {exc.strerror}") from None
    if path.suffix != ".pem":
        raise KeyStoreError(f"{path}: a relayer key is a keystore file NAME.pem")
    return KeyStore(path.parent).signer(path.stem, passphrase)


class Submitter:
    """Signs payloads with one key for one chain and submits them in nonce order, each awaited to its commit."""

    def __init__(self, endpoint: ChainEndpoint, signer: TxSigner, *, timeout_s: float = 30.0) -> None:
        self.endpoint = endpoint
        self.signer = signer
        self.timeout_s = timeout_s
        self._lock = asyncio.Lock()
        self._info: ChainInfo | None = None

    async def info(self) -> ChainInfo:
        """The chain's identity (asked once)."""
        if self._info is None:
            self._info = await self.endpoint.info()
        return self._info

    async def address(self) -> bytes:
        """The relayer's account address on this chain."""
        info = await self.info()
        return address_of(suite_by_name(info.suite), self.signer.public_key)

    async def tx_size(self, payload: Payload) -> int:
        """The largest encoded size of the signed transaction of ``payload`` (any nonce)."""
        info = await self.info()
        return signed_size(info.chain_id, self.signer.public_key, payload)

    async def submit(self, payload: Payload) -> TxResult:
        """Sign ``payload`` with the account's next nonce, submit it and wait for its commit.

        A refusal at admission because of the nonce (another transaction of this key got in first) is retried once
        with a fresh nonce.

        Raises:
            EndpointError: the node refused the transaction or could not be reached.
        """
        info = await self.info()
        async with self._lock:
            for attempt in (0, 1):
                nonce = await self.endpoint.account_nonce(await self.address())
                body = TxBody(chain_id=info.chain_id, sender=self.signer.public_key, nonce=nonce, payload=payload)
                raw = encode(sign_tx(body, self.signer.sign))
                try:
                    return await self.endpoint.submit(raw, self.timeout_s)
                except EndpointError as exc:
                    if attempt == 0 and exc.status is not None and 400 <= exc.status < 500 and "nonce" in exc.message:
                        continue
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    async def submit_many(self, payloads: list[Payload]) -> list[TxResult]:
        """Sign ``payloads`` with consecutive nonces (from the account's next) and submit them together: they
        execute in this order, in one block when the proposer takes them all (``ChainEndpoint.submit_many``).

        Raises:
            EndpointError: the first could not be sent.
        """
        if not payloads:
            return []
        info = await self.info()
        async with self._lock:
            nonce = await self.endpoint.account_nonce(await self.address())
            raws = [
                encode(
                    sign_tx(
                        TxBody(chain_id=info.chain_id, sender=self.signer.public_key, nonce=nonce + i, payload=p),
                        self.signer.sign,
                    )
                )
                for i, p in enumerate(payloads)
            ]
            return await self.endpoint.submit_many(raws, self.timeout_s)


def signed_size(chain_id: str, public_key: bytes, payload: Payload) -> int:
    """The encoded size of a signed transaction of ``payload`` at the largest nonce (an upper bound for any)."""
    body = TxBody(chain_id=chain_id, sender=public_key, nonce=U64_MAX, payload=payload)
    return len(encode(sign_tx(body, lambda _m: bytes(SIGNATURE_SIZE))))
