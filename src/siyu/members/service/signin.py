"""Daily sign-in (签到): once per member and Beijing day (a unique key: a second sign-in the
same day is refused and writes nothing), a streak that a missed day resets, the policy's
points plus a bonus on the streak's days (e.g. day 7), earned through the ledger (the
`signin` rule's caps and growth apply when there is one; the level's multiplier too)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy.orm import Session

from siyu.core import clock
from siyu.members import errors
from siyu.members import points_repository as repo
from siyu.members.enums import EarnTrigger
from siyu.members.schemas import PolicyRead, SigninCalendar, SigninRead
from siyu.members.service.points import Earn, earn
from siyu.members.service.policy import beijing_day, get_policy


@dataclass(frozen=True)
class SigninPreview:
    """What signing in today gives (or gave): the OA's passive reply reads it."""

    signed_today: bool
    streak: int
    points: int
    bonus: int


def bonus_for(policy: PolicyRead, streak: int) -> int:
    """The bonus of a streak's day; the bonuses repeat after the longest one (day 7, 14…)."""
    if not policy.streak_bonuses or streak <= 0:
        return 0
    cycle = max(policy.streak_bonuses)
    return policy.streak_bonuses.get((streak - 1) % cycle + 1, 0)


def _streak_before(session: Session, member_id: int, day: date) -> int:
    yesterday = repo.get_signin(session, member_id, day - timedelta(days=1))
    return yesterday.streak if yesterday is not None else 0


def preview(session: Session, workspace_id: int, member_id: int) -> SigninPreview:
    policy = get_policy(session, workspace_id)
    today = beijing_day(clock.now())
    done = repo.get_signin(session, member_id, today)
    if done is not None:
        return SigninPreview(True, done.streak, done.points, bonus_for(policy, done.streak))
    streak = _streak_before(session, member_id, today) + 1
    bonus = bonus_for(policy, streak)
    return SigninPreview(False, streak, policy.signin_points + bonus, bonus)


def sign_in(session: Session, workspace_id: int, member_id: int, channel: str) -> SigninRead:
    """Sign the member in for today (Beijing). A second sign-in the same day (from the MP or
    the OA) is `members.already_signed_in` (409), nothing written."""
    policy = get_policy(session, workspace_id)
    now = clock.now()
    today = beijing_day(now)
    streak = _streak_before(session, member_id, today) + 1
    bonus = bonus_for(policy, streak)
    signin_id = repo.add_signin(
        session,
        {
            "workspace_id": workspace_id,
            "member_id": member_id,
            "day": today,
            "streak": streak,
            "points": 0,
            "channel": channel,
            "created_at": now,
        },
    )
    if signin_id is None:
        raise errors.ALREADY_SIGNED_IN(
            f"member {member_id} signed in on {today}", day=today.isoformat()
        )
    earned = earn(
        session,
        workspace_id,
        Earn(
            member_id,
            EarnTrigger.signin,
            f"signin:{member_id}:{today.isoformat()}",
            points=policy.signin_points + bonus,
            actor=f"{channel}:member:{member_id}",
        ),
    )
    row = repo.get_signin(session, member_id, today)
    assert row is not None
    row.points = earned.points
    session.flush()
    balance = repo.get_account(session, member_id)
    return SigninRead(
        day=today,
        streak=streak,
        points=earned.points,
        bonus=bonus,
        balance=balance.balance if balance is not None else 0,
    )


def signin_calendar(
    session: Session, workspace_id: int, member_id: int, month: str | None = None
) -> SigninCalendar:
    """The days of a month (Beijing; this month by default) the member signed in."""
    today = beijing_day(clock.now())
    if month is None:
        first = today.replace(day=1)
    else:
        year, mon = (int(p) for p in month.split("-"))
        first = date(year, mon, 1)
    last = (first.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
    days = [s.day for s in repo.list_signins(session, member_id, first, last)]
    now = preview(session, workspace_id, member_id)
    current = now.streak if now.signed_today else now.streak - 1
    return SigninCalendar(
        month=first.strftime("%Y-%m"),
        days=days,
        signed_today=now.signed_today,
        streak=current,
        today_points=now.points,
    )
