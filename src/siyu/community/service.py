"""Community rules inside one transaction: the matrix, enrollment, check-ins, settlement,
groups and service records. Nothing here calls WeChat: entrypoints ask Pay for payment
parameters and send refunds (through Pay's jobs) around these functions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from siyu.community.models import (
    Activity,
    ActivityStatus,
    Checkin,
    CheckinStatus,
    Enrollment,
    EnrollmentStatus,
    Evidence,
    Group,
    GroupMember,
    GroupPost,
    GroupState,
    LineStatus,
    RefundRule,
    Series,
    ServiceRecord,
    Settlement,
    SettlementLine,
    SettlementStatus,
    Theme,
)
from siyu.community.schemas import (
    ActivityCreate,
    ActivityFields,
    ActivityRead,
    ActivityUpdate,
    CheckinAnswer,
    CheckinRead,
    EnrollmentRead,
    GroupCreate,
    GroupPostIn,
    GroupPostRead,
    GroupRead,
    SeriesCreate,
    SeriesRead,
    ServiceRecordIn,
    ServiceRecordRead,
    SettlementLineRead,
    SettlementRead,
    ThemeCreate,
    ThemeRead,
    hhmm,
    minutes,
)
from siyu.core import clock
from siyu.core.errors import Conflict, Forbidden, Invalid, NotFound
from siyu.identity import service as identity
from siyu.wechat.pay import service as pay

BEIJING = ZoneInfo("Asia/Shanghai")
BLACKLIST = "blacklist"
REFERENCE_PREFIX = "activity:"
ACTOR = "community"
SETTLED_BY = "community:settlement"
HELD = (EnrollmentStatus.pending_payment, EnrollmentStatus.enrolled)
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


# --- matrix --------------------------------------------------------------------------------


def create_theme(session: Session, workspace_id: int, data: ThemeCreate) -> ThemeRead:
    if session.scalar(
        select(Theme.id).where(Theme.workspace_id == workspace_id, Theme.name == data.name)
    ):
        raise Conflict("community.theme_exists", f"a theme named {data.name!r} exists")
    theme = Theme(workspace_id=workspace_id, name=data.name, created_at=clock.now())
    session.add(theme)
    session.flush()
    return ThemeRead.model_validate(theme)


def list_themes(session: Session, workspace_id: int) -> list[ThemeRead]:
    query = select(Theme).where(Theme.workspace_id == workspace_id).order_by(Theme.id)
    return [ThemeRead.model_validate(t) for t in session.scalars(query)]


def create_series(session: Session, workspace_id: int, data: SeriesCreate) -> SeriesRead:
    theme = session.get(Theme, data.theme_id)
    if theme is None or theme.workspace_id != workspace_id:
        raise NotFound("community.theme_not_found", f"no theme {data.theme_id}")
    if session.scalar(
        select(Series.id).where(Series.theme_id == theme.id, Series.name == data.name)
    ):
        raise Conflict("community.series_exists", f"a series named {data.name!r} exists")
    series = Series(
        workspace_id=workspace_id, theme_id=theme.id, name=data.name, created_at=clock.now()
    )
    session.add(series)
    session.flush()
    return SeriesRead.model_validate(series)


def list_series(session: Session, workspace_id: int) -> list[SeriesRead]:
    query = select(Series).where(Series.workspace_id == workspace_id).order_by(Series.id)
    return [SeriesRead.model_validate(s) for s in session.scalars(query)]


def get_series(session: Session, workspace_id: int, series_id: int) -> SeriesRead:
    series = session.get(Series, series_id)
    if series is None or series.workspace_id != workspace_id:
        raise NotFound("community.series_not_found", f"no series {series_id}")
    return SeriesRead.model_validate(series)


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


def create_activity(
    session: Session, workspace_id: int, data: ActivityCreate, *, imported: bool = False
) -> ActivityRead:
    get_series(session, workspace_id, data.series_id)
    if _activity_id_by_code(session, workspace_id, data.code) is not None:
        raise Conflict("community.activity_exists", f"an activity with code {data.code} exists")
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
    session.add(activity)
    session.flush()
    return ActivityRead.model_validate(activity)


def _activity_id_by_code(session: Session, workspace_id: int, code: str) -> int | None:
    return session.scalar(
        select(Activity.id).where(Activity.workspace_id == workspace_id, Activity.code == code)
    )


def _activity(
    session: Session, workspace_id: int, activity_id: int, *, lock: bool = False
) -> Activity:
    query = select(Activity).where(Activity.id == activity_id)
    if lock:
        query = query.with_for_update()
    activity = session.scalars(query).first()
    if activity is None or activity.workspace_id != workspace_id:
        raise NotFound("community.activity_not_found", f"no activity {activity_id}")
    return activity


def get_activity(session: Session, workspace_id: int, activity_id: int) -> ActivityRead:
    return ActivityRead.model_validate(_activity(session, workspace_id, activity_id))


def get_activity_by_code(session: Session, workspace_id: int, code: str) -> ActivityRead:
    found = _activity_id_by_code(session, workspace_id, code)
    if found is None:
        raise NotFound("community.activity_not_found", f"no activity {code}")
    return get_activity(session, workspace_id, found)


def list_activities(
    session: Session,
    workspace_id: int,
    *,
    series_id: int | None = None,
    statuses: Sequence[ActivityStatus] | None = None,
) -> list[ActivityRead]:
    query = select(Activity).where(Activity.workspace_id == workspace_id)
    if series_id is not None:
        query = query.where(Activity.series_id == series_id)
    if statuses is not None:
        query = query.where(Activity.status.in_(list(statuses)))
    query = query.order_by(Activity.starts_on, Activity.id)
    return [ActivityRead.model_validate(a) for a in session.scalars(query)]


def update_activity(
    session: Session, workspace_id: int, activity_id: int, data: ActivityUpdate
) -> ActivityRead:
    activity = _activity(session, workspace_id, activity_id, lock=True)
    if activity.status == ActivityStatus.settled:
        raise Conflict("community.already_settled", "a settled activity cannot change")
    if data.status == ActivityStatus.settled:
        raise Invalid("community.settle_by_settlement", "an activity is settled by its settlement")
    changes = data.model_dump(exclude_unset=True)
    start = minutes(changes.pop("window_start", None) or hhmm(activity.window_start))
    end = minutes(changes.pop("window_end", None) or hhmm(activity.window_end))
    if end <= start:
        raise Invalid("community.invalid_window", "the daily window ends before it starts")
    if "capacity" in changes and changes["capacity"] is not None:
        held = _held(session, activity)
        if changes["capacity"] < held:
            raise Conflict(
                "community.capacity_below_enrolled",
                f"{held} places are taken; the capacity cannot go below that",
            )
    activity.window_start, activity.window_end = start, end
    for key, value in changes.items():
        if key == "title" and value is None:
            continue
        setattr(activity, key, value)
    activity.updated_at = clock.now()
    session.flush()
    return ActivityRead.model_validate(activity)


def end_activity_early(session: Session, workspace_id: int, activity_id: int) -> ActivityRead:
    """End an activity before its last day: its period ends yesterday (Beijing), enrollment
    closes and check-ins stop, so that it can be settled today.

    Check-ins already accepted today stay counted: they were made while the activity ran.
    """
    activity = _activity(session, workspace_id, activity_id, lock=True)
    if activity.status == ActivityStatus.settled:
        raise Conflict("community.already_settled", f"{activity.code} is settled already")
    yesterday = today() - timedelta(days=1)
    if activity.ends_on <= yesterday:
        raise Conflict(
            "community.activity_already_ended", f"{activity.code} ended on {activity.ends_on}"
        )
    if activity.starts_on > yesterday:
        raise Conflict(
            "community.activity_not_started",
            f"{activity.code} has not run a whole day (it starts on {activity.starts_on}); "
            "set it back to draft instead",
        )
    activity.ends_on, activity.status = yesterday, ActivityStatus.closed
    activity.updated_at = clock.now()
    session.flush()
    return ActivityRead.model_validate(activity)


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


# --- enrollment ----------------------------------------------------------------------------


def reference_of(code: str, member_id: int) -> str:
    return f"{REFERENCE_PREFIX}{code}:{member_id}"


def code_of_reference(reference: str) -> str | None:
    if not reference.startswith(REFERENCE_PREFIX):
        return None
    return reference[len(REFERENCE_PREFIX) :].rsplit(":", 1)[0] or None


def _held(session: Session, activity: Activity, order_minutes: int = 120) -> int:
    """Places taken: enrolled members and fresh unpaid enrollments (their order may be paid)."""
    fresh = clock.now() - timedelta(minutes=order_minutes)
    return (
        session.scalar(
            select(func.count())
            .select_from(Enrollment)
            .where(
                Enrollment.activity_id == activity.id,
                (Enrollment.status.in_([s for s in TAKEN if s != EnrollmentStatus.refunded]))
                | (
                    (Enrollment.status == EnrollmentStatus.pending_payment)
                    & (Enrollment.updated_at > fresh)
                ),
            )
        )
        or 0
    )


def is_blacklisted(session: Session, member_id: int) -> bool:
    return BLACKLIST in identity.member_tags(session, member_id)


@dataclass(frozen=True)
class EnrollStep:
    enrollment: EnrollmentRead
    order_id: int | None  # an order to pay (None: nothing to pay now)


def enroll(
    session: Session,
    workspace_id: int,
    activity_id: int,
    member_id: int,
    *,
    appid: str,
    openid: str | None = None,
    channel: str | None = None,
    order_minutes: int = 120,
) -> EnrollStep:
    """Enroll a member: waitlisted when full, enrolled at once when free, else an order to pay.

    Asking again while payment is due returns the same enrollment and its open order.
    """
    activity = _activity(session, workspace_id, activity_id, lock=True)
    if activity.status != ActivityStatus.open or today() > activity.ends_on:
        raise Conflict("community.enrollment_closed", f"enrollment in {activity.code} is closed")
    if is_blacklisted(session, member_id):
        raise Forbidden(
            "community.member_blacklisted",
            "this member is on the blacklist and cannot enroll; contact the team",
        )
    now = clock.now()
    row = session.scalars(
        select(Enrollment)
        .where(Enrollment.activity_id == activity.id, Enrollment.member_id == member_id)
        .with_for_update()
    ).first()
    if row is not None and row.status in TAKEN:
        raise Conflict(
            "community.already_enrolled",
            f"already enrolled in {activity.code} ({row.status})",
            data={"enrollment_id": row.id, "status": str(row.status)},
        )
    amount = activity.fee + activity.deposit
    if row is None:
        row = Enrollment(
            workspace_id=workspace_id,
            activity_id=activity.id,
            member_id=member_id,
            status=EnrollmentStatus.waitlisted,
            channel=channel,
            amount=amount,
            created_at=now,
            updated_at=now,
        )
        try:
            with session.begin_nested():
                session.add(row)
                session.flush()
        except IntegrityError:
            raise Conflict(
                "community.enrollment_in_progress", "an enrollment is being made; retry"
            ) from None
        taken_by_self = 0
    else:
        taken_by_self = int(row.status == EnrollmentStatus.pending_payment)
    if (
        activity.capacity is not None
        and _held(session, activity, order_minutes) - taken_by_self >= activity.capacity
    ):
        row.status, row.updated_at = EnrollmentStatus.waitlisted, now
        session.flush()
        return EnrollStep(EnrollmentRead.model_validate(row), None)
    if amount == 0:
        _mark_enrolled(session, activity, row, 0, now)
        return EnrollStep(EnrollmentRead.model_validate(row), None)
    order = pay.open_order(
        session,
        workspace_id,
        appid=appid,
        member_id=member_id,
        amount=amount,
        description=f"{activity.title}"[:100] + (" 押金" if activity.deposit else ""),
        reference=reference_of(activity.code, member_id),
        order_minutes=order_minutes,
        openid=openid,
    )
    row.status, row.order_id = EnrollmentStatus.pending_payment, order.id
    row.pay_reference = reference_of(activity.code, member_id)
    row.updated_at = now
    session.flush()
    return EnrollStep(EnrollmentRead.model_validate(row), order.id)


def _mark_enrolled(
    session: Session, activity: Activity, row: Enrollment, paid: int, at: datetime
) -> None:
    row.status, row.paid, row.enrolled_at, row.updated_at = (
        EnrollmentStatus.enrolled,
        paid,
        at,
        clock.now(),
    )
    identity.record_event(
        session,
        activity.workspace_id,
        row.member_id,
        "activity.enroll",
        at,
        channel=row.channel,
        props={"code": activity.code, "amount": paid, "activity_id": activity.id},
    )
    session.flush()


def on_order_paid(session: Session, event: pay.OrderPaid) -> None:
    """Pay confirmed an activity's order: the enrollment becomes enrolled, once."""
    if code_of_reference(event.reference) is None:
        return
    row = session.scalars(
        select(Enrollment).where(Enrollment.pay_reference == event.reference).with_for_update()
    ).first()
    if row is None or row.status not in (
        EnrollmentStatus.pending_payment,
        EnrollmentStatus.waitlisted,
    ):
        return
    activity = session.get(Activity, row.activity_id)
    assert activity is not None
    row.order_id = event.order_id
    _mark_enrolled(session, activity, row, event.amount, event.paid_at)


