"""The example contracts' rules, run by the wasmtime engine through the core's ``apply_block``: a token with
allowances, a multi-party escrow that moves tokens with nested calls, and a document registry."""

from __future__ import annotations

import hashlib

import pytest

from trellis.core.execution.results import ResultCode
from trellis.core.ledger.block import Receipt
from trellis.core.modules.contracts.messages import ContractCall

from .conftest import CALL_GAS, ContractChain, Deployed, Example, People, contract_events, make_key

SUPPLY = 1_000_000
ZERO = bytes(20)
MALLORY = make_key("mallory")


def reverted(receipt: Receipt, needle: str) -> None:
    """``receipt`` failed with REVERTED and a message containing ``needle``."""
    assert receipt.code == ResultCode.REVERTED, f"expected a revert, got code {receipt.code}: {receipt.message}"
    assert needle in receipt.message, receipt.message


# ------------------------------------------------------------------------------------------------------ token


@pytest.fixture
def token(chain: ContractChain, examples: dict[str, Example], people: People) -> Deployed:
    return chain.deploy(people.alice, examples["token"], ["Trellis Token", "TRL", SUPPLY])


def balance(chain: ContractChain, token: Deployed, who: bytes) -> int:
    return int(chain.query(token, "balanceOf", [who])["balance"])


def test_token_init_mints_the_supply_to_the_deployer(chain: ContractChain, token: Deployed, people: People) -> None:
    assert chain.query(token, "name") == {"name": "Trellis Token"}
    assert chain.query(token, "symbol") == {"symbol": "TRL"}
    assert chain.query(token, "totalSupply") == {"supply": SUPPLY}
    assert balance(chain, token, people.alice.address) == SUPPLY
    assert balance(chain, token, people.bob.address) == 0


def test_token_transfer_moves_balance_and_emits_transfer(chain: ContractChain, token: Deployed, people: People) -> None:
    receipt = chain.try_call(people.alice, token, "transfer", [people.bob.address, 250])
    assert receipt.code == 0, receipt.message
    assert contract_events(receipt, token) == [
        ("Transfer", {"from": people.alice.address, "to": people.bob.address, "amount": 250})
    ]
    assert balance(chain, token, people.alice.address) == SUPPLY - 250
    assert balance(chain, token, people.bob.address) == 250


def test_token_transfer_beyond_the_balance_reverts_and_changes_nothing(
    chain: ContractChain, token: Deployed, people: People
) -> None:
    chain.call(people.alice, token, "transfer", [people.bob.address, 10])
    receipt = chain.try_call(people.bob, token, "transfer", [people.carol.address, 11])
    reverted(receipt, f"insufficient balance: 0x{people.bob.address.hex()} has 10, needs 11")
    assert receipt.events == []
    assert balance(chain, token, people.bob.address) == 10
    assert balance(chain, token, people.carol.address) == 0


def test_token_approve_then_transfer_from_spends_the_allowance(
    chain: ContractChain, token: Deployed, people: People
) -> None:
    receipt = chain.try_call(people.alice, token, "approve", [people.bob.address, 100])
    assert contract_events(receipt, token) == [
        ("Approval", {"owner": people.alice.address, "spender": people.bob.address, "amount": 100})
    ]
    assert chain.query(token, "allowance", [people.alice.address, people.bob.address]) == {"remaining": 100}
    assert chain.call(people.bob, token, "transferFrom", [people.alice.address, people.carol.address, 60]) == {
        "ok": True
    }
    assert balance(chain, token, people.carol.address) == 60
    assert chain.query(token, "allowance", [people.alice.address, people.bob.address]) == {"remaining": 40}


def test_token_allowance_is_exhausted(chain: ContractChain, token: Deployed, people: People) -> None:
    chain.call(people.alice, token, "approve", [people.bob.address, 50])
    chain.call(people.bob, token, "transferFrom", [people.alice.address, people.bob.address, 50])
    receipt = chain.try_call(people.bob, token, "transferFrom", [people.alice.address, people.bob.address, 1])
    reverted(receipt, "insufficient allowance")
    assert chain.query(token, "allowance", [people.alice.address, people.bob.address]) == {"remaining": 0}
    assert balance(chain, token, people.bob.address) == 50


def test_token_transfer_from_without_allowance_reverts(chain: ContractChain, token: Deployed, people: People) -> None:
    receipt = chain.try_call(people.carol, token, "transferFrom", [people.alice.address, people.carol.address, 1])
    reverted(receipt, f"0x{people.carol.address.hex()} may spend 0 of 0x{people.alice.address.hex()}'s tokens")


