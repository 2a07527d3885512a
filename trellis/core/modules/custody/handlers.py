"""The custody module's rules (docs/spec/custody.md 4 and 5): register, respond and release, and ``begin_block``,
which records the missed challenges, forgets old closed ones and opens a round of challenges.

Every handler does bounded work: a handful of records. ``begin_block`` does at most ``MAX_EXPIRE_PER_BLOCK``
expiries, ``MAX_GC_PER_BLOCK`` deletions and ``challenges_per_round`` (at most 256) new challenges per block; a
block with nothing to do reads one key (``custody/meta``).
"""

from __future__ import annotations

import msgspec

from trellis.core.codec import encode
from trellis.core.execution.context import StateReader, TxContext
from trellis.core.execution.module import BlockContext
from trellis.core.execution.results import ResultCode, TxFailure
from trellis.core.ledger.block import Event
from trellis.core.modules.custody.messages import CustodyRegister, CustodyRelease, CustodyRespond
from trellis.core.modules.custody.state import (
    ANSWERED,
    DUE_PREFIX,
    GC_PREFIX,
    MAX_EXPIRE_PER_BLOCK,
    MAX_GC_PER_BLOCK,
    META_KEY,
    MISSED,
    OPEN,
    Challenge,
    CustodyMeta,
    FileRecord,
    FileRef,
    MissedRecord,
    OrgFiles,
    OrgRef,
    challenge_id,
    challenge_key,
    check_segment,
    closed_key,
    due_key,
    file_key,
    gc_key,
    h8,
    ix_key,
    missed_key,
    oix_key,
    open_key,
    org_key,
    pick,
    picked_index,
    picked_org,
    picked_segment,
    read_challenge,
    read_file,
    read_meta,
    read_missed,
    read_org,
    read_org_ref,
    read_ref,
    round_seed,
    segment_count,
)
from trellis.core.modules.membership.state import read_certs, read_config
from trellis.core.modules.membership.view import entry_refusal

_PutFn = TxContext | BlockContext


def _num(n: int) -> bytes:
    return str(n).encode()


def sender_orgs(ctx: TxContext) -> list[str]:
    """The organisations of the sender's certificates valid at the block's time, sorted; [] when it has none."""
    config = read_config(ctx)
    if config is None:
        return []
    certs = read_certs(ctx, ctx.sender)  # at most two (MAX_CERTS_PER_ADDRESS)
    return sorted({c.org for c in certs if entry_refusal(ctx, config, c, ctx.time_ms) is None})


def _sender_org(ctx: TxContext) -> str:
    """The one organisation the sender belongs to.

    Raises:
        TxFailure: ``UNAUTHORIZED`` (no valid member certificate, or certificates of several organisations).
    """
    orgs = sender_orgs(ctx)
    if not orgs:
        raise TxFailure(
            ResultCode.UNAUTHORIZED,
            f"{ctx.sender.hex()} holds no valid certificate of a member organisation: only an org member may "
            "register or release custody",
        )
    if len(orgs) > 1:
        raise TxFailure(
            ResultCode.UNAUTHORIZED, f"{ctx.sender.hex()} holds certificates of several organisations ({orgs})"
        )
    return orgs[0]


def _meta(state: StateReader) -> CustodyMeta:
    meta = read_meta(state)
    return CustodyMeta(files=0, orgs=0, open=0, closed=0) if meta is None else meta


