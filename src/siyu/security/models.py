"""Operators, sessions and tokens, sign-in failures, the audit log and key rotations."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Enum, ForeignKey, Index, String, false
from sqlalchemy.orm import Mapped, mapped_column

from siyu.core.db import Base, BigId, IdPK, JSONType
from siyu.core.privacy import Erasure
from siyu.security.enums import Role


class Operator(Base):
    __tablename__ = "operators"
    __erasure__ = Erasure.none("staff accounts, not members")

    id: Mapped[IdPK]
    workspace_id: Mapped[int] = mapped_column(BigId, ForeignKey("workspaces.id"), index=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    password_hash: Mapped[str] = mapped_column(String(255))
    # A password someone else chose or the system generated (a new operator's, a reset's):
    # good for one sign-in, after which the console asks for the operator's own.
    password_one_time: Mapped[bool] = mapped_column(default=False, server_default=false())
    role: Mapped[Role] = mapped_column(
        Enum(Role, native_enum=False, length=32, validate_strings=True)
    )
    disabled_at: Mapped[datetime | None]
    created_at: Mapped[datetime]


class OperatorSession(Base):
    """A console login. The cookie holds a random token; only its SHA-256 is stored."""

    __tablename__ = "operator_sessions"
    __erasure__ = Erasure.none("staff sessions")

    id: Mapped[IdPK]
    operator_id: Mapped[int] = mapped_column(BigId, ForeignKey("operators.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]


class ApiToken(Base):
    __tablename__ = "api_tokens"
    __erasure__ = Erasure.none("staff API tokens")

    id: Mapped[IdPK]
    operator_id: Mapped[int] = mapped_column(BigId, ForeignKey("operators.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class LoginFailure(Base):
    """A failed sign-in, keyed by a hash of the email or of the client address.

    Rows, not process memory: every worker and every restart sees the same lockout.
    """

    __tablename__ = "login_failures"
    __erasure__ = Erasure.none("hashes of staff sign-in attempts")
    __table_args__ = (Index("ix_login_failures_key_at", "key", "at"),)

    id: Mapped[IdPK]
    key: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime]


class AuditEntry(Base):
    """Who read or changed what. Append-only: nothing updates or deletes these rows."""

    __tablename__ = "audit_log"
    __erasure__ = Erasure.keep(
        member=(), reason="ids and action names only; who looked must outlive what they saw"
    )
    __table_args__ = (
        Index("ix_audit_log_workspace_created", "workspace_id", "created_at"),
        Index("ix_audit_log_action_created", "action", "created_at"),
    )

    id: Mapped[IdPK]
    workspace_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("workspaces.id"))
    actor: Mapped[str] = mapped_column(String(100))
    actor_role: Mapped[str | None] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(64))
    target_type: Mapped[str | None] = mapped_column(String(32))
    target_id: Mapped[str | None] = mapped_column(String(64))
    request_id: Mapped[str | None] = mapped_column(String(64))
    # Ids, counts and codes only: never a phone, a name or a WeChat id.
    detail: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    created_at: Mapped[datetime]


class KeyRotation(Base):
    """A re-encryption run: per column, the last primary key rewritten, so that it resumes."""

    __tablename__ = "key_rotations"
    __erasure__ = Erasure.none("progress counters of key rotations")

    id: Mapped[IdPK]
    key_id: Mapped[str] = mapped_column(String(32))
    # {"table.column": last primary key done (JSON scalar) | null}; a column in `done` is over.
    cursors: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    done: Mapped[list[str]] = mapped_column(JSONType, default=list)
    rows_seen: Mapped[int] = mapped_column(BigInteger, default=0)
    rows_rewritten: Mapped[int] = mapped_column(BigInteger, default=0)
    started_by: Mapped[str] = mapped_column(String(100))
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
