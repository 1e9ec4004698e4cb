"""Audience's tables: segments (人群) and who is in them, tag groups (标签组)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Enum, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from siyu.audience.enums import SegmentKind
from siyu.core.db import Base, BigId, IdPK, JSONType
from siyu.core.privacy import Erasure


def _enum(cls: type[StrEnum]) -> Enum:
    return Enum(cls, native_enum=False, length=32, validate_strings=True)


class Segment(Base):
    """A named condition tree over members; `rule_tag`, if set, is kept equal to it."""

    __tablename__ = "audience_segments"
    __erasure__ = Erasure.none("a definition over members; who is in it is another table")
    __table_args__ = (
        UniqueConstraint("workspace_id", "name"),
        UniqueConstraint("workspace_id", "rule_tag"),
    )

    id: Mapped[IdPK]
    workspace_id: Mapped[int] = mapped_column(BigId, ForeignKey("workspaces.id"))
    name: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(String(200), default="")
    kind: Mapped[SegmentKind] = mapped_column(_enum(SegmentKind))
    definition: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    rule_tag: Mapped[str | None] = mapped_column(String(64))
    member_count: Mapped[int] = mapped_column(default=0)
    # Set by events that may change a dynamic segment; the refresh job clears it.
    stale: Mapped[bool] = mapped_column(default=False)
    refreshed_at: Mapped[datetime | None]
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class SegmentMember(Base):
    """A member in a segment since `entered_at` (the refresh writes the difference)."""

    __tablename__ = "audience_segment_members"
    __erasure__ = Erasure.delete(member=("member_id",))
    __table_args__ = (Index("ix_audience_segment_members_member", "member_id"),)

    # No foreign keys, as on the timeline: a refresh inserts up to a million rows in one
    # statement and PostgreSQL checks a key row by row (at 50,000 entrants the check of the
    # segment's key took longer than the insert itself: bench/segments.py). Members are never
    # deleted, and a segment's rows go with it (repository.delete_segment).
    segment_id: Mapped[int] = mapped_column(BigId, primary_key=True)
    member_id: Mapped[int] = mapped_column(BigId, primary_key=True)
    entered_at: Mapped[datetime]


class TagGroup(Base):
    """A 标签组: tags shown together in the console (e.g. 年级: 一年级, 二年级, …)."""

    __tablename__ = "audience_tag_groups"
    __erasure__ = Erasure.none("names of tags, no member")
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)

    id: Mapped[IdPK]
    workspace_id: Mapped[int] = mapped_column(BigId, ForeignKey("workspaces.id"))
    name: Mapped[str] = mapped_column(String(64))
    tags: Mapped[list[str]] = mapped_column(JSONType, default=list)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
