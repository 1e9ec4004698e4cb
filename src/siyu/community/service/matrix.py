"""The matrix: themes → series → activities (and the groups of each), and the activity editor's
operations. `new_*` write without an audit entry (the demo and the import use them); the staff
operations `create_*`, `update_activity` and `end_activity_early` audit as their actor."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from siyu.community import errors, repository
from siyu.community.enums import ActivityStatus, RefundRule
from siyu.community.models import Activity, Series, Theme
from siyu.community.schemas import (
    ActivityCreate,
    ActivityFields,
    ActivityRead,
    ActivityUpdate,
    GroupRead,
    SeriesCreate,
    SeriesRead,
    ThemeCreate,
    ThemeRead,
    hhmm,
    minutes,
)
from siyu.community.service.common import activity_row, audit, get_series, today
from siyu.community.service.enrollment import held
from siyu.community.service.groups import list_groups
from siyu.core import clock
from siyu.core.money import format_yuan
from siyu.security.schemas import Principal

# --- themes and series ---------------------------------------------------------------------


def new_theme(session: Session, workspace_id: int, data: ThemeCreate) -> ThemeRead:
    if repository.theme_id_by_name(session, workspace_id, data.name):
        raise errors.THEME_EXISTS(f"a theme named {data.name!r} exists")
    theme = Theme(workspace_id=workspace_id, name=data.name, created_at=clock.now())
    repository.add(session, theme)
    return ThemeRead.model_validate(theme)


def create_theme(
    session: Session, workspace_id: int, data: ThemeCreate, *, actor: Principal | str
) -> ThemeRead:
    theme = new_theme(session, workspace_id, data)
    audit(session, workspace_id, actor, "community.theme_created", ("theme", theme.id))
    return theme


def list_themes(session: Session, workspace_id: int) -> list[ThemeRead]:
    return [ThemeRead.model_validate(t) for t in repository.list_themes(session, workspace_id)]


def new_series(session: Session, workspace_id: int, data: SeriesCreate) -> SeriesRead:
    theme = session.get(Theme, data.theme_id)
    if theme is None or theme.workspace_id != workspace_id:
        raise errors.THEME_NOT_FOUND(f"no theme {data.theme_id}")
    if repository.series_id_by_name(session, theme.id, data.name):
        raise errors.SERIES_EXISTS(f"a series named {data.name!r} exists")
    series = Series(
        workspace_id=workspace_id, theme_id=theme.id, name=data.name, created_at=clock.now()
    )
    repository.add(session, series)
    return SeriesRead.model_validate(series)


def create_series(
    session: Session, workspace_id: int, data: SeriesCreate, *, actor: Principal | str
) -> SeriesRead:
    series = new_series(session, workspace_id, data)
    audit(session, workspace_id, actor, "community.series_created", ("series", series.id))
    return series


def list_series(session: Session, workspace_id: int) -> list[SeriesRead]:
    return [SeriesRead.model_validate(s) for s in repository.list_series(session, workspace_id)]


# --- activities ----------------------------------------------------------------------------


def _fields(data: ActivityFields) -> dict[str, Any]:
    return {
        "title": data.title,
        "starts_on": data.starts_on,
        "ends_on": data.ends_on,
        "capacity": data.capacity,
        "fee": data.fee,
        "deposit": data.deposit,
        "checkin_days_required": data.checkin_days_required,
        "window_start": minutes(data.window_start),
        "window_end": minutes(data.window_end),
        "evidence": data.evidence,
        "refund_rule": data.refund_rule,
        "refund_n": data.refund_n,
        "refund_table": [step.model_dump() for step in data.refund_table],
    }


def new_activity(
    session: Session, workspace_id: int, data: ActivityCreate, *, imported: bool = False
) -> ActivityRead:
    get_series(session, workspace_id, data.series_id)
    if repository.activity_id_by_code(session, workspace_id, data.code) is not None:
        raise errors.ACTIVITY_EXISTS(f"an activity with code {data.code} exists")
    now = clock.now()
    activity = Activity(
        workspace_id=workspace_id,
        series_id=data.series_id,
        code=data.code,
        status=data.status,
        imported=imported,
        created_at=now,
        updated_at=now,
        **_fields(data),
    )
    repository.add(session, activity)
    return ActivityRead.model_validate(activity)


def create_activity(
    session: Session, workspace_id: int, data: ActivityCreate, *, actor: Principal | str
) -> ActivityRead:
    """A new activity from the editor or the API (an imported history's go through
    `new_activity`, as they were)."""
    if data.refund_rule == RefundRule.none and data.deposit > 0:
        raise errors.DEPOSIT_NOT_REFUNDABLE(
            "a deposit never refunded is a fee: set it as the fee, or choose a refund rule",
            deposit=format_yuan(data.deposit),
        )
    activity = new_activity(session, workspace_id, data)
    detail = {"fee": activity.fee, "deposit": activity.deposit}
    audit(
        session,
        workspace_id,
        actor,
        "community.activity_created",
        ("activity", activity.id),
        detail=detail,
    )
    return activity


def get_activity(session: Session, workspace_id: int, activity_id: int) -> ActivityRead:
    return ActivityRead.model_validate(activity_row(session, workspace_id, activity_id))


def get_activity_by_code(session: Session, workspace_id: int, code: str) -> ActivityRead:
    found = repository.activity_id_by_code(session, workspace_id, code)
    if found is None:
        raise errors.ACTIVITY_NOT_FOUND(f"no activity {code}")
    return get_activity(session, workspace_id, found)


def list_activities(
    session: Session,
    workspace_id: int,
    *,
    series_id: int | None = None,
    statuses: Sequence[ActivityStatus] | None = None,
) -> list[ActivityRead]:
    rows = repository.list_activities(session, workspace_id, series_id=series_id, statuses=statuses)
    return [ActivityRead.model_validate(a) for a in rows]


def update_activity(
    session: Session,
    workspace_id: int,
    activity_id: int,
    data: ActivityUpdate,
    *,
    actor: Principal | str,
) -> ActivityRead:
    """Change what may change once people enrolled: title, status, capacity, daily window."""
    activity = activity_row(session, workspace_id, activity_id, lock=True)
    if activity.status == ActivityStatus.settled:
        raise errors.ALREADY_SETTLED("a settled activity cannot change")
    if data.status == ActivityStatus.settled:
        raise errors.SETTLE_BY_SETTLEMENT("an activity is settled by its settlement")
    changes = data.model_dump(exclude_unset=True)
    start = minutes(changes.pop("window_start", None) or hhmm(activity.window_start))
    end = minutes(changes.pop("window_end", None) or hhmm(activity.window_end))
    if end <= start:
        raise errors.INVALID_WINDOW("the daily window ends before it starts")
    if "capacity" in changes and changes["capacity"] is not None:
        taken = held(session, activity)
        if changes["capacity"] < taken:
            raise errors.CAPACITY_BELOW_ENROLLED(
                f"{taken} places are taken; the capacity cannot go below that"
            )
    activity.window_start, activity.window_end = start, end
    for key, value in changes.items():
        if key == "title" and value is None:
            continue
        setattr(activity, key, value)
    activity.updated_at = clock.now()
    session.flush()
    detail = {"fields": sorted(data.model_dump(exclude_unset=True))}
    audit(
        session,
        workspace_id,
        actor,
        "community.activity_updated",
        ("activity", activity_id),
        detail=detail,
    )
    return ActivityRead.model_validate(activity)


def end_activity_early(
    session: Session, workspace_id: int, activity_id: int, *, actor: Principal | str
) -> ActivityRead:
    """End an activity before its last day: its period ends yesterday (Beijing), enrollment
    closes and check-ins stop, so that it can be settled today.

    Check-ins already accepted today stay counted: they were made while the activity ran.
    """
    activity = activity_row(session, workspace_id, activity_id, lock=True)
    if activity.status == ActivityStatus.settled:
        raise errors.ALREADY_SETTLED(f"{activity.code} is settled already")
    yesterday = today() - timedelta(days=1)
    if activity.ends_on <= yesterday:
        raise errors.ACTIVITY_ALREADY_ENDED(f"{activity.code} ended on {activity.ends_on}")
    if activity.starts_on > yesterday:
        raise errors.ACTIVITY_NOT_STARTED(
            f"{activity.code} has not run a whole day (it starts on {activity.starts_on}); "
            "set it back to draft instead"
        )
    days_cut = (activity.ends_on - yesterday).days
    activity.ends_on, activity.status = yesterday, ActivityStatus.closed
    activity.updated_at = clock.now()
    session.flush()
    # Days cut, not dates: an audit detail holds counts and ids (dates read as phone numbers).
    detail = {"days_cut": days_cut}
    audit(
        session,
        workspace_id,
        actor,
        "community.activity_ended_early",
        ("activity", activity_id),
        detail=detail,
    )
    return ActivityRead.model_validate(activity)


# --- the matrix ----------------------------------------------------------------------------


@dataclass
class MatrixSeries:
    series: SeriesRead
    activities: list[ActivityRead]
    groups: list[GroupRead]


@dataclass
class MatrixTheme:
    theme: ThemeRead
    series: list[MatrixSeries]


def matrix(session: Session, workspace_id: int) -> list[MatrixTheme]:
    """Themes → series → activities (and the groups of each series and activity)."""
    activities = list_activities(session, workspace_id)
    groups = list_groups(session, workspace_id)
    by_activity = {a.id: a.series_id for a in activities}
    out: list[MatrixTheme] = []
    all_series = list_series(session, workspace_id)
    for theme in list_themes(session, workspace_id):
        rows = []
        for series in (s for s in all_series if s.theme_id == theme.id):
            rows.append(
                MatrixSeries(
                    series,
                    [a for a in activities if a.series_id == series.id],
                    [
                        g
                        for g in groups
                        if g.series_id == series.id
                        or (
                            g.activity_id is not None
                            and by_activity.get(g.activity_id) == series.id
                        )
                    ],
                )
            )
        out.append(MatrixTheme(theme, rows))
    return out
