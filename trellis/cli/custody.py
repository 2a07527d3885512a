"""``trellis custody register|show|challenges|missed|respond|watch|release``: proofs of retrievability from the
command line (docs/spec/custody.md 7).

``register`` computes the segment root of a local file (``--file``) or of a file in the home's blob store
(``--blob-id``: its stored chunks, ciphertext for an encrypted file) and registers it for the sender's
organisation. ``respond`` answers the open challenges of an organisation from local files or the blob store: for
each, the challenged 4 KiB segment (read alone) and its Merkle path, read from the file's segment tree, which is
hashed once per file and run (its levels kept: about 64 bytes per 4 KiB of file). ``watch`` runs ``respond`` every
``--interval`` seconds until interrupted, keeping the trees of the local files and of at most ``MAX_BLOB_SOURCES``
blob files (least recently used dropped first).
"""

from __future__ import annotations

import argparse
import time
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

from trellis.cli import main as cli
from trellis.core.crypto.suite import Suite, UnknownSuite, suite_by_name
from trellis.core.modules.custody.messages import SEGMENT_BYTES, CustodyRegister, CustodyRelease, CustodyRespond
from trellis.core.modules.custody.state import SEGMENT_DOMAIN, path_from_levels, segment_count, segment_levels

__all__ = ["FileSource", "register"]

READ_BYTES = 1 << 20
"""Bytes read from a file at a time."""
MAX_BLOB_SOURCES = 32
"""Most blob-store files whose segment trees a ``respond``/``watch`` run keeps (least recently used dropped)."""


def _hex_arg(text: str, nbytes: int, what: str) -> bytes:
    t = text.removeprefix("0x").removeprefix("0X")
    try:
        if len(t) == 2 * nbytes:
            return bytes.fromhex(t)
    except ValueError:
        pass
    raise cli.CliError(f"{text!r} is not a {what} ({2 * nbytes} hex digits)")


def _suite(args: argparse.Namespace) -> Suite:
    try:
        return suite_by_name(str(cli._client(args).get("/v1/status").get("suite", "ed25519")))
    except UnknownSuite as exc:
        raise cli.CliError(f"the node's chain uses a crypto suite this client does not know: {exc}") from None


def _segments(pieces: Iterator[bytes]) -> Iterator[bytes]:
    """Re-cut a stream of byte pieces into 4 KiB segments (the last one may be shorter)."""
    buf = bytearray()
    for piece in pieces:
        buf += piece
        while len(buf) >= SEGMENT_BYTES:
            yield bytes(buf[:SEGMENT_BYTES])
            del buf[:SEGMENT_BYTES]
    if buf:
        yield bytes(buf)


