"""API for the apps of the caller's workspace."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter

from siyu.core.http import DatabaseDep
from siyu.security import service as security
from siyu.security.auth import require
from siyu.security.permissions import Permission
from siyu.security.schemas import Principal
from siyu.workspaces import service
from siyu.workspaces.schemas import AppCreate, AppRead

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
        added = service.add_app(session, principal.workspace_id, body)
        security.record_audit(
            session,
            principal,
            "app.added",
            target_type="app",
            target_id=added.id,
            detail={
                "kind": added.kind,
                "credentials": [k for k in ("secret", "token", "aes_key") if getattr(body, k)],
            },
        )
        return added
