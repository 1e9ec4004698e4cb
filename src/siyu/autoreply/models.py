"""Auto-reply tables: the keyword, follow and default rules of each app."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import Enum, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from siyu.autoreply.enums import MatchKind, RuleKind
from siyu.core.db import Base, BigId, IdPK, JSONType
from siyu.core.privacy import Erasure


def _enum(cls: type[enum.StrEnum]) -> Enum:
    return Enum(cls, native_enum=False, length=32, validate_strings=True)


class AutoReplyRule(Base):
    """A keyword, follow or default reply of one app."""

    __tablename__ = "autoreply_rules"
    __erasure__ = Erasure.none("reply rules, no member's data")
    __table_args__ = (Index("ix_autoreply_rules_app", "app_id", "enabled"),)

    id: Mapped[IdPK]
    workspace_id: Mapped[int] = mapped_column(BigId, ForeignKey("workspaces.id"))
    app_id: Mapped[int] = mapped_column(BigId, ForeignKey("apps.id"))
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[RuleKind] = mapped_column(_enum(RuleKind))
    match: Mapped[MatchKind] = mapped_column(_enum(MatchKind), default=MatchKind.exact)
    keywords: Mapped[list[str]] = mapped_column(JSONType, default=list)
    priority: Mapped[int] = mapped_column(default=100)
    active_from: Mapped[datetime | None]
    active_until: Mapped[datetime | None]
    reply: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    tag: Mapped[str | None] = mapped_column(String(30))
    enabled: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
