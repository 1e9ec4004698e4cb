"""Figures only: the workspace's overview (members, today's counts, a daily series) and the
de-identified member export an analyst may hold."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from siyu.core import clock
from siyu.core.crypto import hasher
from siyu.identity import repository
from siyu.identity.models import Member, TimelineEvent
from siyu.identity.schemas import DailyCount, Overview
from siyu.security import service as security
from siyu.security.schemas import Principal

DEIDENTIFIED_COLUMNS = (
    "pseudonym",
    "joined_on",
    "events",
    "first_event_on",
    "last_event_on",
    "apps",
    "tags",
)


def overview(session: Session, workspace_id: int, tz: str, days: int = 30) -> Overview:
    """Members, today's figures and a daily series, days counted in the display timezone."""
    zone = ZoneInfo(tz)
    local_now = clock.now().astimezone(zone)
    today = local_now.replace(hour=0, minute=0, second=0, microsecond=0)
    start = today - timedelta(days=days - 1)
    offset = int((local_now.utcoffset() or timedelta()).total_seconds() // 3600)
    members = repository.daily_counts(session, Member, workspace_id, start, offset)
    events = repository.daily_counts(session, TimelineEvent, workspace_id, start, offset)
    series = []
    for i in range(days):
        day = (start + timedelta(days=i)).date().isoformat()
        series.append(DailyCount(day=day, members=members.get(day, 0), events=events.get(day, 0)))
    return Overview(
        members=repository.count_members(session, workspace_id),
        new_today=series[-1].members,
        events_today=series[-1].events,
        open_conflicts=repository.count_open_conflicts(session, workspace_id),
        days=series,
    )


def record_deidentified_export(session: Session, actor: Principal) -> None:
    """Audit an export of de-identified members (before its rows stream out)."""
    security.record_audit(session, actor, "export.deidentified_members")


def deidentified_members(
    session: Session, workspace_id: int, *, page: int = 1000
) -> Iterator[tuple[str, ...]]:
    """Every active member as figures an analyst may hold: a keyed pseudonym (stable within this
    install, meaningless outside it; not the member number, which staff can look up), dates to
    the day, counts. No identifier, phone, tag name or event content."""
    after = 0
    while True:
        rows = repository.deidentified_page(session, workspace_id, after_id=after, limit=page)
        if not rows:
            return
        for member_id, joined, events, first, last, apps, tags in rows:
            yield (
                hasher().digest(str(member_id), "deidentified.member")[:16],
                joined.date().isoformat(),
                str(events),
                first.date().isoformat() if first else "",
                last.date().isoformat() if last else "",
                str(apps),
                str(tags),
            )
        after = rows[-1][0]
