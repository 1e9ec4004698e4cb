"""A member's timeline: append an event, read it page by page, and the tallies other domains'
reports make of it (campaign reviews read imported and native events alike)."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, Table
from sqlalchemy.orm import Session

from siyu.core import clock
from siyu.core.events import bus
from siyu.identity import errors, repository
from siyu.identity.bulk import insert_rows
from siyu.identity.models import TimelineEvent
from siyu.identity.schemas import TimelineEventRead, TimelinePage
from siyu.identity.service.domain_events import EventsRecorded
from siyu.identity.service.members import active_member
from siyu.workspaces import service as workspaces

PAGE_MAX = 200


def events_table() -> Table:
    """The timeline's table, for other domains' read-only aggregate reports (no writes)."""
    table = TimelineEvent.__table__
    assert isinstance(table, Table)
    return table


def get_timeline(
    session: Session,
    workspace_id: int,
    member_id: int,
    *,
    limit: int = 50,
    cursor: str | None = None,
) -> TimelinePage:
    active_member(session, workspace_id, member_id)
    before = _decode_cursor(cursor) if cursor else None
    rows = list(
        repository.list_timeline(session, member_id, min(max(limit, 1), PAGE_MAX) + 1, before)
    )
    page, more = rows[:limit], len(rows) > limit
    apps = workspaces.get_apps_by_id(session, [r.app_id for r in page if r.app_id])
    items = [
        TimelineEventRead(
            id=r.id,
            event=r.name,
            ts=r.ts,
            channel=r.channel,
            props=r.props,
            appid=apps[r.app_id].appid if r.app_id in apps else None,
        )
        for r in page
    ]
    next_cursor = _encode_cursor(page[-1].ts, page[-1].id) if more and page else None
    return TimelinePage(items=items, next_cursor=next_cursor)


def _encode_cursor(ts: datetime, event_id: int) -> str:
    return base64.urlsafe_b64encode(f"{ts.isoformat()}|{event_id}".encode()).decode()


def _decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        ts, _, event_id = base64.urlsafe_b64decode(cursor.encode()).decode().partition("|")
        return datetime.fromisoformat(ts), int(event_id)
    except (ValueError, UnicodeDecodeError) as exc:
        raise errors.INVALID_CURSOR("cursor is not one this API returned") from exc


def record_event(
    session: Session,
    workspace_id: int,
    member_id: int,
    name: str,
    ts: datetime,
    *,
    app_id: int | None = None,
    channel: str | None = None,
    props: dict[str, Any] | None = None,
) -> int:
    """Append one canonical event to a member's timeline."""
    row = TimelineEvent(
        workspace_id=workspace_id,
        member_id=member_id,
        origin_member_id=member_id,
        app_id=app_id,
        name=name,
        ts=ts,
        channel=channel,
        props=props or {},
        received_at=clock.now(),
    )
    repository.add(session, row)
    bus.publish(session, EventsRecorded(workspace_id, 1))
    return row.id


@dataclass(frozen=True)
class NewEvent:
    """One canonical event of a batch for `record_events`."""

    workspace_id: int
    member_id: int
    name: str
    ts: datetime
    app_id: int | None = None
    channel: str | None = None
    props: dict[str, Any] = field(default_factory=dict)


_EVENT_COLUMNS = (
    "workspace_id",
    "member_id",
    "origin_member_id",
    "app_id",
    "name",
    "ts",
    "channel",
    "props",
    "received_at",
)


def record_events(session: Session, events: Sequence[NewEvent]) -> None:
    """Append many canonical events in one statement (COPY on PostgreSQL): what
    `record_event` does for each, without a flush per row."""
    if not events:
        return
    session.flush()  # the members they name may have been made in this transaction
    now = clock.now()
    insert_rows(
        session.connection(),
        TimelineEvent.__table__,
        _EVENT_COLUMNS,
        [
            (e.workspace_id, e.member_id, e.member_id, e.app_id, e.name, e.ts, e.channel,
             e.props, now)
            for e in events
        ],
    )  # fmt: skip
    counts: dict[int, int] = {}
    for event in events:
        counts[event.workspace_id] = counts.get(event.workspace_id, 0) + 1
    for workspace_id, count in counts.items():
        bus.publish(session, EventsRecorded(workspace_id, count))


def record_events_for(  # noqa: PLR0917 - an event's natural parts
    session: Session,
    workspace_id: int,
    member_ids: Select[Any],
    name: str,
    ts: datetime,
    props: dict[str, Any],
) -> int:
    """One canonical event for each member a query selects, written set-based (a segment's
    million entrants never pass through Python); how many."""
    count = repository.add_events_for(
        session, workspace_id, member_ids, name, ts, props, clock.now()
    )
    if count:
        bus.publish(session, EventsRecorded(workspace_id, count))
    return count


# --- tallies -------------------------------------------------------------------------------


def _offset_hours(tz: str) -> int:
    # SQLite has no zones: the zone's offset now, fixed for Beijing (no daylight saving).
    offset = datetime.now(ZoneInfo(tz)).utcoffset() or timedelta(0)
    return int(offset.total_seconds() // 3600)


def tally_coded_events(  # noqa: PLR0917 - a query's natural arguments
    session: Session,
    workspace_id: int,
    names: Sequence[str],
    codes: Sequence[str],
    since: datetime,
    until: datetime,
    *,
    tz: str = "Asia/Shanghai",
) -> list[tuple[str, str, int, str | None, int, int]]:
    """Events whose props carry one of `codes`, per (code, name, member, channel):
    (code, name, member_id, channel, distinct days, events)."""
    return repository.tally_coded_events(
        session,
        workspace_id,
        names,
        codes,
        since,
        until,
        tz=tz,
        utc_offset_hours=_offset_hours(tz),
    )


def tally_coded_days(  # noqa: PLR0917 - a query's natural arguments
    session: Session,
    workspace_id: int,
    name: str,
    code: str,
    since: datetime,
    until: datetime,
    *,
    tz: str = "Asia/Shanghai",
) -> dict[str, int]:
    """Distinct members with a `name` event of `code`, per calendar day (ISO date → count)."""
    return repository.tally_coded_days(
        session, workspace_id, name, code, since, until, tz=tz, utc_offset_hours=_offset_hours(tz)
    )


def event_props(
    session: Session, workspace_id: int, names: Sequence[str], since: datetime, until: datetime
) -> list[tuple[int, str, dict[str, Any]]]:
    """(member_id, name, props) of the workspace's `names` events in [since, until)."""
    return repository.event_props(session, workspace_id, names, since, until)


def members_active_since(
    session: Session, workspace_id: int, prefix: str, since: datetime
) -> set[int]:
    """Members with an event named `prefix`… (e.g. "mp.") at or after `since`."""
    return repository.members_active_since(session, workspace_id, prefix, since)
