"""Messages of the ``notary`` module; members of the ``Payload`` union (``trellis.core.modules.payload``). See docs/spec/receipt.md."""

from __future__ import annotations

from typing import Annotated

import msgspec

from trellis.core.types import CoreStruct, Hash32

MAX_ANCHOR_DIGESTS = 1800
"""Most digests one ``notary.anchor`` may carry (1800 x 34 bytes fits the 64 KiB transaction limit)."""


MAX_ANCHOR_LIST = 2048
"""Structural bound of the digest list at decoding; the handler refuses more than ``MAX_ANCHOR_DIGESTS``."""


MAX_RECORD_TYPE = 64


MAX_OWNER = 160


MAX_REF = 256


RecordType = Annotated[str, msgspec.Meta(max_length=MAX_RECORD_TYPE)]
"""A record type chosen by the sender (``"invoice"``, ``"lab-report"``); empty: none."""


OwnerDid = Annotated[str, msgspec.Meta(max_length=MAX_OWNER)]
"""The records' owner as a DID (``did:...``); empty: none."""


ExternalRef = Annotated[str, msgspec.Meta(max_length=MAX_REF)]
"""A reference in the sender's own systems (case number, URL); empty: none."""


class NotaryAnchor(CoreStruct, frozen=True, tag="notary.anchor"):
    """Anchor a batch of record digests (the chain suite's hash of each record) with shared metadata.

    The digests are the leaves of a Merkle tree (``trellis.core.modules.notary.state.batch_root``) whose root is
    stored with the batch. Each digest anchored for the first time gets a record (height, time, sender).
    """

    digests: Annotated[list[Hash32], msgspec.Meta(max_length=MAX_ANCHOR_LIST)]
    """The record digests, 1 to ``MAX_ANCHOR_DIGESTS``, pairwise distinct."""
    record_type: RecordType = ""
    """The records' type (optional)."""
    owner: OwnerDid = ""
    """The records' owner DID (optional)."""
    ref: ExternalRef = ""
    """An external reference (optional)."""
