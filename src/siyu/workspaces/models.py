"""Workspace, entity and app tables."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Enum, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from siyu.core.crypto import EncryptedText
from siyu.core.db import Base, BigId, IdPK
from siyu.core.privacy import Erasure
from siyu.workspaces.enums import AppKind, EntityKind, PushMode


class Workspace(Base):
    __tablename__ = "workspaces"
    __erasure__ = Erasure.none("a brand's workspace")

    id: Mapped[IdPK]
    name: Mapped[str] = mapped_column(String(100))
    # The next 学号 to hand out; only ever increases, so numbers are never reused.
    next_member_number: Mapped[int] = mapped_column(default=10001)
    created_at: Mapped[datetime]


class Entity(Base):
    __tablename__ = "entities"
    __erasure__ = Erasure.none("legal entities owning apps")
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)

    id: Mapped[IdPK]
    workspace_id: Mapped[int] = mapped_column(BigId, ForeignKey("workspaces.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[EntityKind] = mapped_column(
        Enum(EntityKind, native_enum=False, length=32, validate_strings=True)
    )
    created_at: Mapped[datetime]


class App(Base):
    __tablename__ = "apps"
    __erasure__ = Erasure.none("the brand's app credentials")

    id: Mapped[IdPK]
    workspace_id: Mapped[int] = mapped_column(BigId, ForeignKey("workspaces.id"), index=True)
    entity_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("entities.id"))
    kind: Mapped[AppKind] = mapped_column(
        Enum(AppKind, native_enum=False, length=32, validate_strings=True)
    )
    # An appid names one account on WeChat, so it belongs to one workspace of one install.
    appid: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    secret: Mapped[str | None] = mapped_column(EncryptedText("apps.secret"))
    token: Mapped[str | None] = mapped_column(EncryptedText("apps.token"))
    aes_key: Mapped[str | None] = mapped_column(EncryptedText("apps.aes_key"))
    # Kept after a key change: WeChat may still encrypt with it for a while (fact sheet §1.2).
    previous_aes_key: Mapped[str | None] = mapped_column(EncryptedText("apps.previous_aes_key"))
    # As set in WeChat's console: a secure app refuses plaintext pushes.
    push_mode: Mapped[PushMode] = mapped_column(
        Enum(PushMode, native_enum=False, length=16, validate_strings=True),
        default=PushMode.plaintext,
        server_default=PushMode.plaintext.value,
    )
    created_at: Mapped[datetime]