class FileSource:
    """The stored bytes of one file, read piece by piece: a local file, or a blob-store file's stored chunks."""

    def __init__(self, label: str, size: int, pieces: Any, read_at: Any) -> None:
        self.label = label
        self.size = size
        self._pieces = pieces
        self._read_at = read_at
        """``read_at(offset, length) -> bytes``: the stored bytes in that range, read without the rest."""
        self._levels: list[list[bytes]] | None = None
        self.tree_builds = 0
        """How many times the segment tree was hashed (once, unless the source is rebuilt)."""

    @classmethod
    def local(cls, path: Path) -> FileSource:
        """A local file."""
        try:
            size = path.stat().st_size
        except OSError as exc:
            raise cli.CliError(f"cannot read {path}: {exc.strerror or exc}") from None
        if size == 0:
            raise cli.CliError(f"{path} is empty: there is nothing to keep")

        def pieces() -> Iterator[bytes]:
            try:
                with path.open("rb") as f:
                    while chunk := f.read(READ_BYTES):
                        yield chunk
            except OSError as exc:
                raise cli.CliError(f"cannot read {path}: {exc.strerror or exc}") from None

        def read_at(offset: int, length: int) -> bytes:
            try:
                with path.open("rb") as f:
                    f.seek(offset)
                    return f.read(length)
            except OSError as exc:
                raise cli.CliError(f"cannot read {path}: {exc.strerror or exc}") from None

        return cls(str(path), size, pieces, read_at)

    @classmethod
    def blob(cls, args: argparse.Namespace, suite: Suite, file_id: bytes) -> FileSource:
        """A file of the home's blob store: its stored chunks (each checked against its hash), in order."""
        from trellis.blobs.files import chunk_hash, load_manifest, sealed_size
        from trellis.cli.blobs import _open
        from trellis.core.crypto.aead import TAG_SIZE

        store, _, _ = _open(args)
        manifest = load_manifest(store, suite, file_id)

        def chunk(i: int) -> bytes:
            stored = store.get(manifest.chunks[i])
            if chunk_hash(suite, stored) != manifest.chunks[i]:
                raise cli.CliError(f"blob file 0x{file_id.hex()}: chunk {i} does not match its hash")
            return stored

        def pieces() -> Iterator[bytes]:
            for i in range(len(manifest.chunks)):
                yield chunk(i)

        tag = TAG_SIZE if manifest.encryption is not None else 0
        stored_bytes = manifest.chunk_bytes + tag  # every chunk's stored length but the last one's

        def read_at(offset: int, length: int) -> bytes:
            first = offset // stored_bytes
            out = b""
            i = first
            while len(out) < (offset - first * stored_bytes) + length and i < len(manifest.chunks):
                out += chunk(i)
                i += 1
            start = offset - first * stored_bytes
            return out[start : start + length]

        return cls(f"blob 0x{file_id.hex()}", sealed_size(manifest), pieces, read_at)

    def _hashes(self, suite: Suite) -> list[bytes]:
        """Every segment's hash, read and hashed from the stored bytes."""
        out: list[bytes] = []
        batch: list[bytes] = []
        for seg in _segments(self._pieces()):
            batch.append(seg)
            if len(batch) == 256:
                out += suite.tagged_hashes(SEGMENT_DOMAIN, batch)
                batch = []
        out += suite.tagged_hashes(SEGMENT_DOMAIN, batch)
        if len(out) != segment_count(self.size):
            raise cli.CliError(f"{self.label} changed while it was read")
        return out

    def levels(self, suite: Suite) -> list[list[bytes]]:
        """The segment tree's levels (``segment_levels``), hashed on the first call only."""
        if self._levels is None:
            self._levels = segment_levels(suite, self._hashes(suite))
            self.tree_builds += 1
        return self._levels

    def path(self, suite: Suite, index: int) -> list[bytes]:
        """Segment ``index``'s Merkle path, read from the kept tree (no hashing after the first call)."""
        if not 0 <= index < segment_count(self.size):
            raise cli.CliError(f"{self.label} has no segment {index}")
        return path_from_levels(self.levels(suite), index)

    def segment(self, index: int) -> bytes:
        """Segment ``index``'s bytes (read alone: a seek, or the blob chunks that hold it)."""
        if not 0 <= index < segment_count(self.size):
            raise cli.CliError(f"{self.label} has no segment {index}")
        want = min(SEGMENT_BYTES, self.size - index * SEGMENT_BYTES)
        data: bytes = self._read_at(index * SEGMENT_BYTES, want)
        if len(data) != want:
            raise cli.CliError(f"{self.label} changed while it was read")
        return data

    def root(self, suite: Suite) -> bytes:
        """The segment root."""
        return self.levels(suite)[-1][0]


def cmd_register(args: argparse.Namespace) -> int:
    """Register a local file or a blob-store file for the sender's organisation."""
    suite = _suite(args)
    if (args.file is None) == (args.blob_id is None):
        raise cli.CliError("give exactly one of --file and --blob-id")
    if args.blob_id is not None:
        file_id = _hex_arg(args.blob_id, 32, "blob file id")
        source = FileSource.blob(args, suite, file_id)
    else:
        source = FileSource.local(Path(args.file))
        file_id = b""
    root = source.root(suite)
    if args.file is not None:
        file_id = _hex_arg(args.file_id, 32, "file id") if args.file_id else root
    msg = CustodyRegister(
        file_id=file_id, size=source.size, segment_root=root, segment_count=segment_count(source.size)
    )
    return cli.submit_and_report(
        args, msg, f"custody register 0x{file_id.hex()} ({source.size} bytes, root 0x{root.hex()})"
    )


