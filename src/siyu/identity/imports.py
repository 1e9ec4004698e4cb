"""Import runs: an uploaded JSON Lines file imported chunk by chunk by a job, with progress."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.core import clock
from siyu.core.db import Database
from siyu.core.errors import NotFound
from siyu.core.logging import get_logger
from siyu.identity.ingest import chunked, pipelined_import, read_lines
from siyu.identity.models import ImportRun, ImportStatus
from siyu.identity.schemas import ImportRead

ERRORS_KEPT = 200
log = get_logger(__name__)


def create_import(
    session: Session, workspace_id: int, *, filename: str, path: str, size: int, actor: str
) -> ImportRead:
    """Record an uploaded file; the caller enqueues `tasks.run_import` after commit."""
    run = ImportRun(
        workspace_id=workspace_id,
        filename=filename[:255],
        path=path,
        size_bytes=size,
        processed_bytes=0,
        accepted=0,
        rejected=0,
        members_created=0,
        errors=[],
        status=ImportStatus.queued,
        created_by=actor,
        created_at=clock.now(),
    )
    session.add(run)
    session.flush()
    return ImportRead.model_validate(run)


def get_import(session: Session, workspace_id: int, import_id: int) -> ImportRead:
    run = session.get(ImportRun, import_id)
    if run is None or run.workspace_id != workspace_id:
        raise NotFound("imports.not_found", f"import {import_id} not found")
    return ImportRead.model_validate(run)


def list_imports(session: Session, workspace_id: int, limit: int = 20) -> list[ImportRead]:
    rows: Sequence[ImportRun] = session.scalars(
        select(ImportRun)
        .where(ImportRun.workspace_id == workspace_id)
        .order_by(ImportRun.id.desc())
        .limit(limit)
    ).all()
    return [ImportRead.model_validate(r) for r in rows]


def _claim(db: Database, import_id: int) -> ImportRun | None:
    with db.session_scope() as session:
        run = session.get(ImportRun, import_id)
        if run is None or run.status != ImportStatus.queued:
            return None  # a retried job for a run already claimed does nothing
        run.status = ImportStatus.running
        session.flush()
        session.expunge(run)
        return run


def run_import(db: Database, import_id: int) -> None:
    """Import the run's file; each chunk commits together with the run's progress."""
    run = _claim(db, import_id)
    if run is None:
        return
    try:
        with open(run.path, "rb") as stream, pipelined_import(db, run.workspace_id) as importer:
            for chunk in chunked(read_lines(stream)):
                with db.session_scope() as session:
                    result = importer.import_chunk(session, chunk)
                    row = session.get(ImportRun, import_id)
                    assert row is not None
                    row.processed_bytes = stream.tell()
                    row.accepted += result.accepted
                    row.members_created += result.members_created
                    row.rejected += len(result.rejected)
                    room = ERRORS_KEPT - len(row.errors)
                    if room > 0 and result.rejected:
                        row.errors = [
                            *row.errors,
                            *(e.model_dump() for e in result.rejected[:room]),
                        ]
    except Exception as exc:
        log.exception("import_failed", import_id=import_id)
        _finish(db, import_id, ImportStatus.failed, f"{type(exc).__name__}: {exc}"[:500])
        return  # the file stays, so that nothing uploaded is lost
    _finish(db, import_id, ImportStatus.done, None)
    # The upload held personal data; what was kept is in the database now.
    Path(run.path).unlink(missing_ok=True)


def _finish(db: Database, import_id: int, status: ImportStatus, message: str | None) -> None:
    with db.session_scope() as session:
        row = session.get(ImportRun, import_id)
        assert row is not None
        row.status = status
        row.message = message
        row.finished_at = clock.now()
