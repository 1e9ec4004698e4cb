"""Queries over community's tables: the matrix, enrollments, check-ins, settlements, groups and
service records. The rules are in `service`; what is read and written in bulk is here."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import Row, delete, func, insert, select, update
from sqlalchemy.orm import Session

from siyu.community.enums import ActivityStatus, CheckinStatus, EnrollmentStatus, LineStatus
from siyu.community.models import (
    Activity,
    Checkin,
    Enrollment,
    Group,
    GroupMember,
    GroupPost,
    Series,
    ServiceRecord,
    Settlement,
    SettlementLine,
    Theme,
)
from siyu.core.db import Base

# Rows written by one statement: enough to be fast, few enough for any driver's parameters.
LINE_BATCH = 5000
STATUS_BATCH = 1000


def add(session: Session, row: Base) -> None:
    session.add(row)
    session.flush()


# --- the matrix ----------------------------------------------------------------------------


def theme_id_by_name(session: Session, workspace_id: int, name: str) -> int | None:
    return session.scalar(
        select(Theme.id).where(Theme.workspace_id == workspace_id, Theme.name == name)
    )


def list_themes(session: Session, workspace_id: int) -> Sequence[Theme]:
    return session.scalars(
        select(Theme).where(Theme.workspace_id == workspace_id).order_by(Theme.id)
    ).all()


def series_id_by_name(session: Session, theme_id: int, name: str) -> int | None:
    return session.scalar(select(Series.id).where(Series.theme_id == theme_id, Series.name == name))


def list_series(session: Session, workspace_id: int) -> Sequence[Series]:
    return session.scalars(
        select(Series).where(Series.workspace_id == workspace_id).order_by(Series.id)
    ).all()


def activity_id_by_code(session: Session, workspace_id: int, code: str) -> int | None:
    return session.scalar(
        select(Activity.id).where(Activity.workspace_id == workspace_id, Activity.code == code)
    )


def get_activity(session: Session, activity_id: int, *, lock: bool = False) -> Activity | None:
    query = select(Activity).where(Activity.id == activity_id)
    if lock:
        query = query.with_for_update()
    return session.scalars(query).first()


def get_activity_by_code(session: Session, workspace_id: int, code: str) -> Activity | None:
    return session.scalars(
        select(Activity).where(Activity.workspace_id == workspace_id, Activity.code == code)
    ).first()


def activity_code(session: Session, activity_id: int) -> str | None:
    return session.scalar(select(Activity.code).where(Activity.id == activity_id))


def list_activities(
    session: Session,
    workspace_id: int,
    *,
    series_id: int | None = None,
    statuses: Sequence[ActivityStatus] | None = None,
) -> Sequence[Activity]:
    query = select(Activity).where(Activity.workspace_id == workspace_id)
    if series_id is not None:
        query = query.where(Activity.series_id == series_id)
    if statuses is not None:
        query = query.where(Activity.status.in_(list(statuses)))
    return session.scalars(query.order_by(Activity.starts_on, Activity.id)).all()


# --- enrollments ---------------------------------------------------------------------------


def count_held(
    session: Session, activity_id: int, taken: Sequence[EnrollmentStatus], fresh_since: datetime
) -> int:
    """Enrollments in a `taken` status, and unpaid ones touched after `fresh_since`."""
    return (
        session.scalar(
            select(func.count())
            .select_from(Enrollment)
            .where(
                Enrollment.activity_id == activity_id,
                (Enrollment.status.in_(list(taken)))
                | (
                    (Enrollment.status == EnrollmentStatus.pending_payment)
                    & (Enrollment.updated_at > fresh_since)
                ),
            )
        )
        or 0
    )


def get_enrollment(
    session: Session, activity_id: int, member_id: int, *, lock: bool = False
) -> Enrollment | None:
    query = select(Enrollment).where(
        Enrollment.activity_id == activity_id, Enrollment.member_id == member_id
    )
    if lock:
        query = query.with_for_update()
    return session.scalars(query).first()


def get_enrollment_by_reference(session: Session, reference: str) -> Enrollment | None:
    """The enrollment a Pay order was made for, locked (its notification may come twice)."""
    return session.scalars(
        select(Enrollment).where(Enrollment.pay_reference == reference).with_for_update()
    ).first()


def set_status_by_reference(
    session: Session, reference: str, status: EnrollmentStatus, at: datetime
) -> None:
    session.execute(
        update(Enrollment)
        .where(Enrollment.pay_reference == reference)
        .values(status=status, updated_at=at)
    )


def set_statuses(
    session: Session, enrollment_ids: Sequence[int], status: EnrollmentStatus, at: datetime
) -> None:
    """One status for many enrollments, in batches (a settlement may hold 20,000)."""
    for start in range(0, len(enrollment_ids), STATUS_BATCH):
        session.execute(
            update(Enrollment)
            .where(Enrollment.id.in_(enrollment_ids[start : start + STATUS_BATCH]))
            .values(status=status, updated_at=at)
        )


def list_enrollments(
    session: Session,
    activity_id: int,
    *,
    status: EnrollmentStatus | None = None,
    limit: int = 100,
    offset: int = 0,
) -> Sequence[Enrollment]:
    query = select(Enrollment).where(Enrollment.activity_id == activity_id)
    if status is not None:
        query = query.where(Enrollment.status == status)
    return session.scalars(query.order_by(Enrollment.id).limit(limit).offset(offset)).all()


def count_enrollments_by_status(session: Session, activity_id: int) -> dict[str, int]:
    rows = session.execute(
        select(Enrollment.status, func.count())
        .where(Enrollment.activity_id == activity_id)
        .group_by(Enrollment.status)
    )
    return {str(status): n for status, n in rows}


def member_enrollments(
    session: Session, workspace_id: int, member_id: int
) -> list[tuple[Activity, Enrollment]]:
    rows = session.execute(
        select(Activity, Enrollment)
        .join(Enrollment, Enrollment.activity_id == Activity.id)
        .where(Enrollment.workspace_id == workspace_id, Enrollment.member_id == member_id)
        .order_by(Activity.starts_on.desc())
    )
    return [(activity, enrollment) for activity, enrollment in rows]


def enrolled_rows(session: Session, activity_id: int) -> Sequence[Enrollment]:
    """The activity's enrollments still running (status enrolled), oldest first."""
    return session.scalars(
        select(Enrollment)
        .where(
            Enrollment.activity_id == activity_id, Enrollment.status == EnrollmentStatus.enrolled
        )
        .order_by(Enrollment.id)
    ).all()


