"""Console imports of event files: streamed upload, queued import, the runs and their progress."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from siyu.console import errors
from siyu.console.uploads import Upload, receive_upload
from siyu.console.web import (
    ConsoleRoute,
    error_response,
    is_htmx,
    render,
    translator,
    valid_session_csrf,
)
from siyu.core.db import Database
from siyu.core.errors import SiyuError
from siyu.core.http import DatabaseDep, SettingsDep
from siyu.identity import service as identity
from siyu.identity.enums import ImportStatus
from siyu.security import errors as security_errors
from siyu.security.auth import CSRF_HEADER, require
from siyu.security.enums import Permission
from siyu.security.schemas import Principal

UPLOAD_SUFFIXES = (".jsonl", ".ndjson")
MAX_UPLOAD_BYTES = 2 * 1024 * 1024 * 1024

router = APIRouter(include_in_schema=False, route_class=ConsoleRoute)
Importer = Annotated[Principal, require(Permission.imports_manage)]


def _runs_context(db: Database, workspace_id: int) -> dict[str, Any]:
    with db.session_scope() as session:
        runs = identity.list_imports(session, workspace_id)
    active = any(r.status in (ImportStatus.queued, ImportStatus.running) for r in runs)
    return {"active": "imports", "runs": runs, "polling": active, "notice": None}


@router.get("/imports")
def imports_page(request: Request, principal: Importer, db: DatabaseDep) -> Response:
    return render(request, "imports.html", _runs_context(db, principal.workspace_id))


@router.get("/imports/runs")
def import_runs(request: Request, principal: Importer, db: DatabaseDep) -> Response:
    return render(request, "_import_runs.html", _runs_context(db, principal.workspace_id))


def _record_import(db: Database, principal: Principal, upload: Upload) -> None:
    with db.session_scope() as session:
        identity.start_import(
            session,
            principal,
            filename=upload.filename or upload.path.name,
            path=str(upload.path.resolve()),
            size=upload.size,
        )


@router.post("/imports")
async def upload_import(
    request: Request,
    principal: Annotated[Principal, require(Permission.imports_manage, csrf=False)],
    db: DatabaseDep,
    settings: SettingsDep,
) -> Response:
    """Stream the file to disk (never whole in memory), then queue its import."""
    actor: Principal = principal
    header_token = request.headers.get(CSRF_HEADER)

    def accept(upload: Upload, filename: str) -> None:
        # `current_principal` would parse (and spool) the whole body to find a form token,
        # so this route checks CSRF itself, before the first byte of the file is kept.
        if not valid_session_csrf(actor, header_token or upload.fields.get("csrf_token")):
            raise security_errors.CSRF_FAILED("the form is stale or forged; reload the page")
        if not filename.lower().endswith(UPLOAD_SUFFIXES):
            raise errors.UPLOAD_TYPE("only .jsonl files are accepted")

    path = settings.data_dir / "imports" / f"{uuid.uuid4().hex}.jsonl"
    try:
        upload = await receive_upload(
            request.headers.get("content-type", ""),
            request.stream(),
            path,
            file_field="file",
            max_bytes=MAX_UPLOAD_BYTES,
            accept_file=accept,
        )
        if upload.size == 0:
            path.unlink(missing_ok=True)
            raise errors.UPLOAD_EMPTY("the file is empty")
        await run_in_threadpool(_record_import, db, actor, upload)
    except SiyuError as exc:
        return error_response(request, exc, target="#upload-msg")
    if not is_htmx(request):
        return RedirectResponse("/imports", status_code=303)
    context = await run_in_threadpool(_runs_context, db, actor.workspace_id)
    context["notice"] = translator(request)("imports.queued_notice", name=upload.filename)
    return render(request, "_import_runs.html", context)
