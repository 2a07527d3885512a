"""``trellis contract build|deploy|call|query|events|show|upgrade``: smart contracts from the command line.

Arguments and results are encoded with the contract's JSON ABI (docs/spec/contracts.md section 5). The ABI
is found next to the ``.wasm`` at deployment, or given with ``--abi``; ``deploy`` remembers which ABI belongs
to which address in the home directory (``contracts.json``), so later commands need only the address.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from trellis.api.types import unhex
from trellis.app.modules.contracts import abi as abi_mod
from trellis.app.modules.contracts import toolchain
from trellis.cli import main as cli
from trellis.cli.client import ClientError
from trellis.core.modules.contracts.messages import ContractCall, ContractDeploy, ContractUpgrade

_REGISTRY = "contracts.json"


def _registry_path(args: argparse.Namespace) -> Path:
    return cli._home(args) / _REGISTRY


def _remember(args: argparse.Namespace, address: str, abi_path: Path | None) -> None:
    if abi_path is None:
        return
    path = _registry_path(args)
    known = _known(args)
    known[address.lower()] = str(abi_path.resolve())
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(known, indent=2) + "\n")


def _known(args: argparse.Namespace) -> dict[str, str]:
    path = _registry_path(args)
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise cli.CliError(f"cannot read {path}: {exc}") from None
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def _abi_beside(wasm: Path) -> Path | None:
    """``NAME.abi.json`` next to ``NAME.wasm``, or in the contract folder above ``build/``."""
    stem = wasm.name.removesuffix(".wasm")
    for folder in (wasm.parent, wasm.parent.parent):
        candidate = folder / f"{stem}.abi.json"
        if candidate.exists():
            return candidate
    return None


def _load_abi(path: Path) -> abi_mod.Abi:
    try:
        return abi_mod.load_abi(path)
    except abi_mod.AbiError as exc:
        raise cli.CliError(f"{path}: {exc}") from None


def _abi_for(args: argparse.Namespace, address: str) -> abi_mod.Abi | None:
    if args.abi:
        return _load_abi(Path(args.abi))
    known = _known(args).get(_norm(address))
    return None if known is None else _load_abi(Path(known))


def _norm(address: str) -> str:
    a = address.lower()
    return a if a.startswith("0x") else "0x" + a


def _key_names_to_addresses(args: argparse.Namespace, abi: abi_mod.Abi, method: str, values: list[str]) -> list[str]:
    """``values`` with each ``address`` argument that is a key name (not 40 hex digits) replaced by the key's
    address from the home's key store, so ``transfer bob 250`` works as ``transfer 0x<bob> 250`` does."""
    try:
        inputs = abi_mod.method_inputs(abi, method)
    except abi_mod.AbiError:
        return values  # encode_cli_args names the unknown method
    if len(inputs) != len(values):
        return values  # encode_cli_args names the expected arguments
    return [
        "0x" + cli._address_arg(args, v).hex() if p.type == "address" else v
        for p, v in zip(inputs, values, strict=True)
    ]


def _encode_args(
    args: argparse.Namespace, abi: abi_mod.Abi | None, method: str, values: list[str], raw_hex: str | None
) -> bytes:
    if raw_hex is not None:
        try:
            return unhex(raw_hex, "--args-hex")
        except Exception as exc:
            raise cli.CliError(str(exc)) from None
    if abi is None:
        if values:
            raise cli.CliError("no ABI for this contract: give --abi FILE, or pass --args-hex with encoded arguments")
        return b""
    values = _key_names_to_addresses(args, abi, method, values)
    try:
        return abi_mod.encode_cli_args(abi, method, values)
    except abi_mod.AbiError as exc:
        raise cli.CliError(str(exc)) from None


def _decode_output(abi: abi_mod.Abi | None, method: str, data_hex: str) -> Any:
    data = bytes.fromhex(data_hex.removeprefix("0x"))
    if abi is None or (not data and not abi_mod.method_outputs(abi, method)):
        return data_hex
    try:
        return abi_mod.decode_outputs(abi, method, data)
    except abi_mod.AbiError as exc:
        return {"raw": data_hex, "decode_error": str(exc)}