def cmd_release(args: argparse.Namespace) -> int:
    """Stop keeping a file."""
    file_id = _hex_arg(args.file_id, 32, "file id")
    return cli.submit_and_report(args, CustodyRelease(file_id=file_id), f"custody release 0x{file_id.hex()}")


def cmd_show(args: argparse.Namespace) -> int:
    """Show a file's registrations."""
    file_id = _hex_arg(args.file_id, 32, "file id")
    res = cli._client(args).get(f"/v1/custody/files/0x{file_id.hex()}")
    text = [f"file {res['file_id']} at height {res['height']}"]
    for r in res["registrations"]:
        text.append(
            f"  {r['org']}: {r['size']} bytes, {r['segment_count']} segments, root {r['segment_root']}; "
            f"challenged {r['challenged']}, answered {r['answered']}, missed {r['missed']}, open {r['open']}"
        )
    cli._out(args, res, "\n".join(text))
    return 0


def _open_challenges(args: argparse.Namespace, org: str, open_only: bool = True) -> dict[str, Any]:
    query = f"org={quote(org, safe='')}&open={'true' if open_only else 'false'}&limit={args.limit}"
    res: dict[str, Any] = cli._client(args).get(f"/v1/custody/challenges?{query}")
    return res


def cmd_challenges(args: argparse.Namespace) -> int:
    """List an organisation's open (or, ``--closed``, recently closed) challenges."""
    res = _open_challenges(args, args.org, not args.closed)
    kind = "open" if res["open"] else "closed"
    text = [f"{len(res['challenges'])} {kind} challenge(s) of {res['org']} at height {res['height']}"]
    for c in res["challenges"]:
        text.append(
            f"  {c['id']}  file {c['file_id']} segment {c['segment_index']}  deadline {c['deadline']}  {c['status']}"
        )
    cli._out(args, res, "\n".join(text))
    return 0


def cmd_missed(args: argparse.Namespace) -> int:
    """List an organisation's missed records."""
    res = cli._client(args).get(f"/v1/custody/missed/{quote(args.org, safe='')}?limit={args.limit}")
    text = [f"{len(res['records'])} file(s) with missed challenges of {res['org']} at height {res['height']}"]
    for r in res["records"]:
        text.append(f"  file {r['file_id']}: {r['count']} missed, last {r['last_challenge']} at {r['last_height']}")
    cli._out(args, res, "\n".join(text))
    return 0


class Responder:
    """Answers an organisation's open challenges from local files and the home's blob store."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.suite = _suite(args)
        self.local = [FileSource.local(Path(p)) for p in args.file or []]
        self._by_root: dict[bytes, FileSource] | None = None
        self._blobs: OrderedDict[bytes, FileSource | None] = OrderedDict()
        """Blob file id -> its source (None: not in the store), at most ``MAX_BLOB_SOURCES``, most recent last."""

    def _source(self, file_id: bytes, root: bytes) -> FileSource | None:
        if self._by_root is None:
            self._by_root = {s.root(self.suite): s for s in self.local}
        if root in self._by_root:
            return self._by_root[root]
        if not self.args.blobs:
            return None
        if file_id in self._blobs:
            self._blobs.move_to_end(file_id)
        else:
            from trellis.blobs.files import BlobFileError

            try:
                self._blobs[file_id] = FileSource.blob(self.args, self.suite, file_id)
            except BlobFileError:
                self._blobs[file_id] = None
            while len(self._blobs) > MAX_BLOB_SOURCES:
                self._blobs.popitem(last=False)
        src = self._blobs[file_id]
        return src if src is not None and src.root(self.suite) == root else None

    def once(self) -> tuple[int, int, list[str]]:
        """Answer every open challenge once: (answered, failed or unanswerable, report lines)."""
        args = self.args
        res = _open_challenges(args, args.org)
        client = cli._client(args)
        answered = failed = 0
        lines: list[str] = []
        for c in res["challenges"]:
            file_id = bytes.fromhex(c["file_id"][2:])
            regs = client.get(f"/v1/custody/files/{c['file_id']}")["registrations"]
            reg = next((r for r in regs if r["org"] == args.org), None)
            src = None if reg is None else self._source(file_id, bytes.fromhex(reg["segment_root"][2:]))
            if src is None:
                failed += 1
                lines.append(f"  {c['id']}: no local file or blob has file {c['file_id']}'s registered content")
                continue
            i = int(c["segment_index"])
            msg = CustodyRespond(
                challenge_id=bytes.fromhex(c["id"][2:]),
                segment=src.segment(i),
                path=src.path(self.suite, i),
            )
            out = cli.sign_and_submit(args, msg)
            receipt = out.get("receipt") or {}
            if out["status"] == "committed" and receipt.get("code") == 0:
                answered += 1
                lines.append(f"  {c['id']}: answered (segment {i} of {src.label}) at height {out['height']}")
            else:
                failed += 1
                why = f"code {receipt.get('code')}: {receipt.get('message')}" if receipt else out["status"]
                lines.append(f"  {c['id']}: FAILED {why}")
        return answered, failed, lines


def cmd_respond(args: argparse.Namespace) -> int:
    """Answer the organisation's open challenges once."""
    answered, failed, lines = Responder(args).once()
    cli._out(
        args,
        {"answered": answered, "failed": failed},
        "\n".join([f"custody respond {args.org}: {answered} answered, {failed} not answered", *lines]),
    )
    return 0 if failed == 0 else 1


