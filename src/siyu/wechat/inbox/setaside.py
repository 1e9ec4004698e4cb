"""Poisoned pushes: a push that cannot be processed (unparseable, an unknown app, a subscriber
that raises) is isolated from the pushes stored with it, and set aside with its error once its
retries are spent; an operator sees it in the console and may queue it again.

For the batch path (`wechat.process_pushes` processing many pushes in one transaction): when
the batch fails, roll it back and call `process_one_by_one`, which gives each push its own
savepoint, so that the failing one is rolled back alone and the others commit; on the job's
last try pass what it returned to `set_aside`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from sqlalchemy.orm import Session

from siyu.core import clock, jobs
from siyu.core.logging import get_logger
from siyu.wechat import repository
from siyu.wechat.inbox.writer import PROCESS_JOB

log = get_logger(__name__)

ProcessOne = Callable[[Session, int, bool], object]


def describe(exc: BaseException) -> str:
    """What an operator reads about a failure: the exception's type and message."""
    return f"{type(exc).__name__}: {exc}"[:1000]


def process_one_by_one(
    session: Session, push_ids: Iterable[int], late: Iterable[int], process: ProcessOne
) -> dict[int, str]:
    """Process each push under its own savepoint: a push that raises is rolled back alone.

    Returns the failed pushes with their error (nothing of theirs is written); the caller
    commits the others. `process(session, push_id, answer_late)` is the one-push path.
    """
    answer_late = set(late)
    failed: dict[int, str] = {}
    for push_id in push_ids:
        try:
            with session.begin_nested():
                process(session, push_id, push_id in answer_late)
        except Exception as exc:
            log.exception("push_processing_failed", push_id=push_id)
            failed[push_id] = describe(exc)
    return failed


def set_aside(session: Session, failures: Mapping[int, str]) -> list[int]:
    """Mark these waiting pushes failed, with their error: the stale-push sweep no longer
    requeues them, and the console lists them. Returns those that were still waiting."""
    now = clock.now()
    done = [
        pid for pid, error in failures.items() if repository.mark_failed(session, pid, error, now)
    ]
    if done:
        log.warning("pushes_set_aside", count=len(done), push_ids=done[:20])
    return done


def requeue(session: Session, push_ids: Iterable[int]) -> list[int]:
    """Put set-aside pushes back to waiting and enqueue their processing (after commit).
    Only those still set aside: a second request for the same pushes queues nothing."""
    again = repository.requeue_failed(session, sorted(set(push_ids)))
    if again:
        jobs.enqueue(session, PROCESS_JOB, again)
    return again


__all__ = ["describe", "process_one_by_one", "requeue", "set_aside"]
