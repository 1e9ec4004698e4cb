"""Queries over workspaces, entities and apps."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from siyu.workspaces.enums import EntityKind
from siyu.workspaces.models import App, Entity, Workspace


def get_workspace(session: Session, workspace_id: int) -> Workspace | None:
    return session.get(Workspace, workspace_id)


def list_workspaces(session: Session) -> Sequence[Workspace]:
    return session.scalars(select(Workspace).order_by(Workspace.id)).all()


def get_first_workspace(session: Session) -> Workspace | None:
    return session.scalars(select(Workspace).order_by(Workspace.id).limit(1)).first()


def add(session: Session, row: Workspace | Entity | App) -> None:
    session.add(row)
    session.flush()


def get_entity_by_name(session: Session, workspace_id: int, name: str) -> Entity | None:
    return session.scalars(
        select(Entity).where(Entity.workspace_id == workspace_id, Entity.name == name)
    ).first()


def get_app_by_appid(session: Session, appid: str) -> App | None:
    return session.scalars(select(App).where(App.appid == appid)).first()


def get_app(session: Session, app_id: int) -> App | None:
    return session.get(App, app_id)


def list_apps(session: Session, workspace_id: int) -> Sequence[App]:
    return session.scalars(
        select(App).where(App.workspace_id == workspace_id).order_by(App.id)
    ).all()


def take_member_numbers(session: Session, workspace_id: int, count: int) -> int:
    """Reserve `count` consecutive numbers; the row lock serializes concurrent reservations."""
    first = session.execute(
        update(Workspace)
        .where(Workspace.id == workspace_id)
        .values(next_member_number=Workspace.next_member_number + count)
        .returning(Workspace.next_member_number)
    ).scalar_one()
    return int(first) - count


def entity_kinds(session: Session, entity_ids: Sequence[int]) -> dict[int, EntityKind]:
    rows = session.execute(select(Entity.id, Entity.kind).where(Entity.id.in_(entity_ids)))
    return {row.id: row.kind for row in rows}
