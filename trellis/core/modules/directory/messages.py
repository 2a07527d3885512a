"""Messages of the ``directory`` module (docs/spec/directory.md 3; ADR 0016 section 4): publish, update and
withdraw an entry describing a data resource; ask for access to one and record the owner's decision; and the packet
data a sub-chain announces its entries to its hub with.

May import: ``msgspec`` and ``trellis.core.types``.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from trellis.core.modules.attestations.messages import DID_SYNTAX
from trellis.core.types import U64, CoreStruct, Hash32

MAX_KEYWORDS = 16
"""Most keywords of an entry (its own; the title's words are indexed besides, up to the same count)."""
PUBLIC, ON_REQUEST, CREDENTIAL_REQUIRED = 1, 2, 3
"""Access policies: anyone may use the resource; the owner decides each request; a request must present a
credential of ``credential_type``."""
ACCESS_NAMES = {PUBLIC: "public", ON_REQUEST: "on_request", CREDENTIAL_REQUIRED: "credential_required"}
"""Access policy -> its name in the API and the CLI."""
VERSION = "trellis-directory-1"
"""The directory application's channel version."""

OwnerDid = Annotated[str, msgspec.Meta(min_length=1, max_length=160, pattern=f"^{DID_SYNTAX}\\Z")]
"""The owner's DID (a ``did:trellis`` DID of this chain that the sender's key controls)."""
Title = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
"""A human title."""
ResourceType = Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern=r"^[!-~]+\Z")]
"""A schema IRI or type token (printable ASCII, no spaces)."""
Keyword = Annotated[str, msgspec.Meta(min_length=1, max_length=32, pattern=r"^[a-z0-9][a-z0-9_-]*\Z")]
"""A lower-case keyword."""
Ref = Annotated[str, msgspec.Meta(max_length=256)]
"""A notary receipt reference, a licence (SPDX id or URI), a reason or a purpose."""
Location = Annotated[str, msgspec.Meta(max_length=512)]
"""Where the resource is (a URI)."""
Access = Annotated[int, msgspec.Meta(ge=PUBLIC, le=CREDENTIAL_REQUIRED)]
"""``1`` public, ``2`` on request, ``3`` credential required."""
CredentialType = Annotated[str, msgspec.Meta(max_length=200)]
"""The credential type a request must present (access 3), else ``""``."""


class EntryFields(CoreStruct, frozen=True):
    """What an entry says about a data resource (everything its owner sets)."""

    owner_did: OwnerDid
    """The owner's DID."""
    title: Title
    """A human title."""
    type: ResourceType
    """The resource's schema or type."""
    keywords: Annotated[list[Keyword], msgspec.Meta(max_length=MAX_KEYWORDS)]
    """Keywords, lower-case, no duplicates."""
    digest: Hash32
    """The resource's digest (all zero: none given)."""
    receipt_ref: Ref
    """A notary receipt reference for the resource, or ``""``."""
    location: Location
    """Where it is (a URI), or ``""``."""
    licence: Ref
    """Its licence or terms (SPDX id or URI), or ``""``."""
    access: Access
    """The access policy."""
    credential_type: CredentialType
    """The credential type a request must present: non-empty exactly when ``access`` is 3."""


class DirectoryPublish(CoreStruct, frozen=True, tag="directory.publish"):
    """Publish a new entry; its id is ``entry_id(chain_id, sender, nonce)``."""

    entry: EntryFields
    """The entry."""


class DirectoryUpdate(CoreStruct, frozen=True, tag="directory.update"):
    """Replace an entry's fields (its owner only; the version goes up by one, the previous one is kept)."""

    id: Hash32
    """The entry's id."""
    entry: EntryFields
    """The new fields (the owner DID may not change)."""


class DirectoryWithdraw(CoreStruct, frozen=True, tag="directory.withdraw"):
    """Withdraw an entry (its owner only): it leaves the indexes; its record and versions stay."""

    id: Hash32
    """The entry's id."""
    reason: Ref = ""
    """Why, or ``""``."""


class DirectoryRequestAccess(CoreStruct, frozen=True, tag="directory.request_access"):
    """Ask the owner of an entry for access to its resource."""

    entry_id: Hash32
    """The entry."""
    presentation_digest: Hash32
    """Digest of the verifiable presentation given to the owner's service off chain (all zero: none; access 3
    needs one)."""
    purpose: Ref
    """What the data will be used for."""


class DirectoryDecide(CoreStruct, frozen=True, tag="directory.decide"):
    """The entry's owner grants or refuses a pending access request."""

    request_id: Hash32
    """The request."""
    grant: bool
    """True: granted; false: refused."""
    expires_at_ms: U64 = 0
    """A grant's end (block time, ms); 0: no end. Must be 0 for a refusal."""
    reason: Ref = ""
    """Why, or ``""``."""


class Announce(CoreStruct, frozen=True):
    """Packet data on the ``directory`` port: a sub-chain tells its hub an entry's current record."""

    entry: bytes
    """The canonical encoding of the ``Entry`` as committed at the home chain (``directory/entry/<id>``)."""
    home_height: U64
    """The height of the home chain's block that wrote it."""
