"""Audience's tables."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import Enum, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from siyu.audience.enums import OaTagSource, OaTagSyncStatus
from siyu.core.db import Base, BigId, IdPK, JSONType
from siyu.core.privacy import Erasure


def _enum(cls: type[enum.StrEnum]) -> Enum:
    return Enum(cls, native_enum=False, length=32, validate_strings=True)


class OaTagSync(Base):
    """An Official Account user tag kept equal to a siyu audience (a tag; later a segment),
    with the state of its last (or current) sync: status, run token and report."""

    __tablename__ = "audience_oa_tag_syncs"
    __erasure__ = Erasure.none("which audience maps to which OA tag, and counts")
    __table_args__ = (
        UniqueConstraint("app_id", "oa_tag_name"),
        UniqueConstraint("app_id", "source_kind", "source"),
    )

    id: Mapped[IdPK]
    workspace_id: Mapped[int] = mapped_column(BigId, ForeignKey("workspaces.id"), index=True)
    app_id: Mapped[int] = mapped_column(BigId, ForeignKey("apps.id"))
    source_kind: Mapped[OaTagSource] = mapped_column(_enum(OaTagSource))
    source: Mapped[str] = mapped_column(String(100))
    oa_tag_name: Mapped[str] = mapped_column(String(64))
    # WeChat's id of the tag once made (or found by name); None until the first sync.
    oa_tag_id: Mapped[int | None]
    status: Mapped[OaTagSyncStatus] = mapped_column(_enum(OaTagSyncStatus))
    # The run that owns the sync now: a second runner sees another token and stops.
    run_token: Mapped[str] = mapped_column(String(32), default="")
    # The current or last run's counts: tagged, untagged, skipped by reason, examples, error.
    report: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime]


class OaTagMember(Base):
    """A member WeChat confirmed on the OA tag: the last-synced set the next sync diffs against
    (rows are written as each batch is confirmed, so an interrupted sync resumes from them)."""

    __tablename__ = "audience_oa_tag_members"
    __erasure__ = Erasure.delete(member=("member_id",), wechat_ids=("openid",))
    __table_args__ = (UniqueConstraint("sync_id", "member_id"),)

    id: Mapped[IdPK]
    sync_id: Mapped[int] = mapped_column(BigId, ForeignKey("audience_oa_tag_syncs.id"))
    member_id: Mapped[int] = mapped_column(BigId, ForeignKey("members.id"), index=True)
    openid: Mapped[str] = mapped_column(String(64))
