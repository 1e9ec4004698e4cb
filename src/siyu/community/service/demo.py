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
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta

from sqlalchemy.orm import Session

from siyu.community import repository
from siyu.community.enums import EnrollmentStatus
from siyu.community.models import Enrollment
from siyu.community.schemas import (
    ActivityCreate,
    ActivityRead,
    GroupCreate,
    SeriesCreate,
    ThemeCreate,
)
from siyu.community.service.checkins import check_in, streaks
from siyu.community.service.common import day_start, today
from siyu.community.service.enrollment import list_enrollments
from siyu.community.service.groups import join_group, leave_group, list_groups, new_group
from siyu.community.service.matrix import (
    get_activity_by_code,
    new_activity,
    new_series,
    new_theme,
)
from siyu.core import clock
from siyu.core.clock import BEIJING
from siyu.core.errors import SiyuError
from siyu.identity import service as identity
from siyu.wechat.pay import service as pay

THEME = "英语学习"
SERIES = "21 天单词打卡"
DEMO_PREVIOUS = "DEMO-01"
DEMO_CURRENT = "DEMO-02"
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


def create_demo_matrix(session: Session, workspace_id: int) -> ActivityRead | None:
    """Theme → series → the past activity (history) and the current one (open), each with
    its group. Nothing when the demo exists already."""
    try:
        get_activity_by_code(session, workspace_id, DEMO_CURRENT)
    except SiyuError:
        pass
    else:
        return None
    this_day = today()
    theme = new_theme(session, workspace_id, ThemeCreate(name=THEME))
    series = new_series(session, workspace_id, SeriesCreate(theme_id=theme.id, name=SERIES))
    past = ActivityCreate.model_validate(
        {
            "series_id": series.id,
            "code": DEMO_PREVIOUS,
            "status": "settled",
            **_fields(
                "21 天单词打卡·第一期", this_day - timedelta(days=41), this_day - timedelta(days=21)
            ),
        }
    )
    new_activity(session, workspace_id, past, imported=True)
    current = new_activity(
        session,
        workspace_id,
        ActivityCreate.model_validate(
            {
                "series_id": series.id,
                "code": DEMO_CURRENT,
                "status": "open",
                **_fields(
                    "21 天单词打卡·第二期",
                    this_day - timedelta(days=19),
                    this_day + timedelta(days=1),
                ),
            }
        ),
    )
    for code, name in ((DEMO_PREVIOUS, "单词打卡一期群"), (DEMO_CURRENT, "单词打卡二期群")):
        activity = get_activity_by_code(session, workspace_id, code)
        new_group(session, workspace_id, GroupCreate(name=name, activity_id=activity.id))
    return current


def _at(day: date, rng: random.Random) -> datetime:
    return day_start(day) + timedelta(hours=rng.randint(6, 22), minutes=rng.randint(0, 59))


def _date_replayed_enrollments(rows: Sequence[Enrollment]) -> None:
    """An enrollment the sandbox paid in its simulated past was made at siyu's now: date it as
    made a minute before its payment, as its order is (`pay.date_replayed_orders`)."""
    for row in rows:
        if row.enrolled_at is not None and row.created_at > row.enrolled_at:
            row.created_at = row.enrolled_at - pay.REPLAY_PLACED_BEFORE


def _checkin_at(day: date, enrolled_at: datetime, rng: random.Random) -> datetime | None:
    """A time on `day` after the member enrolled (None when the day is over by then)."""
    at = _at(day, rng)
    if at > enrolled_at:
        return at
    later = enrolled_at + timedelta(minutes=rng.randint(5, 90))
    return later if later < day_start(day + timedelta(days=1)) else None


