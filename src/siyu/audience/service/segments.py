"""Segments (人群): define, count while editing, store, list their members, refresh them
(set-based diff, `segment.entered` / `segment.left` on the timeline, a rule tag kept equal),
export them and notify them through reach."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.audience import compiler, errors, repository
from siyu.audience.enums import SegmentKind
from siyu.audience.models import Segment
from siyu.audience.schemas import (
    RefreshResult,
    SegmentCreate,
    SegmentMemberRow,
    SegmentMembersPage,
    SegmentNotice,
    SegmentPreview,
    SegmentRead,
    SegmentUpdate,
)
from siyu.core import clock, jobs
from siyu.identity import service as identity
from siyu.identity.service import ListedMember
from siyu.reach import service as reach
from siyu.reach.schemas import BroadcastCreate, BroadcastRead
from siyu.security import service as security
from siyu.security.schemas import Principal

PREVIEW_MEMBERS = 100
EVENT_CHUNK = 50_000  # timeline rows per insert: a refresh of a million stays in memory bounds
NOTICE_MAX = 200_000  # reach's broadcast takes at most this many members
REFRESH_EVERY = timedelta(hours=1)  # time-window conditions drift even without events
# Set on a session while a refresh records its own timeline events: they must not mark the
# workspace's segments stale again (segments would refresh each other every minute forever).
_REFRESHING = "audience.refreshing"

Actor = Principal | str


def _actor_name(actor: Actor) -> str:
    return actor.actor if isinstance(actor, Principal) else actor


def _context(session: Session, workspace_id: int, stack: list[int]) -> compiler.Context:
    def find(segment_id: int) -> compiler.SegmentRef | None:
        row = repository.get_segment(session, segment_id)
        if row is None or row.workspace_id != workspace_id:
            return None
        return compiler.SegmentRef(row.id, row.kind, row.definition)

    return compiler.Context(
        session=session,
        workspace_id=workspace_id,
        now=clock.now(),
        member=compiler.member_column(),
        find_segment=find,
        stored_members=repository.stored_members,
        stack=stack,
    )


def compile_definition(
    session: Session, workspace_id: int, definition: Any, *, segment_id: int | None = None
) -> Any:
    """The definition checked (paths, unknown names, cycles through `segment_id`) and
    compiled: ONE select of (member id, number)."""
    tree = compiler.parse_definition(definition)
    stack = [segment_id] if segment_id is not None else []
    return compiler.members_query(_context(session, workspace_id, stack), tree)


def preview(
    session: Session, workspace_id: int, definition: Any, *, limit: int = PREVIEW_MEMBERS
) -> SegmentPreview:
    """The live count while editing, and the first members' numbers."""
    query = compile_definition(session, workspace_id, definition)
    count = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    numbers = session.scalars(
        select(query.subquery().c.number).order_by("number").limit(limit)
    ).all()
    return SegmentPreview(count=int(count), members=[int(n) for n in numbers])


def _segment(
    session: Session, workspace_id: int, segment_id: int, *, lock: bool = False
) -> Segment:
    row = repository.get_segment(session, segment_id, lock=lock)
    if row is None or row.workspace_id != workspace_id:
        raise errors.SEGMENT_NOT_FOUND(f"no segment {segment_id}")
    return row


def _check_rule_tag(session: Session, workspace_id: int, tag: str) -> None:
    """A rule tag owns its tag: not one staff or channels put on members, nor another's."""
    if repository.get_segment_by_rule_tag(session, workspace_id, tag) is not None or (
        identity.tag_counts(session, workspace_id).get(tag, 0) > 0
    ):
        raise errors.RULE_TAG_TAKEN(f"the tag {tag!r} is in use", tag=tag)


def create_segment(session: Session, actor: Principal, data: SegmentCreate) -> SegmentRead:
    """Store a segment. A static one is snapshotted now; a dynamic one is filled by a job."""
    workspace_id = actor.workspace_id
    compile_definition(session, workspace_id, data.definition)
    name = data.name.strip()
    if repository.get_segment_by_name(session, workspace_id, name) is not None:
        raise errors.SEGMENT_EXISTS(f"a segment named {name!r} exists")
    rule_tag = data.rule_tag.strip() if data.rule_tag else None
    if rule_tag:
        _check_rule_tag(session, workspace_id, rule_tag)
    now = clock.now()
    row = Segment(
        workspace_id=workspace_id,
        name=name,
        description=data.description,
        kind=data.kind,
        definition=data.definition,
        rule_tag=rule_tag,
        member_count=0,
        stale=data.kind == SegmentKind.dynamic,
        refreshed_at=None,
        created_by=actor.actor,
        created_at=now,
        updated_at=now,
    )
    repository.add(session, row)
    security.record_audit(
        session,
        actor,
        "audience.segment_created",
        target_type="segment",
        target_id=row.id,
        detail={"kind": data.kind.value, "rule_tag": bool(rule_tag)},
    )
    if data.kind == SegmentKind.static:
        refresh_segment(session, row.id, actor=actor)
    else:
        jobs.enqueue(session, "audience.refresh_segment", row.id)
    return SegmentRead.model_validate(row)


