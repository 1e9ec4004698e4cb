"""What the security domain returns: the acting operator, sessions, tokens."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from siyu.security.models import Role


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


class NewSession(BaseModel):
    token: str
    csrf_token: str
    expires_at: datetime


class NewApiToken(BaseModel):
    id: int
    name: str
    token: str


class Bootstrap(BaseModel):
    workspace_id: int
    owner_email: str
    password: str | None  # shown once when generated; None when it came from settings
    created: bool