def test_token_refuses_malformed_arguments(chain: ContractChain, token: Deployed, people: People) -> None:
    args = people.bob.address + (5).to_bytes(8, "little") + b"\x00"
    receipt = chain.send(people.alice, ContractCall(contract=token.address, method="transfer", args=args))
    reverted(receipt, "trailing bytes")
    receipt = chain.send(people.alice, ContractCall(contract=token.address, method="transfer", args=b"\x01" * 3))
    reverted(receipt, "abi: to needs 20 bytes at offset 0, 3 left")


# ----------------------------------------------------------------------------------------------------- escrow

ESCROW_AMOUNT = 300
HOUR_MS = 3_600_000


@pytest.fixture
def escrow(chain: ContractChain, examples: dict[str, Example], people: People) -> Deployed:
    return chain.deploy(people.bob, examples["escrow"])


def arbiters(people: People) -> bytes:
    return people.carol.address + people.dave.address + people.erin.address


def open_escrow(chain: ContractChain, token: Deployed, escrow: Deployed, people: People, threshold: int = 2) -> int:
    """Alice escrows ESCROW_AMOUNT for bob, carol/dave/erin arbitrate, ``threshold`` of them must approve."""
    chain.call(people.alice, token, "approve", [escrow.address, ESCROW_AMOUNT])
    deadline = chain.time_ms + HOUR_MS
    out = chain.call(
        people.alice,
        escrow,
        "create",
        [token.address, people.bob.address, ESCROW_AMOUNT, arbiters(people), threshold, deadline],
    )
    return int(out["id"])


def test_escrow_create_pulls_the_tokens_with_a_nested_transfer_from(
    chain: ContractChain, token: Deployed, escrow: Deployed, people: People
) -> None:
    chain.call(people.alice, token, "approve", [escrow.address, ESCROW_AMOUNT])
    deadline = chain.time_ms + HOUR_MS
    receipt = chain.try_call(
        people.alice,
        escrow,
        "create",
        [token.address, people.bob.address, ESCROW_AMOUNT, arbiters(people), 2, deadline],
    )
    assert receipt.code == 0, receipt.message
    # The token's Transfer comes from the nested call, the escrow's Created after it.
    assert contract_events(receipt, token) == [
        ("Transfer", {"from": people.alice.address, "to": escrow.address, "amount": ESCROW_AMOUNT})
    ]
    assert contract_events(receipt, escrow) == [
        ("Created", {"id": 1, "depositor": people.alice.address, "payee": people.bob.address, "amount": ESCROW_AMOUNT})
    ]
    assert balance(chain, token, people.alice.address) == SUPPLY - ESCROW_AMOUNT
    assert balance(chain, token, escrow.address) == ESCROW_AMOUNT
    assert chain.query(token, "allowance", [people.alice.address, escrow.address]) == {"remaining": 0}
    record = chain.query(escrow, "get", [1])
    assert record["depositor"] == people.alice.address and record["payee"] == people.bob.address
    assert (record["threshold"], record["approvals"], record["state"], record["deadline"]) == (2, 0, 0, deadline)
    assert record["arbiters"] == arbiters(people)


def test_escrow_create_without_allowance_fails_whole_and_leaves_no_escrow(
    chain: ContractChain, token: Deployed, escrow: Deployed, people: People
) -> None:
    receipt = chain.try_call(
        people.alice,
        escrow,
        "create",
        [token.address, people.bob.address, ESCROW_AMOUNT, arbiters(people), 2, chain.time_ms + HOUR_MS],
    )
    reverted(receipt, "insufficient allowance")
    assert balance(chain, token, escrow.address) == 0
    assert open_escrow(chain, token, escrow, people) == 1  # the failed create's id was rolled back too


def test_escrow_releases_to_the_payee_once_enough_arbiters_approve(
    chain: ContractChain, token: Deployed, escrow: Deployed, people: People
) -> None:
    escrow_id = open_escrow(chain, token, escrow, people)
    assert chain.call(people.carol, escrow, "approve", [escrow_id]) == {"approvals": 1}
    reverted(chain.try_call(people.bob, escrow, "release", [escrow_id]), "needs 2 approvals, has 1")
    receipt = chain.try_call(people.erin, escrow, "approve", [escrow_id])
    assert contract_events(receipt, escrow) == [
        ("Approved", {"id": escrow_id, "arbiter": people.erin.address, "approvals": 2})
    ]
    receipt = chain.try_call(people.bob, escrow, "release", [escrow_id])
    assert receipt.code == 0, receipt.message
    assert contract_events(receipt, token) == [
        ("Transfer", {"from": escrow.address, "to": people.bob.address, "amount": ESCROW_AMOUNT})
    ]
    assert contract_events(receipt, escrow) == [
        ("Released", {"id": escrow_id, "payee": people.bob.address, "amount": ESCROW_AMOUNT})
    ]
    assert balance(chain, token, people.bob.address) == ESCROW_AMOUNT
    assert balance(chain, token, escrow.address) == 0
    assert chain.query(escrow, "get", [escrow_id])["state"] == 1
    reverted(chain.try_call(people.bob, escrow, "release", [escrow_id]), "already released")


