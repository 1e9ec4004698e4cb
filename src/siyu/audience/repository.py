"""Audience's queries."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, delete, func, insert, literal, select, update
from sqlalchemy.orm import Session

from siyu.audience.enums import OaTagSource, SegmentKind
from siyu.audience.models import OaTagMember, OaTagSync, Segment, SegmentMember, TagGroup


def add(session: Session, row: Any) -> None:
    session.add(row)
    session.flush()


def get_segment(session: Session, segment_id: int, *, lock: bool = False) -> Segment | None:
    return session.get(Segment, segment_id, with_for_update=lock)


def get_segment_by_name(session: Session, workspace_id: int, name: str) -> Segment | None:
    return session.scalar(
        select(Segment).where(Segment.workspace_id == workspace_id, Segment.name == name)
    )


def get_segment_by_rule_tag(session: Session, workspace_id: int, tag: str) -> Segment | None:
    return session.scalar(
        select(Segment).where(Segment.workspace_id == workspace_id, Segment.rule_tag == tag)
    )


def list_segments(session: Session, workspace_id: int) -> Sequence[Segment]:
    return session.scalars(
        select(Segment).where(Segment.workspace_id == workspace_id).order_by(Segment.id)
    ).all()


def list_due_segments(session: Session, older_than: datetime) -> list[int]:
    """Dynamic segments marked stale, or not refreshed since `older_than`."""
    return list(
        session.scalars(
            select(Segment.id)
            .where(
                Segment.kind == SegmentKind.dynamic,
                (Segment.stale.is_(True))
                | Segment.refreshed_at.is_(None)
                | (Segment.refreshed_at < older_than),
            )
            .order_by(Segment.id)
        )
    )


def mark_stale(session: Session, workspace_id: int) -> None:
    """One conditional update: rows already stale are not touched (nor locked)."""
    session.execute(
        update(Segment)
        .where(
            Segment.workspace_id == workspace_id,
            Segment.kind == SegmentKind.dynamic,
            Segment.stale.is_(False),
        )
        .values(stale=True)
        .execution_options(synchronize_session=False)
    )


def stored_members(segment_id: int) -> Select[Any]:
    return select(SegmentMember.member_id).where(SegmentMember.segment_id == segment_id)


def remove_left(session: Session, segment_id: int, current: Select[Any]) -> list[int]:
    """Delete the stored members `current` no longer selects; their ids."""
    wanted = current.subquery()
    return list(
        session.scalars(
            delete(SegmentMember)
            .where(
                SegmentMember.segment_id == segment_id,
                SegmentMember.member_id.not_in(select(wanted.c.id)),
            )
            .returning(SegmentMember.member_id)
        )
    )


def add_entered(
    session: Session, segment_id: int, current: Select[Any], now: datetime
) -> list[int]:
    """Insert the members `current` selects that are not stored yet; their ids."""
    wanted = current.subquery()
    return list(
        session.scalars(
            insert(SegmentMember)
            .from_select(
                ["segment_id", "member_id", "entered_at"],
                select(
                    literal(segment_id, SegmentMember.segment_id.type),
                    wanted.c.id,
                    literal(now, SegmentMember.entered_at.type),
                ).where(wanted.c.id.not_in(stored_members(segment_id))),
            )
            .returning(SegmentMember.member_id)
        )
    )


def entered_at(segment_id: int, when: datetime) -> Select[Any]:
    """The members who entered the segment at `when` (a refresh's entrants)."""
    return select(SegmentMember.member_id).where(
        SegmentMember.segment_id == segment_id, SegmentMember.entered_at == when
    )


def count_members(session: Session, segment_id: int) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(SegmentMember)
            .where(SegmentMember.segment_id == segment_id)
        )
        or 0
    )


def list_members(
    session: Session, segment_id: int, members: Any, *, offset: int, limit: int
) -> list[tuple[int, int, datetime]]:
    """(member id, number, entered_at) of stored members by number, a page."""
    rows = session.execute(
        select(SegmentMember.member_id, members.c.number, SegmentMember.entered_at)
        .join(members, members.c.id == SegmentMember.member_id)
        .where(SegmentMember.segment_id == segment_id)
        .order_by(members.c.number)
        .offset(offset)
        .limit(limit)
    )
    return [(int(a), int(b), c) for a, b, c in rows]


def member_ids(session: Session, segment_id: int) -> list[int]:
    return list(session.scalars(stored_members(segment_id).order_by(SegmentMember.member_id)))


def delete_segment(session: Session, segment: Segment) -> None:
    session.execute(delete(SegmentMember).where(SegmentMember.segment_id == segment.id))
    session.delete(segment)
    session.flush()


