"""Audience's jobs, registered by name: refresh a segment, and each minute the dynamic
segments that events marked stale or that were not refreshed for an hour."""

from __future__ import annotations

from huey import crontab

from siyu.audience import service
from siyu.core.db import get_database
from siyu.core.errors import SiyuError
from siyu.core.jobs import job
from siyu.core.logging import get_logger

log = get_logger(__name__)


@job("audience.refresh_segment")
def refresh_segment(segment_id: int) -> None:
    """Refresh one segment (after its creation or a change of its definition)."""
    try:
        with get_database().session_scope() as session:
            service.refresh_segment(session, segment_id, actor="system:audience")
    except SiyuError as exc:  # deleted since, or its definition names what is gone
        log.warning("segment_refresh_refused", segment_id=segment_id, code=exc.code)


@job("audience.refresh_segments", periodic=crontab(minute="*"))
def refresh_segments() -> None:
    """Each due segment in its own transaction: one that fails (a definition referring to an
    app since removed) is logged and does not hold back the others."""
    db = get_database()
    with db.session_scope() as session:
        due = service.due_segments(session)
    for segment_id in due:
        try:
            with db.session_scope() as session:
                service.refresh_segment(session, segment_id, actor="system:audience")
        except SiyuError as exc:
            log.warning("segment_refresh_refused", segment_id=segment_id, code=exc.code)