def test_escrow_release_by_an_outsider_is_refused(
    chain: ContractChain, token: Deployed, escrow: Deployed, people: People
) -> None:
    escrow_id = open_escrow(chain, token, escrow, people, threshold=1)
    chain.call(people.dave, escrow, "approve", [escrow_id])
    reverted(chain.try_call(MALLORY, escrow, "release", [escrow_id]), "is not a party to escrow 1")
    assert balance(chain, token, escrow.address) == ESCROW_AMOUNT


def test_escrow_approval_by_a_non_arbiter_or_twice_is_refused(
    chain: ContractChain, token: Deployed, escrow: Deployed, people: People
) -> None:
    escrow_id = open_escrow(chain, token, escrow, people)
    reverted(chain.try_call(people.bob, escrow, "approve", [escrow_id]), "is not an arbiter of escrow 1")
    chain.call(people.carol, escrow, "approve", [escrow_id])
    reverted(chain.try_call(people.carol, escrow, "approve", [escrow_id]), "has already approved escrow 1")
    assert chain.query(escrow, "get", [escrow_id])["approvals"] == 1


def test_escrow_refund_only_after_the_deadline_and_only_to_the_depositor(
    chain: ContractChain, token: Deployed, escrow: Deployed, people: People
) -> None:
    escrow_id = open_escrow(chain, token, escrow, people)
    reverted(chain.try_call(people.alice, escrow, "refund", [escrow_id]), "cannot be refunded before its deadline")
    chain.advance(HOUR_MS)
    reverted(chain.try_call(people.bob, escrow, "refund", [escrow_id]), "only the depositor may refund escrow 1")
    receipt = chain.try_call(people.alice, escrow, "refund", [escrow_id])
    assert receipt.code == 0, receipt.message
    assert contract_events(receipt, escrow) == [
        ("Refunded", {"id": escrow_id, "depositor": people.alice.address, "amount": ESCROW_AMOUNT})
    ]
    assert balance(chain, token, people.alice.address) == SUPPLY
    assert balance(chain, token, escrow.address) == 0
    # A refunded escrow can be neither approved nor released.
    reverted(chain.try_call(people.carol, escrow, "approve", [escrow_id]), "already refunded")


@pytest.mark.parametrize(
    ("arbiter_bytes", "threshold", "needle"),
    [
        (b"\x01" * 19, 1, "arbiters must be 20-byte addresses"),
        (b"", 1, "an escrow needs 1 to 16 arbiters"),
        (b"\x01" * 40, 1, "is listed twice"),
        (b"\x01" * 20 + b"\x02" * 20, 3, "threshold must be 1 to 2"),
        (b"\x01" * 20, 0, "threshold must be 1 to 1"),
    ],
)
def test_escrow_create_checks_its_arbiters(
    chain: ContractChain,
    token: Deployed,
    escrow: Deployed,
    people: People,
    arbiter_bytes: bytes,
    threshold: int,
    needle: str,
) -> None:
    chain.call(people.alice, token, "approve", [escrow.address, ESCROW_AMOUNT])
    args = [token.address, people.bob.address, ESCROW_AMOUNT, arbiter_bytes, threshold, chain.time_ms + HOUR_MS]
    reverted(chain.try_call(people.alice, escrow, "create", args), needle)


def test_escrow_deadline_must_be_in_the_future(
    chain: ContractChain, token: Deployed, escrow: Deployed, people: People
) -> None:
    chain.call(people.alice, token, "approve", [escrow.address, ESCROW_AMOUNT])
    args = [token.address, people.bob.address, ESCROW_AMOUNT, arbiters(people), 1, chain.time_ms]
    reverted(chain.try_call(people.alice, escrow, "create", args), "is not after the block time")


# --------------------------------------------------------------------------------------------------- registry


@pytest.fixture
def registry(chain: ContractChain, examples: dict[str, Example], people: People) -> Deployed:
    return chain.deploy(people.carol, examples["registry"])


def doc(n: int) -> bytes:
    return hashlib.sha256(f"document {n}".encode()).digest()


