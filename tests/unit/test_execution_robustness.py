"""A handler bug that hostile input triggers fails that transaction, identically on every node, instead of
halting the chain; a failure to read this node's own state is never turned into a receipt."""

from __future__ import annotations

import pytest

from trellis.core.codec import decode
from trellis.core.execution import ResultCode
from trellis.core.execution.reference import StateUnavailable
from trellis.core.modules.accounts.messages import Transfer
from trellis.core.modules.accounts.state import Account, account_key
from trellis.core.modules.contracts.messages import ContractCall, ContractDeploy
from trellis.core.params import GenesisContracts


class BuggyEngine:
    """A contract engine whose ``call`` has a bug: it raises instead of returning an outcome."""

    def validate(self, code: bytes, limits: GenesisContracts) -> None:
        return None

    def call(self, host, contract, caller, method, args, gas_limit, *, is_init=False):  # type: ignore[no-untyped-def]
        if is_init:
            from trellis.core.modules.contracts.engine import CallOutcome

            return CallOutcome(ok=True)
        raise ValueError("an engine bug")


def test_a_handler_that_raises_fails_only_its_transaction(make_chain, actors, make_tx) -> None:
    chain = make_chain([(actors.alice.address, 10_000), (actors.bob.address, 10_000)])
    chain.contracts = BuggyEngine()
    executed = chain.execute_and_commit([make_tx(actors.alice, 0, ContractDeploy(code=b"\x00asm-module"))])
    contract = executed.output.receipts[0].data
    out = chain.execute(
        [
            make_tx(actors.bob, 0, ContractCall(contract=contract, method="run")),
            make_tx(actors.alice, 1, Transfer(to=actors.carol.address, amount=5)),
        ]
    )
    buggy, ok = out.receipts
    assert buggy.code == ResultCode.HANDLER_ERROR
    assert buggy.message == "the ContractCall handler failed on this transaction (ValueError)"
    assert decode(out.writes[account_key(actors.bob.address)] or b"", Account).nonce == 1
    assert ok.code == ResultCode.OK


def test_a_state_read_failure_is_not_a_receipt(make_chain, actors, make_tx) -> None:
    chain = make_chain()

    def broken(key: bytes) -> bytes | None:
        raise OSError("disk gone")

    chain.get = broken  # type: ignore[method-assign]
    with pytest.raises(StateUnavailable):
        chain.execute([make_tx(actors.alice, 0, Transfer(to=actors.bob.address, amount=1))])
