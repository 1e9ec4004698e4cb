"""Members' tables. Points: a ledger of entries (each with a unique source key), the lots that
earning made (spent and expired first-to-expire-first), one account per member holding the
balance (never negative: spends are `UPDATE … WHERE balance >= n`), and per-day tallies for the
rules' caps. Sign-ins, one per member and Beijing day. Levels and the workspace's policy."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    Enum,
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from siyu.core.db import Base, BigId, IdPK
from siyu.core.privacy import Erasure
from siyu.members.enums import EarnTrigger, EntryKind, ExpiryMode


def _enum(cls: type[enum.StrEnum]) -> Enum:
    return Enum(cls, native_enum=False, length=32, validate_strings=True)


class PointsPolicy(Base):
    """A workspace's settings for points, sign-in and levels (one row, made on first use)."""

    __tablename__ = "points_policies"
    __erasure__ = Erasure.none("workspace settings, no member's data")

    workspace_id: Mapped[int] = mapped_column(BigId, ForeignKey("workspaces.id"), primary_key=True)
    expiry_mode: Mapped[ExpiryMode] = mapped_column(_enum(ExpiryMode))
    expiry_months: Mapped[int]
    expiry_fixed_day: Mapped[str | None] = mapped_column(String(5))  # "MM-DD", Beijing
    reminder_days: Mapped[int]
    reminder_template: Mapped[str | None] = mapped_column(String(64))
    signin_points: Mapped[int]
    streak_bonuses: Mapped[dict[str, Any]]  # {"7": 20}: day of the streak → bonus points
    level_period_months: Mapped[int]  # 1, 3, 6 or 12: calendar periods, Beijing
    level_notice_days: Mapped[int]
    level_notice_template: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[datetime]


class PointsRule(Base):
    __tablename__ = "points_rules"
    __erasure__ = Erasure.none("earning rules, no member's data")
    __table_args__ = (UniqueConstraint("workspace_id", "trigger"),)

    id: Mapped[IdPK]
    workspace_id: Mapped[int] = mapped_column(BigId, ForeignKey("workspaces.id"))
    trigger: Mapped[EarnTrigger] = mapped_column(_enum(EarnTrigger))
    points: Mapped[int]  # per event, or per yuan for payments
    growth: Mapped[int]  # growth value (成长值), the same way
    daily_cap: Mapped[int | None]  # points a member may earn by this rule per Beijing day
    member_cap: Mapped[int | None]  # points a member may earn by this rule in all
    active: Mapped[bool]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class PointsAccount(Base):
    __tablename__ = "points_accounts"
    __erasure__ = Erasure.keep(member=("member_id",), reason="balances by member id")
    __table_args__ = (
        CheckConstraint("balance >= 0", name="balance"),
        Index("ix_points_accounts_workspace_level", "workspace_id", "level_rank"),
    )

    id: Mapped[IdPK]
    workspace_id: Mapped[int] = mapped_column(BigId, ForeignKey("workspaces.id"))
    member_id: Mapped[int] = mapped_column(BigId, ForeignKey("members.id"), unique=True)
    balance: Mapped[int]
    earned: Mapped[int]  # lifetime points earned (after clawbacks)
    growth: Mapped[int]  # lifetime growth value
    period_growth: Mapped[int]  # growth value of the current level period
    period_start: Mapped[date]  # the first day of the period period_growth counts
    level_rank: Mapped[int]  # 0 = no level
    level_changed_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]


class PointsEntry(Base):
    __tablename__ = "points_entries"
    __erasure__ = Erasure.keep(member=("member_id",), reason="a ledger of amounts by member id")
    __table_args__ = (
        UniqueConstraint("workspace_id", "source_key"),
        Index("ix_points_entries_member", "member_id", "id"),
        Index("ix_points_entries_workspace", "workspace_id", "id"),
    )

    id: Mapped[IdPK]
    workspace_id: Mapped[int] = mapped_column(BigId, ForeignKey("workspaces.id"))
    member_id: Mapped[int] = mapped_column(BigId, ForeignKey("members.id"))
    kind: Mapped[EntryKind] = mapped_column(_enum(EntryKind))
    amount: Mapped[int]  # signed: what the balance moved
    growth: Mapped[int]  # signed: what growth value moved
    trigger: Mapped[str | None] = mapped_column(String(32))
    source_key: Mapped[str] = mapped_column(String(128))
    related_key: Mapped[str | None] = mapped_column(String(128))  # clawback → the earn it undoes
    shortfall: Mapped[int]  # points a clawback could not take (the balance was short)
    reason: Mapped[str | None] = mapped_column(String(200))
    actor: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]


class PointsLot(Base):
    __tablename__ = "points_lots"
    __erasure__ = Erasure.keep(member=("member_id",), reason="amounts by member id")
    __table_args__ = (
        Index("ix_points_lots_member", "member_id", "expires_at"),
        # Only lots still holding points: the nightly expiry never walks past spent ones.
        Index(
            "ix_points_lots_open",
            "expires_at",
            postgresql_where=text("remaining > 0"),
            sqlite_where=text("remaining > 0"),
        ),
    )

    id: Mapped[IdPK]
    workspace_id: Mapped[int] = mapped_column(BigId, ForeignKey("workspaces.id"))
    member_id: Mapped[int] = mapped_column(BigId, ForeignKey("members.id"))
    entry_id: Mapped[int] = mapped_column(BigId, ForeignKey("points_entries.id"))
    amount: Mapped[int]
    remaining: Mapped[int]
    earned_at: Mapped[datetime]
    expires_at: Mapped[datetime | None]
    reminded_at: Mapped[datetime | None]


class PointsTally(Base):
    """Points a member earned by one trigger on one Beijing day: the rules' caps read these."""

    __tablename__ = "points_tallies"
    __erasure__ = Erasure.keep(member=("member_id",), reason="counts by member id")
    __table_args__ = (UniqueConstraint("member_id", "trigger", "day"),)

    id: Mapped[IdPK]
    member_id: Mapped[int] = mapped_column(BigId, ForeignKey("members.id"))
    trigger: Mapped[str] = mapped_column(String(32))
    day: Mapped[date]
    points: Mapped[int]


class Signin(Base):
    __tablename__ = "signins"
    __erasure__ = Erasure.keep(member=("member_id",), reason="days and counts by member id")
    __table_args__ = (UniqueConstraint("member_id", "day"),)

    id: Mapped[IdPK]
    workspace_id: Mapped[int] = mapped_column(BigId, ForeignKey("workspaces.id"))
    member_id: Mapped[int] = mapped_column(BigId, ForeignKey("members.id"))
    day: Mapped[date]  # Beijing
    streak: Mapped[int]
    points: Mapped[int]
    channel: Mapped[str] = mapped_column(String(8))  # mp | oa
    created_at: Mapped[datetime]


class MemberLevel(Base):
    __tablename__ = "member_levels"
    __erasure__ = Erasure.none("level definitions, no member's data")
    __table_args__ = (UniqueConstraint("workspace_id", "rank"),)

    id: Mapped[IdPK]
    workspace_id: Mapped[int] = mapped_column(BigId, ForeignKey("workspaces.id"))
    rank: Mapped[int]  # 1, 2, 3…: higher is better
    name: Mapped[str] = mapped_column(String(32))
    threshold: Mapped[int]  # growth value of a period that reaches (and keeps) the level
    multiplier: Mapped[int]  # percent applied to points earned by rules (100 = ×1)
    member_only: Mapped[bool]  # unlocks member-only content
    coupon_pack: Mapped[str | None] = mapped_column(String(64))  # given on upgrade (coupons)
    created_at: Mapped[datetime]
