"""Queries over the timeline: moving events with merges, pages of a member's events, daily
counts, the tallies of campaign reviews and the de-identified export."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Date,
    Select,
    and_,
    cast,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session

from siyu.identity.enums import MemberStatus
from siyu.identity.models import (
    Member,
    MemberTag,
    TimelineEvent,
)


def move_events(session: Session, from_member: int, to_member: int) -> None:
    session.execute(
        update(TimelineEvent)
        .where(TimelineEvent.member_id == from_member)
        .values(member_id=to_member)
    )


def return_events(session: Session, origin: int, holder: int) -> None:
    session.execute(
        update(TimelineEvent)
        .where(TimelineEvent.member_id == holder, TimelineEvent.origin_member_id == origin)
        .values(member_id=origin)
    )


def list_timeline(
    session: Session, member_id: int, limit: int, before: tuple[datetime, int] | None
) -> Sequence[TimelineEvent]:
    query = select(TimelineEvent).where(TimelineEvent.member_id == member_id)
    if before is not None:
        ts, event_id = before
        query = query.where(
            or_(TimelineEvent.ts < ts, and_(TimelineEvent.ts == ts, TimelineEvent.id < event_id))
        )
    return session.scalars(
        query.order_by(TimelineEvent.ts.desc(), TimelineEvent.id.desc()).limit(limit)
    ).all()


def first_event_at(session: Session, member_id: int) -> datetime | None:
    """When the member's history begins (imported or merged events may predate the member)."""
    return session.scalar(
        select(func.min(TimelineEvent.ts)).where(TimelineEvent.member_id == member_id)
    )


def count_events(session: Session, workspace_id: int, since: datetime | None = None) -> int:
    query = (
        select(func.count())
        .select_from(TimelineEvent)
        .where(TimelineEvent.workspace_id == workspace_id)
    )
    if since is not None:
        query = query.where(TimelineEvent.ts >= since)
    return int(session.scalar(query) or 0)


def _local_day(session: Session, column: Any, offset_hours: int) -> ColumnElement[Any]:
    if session.get_bind().dialect.name == "sqlite":
        return func.date(column, f"{offset_hours:+d} hours")
    return cast(column + func.make_interval(0, 0, 0, 0, offset_hours), Date)


def daily_counts(
    session: Session,
    model: type[Member] | type[TimelineEvent],
    workspace_id: int,
    since: datetime,
    offset_hours: int,
) -> dict[str, int]:
    """Rows per local day (`offset_hours` east of UTC) since a moment, keyed by ISO date."""
    column = model.created_at if model is Member else TimelineEvent.ts
    day = _local_day(session, column, offset_hours).label("day")
    query = select(day, func.count()).where(model.workspace_id == workspace_id, column >= since)
    if model is Member:
        query = query.where(Member.status == MemberStatus.active)
    rows = session.execute(query.group_by(day))
    return {str(d): int(n) for d, n in rows}


def deidentified_page(
    session: Session, workspace_id: int, *, after_id: int, limit: int
) -> list[tuple[int, datetime, int, datetime | None, datetime | None, int, int]]:
    """Active members after `after_id`, by id, with figures only: (id, created_at, events,
    first event, last event, apps seen, tags)."""
    members = session.execute(
        select(Member.id, Member.created_at)
        .where(
            Member.workspace_id == workspace_id,
            Member.status == MemberStatus.active,
            Member.id > after_id,
        )
        .order_by(Member.id)
        .limit(limit)
    ).all()
    ids = [m.id for m in members]
    if not ids:
        return []
    events = {
        row.member_id: row
        for row in session.execute(
            select(
                TimelineEvent.member_id,
                func.count().label("n"),
                func.min(TimelineEvent.ts).label("first"),
                func.max(TimelineEvent.ts).label("last"),
                func.count(func.distinct(TimelineEvent.app_id)).label("apps"),
            )
            .where(TimelineEvent.member_id.in_(ids))
            .group_by(TimelineEvent.member_id)
        )
    }
    tags = dict(
        session.execute(
            select(MemberTag.member_id, func.count())
            .where(MemberTag.member_id.in_(ids))
            .group_by(MemberTag.member_id)
        ).all()
    )
    rows = []
    for member_id, created_at in members:
        event = events.get(member_id)
        rows.append(
            (
                member_id,
                created_at,
                int(event.n) if event else 0,
                event.first if event else None,
                event.last if event else None,
                int(event.apps) if event else 0,
                int(tags.get(member_id, 0)),
            )
        )
    return rows


