"""Audience's tables."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from sqlalchemy import BigInteger, Enum, ForeignKey, Index, SmallInteger
from sqlalchemy.orm import Mapped, mapped_column

from siyu.audience.enums import RfmCell, Tier, TierCause
from siyu.core.db import Base, BigId, IdPK, JSONType
from siyu.core.privacy import Erasure


def _enum(cls: type[enum.StrEnum]) -> Enum:
    return Enum(cls, native_enum=False, length=32, validate_strings=True)


# --- lifecycle tiers and RFM ------------------------------------------------------------------


class TierPolicy(Base):
    """A workspace's tier thresholds and RFM split, as data the console edits (the defaults
    are `audience.schemas.TierPolicyIn`'s)."""

    __tablename__ = "audience_tier_policies"
    __erasure__ = Erasure.none("workspace settings")

    id: Mapped[IdPK]
    workspace_id: Mapped[int] = mapped_column(BigId, ForeignKey("workspaces.id"), unique=True)
    rules: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    updated_at: Mapped[datetime]


# No foreign keys on the per-member tables below, as on the timeline (`identity.models`):
# PostgreSQL checks each one row by row after a bulk INSERT … SELECT, which cost the nightly
# computation more than its own queries (bench/tiers.py). Members are never deleted (a merged
# or erased member keeps its row), and only this domain writes these ids.


class MemberTier(Base):
    """A member's current lifecycle tier and since when."""

    __tablename__ = "member_tiers"
    __erasure__ = Erasure.delete(member=("member_id",))
    __table_args__ = (Index("ix_member_tiers_workspace_tier", "workspace_id", "tier"),)

    member_id: Mapped[int] = mapped_column(BigId, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(BigId)
    tier: Mapped[Tier] = mapped_column(_enum(Tier))
    since: Mapped[datetime]


class MemberTierChange(Base):
    """One move of a member between tiers (`from_tier` empty for the first one)."""

    __tablename__ = "member_tier_changes"
    __erasure__ = Erasure.delete(member=("member_id",))
    __table_args__ = (
        Index("ix_member_tier_changes_workspace_at", "workspace_id", "changed_at"),
        Index("ix_member_tier_changes_member_at", "member_id", "changed_at"),
    )

    id: Mapped[IdPK]
    workspace_id: Mapped[int] = mapped_column(BigId)
    member_id: Mapped[int] = mapped_column(BigId)
    from_tier: Mapped[Tier | None] = mapped_column(_enum(Tier))
    to_tier: Mapped[Tier] = mapped_column(_enum(Tier))
    cause: Mapped[TierCause] = mapped_column(_enum(TierCause))
    changed_at: Mapped[datetime]


class TierDailyCount(Base):
    """How many members each tier held at the end of a day's computation (Beijing date)."""

    __tablename__ = "audience_tier_counts"
    __erasure__ = Erasure.none("counts per tier and day, no member's data")

    workspace_id: Mapped[int] = mapped_column(BigId, ForeignKey("workspaces.id"), primary_key=True)
    day: Mapped[date] = mapped_column(primary_key=True)
    tier: Mapped[Tier] = mapped_column(_enum(Tier), primary_key=True)
    members: Mapped[int]


class MemberRfm(Base):
    """A buyer's recency, frequency and net monetary value, their 1–5 scores within the
    workspace and their cell, as of the last nightly computation."""

    __tablename__ = "member_rfm"
    __erasure__ = Erasure.delete(member=("member_id",))
    __table_args__ = (Index("ix_member_rfm_workspace_cell", "workspace_id", "cell"),)

    member_id: Mapped[int] = mapped_column(BigId, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(BigId)
    last_paid_at: Mapped[datetime]
    frequency: Mapped[int]
    monetary: Mapped[int] = mapped_column(BigInteger)  # fen, paid minus refunded
    r: Mapped[int] = mapped_column(SmallInteger)
    f: Mapped[int] = mapped_column(SmallInteger)
    m: Mapped[int] = mapped_column(SmallInteger)
    cell: Mapped[RfmCell] = mapped_column(_enum(RfmCell))
    computed_at: Mapped[datetime]
