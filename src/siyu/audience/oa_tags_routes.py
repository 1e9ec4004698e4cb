"""Audience's staff API."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from siyu.audience import service
from siyu.audience.schemas import (
    OaTagBroadcastCreate,
    OaTagImport,
    OaTagImportReport,
    OaTagSyncCreate,
    OaTagSyncRead,
)
from siyu.core.http import DatabaseDep
from siyu.core.params import Id
from siyu.reach.schemas import BroadcastRead
from siyu.security.auth import require
from siyu.security.enums import Permission
from siyu.security.schemas import Principal

router = APIRouter(tags=["audience"])  # included by audience.routes, under /api/audience

Reader = Annotated[Principal, require(Permission.members_read)]
Tagger = Annotated[Principal, require(Permission.members_tag)]
Sender = Annotated[Principal, require(Permission.reach_send)]


@router.get("/oa-tags")
def list_oa_tag_syncs(
    principal: Reader,
    db: DatabaseDep,
    appid: Annotated[str | None, Query(min_length=1, max_length=32)] = None,
) -> list[OaTagSyncRead]:
    """The OA tags kept equal to siyu audiences, with their last sync's report."""
    with db.session_scope() as session:
        return service.list_oa_tag_syncs(session, principal.workspace_id, appid)


@router.post("/oa-tags", status_code=201)
def create_oa_tag_sync(body: OaTagSyncCreate, principal: Tagger, db: DatabaseDep) -> OaTagSyncRead:
    """Map a siyu tag to an OA tag (made on WeChat by the first sync)."""
    with db.session_scope() as session:
        return service.create_oa_tag_sync(session, principal.workspace_id, body, principal)


@router.get("/oa-tags/{sync_id}")
def get_oa_tag_sync(sync_id: Id, principal: Reader, db: DatabaseDep) -> OaTagSyncRead:
    with db.session_scope() as session:
        return service.get_oa_tag_sync(session, principal.workspace_id, sync_id)


@router.post("/oa-tags/{sync_id}/sync", status_code=202)
def start_oa_tag_sync(sync_id: Id, principal: Tagger, db: DatabaseDep) -> OaTagSyncRead:
    """Start (or resume) a sync; a job runs it and the sync's report tells the outcome."""
    with db.session_scope() as session:
        return service.start_oa_tag_sync(session, principal.workspace_id, sync_id, principal)


@router.post("/oa-tags/import")
def import_oa_tags(body: OaTagImport, principal: Tagger, db: DatabaseDep) -> OaTagImportReport:
    """The OA's existing tags as siyu tags on the followers WeChat lists under them."""
    return service.import_oa_tags(db, principal.workspace_id, body.appid, principal)


@router.post("/oa-tags/{sync_id}/broadcast", status_code=201)
def broadcast_to_oa_tag(
    sync_id: Id, body: OaTagBroadcastCreate, principal: Sender, db: DatabaseDep
) -> BroadcastRead:
    """A subscription account's daily broadcast to this OA tag (sendall with its tag_id)."""
    with db.session_scope() as session:
        return service.broadcast_to_oa_tag(
            session, principal.workspace_id, sync_id, body, principal
        )
