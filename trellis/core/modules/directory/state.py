"""The directory module's state records, keys and reads (docs/spec/directory.md 2; ADR 0016 section 4).

| key | value |
|---|---|
| ``directory/entry/`` + id (32) | ``Entry`` (this chain's entries) |
| ``directory/version/`` + id (32) + version (8, BE) | ``Entry`` (every earlier version) |
| ``directory/mirror/`` + id (32) | ``Mirror`` (a hub's copy of a sub-chain's entry) |
| ``directory/ix/`` + kind (1) + tagged_hash(value) (32) + id (32) | home chain id (``b""``: this chain) |
| ``directory/request/`` + id (32) | ``AccessRequest`` |
| ``directory/req_by_entry/`` + entry id (32) + request id (32) | ``b"\\x01"`` |
| ``directory/req_by_requester/`` + address (20) + request id (32) | ``b"\\x01"`` |
| ``directory/hub_channel`` | a sub-chain's channel id to its hub (ASCII; a cache, checked before use) |

Index kinds: ``o`` owner DID, ``t`` type, ``w`` word (a keyword or a normalised title word), ``c`` home chain id.
Local and mirrored entries share the indexes (ids are unique across chains: they hash the chain id), so one search
at a hub covers every chain. A withdrawn entry leaves every index (its record and versions stay).
"""

from __future__ import annotations

import re

from trellis.core.codec import decode
from trellis.core.crypto.suite import Suite
from trellis.core.execution.context import StateReader, TxContext
from trellis.core.modules.directory.messages import MAX_KEYWORDS, EntryFields, Ref
from trellis.core.types import U64, Address, ChainId, CoreStruct, Hash32

ENTRY_PREFIX = b"directory/entry/"
"""Prefix of this chain's ``Entry`` records."""
VERSION_PREFIX = b"directory/version/"
"""Prefix of the earlier versions."""
MIRROR_PREFIX = b"directory/mirror/"
"""Prefix of a hub's mirrored entries."""
INDEX_PREFIX = b"directory/ix/"
"""Prefix of the search indexes."""
REQUEST_PREFIX = b"directory/request/"
"""Prefix of the ``AccessRequest`` records."""
REQ_BY_ENTRY_PREFIX = b"directory/req_by_entry/"
"""Prefix of the requests-by-entry index."""
REQ_BY_REQUESTER_PREFIX = b"directory/req_by_requester/"
"""Prefix of the requests-by-requester index."""
HUB_CHANNEL_KEY = b"directory/hub_channel"
"""On a sub-chain: the ``directory`` channel id its last announcement went over (ASCII), checked before use."""
PREFIXES = (
    ENTRY_PREFIX,
    VERSION_PREFIX,
    MIRROR_PREFIX,
    INDEX_PREFIX,
    REQUEST_PREFIX,
    REQ_BY_ENTRY_PREFIX,
    REQ_BY_REQUESTER_PREFIX,
    HUB_CHANNEL_KEY,
)
"""Every state-key prefix this module writes under."""

ID_DOMAIN = b"trellis/directory/id/v1"
"""Tag of an entry id: ``tagged_hash(ID_DOMAIN, len(chain_id) (1) || chain_id || owner (20) || nonce (8, BE))``."""
REQUEST_DOMAIN = b"trellis/directory/request/v1"
"""Tag of a request id: ``tagged_hash(REQUEST_DOMAIN, entry id (32) || requester (20) || nonce (8, BE))``."""
INDEX_DOMAIN = b"trellis/directory/index/v1"
"""Tag of an index value's hash: ``tagged_hash(INDEX_DOMAIN, value UTF-8)``."""
OWNER, TYPE, WORD, CHAIN = b"o", b"t", b"w", b"c"
"""Index kinds."""
MAX_TITLE_WORDS = 16
"""Most normalised title words indexed."""
STOP_WORDS = frozenset("a an and are as at be by for from in into is it of on or the to with".split())
"""Title words never indexed."""

PENDING, GRANTED, REFUSED = 1, 2, 3
"""An access request's statuses."""
STATUS_NAMES = {PENDING: "pending", GRANTED: "granted", REFUSED: "refused"}
"""Status -> its name in events, the API and the CLI."""


class Entry(CoreStruct, frozen=True):
    """A directory entry, at ``directory/entry/`` + id (and each earlier version at ``directory/version/``)."""

    id: Hash32
    """``entry_id(chain_id, owner, nonce)``."""
    chain_id: ChainId
    """The home chain (where it was published)."""
    owner: Address
    """The publishing sender; only it may update or withdraw."""
    nonce: U64
    """The publishing transaction's nonce."""
    fields: EntryFields
    """What the owner says about the resource."""
    version: U64
    """1 when published, +1 per update (a withdrawal is a version too)."""
    withdrawn: bool
    """True once withdrawn (final)."""
    withdraw_reason: Ref
    """The withdrawal's reason, or ``""``."""
    created_height: U64
    """Height of the block that published it."""
    updated_height: U64
    """Height of the block that wrote this version."""


class Mirror(CoreStruct, frozen=True):
    """A hub's copy of a sub-chain's entry, at ``directory/mirror/`` + id: exactly the bytes the home chain committed,
    received in a packet proven against the home chain's state."""

    chain_id: ChainId
    """The home chain (the chain of the client under the channel the packet came over)."""
    home_height: U64
    """The home chain height that wrote this version."""
    entry: bytes
    """The canonical ``Entry`` (decode it with ``decode(entry, Entry)``)."""
    channel: str
    """The hub's channel it came over."""
    received_height: U64
    """The hub's height that stored it."""


