"""Messages of the ``identity`` module; members of the ``Payload`` union (``trellis.core.modules.payload``). See docs/spec/did-method.md."""

from __future__ import annotations

from typing import Annotated

import msgspec

from trellis.core.types import CoreStruct

DidText = Annotated[str, msgspec.Meta(max_length=160)]
"""A DID as text (``did:trellis:<chain-id>:<32 hex digits>``); parsed by the identity handler, so a malformed one
fails with a precise receipt code rather than at decoding."""


DidFragment = Annotated[str, msgspec.Meta(min_length=1, max_length=32)]
"""A fragment naming a verification method or service within its document (``key-1`` in ``did:...#key-1``)."""


MAX_DID_KEYS = 8


MAX_DID_SERVICES = 8


MAX_DID_CONTROLLERS = 4


class DidVerificationMethod(CoreStruct, frozen=True):
    """A verification method of a DID document, in compact form (rendered as W3C JSON-LD by the app layer)."""

    id: DidFragment
    """Its fragment within the document (``key-1``)."""
    type: Annotated[str, msgspec.Meta(max_length=40)]
    """``Ed25519VerificationKey2020``, ``Multikey`` or (on an ``sm`` chain) ``SM2VerificationKey2022``."""
    public_key: Annotated[bytes, msgspec.Meta(max_length=65)]
    """The raw public key: 32 bytes for Ed25519, 65 (uncompressed) for SM2."""
    controller: DidText | None = None
    """The DID controlling this key; None: the document's own DID."""


class DidService(CoreStruct, frozen=True):
    """A service endpoint of a DID document."""

    id: DidFragment
    """Its fragment within the document."""
    type: Annotated[str, msgspec.Meta(max_length=64)]
    """The service type (``LinkedDomains``, ``DIDCommMessaging``, ...)."""
    endpoint: Annotated[str, msgspec.Meta(max_length=256)]
    """The endpoint URI."""


class DidDocument(CoreStruct, frozen=True):
    """A DID document in compact canonical form (docs/spec/did-method.md section 3)."""

    verification_methods: Annotated[list[DidVerificationMethod], msgspec.Meta(max_length=MAX_DID_KEYS)] = []
    """The document's keys."""
    authentication: Annotated[list[DidFragment], msgspec.Meta(max_length=MAX_DID_KEYS)] = []
    """Fragments of the verification methods that may authenticate as (and so update) the DID."""
    assertion_method: Annotated[list[DidFragment], msgspec.Meta(max_length=MAX_DID_KEYS)] = []
    """Fragments of the verification methods that may issue credentials as the DID."""
    services: Annotated[list[DidService], msgspec.Meta(max_length=MAX_DID_SERVICES)] = []
    """Service endpoints."""
    controllers: Annotated[list[DidText], msgspec.Meta(max_length=MAX_DID_CONTROLLERS)] = []
    """Other DIDs whose authentication keys may also update or deactivate this DID."""


class DidCreate(CoreStruct, frozen=True, tag="identity.did_create"):
    """Register a DID with its first document (version 1).

    The id is ``tagged_hash("trellis/did-id/v1", sender || nonce)[:16]`` unless ``id`` chooses one. The sender's
    key must be an authentication key of the new document or of one of its controllers.
    """

    document: DidDocument
    """The first document."""
    id: Annotated[bytes, msgspec.Meta(min_length=16, max_length=16)] | None = None
    """A chosen 16-byte id (e.g. a UUID's bytes); None: derived from the sender and nonce."""


class DidUpdate(CoreStruct, frozen=True, tag="identity.did_update"):
    """Replace a DID's document (key rotation is an update that replaces the keys); the version goes up by one."""

    did: DidText
    """The DID."""
    document: DidDocument
    """The new document."""


class DidDeactivate(CoreStruct, frozen=True, tag="identity.did_deactivate"):
    """Deactivate a DID for good: it still resolves (with ``deactivated``) but can never be updated again."""

    did: DidText
    """The DID."""
