"""The community demo of `make run` (sandbox only): a series with a past activity and a current
one, then the days the sandbox cannot replay.

Sandbox users enroll in the current activity and pay through the sandbox's Pay over HTTP, and
check in today through the Mini Program's endpoint. siyu takes a check-in for its own today, so
the earlier days of the activity are replayed here, through the same `check_in` with the clock
set to each day; and the past activity arrives as history (timeline events, as
`siyu import events` loads them), so that the review shows retention from it.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.community import service
from siyu.community.models import Checkin, CheckinStatus, Enrollment, EnrollmentStatus
from siyu.community.schemas import (
    ActivityCreate,
    ActivityRead,
    GroupCreate,
    SeriesCreate,
    ThemeCreate,
)
from siyu.core import clock
from siyu.core.errors import SiyuError
from siyu.identity import service as identity

THEME = "英语学习"
SERIES = "21 天单词打卡"
PREVIOUS = "DEMO-01"
CURRENT = "DEMO-02"
DEPOSIT = 990
REQUIRED = 14
CHANNELS = ("poster", "group", "friend", "oa_menu")
TEXTS = ("今天背了 50 个单词", "打卡！", "复习了昨天的词", "完成今日任务", "听写全对")


def _fields(title: str, start: date, end: date) -> dict[str, object]:
    return {
        "title": title,
        "starts_on": start,
        "ends_on": end,
        "capacity": 500,
        "fee": 0,
        "deposit": DEPOSIT,
        "checkin_days_required": REQUIRED,
        "window_start": "00:00",
        "window_end": "24:00",
        "refund_rule": "full_at_n",
    }


def create_matrix(session: Session, workspace_id: int) -> ActivityRead | None:
    """Theme → series → the past activity (history) and the current one (open), each with
    its group. Nothing when the demo exists already."""
    try:
        service.get_activity_by_code(session, workspace_id, CURRENT)
    except SiyuError:
        pass
    else:
        return None
    today = service.today()
    theme = service.create_theme(session, workspace_id, ThemeCreate(name=THEME))
    series = service.create_series(
        session, workspace_id, SeriesCreate(theme_id=theme.id, name=SERIES)
    )
    past = ActivityCreate.model_validate(
        {
            "series_id": series.id,
            "code": PREVIOUS,
            "status": "settled",
            **_fields(
                "21 天单词打卡·第一期", today - timedelta(days=41), today - timedelta(days=21)
            ),
        }
    )
    service.create_activity(session, workspace_id, past, imported=True)
    current = service.create_activity(
        session,
        workspace_id,
        ActivityCreate.model_validate(
            {
                "series_id": series.id,
                "code": CURRENT,
                "status": "open",
                **_fields(
                    "21 天单词打卡·第二期", today - timedelta(days=19), today + timedelta(days=1)
                ),
            }
        ),
    )
    for code, name in ((PREVIOUS, "单词打卡一期群"), (CURRENT, "单词打卡二期群")):
        activity = service.get_activity_by_code(session, workspace_id, code)
        service.create_group(session, workspace_id, GroupCreate(name=name, activity_id=activity.id))
    return current


def _at(day: date, rng: random.Random) -> datetime:
    return service.day_start(day) + timedelta(hours=rng.randint(6, 22), minutes=rng.randint(0, 59))


def replay_checkins(session: Session, workspace_id: int, activity: ActivityRead, seed: int) -> int:
    """Each enrolled member's check-ins of the days before today, by their own diligence."""
    rng = random.Random(seed)  # noqa: S311 - a reproducible demo
    rows = session.scalars(
        select(Enrollment)
        .where(
            Enrollment.activity_id == activity.id, Enrollment.status == EnrollmentStatus.enrolled
        )
        .order_by(Enrollment.id)
    ).all()
    made = 0
    today = service.today()
    group = next(
        (g for g in service.list_groups(session, workspace_id) if g.activity_id == activity.id),
        None,
    )
    for row in rows:
        if group is not None and rng.random() < 0.8:  # opened the group's card in WeChat
            with clock.use_clock(clock.FrozenClock(row.enrolled_at or clock.now())):
                service.join_group(
                    session, workspace_id, group.id, row.member_id, source="share_ticket"
                )
        diligence = rng.choice((0.95, 0.9, 0.8, 0.6, 0.35))
        day = activity.starts_on
        while day < today:
            if rng.random() < diligence:
                with clock.use_clock(clock.FrozenClock(_at(day, rng))):
                    try:
                        service.check_in(
                            session,
                            workspace_id,
                            activity.id,
                            row.member_id,
                            text=rng.choice(TEXTS),
                            image_key=None,
                        )
                        made += 1
                    except SiyuError:  # already there (a second run), or before enrolling
                        pass
            day += timedelta(days=1)
        _restreak(session, row)
    return made


