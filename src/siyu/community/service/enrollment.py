"""Paid enrollment: places held against capacity, the Pay order, and the notifications of Pay
(paid, refunded) that move an enrollment on. Nothing here calls WeChat: the Mini Program's
route asks Pay for the payment parameters after this transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from siyu.community import errors, repository
from siyu.community.enums import ActivityStatus, EnrollmentStatus
from siyu.community.models import Activity, Enrollment
from siyu.community.schemas import ActivityRead, EnrollmentRead
from siyu.community.service.common import (
    TAKEN,
    activity_row,
    code_of_reference,
    reference_of,
    today,
)
from siyu.core import clock
from siyu.identity import service as identity
from siyu.wechat.pay import service as pay

BLACKLIST = "blacklist"  # the member tag that bars enrollment


def held(session: Session, activity: Activity, order_minutes: int = 120) -> int:
    """Places taken: enrolled members and fresh unpaid enrollments (their order may be paid)."""
    fresh = clock.now() - timedelta(minutes=order_minutes)
    taken = [s for s in TAKEN if s != EnrollmentStatus.refunded]
    return repository.count_held(session, activity.id, taken, fresh)


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
    activity = activity_row(session, workspace_id, activity_id, lock=True)
    if activity.status != ActivityStatus.open or today() > activity.ends_on:
        raise errors.ENROLLMENT_CLOSED(
            f"enrollment in {activity.code} is closed", activity=activity.code
        )
    if is_blacklisted(session, member_id):
        raise errors.MEMBER_BLACKLISTED(
            "this member is on the blacklist and cannot enroll; contact the team"
        )
    now = clock.now()
    row = repository.get_enrollment(session, activity.id, member_id, lock=True)
    if row is not None and row.status in TAKEN:
        raise errors.ALREADY_ENROLLED(
            f"already enrolled in {activity.code} ({row.status})",
            data={"enrollment_id": row.id, "status": str(row.status)},
            activity=activity.code,
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
                repository.add(session, row)
        except IntegrityError:
            raise errors.ENROLLMENT_IN_PROGRESS("an enrollment is being made; retry") from None
        taken_by_self = 0
    else:
        taken_by_self = int(row.status == EnrollmentStatus.pending_payment)
    if (
        activity.capacity is not None
        and held(session, activity, order_minutes) - taken_by_self >= activity.capacity
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
    row = repository.get_enrollment_by_reference(session, event.reference)
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
    """Pay settled a refund of an activity's order: the enrollment is refunded."""
    if code_of_reference(event.reference) is None or event.status != "succeeded":
        return
    repository.set_status_by_reference(
        session, event.reference, EnrollmentStatus.refunded, clock.now()
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
    activity_row(session, workspace_id, activity_id)
    rows = repository.list_enrollments(
        session, activity_id, status=status, limit=limit, offset=offset
    )
    return [EnrollmentRead.model_validate(e) for e in rows]


def enrollment_counts(session: Session, activity_id: int) -> dict[str, int]:
    """Enrollments of the activity by status."""
    return repository.count_enrollments_by_status(session, activity_id)


def member_enrollments(
    session: Session, workspace_id: int, member_id: int
) -> list[tuple[ActivityRead, EnrollmentRead]]:
    return [
        (ActivityRead.model_validate(a), EnrollmentRead.model_validate(e))
        for a, e in repository.member_enrollments(session, workspace_id, member_id)
    ]
