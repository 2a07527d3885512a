"""``trellis keys hsm-new`` and ``trellis keys hsm-show``: validator keys held in a PKCS#11 token.

``hsm-new`` generates an Ed25519 key inside the token (it never leaves it) and prints its public key, for the
operator to put in genesis; the node then signs with it when its ``config.toml`` has a ``[signer]`` section of
kind ``pkcs11``. The PIN is read from a file, never from the command line.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from trellis.core.crypto.suite import ED25519, address_of


def _print(args: argparse.Namespace, token: str, label: str, public_key: bytes, verb: str) -> None:
    address = address_of(ED25519, public_key)
    data = {
        "module": args.module,
        "token_label": token,
        "key_label": label,
        "public_key": "0x" + public_key.hex(),
        "address": "0x" + address.hex(),
    }
    if args.json:
        print(json.dumps(data, indent=2))
        return
    print(
        f"{verb} Ed25519 key {label!r} in token {token!r}\n"
        f"  public key 0x{public_key.hex()}\n"
        f"  address    0x{address.hex()}\n"
        "node config.toml:\n"
        "  [signer]\n"
        '  kind = "pkcs11"\n'
        f"  module = {json.dumps(args.module)}\n"
        f"  token_label = {json.dumps(token)}\n"
        f"  key_label = {json.dumps(label)}\n"
        f"  pin_file = {json.dumps(str(args.pin_file))}"
    )


def cmd_hsm_new(args: argparse.Namespace) -> int:
    """Generate a key in the token and print its public key."""
    from trellis.keys.pkcs11 import generate_ed25519_key, read_pin_file

    pin = read_pin_file(Path(args.pin_file))
    public_key = generate_ed25519_key(args.module, args.token, args.label, pin)
    _print(args, args.token, args.label, public_key, "created")
    return 0


def cmd_hsm_show(args: argparse.Namespace) -> int:
    """Open a key in the token (checking that it signs) and print its public key."""
    from trellis.keys.pkcs11 import Pkcs11Signer

    signer = Pkcs11Signer.from_pin_file(args.module, args.token, args.label, Path(args.pin_file))
    try:
        _print(args, args.token, args.label, signer.public_key, "found")
    finally:
        signer.close()
    return 0


def register(keys: Any, common: argparse.ArgumentParser) -> None:
    """Add ``hsm-new`` and ``hsm-show`` to the ``keys`` subcommands."""
    from trellis.keys.pkcs11 import DEFAULT_MODULE

    for name, func, text in (
        ("hsm-new", cmd_hsm_new, "generate a validator key inside a PKCS#11 token (HSM); print its public key"),
        ("hsm-show", cmd_hsm_show, "print the public key of a key in a PKCS#11 token (HSM)"),
    ):
        s = keys.add_parser(name, parents=[common], help=text)
        s.add_argument("--module", default=DEFAULT_MODULE, help=f"PKCS#11 module (default: {DEFAULT_MODULE})")
        s.add_argument("--token", required=True, help="token label")
        s.add_argument("--label", required=True, help="key label in the token")
        s.add_argument("--pin-file", required=True, help="file holding the token's user PIN")
        s.set_defaults(func=func)