def cmd_watch(args: argparse.Namespace) -> int:
    """Answer the organisation's open challenges every ``--interval`` seconds until interrupted (or ``--rounds``)."""
    if args.interval <= 0:
        raise cli.CliError("--interval must be a positive number of seconds")
    responder = Responder(args)
    done = 0
    while True:
        answered, failed, lines = responder.once()
        if answered or failed:
            print("\n".join([f"custody watch {args.org}: {answered} answered, {failed} not answered", *lines]))
        done += 1
        if args.rounds and done >= args.rounds:
            return 0
        time.sleep(args.interval)


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``trellis custody ...`` to the CLI's subcommands."""
    c = sub.add_parser("custody", help="proofs of retrievability of stored files").add_subparsers(
        dest="custody_cmd", required=True
    )
    s = c.add_parser("register", parents=[common], help="register a file the sender's organisation keeps")
    s.add_argument("--file", help="a local file (its bytes as stored)")
    s.add_argument("--file-id", help="with --file: the id to register it under (default: its segment root)")
    s.add_argument("--blob-id", help="a file of the home's blob store (its stored chunks)")
    cli.add_submit_options(s)
    s.set_defaults(func=cmd_register)
    s = c.add_parser("release", parents=[common], help="stop keeping a file (no open challenges on it)")
    s.add_argument("file_id", help="the file id")
    cli.add_submit_options(s)
    s.set_defaults(func=cmd_release)
    s = c.add_parser("show", parents=[common], help="a file's registrations")
    s.add_argument("file_id", help="the file id")
    s.set_defaults(func=cmd_show)
    s = c.add_parser("challenges", parents=[common], help="an organisation's open challenges")
    s.add_argument("--org", required=True, help="the organisation")
    s.add_argument("--closed", action="store_true", help="the closed ones still kept instead")
    s.add_argument("--limit", type=int, default=100, help="page size (1..100)")
    s.set_defaults(func=cmd_challenges)
    s = c.add_parser("missed", parents=[common], help="an organisation's missed challenges, per file")
    s.add_argument("org", help="the organisation")
    s.add_argument("--limit", type=int, default=100, help="page size (1..100)")
    s.set_defaults(func=cmd_missed)
    for name, helptext in (("respond", "answer the organisation's open challenges once"), ("watch", "keep answering")):
        s = c.add_parser(name, parents=[common], help=helptext)
        s.add_argument("--org", required=True, help="the organisation whose challenges to answer")
        s.add_argument("--file", action="append", help="a local file to answer from (repeatable)")
        s.add_argument("--blobs", action="store_true", help="also answer from the home's blob store")
        s.add_argument("--limit", type=int, default=100, help="challenges fetched per pass (1..100)")
        cli.add_submit_options(s)
        if name == "watch":
            s.add_argument("--interval", type=float, default=5.0, help="seconds between passes")
            s.add_argument("--rounds", type=int, default=0, help="stop after this many passes (0: never)")
            s.set_defaults(func=cmd_watch)
        else:
            s.set_defaults(func=cmd_respond)
