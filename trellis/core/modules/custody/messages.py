"""Messages of the ``custody`` module (docs/spec/custody.md 2): register a stored file, answer a challenge, release
a file.

Every bound is checked at decoding (a segment over 4 KiB, a path over 64 hashes, a challenge id of the wrong size
make the transaction ``malformed`` at admission). The rules that need state (the sender's organisation, the
challenge's deadline, the segment's hash and path) are in ``handlers.py``.

May import: ``msgspec`` and ``trellis.core.types``.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from trellis.core.types import CoreStruct, Hash32

SEGMENT_BYTES = 4096
"""Bytes per segment: a file is cut into 4 KiB segments (the last one may be shorter)."""
MAX_SEGMENTS = 2**40
"""Most segments of one registered file (4 PiB)."""
MAX_FILE_BYTES = MAX_SEGMENTS * SEGMENT_BYTES
"""Largest registered file."""
MAX_PATH = 64
"""Most sibling hashes in a segment's Merkle path (a tree of up to 2^64 leaves)."""
CHALLENGE_ID_BYTES = 12
"""A challenge id: the opening height (8 bytes, big-endian) and the challenge's number in its round (4 bytes)."""

FileSize = Annotated[int, msgspec.Meta(ge=1, le=MAX_FILE_BYTES)]
"""A registered file's size in bytes (of the bytes stored: ciphertext for an encrypted file)."""
SegmentCount = Annotated[int, msgspec.Meta(ge=1, le=MAX_SEGMENTS)]
"""The number of 4 KiB segments of a file: ``ceil(size / 4096)``."""
Segment = Annotated[bytes, msgspec.Meta(min_length=1, max_length=SEGMENT_BYTES)]
"""One segment's bytes."""
MerklePath = Annotated[list[Hash32], msgspec.Meta(max_length=MAX_PATH)]
"""The sibling hashes from a segment's leaf up to the segment root (RFC 6962 order, ``trellis.core.crypto.merkle``)."""
ChallengeId = Annotated[bytes, msgspec.Meta(min_length=CHALLENGE_ID_BYTES, max_length=CHALLENGE_ID_BYTES)]
"""A challenge's id (``CHALLENGE_ID_BYTES``)."""


class CustodyRegister(CoreStruct, frozen=True, tag="custody.register"):
    """The sender's organisation keeps ``file_id`` and accepts challenges on it (spec 2.1)."""

    file_id: Hash32
    """The file's id (a blob-store file id, or any 32-byte id the owner chose)."""
    size: FileSize
    """Its size in bytes, as stored."""
    segment_root: Hash32
    """The RFC 6962 Merkle root over the hashes of its 4 KiB segments (``state.segment_root``)."""
    segment_count: SegmentCount
    """``ceil(size / 4096)``; a registration with another count is refused."""


class CustodyRespond(CoreStruct, frozen=True, tag="custody.respond"):
    """Answer an open challenge with the challenged segment and its Merkle path (spec 2.2)."""

    challenge_id: ChallengeId
    """The challenge answered."""
    segment: Segment
    """The challenged segment's bytes."""
    path: MerklePath
    """Its Merkle path to the registered ``segment_root``."""


class CustodyRelease(CoreStruct, frozen=True, tag="custody.release"):
    """The sender's organisation stops keeping ``file_id`` (spec 2.3): no more challenges on it."""

    file_id: Hash32
    """The file released."""