def handle_register(ctx: TxContext, msg: CustodyRegister) -> list[Event]:
    """``custody.register`` (spec 5.1): the sender's organisation keeps ``file_id``."""
    org = _sender_org(ctx)
    expected = segment_count(msg.size)
    if msg.segment_count != expected:
        raise TxFailure(
            ResultCode.INVALID_CHANGE,
            f"segment_count {msg.segment_count} does not fit size {msg.size}: a file of that size has {expected} "
            "segments of 4096 bytes",
        )
    if read_file(ctx, msg.file_id, org) is not None:
        raise TxFailure(ResultCode.DUPLICATE, f"{org} already registered file {msg.file_id.hex()}")
    meta = _meta(ctx)
    holder = read_org(ctx, org)
    if holder is None:  # the organisation's first registration: it joins the org index
        holder = OrgFiles(org=org, index=meta.orgs, files=0)
        ctx.put(oix_key(meta.orgs), encode(OrgRef(org=org)))
        meta = msgspec.structs.replace(meta, orgs=meta.orgs + 1)
    record = FileRecord(
        file_id=msg.file_id,
        org=org,
        registrant=ctx.sender,
        size=msg.size,
        segment_root=msg.segment_root,
        segment_count=msg.segment_count,
        index=holder.files,
        registered_height=ctx.height,
        challenged=0,
        answered=0,
        missed=0,
        open=0,
    )
    ctx.put(file_key(msg.file_id, org), encode(record))
    ctx.put(ix_key(org, holder.files), encode(FileRef(file_id=msg.file_id, org=org)))
    ctx.put(org_key(org), encode(msgspec.structs.replace(holder, files=holder.files + 1)))
    ctx.put(META_KEY, encode(msgspec.structs.replace(meta, files=meta.files + 1)))
    return [
        Event(
            type="custody.register",
            attributes=[
                ("file_id", msg.file_id),
                ("org", org.encode()),
                ("size", _num(msg.size)),
                ("segment_root", msg.segment_root),
                ("index", _num(holder.files)),
            ],
        )
    ]


def _close(ctx: _PutFn, ch: Challenge, status: int, height: int, responder: bytes) -> Challenge:
    """Write ``ch`` closed (answered or missed) at ``height`` and move its index entries."""
    closed = msgspec.structs.replace(ch, status=status, closed_height=height, responder=responder)
    ctx.put(challenge_key(ch.id), encode(closed))
    ctx.put(due_key(ch.deadline, ch.id), None)
    ctx.put(open_key(ch.org, ch.id), None)
    ctx.put(closed_key(ch.org, ch.id), b"")
    ctx.put(gc_key(height, ch.id), b"")
    return closed


def handle_respond(ctx: TxContext, msg: CustodyRespond) -> list[Event]:
    """``custody.respond`` (spec 5.2): answer an open challenge of the sender's organisation."""
    ch = read_challenge(ctx, msg.challenge_id)
    cid = msg.challenge_id.hex()
    if ch is None:
        raise TxFailure(ResultCode.NOT_FOUND, f"no challenge {cid} (never opened, or closed and no longer kept)")
    if ch.status == ANSWERED:
        raise TxFailure(ResultCode.DUPLICATE, f"challenge {cid} was already answered at height {ch.closed_height}")
    if ch.status == MISSED or ctx.height > ch.deadline:
        raise TxFailure(
            ResultCode.CHALLENGE_EXPIRED, f"challenge {cid} had its deadline at height {ch.deadline} (now {ctx.height})"
        )
    if ch.org not in sender_orgs(ctx):
        raise TxFailure(
            ResultCode.UNAUTHORIZED,
            f"challenge {cid} is {ch.org}'s: {ctx.sender.hex()} holds no valid certificate of {ch.org}",
        )
    record = read_file(ctx, ch.file_id, ch.org)
    assert record is not None, "a file with open challenges cannot be released"
    why = check_segment(ctx.suite, record, ch.segment_index, msg.segment, list(msg.path))
    if why is not None:
        raise TxFailure(ResultCode.INVALID_PROOF, f"challenge {cid}: {why}")
    _close(ctx, ch, ANSWERED, ctx.height, ctx.sender)
    ctx.put(
        file_key(ch.file_id, ch.org),
        encode(msgspec.structs.replace(record, answered=record.answered + 1, open=record.open - 1)),
    )
    meta = _meta(ctx)
    ctx.put(META_KEY, encode(msgspec.structs.replace(meta, open=meta.open - 1, closed=meta.closed + 1)))
    return [
        Event(
            type="custody.respond",
            attributes=[
                ("challenge_id", ch.id),
                ("file_id", ch.file_id),
                ("org", ch.org.encode()),
                ("segment_index", _num(ch.segment_index)),
            ],
        )
    ]


