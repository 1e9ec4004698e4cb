"""What the security domain returns: the acting operator, sessions, tokens, audit entries."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from siyu.security.enums import Role


class Principal(BaseModel):
    """Who is acting, with which workspace; every entrypoint passes one to the services."""

    model_config = ConfigDict(frozen=True)

    operator_id: int
    workspace_id: int
    email: str
    name: str
    role: Role
    via: str  # "session", "token" or "cli"
    csrf_token: str | None = None
    # Signed in with a one-time password: the console asks for their own before anything else.
    password_change_required: bool = False

    @property
    def actor(self) -> str:
        return f"operator:{self.operator_id}"


class OperatorRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    workspace_id: int
    email: str
    name: str
    role: Role
    disabled_at: datetime | None
    created_at: datetime
    password_one_time: bool = False


class NewSession(BaseModel):
    token: str
    csrf_token: str
    expires_at: datetime


class SessionStarted(BaseModel):
    """Who signed in, and the fresh session their cookie carries."""

    principal: Principal
    session: NewSession


class NewApiToken(BaseModel):
    id: int
    name: str
    token: str


class PasswordReset(BaseModel):
    """An operator's password replaced by a one-time one, shown once to whoever reset it."""

    operator: OperatorRead
    one_time_password: str


class ApiTokenRead(BaseModel):
    """A token as listed: its first characters to recognise it, never the secret."""

    id: int
    name: str
    prefix: str
    operator_id: int
    operator_email: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class Bootstrap(BaseModel):
    workspace_id: int
    owner_email: str
    password: str | None  # shown once when generated; None when it came from settings
    created: bool


class AuditRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    actor: str
    actor_role: str | None
    action: str
    target_type: str | None
    target_id: str | None
    request_id: str | None
    detail: dict[str, Any]
    created_at: datetime


class RotationRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    key_id: str
    cursors: dict[str, Any]
    done: list[str]
    rows_seen: int
    rows_rewritten: int
    started_at: datetime
    finished_at: datetime | None
