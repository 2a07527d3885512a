"""Messages of the ``credentials`` module; members of the ``Payload`` union (``trellis.core.modules.payload``). See docs/spec/credentials.md."""

from __future__ import annotations

from typing import Annotated

import msgspec

from trellis.core.types import U32, Address, CoreStruct

IssuerDid = Annotated[str, msgspec.Meta(min_length=8, max_length=160, pattern=r"^did:[a-z0-9]+:[A-Za-z0-9._:%-]+\Z")]
"""An issuer's DID (any method: ``did:trellis:...`` once registered on chain, ``did:key:...``, ...)."""


CredentialType = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z][A-Za-z0-9_.-]*\Z")]
"""A credential type name (``UniversityDegreeCredential``)."""


StatusListId = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+\Z")]
"""A status list's id: 1-64 letters, digits, '.', '_' or '-'."""


StatusPurpose = Annotated[str, msgspec.Meta(pattern=r"^(revocation|suspension)\Z")]
"""``revocation`` (permanent) or ``suspension`` (reversible)."""


MAX_ISSUER_TYPES = 32


MAX_STATUS_CHANGES = 1024
"""Most bit indexes one ``status_set`` may set plus clear."""


MIN_STATUS_LIST_BITS = 131072
"""A list holds at least 131072 entries (16 KiB of bits): the minimum W3C Bitstring Status List requires, for
herd privacy (a verifier fetching the list learns little about which credential it checks)."""


MAX_STATUS_LIST_BITS = 2**23
"""A list holds at most 8 Mi entries (1 MiB of bits, 512 chunks)."""


class SetIssuer(CoreStruct, frozen=True, tag="credentials.set_issuer"):
    """Trust registry change: authorise ``did`` to issue ``types``; empty ``types`` removes it. Governance only."""

    did: IssuerDid
    """The issuer's DID."""
    types: Annotated[list[CredentialType], msgspec.Meta(max_length=MAX_ISSUER_TYPES)]
    """Credential types it may issue (besides the generic ``VerifiableCredential``); empty: remove the issuer."""
    controller: Address
    """The account that acts for the issuer on chain: it creates and updates the issuer's status lists."""


class StatusCreate(CoreStruct, frozen=True, tag="credentials.status_create"):
    """Create a Bitstring Status List owned by a registered issuer; only the issuer's controller may."""

    list_id: StatusListId
    """The new list's id (unique on the chain)."""
    size: Annotated[int, msgspec.Meta(ge=MIN_STATUS_LIST_BITS, le=MAX_STATUS_LIST_BITS, multiple_of=8)]
    """Number of entries (bits): a multiple of 8, from 131072 (the W3C Bitstring Status List minimum, 16 KiB)
    to 2^23; smaller lists are refused when the transaction is decoded."""
    purpose: StatusPurpose
    """What a set bit means."""
    issuer: IssuerDid
    """The issuer that owns the list (it must be in the trust registry)."""


class StatusSet(CoreStruct, frozen=True, tag="credentials.status_set"):
    """Set and clear bits of a status list; only its owner's controller may. Effective from the next block."""

    list_id: StatusListId
    """The list."""
    set_indexes: Annotated[list[U32], msgspec.Meta(max_length=MAX_STATUS_CHANGES)] = []
    """Indexes whose bit becomes 1 (revoked or suspended)."""
    clear_indexes: Annotated[list[U32], msgspec.Meta(max_length=MAX_STATUS_CHANGES)] = []
    """Indexes whose bit becomes 0 (a suspension lifted; refused on a revocation list)."""