def _event_day(session: Session, tz: str, utc_offset_hours: int) -> Any:
    """The event's calendar day in `tz`, as SQL (dates on PostgreSQL, ISO text on SQLite,
    where the zone is its fixed offset)."""
    if session.get_bind().dialect.name == "postgresql":
        return func.date(func.timezone(tz, TimelineEvent.ts))
    return func.date(TimelineEvent.ts, f"{utc_offset_hours:+d} hours")


def tally_coded_events(  # noqa: PLR0917 - a query's natural arguments
    session: Session,
    workspace_id: int,
    names: Sequence[str],
    codes: Sequence[str],
    since: datetime,
    until: datetime,
    *,
    tz: str,
    utc_offset_hours: int,
) -> list[tuple[str, str, int, str | None, int, int]]:
    code = TimelineEvent.props["code"].as_string()
    day = _event_day(session, tz, utc_offset_hours)
    query = (
        select(
            code,
            TimelineEvent.name,
            TimelineEvent.member_id,
            TimelineEvent.channel,
            func.count(func.distinct(day)),
            func.count(),
        )
        .where(
            TimelineEvent.workspace_id == workspace_id,
            TimelineEvent.name.in_(list(names)),
            TimelineEvent.ts >= since,
            TimelineEvent.ts < until,
            code.in_(list(codes)),
        )
        .group_by(code, TimelineEvent.name, TimelineEvent.member_id, TimelineEvent.channel)
    )
    return [(c, n, m, ch, d, e) for c, n, m, ch, d, e in session.execute(query)]


def tally_coded_days(  # noqa: PLR0917 - a query's natural arguments
    session: Session,
    workspace_id: int,
    name: str,
    code: str,
    since: datetime,
    until: datetime,
    *,
    tz: str,
    utc_offset_hours: int,
) -> dict[str, int]:
    day = _event_day(session, tz, utc_offset_hours)
    query = (
        select(day, func.count(func.distinct(TimelineEvent.member_id)))
        .where(
            TimelineEvent.workspace_id == workspace_id,
            TimelineEvent.name == name,
            TimelineEvent.ts >= since,
            TimelineEvent.ts < until,
            TimelineEvent.props["code"].as_string() == code,
        )
        .group_by(day)
    )
    return {str(d)[:10]: n for d, n in session.execute(query)}


def event_props(
    session: Session, workspace_id: int, names: Sequence[str], since: datetime, until: datetime
) -> list[tuple[int, str, dict[str, Any]]]:
    query = select(TimelineEvent.member_id, TimelineEvent.name, TimelineEvent.props).where(
        TimelineEvent.workspace_id == workspace_id,
        TimelineEvent.name.in_(list(names)),
        TimelineEvent.ts >= since,
        TimelineEvent.ts < until,
    )
    return [(m, n, p or {}) for m, n, p in session.execute(query)]


def members_active_since(
    session: Session, workspace_id: int, prefix: str, since: datetime
) -> set[int]:
    query = (
        select(TimelineEvent.member_id)
        .where(
            TimelineEvent.workspace_id == workspace_id,
            TimelineEvent.ts >= since,
            TimelineEvent.name.like(f"{prefix}%"),
        )
        .distinct()
    )
    return set(session.scalars(query))


def add_events_for(  # noqa: PLR0917 - one row's natural columns
    session: Session,
    workspace_id: int,
    member_ids: Select[Any],
    name: str,
    ts: datetime,
    props: dict[str, Any],
    received_at: datetime,
) -> int:
    """One event of `name` for each member `member_ids` selects, in one INSERT … SELECT (no
    row passes through Python); how many."""
    chosen = member_ids.subquery()
    table = TimelineEvent.__table__
    columns = table.c
    result = session.execute(
        insert(TimelineEvent).from_select(
            ["workspace_id", "member_id", "origin_member_id", "name", "ts", "props", "received_at"],
            select(
                literal(workspace_id, columns.workspace_id.type),
                chosen.c[0],
                chosen.c[0],
                literal(name, columns.name.type),
                literal(ts, columns.ts.type),
                literal(props, columns.props.type),
                literal(received_at, columns.received_at.type),
            ),
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)
