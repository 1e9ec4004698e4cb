"""Entries: OA ↔ MP associations, menus, channels and their codes, arrivals, touches, articles."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Enum,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from siyu.core.db import Base, BigId, IdPK, JSONType
from siyu.core.privacy import Erasure
from siyu.entries.enums import ArrivalKind, ChannelStatus, CodeKind, LinkStatus, MenuStatus


def _enum(cls: type[enum.StrEnum]) -> Enum:
    return Enum(cls, native_enum=False, length=32, validate_strings=True)


class Association(Base):
    """An OA ↔ MP link (fact sheet §4): pending until both admins confirm."""

    __tablename__ = "entry_associations"
    __erasure__ = Erasure.none("links between the brand's own accounts")
    __table_args__ = (UniqueConstraint("oa_app_id", "mp_app_id"),)

    id: Mapped[IdPK]
    workspace_id: Mapped[int] = mapped_column(BigId, ForeignKey("workspaces.id"), index=True)
    oa_app_id: Mapped[int] = mapped_column(BigId, ForeignKey("apps.id"))
    mp_app_id: Mapped[int] = mapped_column(BigId, ForeignKey("apps.id"), index=True)
    status: Mapped[LinkStatus] = mapped_column(_enum(LinkStatus))
    same_entity: Mapped[bool]
    # Whether the OA's followers were sent WeChat's association notice (notify_users=1).
    followers_notified: Mapped[bool]
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Channel(Base):
    """A 渠道: where members come from, with what to do when they arrive."""

    __tablename__ = "entry_channels"
    __erasure__ = Erasure.none("the brand's acquisition channels")
    __table_args__ = (UniqueConstraint("workspace_id", "slug"),)

    id: Mapped[IdPK]
    workspace_id: Mapped[int] = mapped_column(BigId, ForeignKey("workspaces.id"))
    name: Mapped[str] = mapped_column(String(100))
    # The scene its codes carry, and the `channel` of the timeline events they cause.
    slug: Mapped[str] = mapped_column(String(32))
    group_name: Mapped[str] = mapped_column(String(64), default="")
    tags: Mapped[list[str]] = mapped_column(JSONType, default=list)
    welcome: Mapped[str] = mapped_column(Text, default="")
    target_page: Mapped[str] = mapped_column(String(256), default="")
    status: Mapped[ChannelStatus] = mapped_column(_enum(ChannelStatus))
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime]
    archived_at: Mapped[datetime | None]


class ChannelCode(Base):
    """One code of a channel on one app: a QR ticket, an MP code image or a URL link."""

    __tablename__ = "entry_codes"
    __erasure__ = Erasure.none("the brand's codes")
    __table_args__ = (
        Index("ix_entry_codes_channel", "channel_id"),
        Index("ix_entry_codes_app_scene", "app_id", "scene"),
    )

    id: Mapped[IdPK]
    workspace_id: Mapped[int] = mapped_column(BigId, ForeignKey("workspaces.id"))
    channel_id: Mapped[int] = mapped_column(BigId, ForeignKey("entry_channels.id"))
    app_id: Mapped[int] = mapped_column(BigId, ForeignKey("apps.id"))
    kind: Mapped[CodeKind] = mapped_column(_enum(CodeKind))
    scene: Mapped[str] = mapped_column(String(64))
    ticket: Mapped[str | None] = mapped_column(String(256))
    # What the QR code encodes (qrcode/create's `url`), or the URL link itself.
    url: Mapped[str | None] = mapped_column(String(1024))
    # The Mini Program code WeChat drew (PNG); OA codes are drawn from `url` on download.
    image: Mapped[bytes | None] = mapped_column(LargeBinary)
    expires_at: Mapped[datetime | None]
    created_at: Mapped[datetime]


class Arrival(Base):
    """A member arriving through a channel's code; one row per push or launch."""

    __tablename__ = "entry_arrivals"
    __erasure__ = Erasure.keep(
        member=("member_id",), reason="counts per channel; refers to the member by id only"
    )
    __table_args__ = (
        UniqueConstraint("workspace_id", "source_key"),
        Index("ix_entry_arrivals_workspace_at", "workspace_id", "at"),
        Index("ix_entry_arrivals_member", "member_id", "app_id"),
        # One "first arrival" per member and channel: the report counts members and their
        # conversions from these rows in the same pass as the other counts.
        Index(
            "uq_entry_arrivals_first",
            "channel_id",
            "member_id",
            unique=True,
            postgresql_where=text("first_in_channel"),
            sqlite_where=text("first_in_channel"),
        ),
    )

    id: Mapped[IdPK]
    workspace_id: Mapped[int] = mapped_column(BigId)
    channel_id: Mapped[int] = mapped_column(BigId)
    code_id: Mapped[int | None] = mapped_column(BigId)
    app_id: Mapped[int] = mapped_column(BigId)
    member_id: Mapped[int] = mapped_column(BigId)
    kind: Mapped[ArrivalKind] = mapped_column(_enum(ArrivalKind))
    # What made it (`push:<id>`, `launch:<…>`): the same push or launch counts once.
    source_key: Mapped[str] = mapped_column(String(96))
    new_follower: Mapped[bool]
    new_member: Mapped[bool]
    at: Mapped[datetime]
    unfollowed_at: Mapped[datetime | None]
    unfollowed_within_7d: Mapped[bool] = mapped_column(default=False)
    first_in_channel: Mapped[bool] = mapped_column(default=False)


