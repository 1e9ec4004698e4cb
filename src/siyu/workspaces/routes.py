"""API for the apps of the caller's workspace."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter

from siyu.core.http import DatabaseDep
from siyu.security.auth import require
from siyu.security.enums import Permission
from siyu.security.schemas import Principal
from siyu.workspaces import service
from siyu.workspaces.schemas import AppCreate, AppRead, PushModeUpdate

router = APIRouter(prefix="/api/apps", tags=["apps"])


@router.get("")
def list_apps(
    principal: Annotated[Principal, require(Permission.apps_read)], db: DatabaseDep
) -> list[AppRead]:
    with db.session_scope() as session:
        return service.list_apps(session, principal.workspace_id)


@router.post("", status_code=201)
def add_app(
    body: AppCreate,
    principal: Annotated[Principal, require(Permission.apps_manage)],
    db: DatabaseDep,
) -> AppRead:
    with db.session_scope() as session:
        return service.add_app(session, principal.workspace_id, body, actor=principal)


@router.put("/{appid}/push-mode")
def set_push_mode(
    appid: str,
    body: PushModeUpdate,
    principal: Annotated[Principal, require(Permission.apps_manage)],
    db: DatabaseDep,
) -> AppRead:
    """The message encryption mode chosen in WeChat's console; a secure app refuses plaintext."""
    with db.session_scope() as session:
        return service.set_push_mode(
            session, principal.workspace_id, appid, body.push_mode, actor=principal
        )
