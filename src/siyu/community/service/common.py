"""What every topic of the community service shares: Beijing days, Pay references, the
activity and series lookups that refuse with the right code, and the audit entry."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy.orm import Session

from siyu.community import errors, repository
from siyu.community.enums import EnrollmentStatus
from siyu.community.models import Activity, Series
from siyu.community.schemas import SeriesRead
from siyu.core import clock
from siyu.core.clock import BEIJING
from siyu.security import service as security
from siyu.security.schemas import Principal

REFERENCE_PREFIX = "activity:"
# Places that count against capacity once taken (a refunded one is given back, see `held`).
TAKEN = (
    EnrollmentStatus.enrolled,
    EnrollmentStatus.completed,
    EnrollmentStatus.failed,
    EnrollmentStatus.refunded,
)


def today() -> date:
    return clock.now().astimezone(BEIJING).date()


def day_start(day: date) -> datetime:
    """Beijing midnight of `day`, as an aware datetime."""
    return datetime(day.year, day.month, day.day, tzinfo=BEIJING)


def reference_of(code: str, member_id: int) -> str:
    """The Pay reference of a member's enrollment in an activity (its order's and refunds')."""
    return f"{REFERENCE_PREFIX}{code}:{member_id}"


def code_of_reference(reference: str) -> str | None:
    if not reference.startswith(REFERENCE_PREFIX):
        return None
    return reference[len(REFERENCE_PREFIX) :].rsplit(":", 1)[0] or None


def activity_row(
    session: Session, workspace_id: int, activity_id: int, *, lock: bool = False
) -> Activity:
    """The workspace's activity (locked when asked), or community.activity_not_found."""
    activity = repository.get_activity(session, activity_id, lock=lock)
    if activity is None or activity.workspace_id != workspace_id:
        raise errors.ACTIVITY_NOT_FOUND(f"no activity {activity_id}")
    return activity


def series_row(session: Session, workspace_id: int, series_id: int) -> Series:
    series = session.get(Series, series_id)
    if series is None or series.workspace_id != workspace_id:
        raise errors.SERIES_NOT_FOUND(f"no series {series_id}")
    return series


def get_series(session: Session, workspace_id: int, series_id: int) -> SeriesRead:
    return SeriesRead.model_validate(series_row(session, workspace_id, series_id))


def operator_of(actor: Principal | str) -> int | None:
    """The operator acting (None when a program acts, named by a label)."""
    return actor.operator_id if isinstance(actor, Principal) else None


def audit(
    session: Session,
    workspace_id: int,
    actor: Principal | str,
    action: str,
    target: tuple[str, int] | None = None,
    *,
    detail: dict[str, Any] | None = None,
) -> None:
    """An operation's audit entry in the workspace, by an operator or by a program (a label)."""
    security.record_audit(
        session,
        actor,
        action,
        workspace_id=workspace_id,
        target_type=target[0] if target else None,
        target_id=target[1] if target else None,
        detail=detail,
    )
