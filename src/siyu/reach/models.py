"""Reach tables: templates, quota ledger, preferences, send log, broadcasts."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import Enum, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from siyu.core.crypto import EncryptedText
from siyu.core.db import Base, BigId, IdPK, JSONType
from siyu.core.privacy import ERASED, Erasure
from siyu.reach.enums import BroadcastStatus, SendStatus, TemplateKind


def _enum(cls: type[enum.StrEnum]) -> Enum:
    return Enum(cls, native_enum=False, length=32, validate_strings=True)


class ReachTemplate(Base):
    """One channel's form of a notice: `key` names the notice, `kind` the channel.

    `fields` maps the template's WeChat keys (`thing1`, `time2`) to the names of the notice's
    data (`course`, `start`); a customer-service form has a `body` text with `{name}` slots.
    """

    __tablename__ = "reach_templates"
    __erasure__ = Erasure.none("message templates, no member's data")
    __table_args__ = (UniqueConstraint("workspace_id", "key", "kind"),)

    id: Mapped[IdPK]
    workspace_id: Mapped[int] = mapped_column(BigId, ForeignKey("workspaces.id"))
    key: Mapped[str] = mapped_column(String(64))
    kind: Mapped[TemplateKind] = mapped_column(_enum(TemplateKind))
    app_id: Mapped[int] = mapped_column(BigId, ForeignKey("apps.id"))
    template_id: Mapped[str] = mapped_column(String(64), default="")
    title: Mapped[str] = mapped_column(String(64))
    fields: Mapped[dict[str, str]] = mapped_column(JSONType, default=dict)
    body: Mapped[str] = mapped_column(String(600), default="")
    page: Mapped[str | None] = mapped_column(String(255))
    url: Mapped[str | None] = mapped_column(String(1024))
    created_at: Mapped[datetime]


class ReachLedger(Base):
    """What the platform still allows one member in one app: follow status and the
    customer-service window opened by the member's last message (48 h, 5 messages)."""

    __tablename__ = "reach_ledger"
    __erasure__ = Erasure.delete(member=("member_id",), wechat_ids=("openid",))
    __table_args__ = (UniqueConstraint("member_id", "app_id"),)

    id: Mapped[IdPK]
    workspace_id: Mapped[int] = mapped_column(BigId, ForeignKey("workspaces.id"))
    member_id: Mapped[int] = mapped_column(BigId, ForeignKey("members.id"))
    app_id: Mapped[int] = mapped_column(BigId, ForeignKey("apps.id"))
    openid: Mapped[str] = mapped_column(String(64))
    following: Mapped[bool | None]
    follow_changed_at: Mapped[datetime | None]
    window_opened_at: Mapped[datetime | None]
    window_used: Mapped[int] = mapped_column(default=0)
    # Broadcasts received in the calendar month `mass_month` (YYYY-MM, Beijing time).
    mass_month: Mapped[str] = mapped_column(String(7), default="")
    mass_count: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[datetime]


class ReachCredit(Base):
    """One-time subscribe credits of a member for one template: each acceptance is one send."""

    __tablename__ = "reach_credits"
    __erasure__ = Erasure.delete(member=("member_id",))
    __table_args__ = (UniqueConstraint("member_id", "app_id", "template_id"),)

    id: Mapped[IdPK]
    member_id: Mapped[int] = mapped_column(BigId, ForeignKey("members.id"))
    app_id: Mapped[int] = mapped_column(BigId, ForeignKey("apps.id"))
    template_id: Mapped[str] = mapped_column(String(64))
    granted: Mapped[int] = mapped_column(default=0)
    used: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[datetime]


class ReachPreference(Base):
    """One member's choices, the same on every app: muted categories, do-not-contact."""

    __tablename__ = "reach_preferences"
    __erasure__ = Erasure.delete(member=("member_id",))

    id: Mapped[IdPK]
    workspace_id: Mapped[int] = mapped_column(BigId, ForeignKey("workspaces.id"))
    member_id: Mapped[int] = mapped_column(BigId, ForeignKey("members.id"), unique=True)
    muted: Mapped[list[str]] = mapped_column(JSONType, default=list)
    do_not_contact: Mapped[bool] = mapped_column(default=False)
    updated_at: Mapped[datetime]


class ReachPolicy(Base):
    """The workspace's sending policy, as data the console edits (see `policy.DEFAULT`)."""

    __tablename__ = "reach_policies"
    __erasure__ = Erasure.none("workspace settings")

    id: Mapped[IdPK]
    workspace_id: Mapped[int] = mapped_column(BigId, ForeignKey("workspaces.id"), unique=True)
    rules: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    updated_at: Mapped[datetime]


class ReachSend(Base):
    """One notice to one member: the channel chosen, or why none was. The dedupe key is
    unique, so a notice asked twice (a retried job, a double click) is one row, one send."""

    __tablename__ = "reach_sends"
    __erasure__ = Erasure.anonymize(member=("member_id",), scrub={"data": None, "openid": ERASED})
    __table_args__ = (
        UniqueConstraint("workspace_id", "dedupe_key"),
        Index("ix_reach_sends_member", "member_id", "created_at"),
        Index("ix_reach_sends_status_due", "status", "hold_until"),
        Index("ix_reach_sends_msgid", "msgid"),
        Index("ix_reach_sends_broadcast", "broadcast_id", "status"),
    )

    id: Mapped[IdPK]
    workspace_id: Mapped[int] = mapped_column(BigId, ForeignKey("workspaces.id"))
    member_id: Mapped[int] = mapped_column(BigId, ForeignKey("members.id"))
    dedupe_key: Mapped[str] = mapped_column(String(128))
    template_key: Mapped[str] = mapped_column(String(64))
    category: Mapped[str] = mapped_column(String(32))
    urgency: Mapped[str] = mapped_column(String(16))
    status: Mapped[SendStatus] = mapped_column(_enum(SendStatus))
    channel: Mapped[str | None] = mapped_column(String(32))
    app_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("apps.id"))
    template_row_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("reach_templates.id"))
    openid: Mapped[str | None] = mapped_column(String(64))
    # The notice's values (names, times, amounts) may be personal: encrypted JSON.
    data: Mapped[str | None] = mapped_column(EncryptedText("reach_sends.data"))
    reason: Mapped[str | None] = mapped_column(String(64))
    errcode: Mapped[int | None]
    attempts: Mapped[int] = mapped_column(default=0)
    msgid: Mapped[str | None] = mapped_column(String(32))
    broadcast_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("reach_broadcasts.id"))
    hold_until: Mapped[datetime | None]
    created_at: Mapped[datetime]
    # When a job last claimed it: a send left "sending" long after was interrupted.
    claimed_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]


class ReachBroadcast(Base):
    """A notice to an audience (a tag, followers of an app), sent at a throttled rate."""

    __tablename__ = "reach_broadcasts"
    __erasure__ = Erasure.none("an audience definition and counts, no member's data")

    id: Mapped[IdPK]
    workspace_id: Mapped[int] = mapped_column(BigId, ForeignKey("workspaces.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    template_key: Mapped[str] = mapped_column(String(64))
    category: Mapped[str] = mapped_column(String(32))
    urgency: Mapped[str] = mapped_column(String(16))
    data: Mapped[str] = mapped_column(EncryptedText("reach_broadcasts.data"))
    audience: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    member_ids: Mapped[list[int]] = mapped_column(JSONType, default=list)
    cursor: Mapped[int] = mapped_column(default=0)
    per_minute: Mapped[int] = mapped_column(default=600)
    status: Mapped[BroadcastStatus] = mapped_column(_enum(BroadcastStatus))
    scheduled_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