def get_tag_group(session: Session, group_id: int) -> TagGroup | None:
    return session.get(TagGroup, group_id)


def get_tag_group_by_name(session: Session, workspace_id: int, name: str) -> TagGroup | None:
    return session.scalar(
        select(TagGroup).where(TagGroup.workspace_id == workspace_id, TagGroup.name == name)
    )


def list_tag_groups(session: Session, workspace_id: int) -> Sequence[TagGroup]:
    return session.scalars(
        select(TagGroup).where(TagGroup.workspace_id == workspace_id).order_by(TagGroup.name)
    ).all()


def finish_refresh(session: Session, segment_id: int, count: int, now: datetime) -> None:
    """Written by statement, not through the loaded row: the timeline events the refresh just
    recorded may have marked it stale behind the ORM's back."""
    session.execute(
        update(Segment)
        .where(Segment.id == segment_id)
        .values(member_count=count, refreshed_at=now, stale=False)
        .execution_options(synchronize_session=False)
    )
    row = session.get(Segment, segment_id)
    if row is not None:
        session.refresh(row)


def get_oa_tag_sync(session: Session, sync_id: int, *, lock: bool = False) -> OaTagSync | None:
    return session.get(OaTagSync, sync_id, with_for_update=lock)


def get_oa_tag_sync_by_source(
    session: Session, app_id: int, kind: OaTagSource, source: str
) -> OaTagSync | None:
    return session.scalar(
        select(OaTagSync).where(
            OaTagSync.app_id == app_id, OaTagSync.source_kind == kind, OaTagSync.source == source
        )
    )


def get_oa_tag_sync_by_name(session: Session, app_id: int, name: str) -> OaTagSync | None:
    return session.scalar(
        select(OaTagSync).where(OaTagSync.app_id == app_id, OaTagSync.oa_tag_name == name)
    )


def list_oa_tag_syncs(
    session: Session, workspace_id: int, app_id: int | None = None
) -> list[OaTagSync]:
    query = select(OaTagSync).where(OaTagSync.workspace_id == workspace_id)
    if app_id is not None:
        query = query.where(OaTagSync.app_id == app_id)
    return list(session.scalars(query.order_by(OaTagSync.id)))


def count_oa_tag_syncs(session: Session, app_id: int) -> int:
    return session.scalar(select(func.count()).where(OaTagSync.app_id == app_id)) or 0


def list_synced(session: Session, sync_id: int) -> dict[int, str]:
    """The last-synced set: member → openid."""
    rows = session.execute(
        select(OaTagMember.member_id, OaTagMember.openid).where(OaTagMember.sync_id == sync_id)
    )
    return {int(member_id): str(openid) for member_id, openid in rows}


def count_synced(session: Session, sync_ids: Iterable[int]) -> dict[int, int]:
    rows = session.execute(
        select(OaTagMember.sync_id, func.count())
        .where(OaTagMember.sync_id.in_(list(sync_ids)))
        .group_by(OaTagMember.sync_id)
    )
    return {int(sync_id): int(count) for sync_id, count in rows}


def add_synced(session: Session, sync_id: int, pairs: Iterable[tuple[int, str]]) -> None:
    """Members confirmed on the tag; by COPY on PostgreSQL (a sync writes them by the
    thousand, and an executemany took six times as long, bench/oa_tags.py)."""
    rows = [(sync_id, m, o) for m, o in pairs]
    if not rows:
        return
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        keys = ("sync_id", "member_id", "openid")
        session.execute(insert(OaTagMember), [dict(zip(keys, row, strict=True)) for row in rows])
        return
    # COPY's text format, built in one join: ids are integers, and an openid is base64url
    # (WeChat's alphabet has no tab, newline or backslash; any is escaped all the same).
    text = "".join(f"{s}\t{m}\t{_copy_text(o)}\n" for s, m, o in rows)
    driver: Any = connection.connection.driver_connection
    statement = "COPY audience_oa_tag_members (sync_id, member_id, openid) FROM STDIN"
    with driver.cursor() as cursor, cursor.copy(statement) as copy:
        copy.write(text.encode("utf-8"))


def _copy_text(value: str) -> str:
    if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
        value = value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
        value = value.replace("\r", "\\r")
    return value


def remove_synced(session: Session, sync_id: int, member_ids: Iterable[int]) -> None:
    ids = list(member_ids)
    for start in range(0, len(ids), 5000):
        session.execute(
            delete(OaTagMember).where(
                OaTagMember.sync_id == sync_id, OaTagMember.member_id.in_(ids[start : start + 5000])
            )
        )
