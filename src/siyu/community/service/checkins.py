"""Check-ins: one per member per day inside the activity's days and daily window, counted with
streaks; staff may reject one's evidence before the settlement (audited)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from siyu.community import errors, repository
from siyu.community.enums import ActivityStatus, CheckinStatus, EnrollmentStatus, Evidence
from siyu.community.models import Checkin, Enrollment
from siyu.community.schemas import CheckinAnswer, CheckinRead, hhmm
from siyu.community.service.common import activity_row, audit, operator_of
from siyu.core import clock
from siyu.core.clock import BEIJING
from siyu.identity import service as identity
from siyu.security.schemas import Principal

# How a check-in's evidence reads in the refusal's Chinese text.
_EVIDENCE_ZH = {
    Evidence.text: "文字",
    Evidence.image: "图片",
    Evidence.either: "文字或图片",
    Evidence.both: "文字和图片",
}


def check_in(
    session: Session,
    workspace_id: int,
    activity_id: int,
    member_id: int,
    *,
    text: str | None,
    image_key: str | None,
) -> CheckinAnswer:
    """One check-in per member per day, inside the activity's days and daily window."""
    activity = activity_row(session, workspace_id, activity_id)
    row = repository.get_enrollment(session, activity.id, member_id, lock=True)
    if row is None or row.status != EnrollmentStatus.enrolled:
        raise errors.NOT_ENROLLED(
            f"only enrolled members check in to {activity.code}", activity=activity.code
        )
    now = clock.now()
    local = now.astimezone(BEIJING)
    day = local.date()
    if day < activity.starts_on:
        raise errors.CHECKIN_TOO_EARLY(
            f"{activity.code} starts on {activity.starts_on}",
            when=f"活动 {activity.starts_on} 开始",
        )
    if day > activity.ends_on:
        raise errors.CHECKIN_TOO_LATE(
            f"{activity.code} ended on {activity.ends_on}", when=f"活动已于 {activity.ends_on} 结束"
        )
    minute = local.hour * 60 + local.minute
    if not activity.window_start <= minute < activity.window_end:
        window = f"{hhmm(activity.window_start)}–{hhmm(activity.window_end)}"
        refusal = (
            errors.CHECKIN_TOO_EARLY if minute < activity.window_start else errors.CHECKIN_TOO_LATE
        )
        raise refusal(
            f"check-ins are taken {window} (Beijing time)",
            data={"window": window},
            when=f"每天 {window}（北京时间）打卡",
        )
    text = (text or "").strip() or None
    need_text = activity.evidence in (Evidence.text, Evidence.both)
    need_image = activity.evidence in (Evidence.image, Evidence.both)
    if (need_text and not text) or (need_image and not image_key) or not (text or image_key):
        raise errors.EVIDENCE_REQUIRED(
            f"this check-in needs {activity.evidence} evidence",
            data={"evidence": str(activity.evidence)},
            evidence=_EVIDENCE_ZH[activity.evidence],
        )
    if repository.checkin_id_on(session, row.id, day):
        raise errors.ALREADY_CHECKED_IN(f"already checked in on {day}", day=day.isoformat())
    checkin = Checkin(
        activity_id=activity.id,
        enrollment_id=row.id,
        member_id=member_id,
        day=day,
        text=text,
        image_key=image_key,
        status=CheckinStatus.accepted,
        submitted_at=now,
    )
    try:
        with session.begin_nested():
            repository.add(session, checkin)
    except IntegrityError:
        raise errors.ALREADY_CHECKED_IN(
            f"already checked in on {day}", day=day.isoformat()
        ) from None
    row.streak = row.streak + 1 if row.last_checkin_on == day - timedelta(days=1) else 1
    row.best_streak = max(row.best_streak, row.streak)
    row.checkins += 1
    row.last_checkin_on, row.updated_at = day, now
    identity.record_event(
        session,
        workspace_id,
        member_id,
        "activity.checkin",
        now,
        props={"code": activity.code, "day": day.isoformat(), "streak": row.streak},
    )
    session.flush()
    return CheckinAnswer(
        checkin=CheckinRead.model_validate(checkin),
        checkins=row.checkins,
        streak=row.streak,
        best_streak=row.best_streak,
    )


def list_checkins(
    session: Session,
    workspace_id: int,
    activity_id: int,
    *,
    day: date | None = None,
    status: CheckinStatus | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[CheckinRead]:
    activity_row(session, workspace_id, activity_id)
    rows = repository.list_checkins(
        session, activity_id, day=day, status=status, limit=limit, offset=offset
    )
    return [CheckinRead.model_validate(c) for c in rows]


def streaks(days: Sequence[date]) -> tuple[int, int]:
    """(streak ending on the last day, best streak) of sorted distinct days."""
    best = current = 0
    previous: date | None = None
    for day in days:
        current = current + 1 if previous == day - timedelta(days=1) else 1
        best, previous = max(best, current), day
    return current, best


def reject_checkin(
    session: Session, workspace_id: int, checkin_id: int, reason: str, *, actor: Principal | str
) -> CheckinRead:
    """Staff reject a check-in's evidence: it stops counting (before settlement only)."""
    checkin = repository.get_checkin(session, checkin_id, lock=True)
    if checkin is None:
        raise errors.CHECKIN_NOT_FOUND(f"no check-in {checkin_id}")
    activity = activity_row(session, workspace_id, checkin.activity_id)
    if activity.status == ActivityStatus.settled:
        raise errors.ALREADY_SETTLED("the activity is settled")
    if checkin.status == CheckinStatus.rejected:
        raise errors.CHECKIN_ALREADY_REJECTED("this check-in is rejected already")
    checkin.status, checkin.reject_reason, checkin.reviewed_by = (
        CheckinStatus.rejected,
        reason.strip()[:200],
        operator_of(actor),
    )
    row = session.get(Enrollment, checkin.enrollment_id, with_for_update=True)
    assert row is not None
    session.flush()
    days = repository.accepted_days(session, row.id)
    row.checkins = len(days)
    streak, best = streaks(days)
    row.streak = streak if days and days[-1] == row.last_checkin_on else 0
    row.best_streak = best
    row.updated_at = clock.now()
    session.flush()
    detail = {"member_id": checkin.member_id}
    audit(
        session,
        workspace_id,
        actor,
        "community.checkin_rejected",
        ("checkin", checkin_id),
        detail=detail,
    )
    return CheckinRead.model_validate(checkin)
