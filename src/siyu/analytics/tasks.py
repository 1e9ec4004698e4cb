"""Analytics's jobs, registered by name: the store's sync, every 10 seconds or so."""

from __future__ import annotations

from huey import crontab

from siyu.analytics import service as analytics
from siyu.core.db import get_database
from siyu.core.jobs import job
from siyu.core.logging import get_logger

log = get_logger(__name__)

# The periodic job runs each minute (the scheduler's tick); it then runs again every AGAIN_S
# seconds until the next tick, so that an event is in the store well within a minute.
AGAIN_S = 10
RUNS_PER_MINUTE = 60 // AGAIN_S


def _sync() -> None:
    with get_database().session_scope() as session:
        result = analytics.sync_store(session)
    if result.events or result.refreshed_members:
        log.info(
            "analytics_synced",
            events=result.events,
            refreshed=result.refreshed_members,
            compacted=result.compacted,
        )


@job("analytics.sync", periodic=crontab(minute="*"))
def sync() -> None:
    """Copy what is new in the timeline into the analytics store."""
    _sync()
    sync_again.schedule(args=(1,), delay=AGAIN_S)


@job("analytics.sync_again")
def sync_again(run: int) -> None:
    """The same, until the next minute's tick."""
    _sync()
    if run + 1 < RUNS_PER_MINUTE:
        sync_again.schedule(args=(run + 1,), delay=AGAIN_S)
