"""Jobs of the WeChat border: process accepted pushes; requeue any whose job was lost."""

from __future__ import annotations

from huey import crontab
from huey.api import Task

from siyu.core.db import get_database
from siyu.core.jobs import queue
from siyu.core.logging import get_logger
from siyu.wechat import inbox

log = get_logger(__name__)


class PushesFailed(Exception):
    """Some pushes of a batch could not be processed; the task is retried for them."""


@queue.task(retries=3, retry_delay=5, context=True)
def process_pushes(
    push_ids: list[int], answer_late: list[int] | None = None, task: Task | None = None
) -> None:
    """Process pushes stored together, each in its own transaction.

    One failing push does not hold up the others; a retry skips those already processed.
    """
    db = get_database()
    late = set(answer_late or ())
    failed = []
    for push_id in push_ids:
        try:
            with db.session_scope() as session:
                inbox.process(session, push_id, answer_late=push_id in late)
        except Exception:
            log.exception("push_processing_failed", push_id=push_id)
            failed.append(push_id)
    if not failed:
        return
    if task is None or not task.retries:  # the last try: leave the pushes marked for operators
        with db.session_scope() as session:
            for push_id in failed:
                inbox.mark_failed(session, push_id)
    raise PushesFailed(f"{len(failed)} of {len(push_ids)} pushes failed: {failed[:10]}")


@queue.periodic_task(crontab(minute="*"))
def requeue_stale_pushes() -> None:
    with get_database().session_scope() as session:
        inbox.requeue_stale(session)