def test_registry_register_and_lookup(chain: ContractChain, registry: Deployed, people: People) -> None:
    receipt = chain.try_call(people.alice, registry, "register", [doc(1), "invoice 2024-001"])
    assert receipt.code == 0, receipt.message
    assert contract_events(receipt, registry) == [("Registered", {"hash": doc(1), "owner": people.alice.address})]
    assert chain.query(registry, "lookup", [doc(1)]) == {
        "exists": True,
        "owner": people.alice.address,
        "metadata": "invoice 2024-001",
        "registeredAt": chain.time_ms,
        "height": chain.height,
        "revoked": False,
    }


def test_registry_lookup_of_an_unknown_document(chain: ContractChain, registry: Deployed) -> None:
    assert chain.query(registry, "lookup", [doc(9)])["exists"] is False


def test_registry_refuses_a_duplicate(chain: ContractChain, registry: Deployed, people: People) -> None:
    chain.call(people.alice, registry, "register", [doc(1), "a"])
    reverted(chain.try_call(people.bob, registry, "register", [doc(1), "b"]), "is already registered")
    assert chain.query(registry, "lookup", [doc(1)])["owner"] == people.alice.address


def test_registry_transfer_of_ownership(chain: ContractChain, registry: Deployed, people: People) -> None:
    chain.call(people.alice, registry, "register", [doc(1), "deed"])
    receipt = chain.try_call(people.alice, registry, "transfer", [doc(1), people.bob.address])
    assert contract_events(receipt, registry) == [
        ("Transferred", {"hash": doc(1), "from": people.alice.address, "to": people.bob.address})
    ]
    assert chain.query(registry, "lookup", [doc(1)])["owner"] == people.bob.address
    assert chain.query(registry, "listByOwner", [people.alice.address, b"", 10])["count"] == 0
    assert chain.query(registry, "listByOwner", [people.bob.address, b"", 10])["hashes"] == doc(1)


def test_registry_refuses_a_non_owner(chain: ContractChain, registry: Deployed, people: People) -> None:
    chain.call(people.alice, registry, "register", [doc(1), "deed"])
    owner = f"only the owner 0x{people.alice.address.hex()}"
    reverted(chain.try_call(people.bob, registry, "transfer", [doc(1), people.bob.address]), f"{owner} may transfer")
    reverted(chain.try_call(people.bob, registry, "revoke", [doc(1)]), f"{owner} may revoke")
    reverted(chain.try_call(people.bob, registry, "revoke", [doc(2)]), "is not registered")


def test_registry_revoke_is_final(chain: ContractChain, registry: Deployed, people: People) -> None:
    chain.call(people.alice, registry, "register", [doc(1), "deed"])
    receipt = chain.try_call(people.alice, registry, "revoke", [doc(1)])
    assert contract_events(receipt, registry) == [("Revoked", {"hash": doc(1), "owner": people.alice.address})]
    assert chain.query(registry, "lookup", [doc(1)])["revoked"] is True
    reverted(chain.try_call(people.alice, registry, "transfer", [doc(1), people.bob.address]), "is revoked")
    reverted(chain.try_call(people.alice, registry, "register", [doc(1), "again"]), "is already registered")


def test_registry_lists_an_owners_documents_in_pages(chain: ContractChain, registry: Deployed, people: People) -> None:
    for n in range(5):
        chain.call(people.alice, registry, "register", [doc(n), f"doc {n}"])
    chain.call(people.bob, registry, "register", [doc(99), "bob's"])
    pages: list[bytes] = []
    cursor = b""
    while True:
        page = chain.query(registry, "listByOwner", [people.alice.address, cursor, 2])
        hashes = page["hashes"]
        assert page["count"] == len(hashes) // 32 <= 2
        pages += [hashes[i : i + 32] for i in range(0, len(hashes), 32)]
        cursor = page["next"]
        if not cursor:
            break
    assert pages == sorted(doc(n) for n in range(5))
    assert chain.query(registry, "listByOwner", [people.carol.address, b"", 99]) == {
        "count": 0,
        "hashes": b"",
        "next": b"",
    }


def test_registry_list_limit_is_bounded(chain: ContractChain, registry: Deployed, people: People) -> None:
    receipt = chain.try_call(people.alice, registry, "listByOwner", [people.alice.address, b"", 100])
    reverted(receipt, "limit must be 1 to 99")


def test_failed_receipts_keep_the_engine_gas(chain: ContractChain, token: Deployed, people: People) -> None:
    receipt = chain.try_call(people.bob, token, "transfer", [people.carol.address, 1])
    assert receipt.code == ResultCode.REVERTED
    assert 0 < receipt.gas_used <= CALL_GAS