def replay_demo_checkins(
    session: Session, workspace_id: int, activity: ActivityRead, seed: int
) -> int:
    """Each enrolled member's check-ins of the days before today, by their own diligence, from
    the day they enrolled (the sandbox's simulated week dates the enrollments)."""
    rng = random.Random(seed)  # noqa: S311 - a reproducible demo
    pay.date_replayed_orders(session, workspace_id)
    rows = repository.enrolled_rows(session, activity.id)
    _date_replayed_enrollments(rows)
    made = 0
    this_day = today()
    group = next(
        (g for g in list_groups(session, workspace_id) if g.activity_id == activity.id),
        None,
    )
    for row in rows:
        enrolled_at = row.enrolled_at or row.created_at
        if group is not None and rng.random() < 0.8:  # opened the group's card in WeChat
            with clock.use_clock(clock.FrozenClock(enrolled_at)):
                join_group(session, workspace_id, group.id, row.member_id, source="share_ticket")
        diligence = rng.choice((0.95, 0.9, 0.8, 0.6, 0.35))
        day = max(activity.starts_on, enrolled_at.astimezone(BEIJING).date())
        while day < this_day:
            at = _checkin_at(day, enrolled_at, rng)
            if at is not None and rng.random() < diligence:
                with clock.use_clock(clock.FrozenClock(at)):
                    try:
                        check_in(
                            session,
                            workspace_id,
                            activity.id,
                            row.member_id,
                            text=rng.choice(TEXTS),
                            image_key=None,
                        )
                        made += 1
                    except SiyuError:  # already there (a second run)
                        pass
            day += timedelta(days=1)
        _restreak(session, row)
    return made


def _restreak(session: Session, row: Enrollment) -> None:
    """Counts and streaks from the accepted days (today's may have come before the past)."""
    days = repository.accepted_days(session, row.id)
    current, best = streaks(days)
    row.checkins, row.best_streak = len(days), best
    row.last_checkin_on = days[-1] if days else None
    row.streak = current if days and days[-1] >= today() - timedelta(days=1) else 0
    session.flush()


def replay_demo_history(session: Session, workspace_id: int, seed: int) -> int:
    """The past activity as history: some of today's members enrolled in it, checked in,
    were refunded by the rule; some came back, some stayed in its group, some were lost."""
    past = get_activity_by_code(session, workspace_id, DEMO_PREVIOUS)
    since = day_start(past.starts_on) - timedelta(days=30)
    until = day_start(past.ends_on) + timedelta(days=30)
    done = identity.tally_coded_events(
        session, workspace_id, ("activity.enroll",), [DEMO_PREVIOUS], since, until
    )
    if done:
        return 0
    rng = random.Random(seed)  # noqa: S311 - a reproducible demo
    current = get_activity_by_code(session, workspace_id, DEMO_CURRENT)
    came_back = [
        e.member_id
        for e in list_enrollments(session, workspace_id, current.id, limit=1000)
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
    group = next(g for g in list_groups(session, workspace_id) if g.activity_id == past.id)
    days = (past.ends_on - past.starts_on).days + 1
    for member_id in members:
        enrolled_at = _at(past.starts_on - timedelta(days=rng.randint(1, 5)), rng)
        channel = rng.choice(CHANNELS)
        enroll = {"code": DEMO_PREVIOUS, "amount": DEPOSIT}
        record = identity.record_event
        record(
            session, workspace_id, member_id, "activity.enroll", enrolled_at,
            channel=channel, props={"code": DEMO_PREVIOUS},
        )  # fmt: skip
        record(session, workspace_id, member_id, "pay.paid", enrolled_at, props=enroll)
        with clock.use_clock(clock.FrozenClock(enrolled_at)):
            join_group(session, workspace_id, group.id, member_id, source="share_ticket")
        diligence = rng.choice((0.95, 0.85, 0.7, 0.4, 0.2))
        checked = 0
        for offset in range(days):
            if rng.random() < diligence:
                day = past.starts_on + timedelta(days=offset)
                record(
                    session, workspace_id, member_id, "activity.checkin", _at(day, rng),
                    props={"code": DEMO_PREVIOUS, "day": day.isoformat()},
                )  # fmt: skip
                checked += 1
        after = day_start(past.ends_on + timedelta(days=2))
        if checked >= REQUIRED:
            record(session, workspace_id, member_id, "pay.refunded", after, props=enroll)
        if member_id not in came_back and rng.random() < 0.6:
            with clock.use_clock(clock.FrozenClock(after + timedelta(days=1))):
                leave_group(session, workspace_id, group.id, member_id)
    session.flush()
    return len(members)