def update_segment(
    session: Session, actor: Principal, segment_id: int, data: SegmentUpdate
) -> SegmentRead:
    row = _segment(session, actor.workspace_id, segment_id, lock=True)
    if data.definition is not None:
        compile_definition(session, actor.workspace_id, data.definition, segment_id=row.id)
        row.definition = data.definition
        row.stale = row.kind == SegmentKind.dynamic
    if data.name is not None and data.name.strip() != row.name:
        name = data.name.strip()
        if repository.get_segment_by_name(session, actor.workspace_id, name) is not None:
            raise errors.SEGMENT_EXISTS(f"a segment named {name!r} exists")
        row.name = name
    if data.description is not None:
        row.description = data.description
    row.updated_at = clock.now()
    session.flush()
    security.record_audit(
        session,
        actor,
        "audience.segment_updated",
        target_type="segment",
        target_id=row.id,
        detail={"definition": data.definition is not None},
    )
    if data.definition is not None and row.kind == SegmentKind.dynamic:
        jobs.enqueue(session, "audience.refresh_segment", row.id)
    return SegmentRead.model_validate(row)


def delete_segment(session: Session, actor: Principal, segment_id: int) -> None:
    """Delete a segment no other refers to; its rule tag stays on members as it is."""
    row = _segment(session, actor.workspace_id, segment_id, lock=True)
    for other in repository.list_segments(session, actor.workspace_id):
        if other.id != row.id and row.id in _refs(other.definition):
            raise errors.SEGMENT_IN_USE(f"the segment {other.name!r} refers to it", name=other.name)
    repository.delete_segment(session, row)
    security.record_audit(
        session, actor, "audience.segment_deleted", target_type="segment", target_id=segment_id
    )


def _refs(definition: Any) -> set[int]:
    try:
        return compiler.segment_refs(compiler.parse_definition(definition))
    except Exception:
        return set()


def get_segment(session: Session, workspace_id: int, segment_id: int) -> SegmentRead:
    return SegmentRead.model_validate(_segment(session, workspace_id, segment_id))


def list_segments(session: Session, workspace_id: int) -> list[SegmentRead]:
    return [SegmentRead.model_validate(r) for r in repository.list_segments(session, workspace_id)]


def segment_members(
    session: Session, workspace_id: int, segment_id: int, *, offset: int = 0, limit: int = 50
) -> SegmentMembersPage:
    """A page of the stored members (as of the last refresh), by member number."""
    row = _segment(session, workspace_id, segment_id)
    limit = min(max(limit, 1), 500)
    rows = repository.list_members(
        session, row.id, identity.members_table(), offset=offset, limit=limit + 1
    )
    return SegmentMembersPage(
        items=[SegmentMemberRow(member_id=m, number=n, entered_at=at) for m, n, at in rows[:limit]],
        total=repository.count_members(session, row.id),
        offset=offset,
        more=len(rows) > limit,
    )


# --- refresh --------------------------------------------------------------------------------