# --- check-ins -----------------------------------------------------------------------------


def checkin_id_on(session: Session, enrollment_id: int, day: date) -> int | None:
    return session.scalar(
        select(Checkin.id).where(Checkin.enrollment_id == enrollment_id, Checkin.day == day)
    )


def get_checkin(session: Session, checkin_id: int, *, lock: bool = False) -> Checkin | None:
    query = select(Checkin).where(Checkin.id == checkin_id)
    if lock:
        query = query.with_for_update()
    return session.scalars(query).first()


def accepted_days(session: Session, enrollment_id: int) -> list[date]:
    """The days of an enrollment's accepted check-ins, in order."""
    return list(
        session.scalars(
            select(Checkin.day)
            .where(Checkin.enrollment_id == enrollment_id, Checkin.status == CheckinStatus.accepted)
            .order_by(Checkin.day)
        )
    )


def list_checkins(
    session: Session,
    activity_id: int,
    *,
    day: date | None = None,
    status: CheckinStatus | None = None,
    limit: int = 100,
    offset: int = 0,
) -> Sequence[Checkin]:
    query = select(Checkin).where(Checkin.activity_id == activity_id)
    if day is not None:
        query = query.where(Checkin.day == day)
    if status is not None:
        query = query.where(Checkin.status == status)
    query = query.order_by(Checkin.submitted_at.desc(), Checkin.id.desc()).limit(limit)
    return session.scalars(query.offset(offset)).all()


# --- settlements ---------------------------------------------------------------------------


def get_settlement(session: Session, activity_id: int, *, lock: bool = False) -> Settlement | None:
    query = select(Settlement).where(Settlement.activity_id == activity_id)
    if lock:
        query = query.with_for_update()
    return session.scalars(query).first()


def delete_lines(session: Session, settlement_id: int) -> None:
    session.execute(delete(SettlementLine).where(SettlementLine.settlement_id == settlement_id))


def add_lines(session: Session, lines: Sequence[Mapping[str, Any]]) -> None:
    for start in range(0, len(lines), LINE_BATCH):
        session.execute(insert(SettlementLine), lines[start : start + LINE_BATCH])


def settled_enrollments(
    session: Session, activity_id: int, statuses: Sequence[EnrollmentStatus]
) -> Sequence[Row[int, int, int, int]]:
    """(enrollment id, member id, check-ins, paid) of the enrollments a settlement covers."""
    return session.execute(
        select(Enrollment.id, Enrollment.member_id, Enrollment.checkins, Enrollment.paid).where(
            Enrollment.activity_id == activity_id, Enrollment.status.in_(list(statuses))
        )
    ).all()


