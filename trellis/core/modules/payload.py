"""The payload union: every module's messages, as the one literal union ``TxBody.payload`` is typed with.

msgspec dispatches on the tag, so the member order does not affect the encoding. A module adds its messages here
and its declaration in ``registry.py``; ``tests/unit/test_module_registry.py`` keeps the two equal.
"""

from __future__ import annotations

from trellis.core.modules.accounts.messages import Mint, Transfer
from trellis.core.modules.attestations.messages import Attest, RevokeAttestation
from trellis.core.modules.contracts.messages import ContractCall, ContractDeploy, ContractUpgrade
from trellis.core.modules.credentials.messages import SetIssuer, StatusCreate, StatusSet
from trellis.core.modules.custody.messages import CustodyRegister, CustodyRelease, CustodyRespond
from trellis.core.modules.directory.messages import (
    DirectoryDecide,
    DirectoryPublish,
    DirectoryRequestAccess,
    DirectoryUpdate,
    DirectoryWithdraw,
)
from trellis.core.modules.evidence.messages import SubmitEvidence
from trellis.core.modules.hub.messages import HubConnected
from trellis.core.modules.identity.messages import DidCreate, DidDeactivate, DidUpdate
from trellis.core.modules.interchain.messages import (
    Acknowledge,
    ChanCloseConfirm,
    ChanCloseInit,
    ChanOpenAck,
    ChanOpenConfirm,
    ChanOpenInit,
    ChanOpenTry,
    ConnOpenAck,
    ConnOpenConfirm,
    ConnOpenInit,
    ConnOpenTry,
    CreateClient,
    RecvPacket,
    Relay,
    SubmitMisbehaviour,
    Timeout,
    TimeoutOnClose,
    UpdateClient,
)
from trellis.core.modules.kv.messages import KvDelete, KvPut
from trellis.core.modules.membership.messages import ApproveMembership, ProposeMembership, RegisterCert, RevokeCert
from trellis.core.modules.notary.messages import NotaryAnchor
from trellis.core.modules.transfer.messages import TransferExpireForward, TransferMove, TransferSend, TransferSendVia

Payload = (
    Transfer
    | Mint
    | KvPut
    | KvDelete
    | SubmitEvidence
    | ContractDeploy
    | ContractCall
    | ContractUpgrade
    | RegisterCert
    | ProposeMembership
    | ApproveMembership
    | RevokeCert
    | DidCreate
    | DidUpdate
    | DidDeactivate
    | SetIssuer
    | StatusCreate
    | StatusSet
    | NotaryAnchor
    | Attest
    | RevokeAttestation
    | TransferSend
    | TransferMove
    | TransferSendVia
    | TransferExpireForward
    | CreateClient
    | UpdateClient
    | SubmitMisbehaviour
    | ConnOpenInit
    | ConnOpenTry
    | ConnOpenAck
    | ConnOpenConfirm
    | ChanOpenInit
    | ChanOpenTry
    | ChanOpenAck
    | ChanOpenConfirm
    | ChanCloseInit
    | ChanCloseConfirm
    | RecvPacket
    | Acknowledge
    | Timeout
    | TimeoutOnClose
    | Relay
    | HubConnected
    | DirectoryPublish
    | DirectoryUpdate
    | DirectoryWithdraw
    | DirectoryRequestAccess
    | DirectoryDecide
    | CustodyRegister
    | CustodyRespond
    | CustodyRelease
)
"""The tagged union of every module message. The tag (``"module.action"``) is encoded first."""
