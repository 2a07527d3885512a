"""The contracts module's declaration: its messages, each with its handler, and its state-key prefixes."""

from __future__ import annotations

from trellis.core.execution.module import Module
from trellis.core.modules.contracts.handlers import (
    handle_contract_call,
    handle_contract_deploy,
    handle_contract_upgrade,
)
from trellis.core.modules.contracts.messages import ContractCall, ContractDeploy, ContractUpgrade
from trellis.core.modules.contracts.state import PREFIXES

MODULE = Module(
    name="contracts",
    handlers={
        ContractDeploy: handle_contract_deploy,
        ContractCall: handle_contract_call,
        ContractUpgrade: handle_contract_upgrade,
    },
    prefixes=PREFIXES,
)