def line_refund_ids(session: Session, settlement_id: int) -> list[int]:
    """The Pay refunds a settlement's lines requested."""
    return [
        refund_id
        for refund_id in session.scalars(
            select(SettlementLine.refund_id).where(
                SettlementLine.settlement_id == settlement_id, SettlementLine.refund_id.is_not(None)
            )
        )
        if refund_id is not None
    ]


def list_lines(
    session: Session,
    settlement_id: int,
    *,
    refund_ids: Sequence[int] | None = None,
    limit: int = 200,
    offset: int = 0,
) -> Sequence[SettlementLine]:
    """A page of a settlement's lines; only those of `refund_ids` when given."""
    query = select(SettlementLine).where(SettlementLine.settlement_id == settlement_id)
    if refund_ids is not None:
        query = query.where(SettlementLine.refund_id.in_(list(refund_ids)))
    return session.scalars(query.order_by(SettlementLine.id).limit(limit).offset(offset)).all()


def lines_to_confirm(
    session: Session, settlement_id: int
) -> Sequence[Row[int, int, int, int | None, int]]:
    """(line id, enrollment id, refund, Pay order id, check-ins) of each line."""
    return session.execute(
        select(
            SettlementLine.id,
            SettlementLine.enrollment_id,
            SettlementLine.refund,
            Enrollment.order_id,
            Enrollment.checkins,
        )
        .join(Enrollment, Enrollment.id == SettlementLine.enrollment_id)
        .where(SettlementLine.settlement_id == settlement_id)
    ).all()


def mark_lines_requested(session: Session, refunds: Iterable[tuple[int, int]]) -> None:
    """Each (line id, Pay refund id): the line's refund is requested."""
    rows = [
        {"id": line_id, "status": LineStatus.requested, "refund_id": refund_id}
        for line_id, refund_id in refunds
    ]
    if rows:
        session.execute(update(SettlementLine), rows)


# --- groups --------------------------------------------------------------------------------


def count_group_members(session: Session, group_id: int) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(GroupMember)
            .where(GroupMember.group_id == group_id, GroupMember.left_at.is_(None))
        )
        or 0
    )


def group_member_counts(session: Session) -> dict[int, int]:
    """Members in each group now, by group id."""
    rows = session.execute(
        select(GroupMember.group_id, func.count())
        .where(GroupMember.left_at.is_(None))
        .group_by(GroupMember.group_id)
    ).all()
    return dict(rows)


def list_groups(session: Session, workspace_id: int) -> Sequence[Group]:
    return session.scalars(
        select(Group).where(Group.workspace_id == workspace_id).order_by(Group.id)
    ).all()


def group_id_of_activity(session: Session, activity_id: int) -> int | None:
    return session.scalar(select(Group.id).where(Group.activity_id == activity_id))


def group_id_by_open_gid(
    session: Session, open_gid: str, *, workspace_id: int | None = None
) -> int | None:
    query = select(Group.id).where(Group.open_gid == open_gid)
    if workspace_id is not None:
        query = query.where(Group.workspace_id == workspace_id)
    return session.scalar(query)


def get_group_member(
    session: Session, group_id: int, member_id: int, *, lock: bool = False
) -> GroupMember | None:
    query = select(GroupMember).where(
        GroupMember.group_id == group_id, GroupMember.member_id == member_id
    )
    if lock:
        query = query.with_for_update()
    return session.scalars(query).first()


def group_member_ids(session: Session, group_id: int) -> list[int]:
    return list(
        session.scalars(
            select(GroupMember.member_id)
            .where(GroupMember.group_id == group_id, GroupMember.left_at.is_(None))
            .order_by(GroupMember.joined_at)
        )
    )


def list_posts(session: Session, group_id: int, limit: int = 100) -> Sequence[GroupPost]:
    return session.scalars(
        select(GroupPost)
        .where(GroupPost.group_id == group_id)
        .order_by(GroupPost.posted_at.desc(), GroupPost.id.desc())
        .limit(limit)
    ).all()


# --- service records -----------------------------------------------------------------------


def list_service_records(
    session: Session, workspace_id: int, member_id: int, limit: int = 100
) -> Sequence[ServiceRecord]:
    return session.scalars(
        select(ServiceRecord)
        .where(ServiceRecord.workspace_id == workspace_id, ServiceRecord.member_id == member_id)
        .order_by(ServiceRecord.created_at.desc(), ServiceRecord.id.desc())
        .limit(limit)
    ).all()
