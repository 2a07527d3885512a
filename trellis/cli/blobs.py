"""``trellis blob put|get|keygen``: files in the home's blob store (``[blobs]`` in ``config.toml``: a local
directory or an S3 bucket), chunked, verified and optionally encrypted on this machine.

These commands open the store directly (the node need not run; with ``backend = "s3"`` the S3 credentials come
from the environment). Encryption happens here, with the owner's key file, so the key never reaches a node:
``put --encrypt-key-file K`` seals every chunk, ``get --key-file K`` opens them. ``get`` verifies every chunk
against the manifest and the file id and writes ``OUT`` only once the whole file has verified (through a
temporary file renamed into place), so a failed download never leaves a partial ``OUT``.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from trellis.blobs.files import MAX_CHUNK_BYTES, MIN_SECRET_BYTES, get_file, put_file
from trellis.blobs.store import BlobStore
from trellis.cli import main as cli
from trellis.core.crypto.suite import Suite


def _open(args: argparse.Namespace) -> tuple[BlobStore, Suite, int]:
    from trellis.node.assembly import blob_store
    from trellis.node.config import load_config
    from trellis.node.home import Home

    home = Home(cli._home(args))
    cfg = load_config(home.config).blobs
    return blob_store(cfg, home.root), home.load_params().suite, cfg.chunk_bytes


def _read_key(path: str) -> bytes:
    try:
        secret = Path(path).read_bytes()
    except OSError as exc:
        raise cli.CliError(f"cannot read the key file {path}: {exc.strerror}") from None
    if len(secret) < MIN_SECRET_BYTES:
        raise cli.CliError(f"the key file {path} holds {len(secret)} bytes; a key is at least {MIN_SECRET_BYTES}")
    return secret


def cmd_blob_put(args: argparse.Namespace) -> int:
    """Store FILE; print its file id."""
    if args.chunk_bytes is not None and not 1 <= args.chunk_bytes <= MAX_CHUNK_BYTES:
        raise cli.CliError(f"--chunk-bytes must be 1 to {MAX_CHUNK_BYTES}")
    store, suite, chunk_bytes = _open(args)
    secret = _read_key(args.encrypt_key_file) if args.encrypt_key_file else None
    try:
        with open(args.file, "rb") as f:
            stored = put_file(store, suite, f, chunk_bytes=args.chunk_bytes or chunk_bytes, secret=secret)
    except OSError as exc:
        raise cli.CliError(f"cannot read {args.file}: {exc.strerror}") from None
    m = stored.manifest
    data: dict[str, Any] = {
        "file_id": stored.file_id.hex(),
        "size": m.size,
        "chunk_bytes": m.chunk_bytes,
        "chunk_count": len(m.chunks),
        "encrypted": m.encryption is not None,
    }
    print(json.dumps(data, indent=2) if args.json else stored.file_id.hex())
    return 0


def cmd_blob_get(args: argparse.Namespace) -> int:
    """Write the verified file FILE_ID to OUT."""
    text = args.file_id.removeprefix("0x")
    try:
        file_id = bytes.fromhex(text)
    except ValueError:
        file_id = b""
    if len(file_id) != 32:
        raise cli.CliError(f"{args.file_id!r} is not a file id (64 hex digits)")
    store, suite, _ = _open(args)
    secret = _read_key(args.key_file) if args.key_file else None
    out = Path(args.out)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.part")
    try:
        with open(tmp, "wb") as f:
            manifest = get_file(store, suite, file_id, f, secret=secret)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, out)
    except OSError as exc:
        raise cli.CliError(f"cannot write {out}: {exc.strerror}") from None
    finally:
        tmp.unlink(missing_ok=True)
    if args.json:
        print(json.dumps({"file_id": file_id.hex(), "size": manifest.size, "out": str(out)}, indent=2))
    else:
        print(f"{out}: {manifest.size} bytes, every chunk verified")
    return 0


def cmd_blob_keygen(args: argparse.Namespace) -> int:
    """Write a new random 32-byte key file (0600), refusing to overwrite one."""
    try:
        fd = os.open(args.key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise cli.CliError(f"{args.key_file} exists: not overwriting a key") from None
    except OSError as exc:
        raise cli.CliError(f"cannot create {args.key_file}: {exc.strerror}") from None
    with os.fdopen(fd, "wb") as f:
        f.write(os.urandom(32))
    print(f"wrote a new key to {args.key_file}: keep it; files encrypted with it cannot be read without it")
    return 0


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``trellis blob ...`` to the CLI's subcommands."""
    b = sub.add_parser("blob", help="files in the home's blob store").add_subparsers(dest="blob_cmd", required=True)
    s = b.add_parser("put", parents=[common], help="store a file (chunked, content-addressed); print its file id")
    s.add_argument("file")
    s.add_argument("--encrypt-key-file", help="encrypt at rest with the key in this file (see blob keygen)")
    s.add_argument("--chunk-bytes", type=int, help="bytes per chunk (default: [blobs] chunk_bytes)")
    s.set_defaults(func=cmd_blob_put)
    s = b.add_parser("get", parents=[common], help="fetch a file, verifying every chunk, into OUT")
    s.add_argument("file_id")
    s.add_argument("out")
    s.add_argument("--key-file", help="the key the file was encrypted with")
    s.set_defaults(func=cmd_blob_get)
    s = b.add_parser("keygen", parents=[common], help="write a new random encryption key file (0600)")
    s.add_argument("key_file")
    s.set_defaults(func=cmd_blob_keygen)
