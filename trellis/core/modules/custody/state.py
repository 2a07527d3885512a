"""The custody module's state records, keys, the segment tree and the challenge derivation (docs/spec/custody.md 3
and 4).

| key | value |
|---|---|
| ``custody/meta`` | ``CustodyMeta`` (counts) |
| ``custody/file/`` + file_id (32) + org | ``FileRecord`` |
| ``custody/org/`` + org | ``OrgFiles``: the organisation's place in the org index and its file count |
| ``custody/oix/`` + index (8, BE) | ``OrgRef``: the organisation at that index (0 .. orgs-1) |
| ``custody/ix/`` + org + index (8, BE) | ``FileRef``: the organisation's registration at that index (0 .. its files-1) |
| ``custody/challenge/`` + id (12) | ``Challenge`` |
| ``custody/due/`` + deadline (8, BE) + id | ``b""``: the open challenges by deadline |
| ``custody/open/`` + org + id | ``b""``: an organisation's open challenges |
| ``custody/closed/`` + org + id | ``b""``: an organisation's closed challenges still kept |
| ``custody/gc/`` + closed height (8, BE) + id | ``b""``: closed challenges by the height they closed |
| ``custody/missed/`` + org + file_id (32) | ``MissedRecord`` |

``org`` in a key is the organisation's name in UTF-8 after one length byte.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

import msgspec

from trellis.core.codec import decode
from trellis.core.crypto.merkle import (  # the tree's own level functions: one construction of the shape
    MerkleProof,
    _leaf_hashes,
    _next_level,
    merkle_proof,
    merkle_root,
    root_from_proof,
)
from trellis.core.crypto.suite import Suite
from trellis.core.errors import ProofError
from trellis.core.execution.context import StateReader
from trellis.core.modules.custody.messages import CHALLENGE_ID_BYTES, SEGMENT_BYTES, ChallengeId
from trellis.core.types import U32, U64, Address, CoreStruct, Hash32

PREFIX = b"custody/"
"""Every key of the module starts with this."""
META_KEY = b"custody/meta"
"""The ``CustodyMeta`` record."""
FILE_PREFIX = b"custody/file/"
ORG_PREFIX = b"custody/org/"
OIX_PREFIX = b"custody/oix/"
IX_PREFIX = b"custody/ix/"
CHALLENGE_PREFIX = b"custody/challenge/"
DUE_PREFIX = b"custody/due/"
OPEN_PREFIX = b"custody/open/"
CLOSED_PREFIX = b"custody/closed/"
GC_PREFIX = b"custody/gc/"
MISSED_PREFIX = b"custody/missed/"
PREFIXES = (PREFIX,)
"""Every state-key prefix this module writes under (no other module's key starts with one)."""
SCANNED_PREFIXES = (DUE_PREFIX, GC_PREFIX)
"""The prefixes the ``begin_block`` hook scans: listed in the executor's ``SCANNED_PREFIXES``, so that a scan sees
the writes made earlier in the same block (``_forget`` scans ``custody/gc/`` after ``_expire`` wrote to it)."""

SEED_DOMAIN = b"trellis/custody/seed"
"""Tag of a round's seed: ``tagged_hash(SEED_DOMAIN, parent block id || height (8, BE))``."""
PICK_DOMAIN = b"trellis/custody/pick"
"""Tag of challenge k's draw: ``tagged_hash(PICK_DOMAIN, seed || k (4, BE))``."""
SEGMENT_DOMAIN = b"trellis/custody/segment"
"""Tag of a segment's hash, the leaf item of the segment tree."""

OPEN, ANSWERED, MISSED = 0, 1, 2
"""A challenge's status."""
STATUS_NAMES = {OPEN: "open", ANSWERED: "answered", MISSED: "missed"}
"""Status number -> name (the API's word)."""

MAX_EXPIRE_PER_BLOCK = 256
"""Most challenges one block records as missed (the rest follow in the next blocks)."""
MAX_GC_PER_BLOCK = 256
"""Most closed challenge records one block deletes."""

OrgName = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
"""A member organisation's name."""


class CustodyMeta(CoreStruct, frozen=True):
    """The module's counts, at ``custody/meta`` (absent until the first registration)."""

    files: U64
    """Registrations now, of every organisation."""
    orgs: U64
    """Organisations with at least one registration (the indexes ``0 .. orgs-1`` of ``custody/oix/``)."""
    open: U64
    """Open challenges."""
    closed: U64
    """Closed challenges whose records are still kept."""


class FileRecord(CoreStruct, frozen=True):
    """One organisation's registration of one file, at ``custody/file/`` + file_id + org."""

    file_id: Hash32
    """The file's id."""
    org: OrgName
    """The organisation that keeps it (the registering account's)."""
    registrant: Address
    """The account that registered it."""
    size: U64
    """Its size in bytes."""
    segment_root: Hash32
    """The Merkle root over its segments' hashes."""
    segment_count: U64
    """``ceil(size / 4096)``."""
    index: U64
    """Its place in its organisation's ``custody/ix/`` index (a draw picks an organisation, then an index)."""
    registered_height: U64
    """Height of the registering block."""
    challenged: U64
    """Challenges opened on it."""
    answered: U64
    """Challenges answered in time."""
    missed: U64
    """Challenges missed."""
    open: U32
    """Challenges open on it now (a file with open challenges cannot be released)."""


class OrgFiles(CoreStruct, frozen=True):
    """An organisation with registrations, at ``custody/org/`` + org (deleted with its last registration)."""

    org: OrgName
    """The organisation."""
    index: U64
    """Its place in ``custody/oix/``."""
    files: U64
    """Its registrations now (the indexes ``0 .. files-1`` of its ``custody/ix/``)."""


class OrgRef(CoreStruct, frozen=True):
    """The organisation at one index of the org index, at ``custody/oix/`` + index."""

    org: OrgName
    """The organisation."""


class FileRef(CoreStruct, frozen=True):
    """An organisation's registration at one index, at ``custody/ix/`` + org + index."""

    file_id: Hash32
    """The file's id."""
    org: OrgName
    """The keeping organisation."""


class Challenge(CoreStruct, frozen=True):
    """A challenge, at ``custody/challenge/`` + id."""

    id: ChallengeId
    """Opening height (8, BE) || number in the round (4, BE)."""
    file_id: Hash32
    """The challenged file."""
    org: OrgName
    """The organisation that must answer."""
    segment_index: U64
    """The segment asked for."""
    issued_height: U64
    """The height that opened it."""
    deadline: U64
    """The last height at which an answer is accepted (``issued_height + response_window_blocks``)."""
    status: Annotated[int, msgspec.Meta(ge=0, le=2)]
    """``OPEN``, ``ANSWERED`` or ``MISSED``."""
    closed_height: U64
    """The height that answered it or recorded it missed; 0 while open."""
    responder: bytes
    """The account that answered it; empty otherwise."""


class MissedRecord(CoreStruct, frozen=True):
    """Missed challenges of one organisation on one file, at ``custody/missed/`` + org + file_id."""

    org: OrgName
    """The organisation."""
    file_id: Hash32
    """The file."""
    count: U64
    """Challenges missed."""
    last_challenge: ChallengeId
    """The latest one missed."""
    last_height: U64
    """The height that recorded it."""


def h8(n: int) -> bytes:
    """``n`` as 8 bytes, big-endian."""
    return n.to_bytes(8, "big")


def org_part(org: str) -> bytes:
    """An organisation's name in a key: one length byte, then the UTF-8 name."""
    raw = org.encode()
    return bytes((len(raw),)) + raw


def file_key(file_id: bytes, org: str) -> bytes:
    """Key of a ``FileRecord``."""
    return FILE_PREFIX + file_id + org_part(org)


def org_key(org: str) -> bytes:
    """Key of an organisation's ``OrgFiles``."""
    return ORG_PREFIX + org_part(org)


def oix_key(index: int) -> bytes:
    """Key of the ``OrgRef`` at ``index`` of the org index."""
    return OIX_PREFIX + h8(index)


def ix_key(org: str, index: int) -> bytes:
    """Key of ``org``'s ``FileRef`` at ``index``."""
    return IX_PREFIX + org_part(org) + h8(index)


def challenge_key(challenge_id: bytes) -> bytes:
    """Key of a ``Challenge``."""
    return CHALLENGE_PREFIX + challenge_id


def due_key(deadline: int, challenge_id: bytes) -> bytes:
    """Key of an open challenge in the by-deadline index."""
    return DUE_PREFIX + h8(deadline) + challenge_id


def open_key(org: str, challenge_id: bytes) -> bytes:
    """Key of an open challenge in its organisation's index."""
    return OPEN_PREFIX + org_part(org) + challenge_id


def closed_key(org: str, challenge_id: bytes) -> bytes:
    """Key of a kept closed challenge in its organisation's index."""
    return CLOSED_PREFIX + org_part(org) + challenge_id


def gc_key(closed_height: int, challenge_id: bytes) -> bytes:
    """Key of a closed challenge in the by-closing-height index."""
    return GC_PREFIX + h8(closed_height) + challenge_id


def missed_key(org: str, file_id: bytes) -> bytes:
    """Key of a ``MissedRecord``."""
    return MISSED_PREFIX + org_part(org) + file_id


def challenge_id(height: int, number: int) -> bytes:
    """The id of challenge ``number`` of the round opened at ``height``."""
    return h8(height) + number.to_bytes(4, "big")


def round_seed(suite: Suite, parent_id: bytes, height: int) -> bytes:
    """The seed of the round opened at ``height`` (spec 4.1)."""
    return suite.tagged_hash(SEED_DOMAIN, parent_id + h8(height))


def pick(suite: Suite, seed: bytes, number: int) -> bytes:
    """Challenge ``number``'s draw in the round of ``seed``: ``tagged_hash(PICK_DOMAIN, seed || number (4, BE))``."""
    return suite.tagged_hash(PICK_DOMAIN, seed + number.to_bytes(4, "big"))


def picked_org(drawn: bytes, orgs: int) -> int:
    """The org index a draw picks among ``orgs``: its bytes 0..8 (BE) mod ``orgs`` (spec 4.2)."""
    return int.from_bytes(drawn[:8], "big") % orgs


def picked_index(drawn: bytes, files: int) -> int:
    """The index a draw picks among the drawn organisation's ``files``: its bytes 8..16 (BE) mod ``files``."""
    return int.from_bytes(drawn[8:16], "big") % files


def picked_segment(drawn: bytes, count: int) -> int:
    """The segment a draw asks for among ``count``: its bytes 16..24 (BE) mod ``count`` (spec 4.2)."""
    return int.from_bytes(drawn[16:24], "big") % count


def segment_count(size: int) -> int:
    """Segments of a file of ``size`` bytes: ``ceil(size / 4096)``."""
    return -(-size // SEGMENT_BYTES)


def segment_length(size: int, index: int) -> int:
    """Bytes of segment ``index`` of a file of ``size`` bytes (4096, or what is left for the last one)."""
    return min(SEGMENT_BYTES, size - index * SEGMENT_BYTES)


def segment_hash(suite: Suite, segment: bytes) -> bytes:
    """A segment's hash: the item of its leaf in the segment tree."""
    return suite.tagged_hash(SEGMENT_DOMAIN, segment)


def segment_hashes(suite: Suite, data: bytes) -> list[bytes]:
    """The hashes of ``data``'s 4 KiB segments, in order."""
    return suite.tagged_hashes(
        SEGMENT_DOMAIN, [data[i : i + SEGMENT_BYTES] for i in range(0, len(data), SEGMENT_BYTES)]
    )


def segment_root(suite: Suite, hashes: Sequence[bytes]) -> bytes:
    """The segment root: the RFC 6962 Merkle root (``trellis.core.crypto.merkle``) over the segments' hashes."""
    return merkle_root(suite, hashes)


def segment_path(suite: Suite, hashes: Sequence[bytes], index: int) -> list[bytes]:
    """The Merkle path of segment ``index`` (its sibling hashes, leaf level first).

    Raises:
        IndexError: ``index`` is outside the file.
    """
    return list(merkle_proof(suite, hashes, index).siblings)


def segment_levels(suite: Suite, hashes: Sequence[bytes]) -> list[list[bytes]]:
    """Every level of the segment tree, leaves first, the root's one-node level last (``hashes`` non-empty): the
    bottom-up form of the RFC 6962 shape (pair adjacent nodes, carry an odd last node up), as
    ``trellis.core.crypto.merkle`` builds it. About two hashes kept per segment; ``path_from_levels`` then gives any
    segment's path without hashing.

    Raises:
        ValueError: ``hashes`` is empty.
    """
    if not hashes:
        raise ValueError("a segment tree has at least one segment")
    levels = [_leaf_hashes(suite, hashes)]
    while len(levels[-1]) > 1:
        levels.append(_next_level(suite, levels[-1]))
    return levels


def path_from_levels(levels: Sequence[Sequence[bytes]], index: int) -> list[bytes]:
    """Segment ``index``'s path (``segment_path``) read from the tree's ``segment_levels``.

    Raises:
        IndexError: ``index`` is outside the file.
    """
    if not 0 <= index < len(levels[0]):
        raise IndexError(f"segment {index} outside a tree of {len(levels[0])} segments")
    path: list[bytes] = []
    i = index
    for level in levels[:-1]:
        if i ^ 1 < len(level):
            path.append(level[i ^ 1])
        i //= 2
    return path


def check_segment(suite: Suite, record: FileRecord, index: int, segment: bytes, path: list[bytes]) -> str | None:
    """Why ``segment`` with ``path`` is not segment ``index`` of ``record``'s file, or None when it is (spec 5.2):
    its length must be the segment's, and its hash with ``path`` must lead to ``record.segment_root`` as leaf
    ``index`` of a tree of ``record.segment_count`` leaves."""
    want = segment_length(record.size, index)
    if len(segment) != want:
        return f"segment {index} of a file of {record.size} bytes is {want} bytes, not {len(segment)}"
    proof = MerkleProof(index=index, size=record.segment_count, siblings=path)
    try:
        root = root_from_proof(suite, segment_hash(suite, segment), proof)
    except ProofError as exc:
        return f"the path does not fit a tree of {record.segment_count} segments: {exc}"
    if root != record.segment_root:
        return "the segment's hash and path do not lead to the registered segment_root"
    return None


def read_meta(state: StateReader) -> CustodyMeta | None:
    """The module's counts, or None before the first registration."""
    raw = state.get(META_KEY)
    return None if raw is None else decode(raw, CustodyMeta)


def read_file(state: StateReader, file_id: bytes, org: str) -> FileRecord | None:
    """``org``'s registration of ``file_id``, or None."""
    raw = state.get(file_key(file_id, org))
    return None if raw is None else decode(raw, FileRecord)


def read_org(state: StateReader, org: str) -> OrgFiles | None:
    """``org``'s ``OrgFiles``, or None (it has no registration)."""
    raw = state.get(org_key(org))
    return None if raw is None else decode(raw, OrgFiles)


def read_org_ref(state: StateReader, index: int) -> OrgRef | None:
    """The organisation at ``index`` of the org index, or None."""
    raw = state.get(oix_key(index))
    return None if raw is None else decode(raw, OrgRef)


def read_ref(state: StateReader, org: str, index: int) -> FileRef | None:
    """``org``'s registration at ``index``, or None."""
    raw = state.get(ix_key(org, index))
    return None if raw is None else decode(raw, FileRef)


def read_challenge(state: StateReader, challenge: bytes) -> Challenge | None:
    """Challenge ``challenge``, or None (never opened, or closed and no longer kept)."""
    if len(challenge) != CHALLENGE_ID_BYTES:
        return None
    raw = state.get(challenge_key(challenge))
    return None if raw is None else decode(raw, Challenge)


def read_missed(state: StateReader, org: str, file_id: bytes) -> MissedRecord | None:
    """``org``'s missed record on ``file_id``, or None (it never missed one)."""
    raw = state.get(missed_key(org, file_id))
    return None if raw is None else decode(raw, MissedRecord)