def _report(args: argparse.Namespace, res: dict[str, Any], abi: abi_mod.Abi | None, method: str | None) -> int:
    if res["status"] != "committed":
        cli._out(args, res, f"tx {res['hash']}\n  {res['status']} (see: trellis tx status {res['hash']})")
        return 0
    r = res["receipt"]
    ok = r["code"] == 0
    lines = [
        f"tx {res['hash']}",
        f"  committed at height {res['height']} (index {res['index']}), gas used {r['gas_used']}",
        "  result: " + ("ok" if ok else f"FAILED code {r['code']}: {r['message']}"),
    ]
    if ok and method is not None:
        res["returned"] = _decode_output(abi, method, r["data"])
        lines.append(f"  returned: {json.dumps(res['returned'])}")
    for e in r["events"]:
        lines.append(f"  event {e['type']} " + " ".join(f"{k}={v}" for k, v in e["attributes"].items()))
    cli._out(args, res, "\n".join(lines))
    return 0 if ok else 1


def cmd_build(args: argparse.Namespace) -> int:
    try:
        result = toolchain.build(Path(args.dir))
    except toolchain.ToolchainError as exc:
        raise cli.CliError(str(exc)) from None
    data = {"wasm": str(result.wasm_path), "abi": str(result.abi_path), "size": result.size}
    cli._out(args, data, f"built {result.wasm_path} ({result.size} bytes)\n  abi {result.abi_path}")
    return 0


def _read_wasm(path_text: str) -> bytes:
    path = Path(path_text)
    try:
        return path.read_bytes()
    except OSError as exc:
        raise cli.CliError(f"cannot read {path}: {exc.strerror}") from None


def cmd_deploy(args: argparse.Namespace) -> int:
    wasm = Path(args.file)
    code = _read_wasm(args.file)
    abi_path = Path(args.abi) if args.abi else _abi_beside(wasm)
    abi = _load_abi(abi_path) if abi_path is not None else None
    init_args = _encode_args(args, abi, "init", args.args, args.args_hex) if (args.args or args.args_hex) else b""
    admin = cli._address_arg(args, args.admin) if args.admin else None
    payload = ContractDeploy(code=code, args=init_args, admin=admin, gas_limit=args.gas)
    res = cli.sign_and_submit(args, payload)
    deployed = res["status"] == "committed" and res["receipt"]["code"] == 0
    if deployed:
        _remember(args, res["receipt"]["data"], abi_path)
    if args.json or not deployed:
        return _report(args, res, None, None)
    r = res["receipt"]
    print(f"contract {r['data']}\n  deployed at height {res['height']}, gas used {r['gas_used']}")
    if abi_path is not None:
        print(f"  abi {abi_path}")
    return 0


def cmd_call(args: argparse.Namespace) -> int:
    address = cli._address_arg(args, args.address)
    abi = _abi_for(args, "0x" + address.hex())
    if abi is None:
        _require_contract(args, address)
    data = _encode_args(args, abi, args.method, args.args, args.args_hex)
    payload = ContractCall(contract=address, method=args.method, args=data, gas_limit=args.gas)
    return _report(args, cli.sign_and_submit(args, payload), abi, args.method)


def cmd_upgrade(args: argparse.Namespace) -> int:
    address = cli._address_arg(args, args.address)
    payload = ContractUpgrade(contract=address, code=_read_wasm(args.file), gas_limit=args.gas)
    return _report(args, cli.sign_and_submit(args, payload), None, None)


def cmd_query(args: argparse.Namespace) -> int:
    address = cli._address_arg(args, args.address)
    abi = _abi_for(args, "0x" + address.hex())
    if abi is None:
        _require_contract(args, address)
    data = _encode_args(args, abi, args.method, args.args, args.args_hex)
    body: dict[str, Any] = {"method": args.method, "args": "0x" + data.hex()}
    if args.gas is not None:
        body["gas_limit"] = args.gas
    res = cli._client(args).post_json(f"/v1/contracts/0x{address.hex()}/query", body)
    if not res["ok"]:
        cli._out(args, res, f"query FAILED code {res['code']}: {res['message']} (gas used {res['gas_used']})")
        return 1
    res["returned"] = _decode_output(abi, args.method, res["data"])
    cli._out(args, res, json.dumps(res["returned"]))
    return 0


def _require_contract(args: argparse.Namespace, address: bytes) -> None:
    """Raise ``CliError("no contract at ...")`` if ``address`` holds no contract: asked when no ABI is known for
    it, so that a mistyped address reads as that, not as a missing ABI."""
    try:
        cli._client(args).get(f"/v1/contracts/0x{address.hex()}")
    except ClientError as exc:
        if exc.status == 404:
            raise cli.CliError(f"no contract at 0x{address.hex()}") from None
        raise