class AccessRequest(CoreStruct, frozen=True):
    """An access request, at ``directory/request/`` + id."""

    id: Hash32
    """``request_id(entry_id, requester, nonce)``."""
    entry_id: Hash32
    """The entry asked for."""
    requester: Address
    """Who asks."""
    presentation_digest: Hash32
    """Digest of the presentation given to the owner's service (zero: none)."""
    purpose: Ref
    """What the data will be used for."""
    status: U64
    """``1`` pending, ``2`` granted, ``3`` refused."""
    expires_at_ms: U64
    """A grant's end (0: none)."""
    reason: Ref
    """The decision's reason."""
    requested_height: U64
    """Height of the request."""
    decided_height: U64
    """Height of the decision (0: pending)."""


def entry_id(suite: Suite, chain_id: str, owner: bytes, nonce: int) -> bytes:
    """An entry's id (unique across chains)."""
    cid = chain_id.encode()
    return suite.tagged_hash(ID_DOMAIN, bytes([len(cid)]) + cid + owner + nonce.to_bytes(8, "big"))


def request_id(suite: Suite, entry: bytes, requester: bytes, nonce: int) -> bytes:
    """An access request's id."""
    return suite.tagged_hash(REQUEST_DOMAIN, entry + requester + nonce.to_bytes(8, "big"))


def entry_key(id_: bytes) -> bytes:
    """Key of this chain's entry ``id_``."""
    return ENTRY_PREFIX + id_


def version_key(id_: bytes, version: int) -> bytes:
    """Key of version ``version`` of entry ``id_`` (an earlier one)."""
    return VERSION_PREFIX + id_ + version.to_bytes(8, "big")


def mirror_key(id_: bytes) -> bytes:
    """Key of a hub's mirror of entry ``id_``."""
    return MIRROR_PREFIX + id_


def request_key(id_: bytes) -> bytes:
    """Key of access request ``id_``."""
    return REQUEST_PREFIX + id_


def index_prefix(suite: Suite, kind: bytes, value: str) -> bytes:
    """Prefix of the index entries of ``kind`` for ``value`` (followed by entry ids)."""
    return INDEX_PREFIX + kind + suite.tagged_hash(INDEX_DOMAIN, value.encode())


_WORD = re.compile(r"[^\W\d_]+|\d+")


def title_words(title: str) -> list[str]:
    """A title's indexed words: lower-cased, split on anything but letters and digits, stop words and one-letter
    words dropped, each cut to 32 characters, first occurrence kept, at most ``MAX_TITLE_WORDS``."""
    out: list[str] = []
    for word in _WORD.findall(title.lower()):
        word = word[:32]
        if len(word) < 2 or word in STOP_WORDS or word in out:
            continue
        out.append(word)
        if len(out) == MAX_TITLE_WORDS:
            break
    return out


def index_values(fields: EntryFields, chain_id: str) -> list[tuple[bytes, str]]:
    """Every (kind, value) an entry with ``fields`` at ``chain_id`` is indexed under (no duplicates)."""
    words = list(dict.fromkeys([*fields.keywords, *title_words(fields.title)]))[: 2 * MAX_KEYWORDS]
    return [(OWNER, fields.owner_did), (TYPE, fields.type), (CHAIN, chain_id), *((WORD, w) for w in words)]


def index_key(suite: Suite, kind: bytes, value: str, id_: bytes) -> bytes:
    """Key of the index entry of ``kind`` for ``value`` naming entry ``id_``."""
    return index_prefix(suite, kind, value) + id_


def reindex(
    ctx: TxContext,
    id_: bytes,
    old: list[tuple[bytes, str]],
    new: list[tuple[bytes, str]],
    home: bytes,
) -> None:
    """Move entry ``id_``'s index entries from the pairs ``old`` to the pairs ``new``: delete those of ``old`` not
    in ``new``, write those of ``new`` not in ``old`` (value ``home``: the home chain id, ``b""`` for this chain).
    At most ``2 * (3 + 2 * MAX_KEYWORDS)`` writes."""
    kept = set(old) & set(new)
    for kind, value in old:
        if (kind, value) not in kept:
            ctx.put(index_key(ctx.suite, kind, value, id_), None)
    for kind, value in new:
        if (kind, value) not in kept:
            ctx.put(index_key(ctx.suite, kind, value, id_), home)


def entry_index_values(entry: Entry) -> list[tuple[bytes, str]]:
    """The (kind, value) pairs ``entry`` is indexed under: none once withdrawn."""
    return [] if entry.withdrawn else index_values(entry.fields, entry.chain_id)


def read_entry(state: StateReader, id_: bytes) -> Entry | None:
    """This chain's entry ``id_`` (current version), or None."""
    raw = state.get(entry_key(id_))
    return None if raw is None else decode(raw, Entry)


def read_mirror(state: StateReader, id_: bytes) -> Mirror | None:
    """A hub's mirror of entry ``id_``, or None."""
    raw = state.get(mirror_key(id_))
    return None if raw is None else decode(raw, Mirror)


def read_request(state: StateReader, id_: bytes) -> AccessRequest | None:
    """Access request ``id_``, or None."""
    raw = state.get(request_key(id_))
    return None if raw is None else decode(raw, AccessRequest)