def _restreak(session: Session, row: Enrollment) -> None:
    """Counts and streaks from the accepted days (today's may have come before the past)."""
    days = list(
        session.scalars(
            select(Checkin.day)
            .where(Checkin.enrollment_id == row.id, Checkin.status == CheckinStatus.accepted)
            .order_by(Checkin.day)
        )
    )
    best = current = 0
    previous: date | None = None
    for day in days:
        current = current + 1 if previous == day - timedelta(days=1) else 1
        best, previous = max(best, current), day
    row.checkins, row.best_streak = len(days), best
    row.last_checkin_on = days[-1] if days else None
    row.streak = current if days and days[-1] >= service.today() - timedelta(days=1) else 0
    session.flush()


def replay_history(session: Session, workspace_id: int, seed: int) -> int:
    """The past activity as history: some of today's members enrolled in it, checked in,
    were refunded by the rule; some came back, some stayed in its group, some were lost."""
    past = service.get_activity_by_code(session, workspace_id, PREVIOUS)
    since = service.day_start(past.starts_on) - timedelta(days=30)
    until = service.day_start(past.ends_on) + timedelta(days=30)
    done = identity.tally_coded_events(
        session, workspace_id, ("activity.enroll",), [PREVIOUS], since, until
    )
    if done:
        return 0
    rng = random.Random(seed)  # noqa: S311 - a reproducible demo
    current = service.get_activity_by_code(session, workspace_id, CURRENT)
    came_back = [
        e.member_id
        for e in service.list_enrollments(session, workspace_id, current.id, limit=1000)
        if e.status != EnrollmentStatus.pending_payment
    ]
    everyone = sorted(
        identity.members_active_since(session, workspace_id, "", datetime(2000, 1, 1, tzinfo=UTC))
    )
    in_mp = identity.members_active_since(session, workspace_id, "mp.", since)
    others = [m for m in everyone if m not in set(came_back)]
    rng.shuffle(others)
    others.sort(key=lambda m: m in in_mp)  # some who never opened the Mini Program: lost
    members = came_back[: max(1, len(came_back) * 2 // 3)] + others[: max(3, len(others) // 2)]
    group = next(g for g in service.list_groups(session, workspace_id) if g.activity_id == past.id)
    days = (past.ends_on - past.starts_on).days + 1
    for member_id in members:
        enrolled_at = _at(past.starts_on - timedelta(days=rng.randint(1, 5)), rng)
        channel = rng.choice(CHANNELS)
        enroll = {"code": PREVIOUS, "amount": DEPOSIT}
        record = identity.record_event
        record(
            session, workspace_id, member_id, "activity.enroll", enrolled_at,
            channel=channel, props={"code": PREVIOUS},
        )  # fmt: skip
        record(session, workspace_id, member_id, "pay.paid", enrolled_at, props=enroll)
        with clock.use_clock(clock.FrozenClock(enrolled_at)):
            service.join_group(session, workspace_id, group.id, member_id, source="share_ticket")
        diligence = rng.choice((0.95, 0.85, 0.7, 0.4, 0.2))
        checked = 0
        for offset in range(days):
            if rng.random() < diligence:
                day = past.starts_on + timedelta(days=offset)
                record(
                    session, workspace_id, member_id, "activity.checkin", _at(day, rng),
                    props={"code": PREVIOUS, "day": day.isoformat()},
                )  # fmt: skip
                checked += 1
        after = service.day_start(past.ends_on + timedelta(days=2))
        if checked >= REQUIRED:
            record(session, workspace_id, member_id, "pay.refunded", after, props=enroll)
        if member_id not in came_back and rng.random() < 0.6:
            with clock.use_clock(clock.FrozenClock(after + timedelta(days=1))):
                service.leave_group(session, workspace_id, group.id, member_id)
    session.flush()
    return len(members)