def cmd_events(args: argparse.Namespace) -> int:
    address = cli._address_arg(args, args.address)
    abi = _abi_for(args, "0x" + address.hex())
    q = f"?limit={args.limit}" + (f"&after={cli._seg(args.after)}" if args.after else "")
    res = cli._client(args).get(f"/v1/contracts/0x{address.hex()}/events{q}")
    lines = []
    for e in res["events"]:
        fields: Any = e["data"]
        if abi is not None and e["type"].startswith("contract."):
            try:
                fields = abi_mod.decode_event(abi, e["topic"], bytes.fromhex(e["data"].removeprefix("0x")))
            except abi_mod.AbiError as exc:
                fields = {"raw": e["data"], "decode_error": str(exc)}
            e["fields"] = fields
        lines.append(f"{e['height']}:{e['index']} {e['topic']} {json.dumps(fields)}")
    if res["next"]:
        lines.append(f"(more: --after {res['next']})")
    cli._out(args, res, "\n".join(lines) if lines else "no events")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    address = cli._address_arg(args, args.address)
    res = cli._client(args).get(f"/v1/contracts/0x{address.hex()}")
    admin = res["admin"] or "none (only governance may upgrade)"
    text = (
        f"contract {res['address']}\n  code     {res['code_hash']} ({res['code_size']} bytes)\n"
        f"  deployer {res['deployer']}\n  admin    {admin}\n"
        f"  created  height {res['created_height']}, code set at height {res['updated_height']}"
    )
    cli._out(args, res, text)
    return 0


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``trellis contract ...`` to the CLI's subcommands."""
    c = sub.add_parser("contract", help="WebAssembly smart contracts").add_subparsers(
        dest="contract_cmd", required=True
    )

    s = c.add_parser("build", parents=[common], help="compile an AssemblyScript contract folder to .wasm")
    s.add_argument("dir", help="the contract folder (assembly/index.ts and NAME.abi.json)")
    s.set_defaults(func=cmd_build)

    def abi_and_args(s: argparse.ArgumentParser) -> None:
        s.add_argument("args", nargs="*", help="arguments, in the ABI's order (0x-hex for address/bytes)")
        s.add_argument("--abi", help="the contract's ABI file (default: remembered at deploy)")
        s.add_argument("--args-hex", help="already-encoded arguments, 0x-hex (instead of ABI arguments)")

    s = c.add_parser("deploy", parents=[common], help="deploy a .wasm; prints the contract's address")
    s.add_argument("file", help="the .wasm module")
    abi_and_args(s)
    s.add_argument("--admin", help="address or key name allowed to upgrade the contract")
    s.add_argument("--gas", type=int, default=10_000_000, help="gas limit (default 10,000,000)")
    cli.add_submit_options(s)
    s.set_defaults(func=cmd_deploy)

    s = c.add_parser("call", parents=[common], help="call a method in a transaction and wait for its receipt")
    s.add_argument("address", help="the contract's address")
    s.add_argument("method")
    abi_and_args(s)
    s.add_argument("--gas", type=int, default=1_000_000, help="gas limit (default 1,000,000)")
    cli.add_submit_options(s)
    s.set_defaults(func=cmd_call)

    s = c.add_parser("query", parents=[common], help="run a method read-only (no transaction)")
    s.add_argument("address")
    s.add_argument("method")
    abi_and_args(s)
    s.add_argument("--gas", type=int, help="gas limit (default: the node's api.query_gas_limit)")
    s.set_defaults(func=cmd_query)

    s = c.add_parser("events", parents=[common], help="events a contract emitted, oldest first")
    s.add_argument("address")
    s.add_argument("--abi", help="the contract's ABI file (default: remembered at deploy)")
    s.add_argument("--limit", type=int, default=100, help="transactions per page (1-1000)")
    s.add_argument("--after", help="cursor HEIGHT:INDEX from the previous page")
    s.set_defaults(func=cmd_events)

    s = c.add_parser("show", parents=[common], help="a contract's record: code hash, admin, heights")
    s.add_argument("address")
    s.set_defaults(func=cmd_show)

    s = c.add_parser("upgrade", parents=[common], help="replace a contract's code (its admin or governance)")
    s.add_argument("address")
    s.add_argument("file", help="the new .wasm module")
    s.add_argument("--gas", type=int, default=10_000_000, help="gas limit")
    cli.add_submit_options(s)
    s.set_defaults(func=cmd_upgrade)
