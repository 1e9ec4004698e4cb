"""The review (复盘) of an activity and of a series, read from the members' timeline.

Native activities and imported history land on the same timeline (`activity.enroll`,
`activity.checkin`, `group.join|leave` with props.code; `pay.paid|refunded` with props.code,
or the Pay reference of a native order), so both are reviewed by the same code.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta

from sqlalchemy.orm import Session

from siyu.community.schemas import (
    ActivityRead,
    ActivityReview,
    DayRate,
    Retention,
    SeriesReview,
)
from siyu.community.service.common import code_of_reference, day_start, get_series, today
from siyu.community.service.matrix import get_activity_by_code, list_activities
from siyu.core.clock import BEIJING
from siyu.identity import service as identity

MARGIN = timedelta(days=180)  # enrollments open (and refunds land) around the period
ACTIVE_AFTER_DAYS = 7
NAMES = ("activity.enroll", "activity.checkin", "group.join", "group.leave")


class _Facts:
    """What the timeline says about one activity code."""

    def __init__(self) -> None:
        self.enrolled: set[int] = set()
        self.channel: dict[int, str] = {}
        self.checkin_days: dict[int, int] = defaultdict(int)
        self.joins: dict[int, int] = defaultdict(int)
        self.leaves: dict[int, int] = defaultdict(int)

    @property
    def in_group(self) -> set[int]:
        return {m for m, n in self.joins.items() if n > self.leaves.get(m, 0)}


def _facts(
    session: Session, workspace_id: int, activities: list[ActivityRead]
) -> dict[str, _Facts]:
    facts = {a.code: _Facts() for a in activities}
    since = day_start(min(a.starts_on for a in activities)) - MARGIN
    until = day_start(max(a.ends_on for a in activities)) + MARGIN
    rows = identity.tally_coded_events(
        session, workspace_id, NAMES, list(facts), since, until, tz=str(BEIJING)
    )
    for code, name, member_id, channel, days, events in rows:
        fact = facts[code]
        if name == "activity.enroll":
            fact.enrolled.add(member_id)
            if channel or member_id not in fact.channel:
                fact.channel[member_id] = channel or "direct"
        elif name == "activity.checkin":
            fact.checkin_days[member_id] += days
        elif name == "group.join":
            fact.joins[member_id] += events
        else:
            fact.leaves[member_id] += events
    return facts


def _money(session: Session, workspace_id: int, activity: ActivityRead) -> tuple[int, int]:
    since = day_start(activity.starts_on) - MARGIN
    until = day_start(activity.ends_on) + MARGIN
    paid = refunded = 0
    for _member, name, props in identity.event_props(
        session, workspace_id, ("pay.paid", "pay.refunded"), since, until
    ):
        code = props.get("code") or code_of_reference(str(props.get("reference") or ""))
        if code != activity.code:
            continue
        amount = props.get("amount")
        if not isinstance(amount, int):
            continue
        if name == "pay.paid":
            paid += amount
        else:
            refunded += amount
    return paid, refunded


def _ratio(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def _previous(session: Session, workspace_id: int, activity: ActivityRead) -> ActivityRead | None:
    earlier = [
        a
        for a in list_activities(session, workspace_id, series_id=activity.series_id)
        if a.starts_on < activity.starts_on
    ]
    return max(earlier, key=lambda a: (a.starts_on, a.id)) if earlier else None


def activity_review(
    session: Session,
    workspace_id: int,
    code: str,
    *,
    previous: str | None = None,
    active_after_days: int = ACTIVE_AFTER_DAYS,
) -> ActivityReview:
    activity = get_activity_by_code(session, workspace_id, code)
    before = (
        get_activity_by_code(session, workspace_id, previous)
        if previous
        else _previous(session, workspace_id, activity)
    )
    facts = _facts(session, workspace_id, [activity] + ([before] if before else []))
    mine = facts[activity.code]
    enrolled = mine.enrolled
    by_channel: dict[str, int] = defaultdict(int)
    for member_id in enrolled:
        by_channel[mine.channel.get(member_id, "direct")] += 1
    per_day = identity.tally_coded_days(
        session,
        workspace_id,
        "activity.checkin",
        activity.code,
        day_start(activity.starts_on),
        day_start(activity.ends_on + timedelta(days=1)),
        tz=str(BEIJING),
    )
    rates = []
    day = activity.starts_on
    # Days still to come have no rate yet: a running activity's chart stops today.
    last = min(activity.ends_on, today())
    while day <= last:
        count = per_day.get(day.isoformat(), 0)
        rates.append(DayRate(day=day, members=count, rate=_ratio(count, len(enrolled))))
        day += timedelta(days=1)
    required = activity.checkin_days_required
    completed = sum(1 for m in enrolled if mine.checkin_days.get(m, 0) >= required)
    after = day_start(activity.ends_on + timedelta(days=active_after_days))
    active = identity.members_active_since(session, workspace_id, "mp.", after) & enrolled
    paid, refunded = _money(session, workspace_id, activity)
    retention = None
    if before is not None:
        theirs = facts[before.code]
        came = theirs.enrolled & enrolled
        rest = theirs.enrolled - enrolled
        in_group = theirs.in_group & rest
        alive = identity.members_active_since(
            session, workspace_id, "mp.", day_start(before.ends_on + timedelta(days=1))
        )
        stayed = in_group | (alive & rest)
        retention = Retention(
            previous=before.code,
            previous_members=len(theirs.enrolled),
            re_enrolled=len(came),
            re_enrollment_rate=_ratio(len(came), len(theirs.enrolled)),
            stayed=len(stayed),
            stayed_in_group=len(in_group),
            lost=len(rest - stayed),
        )
    return ActivityReview(
        code=activity.code,
        title=activity.title,
        starts_on=activity.starts_on,
        ends_on=activity.ends_on,
        enrollments=len(enrolled),
        by_channel=dict(sorted(by_channel.items())),
        paid_total=paid,
        refunded_total=refunded,
        checkin_rate_by_day=rates,
        completed=completed,
        completion_rate=_ratio(completed, len(enrolled)),
        active_after_days=active_after_days,
        active_after=len(active),
        group_members=len(mine.in_group),
        retention=retention,
    )


def series_review(session: Session, workspace_id: int, series_id: int) -> SeriesReview:
    series = get_series(session, workspace_id, series_id)
    activities = list_activities(session, workspace_id, series_id=series_id)
    reviews = []
    previous: str | None = None
    for activity in activities:
        reviews.append(activity_review(session, workspace_id, activity.code, previous=previous))
        previous = activity.code
    return SeriesReview(series_id=series.id, name=series.name, activities=reviews)