def refresh_segment(session: Session, segment_id: int, *, actor: Actor) -> RefreshResult:
    """Bring the stored members to what the definition selects now, in two statements (who
    left, who entered); each on the timeline with the time; the rule tag follows. Running it
    twice changes nothing the second time."""
    row = repository.get_segment(session, segment_id, lock=True)
    if row is None:
        raise errors.SEGMENT_NOT_FOUND(f"no segment {segment_id}")
    query = compile_definition(session, row.workspace_id, row.definition, segment_id=row.id)
    now = clock.now()
    if row.refreshed_at is not None and now <= _aware(row.refreshed_at):
        # Each refresh's entrants are told apart by their entry time (their timeline events
        # are written from the table by it): a clock that did not move still gets a new one.
        now = _aware(row.refreshed_at) + timedelta(microseconds=1)
    left = repository.remove_left(session, row.id, query)
    entered = repository.add_entered(session, row.id, query, now)
    session.info[_REFRESHING] = True
    try:
        props = {"segment_id": row.id, "segment": row.name}
        for chunk in _chunks(left):  # gone from the table: their ids are all there is
            identity.record_events(
                session,
                [
                    identity.NewEvent(row.workspace_id, m, "segment.left", now, props=props)
                    for m in chunk
                ],
            )
        if entered:  # set-based, from the rows just written: a million never pass through here
            identity.record_events_for(
                session,
                row.workspace_id,
                repository.entered_at(row.id, now),
                "segment.entered",
                now,
                props,
            )
    finally:
        session.info.pop(_REFRESHING, None)
    result = RefreshResult(segment_id=row.id, entered=len(entered), left=len(left), count=0)
    if row.rule_tag:
        result.tagged, result.untagged = identity.keep_tag_equal(
            session,
            row.workspace_id,
            row.rule_tag,
            repository.stored_members(row.id),
            actor=f"segment:{row.id}",
            now=now,
        )
        if result.tagged or result.untagged:
            security.record_audit(
                session,
                _actor_name(actor),
                "audience.rule_tag_synced",
                workspace_id=row.workspace_id,
                target_type="segment",
                target_id=row.id,
                detail={
                    "tag": row.rule_tag,
                    "added": result.tagged,
                    "removed": result.untagged,
                    "reason": f"entered or left segment {row.id}",
                    "entered_ids": entered[:100],
                    "left_ids": left[:100],
                },
            )
    result.count = repository.count_members(session, row.id)
    repository.finish_refresh(session, row.id, result.count, now)
    if isinstance(actor, Principal):
        security.record_audit(
            session,
            actor,
            "audience.segment_refreshed",
            target_type="segment",
            target_id=row.id,
            detail={"entered": result.entered, "left": result.left},
        )
    return result


def _aware(when: datetime) -> datetime:
    """SQLite gives back naive UTC."""
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _chunks(ids: list[int]) -> Iterator[list[int]]:
    for start in range(0, len(ids), EVENT_CHUNK):
        yield ids[start : start + EVENT_CHUNK]


def refresh_on_demand(session: Session, actor: Principal, segment_id: int) -> RefreshResult:
    """An operator refreshes now (a static segment's new snapshot)."""
    _segment(session, actor.workspace_id, segment_id)
    return refresh_segment(session, segment_id, actor=actor)


def due_segments(session: Session, now: datetime | None = None) -> list[int]:
    """Dynamic segments to refresh: marked stale by events, or older than REFRESH_EVERY."""
    return repository.list_due_segments(session, (now or clock.now()) - REFRESH_EVERY)


def on_events_recorded(session: Session, event: identity.EventsRecorded) -> None:
    """New events may move members in or out: the workspace's dynamic segments are due."""
    if session.info.get(_REFRESHING):
        return
    repository.mark_stale(session, event.workspace_id)


# --- export and notices ---------------------------------------------------------------------


def record_segment_export(session: Session, actor: Principal, segment_id: int) -> SegmentRead:
    row = _segment(session, actor.workspace_id, segment_id)
    security.record_audit(
        session,
        actor,
        "export.segment_members",
        target_type="segment",
        target_id=row.id,
        detail={"members": row.member_count},
    )
    return SegmentRead.model_validate(row)


def segment_export_page(
    session: Session, actor: Principal, segment_id: int, *, offset: int, limit: int
) -> list[ListedMember]:
    """One page of the segment's members as the member list shows them to this role
    (masked phone, WeChat ids only with the permission), by member number."""
    row = _segment(session, actor.workspace_id, segment_id)
    ids = [
        m
        for m, _, _ in repository.list_members(
            session, row.id, identity.members_table(), offset=offset, limit=limit
        )
    ]
    if not ids:
        return []
    return identity.member_list_page(session, actor, member_ids=ids, limit=limit)


def notify_segment(
    session: Session, actor: Principal, segment_id: int, notice: SegmentNotice
) -> BroadcastRead:
    """A broadcast (reach) to the segment's members as of its last refresh."""
    row = _segment(session, actor.workspace_id, segment_id)
    ids = repository.member_ids(session, row.id)
    if not ids:
        raise errors.EMPTY_SEGMENT("the segment has no member")
    if len(ids) > NOTICE_MAX:
        raise errors.AUDIENCE_TOO_LARGE(
            f"{len(ids)} members; a notice reaches at most {NOTICE_MAX}",
            count=len(ids),
            limit=NOTICE_MAX,
        )
    data = BroadcastCreate(**notice.model_dump(), member_ids=ids)
    broadcast = reach.create_broadcast(session, actor.workspace_id, data, actor)
    security.record_audit(
        session,
        actor,
        "audience.segment_notified",
        target_type="segment",
        target_id=row.id,
        detail={"broadcast_id": broadcast.id, "members": len(ids)},
    )
    return broadcast