def handle_release(ctx: TxContext, msg: CustodyRelease) -> list[Event]:
    """``custody.release`` (spec 5.3): the sender's organisation stops keeping ``file_id``."""
    org = _sender_org(ctx)
    record = read_file(ctx, msg.file_id, org)
    if record is None:
        raise TxFailure(ResultCode.NOT_FOUND, f"{org} has not registered file {msg.file_id.hex()}")
    if record.open:
        raise TxFailure(
            ResultCode.INVALID_CHANGE,
            f"file {msg.file_id.hex()} has {record.open} open challenge(s): answer them or let them expire first",
        )
    meta = _meta(ctx)
    holder = read_org(ctx, org)
    assert holder is not None and holder.files > 0, "an organisation with a registration is in the org index"
    last = holder.files - 1
    if record.index != last:  # the organisation's last registration takes the freed index
        moved_ref = read_ref(ctx, org, last)
        assert moved_ref is not None, "indexes 0 .. files-1 of an organisation are all present"
        moved = read_file(ctx, moved_ref.file_id, org)
        assert moved is not None, "every index names a registration"
        ctx.put(ix_key(org, record.index), encode(moved_ref))
        ctx.put(file_key(moved.file_id, org), encode(msgspec.structs.replace(moved, index=record.index)))
    ctx.put(ix_key(org, last), None)
    ctx.put(file_key(msg.file_id, org), None)
    meta = msgspec.structs.replace(meta, files=meta.files - 1)
    if last:
        ctx.put(org_key(org), encode(msgspec.structs.replace(holder, files=last)))
    else:  # its last registration: the organisation leaves the org index, the last one there takes its place
        last_org = meta.orgs - 1
        if holder.index != last_org:
            moved_org = read_org_ref(ctx, last_org)
            assert moved_org is not None, "indexes 0 .. orgs-1 are all present"
            other = read_org(ctx, moved_org.org)
            assert other is not None, "every org index names an organisation with registrations"
            ctx.put(oix_key(holder.index), encode(moved_org))
            ctx.put(org_key(other.org), encode(msgspec.structs.replace(other, index=holder.index)))
        ctx.put(oix_key(last_org), None)
        ctx.put(org_key(org), None)
        meta = msgspec.structs.replace(meta, orgs=last_org)
    ctx.put(META_KEY, encode(meta))
    return [Event(type="custody.release", attributes=[("file_id", msg.file_id), ("org", org.encode())])]


def _expire(ctx: BlockContext, meta: CustodyMeta) -> CustodyMeta:
    """Record as missed the open challenges whose deadline is before this height (at most
    ``MAX_EXPIRE_PER_BLOCK``, earliest deadline first)."""
    h = ctx.height
    due = ctx.scan(DUE_PREFIX, DUE_PREFIX + h8(h), MAX_EXPIRE_PER_BLOCK)
    for key, _ in due:
        ch = read_challenge(ctx, key[len(DUE_PREFIX) + 8 :])
        assert ch is not None and ch.status == OPEN, "the due index lists open challenges only"
        _close(ctx, ch, MISSED, h, b"")
        record = read_file(ctx, ch.file_id, ch.org)
        assert record is not None, "a file with open challenges cannot be released"
        ctx.put(
            file_key(ch.file_id, ch.org),
            encode(msgspec.structs.replace(record, missed=record.missed + 1, open=record.open - 1)),
        )
        before = read_missed(ctx, ch.org, ch.file_id)
        count = 1 if before is None else before.count + 1
        ctx.put(
            missed_key(ch.org, ch.file_id),
            encode(MissedRecord(org=ch.org, file_id=ch.file_id, count=count, last_challenge=ch.id, last_height=h)),
        )
    n = len(due)
    return msgspec.structs.replace(meta, open=meta.open - n, closed=meta.closed + n)


