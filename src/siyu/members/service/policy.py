"""The workspace's points policy and the calendar it reads: Beijing days, level periods,
when earned points expire."""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy.orm import Session

from siyu.core.clock import BEIJING
from siyu.members import points_repository as repo
from siyu.members.enums import ExpiryMode
from siyu.members.models import PointsPolicy
from siyu.members.schemas import PolicyRead

# --- days and periods (Beijing) --------------------------------------------------------------


def beijing_day(at: datetime) -> date:
    return at.astimezone(BEIJING).date()


def day_end(day: date) -> datetime:
    """The first instant after a Beijing day, in UTC."""
    return datetime.combine(day + timedelta(days=1), time(), BEIJING).astimezone(UTC)


def add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day.day, last))


def period_start(day: date, months: int) -> date:
    """The first day of the level period holding `day` (calendar periods of `months`)."""
    return date(day.year, (day.month - 1) // months * months + 1, 1)


def period_end(start: date, months: int) -> date:
    return add_months(start, months) - timedelta(days=1)


def expiry_of(policy: PolicyRead, at: datetime) -> datetime | None:
    """When points earned at `at` expire: the end of the Beijing day N months later, or of the
    next fixed day of the year after the day they were earned."""
    day = beijing_day(at)
    if policy.expiry_mode == ExpiryMode.never:
        return None
    if policy.expiry_mode == ExpiryMode.fixed and policy.expiry_fixed_day:
        month, dom = (int(part) for part in policy.expiry_fixed_day.split("-"))
        for year in (day.year, day.year + 1, day.year + 2):
            last = calendar.monthrange(year, month)[1]
            candidate = date(year, month, min(dom, last))
            if candidate > day:
                return day_end(candidate)
    return day_end(add_months(day, policy.expiry_months))


def policy_read(row: PointsPolicy | None) -> PolicyRead:
    if row is None:
        return PolicyRead()
    return PolicyRead(
        expiry_mode=row.expiry_mode,
        expiry_months=row.expiry_months,
        expiry_fixed_day=row.expiry_fixed_day,
        reminder_days=row.reminder_days,
        reminder_template=row.reminder_template,
        signin_points=row.signin_points,
        streak_bonuses={int(k): int(v) for k, v in row.streak_bonuses.items()},
        level_period_months=row.level_period_months,
        level_notice_days=row.level_notice_days,
        level_notice_template=row.level_notice_template,
        updated_at=row.updated_at,
    )


def get_policy(session: Session, workspace_id: int) -> PolicyRead:
    """The workspace's points policy (the defaults until staff set one)."""
    return policy_read(repo.get_policy(session, workspace_id))


def policy_workspaces(session: Session) -> list[int]:
    """Workspaces that set a points policy (the daily jobs visit these)."""
    return repo.workspaces_with_policy(session)
