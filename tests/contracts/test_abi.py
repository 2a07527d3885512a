"""The ABI codec (docs/spec/contracts.md section 5): the JSON ABI file, the binary encoding, JSON and CLI values."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from trellis.app.modules.contracts import abi as abi_mod
from trellis.app.modules.contracts.abi import AbiError, AbiParam
from trellis.core.ledger.block import Event

from .conftest import EXAMPLES, EXAMPLES_DIR

ALICE = bytes(range(1, 21))
BOB = bytes(range(21, 41))
DOC = bytes(range(32))

ALL_TYPES_ABI = {
    "abi": 1,
    "name": "all",
    "methods": [
        {
            "name": "everything",
            "inputs": [
                {"name": "a", "type": "u32"},
                {"name": "b", "type": "u64"},
                {"name": "c", "type": "bool"},
                {"name": "d", "type": "address"},
                {"name": "e", "type": "bytes32"},
                {"name": "f", "type": "bytes"},
                {"name": "g", "type": "string"},
            ],
            "outputs": [{"name": "ok", "type": "bool"}],
            "readonly": True,
        }
    ],
    "events": [{"name": "Moved", "fields": [{"name": "to", "type": "address"}, {"name": "n", "type": "u64"}]}],
}


def token_abi() -> abi_mod.Abi:
    return abi_mod.load_abi(EXAMPLES_DIR / "token" / "token.abi.json")


def all_abi() -> abi_mod.Abi:
    return abi_mod.parse_abi(json.dumps(ALL_TYPES_ABI))


def with_changes(**changes: Any) -> str:
    doc = json.loads(json.dumps(ALL_TYPES_ABI))
    doc.update(changes)
    return json.dumps(doc)


# ------------------------------------------------------------------------------------------------ the ABI file


@pytest.mark.parametrize("name", EXAMPLES)
def test_every_example_abi_is_valid(name: str) -> None:
    abi = abi_mod.load_abi(EXAMPLES_DIR / name / f"{name}.abi.json")
    assert abi.name == name
    assert abi.methods


def test_optional_abi_fields_default_to_empty() -> None:
    abi = abi_mod.parse_abi('{"abi": 1, "name": "x", "methods": [{"name": "ping"}]}')
    assert abi.methods[0].inputs == [] and abi.methods[0].outputs == [] and not abi.methods[0].readonly
    assert abi.events == []


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("not json", "not JSON"),
        (with_changes(abi=2), "$.abi"),
        (with_changes(colour="blue"), "colour"),
        (
            with_changes(methods=[{"name": "m", "inputs": [{"name": "x", "type": "u128"}]}]),
            "$.methods[0].inputs[0].type",
        ),
        (with_changes(methods=[{"name": "1m"}]), "$.methods[0].name"),
        (with_changes(methods=[{"name": "m"}, {"name": "m"}]), "method 'm' twice"),
        (
            with_changes(
                methods=[{"name": "m", "inputs": [{"name": "x", "type": "u32"}, {"name": "x", "type": "u64"}]}]
            ),
            "input 'x' twice",
        ),
        (with_changes(events=[{"name": "E" * 33}]), "$.events[0].name"),
        (with_changes(events=[{"name": "E"}, {"name": "E"}]), "event 'E' twice"),
        (with_changes(events=[{"name": "E", "fields": [{"name": "a", "type": "u32"}] * 2}]), "field 'a' twice"),
        (with_changes(name=""), "$.name"),
    ],
)
def test_malformed_abi_is_refused_with_where_and_why(text: str, needle: str) -> None:
    with pytest.raises(AbiError, match="invalid ABI") as exc:
        abi_mod.parse_abi(text)
    assert needle in str(exc.value)


def test_missing_abi_file_is_an_abi_error(tmp_path: Path) -> None:
    with pytest.raises(AbiError, match="cannot read ABI file"):
        abi_mod.load_abi(tmp_path / "nope.abi.json")


def test_unknown_method_lists_the_known_ones() -> None:
    with pytest.raises(AbiError, match=r"no method 'mint' \(methods: init, name"):
        abi_mod.find_method(token_abi(), "mint")


def test_method_outputs_and_inputs() -> None:
    abi = token_abi()
    assert [p.name for p in abi_mod.method_inputs(abi, "transfer")] == ["to", "amount"]
    assert abi_mod.method_outputs(abi, "transfer") == [AbiParam(name="ok", type="bool")]


# --------------------------------------------------------------------------------------------- binary encoding


def test_arguments_are_the_concatenation_of_values_little_endian() -> None:
    data = abi_mod.encode_args(token_abi(), "transfer", [BOB, 0x0102030405060708])
    assert data == BOB + bytes.fromhex("0807060504030201")


def test_every_type_encodes_as_the_spec_says() -> None:
    data = abi_mod.encode_args(all_abi(), "everything", [7, 2**64 - 1, True, ALICE, DOC, b"\xff\x00", "hé"])
    assert data == (
        b"\x07\x00\x00\x00"
        + b"\xff" * 8
        + b"\x01"
        + ALICE
        + DOC
        + b"\x02\x00\x00\x00\xff\x00"
        + b"\x03\x00\x00\x00"
        + "hé".encode()
    )


def test_values_by_name_encode_like_values_in_order() -> None:
    abi = token_abi()
    assert abi_mod.encode_args(abi, "transfer", {"amount": 5, "to": BOB}) == abi_mod.encode_args(
        abi, "transfer", [BOB, 5]
    )


@pytest.mark.parametrize(
    ("values", "needle"),
    [
        ([BOB], r"expected 2 values \(to: address, amount: u64\), got 1"),
        ({"to": BOB}, "missing amount"),
        ({"to": BOB, "amount": 1, "memo": "x"}, "unknown memo"),
        ([BOB[:19], 1], r"to \(address\) must be 20 bytes, got 19"),
        ([BOB, -1], r"amount \(u64\) must be 0 to 18446744073709551615, got -1"),
        ([BOB, 2**64], "must be 0 to 18446744073709551615"),
        ([BOB, True], r"amount \(u64\) must be an int, not bool"),
        (["0x" + BOB.hex(), 1], r"to \(address\) must be bytes, not str"),
        ("ab", "must be a list or a mapping"),
    ],
)
def test_wrong_python_values_are_refused_precisely(values: Any, needle: str) -> None:
    with pytest.raises(AbiError, match=needle):
        abi_mod.encode_args(token_abi(), "transfer", values)


def test_unencodable_string_is_an_abi_error() -> None:
    with pytest.raises(AbiError, match="cannot be encoded as UTF-8"):
        abi_mod.encode_args(all_abi(), "everything", [0, 0, False, ALICE, DOC, b"", "\udc80"])


def test_decode_outputs_gives_json_values_by_default_and_python_values_when_raw() -> None:
    abi = all_abi()
    data = abi_mod.encode_args(abi, "everything", [1, 2, False, ALICE, DOC, b"\x01", "s"])
    assert abi_mod.decode_args(abi, "everything", data) == {
        "a": 1,
        "b": 2,
        "c": False,
        "d": "0x" + ALICE.hex(),
        "e": "0x" + DOC.hex(),
        "f": "0x01",
        "g": "s",
    }
    assert abi_mod.decode_args(abi, "everything", data, raw=True)["d"] == ALICE
    assert abi_mod.decode_outputs(abi, "everything", b"\x01") == {"ok": True}


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        (BOB + b"\x01\x00", r"method 'transfer' inputs: amount \(u64\) needs 8 bytes at offset 20, 2 left"),
        (BOB[:5], r"to \(address\) needs 20 bytes at offset 0, 5 left"),
        (BOB + bytes(8) + b"\x00", "1 trailing bytes after the last value"),
    ],
)
def test_too_few_or_trailing_bytes_are_errors(data: bytes, needle: str) -> None:
    with pytest.raises(AbiError, match=needle):
        abi_mod.decode_args(token_abi(), "transfer", data)


def test_bool_other_than_0_or_1_is_an_error() -> None:
    with pytest.raises(AbiError, match=r"ok \(bool\) must be 0 or 1, got 2"):
        abi_mod.decode_outputs(token_abi(), "transfer", b"\x02")


def test_length_prefix_beyond_the_data_is_an_error() -> None:
    with pytest.raises(AbiError, match=r"name \(string\) needs 100 bytes at offset 4, 2 left"):
        abi_mod.decode_outputs(token_abi(), "name", b"\x64\x00\x00\x00ab")


def test_string_that_is_not_utf8_is_an_error() -> None:
    with pytest.raises(AbiError, match=r"name \(string\) is not valid UTF-8"):
        abi_mod.decode_outputs(token_abi(), "name", b"\x02\x00\x00\x00\xc3\x28")


# ---------------------------------------------------------------------------------------------------- events


def test_decode_event_from_a_receipt_event() -> None:
    abi = token_abi()
    data = abi_mod.encode_event_data(abi, "Transfer", [ALICE, BOB, 9])
    event = Event(type="contract.Transfer", attributes=[("contract", bytes(20)), ("data", data)])
    assert abi_mod.decode_event(abi, event) == {"from": "0x" + ALICE.hex(), "to": "0x" + BOB.hex(), "amount": 9}
    assert abi_mod.decode_event(abi, event, raw=True)["to"] == BOB


@pytest.mark.parametrize("topic", ["Approval", "contract.Approval"])
def test_decode_event_from_a_topic_and_data(topic: str) -> None:
    abi = token_abi()
    data = abi_mod.encode_event_data(abi, "Approval", {"owner": ALICE, "spender": BOB, "amount": 3})
    assert abi_mod.decode_event(abi, topic, data, raw=True) == {"owner": ALICE, "spender": BOB, "amount": 3}


@pytest.mark.parametrize(
    ("event", "needle"),
    [
        (Event(type="transfer", attributes=[("data", b"")]), "not a contract event"),
        (Event(type="contract.Burn", attributes=[("data", b"")]), "no event 'Burn'"),
        (Event(type="contract.Transfer", attributes=[("contract", bytes(20))]), "0 'data' attributes"),
        (Event(type="contract.Transfer", attributes=[("data", b"\x00")]), r"from \(address\) needs 20 bytes"),
    ],
)
def test_undecodable_events_are_abi_errors(event: Event, needle: str) -> None:
    with pytest.raises(AbiError, match=needle):
        abi_mod.decode_event(token_abi(), event)


def test_a_topic_needs_its_data() -> None:
    with pytest.raises(AbiError, match="needs its data"):
        abi_mod.decode_event(token_abi(), "Transfer")


# ------------------------------------------------------------------------------------------ JSON and CLI values


def test_json_args_accept_hex_for_binary_values_and_decimal_strings_for_integers() -> None:
    abi = all_abi()
    values = {
        "a": 1,
        "b": "18446744073709551615",
        "c": True,
        "d": ALICE.hex(),
        "e": "0x" + DOC.hex(),
        "f": "",
        "g": "x",
    }
    data = abi_mod.encode_json_args(abi, "everything", values)
    assert data == abi_mod.encode_args(abi, "everything", [1, 2**64 - 1, True, ALICE, DOC, b"", "x"])


@pytest.mark.parametrize(
    ("values", "needle"),
    [
        ([BOB.hex(), 1.5], r"amount \(u64\) must be an integer, not a number"),
        ([None, 1], r"to \(address\) must be a string, not null"),
        (["zz", 1], r"to \(address\) must be hex"),
        ([BOB.hex(), "12a"], "must be a decimal integer"),
    ],
)
def test_wrong_json_values_are_refused_precisely(values: list[object], needle: str) -> None:
    with pytest.raises(AbiError, match=needle):
        abi_mod.encode_json_args(token_abi(), "transfer", values)


def test_cli_args_parse_each_type() -> None:
    abi = all_abi()
    args = ["7", "18446744073709551615", "true", "0x" + ALICE.hex(), DOC.hex().upper(), "0x", "hello world"]
    assert abi_mod.encode_cli_args(abi, "everything", args) == abi_mod.encode_args(
        abi, "everything", [7, 2**64 - 1, True, ALICE, DOC, b"", "hello world"]
    )


@pytest.mark.parametrize(
    ("text", "type_", "value"),
    [
        ("TRUE", "bool", True),
        ("0", "bool", False),
        ("1_000", "u64", 1000),
        (" 42 ", "u32", 42),
        ("", "bytes", b""),
        ("0xABcd", "bytes", b"\xab\xcd"),
        ("", "string", ""),
    ],
)
def test_cli_value_forms(text: str, type_: abi_mod.AbiType, value: abi_mod.AbiValue) -> None:
    assert abi_mod.parse_cli_value(type_, text) == value


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["0x" + BOB.hex()], r"method 'transfer' takes 2 arguments \(to:address amount:u64\), got 1"),
        (["0x" + BOB.hex(), "-1"], r"argument amount \(u64\) must be a decimal integer, got '-1'"),
        (["0x" + BOB.hex(), "18446744073709551616"], "must be 0 to 18446744073709551615"),
        (["0x" + BOB.hex(), "1e3"], "must be a decimal integer"),
        (["0x1234", "1"], r"argument to \(address\) must be 20 bytes \(40 hex digits\), got 2"),
        (["0x123", "1"], r"must be hex \(an even number of 0-9a-f digits"),
        (["bob", "1"], "must be hex"),
    ],
)
def test_bad_cli_args_are_refused_precisely(args: list[str], needle: str) -> None:
    with pytest.raises(AbiError, match=needle):
        abi_mod.encode_cli_args(token_abi(), "transfer", args)


def test_cli_bool_must_be_true_or_false() -> None:
    with pytest.raises(AbiError, match="must be true or false, got 'yes'"):
        abi_mod.parse_cli_value("bool", "yes")


def test_cli_args_of_an_unknown_method_are_refused() -> None:
    with pytest.raises(AbiError, match="no method 'burn'"):
        abi_mod.encode_cli_args(token_abi(), "burn", [])