def on_refund_settled(session: Session, event: pay.RefundSettled) -> None:
    if code_of_reference(event.reference) is None or event.status != "succeeded":
        return
    session.execute(
        update(Enrollment)
        .where(Enrollment.pay_reference == event.reference)
        .values(status=EnrollmentStatus.refunded, updated_at=clock.now())
    )


def list_enrollments(
    session: Session,
    workspace_id: int,
    activity_id: int,
    *,
    status: EnrollmentStatus | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[EnrollmentRead]:
    _activity(session, workspace_id, activity_id)
    query = select(Enrollment).where(Enrollment.activity_id == activity_id)
    if status is not None:
        query = query.where(Enrollment.status == status)
    query = query.order_by(Enrollment.id).limit(limit).offset(offset)
    return [EnrollmentRead.model_validate(e) for e in session.scalars(query)]


def enrollment_counts(session: Session, activity_id: int) -> dict[str, int]:
    rows = session.execute(
        select(Enrollment.status, func.count())
        .where(Enrollment.activity_id == activity_id)
        .group_by(Enrollment.status)
    )
    return {str(status): n for status, n in rows}


def member_enrollments(
    session: Session, workspace_id: int, member_id: int
) -> list[tuple[ActivityRead, EnrollmentRead]]:
    rows = session.execute(
        select(Activity, Enrollment)
        .join(Enrollment, Enrollment.activity_id == Activity.id)
        .where(Enrollment.workspace_id == workspace_id, Enrollment.member_id == member_id)
        .order_by(Activity.starts_on.desc())
    )
    return [(ActivityRead.model_validate(a), EnrollmentRead.model_validate(e)) for a, e in rows]


# --- check-ins -----------------------------------------------------------------------------


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
    activity = _activity(session, workspace_id, activity_id)
    row = session.scalars(
        select(Enrollment)
        .where(Enrollment.activity_id == activity.id, Enrollment.member_id == member_id)
        .with_for_update()
    ).first()
    if row is None or row.status != EnrollmentStatus.enrolled:
        raise Forbidden(
            "community.not_enrolled", f"only enrolled members check in to {activity.code}"
        )
    now = clock.now()
    local = now.astimezone(BEIJING)
    day = local.date()
    if day < activity.starts_on:
        raise Conflict(
            "community.checkin_too_early", f"{activity.code} starts on {activity.starts_on}"
        )
    if day > activity.ends_on:
        raise Conflict("community.checkin_too_late", f"{activity.code} ended on {activity.ends_on}")
    minute = local.hour * 60 + local.minute
    if not activity.window_start <= minute < activity.window_end:
        window = f"{hhmm(activity.window_start)}–{hhmm(activity.window_end)}"
        code = (
            "community.checkin_too_early"
            if minute < activity.window_start
            else "community.checkin_too_late"
        )
        raise Conflict(
            code, f"check-ins are taken {window} (Beijing time)", data={"window": window}
        )
    text = (text or "").strip() or None
    need_text = activity.evidence in (Evidence.text, Evidence.both)
    need_image = activity.evidence in (Evidence.image, Evidence.both)
    if (need_text and not text) or (need_image and not image_key) or not (text or image_key):
        raise Invalid(
            "community.evidence_required",
            f"this check-in needs {activity.evidence} evidence",
            data={"evidence": str(activity.evidence)},
        )
    if session.scalar(
        select(Checkin.id).where(Checkin.enrollment_id == row.id, Checkin.day == day)
    ):
        raise Conflict("community.already_checked_in", f"already checked in on {day}")
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
            session.add(checkin)
            session.flush()
    except IntegrityError:
        raise Conflict("community.already_checked_in", f"already checked in on {day}") from None
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
    _activity(session, workspace_id, activity_id)
    query = select(Checkin).where(Checkin.activity_id == activity_id)
    if day is not None:
        query = query.where(Checkin.day == day)
    if status is not None:
        query = query.where(Checkin.status == status)
    query = query.order_by(Checkin.submitted_at.desc(), Checkin.id.desc()).limit(limit)
    return [CheckinRead.model_validate(c) for c in session.scalars(query.offset(offset))]


def _streaks(days: Sequence[date]) -> tuple[int, int]:
    """(streak ending on the last day, best streak) of sorted distinct days."""
    best = current = 0
    previous: date | None = None
    for day in days:
        current = current + 1 if previous == day - timedelta(days=1) else 1
        best, previous = max(best, current), day
    return current, best


def reject_checkin(
    session: Session, workspace_id: int, checkin_id: int, reason: str, *, operator_id: int
) -> CheckinRead:
    """Staff reject a check-in's evidence: it stops counting (before settlement only)."""
    checkin = session.scalars(
        select(Checkin).where(Checkin.id == checkin_id).with_for_update()
    ).first()
    if checkin is None:
        raise NotFound("community.checkin_not_found", f"no check-in {checkin_id}")
    activity = _activity(session, workspace_id, checkin.activity_id)
    if activity.status == ActivityStatus.settled:
        raise Conflict("community.already_settled", "the activity is settled")
    if checkin.status == CheckinStatus.rejected:
        raise Conflict("community.checkin_already_rejected", "this check-in is rejected already")
    checkin.status, checkin.reject_reason, checkin.reviewed_by = (
        CheckinStatus.rejected,
        reason.strip()[:200],
        operator_id,
    )
    row = session.get(Enrollment, checkin.enrollment_id, with_for_update=True)
    assert row is not None
    session.flush()
    days = list(
        session.scalars(
            select(Checkin.day)
            .where(Checkin.enrollment_id == row.id, Checkin.status == CheckinStatus.accepted)
            .order_by(Checkin.day)
        )
    )
    row.checkins = len(days)
    streak, best = _streaks(days)
    row.streak = streak if days and days[-1] == row.last_checkin_on else 0
    row.best_streak = best
    row.updated_at = clock.now()
    session.flush()
    return CheckinRead.model_validate(checkin)


# --- settlement ----------------------------------------------------------------------------


def refund_for(activity: Activity | ActivityRead, checkins: int, paid: int) -> tuple[int, str]:
    """The refund a member gets by the activity's rule, and why (never more than paid)."""
    deposit = min(activity.deposit, paid)
    required = activity.checkin_days_required
    rule = activity.refund_rule
    if deposit <= 0 or rule == RefundRule.none:
        return 0, "no refund by the rule"
    if rule == RefundRule.full_at_n:
        n = activity.refund_n or required
        if checkins >= n:
            return deposit, f"{checkins} check-ins ≥ {n}: full deposit"
        return 0, f"{checkins} check-ins < {n}: no refund"
    if rule == RefundRule.proportional:
        counted = min(checkins, required)
        return deposit * counted // required, f"{counted}/{required} of the deposit"
    steps = sorted(activity.refund_table, key=lambda s: int(s["min_days"]))
    percent = 0
    for step in steps:
        if checkins >= int(step["min_days"]):
            percent = int(step["percent"])
    return deposit * percent // 100, f"{checkins} check-ins: {percent}% of the deposit"


def _settlement(session: Session, activity_id: int, *, lock: bool = False) -> Settlement | None:
    query = select(Settlement).where(Settlement.activity_id == activity_id)
    if lock:
        query = query.with_for_update()
    return session.scalars(query).first()


def compute_settlement(session: Session, workspace_id: int, activity_id: int) -> SettlementRead:
    """Work out each member's refund (a draft staff confirm); computing again replaces it."""
    activity = _activity(session, workspace_id, activity_id, lock=True)
    existing = _settlement(session, activity.id, lock=True)
    if existing is not None and existing.status == SettlementStatus.confirmed:
        raise Conflict("community.already_settled", f"{activity.code} is settled already")
    if today() <= activity.ends_on:
        raise Conflict(
            "community.activity_not_ended", f"{activity.code} ends on {activity.ends_on}"
        )
    now = clock.now()
    if existing is None:
        existing = Settlement(
            activity_id=activity.id, status=SettlementStatus.draft, computed_at=now
        )
        session.add(existing)
        session.flush()
    else:
        session.execute(delete(SettlementLine).where(SettlementLine.settlement_id == existing.id))
    rows = session.execute(
        select(Enrollment.id, Enrollment.member_id, Enrollment.checkins, Enrollment.paid).where(
            Enrollment.activity_id == activity.id,
            Enrollment.status.in_(
                [EnrollmentStatus.enrolled, EnrollmentStatus.completed, EnrollmentStatus.failed]
            ),
        )
    ).all()
    lines = []
    total_paid = total_refund = 0
    for enrollment_id, member_id, checkins, paid in rows:
        refund, reason = refund_for(activity, checkins, paid)
        total_paid += paid
        total_refund += refund
        lines.append(
            {
                "settlement_id": existing.id,
                "enrollment_id": enrollment_id,
                "member_id": member_id,
                "checkins": checkins,
                "paid": paid,
                "refund": refund,
                "reason": reason[:120],
                "status": LineStatus.planned if refund else LineStatus.no_refund,
            }
        )
    for start in range(0, len(lines), 5000):
        session.execute(insert(SettlementLine), lines[start : start + 5000])
    existing.computed_at, existing.members = now, len(lines)
    existing.total_paid, existing.total_refund = total_paid, total_refund
    session.flush()
    return settlement_view(session, workspace_id, activity.id, limit=100)


def settlement_view(
    session: Session,
    workspace_id: int,
    activity_id: int,
    *,
    limit: int = 200,
    offset: int = 0,
    problems_only: bool = False,
) -> SettlementRead:
    """The settlement with its lines and, once confirmed, Pay's state of each refund."""
    activity = _activity(session, workspace_id, activity_id)
    settlement = _settlement(session, activity.id)
    if settlement is None:
        raise NotFound("community.no_settlement", f"{activity.code} has no settlement yet")
    view = SettlementRead.model_validate(settlement)
    refund_ids = list(
        session.scalars(
            select(SettlementLine.refund_id).where(
                SettlementLine.settlement_id == settlement.id, SettlementLine.refund_id.is_not(None)
            )
        )
    )
    states = pay.refund_states(session, [r for r in refund_ids if r is not None])
    outcome: dict[str, int] = {}
    for status, _error in states.values():
        outcome[status] = outcome.get(status, 0) + 1
    view.outcome = outcome
    query = select(SettlementLine).where(SettlementLine.settlement_id == settlement.id)
    if problems_only:
        troubled = [rid for rid, (s, _e) in states.items() if s not in ("succeeded", "processing")]
        query = query.where(SettlementLine.refund_id.in_(troubled))
    query = query.order_by(SettlementLine.id).limit(limit).offset(offset)
    for line in session.scalars(query):
        read = SettlementLineRead.model_validate(line)
        if line.refund_id in states:
            read.refund_status, read.refund_error = states[line.refund_id]
        view.lines.append(read)
    return view


@dataclass(frozen=True)
class Confirmed:
    settlement: SettlementRead
    refund_ids: list[int]


def confirm_settlement(
    session: Session, workspace_id: int, activity_id: int, *, operator_id: int | None
) -> Confirmed:
    """Staff confirm: each planned refund becomes a Pay refund (its out_refund_no fixed, so
    resending never pays twice); confirming again is refused."""
    activity = _activity(session, workspace_id, activity_id, lock=True)
    settlement = _settlement(session, activity.id, lock=True)
    if settlement is None:
        raise Conflict("community.no_settlement", "compute the settlement first")
    if settlement.status == SettlementStatus.confirmed:
        raise Conflict("community.already_settled", f"{activity.code} is settled already")
    lines = session.execute(
        select(
            SettlementLine.id,
            SettlementLine.enrollment_id,
            SettlementLine.refund,
            Enrollment.order_id,
            Enrollment.checkins,
        )
        .join(Enrollment, Enrollment.id == SettlementLine.enrollment_id)
        .where(SettlementLine.settlement_id == settlement.id)
    ).all()
    required = activity.checkin_days_required
    now = clock.now()
    # In bulk: a settlement of 20,000 members is confirmed within one request.
    for status, wanted in ((EnrollmentStatus.completed, True), (EnrollmentStatus.failed, False)):
        ids = [line[1] for line in lines if (line[4] >= required) == wanted]
        for start in range(0, len(ids), 1000):
            session.execute(
                update(Enrollment)
                .where(Enrollment.id.in_(ids[start : start + 1000]))
                .values(status=status, updated_at=now)
            )
    owed = [(line[0], line[3], line[2]) for line in lines if line[2] > 0 and line[3] is not None]
    made = pay.request_refunds(
        session,
        workspace_id,
        [pay.RefundAsk(order_id, refund) for _line, order_id, refund in owed],
        f"{activity.title}押金退还"[:80],
        requested_by=SETTLED_BY,
    )
    if made:
        session.execute(
            update(SettlementLine),
            [
                {"id": line_id, "status": LineStatus.requested, "refund_id": refund.id}
                for (line_id, _order, _amount), refund in zip(owed, made, strict=True)
            ],
        )
    refund_ids = [refund.id for refund in made]
    settlement.status, settlement.confirmed_at, settlement.confirmed_by = (
        SettlementStatus.confirmed,
        now,
        operator_id,
    )
    activity.status, activity.updated_at = ActivityStatus.settled, now
    session.flush()
    return Confirmed(settlement_view(session, workspace_id, activity.id, limit=100), refund_ids)


# --- groups --------------------------------------------------------------------------------


def _group(session: Session, workspace_id: int, group_id: int) -> Group:
    group = session.get(Group, group_id)
    if group is None or group.workspace_id != workspace_id:
        raise NotFound("community.group_not_found", f"no group {group_id}")
    return group


def _group_read(session: Session, group: Group) -> GroupRead:
    read = GroupRead.model_validate(group)
    read.members = (
        session.scalar(
            select(func.count())
            .select_from(GroupMember)
            .where(GroupMember.group_id == group.id, GroupMember.left_at.is_(None))
        )
        or 0
    )
    return read


def get_group(session: Session, workspace_id: int, group_id: int) -> GroupRead:
    return _group_read(session, _group(session, workspace_id, group_id))


def create_group(session: Session, workspace_id: int, data: GroupCreate) -> GroupRead:
    if data.activity_id is not None:
        _activity(session, workspace_id, data.activity_id)
        if session.scalar(select(Group.id).where(Group.activity_id == data.activity_id)):
            raise Conflict("community.group_exists", "this activity has its group already")
    if data.series_id is not None:
        get_series(session, workspace_id, data.series_id)
    if data.open_gid and session.scalar(select(Group.id).where(Group.open_gid == data.open_gid)):
        raise Conflict("community.group_exists", "a group with this openGId exists")
    now = clock.now()
    group = Group(
        workspace_id=workspace_id,
        activity_id=data.activity_id,
        series_id=data.series_id,
        name=data.name,
        open_gid=data.open_gid,
        state=GroupState.active,
        created_at=now,
        updated_at=now,
    )
    session.add(group)
    session.flush()
    return _group_read(session, group)


def list_groups(session: Session, workspace_id: int) -> list[GroupRead]:
    counts = dict(
        session.execute(
            select(GroupMember.group_id, func.count())
            .where(GroupMember.left_at.is_(None))
            .group_by(GroupMember.group_id)
        ).all()
    )
    out = []
    for group in session.scalars(
        select(Group).where(Group.workspace_id == workspace_id).order_by(Group.id)
    ):
        read = GroupRead.model_validate(group)
        read.members = counts.get(group.id, 0)
        out.append(read)
    return out


_MOVES = {
    GroupState.active: {GroupState.continuing, GroupState.archived, GroupState.dissolved},
    GroupState.continuing: {GroupState.active, GroupState.archived, GroupState.dissolved},
    GroupState.archived: {GroupState.active, GroupState.continuing},
    GroupState.dissolved: set(),
}


def set_group_state(
    session: Session, workspace_id: int, group_id: int, state: GroupState
) -> GroupRead:
    group = _group(session, workspace_id, group_id)
    if state != group.state and state not in _MOVES[group.state]:
        raise Conflict("community.group_state", f"a {group.state} group cannot become {state}")
    group.state, group.updated_at = state, clock.now()
    session.flush()
    return _group_read(session, group)


def _group_code(session: Session, group: Group) -> str | None:
    if group.activity_id is None:
        return None
    return session.scalar(select(Activity.code).where(Activity.id == group.activity_id))


def join_group(
    session: Session, workspace_id: int, group_id: int, member_id: int, *, source: str
) -> tuple[GroupRead, bool]:
    """Record a member in a group (again after leaving); (group, whether anything changed)."""
    group = _group(session, workspace_id, group_id)
    if group.state == GroupState.dissolved:
        raise Conflict("community.group_dissolved", "this group is dissolved")
    identity.get_member(session, workspace_id, member_id)
    row = session.scalars(
        select(GroupMember)
        .where(GroupMember.group_id == group.id, GroupMember.member_id == member_id)
        .with_for_update()
    ).first()
    now = clock.now()
    if row is not None and row.left_at is None:
        return _group_read(session, group), False
    if row is None:
        try:
            with session.begin_nested():
                session.add(
                    GroupMember(
                        group_id=group.id, member_id=member_id, source=source, joined_at=now
                    )
                )
                session.flush()
        except IntegrityError:
            return _group_read(session, group), False
    else:
        row.left_at, row.joined_at, row.source = None, now, source
    identity.record_event(
        session,
        workspace_id,
        member_id,
        "group.join",
        now,
        props={"code": _group_code(session, group), "group_id": group.id, "source": source},
    )
    session.flush()
    return _group_read(session, group), True


def leave_group(session: Session, workspace_id: int, group_id: int, member_id: int) -> GroupRead:
    group = _group(session, workspace_id, group_id)
    row = session.scalars(
        select(GroupMember).where(
            GroupMember.group_id == group.id, GroupMember.member_id == member_id
        )
    ).first()
    if row is None or row.left_at is not None:
        raise NotFound("community.not_in_group", "this member is not in the group")
    now = clock.now()
    row.left_at = now
    identity.record_event(
        session,
        workspace_id,
        member_id,
        "group.leave",
        now,
        props={"code": _group_code(session, group), "group_id": group.id},
    )
    session.flush()
    return _group_read(session, group)


def join_by_open_gid(
    session: Session, workspace_id: int, open_gid: str, member_id: int
) -> tuple[GroupRead, bool]:
    group_id = session.scalar(
        select(Group.id).where(Group.workspace_id == workspace_id, Group.open_gid == open_gid)
    )
    if group_id is None:
        raise NotFound("community.group_not_found", "no group of siyu has this openGId")
    return join_group(session, workspace_id, group_id, member_id, source="share_ticket")


def post_to_group(
    session: Session,
    workspace_id: int,
    group_id: int,
    data: GroupPostIn,
    *,
    operator_id: int | None,
) -> GroupPostRead:
    group = _group(session, workspace_id, group_id)
    if group.state in (GroupState.archived, GroupState.dissolved):
        raise Conflict("community.group_closed", f"this group is {group.state}")
    post = GroupPost(
        group_id=group.id,
        operator_id=operator_id,
        kind=data.kind,
        content=data.content,
        posted_at=clock.now(),
    )
    session.add(post)
    session.flush()
    return GroupPostRead.model_validate(post)


def list_posts(
    session: Session, workspace_id: int, group_id: int, limit: int = 100
) -> list[GroupPostRead]:
    _group(session, workspace_id, group_id)
    query = (
        select(GroupPost)
        .where(GroupPost.group_id == group_id)
        .order_by(GroupPost.posted_at.desc(), GroupPost.id.desc())
        .limit(limit)
    )
    return [GroupPostRead.model_validate(p) for p in session.scalars(query)]


def group_members(session: Session, workspace_id: int, group_id: int) -> list[int]:
    _group(session, workspace_id, group_id)
    return list(
        session.scalars(
            select(GroupMember.member_id)
            .where(GroupMember.group_id == group_id, GroupMember.left_at.is_(None))
            .order_by(GroupMember.joined_at)
        )
    )


# --- service records -----------------------------------------------------------------------


def add_service_record(
    session: Session, workspace_id: int, member_id: int, data: ServiceRecordIn, *, operator_id: int
) -> ServiceRecordRead:
    identity.get_member(session, workspace_id, member_id)
    record = ServiceRecord(
        workspace_id=workspace_id,
        member_id=member_id,
        operator_id=operator_id,
        kind=data.kind,
        text=data.text,
        created_at=clock.now(),
    )
    session.add(record)
    session.flush()
    return ServiceRecordRead.model_validate(record)


def service_records(
    session: Session, workspace_id: int, member_id: int, limit: int = 100
) -> list[ServiceRecordRead]:
    identity.get_member(session, workspace_id, member_id)
    query = (
        select(ServiceRecord)
        .where(ServiceRecord.workspace_id == workspace_id, ServiceRecord.member_id == member_id)
        .order_by(ServiceRecord.created_at.desc(), ServiceRecord.id.desc())
        .limit(limit)
    )
    return [ServiceRecordRead.model_validate(r) for r in session.scalars(query)]
