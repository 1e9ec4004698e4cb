"""Community tables: themes, series, activities, enrollments, check-ins, settlements, groups,
service records. Money is integer fen; days are Beijing calendar dates."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from sqlalchemy import Enum, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from siyu.community.enums import (
    ActivityStatus,
    CheckinStatus,
    EnrollmentStatus,
    Evidence,
    GroupState,
    LineStatus,
    RefundRule,
    SettlementStatus,
)
from siyu.core.crypto import EncryptedText
from siyu.core.db import Base, BigId, IdPK, JSONType
from siyu.core.privacy import ERASED, Erasure


def _enum(cls: type[enum.StrEnum]) -> Enum:
    return Enum(cls, native_enum=False, length=32, validate_strings=True)


class Theme(Base):
    __tablename__ = "community_themes"
    __erasure__ = Erasure.none("campaign structure, no member's data")
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)

    id: Mapped[IdPK]
    workspace_id: Mapped[int] = mapped_column(BigId, ForeignKey("workspaces.id"))
    name: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]


class Series(Base):
    __tablename__ = "community_series"
    __erasure__ = Erasure.none("campaign structure, no member's data")
    __table_args__ = (UniqueConstraint("theme_id", "name"),)

    id: Mapped[IdPK]
    workspace_id: Mapped[int] = mapped_column(BigId, ForeignKey("workspaces.id"), index=True)
    theme_id: Mapped[int] = mapped_column(BigId, ForeignKey("community_themes.id"))
    name: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]


class Activity(Base):
    __tablename__ = "community_activities"
    __erasure__ = Erasure.none("campaign definitions, no member's data")
    __table_args__ = (UniqueConstraint("workspace_id", "code"),)

    id: Mapped[IdPK]
    workspace_id: Mapped[int] = mapped_column(BigId, ForeignKey("workspaces.id"))
    series_id: Mapped[int] = mapped_column(BigId, ForeignKey("community_series.id"), index=True)
    code: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(100))
    status: Mapped[ActivityStatus] = mapped_column(_enum(ActivityStatus))
    starts_on: Mapped[date]
    ends_on: Mapped[date]
    capacity: Mapped[int | None]
    fee: Mapped[int] = mapped_column(default=0)  # fen, kept
    deposit: Mapped[int] = mapped_column(default=0)  # fen, refundable by the rule
    checkin_days_required: Mapped[int]
    window_start: Mapped[int] = mapped_column(default=0)  # minutes after Beijing midnight
    window_end: Mapped[int] = mapped_column(default=24 * 60)  # exclusive
    evidence: Mapped[Evidence] = mapped_column(_enum(Evidence), default=Evidence.either)
    refund_rule: Mapped[RefundRule] = mapped_column(_enum(RefundRule))
    refund_n: Mapped[int | None]  # full_at_n's N (the required days when empty)
    refund_table: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    imported: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Enrollment(Base):
    __tablename__ = "community_enrollments"
    __erasure__ = Erasure.keep(
        member=("member_id",), reason="counts and amounts by member id; no personal data"
    )
    __table_args__ = (
        UniqueConstraint("activity_id", "member_id"),
        Index("ix_community_enrollments_activity_status", "activity_id", "status"),
    )

    id: Mapped[IdPK]
    workspace_id: Mapped[int] = mapped_column(BigId, ForeignKey("workspaces.id"))
    activity_id: Mapped[int] = mapped_column(BigId, ForeignKey("community_activities.id"))
    member_id: Mapped[int] = mapped_column(BigId, ForeignKey("members.id"), index=True)
    status: Mapped[EnrollmentStatus] = mapped_column(_enum(EnrollmentStatus))
    channel: Mapped[str | None] = mapped_column(String(64))
    pay_reference: Mapped[str | None] = mapped_column(String(64), unique=True)
    order_id: Mapped[int | None] = mapped_column(BigId)  # Pay's order, by id
    amount: Mapped[int] = mapped_column(default=0)  # fen to pay (fee + deposit)
    paid: Mapped[int] = mapped_column(default=0)  # fen paid
    checkins: Mapped[int] = mapped_column(default=0)  # accepted check-ins
    streak: Mapped[int] = mapped_column(default=0)
    best_streak: Mapped[int] = mapped_column(default=0)
    last_checkin_on: Mapped[date | None]
    enrolled_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Checkin(Base):
    __tablename__ = "community_checkins"
    __erasure__ = Erasure.anonymize(
        member=("member_id",), scrub={"text": ERASED, "image_key": None}
    )
    __table_args__ = (
        UniqueConstraint("enrollment_id", "day"),
        Index("ix_community_checkins_activity_day", "activity_id", "day"),
    )

    id: Mapped[IdPK]
    activity_id: Mapped[int] = mapped_column(BigId, ForeignKey("community_activities.id"))
    enrollment_id: Mapped[int] = mapped_column(BigId, ForeignKey("community_enrollments.id"))
    member_id: Mapped[int] = mapped_column(BigId, ForeignKey("members.id"))
    day: Mapped[date]
    text: Mapped[str | None] = mapped_column(EncryptedText("community_checkins.text"))
    image_key: Mapped[str | None] = mapped_column(String(80))  # content hash + extension
    status: Mapped[CheckinStatus] = mapped_column(_enum(CheckinStatus))
    reject_reason: Mapped[str | None] = mapped_column(String(200))
    reviewed_by: Mapped[int | None] = mapped_column(BigId, ForeignKey("operators.id"))
    submitted_at: Mapped[datetime]


class Settlement(Base):
    __tablename__ = "community_settlements"
    __erasure__ = Erasure.none("totals of an activity")

    id: Mapped[IdPK]
    activity_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("community_activities.id"), unique=True
    )
    status: Mapped[SettlementStatus] = mapped_column(_enum(SettlementStatus))
    computed_at: Mapped[datetime]
    confirmed_at: Mapped[datetime | None]
    confirmed_by: Mapped[int | None] = mapped_column(BigId, ForeignKey("operators.id"))
    members: Mapped[int] = mapped_column(default=0)
    total_paid: Mapped[int] = mapped_column(default=0)
    total_refund: Mapped[int] = mapped_column(default=0)


class SettlementLine(Base):
    __tablename__ = "community_settlement_lines"
    __erasure__ = Erasure.keep(member=("member_id",), reason="amounts of a ledger, by member id")
    __table_args__ = (UniqueConstraint("settlement_id", "enrollment_id"),)

    id: Mapped[IdPK]
    settlement_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("community_settlements.id"), index=True
    )
    enrollment_id: Mapped[int] = mapped_column(BigId, ForeignKey("community_enrollments.id"))
    member_id: Mapped[int] = mapped_column(BigId, ForeignKey("members.id"))
    checkins: Mapped[int]
    paid: Mapped[int]
    refund: Mapped[int]
    reason: Mapped[str] = mapped_column(String(120))
    status: Mapped[LineStatus] = mapped_column(_enum(LineStatus))
    refund_id: Mapped[int | None] = mapped_column(BigId)  # Pay's refund, by id


class Group(Base):
    __tablename__ = "community_groups"
    __erasure__ = Erasure.none("a group of the matrix; its members are in another table")

    id: Mapped[IdPK]
    workspace_id: Mapped[int] = mapped_column(BigId, ForeignKey("workspaces.id"), index=True)
    activity_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("community_activities.id"), unique=True
    )
    series_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("community_series.id"))
    name: Mapped[str] = mapped_column(String(64))
    open_gid: Mapped[str | None] = mapped_column(String(64), unique=True)
    state: Mapped[GroupState] = mapped_column(_enum(GroupState))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class GroupMember(Base):
    __tablename__ = "community_group_members"
    __erasure__ = Erasure.keep(member=("member_id",), reason="membership by member id")
    __table_args__ = (UniqueConstraint("group_id", "member_id"),)

    id: Mapped[IdPK]
    group_id: Mapped[int] = mapped_column(BigId, ForeignKey("community_groups.id"))
    member_id: Mapped[int] = mapped_column(BigId, ForeignKey("members.id"), index=True)
    source: Mapped[str] = mapped_column(String(16))  # share_ticket | staff
    joined_at: Mapped[datetime]
    left_at: Mapped[datetime | None]


class GroupPost(Base):
    __tablename__ = "community_group_posts"
    __erasure__ = Erasure.none("staff posts to a group, no member's data")

    id: Mapped[IdPK]
    group_id: Mapped[int] = mapped_column(BigId, ForeignKey("community_groups.id"), index=True)
    operator_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("operators.id"))
    kind: Mapped[str] = mapped_column(String(16))  # text | image | link | notice
    content: Mapped[str] = mapped_column(Text)
    posted_at: Mapped[datetime]


class ServiceRecord(Base):
    """A staff note on a member: who wrote what, when."""

    __tablename__ = "community_service_records"
    __erasure__ = Erasure.delete(member=("member_id",))
    __table_args__ = (Index("ix_community_service_records_member", "member_id", "created_at"),)

    id: Mapped[IdPK]
    workspace_id: Mapped[int] = mapped_column(BigId, ForeignKey("workspaces.id"))
    member_id: Mapped[int] = mapped_column(BigId, ForeignKey("members.id"))
    operator_id: Mapped[int] = mapped_column(BigId, ForeignKey("operators.id"))
    kind: Mapped[str] = mapped_column(String(16))  # note | call | visit | complaint
    text: Mapped[str] = mapped_column(EncryptedText("community_service_records.text"))
    created_at: Mapped[datetime]