def _forget(ctx: BlockContext, meta: CustodyMeta, keep: int) -> CustodyMeta:
    """Delete the records of challenges closed more than ``keep`` blocks ago (at most ``MAX_GC_PER_BLOCK``)."""
    if ctx.height <= keep:
        return meta
    old = ctx.scan(GC_PREFIX, GC_PREFIX + h8(ctx.height - keep), MAX_GC_PER_BLOCK)
    for key, _ in old:
        cid = key[len(GC_PREFIX) + 8 :]
        ch = read_challenge(ctx, cid)
        assert ch is not None and ch.status != OPEN, "the gc index lists closed challenges only"
        ctx.put(key, None)
        ctx.put(challenge_key(cid), None)
        ctx.put(closed_key(ch.org, cid), None)
    return msgspec.structs.replace(meta, closed=meta.closed - len(old))


def member_org_names(state: StateReader) -> frozenset[str]:
    """The member organisations now (membership config), empty on a chain without one."""
    config = read_config(state)
    return frozenset() if config is None else frozenset(o.name for o in config.orgs)


def _open_round(ctx: BlockContext, meta: CustodyMeta, per_round: int, window: int) -> CustodyMeta:
    """Make ``min(per_round, files)`` draws from this block's seed (spec 4): each picks an organisation (uniformly
    among those with registrations), then one of its registrations, then a segment, and opens a challenge on it,
    unless the organisation is no longer a member (the draw is skipped; its number stays unused)."""
    suite = ctx.params.suite
    h = ctx.height
    seed = round_seed(suite, ctx.parent_id, h)
    members = member_org_names(ctx)
    opened = 0
    for number in range(min(per_round, meta.files)):
        drawn = pick(suite, seed, number)
        org_ref = read_org_ref(ctx, picked_org(drawn, meta.orgs))
        assert org_ref is not None, "indexes 0 .. orgs-1 are all present"
        if org_ref.org not in members:
            continue  # a departed organisation is not challenged (spec 4.2)
        holder = read_org(ctx, org_ref.org)
        assert holder is not None and holder.files > 0, "every org index names an organisation with registrations"
        ref = read_ref(ctx, holder.org, picked_index(drawn, holder.files))
        assert ref is not None, "indexes 0 .. files-1 of an organisation are all present"
        record = read_file(ctx, ref.file_id, ref.org)
        assert record is not None, "every index names a registration"
        cid = challenge_id(h, number)
        ch = Challenge(
            id=cid,
            file_id=ref.file_id,
            org=ref.org,
            segment_index=picked_segment(drawn, record.segment_count),
            issued_height=h,
            deadline=h + window,
            status=OPEN,
            closed_height=0,
            responder=b"",
        )
        ctx.put(challenge_key(cid), encode(ch))
        ctx.put(due_key(ch.deadline, cid), b"")
        ctx.put(open_key(ref.org, cid), b"")
        ctx.put(
            file_key(ref.file_id, ref.org),
            encode(msgspec.structs.replace(record, challenged=record.challenged + 1, open=record.open + 1)),
        )
        opened += 1
    return msgspec.structs.replace(meta, open=meta.open + opened)


def begin_block(ctx: BlockContext) -> None:
    """Custody's work at the start of every block (spec 4 and 5.4), in this order: record the challenges whose
    deadline has passed as missed, forget closed challenges older than ``keep_closed_blocks``, and, at a multiple
    of ``challenge_interval``, open a round. Nothing happens (one read) on a chain where no file was ever
    registered."""
    meta = read_meta(ctx)
    if meta is None:
        return
    rules = ctx.params.genesis.custody_rules
    before = meta
    if meta.open:
        meta = _expire(ctx, meta)
    if meta.closed:
        meta = _forget(ctx, meta, rules.keep_closed_blocks)
    if meta.files and ctx.height % rules.challenge_interval == 0:
        meta = _open_round(ctx, meta, rules.challenges_per_round, rules.response_window_blocks)
    if meta != before:
        ctx.put(META_KEY, encode(meta))
