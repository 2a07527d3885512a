"""Messages of the ``membership`` module; members of the ``Payload`` union (``trellis.core.modules.payload``). See docs/spec/membership.md."""

from __future__ import annotations

from typing import Annotated

import msgspec

from trellis.core.modules.hub.messages import HubRegister, HubRetire
from trellis.core.modules.interchain.messages import RecoverClient, TrustChain, UntrustChain
from trellis.core.modules.validators.messages import AddValidator, RemoveValidator, SetValidatorPower
from trellis.core.types import U64, CoreStruct

CertificateDer = Annotated[bytes, msgspec.Meta(min_length=1, max_length=8 * 1024)]
"""An X.509 certificate, DER-encoded (at most 8 KiB)."""


OrgName = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
"""A member organisation's name."""


CertSerial = Annotated[bytes, msgspec.Meta(min_length=1, max_length=20)]
"""An X.509 serial number as unsigned big-endian bytes (RFC 5280: at most 20 octets)."""


class RegisterCert(CoreStruct, frozen=True, tag="membership.register_cert"):
    """Register an identity certificate for the sender's key (docs/spec/membership.md).

    The certificate's subject public key must be the sender's key (the transaction's signature proves
    possession); it must chain to a member CA, be valid at the block's time, not be revoked and carry a role.
    """

    cert: CertificateDer
    """The identity certificate."""


class AddOrg(CoreStruct, frozen=True, tag="add_org"):
    """Membership change: admit an organisation with its CA certificates."""

    name: OrgName
    """The new organisation's name."""
    ca_certs: Annotated[list[CertificateDer], msgspec.Meta(min_length=1, max_length=4)]
    """Its CA certificates (DER)."""


class RemoveOrg(CoreStruct, frozen=True, tag="remove_org"):
    """Membership change: remove an organisation (its certificates stop being valid)."""

    name: OrgName
    """The organisation to remove."""


class AddCa(CoreStruct, frozen=True, tag="add_ca"):
    """Membership change: add a CA certificate to an organisation (a CA rollover's first step)."""

    org: OrgName
    """The organisation."""
    ca_cert: CertificateDer
    """The new CA certificate (DER)."""


class RemoveCa(CoreStruct, frozen=True, tag="remove_ca"):
    """Membership change: remove a CA certificate from an organisation (a rollover's last step)."""

    org: OrgName
    """The organisation."""
    fingerprint: Annotated[bytes, msgspec.Meta(min_length=32, max_length=32)]
    """SHA-256 of the CA certificate's DER."""


class SetThreshold(CoreStruct, frozen=True, tag="set_threshold"):
    """Membership change: how many distinct organisations' admins must approve a change."""

    threshold: Annotated[int, msgspec.Meta(ge=1, le=64)]
    """The new admin threshold."""


MembershipChange = (
    AddOrg
    | RemoveOrg
    | AddCa
    | RemoveCa
    | SetThreshold
    | AddValidator
    | RemoveValidator
    | SetValidatorPower
    | TrustChain
    | UntrustChain
    | RecoverClient
    | HubRegister
    | HubRetire
)
"""A change to the on-chain membership or (the three ``validators.*`` members, ``core/modules/validators``) to the
validator set, or (the three ``interchain.*`` members, ``core/modules/interchain``) to the chains this chain's
light clients may trust, or (the two ``hub.*`` members, ``core/modules/hub``) to a hub's registry of sub-chains,
applied when enough organisations' admins approve it."""


class ProposeMembership(CoreStruct, frozen=True, tag="membership.propose"):
    """Propose a membership change; the proposer's organisation counts as its first approval. Admins only."""

    change: MembershipChange
    """The change."""


class ApproveMembership(CoreStruct, frozen=True, tag="membership.approve"):
    """Approve a pending membership change for the sender's organisation. Admins only."""

    proposal_id: U64
    """The proposal's id (from the ``membership.proposed`` event)."""


class RevokeCert(CoreStruct, frozen=True, tag="membership.revoke"):
    """Revoke a certificate of the sender's own organisation, from the next block on. Admins only."""

    serial: CertSerial
    """The certificate's serial number."""
