"""Audience's jobs, registered by name."""

from __future__ import annotations

from siyu.audience import service
from siyu.core.db import get_database
from siyu.core.errors import SiyuError
from siyu.core.jobs import job
from siyu.core.logging import get_logger

log = get_logger(__name__)


@job("audience.sync_oa_tag")
def sync_oa_tag(sync_id: int) -> None:
    """Run or resume an OA tag sync to its end. A refusal is kept on the sync (its report
    names it) and logged; the operator starts it again, which resumes where it stopped."""
    try:
        service.sync_oa_tag(get_database(), sync_id)
    except SiyuError as exc:
        log.warning("audience_oa_tag_sync_refused", sync=sync_id, code=exc.code)
