"""Operators made for a test, with an API token, and what the security tables hold."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select

from siyu.core.db import Base, Database
from siyu.security import service as security
from siyu.security.enums import Role
from siyu.security.models import AuditEntry
from siyu.security.schemas import Principal

PASSWORD = "a long enough password"


@dataclass(frozen=True)
class Staff:
    principal: Principal
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def make_staff(db: Database, workspace_id: int, role: Role, email: str | None = None) -> Staff:
    with db.session_scope() as session:
        created = security.create_operator(
            session,
            workspace_id,
            email or f"{role.value}.staff@example.com",
            PASSWORD,
            name=role.value,
            role=role,
        )
        token = security.create_api_token(session, created.id, "tests").token
    principal = Principal(
        operator_id=created.id,
        workspace_id=workspace_id,
        email=created.email,
        name=created.name,
        role=created.role,
        via="test",
    )
    return Staff(principal, token)


def row_counts(db: Database, *, without: tuple[str, ...] = ()) -> dict[str, int]:
    with db.session_scope() as session:
        return {
            table.name: int(session.scalar(select(func.count()).select_from(table)) or 0)
            for table in Base.metadata.sorted_tables
            if table.name not in without
        }


def audit_actions(db: Database) -> list[str]:
    with db.session_scope() as session:
        return list(session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))
