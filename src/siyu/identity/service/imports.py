"""Import runs: an uploaded JSON Lines file imported chunk by chunk by the job
"identity.run_import", with its progress for the console; and a file imported in place (the
command line). Each chunk commits on its own, with the run's progress."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from sqlalchemy.orm import Session

from siyu.core import clock, jobs
from siyu.core.db import Database
from siyu.core.logging import get_logger
from siyu.identity import errors, repository
from siyu.identity.enums import ImportStatus
from siyu.identity.models import ImportRun
from siyu.identity.schemas import ImportRead, IngestReport
from siyu.identity.service.importer import chunked, pipelined_import, read_lines
from siyu.security.schemas import Principal

ERRORS_KEPT = 200
RUNS_SHOWN = 20
log = get_logger(__name__)


def start_import(
    session: Session, actor: Principal, *, filename: str, path: str, size: int
) -> ImportRead:
    """Record an uploaded file and queue its import (the job runs once this commits)."""
    run = ImportRun(
        workspace_id=actor.workspace_id,
        filename=filename[:255],
        path=path,
        size_bytes=size,
        processed_bytes=0,
        accepted=0,
        rejected=0,
        members_created=0,
        errors=[],
        status=ImportStatus.queued,
        created_by=actor.actor,
        created_at=clock.now(),
    )
    repository.add(session, run)
    jobs.enqueue(session, "identity.run_import", run.id)
    return ImportRead.model_validate(run)


def get_import(session: Session, workspace_id: int, import_id: int) -> ImportRead:
    run = repository.get_import(session, import_id)
    if run is None or run.workspace_id != workspace_id:
        raise errors.IMPORT_NOT_FOUND(f"import {import_id} not found")
    return ImportRead.model_validate(run)


def list_imports(session: Session, workspace_id: int, limit: int = RUNS_SHOWN) -> list[ImportRead]:
    return [
        ImportRead.model_validate(r) for r in repository.list_imports(session, workspace_id, limit)
    ]


def import_stream(
    db: Database,
    workspace_id: int,
    stream: BinaryIO,
    *,
    after_chunk: Callable[[Session, IngestReport], None] | None = None,
) -> IngestReport:
    """Import a JSON Lines stream of any size: each chunk in a transaction of its own, valid
    lines kept, rejected ones reported by line number. `after_chunk` runs inside each chunk's
    transaction (progress committed with the chunk)."""
    with pipelined_import(db, workspace_id) as importer:
        for chunk in chunked(read_lines(stream)):
            with db.session_scope() as session:
                result = importer.import_chunk(session, chunk)
                if after_chunk is not None:
                    after_chunk(session, result)
    return importer.report


def _claim(db: Database, import_id: int) -> ImportRun | None:
    with db.session_scope() as session:
        run = repository.get_import(session, import_id)
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
        with open(run.path, "rb") as stream:

            def progress(session: Session, result: IngestReport) -> None:
                row = repository.get_import(session, import_id)
                assert row is not None
                row.processed_bytes = stream.tell()
                row.accepted += result.accepted
                row.members_created += result.members_created
                row.rejected += len(result.rejected)
                room = ERRORS_KEPT - len(row.errors)
                if room > 0 and result.rejected:
                    row.errors = [*row.errors, *(e.model_dump() for e in result.rejected[:room])]

            import_stream(db, run.workspace_id, stream, after_chunk=progress)
    except Exception as exc:
        log.exception("import_failed", import_id=import_id)
        _finish(db, import_id, ImportStatus.failed, f"{type(exc).__name__}: {exc}"[:500])
        return  # the file stays, so that nothing uploaded is lost
    _finish(db, import_id, ImportStatus.done, None)
    # The upload held personal data; what was kept is in the database now.
    Path(run.path).unlink(missing_ok=True)


def _finish(db: Database, import_id: int, status: ImportStatus, message: str | None) -> None:
    with db.session_scope() as session:
        row = repository.get_import(session, import_id)
        assert row is not None
        row.status = status
        row.message = message
        row.finished_at = clock.now()