class Touch(Base):
    """A member's first and last channel: the first is kept, the last follows them."""

    __tablename__ = "entry_touches"
    __erasure__ = Erasure.keep(member=("member_id",), reason="attribution by member id only")
    __table_args__ = (UniqueConstraint("workspace_id", "member_id"),)

    id: Mapped[IdPK]
    workspace_id: Mapped[int] = mapped_column(BigId)
    member_id: Mapped[int] = mapped_column(BigId)
    first_channel_id: Mapped[int] = mapped_column(BigId)
    first_at: Mapped[datetime]
    last_channel_id: Mapped[int] = mapped_column(BigId)
    last_at: Mapped[datetime]


class MenuVersion(Base):
    """One saved version of an OA's custom menu; publishing sends it through the gateway."""

    __tablename__ = "entry_menus"
    __erasure__ = Erasure.none("the brand's menus")
    __table_args__ = (UniqueConstraint("app_id", "version"),)

    id: Mapped[IdPK]
    workspace_id: Mapped[int] = mapped_column(BigId, ForeignKey("workspaces.id"))
    app_id: Mapped[int] = mapped_column(BigId, ForeignKey("apps.id"))
    version: Mapped[int]
    # As the operator wrote it, and as sent to WeChat (source parameters appended).
    buttons: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    published: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    status: Mapped[MenuStatus] = mapped_column(_enum(MenuStatus))
    error: Mapped[str | None] = mapped_column(String(500))
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime]
    published_at: Mapped[datetime | None]


class ConditionalMenu(Base):
    """A conditional (个性化) menu of an OA for the followers of one OA tag: published by
    `addconditional` (WeChat's menuid kept), removed by `delconditional` (fact sheet §2.2)."""

    __tablename__ = "entry_conditional_menus"
    __erasure__ = Erasure.none("the brand's menus")

    id: Mapped[IdPK]
    workspace_id: Mapped[int] = mapped_column(BigId, ForeignKey("workspaces.id"))
    app_id: Mapped[int] = mapped_column(BigId, ForeignKey("apps.id"), index=True)
    oa_tag_id: Mapped[int]
    oa_tag_name: Mapped[str] = mapped_column(String(64))
    buttons: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    published: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    menuid: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[MenuStatus] = mapped_column(_enum(MenuStatus))
    error: Mapped[str | None] = mapped_column(String(500))
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime]
    published_at: Mapped[datetime | None]
    deleted_at: Mapped[datetime | None]


class Article(Base):
    """An OA article registered for reuse: the Mini Program opens it in a web-view (articles of
    a linked OA need no business domain), with `from=article&id=…` for attribution."""

    __tablename__ = "entry_articles"
    __erasure__ = Erasure.none("the brand's own articles")
    __table_args__ = (UniqueConstraint("workspace_id", "url"),)

    id: Mapped[IdPK]
    workspace_id: Mapped[int] = mapped_column(BigId, ForeignKey("workspaces.id"))
    oa_app_id: Mapped[int] = mapped_column(BigId, ForeignKey("apps.id"))
    title: Mapped[str] = mapped_column(String(64))
    url: Mapped[str] = mapped_column(String(1024))
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime]
